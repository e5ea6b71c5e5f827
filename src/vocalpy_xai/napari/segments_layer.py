"""Segments as a napari Shapes layer: one rectangle per segment, spanning the frequency range.

Each rectangle's times are also kept in the layer's features (``onset_s``, ``offset_s``, float64)
next to its ``label``: napari stores vertices as float32, so a segment nobody touched keeps its
exact times when saved, and an edited one takes its times from its moved vertices.

**Windowed display.** napari builds a Shapes layer (and above all its text labels) in time that
grows faster than the number of shapes: 3,240 labelled rectangles take seconds. A layer
therefore holds only the segments in and around the visible time range, at most
:data:`MAX_SHOWN`; the others wait, exactly as read, in the layer's plugin metadata
(``hidden``: ``onset_s``, ``offset_s``, ``label``). The layer's segments are always the hidden
ones plus its shapes (:func:`segments_from_layer`), so edits apply to shown shapes and saving
writes all segments; :func:`show_window` swaps segments in and out when the view moves (the
viewer calls it, debounced, after camera moves: :mod:`.viewer`).
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
#: shapes-layer roles (``classification``: a classifier's chunks, labelled with their class)
ANNOTATION, PREDICTIONS, CLASSIFICATION = "annotation", "predictions", "classification"

#: relative rounding of float32 vertices (one ulp)
_F32 = float(np.finfo(np.float32).eps)

#: most segments a layer holds as shapes at once (the others are kept in its metadata)
MAX_SHOWN: int = 400
#: edge width of the rectangles (world units)
EDGE_WIDTH: float = 0.004

_STYLE = {
    # the camera's vertical axis points up, so "lower" is the top of the band on screen:
    # human labels above the band, the model's along its bottom edge
    ANNOTATION: {"edge_color": "#ffd000", "face_color": "#ffd00026", "anchor": "lower_left"},
    PREDICTIONS: {"edge_color": "#00e5ff", "face_color": "#00e5ff14", "anchor": "upper_left"},
    CLASSIFICATION: {"edge_color": "#7cff3a", "face_color": "#7cff3a0a", "anchor": "upper_left"},
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


def rectangles(onsets, offsets, y0: float, y1: float) -> np.ndarray:
    """Vertices (n, 4, 2) of the rectangles of ``onsets``/``offsets`` (one vectorised call)."""
    on = np.asarray(onsets, dtype=float)
    off = np.asarray(offsets, dtype=float)
    out = np.empty((len(on), 4, 2), dtype=float)
    out[:, :, 0] = [y0, y1, y1, y0]
    out[:, 0, 1] = out[:, 1, 1] = on
    out[:, 2, 1] = out[:, 3, 1] = off
    return out


def _as_hidden(onsets, offsets, labels) -> dict[str, np.ndarray]:
    return {
        "onset_s": np.asarray(onsets, dtype=float).copy(),
        "offset_s": np.asarray(offsets, dtype=float).copy(),
        "label": np.asarray(labels).astype(str),
    }


def choose_shown(
    onsets: np.ndarray,
    offsets: np.ndarray,
    view: tuple[float, float] | None,
    keep: np.ndarray | None = None,
    limit: int = MAX_SHOWN,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Which segments a layer shows for the visible time range ``view``.

    Those overlapping ``view`` widened by its own width on each side (so that panning by less
    than a screen needs no change); when more than ``limit``, the ``limit`` nearest the view's
    centre. ``keep`` (indices) are shown whatever the view (the selected segments).

    Returns
    -------
    mask : numpy.ndarray of bool
        The segments to show.
    shown_range : (float, float) or None
        The time range whose segments are all shown (None when capped at ``limit``): a view
        inside it needs no change.
    """
    on = np.asarray(onsets, dtype=float)
    off = np.asarray(offsets, dtype=float)
    if view is None:
        view = (-np.inf, np.inf)
    v0, v1 = float(view[0]), float(view[1])
    width = v1 - v0 if np.isfinite(v1 - v0) else np.inf
    r0, r1 = v0 - width, v1 + width
    mask = (off >= r0) & (on <= r1)
    shown_range: tuple[float, float] | None = (r0, r1)
    if int(mask.sum()) > limit:
        inside = np.flatnonzero(mask)
        centre = (v0 + v1) / 2 if np.isfinite(v1 - v0) else float(np.median((on + off) / 2))
        distance = np.abs((on[inside] + off[inside]) / 2 - centre)
        mask = np.zeros(len(on), dtype=bool)
        mask[inside[np.argsort(distance, kind="stable")[:limit]]] = True
        shown_range = None
    if keep is not None and len(keep):
        mask[np.asarray(keep, dtype=int)] = True
    return mask, shown_range


