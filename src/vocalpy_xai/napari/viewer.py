"""Setting a viewer up for the plugin: orientation, editors on annotation layers, status bar."""

from __future__ import annotations

import os
import weakref

from .coords import AXIS_LABELS, describe_position, orient_viewer
from .editor import attach_editor, is_annotation_layer

_PREPARED: weakref.WeakSet = weakref.WeakSet()


def prepare_viewer(viewer) -> None:
    """Orient ``viewer`` (low frequencies at the bottom), attach editors, show times in Hz/s.

    Idempotent: widgets and the reader call it whenever they meet a viewer.
    """
    if viewer in _PREPARED:
        return
    _PREPARED.add(viewer)
    orient_viewer(viewer)
    for layer in viewer.layers:
        if is_annotation_layer(layer):
            attach_editor(layer)

    def on_inserted(event) -> None:
        layer = event.value
        if is_annotation_layer(layer):
            attach_editor(layer)
        if viewer.dims.ndim == 2:
            viewer.dims.axis_labels = AXIS_LABELS

    viewer.layers.events.inserted.connect(on_inserted)

    def on_mouse_move(viewer_, event) -> None:
        pos = viewer_.cursor.position
        if len(pos) >= 2:
            viewer_.help = describe_position(pos[-2], pos[-1])

    viewer.mouse_move_callbacks.append(on_mouse_move)


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
    return layers


def layers_with_role(viewer, role: str) -> list:
    """Plugin layers of ``viewer`` with ``role`` (spectrogram, annotation, predictions...)."""
    from .segments_layer import plugin_meta

    return [layer for layer in viewer.layers if plugin_meta(layer).get("role") == role]
