"""Segments where the model disagrees with the annotation (canapy's correction rule).

Canapy flags an annotated segment when the model gives another label to at least two thirds
of the segment's frames; segments are ranked by that disagreement share, worst first.
"""

from __future__ import annotations

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
