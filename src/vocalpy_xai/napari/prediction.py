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
        The model used.
    """

    segments: SegmentTable
    frame_labels: np.ndarray
    frame_times: np.ndarray
    class_names: list[str]
    model_dir: str


def predict_recording(model_dir: str | os.PathLike, audio_path: str | os.PathLike) -> Prediction:
    """Annotate ``audio_path`` with the ESNDecoder saved in ``model_dir``.

    The audio goes through the model's own spectrogram pipeline (resampled to its rate);
    frame ``i`` is centred on ``time_offset + (i + 0.5) * frame_dur``.
    """
    from ..io.audio import load_audio
    from ..models import ESNDecoder, frames_to_segments
    from ..models.sources import spectrogram_of_audio

    model = ESNDecoder.load(model_dir)
    record = load_audio(audio_path, samplerate=model.samplerate_, mono=True)
    spect, freqs = spectrogram_of_audio(model.pipeline_, record.sound.data[0], model.samplerate_)
    labels, onsets = model.predict_frames(spect, freqs)
    seg = frames_to_segments(
        labels, onsets, model.frame_dur_, model.class_names_, model.postprocess
    )
    offset = float(model.time_offset_)
    seg = attrs.evolve(seg, onsets_s=seg.onsets_s + offset, offsets_s=seg.offsets_s + offset)
    times = offset + (np.arange(len(labels)) + 0.5) * model.frame_dur_
    return Prediction(seg, labels, times, list(model.class_names_), str(pathlib.Path(model_dir)))
