"""Evaluate a syllable annotation model against human annotation.

Every metric here wraps the implementation that the VocalPy ecosystem already has:

- syllable error rate: the Levenshtein distance of :mod:`vak.metrics`
  (``vak.metrics.distance.functional.levenshtein``), normalised by the number of true
  syllables as ``vak.metrics.distance.functional.character_error_rate`` does, but on label
  sequences of any strings (vak's rate takes ``str`` only, i.e. one-character labels);
- frame accuracy: ``vak.metrics.classification.functional.accuracy`` (the number vak's own
  evaluation reports), after padding frames are removed;
- boundary precision, recall and F1 with a tolerance:
  :func:`vocalpy.metrics.segmentation.ir.precision_recall_fscore`, applied to onsets and to
  offsets separately, and pooled (see :func:`boundary_scores`);
- per-class scores and confusion matrices: :mod:`sklearn.metrics` (scikit-learn is installed
  with librosa).

vak is slow to import (a few seconds), so it is imported inside the functions that use it.

Examples
--------
>>> import vocalpy_xai as vx
>>> from vocalpy_xai import metrics
>>> annots = vx.read_annotations(
...     "examples/data/bird0/Annotation.xml", "birdsong-recognition-dataset")
>>> true = [vx.SegmentTable.from_annotation(a) for a in annots]
>>> result = metrics.evaluate(true, true)
>>> result["syllable_error_rate"], result["boundaries"]["f1"]
(0.0, 1.0)
"""

from __future__ import annotations

import math
import pathlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .io.annotations import SegmentTable
from .report.plots import save  # also selects the headless Agg backend
from .store.labels import PAD_LABEL, frame_times
from .store.labels import class_names as _default_class_names

#: default boundary tolerance (s)
DEFAULT_TOLERANCE_S: float = 0.010

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "boundary_errors",
    "boundary_errors_corpus",
    "boundary_scores",
    "boundary_scores_corpus",
    "confusion_matrix",
    "evaluate",
    "frame_accuracy",
    "levenshtein_distance",
    "per_class_scores",
    "plot_confusion_matrix",
    "segment_level_labels",
    "syllable_error_rate",
    "syllable_error_rate_corpus",
]


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------


def _paired_frames(
    y_true: np.ndarray, y_pred: np.ndarray, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Flatten two frame-label arrays, check their lengths agree, drop padding frames."""
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.size != y_pred.size:
        raise ValueError(
            f"frame label arrays differ in length: y_true has {y_true.size} frames, "
            f"y_pred has {y_pred.size}"
        )
    if ignore_index is not None:
        keep = y_true != ignore_index
        y_true, y_pred = y_true[keep], y_pred[keep]
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def _check_class_range(y: np.ndarray, n_classes: int, name: str) -> None:
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise ValueError(
            f"{name} holds {int(bad.sum())} value(s) outside the {n_classes} classes "
            f"0..{n_classes - 1}, e.g. {int(y[bad][0])}"
        )


def frame_accuracy(
    y_true: np.ndarray, y_pred: np.ndarray, ignore_index: int | None = PAD_LABEL
) -> float:
    """Fraction of frames whose predicted class equals the true class.

    Wraps ``vak.metrics.classification.functional.accuracy``.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Class index of every frame (any shape; flattened). Same number of frames.
    ignore_index : int or None
        Frames with ``y_true == ignore_index`` are padding and are not scored
        (default :data:`vocalpy_xai.store.PAD_LABEL`, -1). None scores every frame.

    Returns
    -------
    accuracy : float
        Between 0 and 1.

    Raises
    ------
    ValueError
        The arrays differ in length (the message gives both), or no frame is left to score.

    Examples
    --------
    >>> frame_accuracy(np.array([0, 1, 1, -1]), np.array([0, 1, 2, 5]))
    0.6666666666666666
    """
    y_true, y_pred = _paired_frames(y_true, y_pred, ignore_index)
    if y_true.size == 0:
        raise ValueError("no frames to score (every frame is padding, or the arrays are empty)")
    import torch
    from vak.metrics.classification.functional import accuracy

    return float(accuracy(torch.from_numpy(y_pred), torch.from_numpy(y_true)))


def confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    normalize: str | None = None,
    ignore_index: int | None = PAD_LABEL,
) -> np.ndarray:
    """Confusion matrix: rows are true classes, columns predicted classes.

    Wraps :func:`sklearn.metrics.confusion_matrix` with the classes fixed to
    ``0 .. n_classes - 1`` (absent classes get empty rows and columns).

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Class indices (frames, or one per segment), same length.
    n_classes : int
        Number of classes.
    normalize : {None, "true"}
        None: counts (int64). ``"true"``: each row divided by its total, so a row gives the
        fractions of that true class predicted as each class (rows of absent classes are 0).
    ignore_index : int or None
        Items with ``y_true == ignore_index`` are left out (padding frames).

    Returns
    -------
    cm : numpy.ndarray
        Shape ``(n_classes, n_classes)``; ``cm[i, j]`` counts items of true class ``i``
        predicted as ``j``.

    Raises
    ------
    ValueError
        Lengths differ, a value lies outside ``0 .. n_classes - 1``, or ``normalize`` is
        unknown.

    Examples
    --------
    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), n_classes=3)
    array([[1, 0, 0],
           [1, 1, 0],
           [0, 0, 0]])
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', not {normalize!r}")
    y_true, y_pred = _paired_frames(y_true, y_pred, ignore_index)
    _check_class_range(y_true, n_classes, "y_true")
    _check_class_range(y_pred, n_classes, "y_pred")
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    labels = np.arange(n_classes)
    if y_true.size == 0:
        return np.zeros((n_classes, n_classes), float if normalize else np.int64)
    cm = sk_confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    return cm if normalize else cm.astype(np.int64)


