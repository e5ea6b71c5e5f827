"""Dock widget: clips of a store, the top prototypes of the clip, thumbnails and playback."""

from __future__ import annotations

import pathlib

import numpy as np
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QColor, QIcon, QPixmap
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

from ..activations import (
    is_activation_store,
    like_text,
    map_method,
    open_activations,
    prototype_colour,
    top_prototypes,
)
from ..playback import play, playback_status, snippet
from ..segments_layer import plugin_meta
from ..viewer import add_layer_data, prepare_viewer
from .common import PathField, PluginDock, array_pixmap

THUMB = QSize(150, 90)
#: seconds of context shown either side of a prototype's source patch in its thumbnail
CONTEXT_S: float = 0.15
#: the legend above the prototype list (an activation store adds the method of its maps)
LEGEND = (
    "Top prototypes: the colour is its layer's; the thumbnail its source with "
    f"{CONTEXT_S:g} s either side, the matched patch framed (tick to show)"
)


def prototype_patch(ds, proto: dict) -> np.ndarray:
    """Spectrogram patch (freq, time) of a prototype's source: from the store, else its audio."""
    image, (r0, r1, c0, c1) = prototype_context(ds, proto, 0.0)
    patch = image[r0:r1, c0:c1]
    return patch if patch.size else image


def prototype_context(ds, proto: dict, pad_s: float = CONTEXT_S) -> tuple[np.ndarray, tuple]:
    """The source of a prototype in context: the whole band, ``pad_s`` either side.

    Returns the spectrogram (freq, time; row 0 the lowest frequency) and the patch's box in it,
    ``(row0, row1, col0, col1)`` (end exclusive). From the store's spectrogram when the source
    clip is in it, else computed from the source audio.
    """
    f0, f1, t0, t1 = proto["f0_hz"], proto["f1_hz"], proto["t0_s"], proto["t1_s"]
    f0, f1 = min(f0, f1), max(f0, f1)
    clips = [str(c) for c in ds["clip"].values]
    if proto.get("source_clip") in clips:
        c = clips.index(proto["source_clip"])
        start = float(ds["clip_start_s"].values[c])
        start = start if np.isfinite(start) else 0.0
        spect = ds["spectrogram"].isel(clip=c).transpose("freq", "time")
        freqs = np.asarray(spect["freq"].values, float)
        times = np.asarray(spect["time"].values, float) + start
        image = np.asarray(spect.values)
        if len(freqs) > 1 and freqs[0] > freqs[-1]:
            freqs, image = freqs[::-1], image[::-1]
    else:
        from ..spectrogram import AudioSpectrogram

        lo = max(0.0, t0 - pad_s)
        samples, sr = snippet(proto["source_path"], lo, t1 + pad_s)
        spect = AudioSpectrogram(samples, sr)
        image = spect.frames(0, 0, spect.n_frames(0))
        freqs, times = spect.freqs, spect.times(0) + lo
    cols = np.flatnonzero((times >= t0 - pad_s) & (times <= t1 + pad_s))
    if cols.size:
        image, times = image[:, cols[0] : cols[-1] + 1], times[cols[0] : cols[-1] + 1]
    inside_t = np.flatnonzero((times >= t0) & (times <= t1))
    inside_f = np.flatnonzero((freqs >= f0) & (freqs <= f1))
    if not inside_t.size:
        inside_t = np.array([int(np.argmin(np.abs(times - (t0 + t1) / 2)))])
    if not inside_f.size:
        inside_f = np.array([int(np.argmin(np.abs(freqs - (f0 + f1) / 2)))])
    box = (int(inside_f[0]), int(inside_f[-1]) + 1, int(inside_t[0]), int(inside_t[-1]) + 1)
    return image, box


