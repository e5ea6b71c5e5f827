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

#: share of a segment's frames the model must label otherwise for the segment to be flagged
CANAPY_THRESHOLD: float = 2.0 / 3.0


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
        Centre (s) of each frame.
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


def review_rows(
    review: str | os.PathLike | pd.DataFrame,
    audio_path: str | os.PathLike,
    base: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The rows of a review list whose ``audio_path`` is the recording ``audio_path``.

    Parameters
    ----------
    review : path or pandas.DataFrame
        A review list CSV (:func:`vocalpy_xai.review.read_review_list`) or its table.
    audio_path : path
        The open recording.
    base : path, optional
        Folder that relative ``audio_path`` entries of the list are relative to (default:
        the review list's folder, then the current directory).

    Returns
    -------
    rows : pandas.DataFrame
        The matching rows in the list's order (by ``rank`` when it has one), with the
        list's columns; ``onset_s`` and ``offset_s`` as floats. Empty when none match.
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
    rows = table.loc[keep]
    if "rank" in rows.columns:
        rows = rows.sort_values("rank", kind="stable")
    rows = rows.reset_index(drop=True)
    for col in ("onset_s", "offset_s"):
        if col in rows.columns:
            rows[col] = rows[col].astype(float)
    return rows
