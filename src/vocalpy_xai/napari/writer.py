"""Saving an annotation layer in a crowsetta seq format (napari writer contribution).

The format follows the file name: ``.csv`` simple-seq, ``.generic-seq.csv`` generic-seq,
``.not.mat`` notmat, ``.txt`` aud-seq (Audacity labels), ``.phn`` timit. Files are written
atomically by :func:`vocalpy_xai.write_annotations`. An existing file, and above all the
original annotation, is never replaced unless ``overwrite=True`` is passed explicitly; by
default :func:`save_annotation` writes the next version ``<stem>.vN.csv`` beside the audio.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from ..errors import FormatError
from ..io.annotations import SegmentTable, write_annotations
from .annotation_files import DEFAULT_FORMAT, next_version_path, to_annotation
from .segments_layer import META_KEY, plugin_meta, segments_from_layer, segments_from_shapes

#: file-name endings and the crowsetta format each writes, longest first
EXTENSIONS: tuple[tuple[str, str], ...] = (
    (".generic-seq.csv", "generic-seq"),
    (".not.mat", "notmat"),
    (".csv", "simple-seq"),
    (".txt", "aud-seq"),
    (".phn", "timit"),
)


def format_for_path(path: str | os.PathLike) -> str:
    """The crowsetta seq format of a file name (see :data:`EXTENSIONS`)."""
    name = pathlib.Path(path).name.lower()
    for ending, fmt in EXTENSIONS:
        if name.endswith(ending):
            return fmt
    raise FormatError(
        f"{path}: cannot tell the annotation format from the file name; use one of "
        + ", ".join(f"'{e}' ({f})" for e, f in EXTENSIONS)
    )


def extension_for_format(fmt: str) -> str:
    """The file-name ending used for ``fmt``."""
    for ending, name in EXTENSIONS:
        if name == fmt:
            return ending
    raise FormatError(f"no writable seq format '{fmt}'; writable: {[f for _, f in EXTENSIONS]}")


def write_segments(
    segments: SegmentTable,
    path: str | os.PathLike,
    audio_path: str | os.PathLike,
    fmt: str | None = None,
    samplerate: int | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write ``segments`` of ``audio_path`` to ``path`` atomically (format from the name)."""
    path = pathlib.Path(path)
    fmt = fmt or format_for_path(path)
    annot = to_annotation(segments, audio_path)
    return write_annotations(annot, path, fmt, samplerate=samplerate, overwrite=overwrite)


def save_annotation(
    layer,
    path: str | os.PathLike | None = None,
    fmt: str | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Save an annotation layer; by default as the next version beside its audio.

    Parameters
    ----------
    layer : napari.layers.Shapes
        An annotation layer of the plugin.
    path : path-like, optional
        Where to write. Default: ``<stem>.vN<ext>`` beside the audio (N >= 2, the next free).
    fmt : str, optional
        crowsetta seq format; default from ``path``'s name, or simple-seq.
    overwrite : bool
        Replace an existing file, including the original annotation. Default False: an
        existing file is refused with :class:`FileExistsError`.

    Returns
    -------
    path : pathlib.Path
        The written file.
    """
    meta = plugin_meta(layer)
    audio = meta.get("audio_path")
    if not audio:
        raise ValueError(f"layer {layer.name!r} has no audio file to save an annotation for")
    if path is None:
        fmt = fmt or DEFAULT_FORMAT
        ending = extension_for_format(fmt)
        if fmt == "notmat":
            path = pathlib.Path(audio).with_name(pathlib.Path(audio).name + ".not.mat")
        else:
            path = next_version_path(audio, ending)
    segments = segments_from_layer(layer, path)
    written = write_segments(segments, path, audio, fmt, meta.get("samplerate"), overwrite)
    layer.metadata = {**layer.metadata, META_KEY: {**meta, "saved_path": str(written)}}
    return written


def napari_write_annotation(path: str, data: Any, attributes: dict) -> list[str]:
    """npe2 writer: one annotation Shapes layer to a crowsetta seq file (format from ``path``).

    Refuses to replace an existing file (use the *Save annotation* panel's overwrite box).
    """
    meta = attributes.get("metadata", {}).get(META_KEY, {})
    audio = meta.get("audio_path") or str(pathlib.Path(path).with_suffix(".wav"))
    # the layer's shapes are the segments near the view; the others are in its metadata
    segments = segments_from_shapes(data, attributes["features"], path, meta.get("hidden"))
    written = write_segments(segments, path, audio, samplerate=meta.get("samplerate"))
    return [str(written)]