def per_class_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    ignore_index: int | None = PAD_LABEL,
) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class.

    Wraps :func:`sklearn.metrics.precision_recall_fscore_support` (a score whose
    denominator is 0 is reported as 0). Give frame labels for frame-level scores, or the
    output of :func:`segment_level_labels` for segment-level scores.

    Parameters
    ----------
    y_true, y_pred : numpy.ndarray
        Class indices, same length; index ``i`` names ``class_names[i]``.
    class_names : sequence of str
        Name of every class, in index order.
    ignore_index : int or None
        Items with ``y_true == ignore_index`` are left out (padding frames).

    Returns
    -------
    scores : pandas.DataFrame
        Index ``class`` (the names), columns ``precision``, ``recall``, ``f1`` (float) and
        ``support`` (int: number of true items of the class).

    Examples
    --------
    >>> df = per_class_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), ["a", "b"])
    >>> df[["precision", "recall", "support"]].to_dict("index")  # doctest: +NORMALIZE_WHITESPACE
    {'a': {'precision': 0.5, 'recall': 1.0, 'support': 1},
     'b': {'precision': 1.0, 'recall': 0.5, 'support': 2}}
    """
    n_classes = len(class_names)
    y_true, y_pred = _paired_frames(y_true, y_pred, ignore_index)
    _check_class_range(y_true, n_classes, "y_true")
    _check_class_range(y_pred, n_classes, "y_pred")
    from sklearn.metrics import precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(n_classes), zero_division=0.0
    )
    return pd.DataFrame(
        {
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(np.int64),
        },
        index=pd.Index([str(c) for c in class_names], name="class"),
    )


def segment_level_labels(
    segments: SegmentTable,
    y_pred: np.ndarray,
    times: np.ndarray,
    class_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """True class and majority-vote predicted class of every true segment.

    The predicted class of a segment is the class predicted most often among the frames
    whose centre lies inside it (``onset <= t < offset``, the rule of
    :func:`vocalpy_xai.store.frame_labels`); ties go to the lowest class index, and a
    segment shorter than a frame takes the frame nearest its midpoint. Background counts in
    the vote, so a missed syllable is predicted as background.

    Parameters
    ----------
    segments : SegmentTable
        True segments of one file.
    y_pred : numpy.ndarray
        Predicted class index of every frame of that file.
    times : numpy.ndarray
        Centre time (s) of every frame, e.g. :func:`vocalpy_xai.store.frame_times`.
    class_names : sequence of str
        Name of every class, in index order; every segment label must be one of them.

    Returns
    -------
    y_true, y_pred : numpy.ndarray of int64
        One class index per segment.

    Examples
    --------
    >>> seg = SegmentTable(np.array([0.0]), np.array([0.004]), np.array(["a"]))
    >>> segment_level_labels(seg, np.array([1, 2, 2, 2, 0]), np.arange(5) * 1e-3,
    ...                      ["background", "a", "b"])
    (array([1]), array([2]))
    """
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    times = np.asarray(times, float).ravel()
    if y_pred.size != times.size:
        raise ValueError(
            f"y_pred has {y_pred.size} frames but times has {times.size}; they must match"
        )
    index = {str(c): i for i, c in enumerate(class_names)}
    unknown = sorted(set(map(str, segments.labels)) - set(index))
    if unknown:
        raise ValueError(f"segment label(s) {unknown} are not in class_names {list(index)}")
    _check_class_range(y_pred, len(class_names), "y_pred")
    true_idx = np.array([index[str(lab)] for lab in segments.labels], np.int64)
    starts = np.searchsorted(times, segments.onsets_s, side="left")
    stops = np.searchsorted(times, segments.offsets_s, side="left")
    voted = np.empty(len(segments), np.int64)
    for i, (a, b) in enumerate(zip(starts, stops, strict=True)):
        if b > a:
            voted[i] = np.bincount(y_pred[a:b], minlength=len(class_names)).argmax()
        elif times.size:
            mid = 0.5 * (segments.onsets_s[i] + segments.offsets_s[i])
            voted[i] = y_pred[int(np.argmin(np.abs(times - mid)))]
        else:
            raise ValueError("no frames: cannot vote on segment labels")
    return true_idx, voted


# --------------------------------------------------------------------------------------------
# label sequences
# --------------------------------------------------------------------------------------------


def _as_labels(labels) -> list[str]:
    if isinstance(labels, SegmentTable):
        labels = labels.labels
    if isinstance(labels, str):
        return list(labels)
    return [str(x) for x in labels]


def levenshtein_distance(true_labels: Sequence[str], pred_labels: Sequence[str]) -> int:
    """Fewest insertions, deletions and substitutions turning one label sequence into the other.

    Wraps ``vak.metrics.distance.functional.levenshtein`` on sequences of labels (each label
    one token, whatever its length).

    Parameters
    ----------
    true_labels, pred_labels : sequence of str, str or SegmentTable
        Label sequences. A ``str`` is a sequence of one-character labels; a
        :class:`SegmentTable` gives its ``labels``.

    Returns
    -------
    distance : int

    Examples
    --------
    >>> levenshtein_distance(["a", "b", "c"], ["a", "c"])
    1
    """
    from vak.metrics.distance.functional import levenshtein

    # vak compares with ``==`` first, so pass lists (never numpy arrays); it returns an int
    # for equal or empty inputs and a torch tensor otherwise.
    return int(levenshtein(_as_labels(pred_labels), _as_labels(true_labels)))


def syllable_error_rate(true_labels: Sequence[str], pred_labels: Sequence[str]) -> float:
    """Syllable error rate of one file: Levenshtein distance / number of true syllables.

    The definition of vak's ``character_error_rate`` (the "segment error rate" of
    TweetyNet), for labels of any length. An empty prediction gives 1.0; a perfect one 0.0.

    Parameters
    ----------
    true_labels, pred_labels : sequence of str, str or SegmentTable
        Label sequences, as for :func:`levenshtein_distance`.

    Returns
    -------
    ser : float
        0 is perfect; it can exceed 1 when many syllables are inserted.

    Raises
    ------
    ValueError
        No true syllables but some predicted (the rate is undefined, as in vak). Both empty
        gives 0.0.

    Examples
    --------
    >>> syllable_error_rate("abcabc", "abcab")
    0.16666666666666666
    """
    true_labels, pred_labels = _as_labels(true_labels), _as_labels(pred_labels)
    if not true_labels:
        if not pred_labels:
            return 0.0
        raise ValueError("syllable error rate is undefined with no true syllables")
    return levenshtein_distance(true_labels, pred_labels) / len(true_labels)


def syllable_error_rate_corpus(
    list_true: Sequence[Sequence[str]], list_pred: Sequence[Sequence[str]]
) -> float:
    """Syllable error rate of many files: sum of Levenshtein distances / total true syllables.

    Each file is compared with its own prediction (no edits across files). Long songs weigh
    more than short ones, unlike a mean of per-file rates.

    Parameters
    ----------
    list_true, list_pred : sequence of label sequences
        One label sequence (or :class:`SegmentTable`) per file, in the same order.

    Returns
    -------
    ser : float

    Raises
    ------
    ValueError
        The lists differ in length, or there are no true syllables but some predicted.

    Examples
    --------
    >>> syllable_error_rate_corpus(["abc", "ab"], ["abc", "b"])
    0.2
    """
    if len(list_true) != len(list_pred):
        raise ValueError(
            f"{len(list_true)} true label sequences but {len(list_pred)} predicted ones"
        )
    trues = [_as_labels(t) for t in list_true]
    preds = [_as_labels(p) for p in list_pred]
    n_true = sum(len(t) for t in trues)
    distance = sum(levenshtein_distance(t, p) for t, p in zip(trues, preds, strict=True))
    if n_true == 0:
        if distance == 0:
            return 0.0
        raise ValueError("syllable error rate is undefined with no true syllables")
    return distance / n_true


# --------------------------------------------------------------------------------------------
# boundaries
# --------------------------------------------------------------------------------------------


def _prf(n_hits: int, n_true: int, n_pred: int) -> dict[str, float | int]:
    """Precision, recall, F1 from counts, with vocalpy's conventions for empty inputs."""
    if n_true == 0 and n_pred == 0:
        precision = recall = f1 = 1.0  # vocalpy: nothing to find, nothing found
    elif n_true == 0 or n_pred == 0:
        precision = recall = f1 = 0.0
    else:
        precision, recall = n_hits / n_pred, n_hits / n_true
        f1 = 0.0 if n_hits == 0 else 2 * precision * recall / (precision + recall)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "n_hits": int(n_hits),
        "n_true": int(n_true),
        "n_pred": int(n_pred),
    }


