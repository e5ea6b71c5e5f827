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

    def _bands(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
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
        return bands.T.astype(np.float64)  # (time, band)

    def n_frames(self, n_spect_frames: int) -> int:
        """Model frames made from ``n_spect_frames`` spectrogram frames."""
        return n_spect_frames // self.stride

    def fit(self, spectrograms, freqs: np.ndarray) -> BandFeatures:
        """Learn per-band mean and standard deviation from training spectrograms."""
        total = np.zeros(self.n_bands)
        total2 = np.zeros(self.n_bands)
        count = 0
        for spect in spectrograms:
            bands = self._bands(spect, freqs)
            total += bands.sum(0)
            total2 += (bands**2).sum(0)
            count += len(bands)
        self.mean_ = total / count
        self.std_ = np.sqrt(np.maximum(total2 / count - self.mean_**2, 1e-12))
        return self

    def transform(self, spectrogram: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Features (time, n_features) of one (freq, time) dB spectrogram."""
        if self.mean_ is None:
            raise RuntimeError("BandFeatures.transform before fit")
        z = (self._bands(spectrogram, freqs) - self.mean_) / self.std_
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
