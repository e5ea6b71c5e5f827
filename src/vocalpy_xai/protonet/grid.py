"""Feature-map cells and the input spectrogram's grid: upsampling maps, boxes in bins.

The backbone halves time and frequency ``log2(stride)`` times (max-pooling, floor), so
feature cell ``(h, w)`` sits over input bins ``h*stride ... h*stride + stride - 1`` and frames
``w*stride ... w*stride + stride - 1`` (its *footprint*; its receptive field is wider, see
:func:`~vocalpy_xai.protonet.backbone.receptive_field`). A map over cells is brought onto the
input grid by separable linear interpolation between cell centres (input index
``h*stride + (stride - 1) / 2``), constant past the first and last centres; bins past the last
full cell (when the size is not a multiple of ``stride``) take the last cell's value.
"""

from __future__ import annotations

import numpy as np


def interp_matrix(n_in: int, n_cells: int, stride: int) -> np.ndarray:
    """(n_in, n_cells) weights: input index ``i`` from the cells around it."""
    u = np.clip((np.arange(n_in) + 0.5) / stride - 0.5, 0, n_cells - 1)
    lo = np.floor(u).astype(int)
    hi = np.minimum(lo + 1, n_cells - 1)
    frac = u - lo
    m = np.zeros((n_in, n_cells), dtype=np.float64)
    np.add.at(m, (np.arange(n_in), lo), 1 - frac)
    np.add.at(m, (np.arange(n_in), hi), frac)
    return m


def upsample(maps: np.ndarray, n_freq: int, n_time: int, stride: int) -> np.ndarray:
    """Maps (..., H, W) over feature cells as float32 (..., n_freq, n_time) on the input grid."""
    h, w = maps.shape[-2:]
    mf = interp_matrix(n_freq, h, stride)
    mt = interp_matrix(n_time, w, stride)
    return np.einsum("fh,...hw,tw->...ft", mf, maps, mt, optimize=True).astype(np.float32)


def cell_span(index: int, stride: int, n: int) -> tuple[int, int]:
    """First and last input index (inclusive) of a cell's footprint along one axis."""
    lo = min(index * stride, n - 1)
    return lo, min(lo + stride, n) - 1


def rows_on_grid(weights: np.ndarray, n_freq: int, stride: int) -> np.ndarray:
    """Per-row weights (P, H) spread over the input bins (P, n_freq), each summing to 1.

    Bin ``f`` takes the weight of the row whose footprint holds it (the last row for the
    bins past the last full cell), divided among the bins of that row.
    """
    rows = np.minimum(np.arange(n_freq) // stride, weights.shape[1] - 1)
    counts = np.bincount(rows, minlength=weights.shape[1]).astype(float)
    out = weights[:, rows] / counts[rows]
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)
