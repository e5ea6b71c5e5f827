"""Segment boundaries at the spectrogram's resolution: a learnt correction of each edge.

An :class:`~vocalpy_xai.models.ESNDecoder` labels 8-ms model frames (4 spectrogram frames
pooled), so the onsets and offsets of its segments fall on an 8-ms grid: about 2.7 ms from
the human boundary on average (Bird0 files 62-94). The spectrogram itself has a 2-ms hop.
:class:`BoundaryRefiner` moves every onset and offset by a correction read out linearly
from what surrounds it:

- the *energy envelope* (:meth:`BandFeatures.envelope
  <vocalpy_xai.models.BandFeatures.envelope>`: the power of the bins the model reads,
  500-10,000 Hz, in dB) every 2 ms within ``half_window_s`` of the edge, relative to the
  running noise floor (:func:`vocalpy_xai.segment.noise_floor_db`, the floor of the
  adaptive energy segmenter), plus two hinges of it (above ``knots_db``): where the sound
  rises out of the background and where it is loud;
- the model's background and onset scores every 4 ms within ``score_half_window_s``.

The correction is a ridge regression fitted at training time on the model's own segments of
the training songs, each edge against the nearest human edge within ``match_s``, and
capped at ``max_shift_s``. Chosen on Bird0 files 62-94 (never TEST): 1-ms frame accuracy
0.967 -> 0.983, onset F1 at 10 ms 0.986 -> 0.990, offset F1 0.990 -> 0.991; an edge
snapped to the nearest threshold crossing of the envelope did less for onsets (0.974)
and nothing for offsets, which the annotators put in the decaying tail of a syllable.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np

from ..io.annotations import SegmentTable
from ..segment.energy import AdaptiveEnergyParams, noise_floor_db


@attrs.define(frozen=True)
class BoundaryParams:
    """What :class:`BoundaryRefiner` reads around an edge, and how it is fitted.

    Parameters
    ----------
    half_window_s, step_s : float
        The envelope is read every ``step_s`` from ``-half_window_s`` to ``+half_window_s``
        around the edge (linear interpolation between spectrogram frames).
    knots_db : tuple of float
        Hinges ``max(envelope - floor - knot, 0)`` added for each knot (dB above the floor).
    score_half_window_s, score_step_s : float
        The same for the model's background and onset scores.
    noise_win_s, noise_percentile : float
        Running noise floor of the envelope (:func:`vocalpy_xai.segment.noise_floor_db`);
        default: the adaptive energy segmenter's (:class:`~vocalpy_xai.segment.AdaptiveEnergyParams`).
    max_shift_s : float
        Largest correction applied (s).
    match_s : float
        Training: an edge learns from the nearest human edge within this (s), else is unused.
    ridge : float
        L2 regularisation of the regression.
    min_edges : int
        Training: with fewer matched onsets (or offsets) than this, they are left as they are
        (zero weights): a few songs do not fit 82 weights.
    """

    half_window_s: float = 0.020
    step_s: float = 0.002
    knots_db: tuple[float, ...] = (3.0, 8.0)
    score_half_window_s: float = 0.016
    score_step_s: float = 0.004
    noise_win_s: float = AdaptiveEnergyParams.noise_win_dur
    noise_percentile: float = AdaptiveEnergyParams.noise_percentile
    max_shift_s: float = 0.008
    match_s: float = 0.010
    ridge: float = 1.0
    min_edges: int = 200

    @classmethod
    def from_dict(cls, d: dict) -> BoundaryParams:
        d = dict(d)
        if "knots_db" in d:  # a JSON list
            d["knots_db"] = tuple(float(k) for k in d["knots_db"])
        return cls(**d)


@attrs.define(frozen=True)
class EdgeContext:
    """What a recording gives the refiner: envelope, noise floor, model scores, time axes.

    Attributes
    ----------
    envelope : numpy.ndarray
        Envelope (dB) of every spectrogram frame; frame ``j`` at ``time_offset + j * env_s``.
    floor : numpy.ndarray
        Its running noise floor (dB), same shape.
    scores : numpy.ndarray
        Readout scores (model frames, classes + onset); frame ``i`` at
        ``time_offset + i * frame_s``.
    env_s, frame_s, time_offset : float
    """

    envelope: np.ndarray
    floor: np.ndarray
    scores: np.ndarray
    env_s: float
    frame_s: float
    time_offset: float = 0.0

    @classmethod
    def of(
        cls,
        envelope: np.ndarray,
        scores: np.ndarray,
        env_s: float,
        frame_s: float,
        time_offset: float,
        params: BoundaryParams,
    ) -> EdgeContext:
        """The context of a recording, its noise floor computed (``params``)."""
        envelope = np.asarray(envelope, dtype=np.float64)
        floor = noise_floor_db(envelope, 1.0 / env_s, params.noise_win_s, params.noise_percentile)
        return cls(envelope, floor, np.asarray(scores), env_s, frame_s, time_offset)


class BoundaryRefiner:
    """A learnt correction (s) of segment onsets and offsets; see the module's docstring.

    Parameters
    ----------
    params : BoundaryParams
    w_onset, w_offset : numpy.ndarray
        Regression weights of onsets and offsets (:meth:`n_features` each, bias last).
    """

    def __init__(self, params: BoundaryParams, w_onset: np.ndarray, w_offset: np.ndarray):
        self.params = params
        self.w_onset = np.asarray(w_onset, dtype=np.float64)
        self.w_offset = np.asarray(w_offset, dtype=np.float64)

    @staticmethod
    def n_features(params: BoundaryParams, score_columns: int = 2) -> int:
        """Length of one edge's feature vector (bias included)."""
        n_env = len(_offsets(params.half_window_s, params.step_s))
        n_sc = len(_offsets(params.score_half_window_s, params.score_step_s))
        return n_env * (1 + len(params.knots_db)) + score_columns * n_sc + 1

    @staticmethod
    def features(edges_s: np.ndarray, ctx: EdgeContext, params: BoundaryParams) -> np.ndarray:
        """Feature vectors (edges, :meth:`n_features`) of edges at ``edges_s`` (s)."""
        edges_s = np.asarray(edges_s, dtype=np.float64)
        at = (edges_s - ctx.time_offset)[:, None] / ctx.env_s
        at_env = at + _offsets(params.half_window_s, params.step_s)[None] / ctx.env_s
        level = _sample(ctx.envelope, at_env) - _sample(ctx.floor, at[:, 0])[:, None]
        level = np.clip(level, -5.0, 40.0)  # the background's dips and the loudest notes
        parts = [level] + [np.maximum(level - k, 0.0) for k in params.knots_db]
        at = (edges_s - ctx.time_offset)[:, None] / ctx.frame_s
        at = at + _offsets(params.score_half_window_s, params.score_step_s)[None] / ctx.frame_s
        for col in (0, ctx.scores.shape[1] - 1):  # background, onset
            parts.append(_sample(ctx.scores[:, col], at))
        parts.append(np.ones((len(edges_s), 1)))
        return np.hstack(parts)

    @classmethod
    def fit(
        cls,
        songs: Iterable[tuple[SegmentTable, np.ndarray, np.ndarray, EdgeContext]],
        params: BoundaryParams | None = None,
    ) -> BoundaryRefiner:
        """Fit on (model segments, human onsets, human offsets, context) of training songs."""
        params = params or BoundaryParams()
        rows = {"on": ([], []), "off": ([], [])}
        for pred, true_onsets, true_offsets, ctx in songs:
            for key, p, t in (
                ("on", pred.onsets_s, true_onsets),
                ("off", pred.offsets_s, true_offsets),
            ):
                if len(p) == 0 or len(t) == 0:
                    continue
                target = _nearest(np.sort(np.asarray(t, dtype=np.float64)), p)
                ok = np.abs(target - p) <= params.match_s
                rows[key][0].append(cls.features(p[ok], ctx, params))
                rows[key][1].append((target - p)[ok])
        weights = []
        n = cls.n_features(params)
        for key in ("on", "off"):
            X = np.vstack(rows[key][0]) if rows[key][0] else np.zeros((0, n))
            y = np.concatenate(rows[key][1]) if rows[key][1] else np.zeros(0)
            if len(y) < params.min_edges:
                weights.append(np.zeros(n))
                continue
            weights.append(np.linalg.solve(X.T @ X + params.ridge * np.eye(n), X.T @ y))
        return cls(params, *weights)

    def refine(self, segments: SegmentTable, ctx: EdgeContext) -> SegmentTable:
        """The segments with corrected edges; order kept, no overlaps, no empty segment.

        A corrected onset never precedes the previous segment's offset; a segment whose
        corrected edges would cross keeps its original ones.
        """
        if len(segments) == 0:
            return segments
        cap, n = self.params.max_shift_s, len(segments)
        on0, off0 = segments.onsets_s, segments.offsets_s
        x = self.features(np.concatenate([on0, off0]), ctx, self.params)
        on = on0 + np.clip(x[:n] @ self.w_onset, -cap, cap)
        off = off0 + np.clip(x[n:] @ self.w_offset, -cap, cap)
        on = np.maximum(on, np.concatenate([[0.0], off[:-1]]))
        bad = off <= on
        on, off = np.where(bad, on0, on), np.where(bad, off0, off)
        return attrs.evolve(segments, onsets_s=on, offsets_s=off)

    def to_dict(self) -> dict:
        """Parameters (JSON); the weights go to the model's ``.npz``."""
        return attrs.asdict(self.params)


def _offsets(half: float, step: float) -> np.ndarray:
    k = int(round(half / step))
    return np.arange(-k, k + 1) * step


def _sample(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values`` (evenly spaced) at fractional indices ``at``, linearly interpolated and
    held at the ends: :func:`numpy.interp` on a regular grid, without its search."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 1:
        return np.full(np.shape(at), values[0])
    at = np.clip(at, 0.0, len(values) - 1.0)
    i = np.minimum(at.astype(np.intp), len(values) - 2)
    frac = at - i
    return values[i] * (1.0 - frac) + values[i + 1] * frac


def _nearest(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The element of ``sorted_values`` nearest each ``x``."""
    j = np.searchsorted(sorted_values, x)
    lo = sorted_values[np.clip(j - 1, 0, len(sorted_values) - 1)]
    hi = sorted_values[np.clip(j, 0, len(sorted_values) - 1)]
    return np.where(np.abs(lo - x) <= np.abs(hi - x), lo, hi)