def _boundary_hits(
    true_times: np.ndarray,
    pred_times: np.ndarray,
    tolerance: float,
    decimals: int | None,
    what: str,
) -> int:
    """Number of hits found by vocalpy's information-retrieval metric."""
    from vocalpy.metrics.segmentation.ir import precision_recall_fscore

    ref = np.asarray(true_times, np.float64)
    hyp = np.asarray(pred_times, np.float64)
    try:
        _, n_hits, _ = precision_recall_fscore(hyp, ref, "fscore", float(tolerance), decimals)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from err
    return int(n_hits)


def _counts(
    true: SegmentTable, pred: SegmentTable, tolerance: float, decimals: int | None
) -> dict[str, tuple[int, int, int]]:
    name = f" of {true.annot_path}" if true.annot_path is not None else ""
    out = {}
    for kind in ("onset", "offset"):
        t, p = getattr(true, f"{kind}s_s"), getattr(pred, f"{kind}s_s")
        hits = _boundary_hits(t, p, tolerance, decimals, f"{kind}s{name}")
        out[kind] = (hits, len(t), len(p))
    return out


def _scores_from_counts(counts: Mapping[str, Sequence[int]], tolerance: float) -> dict[str, Any]:
    hits = counts["onset"][0] + counts["offset"][0]
    n_true = counts["onset"][1] + counts["offset"][1]
    n_pred = counts["onset"][2] + counts["offset"][2]
    return {
        "tolerance_s": float(tolerance),
        **_prf(hits, n_true, n_pred),
        "onset": _prf(*counts["onset"]),
        "offset": _prf(*counts["offset"]),
    }


