"""Training an ESN annotation model from a spectrogram store, with progress and evaluation.

:func:`train_esn` is a generator (it runs in a napari worker thread): it yields
``(fraction, message)`` as it goes and returns a :class:`TrainResult`.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Generator

import attrs
import numpy as np


@attrs.define
class TrainResult:
    """A trained, evaluated and saved model.

    Attributes
    ----------
    model_dir : pathlib.Path
        Where it was saved (:meth:`~vocalpy_xai.models.ESNDecoder.save`).
    metrics : dict
        :func:`vocalpy_xai.metrics.evaluate` on the validation clips.
    confusion : numpy.ndarray
        Frame-level confusion matrix (counts) on the validation clips.
    class_names : list of str
    train_clips, val_clips : list of int
    seconds : float
        Wall time of training and evaluation.
    """

    model_dir: pathlib.Path
    metrics: dict
    confusion: np.ndarray
    class_names: list[str]
    train_clips: list[int]
    val_clips: list[int]
    seconds: float

    def summary(self) -> str:
        m = self.metrics
        frames = m.get("frames", {})
        lines = [
            f"trained on {len(self.train_clips)} clips, validated on {len(self.val_clips)} "
            f"in {self.seconds:.1f} s",
            f"syllable error rate: {m['syllable_error_rate']:.3f}",
            f"boundary F1 (10 ms): {m['boundaries']['f1']:.3f}",
        ]
        if "accuracy" in frames:
            lines.append(f"frame accuracy: {frames['accuracy']:.3f}")
        lines.append(f"saved: {self.model_dir}")
        return "\n".join(lines)


def split_clips(n_clips: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Train and validation clips, by whole files (:func:`vocalpy_xai.split_by_file`)."""
    from ..store.splits import split_by_file

    if n_clips < 2:
        raise ValueError("training with validation needs at least 2 clips in the store")
    val = min(max(val_fraction, 1.0 / n_clips), 1.0 - 1.0 / n_clips)
    split = split_by_file(n_clips, (1.0 - val, val, 0.0), seed=seed)
    train = np.flatnonzero(split == "train").tolist()
    valid = np.flatnonzero(split == "val").tolist()
    if not valid:
        valid, train = train[-1:], train[:-1]
    return train, valid


def train_esn(
    store: str | os.PathLike,
    params=None,
    out_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    register: bool = True,
) -> Generator[tuple[float, str], None, TrainResult]:
    """Train an ESNDecoder on a store, evaluate it on held-out files, save and register it.

    Parameters
    ----------
    store : path-like
        An annotated spectrogram store (:func:`vocalpy_xai.build_store`).
    params : ESNParams, optional
        Reservoir and readout hyper-parameters.
    out_dir : path-like, optional
        Folder the model directory is created in (default: the local models folder,
        :func:`~vocalpy_xai.napari.registry.models_dir`).
    val_fraction : float
        Share of files held out for validation (split by file).
    seed : int
        Seed of the split.
    register : bool
        Call :func:`~vocalpy_xai.napari.registry.register_model` on the saved model.

    Yields
    ------
    (fraction, message) : (float, str)
        Progress; fraction is -1 while a step of unknown length runs.
    """
    from ..metrics import evaluate
    from ..models import ESNDecoder, ESNParams, frames_to_segments
    from ..store.dataset import open_store
    from .registry import models_dir, register_model

    t0 = time.perf_counter()
    yield 0.0, f"opening {store}"
    ds = open_store(store)
    train, valid = split_clips(ds.sizes["clip"], val_fraction, seed)
    yield -1.0, f"fitting the reservoir readout on {len(train)} clips"
    model = ESNDecoder(params or ESNParams()).fit(ds, train, progress=False)
    yield 0.5, "evaluating on held-out clips"
    from ..io.annotations import SegmentTable

    truth, preds, y_true, y_pred = [], [], [], []
    stride = model.features.stride
    freqs = ds["freq"].values
    for k, clip in enumerate(valid):
        n = int(ds["n_frames"].values[clip])
        spect = ds["spectrogram"].isel(clip=clip, time=slice(0, n)).values
        labels, onsets = model.predict_frames(spect, freqs)
        preds.append(
            frames_to_segments(
                labels, onsets, model.frame_dur_, model.class_names_, model.postprocess
            )
        )
        sel = ds["segment_clip"].values == clip
        truth.append(
            SegmentTable(
                ds["segment_onset_s"].values[sel],
                ds["segment_offset_s"].values[sel],
                ds["segment_label"].values[sel].astype(str),
            )
        )
        frames = ds["frame_labels"].isel(clip=clip, time=slice(0, n)).values[::stride]
        m = min(len(frames), len(labels))
        y_true.append(frames[:m].astype(np.int64))
        y_pred.append(labels[:m].astype(np.int64))
        yield 0.5 + 0.4 * (k + 1) / len(valid), f"evaluated clip {clip}"
    metrics = evaluate(truth, preds, y_true, y_pred, class_names=model.class_names_)
    confusion = np.asarray(metrics["frames"]["confusion_matrix"])
    yield 0.95, "saving the model"
    out = pathlib.Path(out_dir) if out_dir else models_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    model_dir = out / f"esn-{pathlib.Path(store).stem}-{stamp}"
    n = 1
    while model_dir.exists():
        n += 1
        model_dir = out / f"esn-{pathlib.Path(store).stem}-{stamp}-{n}"
    model.save(model_dir, metrics=metrics)
    if register:
        register_model(model_dir)
    yield 1.0, "done"
    return TrainResult(
        model_dir,
        metrics,
        confusion,
        list(model.class_names_),
        train,
        valid,
        time.perf_counter() - t0,
    )
