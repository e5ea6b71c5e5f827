"""What the prototype nets need on top of :mod:`vocalpy_xai.clips`' windows.

Windows come from :mod:`vocalpy_xai.clips` (:class:`~vocalpy_xai.clips.Windows`,
:func:`~vocalpy_xai.clips.syllable_windows`, :func:`~vocalpy_xai.clips.species_windows`);
this module adds

- :func:`frequency_band`: the rows of windows inside a band (e.g. 0-8 kHz of a full-band
  store), and
- :func:`sliding_windows`: regular windows along one spectrogram array (explaining a long
  recording window by window, without a store).
"""

from __future__ import annotations

import attrs
import numpy as np

from ..clips.windows import Windows, _cut, _floor, window_starts


def frequency_band(
    windows: Windows, fmin: float | None = None, fmax: float | None = None
) -> Windows:
    """The rows of ``windows`` whose centre frequency lies in ``[fmin, fmax]`` (Hz).

    Raises
    ------
    ValueError
        No frequency row is left.
    """
    freq = np.asarray(windows.freq_hz, dtype=float)
    keep = np.ones(len(freq), bool)
    if fmin is not None:
        keep &= freq >= fmin
    if fmax is not None:
        keep &= freq <= fmax
    if not keep.any():
        raise ValueError(
            f"no frequency row in [{fmin}, {fmax}] Hz: the windows span {freq[0]:g}-{freq[-1]:g} Hz"
        )
    return attrs.evolve(windows, X=np.ascontiguousarray(windows.X[:, keep]), freq_hz=freq[keep])


def sliding_windows(
    spectrogram: np.ndarray,
    freq_hz: np.ndarray,
    frame_s: float,
    window_s: float,
    hop_s: float | None = None,
    clip: str = "clip",
    source_path: str = "",
) -> Windows:
    """Regular windows along one (freq, time) dB spectrogram.

    Windows start every ``hop_s`` (default ``window_s``) seconds, with one more aligned to
    the end when the grid leaves half a hop or more uncovered
    (:func:`vocalpy_xai.clips.window_starts`); a spectrogram shorter than one window gives one
    window padded with its per-row noise floor. Returned unlabelled (``y`` all 0,
    ``class_names`` empty), with ``sources`` ``{"clip": "<clip>@<start>", "source_path",
    "start_s"}``.
    """
    spectrogram = np.asarray(spectrogram, dtype=np.float32)
    width = max(1, int(round(window_s / frame_s)))
    hop = max(1, int(round((hop_s or window_s) / frame_s)))
    floor = _floor(spectrogram)
    starts = window_starts(spectrogram.shape[1], width, hop)
    X = np.stack([_cut(spectrogram, floor, int(s), width) for s in starts]).astype(np.float32)
    sources = [
        {"clip": f"{clip}@{s * frame_s:.3f}", "source_path": source_path, "start_s": s * frame_s}
        for s in starts
    ]
    return Windows(
        X=X,
        y=np.zeros(len(X), dtype=np.int64),
        class_names=[],
        freq_hz=np.asarray(freq_hz, dtype=float),
        frame_s=float(frame_s),
        sources=sources,
    )
