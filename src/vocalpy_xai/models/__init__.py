"""Annotation and classification models."""

from .esn_decoder import ESNDecoder, ESNParams
from .features import BandFeatures
from .postprocess import PostprocessParams, frames_to_segments, to_annotation, to_vocalpy_segments

__all__ = [
    "BandFeatures",
    "ESNDecoder",
    "ESNParams",
    "PostprocessParams",
    "frames_to_segments",
    "to_annotation",
    "to_vocalpy_segments",
]
