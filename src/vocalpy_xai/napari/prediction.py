"""Running a saved ESN annotation model on a recording: segments and frame labels."""

from __future__ import annotations

import os
import pathlib

import attrs
import numpy as np

from ..io.annotations import SegmentTable


@attrs.define(frozen=True)
class Prediction:
    """A model's annotation of one recording.

    Attributes
    ----------
    segments : SegmentTable
        Predicted segments.
    frame_labels : numpy.ndarray
        Class index of every model frame.
    frame_times : numpy.ndarray
        Time (s) of every model frame (:func:`vocalpy_xai.store.frame_times`).
    class_names : list of str
        Name of each class index (background first).
    model_dir : str
        The folder of the model used (for a registered model, its folder in the registry).
    model_name : str
        How to name the model: ``name@version`` for a registered model, else the folder name.
    """

    segments: SegmentTable
    frame_labels: np.ndarray
    frame_times: np.ndarray
    class_names: list[str]
    model_dir: str
    model_name: str = ""


def predict_recording(model, audio_path: str | os.PathLike) -> Prediction:
    """Annotate ``audio_path`` with an ESNDecoder: a saved model folder or a loaded model.

    :meth:`ESNDecoder.predict <vocalpy_xai.models.ESNDecoder.predict>` (audio at another rate
    resampled to the model's); frame ``i`` at ``time_offset + i * frame_s``
    (:func:`vocalpy_xai.store.frame_times`). A model loaded from the registry
    (:func:`~vocalpy_xai.napari.registry.load_model`) is named ``name@version``.
    """
    from ..models import ESNDecoder

    if isinstance(model, (str, os.PathLike)):
        model_dir = pathlib.Path(model)
        model = ESNDecoder.load(model_dir)
        model_name = model_dir.name
    else:
        rec = getattr(model, "registry_version_", None)
        model_dir = pathlib.Path(rec.path) if rec is not None else pathlib.Path()
        model_name = f"{rec.name}@{rec.version}" if rec is not None else type(model).__name__
    result = model.predict(audio_path, resample=True)
    return Prediction(
        result.segments,
        result.frame_labels,
        result.frame_times,
        list(result.class_names),
        str(model_dir),
        model_name,
    )
