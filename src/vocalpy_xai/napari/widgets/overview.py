"""Dock widget: an overview of the whole recording, the visible part framed; click to go there.

Zoomed in on a long recording the canvas shows a few seconds; the overview shows all of it (the
coarsest level of the spectrogram pyramid, max-pooled to at most :data:`MAX_COLUMNS` columns)
with the visible time range framed. Clicking or dragging in it centres the view there. The
reader docks it by itself for recordings longer than :data:`OVERVIEW_MIN_S`.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import QRectF, Qt
from qtpy.QtGui import QColor, QPainter, QPen
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..segments_layer import plugin_meta
from ..view import camera_of
from ..viewer import prepare_viewer, visible_time_range
from .common import PluginDock, array_pixmap

#: recordings at least this long (s) get an overview docked when they open
OVERVIEW_MIN_S: float = 20.0
#: columns of the overview image (the pyramid's coarsest level is max-pooled down to this)
MAX_COLUMNS: int = 1500
FRAME_COLOUR = "#ffd000"


def overview_image(layer) -> np.ndarray:
    """The whole spectrogram of an Image layer, at most :data:`MAX_COLUMNS` columns wide."""
    data = layer.data[-1] if layer.multiscale else layer.data
    image = np.asarray(data, dtype=np.float32)
    step = int(np.ceil(image.shape[1] / MAX_COLUMNS))
    if step > 1:
        n = image.shape[1] // step * step
        image = image[:, :n].reshape(image.shape[0], -1, step).max(axis=2)
    return image


class _Strip(QWidget):
    """The overview image and the frame of the visible range; clicks report a time."""

    def __init__(self, owner: OverviewWidget):
        super().__init__(owner)
        self.owner = owner
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def x_of(self, t: float) -> float:
        t0, t1 = self.owner.span
        return (t - t0) / (t1 - t0) * self.width() if t1 > t0 else 0.0

    def t_of(self, x: float) -> float:
        t0, t1 = self.owner.span
        return t0 + x / max(self.width(), 1) * (t1 - t0)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        if self.owner.pixmap is not None:
            painter.drawPixmap(self.rect(), self.owner.pixmap)
        view = self.owner.view()
        if view is not None:
            pen = QPen(QColor(FRAME_COLOUR))
            pen.setWidth(2)
            painter.setPen(pen)
            a, b = self.x_of(view[0]), self.x_of(view[1])
            painter.drawRect(QRectF(a, 1, max(b - a, 2.0), self.height() - 2))
        painter.end()

    def mousePressEvent(self, event) -> None:
        self.owner.centre_on(self.t_of(event.position().x()))

    def mouseMoveEvent(self, event) -> None:
        if event.buttons():
            self.owner.centre_on(self.t_of(event.position().x()))


class OverviewWidget(PluginDock):
    """The whole recording (its last spectrogram layer) with the visible part framed."""

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.pixmap = None
        self.span: tuple[float, float] = (0.0, 1.0)
        self.layer = None
        self.strip = _Strip(self)
        self.caption = QLabel("")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.strip)
        layout.addWidget(self.caption)
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
            napari_viewer.layers.events.inserted.connect(lambda e: self.refresh())
            camera = camera_of(napari_viewer)
            camera.events.center.connect(lambda e: self.strip.update())
            camera.events.zoom.connect(lambda e: self.strip.update())
            self.refresh()

    def refresh(self) -> None:
        """Draw the last spectrogram layer of the viewer."""
        layers = [la for la in self.viewer.layers if plugin_meta(la).get("role") == "spectrogram"]
        if not layers or layers[-1] is self.layer:
            return
        self.layer = layers[-1]
        self.pixmap = array_pixmap(overview_image(self.layer))
        t = self.layer.extent.world[:, -1]
        self.span = (float(t[0]), float(t[1]))
        self.caption.setText(
            f"{self.layer.name}: {self.span[1] - self.span[0]:.1f} s (click to go there)"
        )
        self.strip.update()

    def view(self) -> tuple[float, float] | None:
        return visible_time_range(self.viewer) if self.viewer is not None else None

    def centre_on(self, t: float) -> None:
        """Centre the view on time ``t`` (s), keeping the zoom."""
        camera = camera_of(self.viewer)
        centre = list(camera.center)
        centre[-1] = float(np.clip(t, *self.span))
        camera.center = tuple(centre)
        self.strip.update()


def dock_overview(viewer) -> OverviewWidget:
    """The viewer's docked overview, docked at the bottom now if there is none."""
    docks = getattr(getattr(viewer, "window", None), "dock_widgets", {}) or {}
    for widget in docks.values():
        if isinstance(widget, OverviewWidget):
            widget.refresh()
            return widget
    widget = OverviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Overview", area="bottom")
    return widget
