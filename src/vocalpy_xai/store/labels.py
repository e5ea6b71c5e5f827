"""Frame labels aligned to annotations, and the label map of a store."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..io.annotations import SegmentTable
from ..io.manifest import natural_key

#: name of the class of frames outside every annotated segment
BACKGROUND: str = "background"
#: frame label of padding past the end of a clip (not a class)
PAD_LABEL: int = -1


def frame_times(n_frames: int, frame_s: float, time_offset: float = 0.0) -> np.ndarray:
    """Time (s) of each frame: frame ``i`` is at ``time_offset + i * frame_s``.

    The one frame-time convention of the package. A store's spectrogram frame ``i`` is
    centred on ``i * hop_length / samplerate`` (librosa's centred STFT, frame 0 at 0 s; its
    ``time`` coordinate and :func:`frame_labels` use these times), vak's frame ``i`` on
    ``t[0] + i * frame_dur`` (``time_offset = t[0]``). A model frame that pools ``stride``
    spectrogram frames (:class:`~vocalpy_xai.models.BandFeatures`) takes the time of its
    first one, ``frame_s = stride * hop_length / samplerate``: the frame whose label it was
    trained on. Every consumer (annotation models' predictions, the disagreement finder,
    frame-level metrics, napari's layers) reads frame times from here; a segment
    ``[onset, offset)`` holds the frames whose time ``t`` has ``onset <= t < offset``.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    frame_s : float
        Seconds from one frame to the next (the hop, times the pooling stride of a model).
    time_offset : float
        Time (s) of frame 0.

    Returns
    -------
    times : numpy.ndarray of float64
    """
    return time_offset + np.arange(n_frames) * float(frame_s)


def class_names(labels: Iterable[str], background: str | None = BACKGROUND) -> list[str]:
    """Sorted class names (numbers compared as numbers), the background class first."""
    names = sorted({str(x) for x in labels}, key=natural_key)
    if background is not None:
        if background in names:
            raise ValueError(f"a segment label equals the background class name '{background}'")
        names = [background, *names]
    return names


def frame_labels(
    segments: SegmentTable | None,
    times: np.ndarray,
    class_index: dict[str, int],
    background_index: int = 0,
) -> np.ndarray:
    """The class of every frame: the segment that contains its centre, else background.

    Parameters
    ----------
    segments : SegmentTable or None
        Sorted, non-overlapping segments. None: every frame is background.
    times : numpy.ndarray
        Frame centre times (s), from :func:`frame_times`.
    class_index : dict
        Label name to class index.
    background_index : int
        Class index of background frames.

    Returns
    -------
    labels : numpy.ndarray of int16
        One class index per frame. A frame belongs to a segment when
        ``onset <= t < offset``.
    """
    out = np.full(len(times), background_index, dtype=np.int16)
    if segments is None or len(segments) == 0:
        return out
    starts = np.searchsorted(times, segments.onsets_s, side="left")
    stops = np.searchsorted(times, segments.offsets_s, side="left")
    for a, b, label in zip(starts, stops, segments.labels, strict=True):
        out[a:b] = class_index[str(label)]
    return out
