"""Frame features for annotation models: frequency bands of a store spectrogram.

The same code turns a store's spectrogram into model inputs at training time and a new
recording's spectrogram into model inputs at annotation time, so the two never differ.
"""

from __future__ import annotations

import attrs
import numpy as np


@attrs.define
class BandFeatures:
    """Band energies of a dB spectrogram, pooled in time, standardised, with deltas.

    Parameters
    ----------
    fmin, fmax : float
        Frequency band used (Hz).
    n_bands : int
        Number of equal-width frequency bands the kept bins are averaged into.
    stride : int
        Spectrogram frames averaged into one model frame (e.g. 4 frames of 2 ms = 8 ms).
    deltas : bool
        Append the time derivative of every band (onsets and offsets stand out in it).

    Attributes
    ----------
    mean_, std_ : numpy.ndarray
        Per-band statistics of the training data (set by :meth:`fit`).
    """

    fmin: float = 500.0
    fmax: float = 10000.0
    n_bands: int = 48
    stride: int = 4
    deltas: bool = True
    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None

    def bands(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Band energies (time, band) of a dB spectrogram, pooled in time; not standardised.

        Exact in float32 (the values come from the float32 spectrogram), so a long
        recording's bands can be computed block by block and kept cheaply.
        """
        keep = (freqs >= self.fmin) & (freqs <= self.fmax)
        if keep.sum() < self.n_bands:
            raise ValueError(
                f"only {keep.sum()} frequency bins between {self.fmin} and {self.fmax} Hz; "
                f"need at least n_bands={self.n_bands}"
            )
        spect = spectrogram[keep]
        edges = np.linspace(0, spect.shape[0], self.n_bands + 1).astype(int)
        bands = np.add.reduceat(spect, edges[:-1], axis=0) / np.diff(edges)[:, None]
        n = bands.shape[1] // self.stride
        bands = bands[:, : n * self.stride].reshape(self.n_bands, n, self.stride).mean(-1)
        return np.ascontiguousarray(bands.T, dtype=np.float64)  # (time, band)

    def envelope(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Energy envelope (time,) in dB of a dB spectrogram: mean power of the kept bins.

        One value per spectrogram frame (not pooled), for the edges of segments
        (:mod:`vocalpy_xai.models.boundaries`); :meth:`DbBandSpectrogram.envelope` gives
        the same from audio.
        """
        keep = (freqs >= self.fmin) & (freqs <= self.fmax)
        power = np.power(10.0, np.asarray(spectrogram[keep], dtype=np.float64) / 10.0)
        return (10.0 * np.log10(power.mean(axis=0))).astype(np.float32)

    def n_frames(self, n_spect_frames: int) -> int:
        """Model frames made from ``n_spect_frames`` spectrogram frames."""
        return n_spect_frames // self.stride

    def fit(self, spectrograms, freqs: np.ndarray) -> BandFeatures:
        """Learn per-band mean and standard deviation from training spectrograms."""
        total = np.zeros(self.n_bands)
        total2 = np.zeros(self.n_bands)
        count = 0
        for spect in spectrograms:
            bands = self.bands(spect, freqs)
            total += bands.sum(0)
            total2 += (bands**2).sum(0)
            count += len(bands)
        self.mean_ = total / count
        self.std_ = np.sqrt(np.maximum(total2 / count - self.mean_**2, 1e-12))
        return self

    def transform(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Features (time, n_features) of one (freq, time) dB spectrogram."""
        return self.from_bands(self.bands(spectrogram, freqs))

    def from_bands(self, bands: np.ndarray) -> np.ndarray:
        """Features (time, n_features) of band energies from :meth:`bands`.

        Deltas are centred differences (one-sided at the first and last frame): a slice
        of a longer recording with one frame of context on each side gives the same
        features as the whole recording.
        """
        if self.mean_ is None:
            raise RuntimeError("BandFeatures.transform before fit")
        z = (np.asarray(bands, dtype=np.float64) - self.mean_) / self.std_
        if self.deltas:
            d = np.gradient(z, axis=0) if len(z) > 1 else np.zeros_like(z)
            z = np.hstack([z, d])
        return z

    @property
    def n_features(self) -> int:
        return self.n_bands * (2 if self.deltas else 1)

    def to_dict(self) -> dict:
        d = attrs.asdict(self)
        d["mean_"] = None if self.mean_ is None else self.mean_.tolist()
        d["std_"] = None if self.std_ is None else self.std_.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> BandFeatures:
        d = dict(d)
        for key in ("mean_", "std_"):
            if d.get(key) is not None:
                d[key] = np.asarray(d[key], dtype=np.float64)
        return cls(**d)


class DbBandSpectrogram:
    """Band energies of audio, as ``features.bands(params.compute(sound))``, computed faster.

    :meth:`SpectrogramParams.compute <vocalpy_xai.store.SpectrogramParams.compute>`
    (vocalpy's ``"librosa-db"``: ``librosa.amplitude_to_db(abs(librosa.stft(y)))``)
    converts every bin of every 2-ms frame to dB; the band features only read the bins
    between ``fmin`` and ``fmax`` and librosa's 80-dB floor only needs the loudest bin.
    This adapter frames the audio as ``librosa.stft`` does (centred, zero padding,
    periodic Hann window, FFT in float64 -- in float32, quiet bins would be off by 3e-4 dB
    -- and float32 magnitudes), takes dB of the
    kept bins only, applies the floor given (or the block's own, as librosa), and pools
    them as :meth:`BandFeatures.bands` (pooling first, then band means as one matrix product:
    both are linear). Equal to the librosa path up to float32 rounding
    (tested on Bird0 songs). Used by annotation, where the spectrogram is most of the cost.

    Parameters
    ----------
    features : BandFeatures
    n_fft, hop_length : int
        The store's spectrogram parameters (``method="librosa-db"``).
    samplerate : int
    """

    #: librosa.amplitude_to_db's defaults, as vocalpy.spectrogram calls it
    AMIN, TOP_DB = 1e-5, 80.0

    def __init__(self, features: BandFeatures, n_fft: int, hop_length: int, samplerate: int):
        import scipy.signal

        self.features, self.n_fft, self.hop = features, int(n_fft), int(hop_length)
        freqs = np.fft.rfftfreq(self.n_fft, d=1.0 / samplerate)
        keep = np.flatnonzero((freqs >= features.fmin) & (freqs <= features.fmax))
        if len(keep) < features.n_bands:
            raise ValueError(
                f"only {len(keep)} frequency bins between {features.fmin} and "
                f"{features.fmax} Hz; need at least n_bands={features.n_bands}"
            )
        self.keep = slice(int(keep[0]), int(keep[-1]) + 1)
        edges = np.linspace(0, len(keep), features.n_bands + 1).astype(int)
        self.band_matrix = np.zeros((len(keep), features.n_bands))
        for band, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            self.band_matrix[a:b, band] = 1.0 / (b - a)
        self.window = scipy.signal.get_window("hann", self.n_fft, fftbins=True)

    def power(self, audio: np.ndarray) -> np.ndarray:
        """Power (frames, bins) float32 of the frames centred on ``i * hop`` of ``audio``.

        ``audio`` must already hold ``n_fft // 2`` samples of context (or zeros) before
        the first centre and after the last one.
        """
        import scipy.fft

        frames = np.lib.stride_tricks.sliding_window_view(audio, self.n_fft)[:: self.hop]
        out = np.empty((len(frames), self.n_fft // 2 + 1), np.float32)
        step = 256  # frames per FFT call: temporaries that stay in cache (2x faster than 4096)
        for a in range(0, len(frames), step):
            spec = scipy.fft.rfft(frames[a : a + step] * self.window, axis=-1)
            mag = np.abs(spec.astype(np.complex64))
            out[a : a + step] = np.square(mag, out=mag)
        return out

    def bands(self, power: np.ndarray, floor_db: float | None = None) -> np.ndarray:
        """Band energies (model frames, bands) float32 of :meth:`power` frames.

        ``floor_db``: librosa's floor (loudest bin in dB minus 80); default: this block's.
        """
        if floor_db is None:
            floor_db = self.peak_db(power) - np.float32(self.TOP_DB)
        db = power[:, self.keep]
        db = np.float32(10.0) * np.log10(np.maximum(np.float32(self.AMIN**2), db))
        db = np.maximum(db, np.float32(floor_db))
        stride = self.features.stride
        n = len(db) // stride
        pooled = db[: n * stride].reshape(n, stride, -1).mean(1, dtype=np.float64)
        return (pooled @ self.band_matrix).astype(np.float32)  # band means, one product

    def envelope(self, power: np.ndarray, floor_db: float) -> np.ndarray:
        """Energy envelope (frames,) in dB of :meth:`power` frames under librosa's floor.

        :meth:`BandFeatures.envelope` of the dB spectrogram, up to float32 rounding: the
        mean over the kept bins of the power, each bin floored as the dB values are.
        """
        lowest = max(np.float32(self.AMIN**2), np.float32(10.0 ** (float(floor_db) / 10.0)))
        kept = np.maximum(power[:, self.keep], np.float32(lowest))
        return (10.0 * np.log10(kept.mean(axis=1, dtype=np.float64))).astype(np.float32)

    def peak_db(self, power: np.ndarray) -> np.float32:
        """The loudest bin of ``power`` in dB (librosa's reference for its floor)."""
        if power.size == 0:
            return np.float32(-np.inf)
        peak = np.float32(max(float(power.max()), self.AMIN**2))
        return np.float32(10.0) * np.log10(peak)