def boundary_scores(
    true: SegmentTable,
    pred: SegmentTable,
    tolerance: float = DEFAULT_TOLERANCE_S,
    decimals: int | None = None,
) -> dict[str, Any]:
    """Boundary precision, recall and F1 of one file, within a tolerance.

    Hits are found by :func:`vocalpy.metrics.segmentation.ir.precision_recall_fscore`
    separately for onsets (predicted onsets against true onsets) and offsets; the pooled
    scores count onset hits plus offset hits over all onsets plus offsets. vocalpy matches
    one to one: every pair with ``|true - pred| <= tolerance`` (inclusive) is a candidate,
    and pairs are accepted greedily from the smallest difference, each boundary used at most
    once. Before matching, vocalpy rounds times to ``decimals`` places (default 3: ms).

    Onsets and offsets are matched separately, not as one sorted array of boundaries (as
    :func:`vocalpy.metrics.segmentation.ir.concat_starts_and_stops` would give), so that a
    predicted onset never counts for a true offset, and so that touching segments (an
    offset equal to the next onset, which occur in the Bird0 annotation) are valid.

    Parameters
    ----------
    true, pred : SegmentTable
        True and predicted segments of the same file.
    tolerance : float
        Largest hit distance in seconds (default 0.010).
    decimals : int, optional
        Rounding before matching, passed to vocalpy (None: its default, 3).

    Returns
    -------
    scores : dict
        ``tolerance_s``, ``precision``, ``recall``, ``f1``, ``n_hits``, ``n_true``,
        ``n_pred`` (onsets and offsets pooled), and the same keys for ``"onset"`` and
        ``"offset"`` alone. As in vocalpy: with no predicted boundaries, precision,
        recall and F1 are 0; with neither true nor predicted boundaries they are 1.

    Raises
    ------
    ValueError
        Onsets (or offsets) are not strictly increasing, or are negative; the message says
        which and names the file.

    Examples
    --------
    >>> true = SegmentTable(np.array([0.10, 0.30]), np.array([0.20, 0.40]), np.array(["a", "b"]))
    >>> pred = SegmentTable(np.array([0.105]), np.array([0.25]), np.array(["a"]))
    >>> s = boundary_scores(true, pred, tolerance=0.010)
    >>> s["n_hits"], s["precision"], s["recall"], s["onset"]["recall"]
    (1, 0.5, 0.25, 0.5)
    """
    return _scores_from_counts(_counts(true, pred, tolerance, decimals), tolerance)


