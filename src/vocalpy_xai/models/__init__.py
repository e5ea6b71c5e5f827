"""Annotation and classification models."""

from .boundaries import BoundaryParams, BoundaryRefiner
from .esn_decoder import ESNDecoder, ESNParams
from .features import BandFeatures, DbBandSpectrogram
from .postprocess import PostprocessParams, frames_to_segments, to_annotation, to_vocalpy_segments
from .prediction import AnnotationPrediction, scores_to_probabilities
from .reservoir_engine import ReservoirEngine

__all__ = [
    "AnnotationPrediction",
    "BandFeatures",
    "BoundaryParams",
    "BoundaryRefiner",
    "DbBandSpectrogram",
    "ESNDecoder",
    "ESNParams",
    "PostprocessParams",
    "ReservoirEngine",
    "frames_to_segments",
    "scores_to_probabilities",
    "to_annotation",
    "to_vocalpy_segments",
]
