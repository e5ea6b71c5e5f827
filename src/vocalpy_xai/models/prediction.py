"""What an annotation model's one inference path returns: :class:`AnnotationPrediction`.

Every annotation model's ``predict`` (:meth:`vocalpy_xai.models.ESNDecoder.predict`) returns
one :class:`AnnotationPrediction`: its segments, and, frame by frame, the class it chose,
class probabilities and the frame's time (:func:`vocalpy_xai.store.frame_times`, the one
frame-time convention). The vak runner, the review loop and report, the disagreement finder,
napari, the demo, the segmenter, the batch annotator and the server all read this type.
"""

from __future__ import annotations

import attrs
import numpy as np

from ..io.annotations import SegmentTable


def scores_to_probabilities(scores: np.ndarray) -> np.ndarray:
    """Readout scores (frames, classes) to probabilities: clip at 0, normalise each frame.

    An ESNDecoder's ridge readout gives one score per class (its targets are one-hot, so
    scores lie near 0 or 1): a monotone, calibration-free reading that keeps the arg-max
    wherever some score is positive (uniform where every score is <= 0).
    """
    p = np.clip(np.asarray(scores, dtype=np.float64), 0.0, None)
    total = p.sum(axis=1, keepdims=True)
    uniform = np.full_like(p, 1.0 / p.shape[1])
    return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)


@attrs.define(frozen=True)
class AnnotationPrediction:
    """An annotation model's prediction on one recording or spectrogram.

    Attributes
    ----------
    segments : SegmentTable
        Predicted segments (s, in the input's time).
    frame_labels : numpy.ndarray of int
        Class index the model chose for every model frame (what the segments are made of).
    probabilities : numpy.ndarray
        (frames, classes) class probabilities of every model frame, rows summing to 1.
    class_names : list of str
        Name of each class index, background first.
    frame_s : float
        Seconds from one model frame to the next.
    time_offset : float
        Time (s) of model frame 0.
    onset_scores : numpy.ndarray, optional
        Onset score of every frame, for models that predict onsets.
    """

    segments: SegmentTable
    frame_labels: np.ndarray
    probabilities: np.ndarray
    class_names: list[str]
    frame_s: float
    time_offset: float = 0.0
    onset_scores: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_labels)

    @property
    def frame_times(self) -> np.ndarray:
        """Time (s) of every model frame: :func:`vocalpy_xai.store.frame_times`."""
        from ..store.labels import frame_times

        return frame_times(len(self.frame_labels), self.frame_s, self.time_offset)