def boundary_scores_corpus(
    list_true: Sequence[SegmentTable],
    list_pred: Sequence[SegmentTable],
    tolerance: float = DEFAULT_TOLERANCE_S,
    decimals: int | None = None,
) -> dict[str, Any]:
    """Boundary precision, recall and F1 of many files: hits and counts summed over files.

    Matching is done within each file as in :func:`boundary_scores`; the ratios are then
    taken over the sums (micro average).

    Parameters
    ----------
    list_true, list_pred : sequence of SegmentTable
        One per file, in the same order.
    tolerance : float
        Largest hit distance in seconds.
    decimals : int, optional
        Rounding before matching (vocalpy's default 3 when None).

    Returns
    -------
    scores : dict
        The keys of :func:`boundary_scores`, plus ``n_files``.

    Examples
    --------
    >>> seg = SegmentTable(np.array([0.1]), np.array([0.2]), np.array(["a"]))
    >>> boundary_scores_corpus([seg, seg], [seg, seg])["n_hits"]
    4
    """
    if len(list_true) != len(list_pred):
        raise ValueError(f"{len(list_true)} true segment tables but {len(list_pred)} predicted")
    total = {"onset": np.zeros(3, np.int64), "offset": np.zeros(3, np.int64)}
    for true, pred in zip(list_true, list_pred, strict=True):
        for kind, c in _counts(true, pred, tolerance, decimals).items():
            total[kind] += c
    out = _scores_from_counts({k: [int(x) for x in v] for k, v in total.items()}, tolerance)
    out["n_files"] = len(list_true)
    return out


