"""Spectrogram windows for the prototype nets, cut from a spectrogram store.

:func:`syllable_windows`: one fixed-width window per annotated syllable (centred on it), the
syllable task; :func:`sliding_windows`: regular windows along whole clips (the species task,
or explaining a long recording window by window). Both return the ``sources`` that
:meth:`AudioProtoNet.fit` and :meth:`AudioProtoNet.explain` record.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import xarray as xr


@attrs.define
class Windows:
    """Windows (N, F, T) in dB, their labels, grid and provenance."""

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]
    freq_hz: np.ndarray
    frame_s: float
    sources: list[dict]

    def __len__(self) -> int:
        return len(self.X)

    def subset(self, index) -> Windows:
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return attrs.evolve(
            self, X=self.X[index], y=self.y[index], sources=[self.sources[i] for i in index]
        )


def _freq_band(ds: xr.Dataset, fmin: float | None, fmax: float | None) -> np.ndarray:
    freq = ds["freq"].values
    keep = np.ones(len(freq), bool)
    if fmin is not None:
        keep &= freq >= fmin
    if fmax is not None:
        keep &= freq <= fmax
    return np.flatnonzero(keep)


def syllable_windows(
    ds: xr.Dataset,
    clips: Sequence[int] | None = None,
    window_s: float = 0.2,
    fmin: float | None = None,
    fmax: float | None = None,
    class_names: Sequence[str] | None = None,
) -> Windows:
    """One window of ``window_s`` centred on every annotated syllable of ``clips``.

    Windows that would cross a clip's start or end are shifted inside it (syllables too
    close to both ends of a clip shorter than the window are skipped). Labels index
    ``class_names`` (default: the store's syllable labels, sorted, background excluded).
    """
    step = float(ds.attrs["frame_duration_s"])
    width = int(round(window_s / step))
    rows = _freq_band(ds, fmin, fmax)
    seg_clip = ds["segment_clip"].values
    onsets, offsets = ds["segment_onset_s"].values, ds["segment_offset_s"].values
    labels = ds["segment_label"].values.astype(str)
    n_frames = ds["n_frames"].values
    clips = np.arange(ds.sizes["clip"]) if clips is None else np.asarray(clips)
    if class_names is None:
        class_names = sorted(set(labels), key=lambda s: (len(s), s))
    index = {c: k for k, c in enumerate(class_names)}
    X, y, sources = [], [], []
    for clip in clips:
        segs = np.flatnonzero(seg_clip == clip)
        if not len(segs) or n_frames[clip] < width:
            continue
        spect = ds["spectrogram"].isel(clip=int(clip), freq=rows).values[:, : n_frames[clip]]
        for s in segs:
            if labels[s] not in index:
                continue
            centre = int(round((onsets[s] + offsets[s]) / 2 / step))
            start = min(max(centre - width // 2, 0), n_frames[clip] - width)
            X.append(spect[:, start : start + width])
            y.append(index[labels[s]])
            sources.append(
                {
                    "clip": f"{clip}:{s}",
                    "source_path": str(ds["source_path"].values[clip]),
                    "start_s": start * step,
                }
            )
    return Windows(
        X=np.asarray(X, dtype=np.float32),
        y=np.asarray(y, dtype=int),
        class_names=list(class_names),
        freq_hz=ds["freq"].values[rows],
        frame_s=step,
        sources=sources,
    )


def sliding_windows(
    spectrogram: np.ndarray,
    freq_hz: np.ndarray,
    frame_s: float,
    window_s: float,
    hop_s: float | None = None,
    clip: str = "clip",
    source_path: str = "",
) -> Windows:
    """Regular windows along one (freq, time) spectrogram (the last one ends at its end).

    Returned with ``y`` all zero and ``class_names`` empty (unlabelled).
    """
    width = int(round(window_s / frame_s))
    hop = int(round((hop_s or window_s) / frame_s))
    n = spectrogram.shape[1]
    if n < width:
        starts = [0]
    else:
        starts = list(range(0, n - width + 1, hop))
        if starts[-1] != n - width:
            starts.append(n - width)
    X = np.stack([spectrogram[:, s : s + width] for s in starts]).astype(np.float32)
    sources = [
        {"clip": f"{clip}@{s * frame_s:.3f}", "source_path": source_path, "start_s": s * frame_s}
        for s in starts
    ]
    return Windows(X, np.zeros(len(X), int), [], np.asarray(freq_hz), frame_s, sources)