def context_pixmap(ds, proto: dict, colour: str, size: QSize = THUMB):
    """A thumbnail of the prototype's source in context, its patch framed in ``colour`` and a
    colour bar on the left (the legend of its activation layer)."""
    from qtpy.QtGui import QColor, QPainter, QPen

    image, (r0, r1, c0, c1) = prototype_context(ds, proto)
    bar = 8
    width, height = size.width() - bar, size.height()
    pixmap = array_pixmap(image, width, height)
    sx, sy = width / image.shape[1], height / image.shape[0]
    out = QPixmap(size)
    out.fill(QColor(colour))
    painter = QPainter(out)
    painter.drawPixmap(bar, 0, pixmap)
    pen = QPen(QColor(colour))
    pen.setWidth(2)
    painter.setPen(pen)
    top = height - r1 * sy  # row 0 is drawn at the bottom
    painter.drawRect(
        int(bar + c0 * sx), int(top), max(2, int((c1 - c0) * sx)), max(2, int((r1 - r0) * sy))
    )
    painter.end()
    return out


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
        self.legend = QLabel(LEGEND)
        self.legend.setWordWrap(True)
        layout.addWidget(self.legend)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        self.ds = None
        self.kind = None
        self._adopting = False
        if napari_viewer is not None:
            napari_viewer.layers.events.inserted.connect(self._on_inserted)
            opened = [
                plugin_meta(la)
                for la in napari_viewer.layers
                if plugin_meta(la).get("role") == "clip_frame"
            ]
            if opened:  # a store opened before the panel
                self.adopt(opened[-1]["store_path"], opened[-1]["clip"])
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

    def _store_layers(self, path: str) -> list:
        """Every layer of the viewer that comes from the store at ``path`` (any clip)."""
        key = str(pathlib.Path(path).resolve()) if path else None
        out = []
        for layer in self.viewer.layers:
            store = plugin_meta(layer).get("store_path")
            if store and key and str(pathlib.Path(store).resolve()) == key:
                out.append(layer)
        return out

    def show_clip(self, index: int) -> None:
        """Replace the store's layers (whichever clip, however opened) by clip ``index``'s,
        and show the clip framed, with a second either side."""
        from ..reader import activation_store_layers, store_layers
        from ..view import show_time_range

        path = self.path.text()
        for layer in {*self.layers, *self._store_layers(path)}:
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        data = (
            activation_store_layers(path, index)
            if self.kind == "activations"
            else store_layers(path, index)
        )
        self._adopting = True
        try:
            self.layers = add_layer_data(self.viewer, data)
        finally:
            self._adopting = False
        # the recordings' annotations stay above the store's (opaque) spectrogram
        for layer in [
            la for la in self.viewer.layers if plugin_meta(la).get("role") == "annotation"
        ]:
            self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))
        frame = [la for la in self.layers if plugin_meta(la).get("role") == "clip_frame"]
        if frame:
            t0, t1 = plugin_meta(frame[0])["times"]
            show_time_range(self.viewer, t0 - 0.25 * (t1 - t0), t1 + 0.25 * (t1 - t0))
        self._fill_prototypes(index)

    def _on_inserted(self, event) -> None:
        """A store opened through File > Open: list it here (its layers are already drawn)."""
        if self._adopting:
            return
        meta = plugin_meta(event.value)
        if meta.get("role") != "clip_frame" and meta.get("role") != "annotation":
            return
        store = meta.get("store_path")
        if not store or "clip" not in meta:
            return
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, lambda: self.adopt(store, meta["clip"]))

    def adopt(self, path: str, clip) -> None:
        """Show the store at ``path`` (opened elsewhere) in the panel, without redrawing it."""
        self.path.setText(str(path))
        self.kind = "activations" if is_activation_store(path) else "store"
        if self.kind == "activations":
            self.ds = open_activations(path)
            names = [str(c) for c in self.ds["clip"].values]
            index = names.index(str(clip)) if str(clip) in names else 0
        else:
            from ...store.dataset import open_store

            self.ds = open_store(path)
            names = [pathlib.Path(str(p)).name for p in self.ds["source_path"].values]
            index = int(clip) if str(clip).isdigit() else 0
        self.clip.blockSignals(True)
        self.clip.clear()
        self.clip.addItems(names)
        self.clip.setCurrentIndex(index)
        self.clip.blockSignals(False)
        self.layers = self._store_layers(path)
        self._fill_prototypes(index)

    def _fill_prototypes(self, index: int) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        self.prototypes = []
        self.legend.setText(LEGEND)
        if self.kind == "activations":
            self.legend.setText(f"{LEGEND}; maps drawn by {map_method(self.ds)}")
            self.prototypes = top_prototypes(self.ds, index)
            for rank, proto in enumerate(self.prototypes):
                colour = prototype_colour(rank)
                item = QListWidgetItem(
                    f"■ prototype {proto['prototype']}\nclass {proto['class']}\n"
                    f"score {proto['score']:.3f}\n{like_text(proto)}"
                )
                item.setForeground(QColor(colour))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                layer = self._layer_of(proto["prototype"])
                visible = layer is not None and layer.visible
                item.setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)
                try:
                    item.setIcon(QIcon(context_pixmap(self.ds, proto, colour)))
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
