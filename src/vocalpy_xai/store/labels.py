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


def frame_times(n_frames: int, hop_length: int, samplerate: int) -> np.ndarray:
    """Centre time (s) of each frame: frame ``i`` is centred on ``i * hop / samplerate``."""
    return np.arange(n_frames) * (hop_length / samplerate)


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
