"""Class probabilities of models on store clips, plain or cross-validated by file.

Two kinds of model feed the disagreement finder, each through its one inference path:

- annotation models give frame probabilities (:class:`FramePredictions`):
  :meth:`ESNDecoder.predict <vocalpy_xai.models.ESNDecoder.predict>` on each clip
  (:class:`~vocalpy_xai.models.AnnotationPrediction`);
- syllable classifiers give one probability vector per annotated segment
  (:class:`SegmentPredictions`): an AudioProtoNet on a spectrogram backbone
  (``SpectrogramProtoNet``), ``predict_proba`` on a window centred on each syllable, the
  windows it was trained on (:func:`vocalpy_xai.clips.syllable_windows`).

:func:`predictions_of` picks the kind from the model.

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
from ..store.dataset import ClipReader, open_store


@attrs.define
class FramePredictions:
    """Per-clip frame probabilities from one or more models.

    Attributes
    ----------
    class_names : list of str
        Classes (columns of every probability array), background first.
    frame_s : float
        Seconds from one model frame to the next.
    time_offset : float
        Time (s) of model frame 0 (frame ``i`` at ``time_offset + i * frame_s``,
        :func:`vocalpy_xai.store.frame_times`).
    probs : dict
        Clip index to a list (one per model) of arrays (model frames, classes).
    """

    class_names: list[str]
    frame_s: float
    time_offset: float
    probs: dict[int, list[np.ndarray]]

    @property
    def n_models(self) -> int:
        return max((len(v) for v in self.probs.values()), default=0)

    @property
    def clips(self) -> list[int]:
        """The clips predicted."""
        return sorted(self.probs)


@attrs.define
class SegmentPredictions:
    """Per-segment class probabilities from one or more syllable classifiers.

    Attributes
    ----------
    class_names : list of str
        Classes (entries of every probability vector).
    clips : list of int
        The clips whose segments were predicted.
    probs : dict
        Segment index in the store (``segment`` of
        :func:`~vocalpy_xai.review.store_segments`) to a list (one per model) of
        probability vectors (classes,).
    """

    class_names: list[str]
    clips: list[int]
    probs: dict[int, list[np.ndarray]]

    @property
    def n_models(self) -> int:
        return max((len(v) for v in self.probs.values()), default=0)


def _open(store: str | os.PathLike | xr.Dataset) -> xr.Dataset:
    return store if isinstance(store, xr.Dataset) else open_store(store)


def model_probabilities(
    model: ESNDecoder, store: str | os.PathLike | xr.Dataset, clips: Sequence[int]
) -> dict[int, np.ndarray]:
    """Frame probabilities of a trained model on clips of a store (same spectrogram params)."""
    ds = _open(store)
    reader = ClipReader(ds)
    freqs = ds["freq"].values
    return {int(c): model.predict(reader.spectrogram(c), freqs).probabilities for c in clips}


def is_syllable_classifier(model) -> bool:
    """Whether ``model`` classifies windows (``predict_proba``) rather than annotating frames."""
    return callable(getattr(model, "predict_proba", None))


def segment_probabilities(
    model, store: str | os.PathLike | xr.Dataset, clips: Sequence[int]
) -> dict[int, np.ndarray]:
    """Class probabilities of every annotated segment of ``clips`` from a syllable classifier.

    Each segment is cut as the model was trained: a window of the model's width centred on
    the syllable (:func:`vocalpy_xai.clips.syllable_windows`), restricted to the model's
    frequency band; then one ``model.predict_proba`` over all windows.

    Returns
    -------
    dict
        Segment index in the store to its probability vector (classes,).

    Raises
    ------
    ValueError
        A model that does not classify syllable windows (a BirdNET-backbone model classifies
        3-s chunks), or a store segment label the model does not know.
    """
    from ..clips import syllable_windows
    from ..protonet.data import frequency_band

    params = getattr(model, "params", None)
    if getattr(params, "uses_birdnet", False):
        raise ValueError(
            "a BirdNET-backbone AudioProtoNet classifies 3-s chunks, not syllables: the "
            "disagreement finder needs a syllable classifier (spectrogram backbone) or an "
            "annotation model"
        )
    ds = _open(store)
    clips = [int(c) for c in clips]
    width_s = model.window_frames_ * model.frame_s_
    windows = syllable_windows(ds, clips, width_s=width_s, labels=list(model.class_names_))
    freq = np.asarray(model.freq_hz_, dtype=float)
    windows = frequency_band(windows, fmin=freq[0], fmax=freq[-1])
    proba = model.predict_proba(windows.X) if len(windows) else np.empty((0, 0))
    # syllable_windows cuts the segments of each clip in store order, clip by clip
    seg_clip = ds["segment_clip"].values
    store_clip = np.asarray(ds["clip"].values, dtype=int)
    order = np.concatenate(
        [np.flatnonzero(seg_clip == store_clip[c]) for c in clips] or [np.array([], int)]
    )
    return {int(s): p for s, p in zip(order, proba, strict=True)}


def predictions_of(
    models: Sequence, store: str | os.PathLike | xr.Dataset, clips: Sequence[int]
) -> FramePredictions | SegmentPredictions:
    """Probabilities of already-trained models (e.g. an ensemble) on ``clips``.

    Annotation models (:class:`~vocalpy_xai.models.ESNDecoder`) give
    :class:`FramePredictions`; syllable classifiers (an AudioProtoNet on a spectrogram
    backbone) give :class:`SegmentPredictions`. The models of an ensemble share their
    classes and their kind.
    """
    ds = _open(store)
    first = models[0]
    for m in models[1:]:
        if m.class_names_ != first.class_names_:
            raise ValueError("the models of an ensemble must share their classes")
    kinds = {is_syllable_classifier(m) for m in models}
    if len(kinds) > 1:
        raise ValueError("an ensemble mixes annotation models and syllable classifiers")
    if kinds == {True}:
        seg_probs: dict[int, list[np.ndarray]] = {}
        for m in models:
            for s, p in segment_probabilities(m, ds, clips).items():
                seg_probs.setdefault(s, []).append(p)
        return SegmentPredictions(list(first.class_names_), [int(c) for c in clips], seg_probs)
    probs: dict[int, list[np.ndarray]] = {int(c): [] for c in clips}
    for m in models:
        for c, p in model_probabilities(m, ds, clips).items():
            probs[c].append(p)
    return FramePredictions(first.class_names_, first.frame_s_, first.time_offset_, probs)


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
            meta = (model.class_names_, model.frame_s_, model.time_offset_)
            for c, p in model_probabilities(model, ds, held).items():
                probs[c].append(p)
            bar.update()
    bar.close()
    return FramePredictions(meta[0], meta[1], meta[2], probs)
