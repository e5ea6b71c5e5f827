"""Small Qt helpers shared by the dock widgets."""

from __future__ import annotations

import numpy as np
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathField(QWidget):
    """A line edit with a Browse button (a folder or a file)."""

    def __init__(self, placeholder: str = "", folder: bool = True, parent=None):
        super().__init__(parent)
        self.folder = folder
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        button = QPushButton("Browse…")
        button.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(button)

    def _browse(self) -> None:
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a file")
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(str(text))


def array_pixmap(image: np.ndarray, width: int = 0, height: int = 0) -> QPixmap:
    """A grey QPixmap of a 2-D array (row 0 drawn at the bottom), scaled to its own range."""
    image = np.asarray(image, dtype=float)[::-1]
    finite = np.isfinite(image)
    lo = float(image[finite].min()) if finite.any() else 0.0
    hi = float(image[finite].max()) if finite.any() else 1.0
    scaled = np.zeros(image.shape, np.uint8)
    if hi > lo:
        scaled = (np.clip((np.nan_to_num(image, nan=lo) - lo) / (hi - lo), 0, 1) * 255).astype(
            np.uint8
        )
    scaled = np.ascontiguousarray(scaled)
    h, w = scaled.shape
    qimage = QImage(scaled.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    pixmap = QPixmap.fromImage(qimage)
    if width and height:
        pixmap = pixmap.scaled(width, height)
    return pixmap


def figure_pixmap(fig) -> QPixmap:
    """A QPixmap of a matplotlib figure (closed afterwards)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    pixmap = QPixmap()
    pixmap.loadFromData(buffer.getvalue(), "PNG")
    return pixmap


def selected_recording_layer(viewer, role: str = "annotation"):
    """The active layer if it has ``role``, else the last layer of the viewer that has it."""
    from ..segments_layer import plugin_meta

    active = viewer.layers.selection.active
    if active is not None and plugin_meta(active).get("role") == role:
        return active
    found = [layer for layer in viewer.layers if plugin_meta(layer).get("role") == role]
    return found[-1] if found else None


def dock_of(widget):
    """The QDockWidget holding ``widget`` (None when it is not docked)."""
    from qtpy.QtWidgets import QDockWidget

    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QDockWidget):
        parent = parent.parentWidget()
    return parent


def tabify_plugin_docks(widget) -> None:
    """Put ``widget``'s dock in one tab group with the plugin's other docks on its side.

    Five panels stacked one above the other made napari's window 1,332 px tall; as tabs the
    window needs only the tallest panel (all fit a 1080-p screen).
    """
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    dock = dock_of(widget)
    window = dock.parentWidget() if dock is not None else None
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return
    area = window.dockWidgetArea(dock)
    for other in window.findChildren(QDockWidget):
        if (
            other is dock
            or other.isFloating()
            or not other.isVisible()
            or window.dockWidgetArea(other) != area
            or not other.findChildren(PluginDock)
        ):
            continue
        if dock not in window.tabifiedDockWidgets(other):
            window.tabifyDockWidget(other, dock)
            dock.show()
            dock.raise_()
        return


class PluginDock(QWidget):
    """Base of the plugin's dock widgets: docked, it joins the other plugin docks as a tab
    (:func:`tabify_plugin_docks`)."""

    _tabbed = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._tabbed:
            self._tabbed = True
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, lambda: tabify_plugin_docks(self))
