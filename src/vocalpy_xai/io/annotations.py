"""Read every crowsetta annotation format, check it against its audio, and write seq formats.

Formats come from crowsetta's own registry (:func:`crowsetta.formats.as_list`,
:func:`crowsetta.formats.by_name`), so a format registered with
``@crowsetta.formats.register_format`` is readable here too.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import pathlib
from collections.abc import Iterable, Sequence

import attrs
import crowsetta
import numpy as np

from ..errors import AnnotationError, FormatError

#: seq formats crowsetta can write (each has a ``to_file``); see :func:`write_annotations`
WRITABLE_SEQ_FORMATS: tuple[str, ...] = ("simple-seq", "aud-seq", "generic-seq", "notmat", "timit")

#: tolerance (s) for a segment ending past its audio: rounding in annotation files
END_TOLERANCE_S: float = 1e-3


def annotation_formats() -> list[str]:
    """Names of every annotation format in crowsetta's registry."""
    return list(crowsetta.formats.as_list())


def format_class(format: str):
    """The crowsetta class registered under ``format``, or a :class:`FormatError`.

    Parameters
    ----------
    format : str
        A name from :func:`annotation_formats`, e.g. ``"simple-seq"``.
    """
    names = annotation_formats()
    if format not in names:
        raise FormatError(
            f"unknown annotation format '{format}'. Valid formats (crowsetta registry): "
            f"{', '.join(names)}"
        )
    return crowsetta.formats.by_name(format)


@attrs.define(frozen=True)
class SegmentTable:
    """Onsets, offsets (seconds) and labels of one annotated recording, sorted by onset.

    Attributes
    ----------
    onsets_s, offsets_s : numpy.ndarray
        Segment boundaries in seconds.
    labels : numpy.ndarray
        Segment labels as strings.
    annot_path : pathlib.Path, optional
        The annotation file they were read from.
    """

    onsets_s: np.ndarray
    offsets_s: np.ndarray
    labels: np.ndarray
    annot_path: pathlib.Path | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_annotation(cls, annot: crowsetta.Annotation, samplerate: int | None = None):
        """Segments of a seq or bbox :class:`crowsetta.Annotation`.

        Parameters
        ----------
        annot : crowsetta.Annotation
            With ``seq`` (one Sequence) or ``bboxes``.
        samplerate : int, optional
            Needed only when the sequence has onsets in samples but not in seconds.
        """
        if getattr(annot, "seq", None) is not None:
            seq = annot.seq
            if isinstance(seq, list):
                if len(seq) != 1:
                    raise AnnotationError(
                        annot.annot_path,
                        f"holds {len(seq)} sequences for one file; expected one",
                    )
                seq = seq[0]
            if seq.onsets_s is not None:
                on, off = np.asarray(seq.onsets_s, float), np.asarray(seq.offsets_s, float)
            elif samplerate:
                on = np.asarray(seq.onset_samples, float) / samplerate
                off = np.asarray(seq.offset_samples, float) / samplerate
            else:
                raise AnnotationError(
                    annot.annot_path,
                    "onsets are in samples; a sample rate is needed to convert them to seconds",
                )
            labels = np.asarray(seq.labels).astype(str)
        elif getattr(annot, "bboxes", None) is not None:
            on = np.array([b.onset for b in annot.bboxes], float)
            off = np.array([b.offset for b in annot.bboxes], float)
            labels = np.array([b.label for b in annot.bboxes]).astype(str)
        else:
            raise AnnotationError(annot.annot_path, "annotation has neither seq nor bboxes")
        order = np.argsort(on, kind="stable")
        source = pathlib.Path(annot.annot_path) if annot.annot_path is not None else None
        return cls(on[order], off[order], labels[order], source)

    def to_annotation(
        self,
        notated_path: str | os.PathLike | None = None,
        annot_path: str | os.PathLike | None = None,
    ) -> crowsetta.Annotation:
        """A crowsetta sequence annotation of the segments, writable in any seq format.

        Parameters
        ----------
        notated_path : path-like, optional
            The audio file annotated.
        annot_path : path-like, optional
            The annotation file it belongs to (default: :attr:`annot_path`, else
            ``"predicted"``).

        Examples
        --------
        >>> seg.to_annotation("song.wav")  # then write_annotations(..., "simple-seq")
        """
        seq = crowsetta.Sequence.from_keyword(
            onsets_s=self.onsets_s, offsets_s=self.offsets_s, labels=self.labels
        )
        return crowsetta.Annotation(
            annot_path=annot_path or self.annot_path or "predicted",
            notated_path=notated_path,
            seq=seq,
        )

    def validate(
        self,
        annot_path: str | pathlib.Path | None = None,
        duration: float | None = None,
        labelset: Iterable[str] | None = None,
        allow_overlap: bool = False,
    ) -> SegmentTable:
        """Check the segments, raising an :class:`AnnotationError` that names the file.

        Parameters
        ----------
        annot_path : str or pathlib.Path, optional
            The file named in errors; default :attr:`annot_path`.
        duration : float, optional
            Duration of the audio (s); segments may not end past it.
        labelset : iterable of str, optional
            Allowed labels; others are reported.
        allow_overlap : bool
            If False (default), overlapping segments are an error (touching is fine).

        Returns
        -------
        self
        """
        on, off, labels = self.onsets_s, self.offsets_s, self.labels
        annot_path = annot_path if annot_path is not None else self.annot_path
        if len(on) and (not np.all(np.isfinite(on)) or not np.all(np.isfinite(off))):
            raise AnnotationError(annot_path, "has non-finite onset or offset times")
        bad = np.flatnonzero(on < 0)
        if bad.size:
            raise AnnotationError(
                annot_path, f"segment {bad[0]} starts before 0 s (onset {on[bad[0]]:.4f} s)"
            )
        bad = np.flatnonzero(off <= on)
        if bad.size:
            i = bad[0]
            raise AnnotationError(
                annot_path,
                f"segment {i} ('{labels[i]}') has offset {off[i]:.4f} s <= onset {on[i]:.4f} s",
            )
        if not allow_overlap and len(on) > 1:
            bad = np.flatnonzero(on[1:] < off[:-1] - 1e-9)
            if bad.size:
                i = bad[0]
                raise AnnotationError(
                    annot_path,
                    f"annotation overlaps itself: segment {i} ('{labels[i]}', "
                    f"{on[i]:.4f}-{off[i]:.4f} s) and segment {i + 1} ('{labels[i + 1]}', "
                    f"{on[i + 1]:.4f}-{off[i + 1]:.4f} s)"
                    + (f" and {bad.size - 1} more overlap(s)" if bad.size > 1 else ""),
                )
        if duration is not None and len(off) and off.max() > duration + END_TOLERANCE_S:
            i = int(np.argmax(off))
            raise AnnotationError(
                annot_path,
                f"segment {i} ('{labels[i]}') runs past the end of its audio: "
                f"offset {off[i]:.4f} s > duration {duration:.4f} s",
            )
        if labelset is not None:
            unknown = sorted(set(labels.tolist()) - set(labelset))
            if unknown:
                raise AnnotationError(
                    annot_path,
                    f"unknown label(s) {unknown}; the label set is {sorted(set(labelset))}",
                )
        return self


