"""Running a saved model of any family on a recording.

:func:`predict_any` loads a model folder (or takes a loaded model) and runs it the way its
family's task says (:func:`vocalpy_xai.registry.family_task`): an annotation model
(ESNDecoder) gives a :class:`Prediction` (segments and frame labels,
:func:`predict_recording`); a classifier (AudioProtoNet, either backbone) gives a
:class:`Classified` (species scores per chunk and for the recording with their top
prototypes, and the recording's activation dataset, which the Predict dock draws as
prototype layers).
"""

from __future__ import annotations

import os
import pathlib

import attrs
import numpy as np

from ..io.annotations import SegmentTable
from ..progress import Progress


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


@attrs.define(frozen=True)
class Classified:
    """A classifier's answer for one recording, with what napari draws of it.

    Attributes
    ----------
    classification : vocalpy_xai.protonet.evidence.Classification
        Scores per chunk and for the recording, with their top prototypes.
    activations : xarray.Dataset
        The recording's activation dataset (one clip, maps on the recording's time axis).
    model_dir, model_name : str
        As in :class:`Prediction`.
    """

    classification: object
    activations: object
    model_dir: str
    model_name: str = ""

    def chunk_segments(self) -> SegmentTable:
        """The chunks as segments labelled with their predicted class."""
        c = self.classification
        return SegmentTable(
            onsets_s=np.asarray(c.chunk_start_s, float),
            offsets_s=np.asarray(c.chunk_end_s, float),
            labels=np.asarray(c.chunk_predicted, dtype=str),
        )


def _named(model) -> tuple[object, str, str]:
    """A loaded model (a folder is loaded by its family), its folder and its display name."""
    if isinstance(model, (str, os.PathLike)):
        from ..registry import load_model_dir

        model_dir = pathlib.Path(model)
        return load_model_dir(model_dir), str(model_dir), model_dir.name
    rec = getattr(model, "registry_version_", None)
    if rec is not None:
        return model, str(rec.path), f"{rec.name}@{rec.version}"
    folder = getattr(model, "path_", None)
    return model, str(folder or pathlib.Path()), type(model).__name__


def predict_any(
    model,
    audio_path: str | os.PathLike,
    top_k: int = 3,
    attribution: str | None = None,
    progress: Progress = False,
) -> Prediction | Classified:
    """Run a model of any registered family on ``audio_path``.

    Parameters
    ----------
    model : path-like or loaded model
        A saved model folder (loaded with its family's loader) or a loaded model (from the
        registry: named ``name@version``).
    audio_path : path-like
        The recording.
    top_k : int
        Prototypes per decision (classifiers).
    attribution : str, optional
        How a classifier's activation maps are drawn (:mod:`vocalpy_xai.protonet.faithfulness`),
        recorded in the activations' ``attrs["attribution"]``: default
        :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`, the method chosen by the
        faithfulness figures (a backward pass per chunk and prototype drawn);
        ``"linear"``, the prototypes' own similarity maps upsampled onto the spectrogram,
        is the fast preview. ``benchmarks/results/activation_maps.md`` compares their cost.
    progress : bool or callable
        Progress of the classifier's maps over chunks (:func:`vocalpy_xai.progress.steps`:
        ``True`` a tqdm bar, or a callable ``progress(done, total)``).
    """
    from ..registry import family_task
    from ..registry.families import family_of, read_config

    model, model_dir, model_name = _named(model)
    rec = getattr(model, "registry_version_", None)
    family = rec.family if rec is not None else None
    if family is None:
        family = family_of(read_config(model_dir)) if model_dir not in ("", ".") else None
    task = (
        family_task(family)
        if family
        else ("annotate" if hasattr(model, "annotate") else "classify")
    )
    if task == "annotate":
        pred = predict_recording(model, audio_path)
        return attrs.evolve(pred, model_dir=model_dir, model_name=model_name)
    from ..protonet.evidence import _classification_and_activations

    # classify_recording and recording_activations from one forward pass of the model
    classification, activations = _classification_and_activations(
        model, audio_path, top_k=top_k, attribution=attribution, progress=progress
    )
    return Classified(classification, activations, model_dir, model_name)
