"""Dock widget: clips of a store, the top prototypes of the clip, thumbnails and playback."""

from __future__ import annotations

import pathlib

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QIcon
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from ..activations import is_activation_store, open_activations, top_prototypes
from ..playback import play, playback_status, snippet
from ..segments_layer import plugin_meta
from ..viewer import add_layer_data, prepare_viewer
from .common import PathField, PluginDock, array_pixmap

THUMB = QSize(96, 64)


def prototype_patch(ds, proto: dict) -> np.ndarray:
    """Spectrogram patch (freq, time) of a prototype's source: from the store, else its audio."""
    f0, f1, t0, t1 = proto["f0_hz"], proto["f1_hz"], proto["t0_s"], proto["t1_s"]
    clips = [str(c) for c in ds["clip"].values]
    if proto.get("source_clip") in clips:
        c = clips.index(proto["source_clip"])
        start = float(ds["clip_start_s"].values[c])
        spect = ds["spectrogram"].isel(clip=c).transpose("freq", "time")
        patch = spect.sel(freq=slice(min(f0, f1), max(f0, f1)))
        patch = patch.sel(time=slice(t0 - start, t1 - start))
        if patch.size:
            return np.asarray(patch.values)
    from ..spectrogram import AudioSpectrogram

    samples, sr = snippet(proto["source_path"], t0, t1)
    spect = AudioSpectrogram(samples, sr)
    patch = spect.frames(0, 0, spect.n_frames(0))
    keep = (spect.freqs >= f0) & (spect.freqs <= f1)
    return patch[keep]


class PrototypeWidget(PluginDock):
    """Open a spectrogram or activation store, pick a clip, review its top prototypes.

    For an activation store the list shows each top prototype with a thumbnail of its source
    patch; ticking a row shows its activation layer. *Play prototype* / *Play match* play the
    prototype's source audio and the best-matching part of the clip when a sound device
    exists (the status line says when there is none, e.g. headless).
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
        self.path = PathField("spectrogram store or activation store (.zarr)")
        open_button = QPushButton("Open")
        open_button.clicked.connect(self.open_store)
        self.clip = QComboBox()
        self.clip.currentIndexChanged.connect(self._on_clip)
        self.list = QListWidget()
        self.list.setIconSize(THUMB)
        self.list.itemChanged.connect(self._on_item_changed)
        self.play_proto = QPushButton("Play prototype")
        self.play_match = QPushButton("Play match")
        self.play_proto.clicked.connect(lambda: self.play(match=False))
        self.play_match.clicked.connect(lambda: self.play(match=True))
        ok, message = playback_status()
        self.play_proto.setEnabled(ok)
        self.play_match.setEnabled(ok)
        self.status = QLabel("" if ok else message)
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Store", self.path)
        form.addRow("", open_button)
        form.addRow("Clip", self.clip)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_proto)
        buttons.addWidget(self.play_match)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Top prototypes (tick to show the activation layer)"))
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.ds = None
        self.kind = None
        self.layers: list = []
        self.prototypes: list[dict] = []

    def open_store(self, path: str | None = None) -> None:
        """Open a store (the path field's by default) and list its clips."""
        path = str(path or self.path.text())
        self.path.setText(path)
        self.kind = "activations" if is_activation_store(path) else "store"
        if self.kind == "activations":
            self.ds = open_activations(path)
            names = [str(c) for c in self.ds["clip"].values]
        else:
            from ...store.dataset import open_store

            self.ds = open_store(path)
            names = [pathlib.Path(str(p)).name for p in self.ds["source_path"].values]
        self.clip.blockSignals(True)
        self.clip.clear()
        self.clip.addItems(names)
        self.clip.blockSignals(False)
        self.show_clip(0)

    def _on_clip(self, index: int) -> None:
        if index >= 0 and self.ds is not None:
            self.show_clip(index)

    def show_clip(self, index: int) -> None:
        """Replace the layers of the previous clip by those of clip ``index``."""
        from ..reader import activation_store_layers, store_layers

        for layer in self.layers:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        path = self.path.text()
        data = (
            activation_store_layers(path, index)
            if self.kind == "activations"
            else store_layers(path, index)
        )
        self.layers = add_layer_data(self.viewer, data)
        self._fill_prototypes(index)

    def _fill_prototypes(self, index: int) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.prototypes = []
        if self.kind == "activations":
            self.prototypes = top_prototypes(self.ds, index)
            for proto in self.prototypes:
                item = QListWidgetItem(
                    f"prototype {proto['prototype']} ({proto['class']})  score {proto['score']:.3f}"
                )
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                layer = self._layer_of(proto["prototype"])
                visible = layer is not None and layer.visible
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
                try:
                    item.setIcon(QIcon(array_pixmap(prototype_patch(self.ds, proto), 96, 64)))
                except Exception as err:  # source audio missing: list it without a thumbnail
                    item.setToolTip(f"no thumbnail: {err}")
                self.list.addItem(item)
        self.list.blockSignals(False)

    def _layer_of(self, prototype: int):
        for layer in self.layers:
            meta = plugin_meta(layer)
            if meta.get("role") == "activation" and meta.get("prototype") == prototype:
                return layer
        return None

    def _on_item_changed(self, item) -> None:
        proto = self.prototypes[self.list.row(item)]
        layer = self._layer_of(proto["prototype"])
        if layer is not None:
            layer.visible = item.checkState() == Qt.CheckState.Checked

    def play(self, match: bool = False) -> str:
        """Play the selected prototype's source audio, or its best match in the clip."""
        row = self.list.currentRow()
        if row < 0 or not self.prototypes:
            return ""
        proto = self.prototypes[row]
        if not match:
            samples, sr = snippet(proto["source_path"], proto["t0_s"], proto["t1_s"])
        else:
            c = self.clip.currentIndex()
            sim = self.ds["similarity"].isel(clip=c, prototype=proto["index"])
            sim = sim.transpose("freq", "time").values
            t = float(self.ds["time"].values[np.unravel_index(np.nanargmax(sim), sim.shape)[1]])
            half = (proto["t1_s"] - proto["t0_s"]) / 2
            start = float(self.ds["clip_start_s"].values[c]) + t
            path = str(self.ds["clip_source_path"].values[c])
            samples, sr = snippet(path, start - half, start + half)
        message = play(samples, sr)
        self.status.setText(message)
        return message
