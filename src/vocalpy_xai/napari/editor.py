"""Editing an annotation layer: relabel with keys, edit history (undo/redo), autosave.

napari's Shapes layer moves, resizes, adds (rectangle tool, ``R``) and deletes (``Delete``)
rectangles but keeps no undo history. A :class:`SegmentEditor` attached to the layer records
the segments after every edit (so ``Ctrl-Z`` / ``Ctrl-Shift-Z`` undo and redo), writes them to
the autosave sidecar, and binds the label keys:

- a key that is itself a label (``a``, ``3``...) gives the selected segments that label;
- when no label is a digit, ``1`` ... ``9`` give the 1st ... 9th label of the label set;
- with nothing selected, such a key does what napari's key does (``R`` rectangle tool,
  ``S`` select, ``D`` direct, ``Z`` pan/zoom, ``4``/``5``/``6`` the same modes).
"""

from __future__ import annotations

import logging
import pathlib
import weakref
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from ..io.annotations import SegmentTable
from .autosave import write_autosave
from .segments_layer import (
    META_KEY,
    plugin_meta,
    rectangle,
    segments_from_layer,
    show_segments,
    show_window,
    sync_times,
)

logger = logging.getLogger(__name__)

#: most snapshots kept for undo
HISTORY_LIMIT: int = 500

_FALLBACK_MODES = {
    "r": "add_rectangle",
    "e": "add_ellipse",
    "l": "add_line",
    "p": "add_polygon",
    "t": "add_path",
    "s": "select",
    "d": "direct",
    "z": "pan_zoom",
    "i": "vertex_insert",
    "x": "vertex_remove",
    "1": "vertex_remove",
    "2": "vertex_insert",
    "4": "direct",
    "5": "select",
    "6": "pan_zoom",
    "7": "transform",
}
_KEYS = set("abcdefghijklmnopqrstuvwxyz0123456789")

_EDITORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _snapshot(seg: SegmentTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (seg.onsets_s.copy(), seg.offsets_s.copy(), np.asarray(seg.labels).astype(str))


def _same(a, b) -> bool:
    return all(len(x) == len(y) and (x == y).all() for x, y in zip(a, b, strict=True))


class SegmentEditor:
    """Edit history, label keys and autosave of one annotation Shapes layer.

    Parameters
    ----------
    layer : napari.layers.Shapes
        Made by :func:`~vocalpy_xai.napari.segments_layer.segments_layer_data`.
    labels : iterable of str, optional
        The label set for the keys (default: the layer's labels).
    autosave : bool
        Write the autosave sidecar after every edit (needs ``audio_path`` in the layer's
        plugin metadata). Default True.
    """

    def __init__(self, layer, labels: Iterable[str] | None = None, autosave: bool = True):
        self.layer = layer
        meta = plugin_meta(layer)
        self.audio_path = pathlib.Path(meta["audio_path"]) if meta.get("audio_path") else None
        self.autosave = autosave and self.audio_path is not None
        self.freq_span = tuple(meta.get("freq_span", (0.0, 1.0)))
        current = np.asarray(self.segments().labels).astype(str).tolist()
        self.labels = sorted(set(labels if labels is not None else current))
        self._history = [_snapshot(self.segments())]
        self._future: list = []
        self._applying = False
        self.on_edit: list[Callable[[SegmentTable], None]] = []
        self.last_autosave: pathlib.Path | None = None
        layer.events.data.connect(self._on_data)
        self._bind_keys()

    # ------------------------------------------------------------------ state
    def segments(self) -> SegmentTable:
        """All the layer's segments now (shown and hidden), sorted by onset."""
        return segments_from_layer(self.layer)

    def show_window(self, view: tuple[float, float], force: bool = False) -> bool:
        """Show the segments of the visible time range ``view`` (not an edit)."""
        self._applying = True
        try:
            return show_window(self.layer, view, force)
        finally:
            self._applying = False

    def select_segment(self, onset_s: float, offset_s: float | None = None) -> int | None:
        """Show and select the segment starting at ``onset_s``; its shape index, or None."""
        shown = self.layer.features["onset_s"].to_numpy(float)
        here = np.flatnonzero(np.isclose(shown, onset_s, rtol=0, atol=1e-9))
        if offset_s is not None and here.size > 1:
            ends = self.layer.features["offset_s"].to_numpy(float)[here]
            here = here[np.argmin(np.abs(ends - offset_s)) :][:1]
        if here.size:  # already a shape: select it
            self.layer.selected_data = {int(here[0])}
            return int(here[0])
        seg = self.segments()
        match = np.flatnonzero(np.isclose(seg.onsets_s, onset_s, rtol=0, atol=1e-9))
        if offset_s is not None and match.size > 1:
            best = np.argmin(np.abs(seg.offsets_s[match] - offset_s))
            match = match[best : best + 1]
        if not match.size:
            return None
        self._applying = True
        try:
            position = show_segments(
                self.layer, seg.onsets_s, seg.offsets_s, seg.labels, keep=match[:1]
            )
        finally:
            self._applying = False
        return int(position[match[0]])

    @property
    def can_undo(self) -> bool:
        return len(self._history) > 1

    def _on_data(self, event) -> None:
        action = str(getattr(event, "action", "changed"))
        if self._applying or not action.endswith(("added", "changed", "removed")):
            return
        indices = getattr(event, "data_indices", None)
        if action.endswith("added") and len(self.layer.features):
            labels = self.layer.features["label"]
            fresh = labels.isna() | (labels.astype(str) == "nan")
            if fresh.any():
                features = self.layer.features.copy()
                features.loc[fresh, "label"] = self.layer.feature_defaults["label"].iloc[0]
                self.layer.features = features
        sync_times(self.layer, None if action.endswith("added") else indices)
        self.commit()

    def commit(self) -> None:
        """Record the layer's segments as one edit: history, autosave, listeners."""
        seg = self.segments()
        snap = _snapshot(seg)
        if _same(snap, self._history[-1]):
            return
        self._history.append(snap)
        del self._history[:-HISTORY_LIMIT]
        self._future.clear()
        self._after_edit(seg)

    def _after_edit(self, seg: SegmentTable) -> None:
        if self.autosave:
            try:
                self.last_autosave = write_autosave(seg, self.audio_path)
            except Exception as err:  # keep editing; say why the autosave failed
                logger.warning("autosave of %s failed: %s", self.audio_path, err)
        self.layer.refresh_text()
        for callback in list(self.on_edit):
            callback(seg)

    # ------------------------------------------------------------------ edits
    def set_label(self, label: str, indices: Iterable[int] | None = None) -> None:
        """Give ``label`` to the shapes at ``indices`` (default: the selected ones)."""
        indices = sorted(self.layer.selected_data if indices is None else indices)
        if not indices:
            return
        features = self.layer.features.copy()
        features.loc[indices, "label"] = str(label)
        self.layer.features = features
        self.layer.feature_defaults = {**self._defaults(), "label": str(label)}
        if str(label) not in self.labels:
            self.labels = sorted({*self.labels, str(label)})
        self.commit()

    def _defaults(self) -> dict:
        return {k: v.iloc[0] for k, v in self.layer.feature_defaults.items()}

    def set_times(self, index: int, onset_s: float, offset_s: float) -> None:
        """Move the boundaries of shape ``index`` (as dragging its edges would)."""
        data = list(self.layer.data)
        data[index] = rectangle(onset_s, offset_s, *self.freq_span)
        self._apply_data(data, self.layer.features.copy())
        features = self.layer.features.copy()
        features.loc[index, ["onset_s", "offset_s"]] = [float(onset_s), float(offset_s)]
        self.layer.features = features
        self.commit()

    def add_segment(self, onset_s: float, offset_s: float, label: str) -> None:
        """Add a segment."""
        seg = self.segments()
        self._restore(
            (
                np.append(seg.onsets_s, onset_s),
                np.append(seg.offsets_s, offset_s),
                np.append(seg.labels, str(label)),
            )
        )
        self.commit()

    def delete(self, indices: Iterable[int] | None = None) -> None:
        """Delete the shapes at ``indices`` (default: the selected ones)."""
        indices = set(self.layer.selected_data if indices is None else indices)
        if not indices:
            return
        self.layer.selected_data = indices
        self.layer.remove_selected()  # emits 'removed': committed by _on_data

    def undo(self) -> bool:
        """Go back one edit; False when there is nothing to undo."""
        if len(self._history) < 2:
            return False
        self._future.append(self._history.pop())
        self._restore(self._history[-1])
        self._after_edit(self.segments())
        return True

    def redo(self) -> bool:
        """Redo an undone edit; False when there is nothing to redo."""
        if not self._future:
            return False
        snap = self._future.pop()
        self._history.append(snap)
        self._restore(snap)
        self._after_edit(self.segments())
        return True

    def _apply_data(self, data, features: pd.DataFrame) -> None:
        self._applying = True
        try:
            defaults = self._defaults()
            self.layer.data = data
            self.layer.shape_type = "rectangle" if data else self.layer.shape_type
            self.layer.features = features.reset_index(drop=True)
            self.layer.feature_defaults = defaults
        finally:
            self._applying = False

    def _restore(self, snap) -> None:
        """Make ``snap`` (all segments) the layer's: shapes near the view, the others hidden."""
        on, off, labels = snap
        self._applying = True
        try:
            show_segments(self.layer, on, off, labels)
        finally:
            self._applying = False

    # ------------------------------------------------------------------ keys
    def label_for_key(self, key: str) -> str | None:
        """The label key ``key`` gives, or None."""
        if key in self.labels:
            return key
        if key.isdigit() and key != "0" and not any(lab.isdigit() for lab in self.labels):
            i = int(key) - 1
            return self.labels[i] if i < len(self.labels) else None
        return None

    def press(self, key: str) -> None:
        """What a label key does: relabel the selection, else napari's own action."""
        label = self.label_for_key(key)
        if label is not None and self.layer.selected_data:
            self.set_label(label)
        elif key in _FALLBACK_MODES:
            self.layer.mode = _FALLBACK_MODES[key]

    def _bind_keys(self) -> None:
        keys = {k for k in self.labels if k in _KEYS}
        if not any(lab.isdigit() for lab in self.labels):
            keys |= set("123456789")
        for key in sorted(keys):
            self.layer.bind_key(key, lambda layer, k=key: self.press(k), overwrite=True)
        self.layer.bind_key("Control-z", lambda layer: self.undo(), overwrite=True)
        self.layer.bind_key("Control-Shift-z", lambda layer: self.redo(), overwrite=True)


def attach_editor(layer, **kwargs) -> SegmentEditor:
    """The :class:`SegmentEditor` of ``layer``, attached on first call."""
    editor = _EDITORS.get(layer)
    if editor is None:
        editor = SegmentEditor(layer, **kwargs)
        _EDITORS[layer] = editor
    return editor


def editor_of(layer) -> SegmentEditor | None:
    """The editor attached to ``layer``, if any."""
    return _EDITORS.get(layer)


def is_annotation_layer(layer) -> bool:
    """True for an annotation Shapes layer made by the plugin."""
    return (
        layer.metadata.get(META_KEY, {}).get("role") == "annotation"
        if hasattr(layer, "metadata")
        else False
    )
