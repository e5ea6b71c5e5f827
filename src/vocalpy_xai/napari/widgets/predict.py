"""Dock widget: run a saved ESN model on the open recording -> a predictions Shapes layer."""

from __future__ import annotations

import pathlib

from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..registry import registered_models
from ..segments_layer import PREDICTIONS, plugin_meta, segments_layer_data
from ..viewer import add_layer_data, prepare_viewer, visible_time_range
from .common import PathField, selected_recording_layer


class PredictWidget(QWidget):
    """Choose a saved model directory (or a registered model) and annotate the recording.

    The model runs in a worker thread; its segments appear as a second Shapes layer
    (``<stem> predictions``) whose metadata keep the model's frame labels for the
    disagreement table.
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
        self.registered = QComboBox()
        self.refresh_models()
        self.registered.currentIndexChanged.connect(self._pick_registered)
        self.model_dir = PathField("saved model directory")
        self.button = QPushButton("Annotate recording")
        self.button.clicked.connect(self.start)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Registered", self.registered)
        form.addRow("Model", self.model_dir)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.status)
        layout.addStretch()
        self.worker = None
        self.layer = None

    def refresh_models(self) -> None:
        self.registered.clear()
        self.registered.addItem("")
        for entry in reversed(registered_models()):
            self.registered.addItem(entry["name"], entry["path"])

    def _pick_registered(self, index: int) -> None:
        path = self.registered.itemData(index)
        if path:
            self.model_dir.setText(path)

    def start(self):
        """Annotate the selected (or last) recording in a worker thread; returns the worker."""
        from napari.qt.threading import create_worker

        from ..prediction import predict_recording

        layer = selected_recording_layer(self.viewer, "annotation") or selected_recording_layer(
            self.viewer, "spectrogram"
        )
        audio = plugin_meta(layer).get("audio_path") if layer is not None else None
        if not audio or not pathlib.Path(audio).is_file():
            self.status.setText("open a recording (audio file) first")
            return None
        if not self.model_dir.text():
            self.status.setText("choose a model directory first")
            return None
        self.status.setText(f"annotating {pathlib.Path(audio).name}…")
        self.button.setEnabled(False)
        source = next(
            (
                la
                for la in self.viewer.layers
                if plugin_meta(la).get("role") == "annotation"
                and plugin_meta(la).get("audio_path") == audio
            ),
            None,
        )
        span = plugin_meta(source).get("freq_span") if source is not None else None
        self.worker = create_worker(
            predict_recording, self.model_dir.text(), audio, _start_thread=False
        )
        self.worker.returned.connect(lambda pred: self._on_done(pred, audio, span))
        self.worker.errored.connect(lambda err: self.status.setText(f"prediction failed: {err}"))
        self.worker.finished.connect(lambda: self.button.setEnabled(True))
        self.worker.start()
        return self.worker

    def _on_done(self, pred, audio: str, span) -> None:
        from ..coords import world_to_hz

        freq_range = tuple(float(world_to_hz(v)) for v in span) if span else (0.0, 16000.0)
        meta = {
            "audio_path": audio,
            "model_dir": pred.model_dir,
            "frame_labels": pred.frame_labels,
            "frame_times": pred.frame_times,
            "class_names": pred.class_names,
        }
        name = f"{pathlib.Path(audio).stem} predictions"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        data, kwargs, kind = segments_layer_data(
            pred.segments, freq_range, name, PREDICTIONS, meta, visible_time_range(self.viewer)
        )
        (self.layer,) = add_layer_data(self.viewer, [(data, kwargs, kind)])
        self.layer.editable = False
        self.status.setText(
            f"{len(pred.segments)} segments predicted by {pathlib.Path(pred.model_dir).name}"
        )