def _match_by_overlap(true: SegmentTable, pred: SegmentTable) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of true to predicted segments maximising the total overlap."""
    if len(true) == 0 or len(pred) == 0:
        return np.array([], np.int64), np.array([], np.int64)
    from scipy.optimize import linear_sum_assignment

    overlap = np.minimum.outer(true.offsets_s, pred.offsets_s) - np.maximum.outer(
        true.onsets_s, pred.onsets_s
    )
    overlap = np.clip(overlap, 0.0, None)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    keep = overlap[rows, cols] > 0
    return rows[keep].astype(np.int64), cols[keep].astype(np.int64)


def _errors_summary(
    onset_err: np.ndarray, offset_err: np.ndarray, n_true: int, n_pred: int, tolerance: float
) -> dict[str, Any]:
    def stat(fn, x):
        return float(fn(x)) if x.size else math.nan

    return {
        "tolerance_s": float(tolerance),
        "n_true": int(n_true),
        "n_pred": int(n_pred),
        "n_matched": int(onset_err.size),
        "median_onset_error_s": stat(np.median, onset_err),
        "median_offset_error_s": stat(np.median, offset_err),
        "mean_onset_error_s": stat(np.mean, onset_err),
        "mean_offset_error_s": stat(np.mean, offset_err),
        "onset_within_tolerance": stat(np.mean, onset_err <= tolerance + 1e-9),
        "offset_within_tolerance": stat(np.mean, offset_err <= tolerance + 1e-9),
    }


def _matched_errors(true: SegmentTable, pred: SegmentTable) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = _match_by_overlap(true, pred)
    return (
        np.abs(pred.onsets_s[cols] - true.onsets_s[rows]),
        np.abs(pred.offsets_s[cols] - true.offsets_s[rows]),
    )


def boundary_errors(
    true: SegmentTable, pred: SegmentTable, tolerance: float = DEFAULT_TOLERANCE_S
) -> dict[str, Any]:
    """Absolute onset and offset errors (s) of matched segments of one file.

    Each true segment is matched to at most one predicted segment and vice versa, choosing
    the pairs that maximise the total temporal overlap
    (:func:`scipy.optimize.linear_sum_assignment`); pairs that do not overlap are not
    matches. A predicted segment that merges two true ones is matched to one of them only;
    the other is unmatched. Errors are not limited by ``tolerance``: it only sets the
    reported fractions within tolerance.

    Parameters
    ----------
    true, pred : SegmentTable
        True and predicted segments of the same file.
    tolerance : float
        Seconds; used for ``onset_within_tolerance`` and ``offset_within_tolerance``.

    Returns
    -------
    errors : dict
        ``n_true``, ``n_pred``, ``n_matched``; ``median_onset_error_s``,
        ``median_offset_error_s``, ``mean_onset_error_s``, ``mean_offset_error_s``;
        ``onset_within_tolerance``, ``offset_within_tolerance`` (fractions of matched
        segments); ``tolerance_s``. Statistics are NaN when nothing is matched.

    Examples
    --------
    >>> true = SegmentTable(np.array([0.10, 0.30]), np.array([0.20, 0.40]), np.array(["a", "b"]))
    >>> pred = SegmentTable(np.array([0.11, 0.29]), np.array([0.20, 0.43]), np.array(["a", "b"]))
    >>> e = boundary_errors(true, pred)
    >>> round(e["median_onset_error_s"], 3), round(e["median_offset_error_s"], 3)
    (0.01, 0.015)
    """
    onset_err, offset_err = _matched_errors(true, pred)
    return _errors_summary(onset_err, offset_err, len(true), len(pred), tolerance)


def boundary_errors_corpus(
    list_true: Sequence[SegmentTable],
    list_pred: Sequence[SegmentTable],
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> dict[str, Any]:
    """:func:`boundary_errors` over many files: matched within each file, errors pooled.

    Parameters
    ----------
    list_true, list_pred : sequence of SegmentTable
        One per file, in the same order.
    tolerance : float
        Seconds; used for the fractions within tolerance.

    Returns
    -------
    errors : dict
        The keys of :func:`boundary_errors` (medians over all matched segments of all files).

    Examples
    --------
    >>> seg = SegmentTable(np.array([0.1]), np.array([0.2]), np.array(["a"]))
    >>> boundary_errors_corpus([seg, seg], [seg, seg])["n_matched"]
    2
    """
    if len(list_true) != len(list_pred):
        raise ValueError(f"{len(list_true)} true segment tables but {len(list_pred)} predicted")
    on, off = [np.array([])], [np.array([])]
    for true, pred in zip(list_true, list_pred, strict=True):
        a, b = _matched_errors(true, pred)
        on.append(a)
        off.append(b)
    return _errors_summary(
        np.concatenate(on),
        np.concatenate(off),
        sum(len(t) for t in list_true),
        sum(len(p) for p in list_pred),
        tolerance,
    )


# --------------------------------------------------------------------------------------------
# figure
# --------------------------------------------------------------------------------------------


def plot_confusion_matrix(
    cm: np.ndarray,
    class_names: Sequence[str],
    title: str | None = None,
    percent: bool | None = None,
) -> plt.Figure:
    """Draw a confusion matrix with its values written in the cells.

    Parameters
    ----------
    cm : numpy.ndarray
        ``(n_classes, n_classes)``, rows true classes, columns predicted ones, e.g. from
        :func:`confusion_matrix`.
    class_names : sequence of str
        Tick labels, in index order.
    title : str, optional
        Figure title.
    percent : bool, optional
        Write cells as percentages (of each row when ``cm`` holds counts). Default: True for
        a float matrix (a normalised one), False for counts.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Save it with :func:`vocalpy_xai.report.save`. Colour shows the fraction of each
        row, so rare classes are as visible as common ones; zero cells are left blank.

    Examples
    --------
    >>> cm = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), n_classes=2)
    >>> fig = plot_confusion_matrix(cm, ["a", "b"], title="frames")
    """
    cm = np.asarray(cm)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"cm has shape {cm.shape} but there are {n} class names")
    if percent is None:
        percent = not np.issubdtype(cm.dtype, np.integer)
    row_sum = cm.sum(axis=1, keepdims=True).astype(float)
    frac = np.divide(cm, row_sum, out=np.zeros(cm.shape, float), where=row_sum > 0)
    shown = (frac if np.issubdtype(cm.dtype, np.integer) else cm) * 100 if percent else cm

    size = max(3.5, 0.55 * n + 1.8)
    fig, ax = plt.subplots(figsize=(size + 0.9, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("fraction of true class")
    fontsize = 9 if n <= 12 else 7 if n <= 25 else 5
    for i in range(n):
        for j in range(n):
            if cm[i, j] == 0:
                continue
            text = f"{shown[i, j]:.0f}%" if percent else f"{shown[i, j]:g}"
            if percent and 0 < shown[i, j] < 1:
                text = "<1%"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ticks = np.arange(n)
    ax.set_xticks(
        ticks,
        [str(c) for c in class_names],
        rotation=45 if n > 9 else 0,
        ha="right" if n > 9 else "center",
    )
    ax.set_yticks(ticks, [str(c) for c in class_names])
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# everything
# --------------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    """Python builtins only: numpy scalars and arrays converted, NaN and inf as None."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, pathlib.PurePath):
        return str(x)
    if isinstance(x, np.str_):
        return str(x)
    return x


