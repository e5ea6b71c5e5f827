"""Spectrogram parameters and store builders for the two classification tasks.

Species (xeno-canto clips, :data:`SPECIES_PARAMS`)
    Audio resampled to 24 kHz (the clips are 44.1 or 48 kHz MP3s; songbird energy here lies
    below 11 kHz), 512-point FFT (21.3 ms, 46.9 Hz bins), hop 240 samples = **10 ms**, band
    515.6-10968.75 Hz: **224 frequency rows**. The band drops wind and traffic rumble under
    500 Hz, which carries no song of these species. A 3-s window is 300 frames.

Syllables (Bird0, :data:`SYLLABLE_PARAMS`)
    32 kHz (the files' own rate), 512-point FFT (16 ms, 62.5 Hz bins), hop 64 = **2 ms** (the
    syllables last 36-140 ms, gaps can be 0-2 ms: a syllable mask needs this resolution),
    band 500-10000 Hz: **153 frequency rows**. A 0.3-s window is 151 frames.

Values are dB of the STFT magnitude (``librosa-db``: 20 log10 |STFT|, clipped 80 dB under each
clip's maximum).
"""

from __future__ import annotations

import os
import pathlib

from ..io.manifest import Manifest
from ..store.build import BuildReport, build_store
from ..store.params import SpectrogramParams

SPECIES_PARAMS = SpectrogramParams(
    samplerate=24000, n_fft=512, hop_length=240, fmin=500.0, fmax=11000.0
)
SYLLABLE_PARAMS = SpectrogramParams(
    samplerate=32000, n_fft=512, hop_length=64, fmin=500.0, fmax=10000.0
)


def species_manifest(
    labels_csv: str | os.PathLike,
    audio_column: str = "mp3_file",
    label_column: str = "scientific_name",
) -> Manifest:
    """A manifest of a xeno-canto style label table, the label being the scientific name.

    Paths are resolved against the table's folder (absolute), so a store built from it
    names its source files wherever it is opened. Other columns (``xc_id``, recordist,
    licence...) are kept as per-clip metadata (``meta_<column>`` in the store).
    """
    labels_csv = pathlib.Path(labels_csv).resolve()
    return Manifest.from_label_table(
        labels_csv, audio_column=audio_column, label_column=label_column, root=labels_csv.parent
    )


def build_species_store(
    labels_csv: str | os.PathLike,
    path: str | os.PathLike,
    params: SpectrogramParams = SPECIES_PARAMS,
    **build_kwargs,
) -> BuildReport:
    """Build the species store of a label table (:func:`~vocalpy_xai.build_store`).

    Parameters
    ----------
    labels_csv : path
        E.g. ``xeno_canto_10_species/labels.csv``.
    path : path
        The store to write.
    params : SpectrogramParams
        Default :data:`SPECIES_PARAMS`.
    **build_kwargs
        Passed to :func:`~vocalpy_xai.build_store` (``on_error``, ``num_workers``,
        ``overwrite``, ``progress``...).
    """
    return build_store(species_manifest(labels_csv), path, params, **build_kwargs)


def build_syllable_store(
    annot_path: str | os.PathLike,
    path: str | os.PathLike,
    annot_format: str = "birdsong-recognition-dataset",
    params: SpectrogramParams = SYLLABLE_PARAMS,
    **build_kwargs,
) -> BuildReport:
    """Build an annotated store (Bird0's ``Annotation.xml`` by default), files sorted by
    number, with :data:`SYLLABLE_PARAMS`."""
    manifest = Manifest.from_annotation_file(annot_path, annot_format)
    return build_store(manifest, path, params, **build_kwargs)
