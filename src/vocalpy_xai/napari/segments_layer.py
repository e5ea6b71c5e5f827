"""Segments as a napari Shapes layer: one rectangle per segment, spanning the frequency range.

Each rectangle's times are also kept in the layer's features (``onset_s``, ``offset_s``, float64)
next to its ``label``: napari stores vertices as float32, so a segment nobody touched keeps its
exact times when saved, and an edited one takes its times from its moved vertices.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pandas as pd

from ..io.annotations import SegmentTable
from .coords import hz_to_world

#: key of the plugin's entry in ``layer.metadata``
META_KEY: str = "vocalpy_xai"
#: shapes-layer roles
ANNOTATION, PREDICTIONS = "annotation", "predictions"

#: relative rounding of float32 vertices (one ulp)
_F32 = float(np.finfo(np.float32).eps)

_STYLE = {
    ANNOTATION: {"edge_color": "#ffd000", "face_color": "#ffd00026", "anchor": "upper_left"},
    PREDICTIONS: {"edge_color": "#00e5ff", "face_color": "#00e5ff14", "anchor": "lower_left"},
}


def rectangle(t0: float, t1: float, y0: float, y1: float) -> np.ndarray:
    """Vertices (4, 2) of a rectangle from ``t0`` to ``t1`` s and ``y0`` to ``y1`` (world)."""
    return np.array([[y0, t0], [y1, t0], [y1, t1], [y0, t1]], dtype=float)


def features_of(segments: SegmentTable | None) -> pd.DataFrame:
    """The layer features of ``segments``: ``label``, ``onset_s``, ``offset_s``."""
    if segments is None:
        return pd.DataFrame({"label": pd.Series([], dtype=object), "onset_s": [], "offset_s": []})
    return pd.DataFrame(
        {
            "label": np.asarray(segments.labels).astype(str).astype(object),
            "onset_s": np.asarray(segments.onsets_s, dtype=float),
            "offset_s": np.asarray(segments.offsets_s, dtype=float),
        }
    )


def segments_layer_data(
    segments: SegmentTable | None,
    freq_range_hz: tuple[float, float],
    name: str,
    role: str = ANNOTATION,
    metadata: dict[str, Any] | None = None,
) -> tuple[list[np.ndarray], dict, str]:
    """A napari LayerData tuple ``(data, kwargs, "shapes")`` of ``segments``.

    Parameters
    ----------
    segments : SegmentTable or None
        None: an empty layer to draw segments in.
    freq_range_hz : (float, float)
        The frequency range the rectangles span (Hz).
    name : str
        Layer name.
    role : {"annotation", "predictions"}
        Annotations are edited; predictions are drawn in another colour.
    metadata : dict, optional
        Stored under ``layer.metadata["vocalpy_xai"]`` with the role and frequency span.
    """
    y0, y1 = (float(v) for v in hz_to_world(np.asarray(freq_range_hz)))
    features = features_of(segments)
    data = [
        rectangle(a, b, y0, y1)
        for a, b in zip(features["onset_s"], features["offset_s"], strict=True)
    ]
    style = _STYLE[role]
    kwargs = {
        "name": name,
        "shape_type": "rectangle",
        "features": features,
        "feature_defaults": {"label": "?", "onset_s": np.nan, "offset_s": np.nan},
        "edge_color": style["edge_color"],
        "face_color": style["face_color"],
        "edge_width": 0.004,
        "text": {
            "string": "{label}",
            "size": 9,
            "color": style["edge_color"],
            "anchor": style["anchor"],
        },
        "metadata": {META_KEY: {**(metadata or {}), "role": role, "freq_span": (y0, y1)}},
    }
    return data, kwargs, "shapes"


def times_of(vertices: np.ndarray) -> tuple[float, float]:
    """Onset and offset (s) of a shape's vertices."""
    t = np.asarray(vertices, dtype=float)[:, -1]
    return float(t.min()), float(t.max())


def resolve_times(
    data, onsets: np.ndarray, offsets: np.ndarray, indices=None, tolerance: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Times of shapes: the recorded ones, or their vertices' where those moved.

    A shape whose vertices still match its recorded times (within ``tolerance`` s plus float32
    rounding) keeps its exact times. Returns onsets, offsets and the indices that moved.
    """
    onsets = np.array(onsets, dtype=float)
    offsets = np.array(offsets, dtype=float)
    n = len(data)
    indices = range(n) if indices is None else [i for i in indices if i < n]
    moved = []
    for i in indices:
        a, b = times_of(data[i])
        tol_a = tolerance + _F32 * abs(onsets[i]) if np.isfinite(onsets[i]) else -1.0
        tol_b = tolerance + _F32 * abs(offsets[i]) if np.isfinite(offsets[i]) else -1.0
        if not (abs(a - onsets[i]) <= tol_a and abs(b - offsets[i]) <= tol_b):
            onsets[i], offsets[i] = a, b
            moved.append(i)
    return onsets, offsets, moved


def sync_times(layer, indices=None, tolerance: float = 1e-6) -> list[int]:
    """Update the ``onset_s``/``offset_s`` features of shapes whose vertices moved."""
    features = layer.features
    onsets, offsets, moved = resolve_times(
        layer.data, features["onset_s"], features["offset_s"], indices, tolerance
    )
    if moved:
        features = features.copy()
        features["onset_s"] = onsets
        features["offset_s"] = offsets
        layer.features = features
    return moved


def segments_from_shapes(
    data, features: pd.DataFrame, annot_path: str | pathlib.Path | None = None
) -> SegmentTable:
    """Segments of shape vertices and their features, sorted by onset."""
    on, off, _ = resolve_times(data, features["onset_s"], features["offset_s"])
    labels = features["label"].astype(str).to_numpy()
    order = np.argsort(on, kind="stable")
    return SegmentTable(
        on[order],
        off[order],
        labels[order].astype(str),
        pathlib.Path(annot_path) if annot_path else None,
    )


def segments_from_layer(layer, annot_path: str | pathlib.Path | None = None) -> SegmentTable:
    """The segments of a Shapes layer, sorted by onset (times from :func:`sync_times`)."""
    sync_times(layer)
    return segments_from_shapes(layer.data, layer.features, annot_path)


def plugin_meta(layer) -> dict:
    """The plugin's metadata of a layer (empty for other layers)."""
    return layer.metadata.get(META_KEY, {}) if hasattr(layer, "metadata") else {}
