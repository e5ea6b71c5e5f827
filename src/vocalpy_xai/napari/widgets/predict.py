"""Dock widget: run a registered (or saved) model of any family on the open recording.

An annotation model (ESNDecoder) gives a predictions Shapes layer; a classifier
(AudioProtoNet) gives its chunks labelled with their class and the model's prototype
activation layers over the recording's spectrogram, drawn by the chosen attribution method
(the package's default, or ``"linear"`` as a fast preview), with a progress bar over the
chunks."""

from __future__ import annotations

import pathlib

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from ...registry import RegistryError, default_root
from ..registry import ModelChoice, find_registry, load_model, model_choices
from ..segments_layer import CLASSIFICATION, PREDICTIONS, plugin_meta, segments_layer_data
from ..viewer import add_layer_data, layers_with_role, prepare_viewer, visible_time_range
from .common import PathField, PluginDock, selected_recording_layer


class _ModelCombo(QComboBox):
    """A combo box that re-reads the registry each time its list opens."""

    def __init__(self, on_open, parent=None):
        super().__init__(parent)
        self._on_open = on_open

    def showPopup(self) -> None:
        self._on_open()
        super().showPopup()


#: the Maps choices: (text, ``attribution`` of :func:`~vocalpy_xai.napari.predict_any`);
#: None is the package's default (:data:`vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`)
MAP_CHOICES = (
    ("default method (chosen by the faithfulness tests)", None),
    ("linear (fast preview, less faithful)", "linear"),
)


class _Progress(QObject):
    """Carries ``(done, total)`` from the worker thread to the dock (a queued signal)."""

    changed = Signal(int, int)


def _predict_job(source, audio: str, attribution: str | None = None, progress=False):
    """Worker body: load the model (registry: integrity-checked) and run it on ``audio``
    (:func:`~vocalpy_xai.napari.prediction.predict_any`; ``attribution`` and ``progress``
    as there).

    A registry error (an unknown version, an :class:`~vocalpy_xai.registry.IntegrityError`)
    or an unreadable model folder comes back wrapped in a :class:`_Failed` (a worker that
    returns an exception re-raises it, and an ``errored`` worker ends in a traceback), so
    the panel shows it.
    """
    from ...errors import VocalpyXaiError
    from ..prediction import predict_any

    try:
        model = load_model(source.name, source.ref, source.root) if source.root else source.path
        return predict_any(model, audio, attribution=attribution, progress=progress)
    except (VocalpyXaiError, OSError, ValueError) as err:
        return _Failed(err)


class _Failed:
    def __init__(self, error: Exception):
        self.error = error


class _Source:
    def __init__(self, path=None, name=None, ref=None, root=None):
        self.path, self.name, self.ref, self.root = path, name, ref, root


