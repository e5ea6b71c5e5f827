"""The re-annotation loop: annotation version -> store -> retrained model -> scores -> registry.

Each step reuses the project's parts: :func:`~vocalpy_xai.store.build_store` on the
version's manifest (with the class list fixed, so models of every version share their
classes), :class:`~vocalpy_xai.models.ESNDecoder` and :func:`vocalpy_xai.metrics.evaluate`;
models go to a :class:`~vocalpy_xai.registry.Registry` with their metrics and the
annotation version in their note, so :meth:`Registry.compare` compares versions.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..io.annotations import SegmentTable
from ..models.esn_decoder import ESNDecoder, ESNParams
from ..store.build import build_store
from ..store.dataset import open_store
from ..store.params import SpectrogramParams
from .versions import AnnotationVersions


def build_version_store(
    versions: AnnotationVersions,
    version: int | str,
    path: str | os.PathLike,
    params: SpectrogramParams,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> pathlib.Path:
    """Build a spectrogram store of one annotation version.

    ``classes`` (segment labels, without background) fixes the label map, so that a
    correction that removes every instance of a label does not renumber the classes.
    """
    build_store(
        versions.manifest(version),
        path,
        params,
        labels=list(classes) if classes is not None else None,
        on_error="raise",
        progress=progress,
    )
    return pathlib.Path(path)


def truth_tables(ds: xr.Dataset, clips: Sequence[int]) -> list[SegmentTable]:
    """The annotated segments of ``clips`` of a store, one table per clip."""
    seg_clip = ds["segment_clip"].values
    out = []
    for c in clips:
        sel = seg_clip == c
        out.append(
            SegmentTable(
                ds["segment_onset_s"].values[sel],
                ds["segment_offset_s"].values[sel],
                ds["segment_label"].values[sel].astype(str),
            )
        )
    return out


def evaluate_on_store(model: ESNDecoder, ds: xr.Dataset, clips: Sequence[int]) -> dict:
    """Scores of a model on clips of a store: SER, boundary F1 at 10 ms, frame accuracy."""
    from ..metrics import evaluate
    from ..models.esn_decoder import _ClipReader

    reader = _ClipReader(ds)
    freqs = ds["freq"].values
    preds, yt, yp = [], [], []
    stride = model.features.stride
    for c in clips:
        labels, onsets = model.predict_frames(reader.spectrogram(c), freqs)
        preds.append(model._segments(labels, onsets))
        y = reader.frame_labels(c)[::stride][: len(labels)]
        yt.append(y)
        yp.append(labels[: len(y)])
    m = evaluate(
        truth_tables(ds, clips), preds, np.concatenate(yt), np.concatenate(yp), model.class_names_
    )
    return {
        "syllable_error_rate": float(m["syllable_error_rate"]),
        "boundary_f1_10ms": float(m["boundaries"]["f1"]),
        "frame_accuracy": float(m["frames"]["accuracy"]),
    }


def retrain(
    store: str | os.PathLike | xr.Dataset,
    train_clips: Sequence[int],
    test_store: str | os.PathLike | xr.Dataset | None = None,
    test_clips: Sequence[int] | None = None,
    params: ESNParams | None = None,
    registry=None,
    name: str | None = None,
    note: str = "",
    progress: bool = False,
) -> tuple[ESNDecoder, dict]:
    """Train an ESNDecoder on ``train_clips``, score it on the test clips, optionally register it.

    Parameters
    ----------
    store : path or xarray.Dataset
        Store of the annotation version to train on.
    train_clips : sequence of int
    test_store : path or xarray.Dataset, optional
        Store holding the reference annotation of the test clips (default ``store``).
    test_clips : sequence of int, optional
        Clips to score (no scores without them).
    params : ESNParams, optional
    registry : Registry, optional
        Register the model (with its scores as metrics) as a new version of ``name``.
    name : str, optional
        Registry name.
    note : str
        Registry note (e.g. ``"annotation v3"``).

    Returns
    -------
    model, metrics : ESNDecoder, dict
    """
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    model = ESNDecoder(params or ESNParams()).fit(ds, train_clips, progress=progress)
    metrics: dict = {}
    if test_clips is not None:
        tds = ds if test_store is None else test_store
        tds = tds if isinstance(tds, xr.Dataset) else open_store(tds)
        metrics = evaluate_on_store(model, tds, test_clips)
    metrics["train_cpu_s"] = model.training_["cpu_seconds"]
    if registry is not None:
        if not name:
            raise ValueError("a registry name is needed to register the model")
        rec = registry.register(model, name, metrics=metrics, note=note)
        model.registry_version_ = rec
    return model, metrics
