"""Dock widgets of the napari plugin (Qt): train, predict, disagreements, prototypes, save."""

from .disagreements import DisagreementWidget
from .overview import OverviewWidget
from .predict import PredictWidget
from .prototypes import PrototypeWidget
from .save import SaveWidget
from .train import TrainWidget

__all__ = [
    "DisagreementWidget",
    "OverviewWidget",
    "PredictWidget",
    "PrototypeWidget",
    "SaveWidget",
    "TrainWidget",
]
