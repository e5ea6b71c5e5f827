"""Fixed-size spectrogram windows cut from a store: the examples of a classifier.

Two tasks:

- species (clip-labelled stores such as xeno-canto's ``labels.csv``):
  :func:`species_windows` slides windows over whole clips; every window takes its clip's label.
- syllables (annotated stores such as Bird0): :func:`syllable_windows` centres one window on
  each annotated syllable, with context on both sides, and a mask of the frames the syllable
  itself covers.

Both return a :class:`Windows`, whose fields are what a prototype network's ``fit`` takes
(``X``, ``y``, ``class_names``, ``freq_hz``, ``frame_s``, ``sources``).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np
import xarray as xr

from ..store.dataset import ClipReader, store_frame_s
from ..store.labels import frame_times

#: percentile (per frequency row, over a clip's frames) used to pad windows past a clip's ends
FLOOR_PERCENTILE: float = 5.0


@attrs.define(eq=False)
class Windows:
    """Spectrogram windows with their labels and where each came from.

    Attributes
    ----------
    X : numpy.ndarray
        float32 ``(N, F, T)``: dB spectrogram windows (the store's values).
    y : numpy.ndarray
        int64 ``(N,)``: class index into ``class_names``.
    class_names : list of str
        Class names, index ``k`` is class ``k``.
    freq_hz : numpy.ndarray
        ``(F,)``: centre frequency (Hz) of each row.
    frame_s : float
        Seconds between columns; column ``j`` of window ``i`` is centred on
        ``sources[i]["start_s"] + j * frame_s`` in its clip.
    sources : list of dict
        One dict per window: ``clip`` (clip index in the dataset given, as in
        ``clip_indices``), ``source_path`` (audio file) and
        ``start_s`` (time of the window's first frame in its clip; negative when the window
        starts before the clip and was padded).
    mask : numpy.ndarray, optional
        bool ``(N, T)``: frames inside the annotated syllable (syllable windows only).
    meta : dict
        Other per-window arrays (e.g. ``onset_s``, ``offset_s``, ``label`` of syllables).
    """

    X: np.ndarray
    y: np.ndarray
    class_names: list[str]
    freq_hz: np.ndarray
    frame_s: float
    sources: list[dict]
    mask: np.ndarray | None = None
    meta: dict = attrs.field(factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        shape = ", ".join(f"{k}={v}" for k, v in zip("NFT", self.X.shape, strict=False))
        return f"Windows({shape}, classes={len(self.class_names)}, frame_s={self.frame_s:g})"

    def subset(self, index: Sequence[int] | np.ndarray) -> Windows:
        """The windows at ``index`` (integer positions or a boolean mask)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Windows(
            X=self.X[index],
            y=self.y[index],
            class_names=list(self.class_names),
            freq_hz=self.freq_hz,
            frame_s=self.frame_s,
            sources=[self.sources[i] for i in index],
            mask=None if self.mask is None else self.mask[index],
            meta={k: np.asarray(v)[index] for k, v in self.meta.items()},
        )

    def fit_kwargs(self) -> dict:
        """Keyword arguments for a classifier's ``fit``: X, y, class_names, freq_hz,
        frame_s, sources."""
        return {
            "X": self.X,
            "y": self.y,
            "class_names": list(self.class_names),
            "freq_hz": self.freq_hz,
            "frame_s": self.frame_s,
            "sources": self.sources,
        }


# ---------------------------------------------------------------------------- helpers
def _check_clips(ds: xr.Dataset, clip_indices) -> np.ndarray:
    clips = np.asarray(list(clip_indices), dtype=int)
    n = ds.sizes["clip"]
    bad = clips[(clips < 0) | (clips >= n)]
    if bad.size:
        raise IndexError(f"clip indices {bad[:10].tolist()} out of range: the store has {n} clips")
    return clips


def clip_spectrogram(ds: xr.Dataset, clip: int) -> np.ndarray:
    """The spectrogram of one clip without its padding: float32 ``(F, n_frames)``."""
    return ClipReader(ds).spectrogram(clip)


def _floor(spect: np.ndarray) -> np.ndarray:
    """Per-row noise floor (F, 1): a low percentile of each frequency row."""
    return np.percentile(spect, FLOOR_PERCENTILE, axis=1, keepdims=True).astype(np.float32)


def _cut(spect: np.ndarray, floor: np.ndarray, start: int, width: int) -> np.ndarray:
    """Columns ``start .. start + width`` of ``spect``; outside the clip, the row floor."""
    n_freq, n = spect.shape
    out = np.repeat(floor, width, axis=1)
    lo, hi = max(start, 0), min(start + width, n)
    if hi > lo:
        out[:, lo - start : hi - start] = spect[:, lo:hi]
    return out


def window_starts(n_frames: int, width: int, hop: int) -> np.ndarray:
    """Start frames of windows of ``width`` every ``hop`` frames over a clip.

    When the grid leaves at least half a hop of the clip's end uncovered, one more window
    is aligned to the clip's end. A clip shorter than one window gives one window at frame
    0 (padded past the end).
    """
    if n_frames <= width:
        return np.array([0])
    starts = np.arange(0, n_frames - width + 1, hop)
    if (n_frames - width) - starts[-1] >= max(1, hop // 2):
        starts = np.append(starts, n_frames - width)
    return starts


# ---------------------------------------------------------------------------- species
def species_windows(
    store_ds: xr.Dataset,
    clip_indices: Sequence[int] | np.ndarray,
    window_s: float = 3.0,
    hop_s: float = 1.0,
    random_offset: bool = False,
    rng: np.random.Generator | None = None,
) -> Windows:
    """Windows of ``window_s`` every ``hop_s`` seconds over whole labelled clips.

    Parameters
    ----------
    store_ds : xarray.Dataset
        A store of clip-labelled audio (:func:`~vocalpy_xai.open_store`), e.g. from
        :func:`~vocalpy_xai.clips.build_species_store`; it must have ``clip_class``.
    clip_indices : sequence of int
        Clips to cut (e.g. the training clips of one fold).
    window_s : float
        Window length in seconds (default 3.0, BirdNET's chunk). ``T = round(window_s /
        frame_s)`` frames.
    hop_s : float
        Seconds between window starts (default 1.0). One more window is aligned to a clip's
        end when the grid leaves half a hop or more of it uncovered; a clip shorter than a window gives one window padded with the clip's
        per-frequency noise floor (5th percentile of each row).
    random_offset : bool
        Start the grid of each clip at a random offset in ``[0, hop)`` (a random crop for
        training; needs ``rng``). Default False: windows start at 0, hop, 2 hop, ...
    rng : numpy.random.Generator, optional
        Random generator for ``random_offset``.

    Returns
    -------
    windows : Windows
        ``X`` float32 (N, F, T), ``y`` the clips' class indices into ``class_names`` (the
        store's ``clip_class_name``), ``sources`` with ``clip``, ``source_path``,
        ``start_s``.

    Raises
    ------
    ValueError
        The store has no clip labels, or a clip has none.
    """
    if "clip_class" not in store_ds:
        raise ValueError(
            "this store has no clip labels (clip_class); build it from a label table "
            "(Manifest.from_label_table / build_species_store)"
        )
    clips = _check_clips(store_ds, clip_indices)
    frame_s = store_frame_s(store_ds)
    width = round(window_s / frame_s)
    hop = max(1, round(hop_s / frame_s))
    if width < 1:
        raise ValueError(f"window_s={window_s} is shorter than one frame ({frame_s} s)")
    if random_offset and rng is None:
        raise ValueError("random_offset=True needs rng (a numpy.random.Generator)")
    class_of = store_ds["clip_class"].values
    paths = store_ds["source_path"].values
    n_frames = store_ds["n_frames"].values
    reader = ClipReader(store_ds)
    xs, ys, sources = [], [], []
    for c in clips:
        if class_of[c] < 0:
            raise ValueError(f"{paths[c]}: clip {c} has no label in the store")
        spect = reader.spectrogram(c)
        floor = _floor(spect)
        n = int(n_frames[c])
        starts = window_starts(n, width, hop)
        if random_offset and n > width:
            offset = int(rng.integers(0, hop))
            starts = window_starts(n - offset, width, hop) + offset
        for s in starts:
            xs.append(_cut(spect, floor, int(s), width))
            ys.append(int(class_of[c]))
            sources.append(
                {"clip": int(c), "source_path": str(paths[c]), "start_s": float(s * frame_s)}
            )
    n_freq = store_ds.sizes["freq"]
    return Windows(
        X=np.stack(xs).astype(np.float32, copy=False)
        if xs
        else np.empty((0, n_freq, width), np.float32),
        y=np.asarray(ys, dtype=np.int64),
        class_names=[str(c) for c in store_ds["clip_class_name"].values],
        freq_hz=np.asarray(store_ds["freq"].values, dtype=float),
        frame_s=frame_s,
        sources=sources,
    )


# ---------------------------------------------------------------------------- syllables
def syllable_windows(
    store_ds: xr.Dataset,
    clip_indices: Sequence[int] | np.ndarray,
    width_s: float = 0.3,
    labels: Sequence[str] | None = None,
) -> Windows:
    """One window centred on each annotated syllable of the given clips, with its mask.

    Parameters
    ----------
    store_ds : xarray.Dataset
        An annotated store (segment tables and frame labels, e.g. Bird0 built from
        ``Annotation.xml``).
    clip_indices : sequence of int
        Clips whose syllables are cut.
    width_s : float
        Window width in seconds (default 0.3: Bird0 syllables last 36-140 ms, so a window
        holds the syllable and about one neighbour's worth of context on each side).
        ``T = round(width_s / frame_s)`` frames, made odd so that one frame is the centre.
    labels : sequence of str, optional
        The syllable classes, in class order. Default: the store's classes without the
        background class (Bird0: ``'0'`` ... ``'8'``).

    Returns
    -------
    windows : Windows
        ``X`` float32 (N, F, T) centred on the syllables' midpoints (padded with the clip's
        per-frequency noise floor past its ends); ``y`` the syllable's class;
        ``mask`` bool (N, T): True on frames whose centre lies in ``[onset, offset)`` of
        the syllable (the rule the store's frame labels use); ``meta`` holds ``onset_s``,
        ``offset_s``, ``label`` (str) and ``centre_frame_label`` (the store's frame label
        at the centre frame, as a class name; ``"background"`` only for a syllable too
        short to contain a frame centre).

    Raises
    ------
    ValueError
        The store has no annotations, or a segment label is not in ``labels``.
    """
    if "segment_clip" not in store_ds or "class" not in store_ds.coords:
        raise ValueError("this store has no annotations (segment tables); build it from one")
    clips = _check_clips(store_ds, clip_indices)
    frame_s = store_frame_s(store_ds)
    width = round(width_s / frame_s)
    width += 1 - width % 2  # odd: a centre frame
    half = width // 2
    store_classes = [str(c) for c in store_ds["class"].values]
    background = store_ds.attrs.get("background_label", "background")
    class_names = (
        list(labels) if labels is not None else [c for c in store_classes if c != background]
    )
    index = {name: i for i, name in enumerate(class_names)}
    # segment tables keep the store's clip numbers; ``clips`` are positions in store_ds
    store_clip = np.asarray(store_ds["clip"].values, dtype=int)
    seg_clip = store_ds["segment_clip"].values
    seg_on = store_ds["segment_onset_s"].values
    seg_off = store_ds["segment_offset_s"].values
    seg_lab = store_ds["segment_label"].values.astype(str)
    unknown = sorted(set(seg_lab[np.isin(seg_clip, store_clip[clips])]) - set(index))
    if unknown:
        raise ValueError(f"segment label(s) {unknown} not in the classes {class_names}")
    paths = store_ds["source_path"].values
    has_frame_labels = "frame_labels" in store_ds
    reader = ClipReader(store_ds)
    xs, ys, masks, sources = [], [], [], []
    meta: dict[str, list] = {"onset_s": [], "offset_s": [], "label": [], "centre_frame_label": []}
    for c in clips:
        sel = np.flatnonzero(seg_clip == store_clip[c])
        if sel.size == 0:
            continue
        spect = reader.spectrogram(c)
        floor = _floor(spect)
        n = spect.shape[1]
        times = frame_times(n, frame_s)
        frame_lab = reader.frame_labels(c) if has_frame_labels else None
        for k in sel:
            on, off = float(seg_on[k]), float(seg_off[k])
            a = int(np.searchsorted(times, on, side="left"))
            b = int(np.searchsorted(times, off, side="left"))
            centre = (a + b - 1) // 2 if b > a else min(round((on + off) / 2 / frame_s), n - 1)
            start = centre - half
            xs.append(_cut(spect, floor, start, width))
            m = np.zeros(width, dtype=bool)
            lo, hi = max(a - start, 0), min(b - start, width)
            if hi > lo:
                m[lo:hi] = True
            masks.append(m)
            ys.append(index[seg_lab[k]])
            sources.append(
                {"clip": int(c), "source_path": str(paths[c]), "start_s": float(start * frame_s)}
            )
            meta["onset_s"].append(on)
            meta["offset_s"].append(off)
            meta["label"].append(seg_lab[k])
            meta["centre_frame_label"].append(
                store_classes[int(frame_lab[centre])] if frame_lab is not None else ""
            )
    n_freq = store_ds.sizes["freq"]
    return Windows(
        X=np.stack(xs).astype(np.float32, copy=False)
        if xs
        else np.empty((0, n_freq, width), np.float32),
        y=np.asarray(ys, dtype=np.int64),
        class_names=class_names,
        freq_hz=np.asarray(store_ds["freq"].values, dtype=float),
        frame_s=frame_s,
        sources=sources,
        mask=np.stack(masks) if masks else np.zeros((0, width), dtype=bool),
        meta={
            "onset_s": np.asarray(meta["onset_s"], dtype=float),
            "offset_s": np.asarray(meta["offset_s"], dtype=float),
            "label": np.asarray(meta["label"], dtype=str),
            "centre_frame_label": np.asarray(meta["centre_frame_label"], dtype=str),
        },
    )
