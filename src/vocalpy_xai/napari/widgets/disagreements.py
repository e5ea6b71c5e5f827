"""Dock widget: annotated segments ranked by model-annotation disagreement; click to jump."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..disagreement import CANAPY_THRESHOLD, rank_disagreements
from ..editor import editor_of
from ..segments_layer import plugin_meta, segments_from_layer
from ..viewer import layers_with_role, prepare_viewer, refresh_windows

COLUMNS = ("share", "onset (s)", "offset (s)", "label", "model")


class DisagreementWidget(QWidget):
    """Segments where the model's frames disagree with the annotation (canapy: >= 2/3).

    Compares the annotation layer with the latest predictions layer of the same recording,
    refreshes after every edit, and centres the view on a segment when its row is chosen.
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
            napari_viewer.layers.events.inserted.connect(lambda e: self.refresh())
        self.only_flagged = QCheckBox(f"only flagged (≥ {CANAPY_THRESHOLD:.0%} of frames)")
        self.only_flagged.setChecked(True)
        self.only_flagged.toggled.connect(lambda _: self.refresh())
        button = QPushButton("Refresh")
        button.clicked.connect(self.refresh)
        self.status = QLabel("run a model (Predict panel) to compare")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._on_select)
        layout = QVBoxLayout(self)
        layout.addWidget(self.only_flagged)
        layout.addWidget(button)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        self.ranking = None
        self.annotation = None
        self._watched = set()

    def _pair(self):
        preds = layers_with_role(self.viewer, "predictions")
        if not preds:
            return None, None
        pred = preds[-1]
        audio = plugin_meta(pred).get("audio_path")
        annots = [
            la
            for la in layers_with_role(self.viewer, "annotation")
            if plugin_meta(la).get("audio_path") == audio
        ]
        return (annots[-1] if annots else None), pred

    def refresh(self) -> None:
        """Recompute the ranking from the current annotation and predictions."""
        if self.viewer is None:
            return
        annot, pred = self._pair()
        if annot is None or pred is None:
            return
        editor = editor_of(annot)
        if editor is not None and id(annot) not in self._watched:
            editor.on_edit.append(lambda seg: self.refresh())
            self._watched.add(id(annot))
        meta = plugin_meta(pred)
        self.annotation = annot
        self.ranking = rank_disagreements(
            segments_from_layer(annot),
            np.asarray(meta["frame_labels"]),
            np.asarray(meta["frame_times"]),
            meta["class_names"],
            only_flagged=self.only_flagged.isChecked(),
        )
        self.table.setRowCount(len(self.ranking))
        for r, row in enumerate(self.ranking.itertuples()):
            values = (
                f"{row.share:.0%}",
                f"{row.onset_s:.3f}",
                f"{row.offset_s:.3f}",
                row.label,
                row.model_label,
            )
            for c, value in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.status.setText(f"{len(self.ranking)} segment(s), worst first")

    def _on_select(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows:
            self.jump_to(min(rows))

    def jump_to(self, row: int) -> None:
        """Centre and zoom the view on the segment in ``row`` and select its shape."""
        seg = self.ranking.iloc[row]
        a, b = float(seg.onset_s), float(seg.offset_s)
        y0, y1 = plugin_meta(self.annotation).get("freq_span", (0.0, 1.0))
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
        camera.center = ((y0 + y1) / 2, (a + b) / 2)
        width = max(b - a + 1.0, 1.0)  # the segment with half a second either side
        canvas_w = (
            self.viewer.window._qt_viewer.canvas.size[1] if hasattr(self.viewer, "window") else 800
        )
        camera.zoom = canvas_w / width
        # show the segments of the new view now (not after the camera's debounce), then
        # select the shape whose times are this segment
        refresh_windows(self.viewer)
        editor = editor_of(self.annotation)
        if editor is not None:
            editor.select_segment(a, b)
            return
        on = self.annotation.features["onset_s"].to_numpy(float)
        match = np.flatnonzero(np.isclose(on, a))
        if match.size:
            self.annotation.selected_data = {int(match[0])}
