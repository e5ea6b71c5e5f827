"""Frame-level class probabilities of models on store clips, plain or cross-validated by file.

An ESNDecoder's readout gives one ridge-regression score per class (targets are one-hot, so
scores lie near 0 or 1). Probabilities here are the scores clipped at 0 and normalised to
sum to 1 per frame (uniform where every score is <= 0): a monotone, calibration-free
reading that keeps the arg-max.

To score the *training* segments of a data set without a model that has memorised their
(possibly wrong) labels, :func:`cross_val_predictions` trains ``k`` models, each on all
files but one fold, and predicts the held-out fold: every file is scored by a model that
never saw it. Several seeds give an ensemble (different reservoirs and fold assignments).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs
import numpy as np
import xarray as xr

from ..models.esn_decoder import ESNDecoder, ESNParams
from ..store.dataset import open_store


@attrs.define
class FramePredictions:
    """Per-clip frame probabilities from one or more models.

    Attributes
    ----------
    class_names : list of str
        Classes (columns of every probability array), background first.
    frame_dur : float
        Seconds per model frame.
    time_offset : float
        Time (s) of model frame 0.
    probs : dict
        Clip index to a list (one per model) of arrays (model frames, classes).
    """

    class_names: list[str]
    frame_dur: float
    time_offset: float
    probs: dict[int, list[np.ndarray]]

    @property
    def n_models(self) -> int:
        return max((len(v) for v in self.probs.values()), default=0)


def scores_to_probabilities(scores: np.ndarray) -> np.ndarray:
    """Readout scores (frames, classes) to probabilities: clip at 0, normalise each frame."""
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)


def _open(store: str | os.PathLike | xr.Dataset) -> xr.Dataset:
    return store if isinstance(store, xr.Dataset) else open_store(store)


def model_probabilities(
    model: ESNDecoder, store: str | os.PathLike | xr.Dataset, clips: Sequence[int]
) -> dict[int, np.ndarray]:
    """Frame probabilities of a trained model on clips of a store (same spectrogram params)."""
    from ..models.esn_decoder import _ClipReader

    ds = _open(store)
    reader = _ClipReader(ds)
    freqs = ds["freq"].values
    k = len(model.class_names_)
    return {
        int(c): scores_to_probabilities(model.predict_scores(reader.spectrogram(c), freqs)[:, :k])
        for c in clips
    }


def predictions_of(
    models: Sequence[ESNDecoder], store: str | os.PathLike | xr.Dataset, clips: Sequence[int]
) -> FramePredictions:
    """:class:`FramePredictions` of already-trained models (e.g. an ensemble) on ``clips``."""
    ds = _open(store)
    first = models[0]
    for m in models[1:]:
        if m.class_names_ != first.class_names_:
            raise ValueError("the models of an ensemble must share their classes")
    probs: dict[int, list[np.ndarray]] = {int(c): [] for c in clips}
    for m in models:
        for c, p in model_probabilities(m, ds, clips).items():
            probs[c].append(p)
    return FramePredictions(first.class_names_, first.frame_dur_, first.time_offset_, probs)


def file_folds(clips: Sequence[int], k: int, seed: int = 0) -> list[np.ndarray]:
    """Split clips (files) into ``k`` folds at random (seeded), sizes differing by at most one."""
    clips = np.asarray(clips, dtype=int)
    if not 2 <= k <= len(clips):
        raise ValueError(f"k must be between 2 and the number of files ({len(clips)}), got {k}")
    order = np.random.default_rng(seed).permutation(clips)
    return [np.sort(f) for f in np.array_split(order, k)]


def cross_val_predictions(
    store: str | os.PathLike | xr.Dataset,
    clips: Sequence[int],
    k: int = 5,
    seeds: Sequence[int] = (0,),
    params: ESNParams | None = None,
    progress: bool = True,
) -> FramePredictions:
    """Frame probabilities of every clip from models that never trained on it (k-fold by file).

    Parameters
    ----------
    store : path or xarray.Dataset
        An annotated store (its labels, possibly noisy, are the training targets).
    clips : sequence of int
        The files to score (e.g. TRAIN).
    k : int
        Folds: each model trains on ``k - 1`` folds and predicts the remaining one.
    seeds : sequence of int
        One repetition per seed (its own fold assignment and reservoir seed): the
        ensemble's members. ``len(seeds) * k`` models are trained.
    params : ESNParams, optional
        Reservoir hyper-parameters (their ``seed`` is offset by each repetition's seed).
    progress : bool
        Show a progress bar over the trainings.

    Returns
    -------
    FramePredictions
        ``len(seeds)`` probability arrays per clip.
    """
    from tqdm.auto import tqdm

    ds = _open(store)
    params = params or ESNParams()
    probs: dict[int, list[np.ndarray]] = {int(c): [] for c in clips}
    meta = None
    bar = tqdm(total=k * len(seeds), desc="cross-validation", unit="model", disable=not progress)
    for s in seeds:
        folds = file_folds(clips, k, seed=s)
        for i, held in enumerate(folds):
            train = np.concatenate([f for j, f in enumerate(folds) if j != i])
            model = ESNDecoder(attrs.evolve(params, seed=params.seed + s)).fit(
                ds, train, progress=False
            )
            meta = (model.class_names_, model.frame_dur_, model.time_offset_)
            for c, p in model_probabilities(model, ds, held).items():
                probs[c].append(p)
            bar.update()
    bar.close()
    return FramePredictions(meta[0], meta[1], meta[2], probs)
