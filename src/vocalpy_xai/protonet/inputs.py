"""From dB spectrogram windows to the 3-channel tensors the backbone reads, with checks.

Encoding of one (freq, time) window ``x`` in dB:

1. ``(x - median(x)) / scale``: the window's median (its noise floor, roughly) removed, so
   recording gain does not matter; ``scale`` is one number learnt on the training set;
2. the same, differenced along time (onsets and offsets);
3. a frequency ramp ``freq_hz / freq_hz.max()``: the absolute frequency of every bin, so
   that convolutions, which are shift-invariant, can still tell 2 kHz from 6 kHz.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from .errors import SpectrogramInputError

#: relative tolerance when comparing frequency coordinates and frame steps
GRID_RTOL = 1e-4


def as_windows(X) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """Windows as float32 (N, F, T), with the freq (Hz) and frame step of an xarray input.

    ``X`` is a numpy array (N, F, T) or (F, T), or an :class:`xarray.DataArray` with dims
    ``freq`` and ``time`` (and one more, e.g. ``clip``), whose coordinates are returned.
    """
    freq = step = None
    if isinstance(X, xr.DataArray):
        if "freq" not in X.dims or "time" not in X.dims:
            raise SpectrogramInputError(f"a DataArray needs dims 'freq' and 'time', has {X.dims}")
        other = [d for d in X.dims if d not in ("freq", "time")]
        X = X.transpose(*other, "freq", "time")
        if "freq" in X.coords:
            freq = np.asarray(X["freq"].values, dtype=float)
        if "time" in X.coords and X.sizes["time"] > 1:
            step = float(np.median(np.diff(X["time"].values)))
        X = X.values
    X = np.asarray(X, dtype=np.float32)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3:
        raise SpectrogramInputError(
            f"expected spectrogram windows of shape (windows, freq, time), got shape {X.shape}"
        )
    return X, freq, step


def check_grid(
    X: np.ndarray,
    freq_hz: np.ndarray,
    frame_s: float,
    min_frames: int,
    given_freq: np.ndarray | None = None,
    given_step: float | None = None,
) -> None:
    """Refuse windows that do not fit the model's time-frequency grid, naming expected values."""
    n_bins = len(freq_hz)
    desc = f"{n_bins} bins from {freq_hz[0]:g} to {freq_hz[-1]:g} Hz" + (
        f" (step {freq_hz[1] - freq_hz[0]:g} Hz)" if n_bins > 1 else ""
    )
    if X.shape[1] != n_bins:
        raise SpectrogramInputError(
            f"wrong number of frequency bins: got {X.shape[1]}, the model expects {desc}. "
            "Compute the spectrograms with the model's spectrogram parameters (sample rate, "
            "n_fft, fmin/fmax)."
        )
    if given_freq is not None:
        if len(given_freq) != n_bins or not np.allclose(
            given_freq, freq_hz, rtol=GRID_RTOL, atol=1e-6
        ):
            got = f"{len(given_freq)} bins from {given_freq[0]:g} to {given_freq[-1]:g} Hz"
            raise SpectrogramInputError(
                f"frequency coordinates do not match the model's: got {got}, expected {desc}. "
                "Spectrograms at another sample rate or with other parameters? Resample the "
                "audio and use the model's spectrogram parameters."
            )
    if given_step is not None and not np.isclose(given_step, frame_s, rtol=1e-3):
        raise SpectrogramInputError(
            f"frame step is {given_step:g} s, the model expects {frame_s:g} s "
            "(another hop length or sample rate)"
        )
    if X.shape[2] < min_frames:
        raise SpectrogramInputError(
            f"window too short: {X.shape[2]} frames ({X.shape[2] * frame_s:.3f} s); the model "
            f"needs at least {min_frames} frames ({min_frames * frame_s:.3f} s), the length of "
            "its training windows"
        )
    if not np.isfinite(X).all():
        raise SpectrogramInputError(
            "spectrogram windows contain NaN or inf (padding past the end of a clip?); "
            "cut windows inside each clip"
        )


def window_median(X: np.ndarray) -> np.ndarray:
    """Median of each window (N, 1, 1)."""
    return np.median(X.reshape(len(X), -1), axis=1)[:, None, None].astype(np.float32)


def fit_scale(X: np.ndarray) -> float:
    """Scale of the encoding: standard deviation of median-removed training windows (dB)."""
    centred = X - window_median(X)
    return float(max(np.std(centred), 1e-3))


def encode(X: np.ndarray, freq_hz: np.ndarray, scale: float) -> torch.Tensor:
    """3-channel float32 tensor (N, 3, F, T) of windows (N, F, T); see the module docstring."""
    x = (X - window_median(X)) / scale
    delta = np.diff(x, axis=2, prepend=x[:, :, :1])
    top = float(np.max(np.abs(freq_hz))) or 1.0
    ramp = np.broadcast_to((np.asarray(freq_hz, np.float32) / top)[None, :, None], x.shape)
    return torch.from_numpy(np.ascontiguousarray(np.stack([x, delta, ramp], axis=1), np.float32))


def time_shift(x: np.ndarray, shift: int, fill: float | None = None) -> np.ndarray:
    """``x`` shifted by ``shift`` steps along its last (time) axis.

    The gap is filled with ``fill``, by default ``x``'s floor (minimum): a window (F, T) in
    dB, or 0.0 for audio samples.
    """
    if shift == 0:
        return x
    out = np.full_like(x, x.min() if fill is None else fill)
    if shift > 0:
        out[..., shift:] = x[..., :-shift]
    else:
        out[..., :shift] = x[..., -shift:]
    return out


class ShiftedExamples(torch.utils.data.Dataset):
    """Examples (N, ..., T) and labels, each shifted in time at random by up to ``max_shift``.

    Subclasses turn :meth:`example` into the network's input. ``fill``: what fills the gap
    (None: each example's floor, for dB windows; 0.0 for audio).
    """

    fill: float | None = None

    def __init__(self, X: np.ndarray, y: np.ndarray, max_shift: int = 0, seed: int = 0):
        self.X, self.y = X, torch.as_tensor(np.asarray(y), dtype=torch.long)
        self.max_shift = int(max_shift)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.X)

    def example(self, i: int) -> np.ndarray:
        """Example ``i``, shifted when ``max_shift`` is set."""
        x = self.X[i]
        if self.max_shift:
            shift = int(self.rng.integers(-self.max_shift, self.max_shift + 1))
            x = time_shift(x, shift, self.fill)
        return x


class WindowDataset(ShiftedExamples):
    """(encoded window, label) pairs, optionally shifted in time at random (augmentation).

    Parameters
    ----------
    X : numpy.ndarray
        Windows (N, F, T) in dB.
    y : numpy.ndarray
        Class indices (N,).
    freq_hz : numpy.ndarray
        Frequencies of the bins.
    scale : float
        Encoding scale (:func:`fit_scale`).
    max_shift : int
        Largest time shift in frames (0: no augmentation; projection sets use 0 so that a
        prototype's patch is found where it is in the window).
    seed : int
        Seed of the shifts.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        freq_hz: np.ndarray,
        scale: float,
        max_shift: int = 0,
        seed: int = 0,
    ):
        super().__init__(X, y, max_shift, seed)
        self.freq_hz, self.scale = freq_hz, scale

    def __getitem__(self, i: int):
        return encode(self.example(i)[None], self.freq_hz, self.scale)[0], self.y[i]


def check_sources(sources: Sequence[dict] | None, n: int, what: str = "windows") -> None:
    if sources is not None and len(sources) != n:
        raise SpectrogramInputError(f"{len(sources)} sources given for {n} {what}; one per window")
