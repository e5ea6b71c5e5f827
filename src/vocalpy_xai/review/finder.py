"""Rank annotated segments by how much the model(s) disagree with their human labels.

For each segment (from a store's annotation) and each model, over the model frames inside
the segment (frame times: :func:`vocalpy_xai.store.frame_times`) — or, for a syllable
classifier (:class:`~vocalpy_xai.review.SegmentPredictions`), over the segment's one
probability vector:

- ``disagreement``: share of frames whose arg-max class differs from the human label.
  Canapy's rule flags a segment when it reaches 2/3 (``flag``);
- ``human_prob``: mean probability of the human label (low: the model finds it unlikely);
- ``confidence``: mean maximum probability (low: the model is unsure of any label);
- ``ensemble_disagreement``: with several models, 1 - (share of models voting for the most
  common segment label); 0 for one model.

Each row carries ``annotation_sha``, a digest of its recording's annotation as the finder saw it
(:func:`annotation_digest`): the napari panel compares it with the annotation it shows and warns
when they differ (the list was computed on another annotation version). ``audio_relpath`` is the
recording's path relative to the list, filled in by
:func:`~vocalpy_xai.review.write_review_list` so that a list moved with its data set still finds
its recordings.

Values are averaged over models; ``model_label`` is the majority frame label of the averaged
probabilities. The ranking ``score`` is a weighted mean of ``disagreement``,
``1 - human_prob``, ``1 - confidence`` and ``ensemble_disagreement`` (:class:`FinderParams`);
rank 1 is the most suspicious segment.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from .predictions import FramePredictions, SegmentPredictions

#: Canapy's threshold: a segment whose frames disagree with its label this often is flagged
CANAPY_THRESHOLD = 2 / 3

#: columns of a review list, in order (``new_label`` is left empty for the reviewer)
REVIEW_COLUMNS = [
    "rank",
    "audio_path",
    "onset_s",
    "offset_s",
    "human_label",
    "model_label",
    "score",
    "flag",
    "disagreement",
    "human_prob",
    "confidence",
    "ensemble_disagreement",
    "n_models",
    "clip",
    "segment",
    "annotation_sha",
    "audio_relpath",
    "new_label",
]

#: times are rounded to this (s) before hashing an annotation (float32 stores, CSV rounding)
DIGEST_RESOLUTION_S: float = 1e-4


@attrs.define(frozen=True)
class FinderParams:
    """Weights of the ranking score and Canapy's flag threshold.

    Parameters
    ----------
    w_disagreement, w_human_prob, w_confidence, w_ensemble : float
        Weights of ``disagreement``, ``1 - human_prob``, ``1 - confidence`` and
        ``ensemble_disagreement`` in the score (normalised by their sum).
    threshold : float
        Frame-disagreement share at which a segment is flagged (Canapy: 2/3).
    """

    w_disagreement: float = 1.0
    w_human_prob: float = 1.0
    w_confidence: float = 0.5
    w_ensemble: float = 0.5
    threshold: float = CANAPY_THRESHOLD


def annotation_digest(onsets, offsets, labels) -> str:
    """A short SHA-256 of one recording's segments (times to :data:`DIGEST_RESOLUTION_S`,
    labels), the same whichever order they come in: which annotation version a row is about."""
    ticks = np.round(
        np.stack([np.asarray(onsets, float), np.asarray(offsets, float)], 1) / DIGEST_RESOLUTION_S
    ).astype(np.int64)
    names = np.asarray(labels).astype(str)
    order = np.lexsort((names, ticks[:, 1], ticks[:, 0])) if len(names) else []
    h = hashlib.sha256()
    for i in order:
        h.update(f"{ticks[i, 0]},{ticks[i, 1]},{names[i]};".encode())
    return h.hexdigest()[:16]


def store_segments(ds: xr.Dataset, clips: Sequence[int] | None = None) -> pd.DataFrame:
    """The annotated segments of a store: clip, segment, audio_path, onset_s, offset_s, label,
    and ``annotation_sha`` (:func:`annotation_digest` of the clip's segments)."""
    seg_clip = ds["segment_clip"].values
    table = pd.DataFrame(
        {
            "clip": seg_clip.astype(int),
            "segment": np.arange(len(seg_clip)),
            "audio_path": ds["source_path"].values[seg_clip].astype(str),
            "onset_s": ds["segment_onset_s"].values.astype(float),
            "offset_s": ds["segment_offset_s"].values.astype(float),
            "label": ds["segment_label"].values.astype(str),
        }
    )
    if clips is not None:
        table = table[table["clip"].isin(np.asarray(clips, dtype=int))]
    digests = {
        clip: annotation_digest(g["onset_s"], g["offset_s"], g["label"])
        for clip, g in table.groupby("clip")
    }
    table["annotation_sha"] = table["clip"].map(digests).astype(object)
    return table.reset_index(drop=True)


def _frame_slice(onset: float, offset: float, pred: FramePredictions, n: int) -> slice:
    """Model frames whose time lies in [onset, offset) (at least the nearest one)."""
    lo = int(np.ceil((onset - pred.time_offset) / pred.frame_s - 1e-9))
    hi = int(np.ceil((offset - pred.time_offset) / pred.frame_s - 1e-9))
    if hi <= lo:
        mid = int(round(((onset + offset) / 2 - pred.time_offset) / pred.frame_s))
        lo, hi = mid, mid + 1
    lo = min(max(lo, 0), n - 1)
    return slice(lo, min(max(hi, lo + 1), n))


def _segment_probabilities(row, pred: FramePredictions | SegmentPredictions) -> list[np.ndarray]:
    """Per model, the (frames, classes) probabilities of one segment (one row for a classifier)."""
    if isinstance(pred, SegmentPredictions):
        arrays = pred.probs.get(int(getattr(row, "segment", -1)))
        if not arrays:
            raise KeyError(
                f"no predictions for segment {getattr(row, 'segment', '?')} of clip {row.clip} "
                f"({row.audio_path})"
            )
        return [np.asarray(p, dtype=float)[None, :] for p in arrays]
    arrays = pred.probs.get(int(row.clip))
    if not arrays:
        raise KeyError(f"no predictions for clip {row.clip} ({row.audio_path})")
    return [p[_frame_slice(row.onset_s, row.offset_s, pred, len(p))] for p in arrays]


def score_segments(
    segments: pd.DataFrame,
    pred: FramePredictions | SegmentPredictions,
    params: FinderParams | None = None,
) -> pd.DataFrame:
    """Scores of every segment (columns as in :data:`REVIEW_COLUMNS`), ranked.

    Parameters
    ----------
    segments : pandas.DataFrame
        Columns ``clip``, ``audio_path``, ``onset_s``, ``offset_s``, ``label`` (e.g.
        :func:`store_segments`, which adds ``segment``); every clip (frame predictions) or
        segment (segment predictions) must be in ``pred.probs``.
    pred : FramePredictions or SegmentPredictions
        Probabilities of one or more models.
    params : FinderParams, optional

    Returns
    -------
    review : pandas.DataFrame
        Sorted by ``score`` (descending), with ``rank`` 1, 2, ...
    """
    params = params or FinderParams()
    index = {name: i for i, name in enumerate(pred.class_names)}
    names = np.asarray(pred.class_names)
    rows = []
    for row in segments.itertuples(index=False):
        arrays = _segment_probabilities(row, pred)
        h = index.get(str(row.label), -1)  # a label unknown to the model: always disagrees
        dis, hp, conf, votes = [], [], [], []
        mean = None
        for seg in arrays:
            arg = seg.argmax(1)
            dis.append(float(np.mean(arg != h)))
            hp.append(float(seg[:, h].mean()) if h >= 0 else 0.0)
            conf.append(float(seg.max(1).mean()))
            votes.append(int(np.bincount(arg, minlength=len(names)).argmax()))
            mean = seg if mean is None else mean + seg
        majority = np.bincount(mean.argmax(1), minlength=len(names)).argmax()
        ens = 1.0 - np.bincount(votes).max() / len(votes)
        rows.append(
            {
                "audio_path": row.audio_path,
                "onset_s": float(row.onset_s),
                "offset_s": float(row.offset_s),
                "human_label": str(row.label),
                "model_label": str(names[majority]),
                "disagreement": float(np.mean(dis)),
                "human_prob": float(np.mean(hp)),
                "confidence": float(np.mean(conf)),
                "ensemble_disagreement": float(ens),
                "n_models": len(arrays),
                "clip": int(row.clip),
                "segment": int(getattr(row, "segment", -1)),
                "annotation_sha": str(getattr(row, "annotation_sha", "")),
                "audio_relpath": "",
            }
        )
    out = pd.DataFrame(rows)
    w = np.array(
        [params.w_disagreement, params.w_human_prob, params.w_confidence, params.w_ensemble]
    )
    if len(out):
        parts = np.stack(
            [
                out["disagreement"],
                1 - out["human_prob"],
                1 - out["confidence"],
                out["ensemble_disagreement"],
            ],
            axis=1,
        )
        out["score"] = parts @ w / w.sum()
        out["flag"] = out["disagreement"] >= params.threshold
    else:
        out = pd.DataFrame(columns=REVIEW_COLUMNS)
    out = out.sort_values(["score", "disagreement"], ascending=False, kind="stable")
    out["rank"] = np.arange(1, len(out) + 1)
    out["new_label"] = ""
    return out[REVIEW_COLUMNS].reset_index(drop=True)


def find_disagreements(
    store: str | os.PathLike | xr.Dataset,
    pred: FramePredictions | SegmentPredictions,
    clips: Sequence[int] | None = None,
    params: FinderParams | None = None,
) -> pd.DataFrame:
    """Ranked review list of the annotated segments of ``clips`` (default: all predicted)."""
    from ..store.dataset import open_store

    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    clips = pred.clips if clips is None else clips
    return score_segments(store_segments(ds, clips), pred, params)


def top_share(review: pd.DataFrame, share: float) -> pd.DataFrame:
    """The first ``ceil(share * len(review))`` rows of a ranked review list."""
    n = int(np.ceil(share * len(review)))
    return review.sort_values("rank").head(n)