def segments_layer_data(
    segments: SegmentTable | None,
    freq_range_hz: tuple[float, float],
    name: str,
    role: str = ANNOTATION,
    metadata: dict[str, Any] | None = None,
    view: tuple[float, float] | None = None,
) -> tuple[np.ndarray | list, dict, str]:
    """A napari LayerData tuple ``(data, kwargs, "shapes")`` of ``segments``.

    Parameters
    ----------
    segments : SegmentTable or None
        None: an empty layer to draw segments in.
    freq_range_hz : (float, float)
        The frequency range the rectangles span (Hz).
    name : str
        Layer name.
    role : {"annotation", "predictions", "classification"}
        Annotations are edited; predictions and classified chunks are drawn in other colours.
    metadata : dict, optional
        Stored under ``layer.metadata["vocalpy_xai"]`` with the role and frequency span.
    view : (float, float), optional
        The time range (s) first visible (default: all of it). At most :data:`MAX_SHOWN`
        segments become shapes (:func:`choose_shown`); the others are kept in the metadata
        (``hidden``).
    """
    y0, y1 = (float(v) for v in hz_to_world(np.asarray(freq_range_hz)))
    features = features_of(segments)
    on = features["onset_s"].to_numpy(float)
    off = features["offset_s"].to_numpy(float)
    mask, shown_range = choose_shown(on, off, view)
    hidden = _as_hidden(on[~mask], off[~mask], features["label"].to_numpy()[~mask])
    shown = np.flatnonzero(mask)
    shown = shown[np.argsort(on[shown], kind="stable")]
    features = features.iloc[shown].reset_index(drop=True)
    data = rectangles(on[shown], off[shown], y0, y1) if len(shown) else []
    style = _STYLE[role]
    kwargs = {
        "name": name,
        "shape_type": "rectangle",
        "features": features,
        "feature_defaults": {"label": "?", "onset_s": np.nan, "offset_s": np.nan},
        "edge_color": style["edge_color"],
        "face_color": style["face_color"],
        "edge_width": EDGE_WIDTH,
        "text": {
            "string": "{label}",
            "size": 11,
            "color": style["edge_color"],
            "anchor": style["anchor"],
        },
        "metadata": {
            META_KEY: {
                **(metadata or {}),
                "role": role,
                "freq_span": (y0, y1),
                "hidden": hidden,
                "shown_range": shown_range,
                "view": None if view is None else (float(view[0]), float(view[1])),
            }
        },
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


def hidden_of(meta: dict) -> dict[str, np.ndarray]:
    """The segments a layer keeps out of its shapes (its plugin metadata ``hidden``)."""
    hidden = meta.get("hidden") or {}
    if "onset_s" not in hidden:
        return _as_hidden([], [], [])
    return hidden


def all_segments(
    data, features: pd.DataFrame, hidden: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Onsets, offsets and labels of the hidden segments, then of the shapes (unsorted).

    Also returns the number of hidden segments (the shapes' segments start there).
    """
    hidden = hidden_of({"hidden": hidden})
    on, off, _ = resolve_times(data, features["onset_s"], features["offset_s"])
    labels = features["label"].astype(str).to_numpy()
    return (
        np.concatenate([hidden["onset_s"], on]),
        np.concatenate([hidden["offset_s"], off]),
        np.concatenate([hidden["label"].astype(str), labels.astype(str)]),
        len(hidden["onset_s"]),
    )


def segments_from_shapes(
    data,
    features: pd.DataFrame,
    annot_path: str | pathlib.Path | None = None,
    hidden: dict | None = None,
) -> SegmentTable:
    """Segments of shape vertices and their features (and ``hidden`` ones), sorted by onset."""
    on, off, labels, _ = all_segments(data, features, hidden)
    order = np.argsort(on, kind="stable")
    return SegmentTable(
        on[order],
        off[order],
        labels[order].astype(str),
        pathlib.Path(annot_path) if annot_path else None,
    )


def segments_from_layer(layer, annot_path: str | pathlib.Path | None = None) -> SegmentTable:
    """All segments of a Shapes layer (shown and hidden), sorted by onset."""
    sync_times(layer)
    return segments_from_shapes(
        layer.data, layer.features, annot_path, plugin_meta(layer).get("hidden")
    )


def set_shapes(layer, onsets, offsets, labels, selected=()) -> None:
    """Replace the shapes of ``layer`` with these segments (keeping its style and defaults)."""
    meta = plugin_meta(layer)
    y0, y1 = meta.get("freq_span", (0.0, 1.0))
    on = np.asarray(onsets, dtype=float)
    defaults = {k: v.iloc[0] for k, v in layer.feature_defaults.items()}
    vertices = rectangles(on, offsets, y0, y1)
    layer.data = [(v, "rectangle") for v in vertices]
    if len(on):
        layer.edge_width = EDGE_WIDTH  # napari gives shapes beyond the previous count width 1
    layer.features = pd.DataFrame(
        {
            "label": np.asarray(labels).astype(str).astype(object),
            "onset_s": on,
            "offset_s": np.asarray(offsets, dtype=float),
        }
    )
    layer.feature_defaults = defaults
    if len(selected):
        layer.selected_data = set(int(i) for i in selected)


def show_segments(layer, onsets, offsets, labels, view=None, keep=None) -> np.ndarray:
    """Make these segments all of ``layer``'s: shapes for ``view``, the others hidden.

    ``keep`` (indices into the segments) are shown and selected. Returns the shape index of
    each segment (-1 for hidden ones).
    """
    meta = plugin_meta(layer)
    on = np.asarray(onsets, dtype=float)
    off = np.asarray(offsets, dtype=float)
    labels = np.asarray(labels).astype(str)
    view = view if view is not None else meta.get("view")
    mask, shown_range = choose_shown(on, off, view, keep)
    shown = np.flatnonzero(mask)
    shown = shown[np.argsort(on[shown], kind="stable")]
    position = np.full(len(on), -1, dtype=int)
    position[shown] = np.arange(len(shown))
    meta["hidden"] = _as_hidden(on[~mask], off[~mask], labels[~mask])
    meta["shown_range"] = shown_range
    selected = position[np.asarray(keep, dtype=int)] if keep is not None and len(keep) else ()
    set_shapes(layer, on[shown], off[shown], labels[shown], selected)
    return position


def show_window(layer, view: tuple[float, float], force: bool = False) -> bool:
    """Show the segments of the visible time range ``view`` (s); True if the shapes changed.

    Nothing happens when ``view`` lies inside the range already shown (unless ``force``).
    Selected shapes stay shown and selected.
    """
    meta = plugin_meta(layer)
    view = (float(view[0]), float(view[1]))
    meta["view"] = view
    shown_range = meta.get("shown_range")
    if not force and shown_range is not None:
        if shown_range[0] <= view[0] and view[1] <= shown_range[1]:
            return False
    sync_times(layer)
    on, off, labels, n_hidden = all_segments(layer.data, layer.features, meta.get("hidden"))
    keep = n_hidden + np.array(sorted(layer.selected_data), dtype=int)
    mask, shown_range = choose_shown(on, off, view, keep)
    meta["shown_range"] = shown_range
    now = np.zeros(len(on), dtype=bool)
    now[n_hidden:] = True
    if (mask == now).all():
        return False
    show_segments(layer, on, off, labels, view, keep)
    return True


def plugin_meta(layer) -> dict:
    """The plugin's metadata of a layer (empty for other layers)."""
    return layer.metadata.get(META_KEY, {}) if hasattr(layer, "metadata") else {}
