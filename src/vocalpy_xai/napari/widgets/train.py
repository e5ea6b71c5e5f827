"""Dock widget: train an ESN annotation model on a store, in a worker thread."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ...models import ESNParams
from ...registry import RegistryError, default_root
from ..registry import check_model_name, default_model_name
from ..viewer import prepare_viewer
from .common import PathField, PluginDock, figure_pixmap


class TrainWidget(PluginDock):
    """Pick a store and the ESN's parameters, train in the background, show the metrics.

    Training runs in a napari worker thread (:func:`napari.qt.threading.create_worker`), so the
    viewer stays responsive; a progress bar follows it. The model is registered as a new version
    of *Name* in the model registry at *Registry* (:class:`vocalpy_xai.registry.Registry`;
    default ``$VOCALPY_XAI_REGISTRY`` or ``~/.vocalpy-xai/models``), with its validation
    metrics; the panel shows the version number it got. A copy is also saved under *Save in*
    when that folder is set.
    """

    def __init__(self, napari_viewer=None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        if napari_viewer is not None:
            prepare_viewer(napari_viewer)
        self.store = PathField("annotated spectrogram store (.zarr)")
        self.registry_root = PathField("model registry folder")
        self.registry_root.setText(str(default_root()))
        self.name = QLineEdit()
        self.name.setPlaceholderText("esn-<store name>")
        self._auto_name = True
        self.name.textEdited.connect(self._name_edited)
        self.store.edit.textChanged.connect(self._store_changed)
        self.out_dir = PathField("optional: also save a copy here")
        defaults = ESNParams()
        self.units = QSpinBox(minimum=10, maximum=5000, value=defaults.units)
        self.leak = _double(defaults.leak_rate, 0.001, 1.0, 3)
        self.radius = _double(defaults.spectral_radius, 0.0, 2.0, 3)
        self.scaling = _double(defaults.input_scaling, 0.0, 10.0, 3)
        self.ridge = _double(defaults.ridge, 0.0, 10.0, 6)
        self.bidirectional = QCheckBox(checked=defaults.bidirectional)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=defaults.seed)
        self.val_fraction = _double(0.25, 0.05, 0.9, 2)
        self.button = QPushButton("Train")
        self.button.clicked.connect(self.start)
        self.progress = QProgressBar(minimum=0, maximum=100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.confusion = QLabel()
        form = QFormLayout()
        form.addRow("Store", self.store)
        form.addRow("Units", self.units)
        form.addRow("Leak rate", self.leak)
        form.addRow("Spectral radius", self.radius)
        form.addRow("Input scaling", self.scaling)
        form.addRow("Ridge", self.ridge)
        form.addRow("Bidirectional", self.bidirectional)
        form.addRow("Seed", self.seed)
        form.addRow("Validation share", self.val_fraction)
        form.addRow("Registry", self.registry_root)
        form.addRow("Name", self.name)
        form.addRow("Save in", self.out_dir)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.confusion)
        layout.addStretch()
        self.worker = None
        self.result = None
        self.error: Exception | None = None

    def _name_edited(self, text: str) -> None:
        self._auto_name = not text.strip()

    def _store_changed(self, text: str) -> None:
        if self._auto_name:
            self.name.setText(default_model_name(text) if text.strip() else "")

    def model_name(self) -> str:
        """The registry name: the *Name* field, else ``esn-<store stem>``."""
        return self.name.text().strip() or default_model_name(self.store.text())

    def params(self) -> ESNParams:
        """The ESN parameters set in the form."""
        return ESNParams(
            units=self.units.value(),
            leak_rate=self.leak.value(),
            spectral_radius=self.radius.value(),
            input_scaling=self.scaling.value(),
            ridge=self.ridge.value(),
            bidirectional=self.bidirectional.isChecked(),
            seed=self.seed.value(),
        )

    def start(self):
        """Start training in a worker thread; returns the worker."""
        from napari.qt.threading import create_worker

        from ..training import train_esn

        if not self.store.text():
            self.status.setText("choose a store first")
            return None
        if not self.registry_root.text():
            self.status.setText("choose a registry folder first")
            return None
        try:
            name = check_model_name(self.model_name())
        except RegistryError as err:
            self.status.setText(str(err))
            return None
        self.button.setEnabled(False)
        self.result, self.error = None, None
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.worker = create_worker(
            train_esn,
            self.store.text(),
            self.params(),
            self.out_dir.text() or None,
            self.val_fraction.value(),
            registry_root=self.registry_root.text(),
            name=name,
            _start_thread=False,
        )
        self.worker.yielded.connect(self._on_progress)
        self.worker.returned.connect(self._on_done)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(lambda: self.button.setEnabled(True))
        self.worker.start()
        return self.worker

    def _on_progress(self, value) -> None:
        fraction, message = value
        if fraction < 0:
            self.progress.setRange(0, 0)  # busy: a step of unknown length
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(round(100 * fraction)))
        self.status.setText(message)

    def _on_done(self, result) -> None:
        from ...metrics import plot_confusion_matrix

        self.result = result
        self.progress.setRange(0, 100)
        self.progress.setValue(100)
        self.status.setText(result.summary())
        fig = plot_confusion_matrix(result.confusion, result.class_names, title="Validation frames")
        self.confusion.setPixmap(figure_pixmap(fig))

    def _on_error(self, err: Exception) -> None:
        self.error = err
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.status.setText(f"training failed: {err}")


def _double(value: float, lo: float, hi: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox(minimum=lo, maximum=hi, decimals=decimals)
    box.setSingleStep(10 ** (-decimals + 1) if decimals > 2 else 0.05)
    box.setValue(value)
    return box
