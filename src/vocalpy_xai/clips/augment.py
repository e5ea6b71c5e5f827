"""Augmentation of dB spectrogram windows for training: time only, never frequency.

Ten clips per species is little, so training windows are varied by operations that a
recording could plausibly undergo: a song starting earlier or later in the window (time
shift), a gap or a masked sound (time masking), another recording's sounds behind it
(background mixing), a louder or quieter recording (gain). No operation moves energy from
one frequency row to another: pitch is part of a species' song, and a frequency-shifted
song is not the same species' song. Frequency shifts and frequency stretching are
deliberately absent.
"""

from __future__ import annotations

import numpy as np

#: percentile (per frequency row of a window) that time masks and "fill" shifts write
FLOOR_PERCENTILE: float = 5.0


def _db_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sum of two incoherent sounds given in dB (20 log10 amplitude = 10 log10 power)."""
    return (10.0 * np.logaddexp(a * (np.log(10) / 10), b * (np.log(10) / 10)) / np.log(10)).astype(
        np.float32
    )


def augment(
    X: np.ndarray,
    rng: np.random.Generator,
    *,
    y: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    p_shift: float = 1.0,
    max_shift: float = 0.5,
    shift_mode: str = "roll",
    p_mask: float = 0.5,
    n_masks: int = 2,
    max_mask: float = 0.1,
    p_mix: float = 0.5,
    mix_db: tuple[float, float] = (-18.0, -6.0),
    p_gain: float = 1.0,
    gain_db: tuple[float, float] = (-6.0, 6.0),
) -> np.ndarray:
    """Randomly augmented copies of dB spectrogram windows (time shift, time masks,
    background mixing, gain), reproducible from ``rng``.

    Each window, independently, in this order:

    1. **mix** (probability ``p_mix``): another window (from ``noise``, or another window of
       ``X``, of a different class when ``y`` is given) is added as sound, i.e. powers add
       (``10 log10(10^(x/10) + 10^(b/10))``), its peak set ``U(mix_db)`` dB under this
       window's peak;
    2. **shift** (``p_shift``): shifted in time by up to ``max_shift * T`` frames either way;
       ``shift_mode="roll"`` wraps the columns around, ``"fill"`` fills the vacated columns
       with the window's noise floor (5th percentile of each row);
    3. **time masks** (``p_mask``): ``n_masks`` spans of 1 to ``max_mask * T`` frames set to
       the window's noise floor, per row;
    4. **gain** (``p_gain``): ``U(gain_db)`` dB added to every value.

    Every operation acts on whole columns, or on each frequency row with itself: no energy
    moves between frequencies.

    Parameters
    ----------
    X : numpy.ndarray
        float ``(N, F, T)`` dB spectrogram windows (unchanged; copies are returned).
    rng : numpy.random.Generator
        Source of randomness (``numpy.random.default_rng(seed)``).
    y : numpy.ndarray, optional
        ``(N,)`` labels of ``X``: mixing then draws its background from other classes.
    noise : numpy.ndarray, optional
        ``(M, F, T)`` background windows to mix in (e.g. windows of other training clips).
        Default: the other windows of ``X``.
    p_shift, p_mask, p_mix, p_gain : float
        Probability of each operation per window.
    max_shift, max_mask : float
        Largest shift and mask width, as fractions of ``T``.
    shift_mode : {"roll", "fill"}
        How shifted-out columns come back (see above).
    n_masks : int
        Time masks per masked window.
    mix_db, gain_db : (float, float)
        Ranges (dB) of the background level under the window's peak, and of the gain.

    Returns
    -------
    X_aug : numpy.ndarray
        float32 ``(N, F, T)``.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 3:
        raise ValueError(f"X must be (N, freq, time) windows, got shape {X.shape}")
    if shift_mode not in ("roll", "fill"):
        raise ValueError(f"shift_mode must be 'roll' or 'fill', not {shift_mode!r}")
    n, n_freq, width = X.shape
    bank = X if noise is None else np.asarray(noise, dtype=np.float32)
    if bank.shape[1:] != X.shape[1:]:
        raise ValueError(f"noise windows have shape {bank.shape[1:]}, X windows {X.shape[1:]}")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},), got {y.shape}")
    out = X.copy()
    max_s = int(max_shift * width)
    max_m = max(1, int(max_mask * width))
    for i in range(n):
        x = out[i]
        if p_mix > 0 and rng.random() < p_mix:
            candidates = np.arange(len(bank))
            if noise is None:
                keep = candidates != i
                if y is not None and np.any(y != y[i]):
                    keep &= y != y[i]
                candidates = candidates[keep]
            if candidates.size:
                b = bank[int(rng.choice(candidates))]
                level = rng.uniform(*mix_db)
                b = b - np.max(b) + np.max(X[i]) + level
                x = _db_add(x, b)
        if p_shift > 0 and max_s > 0 and rng.random() < p_shift:
            s = int(rng.integers(-max_s, max_s + 1))
            if shift_mode == "roll":
                x = np.roll(x, s, axis=1)
            elif s != 0:
                floor = np.percentile(x, FLOOR_PERCENTILE, axis=1, keepdims=True)
                shifted = np.repeat(floor, width, axis=1).astype(np.float32)
                if s > 0:
                    shifted[:, s:] = x[:, : width - s]
                else:
                    shifted[:, :s] = x[:, -s:]
                x = shifted
        if p_mask > 0 and n_masks > 0 and rng.random() < p_mask:
            floor = np.percentile(x, FLOOR_PERCENTILE, axis=1, keepdims=True)
            x = x.copy()
            for _ in range(n_masks):
                w = int(rng.integers(1, max_m + 1))
                t0 = int(rng.integers(0, max(1, width - w + 1)))
                x[:, t0 : t0 + w] = floor
        if p_gain > 0 and rng.random() < p_gain:
            x = x + np.float32(rng.uniform(*gain_db))
        out[i] = x
    return out
