"""Setting a viewer up for the plugin: orientation, editors on annotation layers, status bar,
and the windowed display of segment layers (shapes for the segments near the view only,
swapped in :data:`WINDOW_DELAY_MS` after the camera stops: :func:`refresh_windows`)."""

from __future__ import annotations

import logging
import os
import weakref

import numpy as np

from .coords import AXIS_LABELS, orient_viewer
from .editor import attach_editor, editor_of, is_annotation_layer
from .view import HIGHLIGHT_EDGE_PX, camera_of, canvas_size, fit_frequency, readable_status

logger = logging.getLogger(__name__)

_PREPARED: weakref.WeakSet = weakref.WeakSet()

#: delay (ms) after the last camera move before segment layers show the new view's segments
WINDOW_DELAY_MS: int = 150


def visible_time_range(viewer) -> tuple[float, float] | None:
    """The time range (s) the canvas shows now, or None when unknown (no canvas yet)."""
    try:
        _, width = canvas_size(viewer)
    except Exception:  # no Qt window
        return None
    camera = camera_of(viewer)
    if width <= 0 or camera.zoom <= 0:
        return None
    half = width / camera.zoom / 2
    centre = float(camera.center[-1])
    return centre - half, centre + half


def refresh_windows(viewer, force: bool = False) -> None:
    """Give every plugin segment layer the shapes of the segments in view; redraw the rulers;
    hide labels where they would overlap (:data:`MIN_LABEL_PX` per segment)."""
    from .rulers import update_rulers
    from .segments_layer import plugin_meta, show_window

    view = visible_time_range(viewer)
    if view is None:
        return
    update_rulers(viewer)
    for layer in list(viewer.layers):
        meta = plugin_meta(layer)
        if meta.get("role") in ("highlight", "clip_frame") and len(layer.data):
            layer.edge_width = HIGHLIGHT_EDGE_PX / camera_of(viewer).zoom
        if "hidden" in meta:
            _style_for_view(viewer, layer, view)
        if "hidden" not in meta or getattr(layer, "_is_creating", False):
            continue
        if getattr(layer, "_is_moving", False) or getattr(layer, "_is_selecting", False):
            _schedule(viewer)  # not in the middle of a drag: try again later
            continue
        editor = editor_of(layer)
        if editor is not None:
            editor.show_window(view, force)
        else:
            show_window(layer, view, force)


#: labels show only where segments in view are at least this many pixels apart on average
MIN_LABEL_PX: float = 14.0


#: edge width of segment rectangles on screen (pixels)
EDGE_PX: float = 1.5


def _style_for_view(viewer, layer, view: tuple[float, float]) -> None:
    """Edges :data:`EDGE_PX` wide at this zoom; labels shown unless the segments in view are
    too crowded to read."""
    features = layer.features
    if not len(features):
        return
    width_t = EDGE_PX / camera_of(viewer).zoom
    if len(layer.data) and not np.isclose(layer.edge_width[0], width_t, rtol=0.05):
        layer.edge_width = width_t
    on = features["onset_s"].to_numpy(float)
    n = int(((on >= view[0]) & (on <= view[1])).sum())
    _, width = canvas_size(viewer)
    visible = n == 0 or width / n >= MIN_LABEL_PX
    if layer.text.visible != visible:
        layer.text.visible = visible


_TIMERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _refresh_later(ref) -> None:
    viewer = ref()
    if viewer is None:
        return
    try:
        refresh_windows(viewer)
    except RuntimeError as err:  # the viewer's Qt objects went away (closing)
        logger.debug("segment window refresh skipped: %s", err)


def _schedule(viewer) -> None:
    try:
        from qtpy.QtCore import QTimer
        from qtpy.QtWidgets import QApplication
    except Exception:  # no Qt: refresh now
        refresh_windows(viewer)
        return
    if QApplication.instance() is None:
        refresh_windows(viewer)
        return
    timer = _TIMERS.get(viewer)
    if timer is None:
        timer = QTimer()
        timer.setSingleShot(True)
        ref = weakref.ref(viewer)
        timer.timeout.connect(lambda: _refresh_later(ref))
        _TIMERS[viewer] = timer
    timer.start(WINDOW_DELAY_MS)


def prepare_viewer(viewer) -> None:
    """Orient ``viewer`` (low frequencies at the bottom), attach editors, show times in Hz/s.

    Idempotent: widgets and the reader call it whenever they meet a viewer.
    """
    if viewer in _PREPARED:
        return
    _PREPARED.add(viewer)
    orient_viewer(viewer)
    for layer in viewer.layers:
        readable_status(viewer, layer)
        if is_annotation_layer(layer):
            attach_editor(layer)

    def on_inserted(event) -> None:
        layer = event.value
        readable_status(viewer, layer)
        if is_annotation_layer(layer):
            attach_editor(layer)
        if viewer.dims.ndim == 2:
            viewer.dims.axis_labels = AXIS_LABELS
        _maybe_overview(viewer, layer)
        _schedule(viewer)

    viewer.layers.events.inserted.connect(on_inserted)
    fit_frequency(viewer)
    camera = camera_of(viewer)
    camera.events.center.connect(lambda event: _schedule(viewer))
    camera.events.zoom.connect(lambda event: _schedule(viewer))
    canvas = getattr(viewer, "canvas", None)
    if canvas is not None and hasattr(canvas, "events"):  # a resized window: redraw rulers
        canvas.events.size.connect(lambda event: _schedule(viewer))


def _maybe_overview(viewer, layer) -> None:
    """Dock the overview for a long recording's spectrogram (Qt viewers only)."""
    from .segments_layer import plugin_meta

    meta = plugin_meta(layer)
    if meta.get("role") != "spectrogram" or getattr(viewer, "window", None) is None:
        return
    try:
        from .widgets.overview import OVERVIEW_MIN_S, dock_overview
    except ImportError:  # no Qt
        return
    if float(meta.get("duration_s") or 0.0) >= OVERVIEW_MIN_S:
        dock_overview(viewer)


def prepare_current_viewer() -> None:
    """:func:`prepare_viewer` on napari's current viewer, if there is one."""
    try:
        import napari

        viewer = napari.current_viewer()
    except Exception:  # napari without Qt: nothing to prepare
        return
    if viewer is not None:
        prepare_viewer(viewer)


def open_recording(viewer, path: str | os.PathLike, restore: bool = True) -> list:
    """Open an audio file with its annotation in ``viewer``; returns the new layers."""
    from .reader import audio_layers

    prepare_viewer(viewer)
    return add_layer_data(viewer, audio_layers(path, restore=restore))


def add_layer_data(viewer, layer_data: list[tuple]) -> list:
    """Add LayerData tuples to ``viewer`` (as napari does with a reader's output)."""
    from napari.layers import Layer

    prepare_viewer(viewer)
    layers = []
    for data, kwargs, kind in layer_data:
        layer = Layer.create(data, kwargs, kind)
        viewer.add_layer(layer)
        layers.append(layer)
    viewer.reset_view()
    refresh_windows(viewer)  # rulers and segment windows now, not in the next idle moment
    return layers


def layers_with_role(viewer, role: str) -> list:
    """Plugin layers of ``viewer`` with ``role`` (spectrogram, annotation, predictions...)."""
    from .segments_layer import plugin_meta

    return [layer for layer in viewer.layers if plugin_meta(layer).get("role") == role]