def read_annotations(
    path: str | pathlib.Path, format: str, samplerate: int | None = None, **kwargs
) -> list[crowsetta.Annotation]:
    """Read an annotation file of any crowsetta format.

    Parameters
    ----------
    path : str or pathlib.Path
        The annotation file.
    format : str
        A crowsetta format name (:func:`annotation_formats`).
    samplerate : int, optional
        For formats whose times are in samples (``timit``): the audio's sample rate.
    **kwargs
        Passed to the format's ``from_file``. For ``birdsong-recognition-dataset``,
        ``wav_path`` defaults to the ``Wave`` folder beside the XML file.

    Returns
    -------
    annots : list of crowsetta.Annotation
        One per annotated audio file (formats holding one file give a list of one).

    Raises
    ------
    FormatError
        ``format`` is not in crowsetta's registry.
    AnnotationError
        The file is missing or crowsetta cannot parse it; the message names it.
    """
    path = pathlib.Path(path)
    cls = format_class(format)
    if not path.exists():
        raise AnnotationError(path, "annotation file not found")
    if format == "birdsong-recognition-dataset" and "wav_path" not in kwargs:
        kwargs["wav_path"] = path.parent / "Wave"
    to_annot_kwargs = {}
    if samplerate is not None and "samplerate" in inspect.signature(cls.to_annot).parameters:
        to_annot_kwargs["samplerate"] = samplerate
    try:
        annots = cls.from_file(path, **kwargs).to_annot(**to_annot_kwargs)
    except (FormatError, AnnotationError):
        raise
    except Exception as err:  # crowsetta raises pandera, xml, scipy.io and other errors
        raise AnnotationError(path, f"cannot read as '{format}': {err}") from err
    return annots if isinstance(annots, list) else [annots]


def _checked_already(seg: SegmentTable) -> contextlib.AbstractContextManager:
    """Skip crowsetta's pandera check of a table that passes it by construction.

    crowsetta's seq writers validate their table with a pandera schema before writing
    (``SimpleSeqSchema``: float onsets and offsets, no missing values, labels coerced to
    strings), which costs about half of a short file's write (profiled, issue 16).
    A :class:`SegmentTable` holds float arrays and string labels by construction, so when
    its times are also free of NaN the check cannot fail nor change a value, and the file
    is the same byte for byte (tested): it is skipped for that write only (pandera's
    ``config_context``, per thread). Any other table is checked as before.
    """
    import pandera.config

    clean = (
        seg.onsets_s.dtype.kind == "f"
        and seg.offsets_s.dtype.kind == "f"
        and seg.labels.dtype.kind == "U"
        and not np.isnan(seg.onsets_s).any()
        and not np.isnan(seg.offsets_s).any()
    )
    if not clean:
        return contextlib.nullcontext()
    return pandera.config.config_context(validation_enabled=False)


