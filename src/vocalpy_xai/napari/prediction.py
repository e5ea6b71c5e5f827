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
        Centre (s) of every model frame.
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

    The audio goes through the model's own spectrogram pipeline (resampled to its rate);
    frame ``i`` is centred on ``time_offset + (i + 0.5) * frame_dur``. A model loaded from
    the registry (:func:`~vocalpy_xai.napari.registry.load_model`) is named
    ``name@version``.
    """
    from ..io.audio import load_audio
    from ..models import ESNDecoder, frames_to_segments
    from ..models.sources import spectrogram_of_audio

    if isinstance(model, (str, os.PathLike)):
        model_dir = pathlib.Path(model)
        model = ESNDecoder.load(model_dir)
        model_name = model_dir.name
    else:
        rec = getattr(model, "registry_version_", None)
        model_dir = pathlib.Path(rec.path) if rec is not None else pathlib.Path()
        model_name = f"{rec.name}@{rec.version}" if rec is not None else type(model).__name__
    record = load_audio(audio_path, samplerate=model.samplerate_, mono=True)
    spect, freqs = spectrogram_of_audio(model.pipeline_, record.sound.data[0], model.samplerate_)
    labels, onsets = model.predict_frames(spect, freqs)
    seg = frames_to_segments(
        labels, onsets, model.frame_dur_, model.class_names_, model.postprocess
    )
    offset = float(model.time_offset_)
    seg = attrs.evolve(seg, onsets_s=seg.onsets_s + offset, offsets_s=seg.offsets_s + offset)
    times = offset + (np.arange(len(labels)) + 0.5) * model.frame_dur_
    return Prediction(seg, labels, times, list(model.class_names_), str(model_dir), model_name)