class PredictWidget(PluginDock):
    """Choose a registered model (``name@version`` or ``name@alias``) or a saved model folder,
    and run it on the recording.

    Registered models are loaded through :meth:`vocalpy_xai.registry.Registry.load`, which
    checks every file against its recorded hash: a modified model is refused and the panel
    says why. The model runs in a worker thread; its segments appear as a second Shapes layer
    (``<stem> predictions``) whose metadata keep the model's frame labels for the
    disagreement table. A classifier's chunks appear as ``<stem> classification`` (each
    labelled with its predicted class), and its prototypes' activation maps over the
    recording as Image layers (``prototype <k> (<class>, <method>)``; the recording's top
    prototypes visible). *Maps* chooses how the activation maps are drawn: the package's
    default attribution method (:data:`vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`,
    the one that passed the deletion and insertion tests; a backward pass per chunk and
    prototype) or ``linear`` (the prototypes' cell maps upsampled: a fast preview); the
    status line names the method drawn, and a progress bar follows the chunks.

    The registry folder defaults to :func:`~vocalpy_xai.napari.registry.find_registry`:
    ``$VOCALPY_XAI_REGISTRY``, the user's registry when it holds models, else a registry
    beside the files open in the viewer (e.g. the demo's ``loop/registry``).
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
        self.registry_root = PathField("model registry folder")
        self.registry_root.setText(str(find_registry(_open_paths(napari_viewer))))
        self.registry_root.edit.editingFinished.connect(self.refresh_models)
        self.registered = _ModelCombo(self.refresh_models)
        self.registered.currentIndexChanged.connect(self._pick_registered)
        refresh = QPushButton("↻")
        refresh.setToolTip("re-read the registry")
        refresh.clicked.connect(self.refresh_models)
        self.model_dir = PathField("or a saved model directory")
        self.model_dir.edit.textEdited.connect(lambda _: self.registered.setCurrentIndex(0))
        self.maps = QComboBox()
        for text, method in MAP_CHOICES:
            self.maps.addItem(text, method)
        self.maps.setToolTip("how a classifier's prototype activation maps are drawn")
        self.button = QPushButton("Run on recording")
        self.button.clicked.connect(self.start)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.progress = QProgressBar(minimum=0, maximum=100)
        self.progress.setVisible(False)
        self._progress = _Progress(self)
        self._progress.changed.connect(self._on_progress)
        row = QHBoxLayout()
        row.addWidget(self.registered, 1)
        row.addWidget(refresh)
        form = QFormLayout()
        form.addRow("Registry", self.registry_root)
        form.addRow("Registered", row)
        form.addRow("Model folder", self.model_dir)
        form.addRow("Maps", self.maps)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()
        self.worker = None
        self.layer = None
        self.activation_layers: list = []
        self.result = None
        self.error: Exception | None = None
        self._refreshing = False
        self._auto_root = self.registry_root.text()  # followed until the user edits it
        if napari_viewer is not None:
            napari_viewer.layers.events.inserted.connect(self._follow_viewer)
        self.refresh_models()

    def _follow_viewer(self, event=None) -> None:
        """Re-find the default registry when files are opened (unless the user chose one)."""
        if self.registry_root.text() != self._auto_root:
            return
        found = str(find_registry(_open_paths(self.viewer)))
        if found != self._auto_root:
            self.registry_root.setText(found)
            self._auto_root = found
            self.refresh_models()

    def refresh_models(self) -> None:
        """List the registry's versions (newest first) and aliases; keep the current choice."""
        if self._refreshing:
            return
        self._refreshing = True
        try:
            current = self.registered.currentText()
            self.registered.clear()
            self.registered.addItem("")
            try:
                choices = model_choices(self.registry_root.text() or None)
            except (RegistryError, OSError, ValueError) as err:
                choices = []
                self.status.setText(f"cannot read the registry: {err}")
            for choice in choices:
                self.registered.addItem(choice.text, choice)
            index = self.registered.findText(current) if current else 0
            self.registered.setCurrentIndex(max(index, 0))
        finally:
            self._refreshing = False

    def _pick_registered(self, index: int) -> None:
        choice = self.registered.itemData(index)
        if isinstance(choice, ModelChoice):
            self.model_dir.setText("")

    def source(self) -> _Source | None:
        """The model chosen: a registry entry, else the model folder field, else None."""
        choice = self.registered.currentData()
        if isinstance(choice, ModelChoice):
            root = self.registry_root.text() or str(default_root())
            return _Source(name=choice.name, ref=choice.ref, root=root)
        if self.model_dir.text():
            return _Source(path=self.model_dir.text())
        return None

    def start(self):
        """Annotate the selected (or last) recording in a worker thread; returns the worker."""
        from napari.qt.threading import create_worker

        layer = selected_recording_layer(self.viewer, "annotation") or selected_recording_layer(
            self.viewer, "spectrogram"
        )
        audio = plugin_meta(layer).get("audio_path") if layer is not None else None
        if not audio or not pathlib.Path(audio).is_file():
            self.status.setText("open a recording (audio file) first")
            return None
        source = self.source()
        if source is None:
            self.status.setText("choose a registered model or a model directory first")
            return None
        self.status.setText(f"running the model on {pathlib.Path(audio).name}…")
        self.button.setEnabled(False)
        self.error = None
        source_layer = next(
            (
                la
                for la in self.viewer.layers
                if plugin_meta(la).get("role") == "annotation"
                and plugin_meta(la).get("audio_path") == audio
            ),
            None,
        )
        span = plugin_meta(source_layer).get("freq_span") if source_layer is not None else None
        self.progress.setRange(0, 0)  # busy until the maps report their chunks
        self.progress.setVisible(True)
        self.worker = create_worker(
            _predict_job,
            source,
            audio,
            self.maps.currentData(),
            self._progress.changed.emit,
            _start_thread=False,
        )
        self.worker.returned.connect(lambda pred: self._on_done(pred, audio, span))
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self.worker.start()
        return self.worker

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat("maps: %v / %m chunks")

    def _on_finished(self) -> None:
        self.button.setEnabled(True)
        self.progress.setVisible(False)

    def _on_error(self, err: Exception) -> None:
        self.error = err
        self.status.setText(f"prediction failed: {err}")

    def _on_done(self, pred, audio: str, span) -> None:
        from ..coords import world_to_hz
        from ..prediction import Classified

        if isinstance(pred, _Failed):
            self._on_error(pred.error)
            return
        self.result = pred
        if isinstance(pred, Classified):
            self._show_classification(pred, audio)
            return
        freq_range = tuple(float(world_to_hz(v)) for v in span) if span else (0.0, 16000.0)
        meta = {
            "audio_path": audio,
            "model_dir": pred.model_dir,
            "model_name": pred.model_name,
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
        self.status.setText(f"{len(pred.segments)} segments predicted by {pred.model_name}")

    def _show_classification(self, result, audio: str) -> None:
        """Chunks labelled with their class, and the prototype activation layers."""
        from ..activations import activation_layers, map_method

        c = result.classification
        stem = pathlib.Path(audio).stem
        for layer in [*layers_with_role(self.viewer, "activation"), *self.activation_layers]:
            if layer in self.viewer.layers and plugin_meta(layer).get("audio_path") == audio:
                self.viewer.layers.remove(layer)
        ds = result.activations
        layers = activation_layers(ds, 0)
        for _, kwargs, _ in layers:  # which recording and model they belong to
            kwargs["metadata"]["vocalpy_xai"].update(
                audio_path=audio, model_name=result.model_name, model_dir=result.model_dir
            )
        freqs = ds["freq"].values
        name = f"{stem} classification"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        meta = {
            "audio_path": audio,
            "model_dir": result.model_dir,
            "model_name": result.model_name,
            "class_names": list(c.class_names),
            "chunk_scores": c.chunk_proba,
            "recording_scores": c.proba,
        }
        band = (float(min(freqs[0], freqs[-1])), float(max(freqs[0], freqs[-1])))
        chunks = segments_layer_data(
            result.chunk_segments(), band, name, CLASSIFICATION, meta, None
        )
        added = add_layer_data(self.viewer, [*layers, chunks])
        self.activation_layers, self.layer = added[:-1], added[-1]
        self.layer.editable = False
        best = ", ".join(
            f"#{e['prototype']} ({e['class']}, {e['match']['f0_hz'] / 1e3:.1f}-"
            f"{e['match']['f1_hz'] / 1e3:.1f} kHz at {e['match']['t0_s']:.2f} s)"
            for e in c.evidence
        )
        self.status.setText(
            f"{c.predicted} (p = {c.proba.max():.2f}) by {result.model_name}, "
            f"{len(c.chunk_start_s)} chunks; top prototypes: {best}; "
            f"maps drawn by {map_method(ds)}"
        )


def _open_paths(viewer) -> list[str]:
    """Files behind the viewer's plugin layers (recordings, stores, review lists)."""
    if viewer is None:
        return []
    keys = ("audio_path", "store_path", "review_path", "annot_path")
    return [
        str(plugin_meta(layer)[k])
        for layer in viewer.layers
        for k in keys
        if plugin_meta(layer).get(k)
    ]
