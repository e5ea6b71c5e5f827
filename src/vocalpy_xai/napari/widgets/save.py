"""Dock widget: save the annotation layer in a crowsetta seq format."""

from __future__ import annotations

import pathlib

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from ..segments_layer import plugin_meta
from ..viewer import prepare_viewer
from ..writer import EXTENSIONS, save_annotation
from .common import PluginDock, selected_recording_layer


class SaveWidget(PluginDock):
    """Save the selected annotation layer: a new version by default, or over the original.

    The default writes ``<stem>.vN.<ext>`` beside the audio. Replacing the original annotation
    file needs the *overwrite the original* box ticked (and is possible only when the original
    is in a writable seq format).
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
        self.format = QComboBox()
        self.format.addItems(sorted({fmt for _, fmt in EXTENSIONS}, key=_order))
        self.overwrite = QCheckBox("overwrite the original annotation file")
        button = QPushButton("Save annotation")
        button.clicked.connect(self.save)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Format", self.format)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.overwrite)
        layout.addWidget(button)
        layout.addWidget(self.status)
        layout.addStretch()

    def save(self) -> pathlib.Path | None:
        """Save and return the written path (None on failure, said in the status line)."""
        layer = selected_recording_layer(self.viewer, "annotation")
        if layer is None:
            self.status.setText("no annotation layer to save")
            return None
        fmt = self.format.currentText()
        try:
            if self.overwrite.isChecked():
                meta = plugin_meta(layer)
                original = meta.get("annotation_path")
                if not original or meta.get("annotation_format") != fmt:
                    self.status.setText(
                        f"the original annotation ({original or 'none'}, "
                        f"{meta.get('annotation_format')}) cannot be replaced in format {fmt}"
                    )
                    return None
                path = save_annotation(layer, original, fmt, overwrite=True)
            else:
                path = save_annotation(layer, fmt=fmt)
        except Exception as err:  # show why (format limits, permissions...)
            self.status.setText(f"not saved: {err}")
            return None
        self.status.setText(f"saved {path}")
        return path


def _order(fmt: str) -> int:
    return ["simple-seq", "generic-seq", "aud-seq", "notmat", "timit"].index(fmt)
