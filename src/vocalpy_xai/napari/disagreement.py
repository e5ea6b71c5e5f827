"""Segments where the model disagrees with the annotation (canapy's correction rule).

Canapy flags an annotated segment when the model gives another label to at least two thirds
of the segment's frames; segments are ranked by that disagreement share, worst first.

:func:`review_rows` reads the rows of one recording from a review list written by the
disagreement finder (``vocalpy-xai review find``,
:func:`vocalpy_xai.review.write_review_list`), for the *Disagreements* panel.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..io.annotations import SegmentTable
from ..review.finder import CANAPY_THRESHOLD


def rank_disagreements(
    segments: SegmentTable,
    frame_labels: np.ndarray,
    frame_times: np.ndarray,
    class_names: Sequence[str],
    threshold: float = CANAPY_THRESHOLD,
    only_flagged: bool = False,
) -> pd.DataFrame:
    """Annotated segments ranked by the share of their frames the model labels otherwise.

    Parameters
    ----------
    segments : SegmentTable
        The annotation.
    frame_labels : numpy.ndarray
        The model's class index of each frame.
    frame_times : numpy.ndarray
        Time (s) of each frame (:func:`vocalpy_xai.store.frame_times`).
    class_names : sequence of str
        Name of each class index.
    threshold : float
        Share at or above which a segment is flagged (default 2/3, canapy's rule).
    only_flagged : bool
        Keep only flagged segments.

    Returns
    -------
    table : pandas.DataFrame
        One row per segment (with at least one frame), sorted by ``share`` descending:
        ``segment`` (index in ``segments``), ``onset_s``, ``offset_s``, ``label``,
        ``model_label`` (the model's majority label), ``share``, ``n_frames``, ``flagged``.
    """
    frame_labels = np.asarray(frame_labels)
    frame_times = np.asarray(frame_times, float)
    names = np.asarray([str(c) for c in class_names])
    rows = []
    for i, (a, b, lab) in enumerate(
        zip(segments.onsets_s, segments.offsets_s, segments.labels, strict=True)
    ):
        inside = (frame_times >= a) & (frame_times < b)
        n = int(inside.sum())
        if n == 0:
            continue
        predicted = names[frame_labels[inside]]
        share = float(np.mean(predicted != str(lab)))
        values, counts = np.unique(predicted, return_counts=True)
        rows.append(
            {
                "segment": i,
                "onset_s": float(a),
                "offset_s": float(b),
                "label": str(lab),
                "model_label": str(values[np.argmax(counts)]),
                "share": share,
                "n_frames": n,
                "flagged": share >= threshold,
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            "segment",
            "onset_s",
            "offset_s",
            "label",
            "model_label",
            "share",
            "n_frames",
            "flagged",
        ],
    )
    if only_flagged:
        table = table[table["flagged"]]
    return table.sort_values(["share", "onset_s"], ascending=[False, True]).reset_index(drop=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (resolved; the same inode where both exist)."""
    pa, pb = pathlib.Path(a).expanduser(), pathlib.Path(b).expanduser()
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def _suffix_length(a: pathlib.PurePath, b: pathlib.PurePath) -> int:
    """How many trailing path components ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(reversed(a.parts), reversed(b.parts), strict=False):
        if x != y:
            break
        n += 1
    return n


def review_rows(
    review: str | os.PathLike | pd.DataFrame,
    audio_path: str | os.PathLike,
    base: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The rows of a review list whose recording is ``audio_path``.

    A row matches when its ``audio_path`` is the recording; else (a copied or moved data set)
    when its ``audio_relpath`` taken from the list's folder is; else when its file name is the
    recording's (the entry sharing the most trailing path components with it): then
    ``rows.attrs["matched_by"]`` is ``"file name"`` and the caller should say so.

    Parameters
    ----------
    review : path or pandas.DataFrame
        A review list CSV (:func:`vocalpy_xai.review.read_review_list`) or its table.
    audio_path : path
        The open recording.
    base : path, optional
        Folder that relative paths of the list are relative to (default: the review list's
        folder, then the current directory).

    Returns
    -------
    rows : pandas.DataFrame
        The matching rows in the list's order (by ``rank`` when it has one), with the
        list's columns; ``onset_s`` and ``offset_s`` as floats. Empty when none match.
        ``rows.attrs["matched_by"]``: ``"path"``, ``"relative path"`` or ``"file name"``.
    """
    from ..review import read_review_list

    if isinstance(review, pd.DataFrame):
        table = review.copy()
        folder = pathlib.Path(base) if base is not None else None
    else:
        table = read_review_list(review)
        folder = pathlib.Path(base) if base is not None else pathlib.Path(review).parent
    cache: dict[str, bool] = {}

    def matches(entry) -> bool:
        key = str(entry)
        if key not in cache:
            p = pathlib.Path(key).expanduser()
            candidates = [p] if p.is_absolute() else [p, *([folder / p] if folder else [])]
            cache[key] = any(same_file(c, audio_path) for c in candidates)
        return cache[key]

    keep = np.array([matches(p) for p in table["audio_path"]], dtype=bool)
    matched_by = "path"
    if not keep.any() and folder is not None and "audio_relpath" in table.columns:
        rel = table["audio_relpath"].fillna("").astype(str)
        keep = np.array([bool(r) and matches(folder / r) for r in rel], dtype=bool)
        matched_by = "relative path"
    if not keep.any():
        target = pathlib.Path(audio_path).resolve()
        entries = table["audio_path"].astype(str)
        names = np.array([pathlib.PurePath(e).name == target.name for e in entries])
        if names.any():
            shared = {e: _suffix_length(pathlib.PurePath(e), target) for e in set(entries[names])}
            best = max(shared.values())
            chosen = sorted(e for e, n in shared.items() if n == best)[0]
            keep = (entries == chosen).to_numpy()
            matched_by = "file name"
    rows = table.loc[keep]
    if "rank" in rows.columns:
        rows = rows.sort_values("rank", kind="stable")
    rows = rows.reset_index(drop=True)
    for col in ("onset_s", "offset_s"):
        if col in rows.columns:
            rows[col] = rows[col].astype(float)
    rows.attrs["matched_by"] = matched_by
    return rows


def version_mismatch(rows: pd.DataFrame, segments: SegmentTable) -> str:
    """A warning when the review rows were computed on another annotation than ``segments``
    (their ``annotation_sha`` differs from :func:`~vocalpy_xai.review.annotation_digest` of the
    segments shown), else ""."""
    from ..review.finder import annotation_digest

    if "annotation_sha" not in rows.columns or not len(rows):
        return ""
    listed = {str(v) for v in rows["annotation_sha"] if str(v) not in ("", "nan")}
    if not listed:
        return ""
    shown = annotation_digest(segments.onsets_s, segments.offsets_s, segments.labels)
    if shown in listed:
        return ""
    return (
        f"this list was computed on another version of the annotation (digest "
        f"{sorted(listed)[0][:8]}, shown: {shown[:8]}): its human labels and times may differ "
        "from the layer's"
    )
