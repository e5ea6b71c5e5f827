"""Classification examples from spectrogram stores: windows, folds, augmentation.

- species (xeno-canto clips): :func:`build_species_store`, :func:`species_folds`
  (stratified k-fold by recording), :func:`species_windows`
- syllables (Bird0): :func:`build_syllable_store`, :func:`bird0_fixed_split`,
  :func:`syllable_windows` (centred windows with a mask of the syllable)
- BirdNET-backbone models: :func:`birdnet_chunks` (3-s audio chunks of labelled clips)
- :func:`augment`: time shift, time masks, background mixing, gain (never frequency)

Spectrogram parameters of both tasks: :data:`SPECIES_PARAMS`, :data:`SYLLABLE_PARAMS`
(see :mod:`vocalpy_xai.clips.stores`).
"""

from .augment import augment
from .chunks import birdnet_chunks
from .folds import bird0_fixed_split, fold_ids, species_folds
from .stores import (
    SPECIES_PARAMS,
    SYLLABLE_PARAMS,
    build_species_store,
    build_syllable_store,
    species_manifest,
)
from .windows import Windows, clip_spectrogram, species_windows, syllable_windows, window_starts

__all__ = [
    "SPECIES_PARAMS",
    "SYLLABLE_PARAMS",
    "Windows",
    "augment",
    "birdnet_chunks",
    "bird0_fixed_split",
    "build_species_store",
    "build_syllable_store",
    "clip_spectrogram",
    "fold_ids",
    "species_folds",
    "species_manifest",
    "species_windows",
    "syllable_windows",
    "window_starts",
]
