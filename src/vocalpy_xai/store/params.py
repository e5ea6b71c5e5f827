"""Parameters of the spectrograms in a store."""

from __future__ import annotations

import hashlib
import json

import attrs
import numpy as np
import vocalpy

#: spectrogram methods of :func:`vocalpy.spectrogram` a store can hold
METHODS: tuple[str, ...] = ("librosa-db",)


def _positive(instance, attribute, value):
    if value is not None and value <= 0:
        raise ValueError(f"SpectrogramParams.{attribute.name} must be > 0, got {value}")


@attrs.define(frozen=True)
class SpectrogramParams:
    """How the spectrograms of a store are computed, with :func:`vocalpy.spectrogram`.

    Parameters
    ----------
    samplerate : int, optional
        Every file is brought to this rate (resampling is recorded per clip). None: all
        files must already share one rate, and a file at another rate is refused.
    n_fft : int
        FFT window length in samples. Default 512.
    hop_length : int
        Hop between frames in samples. Default 64 (2 ms at 32 kHz).
    method : str
        :func:`vocalpy.spectrogram` method. Default ``"librosa-db"`` (dB of ``|STFT|``,
        frames centred: frame ``i`` is centred on ``i * hop_length / samplerate`` s).
    fmin, fmax : float, optional
        Frequency band kept (Hz). Default: everything from 0 Hz to Nyquist.

    Examples
    --------
    >>> SpectrogramParams(samplerate=32000, n_fft=512, hop_length=64, fmin=500, fmax=10000)
    """

    samplerate: int | None = attrs.field(default=None, validator=_positive)
    n_fft: int = attrs.field(default=512, validator=_positive)
    hop_length: int = attrs.field(default=64, validator=_positive)
    method: str = attrs.field(default="librosa-db", validator=attrs.validators.in_(METHODS))
    fmin: float = attrs.field(default=0.0)
    fmax: float | None = attrs.field(default=None, validator=_positive)

    def __attrs_post_init__(self):
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError(
                f"SpectrogramParams: fmax ({self.fmax}) must exceed fmin ({self.fmin})"
            )

    def to_dict(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SpectrogramParams:
        unknown = set(d) - {f.name for f in attrs.fields(cls)}
        if unknown:
            valid = [f.name for f in attrs.fields(cls)]
            raise ValueError(f"unknown spectrogram parameter(s) {sorted(unknown)}; valid: {valid}")
        return cls(**d)

    def sha256(self) -> str:
        """Hash of the parameters (and of the code version that uses them)."""
        blob = json.dumps(
            {"params": self.to_dict(), "vocalpy": vocalpy.__version__, "layout": 1}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def frequencies(self, samplerate: int) -> np.ndarray:
        """Frequencies (Hz) of the kept bins."""
        f = np.fft.rfftfreq(self.n_fft, d=1.0 / samplerate)
        return f[self.freq_mask(samplerate)]

    def freq_mask(self, samplerate: int) -> np.ndarray:
        f = np.fft.rfftfreq(self.n_fft, d=1.0 / samplerate)
        keep = f >= self.fmin
        if self.fmax is not None:
            keep &= f <= self.fmax
        return keep

    def frame_duration(self, samplerate: int) -> float:
        """Seconds between frames."""
        return self.hop_length / samplerate

    def compute(self, sound: vocalpy.Sound) -> np.ndarray:
        """Spectrogram (freq, time) float32 of a mono :class:`vocalpy.Sound`."""
        if sound.data.shape[0] != 1:
            raise ValueError("SpectrogramParams.compute needs mono audio (downmix first)")
        spect = vocalpy.spectrogram(
            sound, n_fft=self.n_fft, hop_length=self.hop_length, method=self.method
        )
        data = np.asarray(spect.data)[0]  # (freq, time) of the one channel
        return np.ascontiguousarray(data[self.freq_mask(sound.samplerate)], dtype=np.float32)
