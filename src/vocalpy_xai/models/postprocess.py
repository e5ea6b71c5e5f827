"""From frame predictions to segments: runs, onset splits, majority vote, minimum durations.

A frame classifier alone merges syllables that touch (Bengalese finch syllables are often
separated by 0-2 ms), so the annotation models also predict an *onset* score per frame; a
run of non-background frames is split at every onset peak inside it. Each resulting
segment takes the majority label of its frames, and segments shorter than a minimum
duration are dropped.
"""

from __future__ import annotations

import pathlib

import attrs
import crowsetta
import numpy as np
import vocalpy

from ..io.annotations import SegmentTable


@attrs.define(frozen=True)
class PostprocessParams:
    """How frame predictions become segments.

    Parameters
    ----------
    onset_threshold : float
        An onset score peak above this splits a run of syllable frames.
    min_segment_s : float
        Segments shorter than this (s) are dropped. The default (28 ms) sits under the
        shortest Bengalese finch syllables of Bird0 (1st percentile 33 ms) and over the
        short unannotated calls between bouts; set it for your species.
    min_split_s : float
        A split leaves at least this much (s) on each side; closer peaks are ignored.
    onset_shift_s, offset_shift_s : float
        Added to every onset and offset (s). A model frame is labelled by the first
        spectrogram frame of its group, so frame edges come out late by part of a frame;
        the defaults (-2 ms, -1 ms for 8-ms frames) were chosen on Bird0 files 62-94
        (median errors +3 ms and +2 ms before; onset F1 at 10 ms 0.970 -> 0.985, 1-ms
        frame accuracy 0.960 -> 0.968). A shifted onset never precedes the previous
        segment's offset or 0.
    """

    onset_threshold: float = 0.6
    min_segment_s: float = 0.028
    min_split_s: float = 0.024
    onset_shift_s: float = -0.002
    offset_shift_s: float = -0.001


def frames_to_segments(
    labels: np.ndarray,
    onset_scores: np.ndarray | None,
    frame_s: float,
    class_names,
    params: PostprocessParams | None = None,
    background: int = 0,
) -> SegmentTable:
    """Turn per-frame class indices (and onset scores) into a :class:`SegmentTable`.

    Parameters
    ----------
    labels : numpy.ndarray of int
        Predicted class per frame.
    onset_scores : numpy.ndarray or None
        Predicted onset score per frame; None: runs are not split.
    frame_s : float
        Seconds from one frame to the next: frame ``i`` is at ``i * frame_s``
        (:func:`vocalpy_xai.store.frame_times`), and a run of frames ``s .. e - 1`` becomes
        the segment ``[s * frame_s, e * frame_s)`` before the shifts of ``params``.
    class_names : sequence of str
        Name of each class index.
    params : PostprocessParams, optional
    background : int
        Class index of background frames.

    Returns
    -------
    segments : SegmentTable
    """
    params = params or PostprocessParams()
    labels = np.asarray(labels)
    n = len(labels)
    min_len = max(1, int(round(params.min_segment_s / frame_s)))
    half = max(1, int(round(params.min_split_s / frame_s)))
    is_syl = labels != background
    # run starts and stops of syllable frames
    edges = np.diff(np.concatenate([[0], is_syl.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    on, off, names = [], [], []
    n_classes = len(class_names)
    for a, b in zip(starts, stops, strict=True):
        cuts = [a]
        if onset_scores is not None and b - a >= 2 * half:
            seg = onset_scores[a:b]
            for k in range(half, b - a - half + 1):
                lo, hi = max(0, k - half), min(b - a, k + half + 1)
                if seg[k] > params.onset_threshold and seg[k] == seg[lo:hi].max():
                    if a + k - cuts[-1] >= half:
                        cuts.append(a + k)
        cuts.append(b)
        for s, e in zip(cuts[:-1], cuts[1:], strict=True):
            if e - s < min_len:
                continue
            votes = np.bincount(labels[s:e], minlength=n_classes)
            votes[background] = 0
            on.append(s * frame_s)
            off.append(min(e, n) * frame_s)
            names.append(str(class_names[int(votes.argmax())]))
    on = np.array(on, float) + params.onset_shift_s
    off = np.array(off, float) + params.offset_shift_s
    if len(on):
        on = np.maximum(on, np.concatenate([[0.0], off[:-1]]))
    return SegmentTable(on, off, np.array(names, dtype=str))


def to_annotation(
    segments: SegmentTable, audio_path: str | pathlib.Path | None, annot_path=None
) -> crowsetta.Annotation:
    """A crowsetta sequence annotation of the segments: :meth:`SegmentTable.to_annotation`."""
    return segments.to_annotation(audio_path, annot_path or "predicted")


def to_vocalpy_segments(segments: SegmentTable, sound: vocalpy.Sound) -> vocalpy.Segments:
    """The segments as :class:`vocalpy.Segments` (sample indices) of ``sound``, with labels."""
    start = np.round(segments.onsets_s * sound.samplerate).astype(int)
    stop = np.round(segments.offsets_s * sound.samplerate).astype(int)
    return vocalpy.Segments(
        start_inds=start,
        lengths=np.maximum(stop - start, 1),
        samplerate=sound.samplerate,
        labels=[str(x) for x in segments.labels],
    )
