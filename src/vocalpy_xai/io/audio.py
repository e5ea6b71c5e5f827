"""Load audio files into :class:`vocalpy.Sound`, with every conversion explicit and recorded.

Supported: WAV, FLAC, MP3 and OGG through :mod:`soundfile` (libsndfile), and evTAF
``.cbin`` through :meth:`vocalpy.Sound.read` (``evfuncs``). Any sample rate, mono or
multichannel. Nothing is converted unless asked: pass ``samplerate=`` to resample and
``mono=True`` to downmix; the :class:`AudioRecord` says what was done.
"""

from __future__ import annotations

import hashlib
import math
import pathlib
import struct
import warnings
from typing import Literal

import attrs
import numpy as np
import soundfile
import vocalpy

from ..errors import AudioError, AudioResampledWarning, FormatError

#: file extensions this module reads
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".cbin")

#: peak absolute amplitude (full scale = 1.0) at or under which a recording is "pure
#: silence": one least-significant bit of 16-bit PCM.
SILENCE_PEAK: float = 1.0 / 32768

#: shortest audio loaded by default (s): under it, no spectrogram frame means anything
MIN_DURATION_S: float = 0.01

#: how a sample-rate mismatch is handled: resample either way, only down, or never
Resample = bool | Literal["down"]


@attrs.define(frozen=True)
class AudioRecord:
    """A loaded sound and the record of how it was loaded.

    Attributes
    ----------
    sound : vocalpy.Sound
        The audio, ``data`` of shape (channels, samples), float32 in [-1, 1].
    path : pathlib.Path
        The file it was read from.
    sha256 : str
        SHA-256 of the file's bytes.
    source_samplerate : int
        Sample rate of the file.
    source_channels : int
        Number of channels in the file.
    resampled : bool
        True if ``sound.samplerate`` differs from ``source_samplerate``.
    downmixed : bool
        True if channels were averaged to one.
    """

    sound: vocalpy.Sound
    path: pathlib.Path
    sha256: str
    source_samplerate: int
    source_channels: int
    resampled: bool
    downmixed: bool

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.sound.duration

    def provenance(self) -> dict:
        """The conversions applied, as a JSON-serialisable dict."""
        return {
            "source_path": str(self.path),
            "sha256": self.sha256,
            "source_samplerate": self.source_samplerate,
            "source_channels": self.source_channels,
            "samplerate": self.sound.samplerate,
            "resampled": self.resampled,
            "downmixed": self.downmixed,
        }


