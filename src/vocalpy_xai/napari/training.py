"""Training an ESN annotation model from a spectrogram store, with progress and evaluation.

:func:`train_esn` is a generator (it runs in a napari worker thread): it yields
``(fraction, message)`` as it goes and returns a :class:`TrainResult`.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
import time
from collections.abc import Generator
from typing import Any

import attrs
import numpy as np


@attrs.define
class TrainResult:
    """A trained, evaluated and saved model.

    Attributes
    ----------
    model_dir : pathlib.Path
        Where it was saved (:meth:`~vocalpy_xai.models.ESNDecoder.save`): the *Save in*
        folder's copy, else the registry's copy.
    metrics : dict
        :func:`vocalpy_xai.metrics.evaluate` on the validation clips.
    confusion : numpy.ndarray
        Frame-level confusion matrix (counts) on the validation clips.
    class_names : list of str
    train_clips, val_clips : list of int
    seconds : float
        Wall time of training and evaluation.
    registered : ModelVersion or None
        The registry version it was registered as (``.name``, ``.version``).
    """

    model_dir: pathlib.Path
    metrics: dict
    confusion: np.ndarray
    class_names: list[str]
    train_clips: list[int]
    val_clips: list[int]
    seconds: float
    registered: Any = None

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
        if self.registered is not None:
            lines.append(
                f"registered: {self.registered.name} version {self.registered.version} "
                f"({self.registered.name}@{self.registered.version})"
            )
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
    registry_root: str | os.PathLike | None = None,
    name: str | None = None,
) -> Generator[tuple[float, str], None, TrainResult]:
    """Train an ESNDecoder on a store, evaluate it on held-out files, save and register it.

    Parameters
    ----------
    store : path-like
        An annotated spectrogram store (:func:`vocalpy_xai.build_store`).
    params : ESNParams, optional
        Reservoir and readout hyper-parameters.
    out_dir : path-like, optional
        Folder a copy of the model directory is created in (``esn-<store>-<time>``).
        Without it the model is saved only in the registry (``register`` must be true).
    val_fraction : float
        Share of files held out for validation (split by file).
    seed : int
        Seed of the split.
    register : bool
        Register the saved model as a new version in the model registry
        (:func:`~vocalpy_xai.napari.registry.register_model`), with its validation metrics.
    registry_root : path-like, optional
        Registry root (default :func:`~vocalpy_xai.registry.default_root`).
    name : str, optional
        Model name in the registry (default ``esn-<store stem>``).

    Yields
    ------
    (fraction, message) : (float, str)
        Progress; fraction is -1 while a step of unknown length runs.
    """
    from ..metrics import evaluate
    from ..models import ESNDecoder, ESNParams
    from ..store.dataset import ClipReader, clip_segments, open_store
    from .registry import check_model_name, default_model_name, register_model

    if not register and not out_dir:
        raise ValueError("give out_dir, or register the model (else it is saved nowhere)")
    name = check_model_name(name or default_model_name(store)) if register else None
    t0 = time.perf_counter()
    yield 0.0, f"opening {store}"
    ds = open_store(store)
    train, valid = split_clips(ds.sizes["clip"], val_fraction, seed)
    yield -1.0, f"fitting the reservoir readout on {len(train)} clips"
    model = ESNDecoder(params or ESNParams()).fit(ds, train, progress=False)
    yield 0.5, "evaluating on held-out clips"

    truth, preds, y_true, y_pred = [], [], [], []
    stride = model.features.stride
    freqs = ds["freq"].values
    reader = ClipReader(ds)
    for k, clip in enumerate(valid):
        result = model.predict(reader.spectrogram(clip), freqs)
        labels = result.frame_labels
        preds.append(result.segments)
        truth.append(clip_segments(ds, clip))
        frames = reader.frame_labels(clip)[::stride]
        m = min(len(frames), len(labels))
        y_true.append(frames[:m].astype(np.int64))
        y_pred.append(labels[:m].astype(np.int64))
        yield 0.5 + 0.4 * (k + 1) / len(valid), f"evaluated clip {clip}"
    metrics = evaluate(truth, preds, y_true, y_pred, class_names=model.class_names_)
    confusion = np.asarray(metrics["frames"]["confusion_matrix"])
    yield 0.95, "saving the model"
    registered = None
    with tempfile.TemporaryDirectory(prefix="vocalpy-xai-model-") as tmp:
        out = pathlib.Path(out_dir) if out_dir else pathlib.Path(tmp)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        model_dir = out / f"esn-{pathlib.Path(store).stem}-{stamp}"
        n = 1
        while model_dir.exists():
            n += 1
            model_dir = out / f"esn-{pathlib.Path(store).stem}-{stamp}-{n}"
        model.save(model_dir, metrics=metrics)
        if register:
            yield 0.97, f"registering {name}"
            registered = register_model(
                model_dir, name, registry_root, note=f"napari Train panel, store {store}"
            )
            if not out_dir:
                model_dir = registered.path
    yield 1.0, "done"
    return TrainResult(
        model_dir,
        metrics,
        confusion,
        list(model.class_names_),
        train,
        valid,
        time.perf_counter() - t0,
        registered,
    )