def _atomic_target(path: pathlib.Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; refusing to overwrite an annotation file "
            "(pass overwrite=True, or write a new version beside it)"
        )


def _write_atomically(path: pathlib.Path, overwrite: bool, write) -> pathlib.Path:
    """Run ``write(tmp_path)`` (:func:`~vocalpy_xai.io.atomic.atomic_file`), then rename."""
    from .atomic import atomic_file

    _atomic_target(path, overwrite)
    with atomic_file(path) as tmp:
        write(tmp)
    return path


def write_annotations(
    annots: crowsetta.Annotation | Sequence[crowsetta.Annotation],
    path: str | pathlib.Path,
    format: str,
    samplerate: int | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write sequence annotations in a crowsetta seq format, atomically.

    Parameters
    ----------
    annots : crowsetta.Annotation or sequence of them
        Annotations with a ``seq``. ``generic-seq`` takes many; the other formats
        hold one annotated file each.
    path : str or pathlib.Path
        File to write. For ``notmat`` it must end in ``.not.mat``.
    format : str
        One of :data:`WRITABLE_SEQ_FORMATS`.
    samplerate : int, optional
        Needed by ``timit`` (times in samples) and ``notmat`` (stored rate).
    overwrite : bool
        Refuse (default) or replace an existing file.

    Returns
    -------
    path : pathlib.Path
        The written file, created by an atomic rename: a crash leaves either
        the old file or the new one, never half of one.
    """
    path = pathlib.Path(path)
    format_class(format)  # unknown names get the registry's list
    if format not in WRITABLE_SEQ_FORMATS:
        raise FormatError(
            f"crowsetta cannot write format '{format}'. Writable seq formats: "
            f"{', '.join(WRITABLE_SEQ_FORMATS)}"
        )
    annots = [annots] if isinstance(annots, crowsetta.Annotation) else list(annots)
    if format != "generic-seq" and len(annots) != 1:
        raise ValueError(f"format '{format}' holds one annotated file; got {len(annots)}")
    tables = [SegmentTable.from_annotation(a, samplerate) for a in annots]

    def write(tmp: pathlib.Path) -> None:
        seg = tables[0]
        notated = annots[0].notated_path
        if format == "simple-seq":
            with _checked_already(seg):
                crowsetta.formats.seq.SimpleSeq(
                    onsets_s=seg.onsets_s,
                    offsets_s=seg.offsets_s,
                    labels=seg.labels,
                    annot_path=path,
                    notated_path=notated,
                ).to_file(tmp)
        elif format == "aud-seq":
            crowsetta.formats.seq.AudSeq(
                start_times=seg.onsets_s,
                end_times=seg.offsets_s,
                labels=seg.labels,
                annot_path=path,
                notated_path=notated,
            ).to_file(tmp)
        elif format == "timit":
            if not samplerate:
                raise ValueError("format 'timit' stores times in samples: pass samplerate")
            crowsetta.formats.seq.Timit(
                begin_samples=np.round(seg.onsets_s * samplerate).astype(int),
                end_samples=np.round(seg.offsets_s * samplerate).astype(int),
                text=seg.labels,
                annot_path=path,
                audio_path=notated,
            ).to_file(tmp)
        elif format == "notmat":
            if not samplerate:
                raise ValueError("format 'notmat' stores the sample rate: pass samplerate")
            if not path.name.endswith(".not.mat"):
                raise ValueError(f"a notmat file name must end in '.not.mat': {path}")
            if any(len(label) != 1 for label in seg.labels):
                raise ValueError("format 'notmat' stores single-character labels only")
            audio_name = tmp.name[: -len(".not.mat")]
            crowsetta.formats.seq.NotMat(
                onsets=seg.onsets_s,
                offsets=seg.offsets_s,
                labels=seg.labels.astype("<U1"),
                annot_path=path,
                audio_path=pathlib.Path(notated or audio_name),
            ).to_file(
                samp_freq=int(samplerate),
                threshold=5000,
                min_syl_dur=0.02,
                min_silent_dur=0.002,
                fname=tmp.parent / audio_name,
            )
        elif format == "generic-seq":
            clean = [
                crowsetta.Annotation(
                    annot_path=a.annot_path,
                    notated_path=a.notated_path,
                    seq=crowsetta.Sequence.from_keyword(
                        onsets_s=t.onsets_s, offsets_s=t.offsets_s, labels=t.labels
                    ),
                )
                for a, t in zip(annots, tables, strict=True)
            ]
            crowsetta.formats.seq.GenericSeq(annots=clean).to_file(tmp)

    return _write_atomically(path, overwrite, write)
