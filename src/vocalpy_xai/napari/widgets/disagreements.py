"""Dock widget: annotated segments ranked by model-annotation disagreement, or a review list
from the disagreement finder (``vocalpy-xai review find``); click a row to jump to it."""

from __future__ import annotations

import os
import pathlib

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..disagreement import (
    CANAPY_THRESHOLD,
    rank_disagreements,
    review_rows,
    version_mismatch,
)
from ..editor import editor_of
from ..segments_layer import plugin_meta, segments_from_layer
from ..view import highlight_segment, show_time_range
from ..viewer import layers_with_role, prepare_viewer, refresh_windows
from .common import PluginDock

COLUMNS = ("share", "onset s", "offset s", "human", "model")
#: columns of the table while it shows a review list
REVIEW_COLUMNS = ("#", "onset s", "offset s", "human", "model", "score")
#: a review list's times are written to the microsecond: a segment matches within this (s)
TIME_TOLERANCE = 1e-4


class DisagreementWidget(PluginDock):
    """Segments where the model's frames disagree with the annotation (canapy: >= 2/3).

    Compares the annotation layer with the latest predictions layer of the same recording,
    refreshes after every edit, and centres the view on a segment when its row is chosen.

    *Load review list…* shows instead the rows of a review list CSV (written by
    ``vocalpy-xai review find`` / :func:`vocalpy_xai.review.write_review_list`) whose
    ``audio_path`` is the open recording: rank, onset, offset, human and model label, score;
    choosing a row jumps to the segment in the same way. *Model disagreements* goes back to
    the computed ranking.
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
            napari_viewer.layers.events.inserted.connect(lambda e: self._auto_refresh())
        self.only_flagged = QCheckBox(f"only flagged (≥ {CANAPY_THRESHOLD:.0%} of frames)")
        self.only_flagged.setChecked(True)
        self.only_flagged.toggled.connect(lambda _: self._auto_refresh())
        button = QPushButton("Model disagreements")
        button.setToolTip("rank the annotation against the latest predictions layer")
        button.clicked.connect(self.refresh)
        self.load_button = QPushButton("Load review list…")
        self.load_button.setToolTip("a review list CSV from `vocalpy-xai review find`")
        self.load_button.clicked.connect(self._choose_review_list)
        self.status = QLabel("run a model (Predict panel) to compare, or load a review list")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._on_select)
        # every column fits (no horizontal scrolling): sized to its contents, compact rows
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setMinimumHeight(8 * 20 + 24)
        buttons = QHBoxLayout()
        buttons.addWidget(button)
        buttons.addWidget(self.load_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.only_flagged)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        self.ranking = None
        self.annotation = None
        #: the review list shown (None: the computed model disagreements)
        self.review_path: pathlib.Path | None = None
        #: warnings of the review list shown (moved data set, other annotation version)
        self.warnings: list[str] = []
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

    def _auto_refresh(self) -> None:
        """Refresh after an edit, a new layer or the tick box: not while a review list shows."""
        if self.review_path is None:
            self.refresh()

    def _fill(self, columns, rows) -> None:
        self.table.blockSignals(True)
        try:
            self.table.clearSelection()
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels(columns)
            self.table.setRowCount(len(rows))
            for r, values in enumerate(rows):
                for c, value in enumerate(values):
                    self.table.setItem(r, c, QTableWidgetItem(value))
        finally:
            self.table.blockSignals(False)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Widen the panel to every column's contents (no horizontal scrolling)."""
        table = self.table
        table.resizeColumnsToContents()
        header = table.horizontalHeader()
        need = sum(
            max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
            for c in range(table.columnCount())
        )
        frame = 2 * table.frameWidth() + table.verticalScrollBar().sizeHint().width() + 4
        table.setMinimumWidth(need + frame)

    def _watch(self, annot) -> None:
        editor = editor_of(annot)
        if editor is not None and id(annot) not in self._watched:
            editor.on_edit.append(lambda seg: self._auto_refresh())
            self._watched.add(id(annot))

    def refresh(self) -> None:
        """Recompute the ranking from the current annotation and predictions."""
        if self.viewer is None:
            return
        annot, pred = self._pair()
        if annot is None or pred is None:
            return
        self.review_path = None
        self._watch(annot)
        meta = plugin_meta(pred)
        self.annotation = annot
        self.ranking = rank_disagreements(
            segments_from_layer(annot),
            np.asarray(meta["frame_labels"]),
            np.asarray(meta["frame_times"]),
            meta["class_names"],
            only_flagged=self.only_flagged.isChecked(),
        )
        self._fill(
            COLUMNS,
            [
                (
                    f"{row.share:.0%}",
                    f"{row.onset_s:.3f}",
                    f"{row.offset_s:.3f}",
                    row.label,
                    row.model_label,
                )
                for row in self.ranking.itertuples()
            ],
        )
        self.status.setText(f"{len(self.ranking)} segment(s), worst first")

    def _choose_review_list(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a review list", "", "Review lists (*.csv);;All files (*)"
        )
        if path:
            self.load_review_list(path)

    def load_review_list(self, path: str | os.PathLike):
        """Show the rows of a review list about the open recording; returns them (or None).

        The recording is the active annotation layer's, else the last annotation layer whose
        recording the list names. Rows keep the list's order (rank); the ``only flagged`` tick
        box does not filter them.
        """
        path = pathlib.Path(path)
        annots = layers_with_role(self.viewer, "annotation") if self.viewer is not None else []
        if not annots:
            self.status.setText("open a recording first, then load its review list")
            return None
        active = self.viewer.layers.selection.active
        order = ([active] if active in annots else []) + annots[::-1]
        try:
            rows, annot = None, None
            for layer in order:
                audio = plugin_meta(layer).get("audio_path")
                if not audio:
                    continue
                rows, annot = review_rows(path, audio), layer
                if len(rows):
                    break
        except (OSError, ValueError, KeyError) as err:
            self.status.setText(f"cannot read the review list: {err}")
            return None
        if rows is None or not len(rows):
            self.status.setText(f"{path.name}: no row is about the open recording(s)")
            return None
        if "offset_s" not in rows.columns:
            rows["offset_s"] = rows["onset_s"]
        self.review_path = path
        self.annotation = annot
        self._watch(annot)
        self.ranking = rows
        self._fill(REVIEW_COLUMNS, [_review_values(row) for _, row in rows.iterrows()])
        audio = pathlib.Path(plugin_meta(annot)["audio_path"]).name
        notes = [f"review list {path.name}: {len(rows)} segment(s) of {audio}"]
        if rows.attrs.get("matched_by") == "file name":
            notes.append(
                f"warning: the list names {pathlib.Path(str(rows['audio_path'].iloc[0]))}, "
                f"matched to the open {audio} by file name (data set moved?)"
            )
        mismatch = version_mismatch(rows, segments_from_layer(annot))
        if mismatch:
            notes.append(f"warning: {mismatch}")
        self.warnings = notes[1:]
        for note in self.warnings:
            _warn(note)
        self.status.setText("\n".join(notes))
        return rows

    def _on_select(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows:
            self.jump_to(min(rows))

    def _segment_times(self, a: float, b: float) -> tuple[float, float]:
        """The annotation's own times of the segment at (a, b) (review lists round them)."""
        seg = segments_from_layer(self.annotation)
        if not len(seg.onsets_s):
            return a, b
        cost = np.abs(np.asarray(seg.onsets_s) - a) + np.abs(np.asarray(seg.offsets_s) - b)
        i = int(np.argmin(cost))
        if abs(seg.onsets_s[i] - a) <= TIME_TOLERANCE:
            return float(seg.onsets_s[i]), float(seg.offsets_s[i])
        return a, b

    def jump_to(self, row: int) -> None:
        """Centre and zoom the view on the segment in ``row`` and select its shape."""
        seg = self.ranking.iloc[row]
        a, b = self._segment_times(float(seg.onset_s), float(seg.offset_s))
        margin = max(0.25, (b - a) * 0.5)  # the segment with its neighbours either side
        show_time_range(self.viewer, a - margin, b + margin)
        highlight_segment(self.viewer, a, b, _jump_note(seg))
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


def _warn(message: str) -> None:
    try:
        from napari.utils.notifications import show_warning

        show_warning(message)
    except Exception:  # no notification manager: the status line says it
        pass


def _jump_note(seg) -> str:
    """``#3  human b / model c`` for the highlight of a jump."""
    human = seg.get("human_label", seg.get("label", ""))
    rank = f"#{int(seg['rank'])}  " if "rank" in seg and np.isfinite(seg["rank"]) else ""
    return f"{rank}human {human} / model {seg.get('model_label', '')}"


def _text(value, fmt: str = "{}") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return fmt.format(value)


def _review_values(row) -> tuple[str, ...]:
    return (
        _text(row.get("rank"), "{:.0f}"),
        _text(row.get("onset_s"), "{:.3f}"),
        _text(row.get("offset_s"), "{:.3f}"),
        _text(row.get("human_label")),
        _text(row.get("model_label")),
        _text(row.get("score"), "{:.3f}"),
    )


def disagreement_widget(viewer) -> DisagreementWidget:
    """The viewer's docked *Disagreements* panel, docked now if there is none."""
    docks = getattr(getattr(viewer, "window", None), "dock_widgets", {}) or {}
    for widget in docks.values():
        if isinstance(widget, DisagreementWidget):
            return widget
    widget = DisagreementWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Disagreements", area="right")
    return widget


def load_review_list(viewer, path: str | os.PathLike) -> DisagreementWidget:
    """Open a review list in the viewer's *Disagreements* panel (docking one if needed).

    The table shows the list's rows whose ``audio_path`` is the open recording (rank,
    onset, offset, human label, model label, score); choosing a row jumps to the segment.

    Returns
    -------
    DisagreementWidget
        The panel; its ``ranking`` holds the rows shown (``None`` when none matched, its
        ``status`` says why).
    """
    widget = disagreement_widget(viewer)
    widget.load_review_list(path)
    return widget