def _frame_list(frames) -> list[np.ndarray]:
    if isinstance(frames, np.ndarray):
        return [frames]
    return [np.asarray(f) for f in frames]


def _scores_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {"class": name, **row} for name, row in zip(df.index, df.to_dict("records"), strict=True)
    ]


def evaluate(
    true_segments: Sequence[SegmentTable],
    pred_segments: Sequence[SegmentTable],
    y_true_frames: np.ndarray | Sequence[np.ndarray] | None = None,
    y_pred_frames: np.ndarray | Sequence[np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE_S,
    frame_s: float | None = None,
    figure_dir: str | pathlib.Path | None = None,
    frame_duration_s: float | None = None,
) -> dict[str, Any]:
    """Every metric of a model's annotation of many files, as one JSON-serialisable dict.

    Parameters
    ----------
    true_segments, pred_segments : sequence of SegmentTable
        Human and model annotation, one table per file, in the same order.
    y_true_frames, y_pred_frames : numpy.ndarray or sequence of them, optional
        Frame class indices (one array per file, or one array of all frames); padding
        frames in ``y_true_frames`` are -1. Give both for the frame-level metrics.
    class_names : sequence of str, optional
        Name of each class index. Default: :func:`vocalpy_xai.store.class_names` of the
        true labels (background first), the label map of a spectrogram store.
    tolerance : float
        Boundary tolerance in seconds (default 0.010).
    frame_s : float, optional
        Seconds from one frame to the next; frame ``i`` of a file is at ``i * frame_s``
        (:func:`vocalpy_xai.store.frame_times`). With per-file frame arrays it adds the
        segment-level per-class scores (majority vote, :func:`segment_level_labels`).
    figure_dir : str or pathlib.Path, optional
        Where to write the confusion matrices as PNG (``confusion_frames.png``,
        ``confusion_segments.png``); their paths are listed under ``"figures"``.
    frame_duration_s : float, optional
        Deprecated name of ``frame_s``.

    Returns
    -------
    result : dict
        ``n_files``, ``n_true_segments``, ``n_pred_segments``, ``tolerance_s``;
        ``levenshtein_distance`` (summed) and ``syllable_error_rate`` (corpus);
        ``boundaries`` (:func:`boundary_scores_corpus`); ``boundary_errors``
        (:func:`boundary_errors_corpus`); ``per_file`` (one dict per file: ``index``,
        ``annot_path`` (one annotation file may hold many recordings), ``n_true``,
        ``n_pred``, ``levenshtein_distance``, ``syllable_error_rate``, ``boundary_f1``);
        with frames, ``class_names`` and ``frames`` (``accuracy``,
        ``per_class`` records, ``confusion_matrix`` counts), and with
        ``frame_s`` also ``segments`` (the same, per true segment). Only Python
        builtins; NaN (e.g. no matched segment) is written as None.

    Examples
    --------
    >>> import json
    >>> seg = SegmentTable(np.array([0.1]), np.array([0.2]), np.array(["a"]))
    >>> json.dumps(evaluate([seg], [seg]))[:24]
    '{"n_files": 1, "n_true_s'
    """
    if frame_duration_s is not None:
        warnings.warn(
            "evaluate(frame_duration_s=...) is now evaluate(frame_s=...)",
            DeprecationWarning,
            stacklevel=2,
        )
        frame_s = frame_s if frame_s is not None else frame_duration_s
    true_segments, pred_segments = list(true_segments), list(pred_segments)
    if len(true_segments) != len(pred_segments):
        raise ValueError(
            f"{len(true_segments)} true segment tables but {len(pred_segments)} predicted"
        )
    per_file = []
    total_distance = 0
    for i, (true, pred) in enumerate(zip(true_segments, pred_segments, strict=True)):
        distance = levenshtein_distance(true.labels, pred.labels)
        total_distance += distance
        ser = distance / len(true) if len(true) else (0.0 if distance == 0 else math.nan)
        per_file.append(
            {
                "index": i,
                "annot_path": true.annot_path,
                "n_true": len(true),
                "n_pred": len(pred),
                "levenshtein_distance": distance,
                "syllable_error_rate": ser,
                "boundary_f1": boundary_scores(true, pred, tolerance)["f1"],
            }
        )
    n_true = sum(len(t) for t in true_segments)
    result: dict[str, Any] = {
        "n_files": len(true_segments),
        "n_true_segments": n_true,
        "n_pred_segments": sum(len(p) for p in pred_segments),
        "tolerance_s": tolerance,
        "levenshtein_distance": total_distance,
        "syllable_error_rate": (
            total_distance / n_true if n_true else (0.0 if total_distance == 0 else math.nan)
        ),
        "boundaries": boundary_scores_corpus(true_segments, pred_segments, tolerance),
        "boundary_errors": boundary_errors_corpus(true_segments, pred_segments, tolerance),
        "per_file": per_file,
    }
    if (y_true_frames is None) != (y_pred_frames is None):
        raise ValueError("give both y_true_frames and y_pred_frames, or neither")
    figures = {}
    if y_true_frames is not None:
        trues, preds = _frame_list(y_true_frames), _frame_list(y_pred_frames)
        if len(trues) != len(preds):
            raise ValueError(f"{len(trues)} true frame arrays but {len(preds)} predicted")
        for i, (t, p) in enumerate(zip(trues, preds, strict=True)):
            if t.size != p.size:
                raise ValueError(
                    f"frame arrays of file {i} differ in length: y_true has {t.size} frames, "
                    f"y_pred has {p.size}"
                )
        if class_names is None:
            class_names = _default_class_names(np.concatenate([t.labels for t in true_segments]))
        class_names = [str(c) for c in class_names]
        y_true = np.concatenate([t.ravel() for t in trues])
        y_pred = np.concatenate([p.ravel() for p in preds])
        cm = confusion_matrix(y_true, y_pred, len(class_names))
        result["class_names"] = class_names
        result["frames"] = {
            "n_frames": int((y_true != PAD_LABEL).sum()),
            "accuracy": frame_accuracy(y_true, y_pred),
            "per_class": _scores_records(per_class_scores(y_true, y_pred, class_names)),
            "confusion_matrix": cm,
        }
        figures["frames"] = cm
        if frame_s is not None and len(preds) == len(true_segments):
            seg_true, seg_pred = [], []
            for segs, p in zip(true_segments, preds, strict=True):
                times = frame_times(p.size, frame_s)
                a, b = segment_level_labels(segs, p, times, class_names)
                seg_true.append(a)
                seg_pred.append(b)
            seg_true, seg_pred = np.concatenate(seg_true), np.concatenate(seg_pred)
            cm = confusion_matrix(seg_true, seg_pred, len(class_names))
            result["segments"] = {
                "n_segments": int(seg_true.size),
                "accuracy": (
                    frame_accuracy(seg_true, seg_pred, ignore_index=None) if seg_true.size else None
                ),
                "per_class": _scores_records(per_class_scores(seg_true, seg_pred, class_names)),
                "confusion_matrix": cm,
            }
            figures["segments"] = cm
    if figure_dir is not None and figures:
        paths = {}
        for level, cm in figures.items():
            fig = plot_confusion_matrix(cm, class_names, title=f"confusion matrix ({level})")
            paths[level] = save(fig, pathlib.Path(figure_dir) / f"confusion_{level}.png")
        result["figures"] = paths
    return _jsonable(result)
