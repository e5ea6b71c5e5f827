"""Where a recording's annotation lives, its saved versions and its autosave sidecar.

Beside ``song.wav`` (checked in this order):

1. ``song.vocalpy-xai-autosave.csv`` is the autosave (:mod:`.autosave`), used when it is newer
   than the annotation below;
2. the newest saved version ``song.vN.csv`` (N >= 2; the plugin never overwrites an original
   unless asked, it writes the next version);
3. a per-file annotation: ``song.csv`` / ``song.wav.csv`` (simple-seq, else generic-seq),
   ``song.wav.not.mat`` / ``song.not.mat`` (notmat), ``song.txt`` (aud-seq), ``song.phn``
   (timit);
4. a folder-level ``Annotation.xml`` (birdsong-recognition-dataset) in the audio's folder or
   its parent, holding this file.
"""

from __future__ import annotations

import pathlib
import re

import attrs
import crowsetta

from ..errors import AnnotationError
from ..io.annotations import SegmentTable, read_annotations

#: suffix of the autosave sidecar, appended to the audio file's name
AUTOSAVE_SUFFIX: str = ".vocalpy-xai-autosave.csv"
#: crowsetta format of the autosave sidecar and of saved versions
DEFAULT_FORMAT: str = "simple-seq"

_VERSION = re.compile(r"\.v(\d+)\.csv$")


@attrs.define(frozen=True)
class FoundAnnotation:
    """An annotation found for one audio file.

    Attributes
    ----------
    path : pathlib.Path
        The annotation file.
    format : str
        Its crowsetta format.
    segments : SegmentTable
        The segments of this audio file.
    """

    path: pathlib.Path
    format: str
    segments: SegmentTable


def autosave_path(audio_path: str | pathlib.Path) -> pathlib.Path:
    """``<audio>.vocalpy-xai-autosave.csv``."""
    audio_path = pathlib.Path(audio_path)
    return audio_path.with_name(audio_path.name + AUTOSAVE_SUFFIX)


def version_paths(audio_path: str | pathlib.Path) -> dict[int, pathlib.Path]:
    """Saved versions ``<stem>.vN.csv`` beside the audio, by N."""
    audio_path = pathlib.Path(audio_path)
    found = {}
    for p in audio_path.parent.glob(f"{glob_escape(audio_path.stem)}.v*.csv"):
        m = _VERSION.search(p.name)
        if m and p.name == f"{audio_path.stem}.v{m.group(1)}.csv":
            found[int(m.group(1))] = p
    return found


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return re.sub(r"([\[\]*?])", r"[\1]", name)


def next_version_path(audio_path: str | pathlib.Path, extension: str = ".csv") -> pathlib.Path:
    """The next free version ``<stem>.vN<extension>`` (N >= 2: the original is version 1)."""
    audio_path = pathlib.Path(audio_path)
    n = max([1, *version_paths(audio_path)]) + 1
    while (path := audio_path.with_name(f"{audio_path.stem}.v{n}{extension}")).exists():
        n += 1
    return path


def _per_file_candidates(audio_path: pathlib.Path) -> list[tuple[pathlib.Path, tuple[str, ...]]]:
    stem, name = audio_path.with_suffix(""), audio_path.name
    return [
        (stem.with_name(stem.name + ".csv"), ("simple-seq", "generic-seq")),
        (audio_path.with_name(name + ".csv"), ("simple-seq", "generic-seq")),
        (audio_path.with_name(name + ".not.mat"), ("notmat",)),
        (stem.with_name(stem.name + ".not.mat"), ("notmat",)),
        (stem.with_name(stem.name + ".txt"), ("aud-seq",)),
        (stem.with_name(stem.name + ".phn"), ("timit",)),
    ]


def _segments_of(
    path: pathlib.Path, fmt: str, audio_path: pathlib.Path, samplerate: int | None
) -> SegmentTable | None:
    """Segments of ``audio_path`` in annotation file ``path``, or None if it has none."""
    annots = read_annotations(path, fmt, samplerate=samplerate)
    if len(annots) == 1 and fmt != "generic-seq":
        annot = annots[0]
    else:
        matches = [
            a
            for a in annots
            if a.notated_path is not None and pathlib.Path(a.notated_path).name == audio_path.name
        ]
        if not matches:
            return None
        annot = matches[0]
    seg = SegmentTable.from_annotation(annot, samplerate)
    return attrs.evolve(seg, annot_path=path)


def read_segment_file(
    path: str | pathlib.Path, fmt: str = DEFAULT_FORMAT, samplerate: int | None = None
) -> SegmentTable:
    """Segments of a one-file annotation (a saved version or an autosave)."""
    path = pathlib.Path(path)
    annot = read_annotations(path, fmt, samplerate=samplerate)[0]
    return attrs.evolve(SegmentTable.from_annotation(annot, samplerate), annot_path=path)


def find_annotation(
    audio_path: str | pathlib.Path, samplerate: int | None = None
) -> FoundAnnotation | None:
    """The newest saved version, else the original annotation of ``audio_path``, or None.

    Parameters
    ----------
    audio_path : str or pathlib.Path
        The recording.
    samplerate : int, optional
        Its sample rate, for formats with times in samples.

    Raises
    ------
    AnnotationError
        An annotation file is there but cannot be read in any of its formats.
    """
    audio_path = pathlib.Path(audio_path)
    versions = version_paths(audio_path)
    if versions:
        path = versions[max(versions)]
        return FoundAnnotation(path, DEFAULT_FORMAT, read_segment_file(path, DEFAULT_FORMAT))
    for path, formats in _per_file_candidates(audio_path):
        if not path.is_file():
            continue
        errors = []
        for fmt in formats:
            try:
                seg = _segments_of(path, fmt, audio_path, samplerate)
            except AnnotationError as err:
                errors.append(str(err))
                continue
            if seg is not None:
                return FoundAnnotation(path, fmt, seg)
        if errors:
            raise AnnotationError(path, "cannot read as " + " / ".join(errors))
    for folder in (audio_path.parent, audio_path.parent.parent):
        xml = folder / "Annotation.xml"
        if xml.is_file():
            fmt = "birdsong-recognition-dataset"
            seg = _segments_of(xml, fmt, audio_path, samplerate)
            if seg is not None:
                return FoundAnnotation(xml, fmt, seg)
    return None


def to_annotation(segments: SegmentTable, audio_path: str | pathlib.Path) -> crowsetta.Annotation:
    """A crowsetta seq annotation of ``segments`` for ``audio_path``."""
    return segments.to_annotation(
        pathlib.Path(audio_path), segments.annot_path or pathlib.Path(str(audio_path) + ".csv")
    )