def sha256_file(path: str | pathlib.Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        while chunk := fp.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_hashed(path: str | pathlib.Path) -> tuple[bytes, str]:
    """A file's bytes and their SHA-256 hex digest (:func:`sha256_file`'s), read once.

    For a reader that decodes the bytes from memory (``soundfile.SoundFile(io.BytesIO(data))``):
    the digest is that of exactly what was decoded.
    """
    data = pathlib.Path(path).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _wav_declared_data_bytes(path: pathlib.Path) -> tuple[int, int] | None:
    """Return (declared, present) byte counts of a RIFF WAV's data chunk, or None."""
    with open(path, "rb") as fp:
        head = fp.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        while True:
            chunk = fp.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                if size == 0xFFFFFFFF:  # RF64 / streaming: size unknown
                    return None
                start = fp.tell()
                fp.seek(0, 2)
                return size, fp.tell() - start
            fp.seek(size + (size & 1), 1)


def _check_file(path: pathlib.Path) -> None:
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_dir():
        raise AudioError(path, "is a directory, not an audio file")
    ext = path.suffix.lower()
    if ext not in AUDIO_EXTENSIONS:
        raise FormatError(
            f"{path}: unsupported audio extension '{path.suffix}'. "
            f"Supported: {', '.join(AUDIO_EXTENSIONS)}"
        )
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")


def _read(path: pathlib.Path) -> tuple[np.ndarray, int]:
    """Read (channels, samples) float32 data and the sample rate, detecting truncation."""
    if path.suffix.lower() == ".cbin":
        import evfuncs

        rec = path.with_suffix(".rec")
        if not rec.exists():
            raise AudioError(path, f"evTAF .cbin audio needs its .rec file, {rec.name}, beside it")
        try:
            declared = evfuncs.readrecf(rec).get("num_samples")
            sound = vocalpy.Sound.read(path, dtype=np.float32)
        except Exception as err:  # evfuncs raises several types for bad .cbin/.rec
            raise AudioError(path, f"cannot read evTAF .cbin audio ({err})") from err
        if declared and sound.data.shape[1] < declared:
            raise AudioError(
                path,
                f"truncated .cbin: its .rec declares {declared} samples, file holds "
                f"{sound.data.shape[1]}",
            )
        return sound.data, int(sound.samplerate)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode audio: corrupt or not audio ({err})") from err
    if path.suffix.lower() == ".wav":
        sizes = _wav_declared_data_bytes(path)
        if sizes is not None and sizes[1] < sizes[0]:
            raise AudioError(
                path,
                f"truncated WAV: header declares {sizes[0]} bytes of audio, file holds {sizes[1]}",
            )
    try:
        sound = vocalpy.Sound.read(path, dtype=np.float32)
    except (soundfile.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode audio: corrupt or not audio ({err})") from err
    data = sound.data
    if info.frames > 0 and data.shape[1] < info.frames * 0.99:
        raise AudioError(
            path,
            f"truncated {info.format} audio: header declares {info.frames} samples, "
            f"only {data.shape[1]} could be decoded",
        )
    return data, int(sound.samplerate)


def check_samplerate(
    path: str | pathlib.Path,
    source_rate: int,
    samplerate: int | None,
    resample: Resample = True,
    warn: bool = False,
) -> bool:
    """Whether audio at ``source_rate`` is to be resampled to ``samplerate``, or an error.

    Parameters
    ----------
    path : path-like
        The file (named in the error and the warning).
    source_rate, samplerate : int
        The file's rate and the rate wanted (None: any).
    resample : bool or "down"
        True: resample any mismatch; ``"down"``: resample a higher rate, refuse a lower
        one (upsampling cannot restore the band the recording never had); False: refuse
        any mismatch.
    warn : bool
        Warn (:class:`~vocalpy_xai.errors.AudioResampledWarning`) when resampling.

    Raises
    ------
    AudioError
        A mismatch the policy refuses, naming the file and both rates.
    """
    if samplerate is None or int(samplerate) == int(source_rate):
        return False
    if resample is False:
        raise AudioError(
            path,
            f"sample rate is {source_rate} Hz, expected {samplerate} Hz "
            "(resampling was not allowed: pass resample=True to convert it)",
        )
    if resample == "down" and source_rate < samplerate:
        raise AudioError(
            path,
            f"sample rate is {source_rate} Hz, below the {samplerate} Hz the model was trained "
            f"on: its content above {source_rate / 2:g} Hz is missing and upsampling cannot "
            "restore it (pass resample=True to upsample anyway)",
        )
    if warn:
        warnings.warn(
            f"{path}: sample rate {source_rate} Hz resampled to {samplerate} Hz, the rate the "
            "model was trained on",
            AudioResampledWarning,
            stacklevel=3,
        )
    return True


def check_length(
    path: str | pathlib.Path, n_samples: int, samplerate: int, min_samples: int | None = None
) -> None:
    """Refuse audio shorter than ``min_samples`` (default :data:`MIN_DURATION_S`).

    Raises
    ------
    AudioError
        Naming the file, its length and the minimum.
    """
    need = math.ceil(MIN_DURATION_S * samplerate) if min_samples is None else int(min_samples)
    if n_samples < need:
        raise AudioError(
            path,
            f"too short: {n_samples} samples ({1000 * n_samples / samplerate:.1f} ms at "
            f"{samplerate} Hz); at least {need} samples ({1000 * need / samplerate:.1f} ms) "
            "are needed",
        )


def load_audio(
    path: str | pathlib.Path,
    samplerate: int | None = None,
    mono: bool = False,
    resample: Resample = True,
    allow_silence: bool = False,
    min_samples: int | None = None,
    warn_resample: bool = False,
) -> AudioRecord:
    """Load an audio file into a :class:`vocalpy.Sound`.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.wav``, ``.flac``, ``.mp3``, ``.ogg`` or evTAF ``.cbin`` file.
    samplerate : int, optional
        Sample rate wanted. If the file has another one it is resampled
        (:func:`librosa.resample`, soxr high quality) when ``resample`` is True,
        and refused with an :class:`~vocalpy_xai.errors.AudioError` otherwise.
        Default None: keep the file's rate.
    mono : bool
        If True, average the channels into one. Default False: keep all channels.
    resample : bool or "down"
        Whether a sample-rate mismatch may be fixed by resampling (default True);
        ``"down"``: only a higher rate (:func:`check_samplerate`).
    allow_silence : bool
        If False (default), a recording whose peak amplitude is at or under
        :data:`SILENCE_PEAK` is refused as pure silence.
    min_samples : int, optional
        Fewest samples (at the rate returned) accepted; default :data:`MIN_DURATION_S`
        worth (:func:`check_length`).
    warn_resample : bool
        Warn when the audio is resampled (default False: the record says so).

    Returns
    -------
    record : AudioRecord
        ``record.sound`` is the :class:`vocalpy.Sound`; the other attributes record
        the file's hash, original rate and channels, and what was converted.

    Raises
    ------
    AudioError
        The file is missing, empty, too short, corrupt, truncated, silent, contains NaN,
        or has a sample rate ``resample`` refuses. The message names the file.
    FormatError
        The extension is not one of :data:`AUDIO_EXTENSIONS`.

    Examples
    --------
    >>> record = vocalpy_xai.load_audio("song.mp3", samplerate=48000, mono=True)
    >>> record.sound
    >>> record.provenance()  # what was done to it
    """
    path = pathlib.Path(path)
    _check_file(path)
    data, source_rate = _read(path)
    if data.shape[1] == 0:
        raise AudioError(path, "contains no audio samples (0 frames)")
    if not np.all(np.isfinite(data)):
        raise AudioError(path, "contains NaN or infinite sample values")
    if not allow_silence and float(np.max(np.abs(data))) <= SILENCE_PEAK:
        raise AudioError(path, "pure silence: every sample is zero or under one 16-bit LSB")
    source_channels = data.shape[0]
    downmixed = False
    if mono and source_channels > 1:
        data = data.mean(axis=0, keepdims=True)
        downmixed = True
    resampled = False
    rate = source_rate
    out_rate = int(samplerate) if samplerate is not None else source_rate
    check_length(path, round(data.shape[1] * out_rate / source_rate), out_rate, min_samples)
    if check_samplerate(path, source_rate, samplerate, resample, warn_resample):
        import librosa

        data = librosa.resample(
            data, orig_sr=source_rate, target_sr=int(samplerate), res_type="soxr_hq", axis=-1
        )
        rate = int(samplerate)
        resampled = True
    sound = vocalpy.Sound(data=np.ascontiguousarray(data, dtype=np.float32), samplerate=rate)
    return AudioRecord(
        sound=sound,
        path=path,
        sha256=sha256_file(path),
        source_samplerate=source_rate,
        source_channels=source_channels,
        resampled=resampled,
        downmixed=downmixed,
    )
