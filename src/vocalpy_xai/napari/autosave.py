"""Autosave every edit to a sidecar file, and restore it when a recording is reopened.

The sidecar ``<audio>.vocalpy-xai-autosave.csv`` (crowsetta simple-seq) is replaced
atomically after every edit (:func:`vocalpy_xai.write_annotations`), so a crash loses no edit
and never leaves half a file. On reopening, it is used when it is newer than the annotation.
"""

from __future__ import annotations

import pathlib

import attrs

from ..io.annotations import SegmentTable, write_annotations
from .annotation_files import (
    DEFAULT_FORMAT,
    FoundAnnotation,
    autosave_path,
    find_annotation,
    read_segment_file,
    to_annotation,
)


def write_autosave(segments: SegmentTable, audio_path: str | pathlib.Path) -> pathlib.Path:
    """Replace the autosave sidecar of ``audio_path`` with ``segments``, atomically."""
    path = autosave_path(audio_path)
    annot = to_annotation(attrs.evolve(segments, annot_path=path), audio_path)
    return write_annotations(annot, path, DEFAULT_FORMAT, overwrite=True)


@attrs.define(frozen=True)
class LoadedSegments:
    """The segments to edit for one recording, and where they came from.

    Attributes
    ----------
    segments : SegmentTable or None
        None when the recording has no annotation and no autosave.
    source : str
        ``"autosave"``, ``"annotation"`` or ``"none"``.
    annotation : FoundAnnotation or None
        The annotation file found beside the audio (even when the autosave won).
    """

    segments: SegmentTable | None
    source: str
    annotation: FoundAnnotation | None


def load_segments(
    audio_path: str | pathlib.Path, samplerate: int | None = None, restore: bool = True
) -> LoadedSegments:
    """The annotation of ``audio_path``, or its autosave when that is newer.

    Parameters
    ----------
    audio_path : str or pathlib.Path
        The recording.
    samplerate : int, optional
        For annotation formats with times in samples.
    restore : bool
        Use the autosave when it is newer than the annotation (default True).
    """
    found = find_annotation(audio_path, samplerate)
    sidecar = autosave_path(audio_path)
    if restore and sidecar.is_file():
        newer = found is None or sidecar.stat().st_mtime_ns > found.path.stat().st_mtime_ns
        if newer:
            return LoadedSegments(read_segment_file(sidecar, DEFAULT_FORMAT), "autosave", found)
    if found is not None:
        return LoadedSegments(found.segments, "annotation", found)
    return LoadedSegments(None, "none", None)
