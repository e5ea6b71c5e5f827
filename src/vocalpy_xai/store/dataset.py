"""Open a store lazily and serve random training windows without loading it whole."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np
import xarray as xr
import zarr

from ..errors import StoreError
from ..io.annotations import SegmentTable
from .build import COMPLETE_ATTR, STORE_VERSION, quiet_zarr
from .params import SpectrogramParams

#: frame labels up to this size are loaded into memory by :class:`WindowSampler`
LABELS_IN_MEMORY_BYTES: int = 256 * 2**20


def open_store(path: str | os.PathLike, chunks: dict | str | None = "auto-native") -> xr.Dataset:
    """Open a spectrogram store lazily (dask arrays; nothing is read until computed).

    Parameters
    ----------
    path : str or path-like
        A store made by :func:`~vocalpy_xai.store.build_store`.
    chunks : dict, None or "auto-native"
        ``"auto-native"`` (default): dask chunks equal to the zarr chunks. None: xarray's
        lazy arrays without dask. A dict: passed to :func:`xarray.open_zarr`.

    Returns
    -------
    ds : xarray.Dataset
        Dims ``clip``, ``freq`` (Hz), ``time`` (s); variables ``spectrogram``,
        ``frame_labels`` (when annotated), per-clip metadata, ``segment_*`` tables.

    Raises
    ------
    StoreError
        No store at ``path``, or one that is incomplete (an interrupted build's
        temporary folder) or of an unknown layout version.
    """
    path = pathlib.Path(path)
    if not path.exists():
        building = path.with_name(path.name + ".building")
        hint = (
            f" (an interrupted build left {building}; run the build again to resume it)"
            if building.exists()
            else ""
        )
        raise StoreError(f"{path}: no spectrogram store here{hint}")
    try:
        group = zarr.open_group(path, mode="r")
        attrs = dict(group.attrs)
    except Exception as err:
        raise StoreError(f"{path}: not a readable zarr store ({err})") from err
    if not attrs.get(COMPLETE_ATTR):
        raise StoreError(f"{path}: incomplete store (its build did not finish); rebuild it")
    if attrs.get("store_version") != STORE_VERSION:
        raise StoreError(
            f"{path}: store layout version {attrs.get('store_version')}, this vocalpy-xai "
            f"reads version {STORE_VERSION}; rebuild the store"
        )
    chunks_arg = {} if chunks == "auto-native" else chunks
    with quiet_zarr():
        ds = xr.open_zarr(path, consolidated=True, chunks=chunks_arg)
    ds = _plain_strings(ds)
    ds.encoding["store_path"] = str(path)
    return ds


def _plain_strings(ds: xr.Dataset) -> xr.Dataset:
    """Text variables as ordinary numpy ``str`` arrays (zarr returns numpy's StringDType).

    They are per-clip or per-segment metadata, small enough to load at open.
    """
    for name, var in ds.variables.items():
        if var.dtype.kind == "T":
            values = np.asarray(var.values.tolist(), dtype=str)
            ds = (
                ds.assign_coords({name: (var.dims, values, var.attrs)})
                if name in ds.coords
                else ds.assign({name: (var.dims, values, var.attrs)})
            )
    return ds


def clip_segments(ds: xr.Dataset, clip: int) -> SegmentTable:
    """The annotated segments (onsets, offsets in s, labels) of one clip of a store.

    ``clip`` is a position in ``ds``, as for :class:`ClipReader` (``ds`` may be a selection
    of a store's clips; its segment tables keep the store's clip numbers).
    """
    sel = ds["segment_clip"].values == int(ds["clip"].values[clip])
    return SegmentTable(
        ds["segment_onset_s"].values[sel],
        ds["segment_offset_s"].values[sel],
        ds["segment_label"].values[sel].astype(str),
    )


class ClipReader:
    """Whole clips (without padding) of a store: spectrograms and frame labels.

    The one clip reader of the package. ``clip`` is a position in ``ds`` (as in
    ``ds.isel(clip=clip)``), also when ``ds`` is a selection of a store
    (``ds.isel(clip=[5, 2])``): the position is mapped to the store's clip through the
    ``clip`` coordinate. A dataset opened from disk (:func:`open_store`) is read straight
    from its zarr arrays (much faster than dask clip by clip), any other through xarray.

    Parameters
    ----------
    ds : xarray.Dataset
        A store (:func:`open_store`) or a selection of one.
    """

    def __init__(self, ds: xr.Dataset):
        self.ds = ds
        self._n = ds["n_frames"].values
        # position in ``ds`` -> clip of the store on disk (``ds`` may be a selection of it)
        self._store_clip = np.asarray(ds["clip"].values, dtype=int)
        path = ds.encoding.get("store_path")
        self._group = zarr.open_group(path, mode="r") if path is not None else None

    def n_frames(self, clip: int) -> int:
        """Frames of clip ``clip`` (without padding)."""
        return int(self._n[clip])

    def _read(self, name: str, clip: int) -> np.ndarray:
        n = self.n_frames(clip)
        if self._group is not None:
            return np.asarray(self._group[name][int(self._store_clip[clip]), ..., :n])
        return np.asarray(self.ds[name].isel(clip=int(clip), time=slice(0, n)).values)

    def spectrogram(self, clip: int) -> np.ndarray:
        """The (freq, time) dB spectrogram of clip ``clip``, float32."""
        return self._read("spectrogram", clip).astype(np.float32, copy=False)

    def frame_labels(self, clip: int) -> np.ndarray:
        """The class index of every frame of clip ``clip``, int64."""
        if "frame_labels" not in self.ds:
            raise StoreError("this store has no frame labels (it was built without annotations)")
        return self._read("frame_labels", clip).astype(np.int64)


def store_frame_s(ds: xr.Dataset) -> float:
    """Seconds from one frame of a store to the next (``hop_length / samplerate``).

    Stored in the attribute ``frame_duration_s`` (the on-disk name, kept so that existing
    stores open); frame ``i`` is at ``i * store_frame_s(ds)`` (:func:`frame_times`).
    """
    return float(ds.attrs["frame_duration_s"])


def store_params(ds: xr.Dataset) -> SpectrogramParams:
    """The :class:`SpectrogramParams` a store was built with."""
    return SpectrogramParams.from_dict(json.loads(ds.attrs["spectrogram_params"]))


def valid_mask(ds: xr.Dataset) -> xr.DataArray:
    """Boolean (clip, time): True on real frames, False on padding past each clip's end."""
    frame = xr.DataArray(np.arange(ds.sizes["time"]), dims="time", coords={"time": ds["time"]})
    return (frame < ds["n_frames"]).transpose("clip", "time")


class WindowSampler:
    """Random fixed-length windows of a store, read chunk by chunk from zarr.

    Only the chunks under the requested windows are read and decompressed; the store is
    never loaded whole. Windows never cross a clip's end into padding.

    Parameters
    ----------
    store : path or xarray.Dataset
        A store path, or a dataset from :func:`open_store`.
    window_frames : int
        Window length in frames.
    clips : sequence of int, optional
        Clip indices to draw from (e.g. a training split). Default: all clips long enough.
    seed : int, optional
        Seed of the sampler's own random generator.
    workers : int
        Threads reading windows concurrently (zarr and its decompressor release the GIL
        while they wait or decode). Default 1: on a local disk the event loop of zarr, not
        the number of readers, limits the speed; more help on network stores.

    Examples
    --------
    >>> sampler = WindowSampler("bird0.zarr", window_frames=500, clips=train_idx, seed=0)
    >>> x, y = sampler.batch(64)  # (64, freq, 500) float32, (64, 500) int16
    """

    def __init__(
        self,
        store: str | os.PathLike | xr.Dataset,
        window_frames: int,
        clips: Sequence[int] | np.ndarray | None = None,
        seed: int | None = None,
        workers: int = 1,
    ):
        ds = store if isinstance(store, xr.Dataset) else open_store(store)
        self.workers = max(1, int(workers))
        self._pool = None
        path = _dataset_path(ds)
        group = zarr.open_group(path, mode="r")
        self.spectrogram = group["spectrogram"]
        # Frame labels are 1/(2 * n_freq) the size of the spectrograms: held in memory when
        # small (saves one zarr call per window), read from the store otherwise.
        labels = group["frame_labels"] if "frame_labels" in group else None
        if labels is not None and labels.nbytes <= LABELS_IN_MEMORY_BYTES:
            labels = labels[:]
        self.frame_labels = labels
        self.window_frames = int(window_frames)
        n_frames = ds["n_frames"].values
        clips = np.arange(ds.sizes["clip"]) if clips is None else np.asarray(clips, dtype=int)
        long_enough = clips[n_frames[clips] >= self.window_frames]
        if long_enough.size == 0:
            raise ValueError(
                f"no clip has {self.window_frames} frames; the longest has {n_frames.max()}"
            )
        self.clips = long_enough
        starts = n_frames[self.clips] - self.window_frames + 1
        self._weights = starts / starts.sum()  # every window position equally likely
        self._n_starts = starts
        self.rng = np.random.default_rng(seed)

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Pick ``n`` windows: clip indices and start frames."""
        which = self.rng.choice(len(self.clips), size=n, p=self._weights)
        starts = (self.rng.random(n) * self._n_starts[which]).astype(int)
        return self.clips[which], starts

    def read(self, clips: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Read the windows at (clip, start) pairs, grouped so each chunk is read once."""
        w = self.window_frames
        n_freq = self.spectrogram.shape[1]
        x = np.empty((len(clips), n_freq, w), dtype=np.float32)
        y = None if self.frame_labels is None else np.empty((len(clips), w), dtype=np.int16)

        runs = list(_runs(clips, starts, w))
        if self.workers == 1 and not isinstance(self.frame_labels, zarr.Array):
            # One event-loop round trip for the whole batch: zarr's per-call overhead (its
            # sync-over-async bridge, ~1 ms) is paid once, and chunks decode concurrently.
            blocks = _read_concurrently(self.spectrogram, runs, starts, w)
        else:
            blocks = None

        def read_run(i: int) -> None:
            clip, rows = runs[i]
            lo, hi = int(starts[rows].min()), int(starts[rows].max()) + w
            block = blocks[i] if blocks is not None else self.spectrogram[int(clip), :, lo:hi]
            lab = None if y is None else self.frame_labels[int(clip), lo:hi]
            for r in rows:
                s = int(starts[r]) - lo
                x[r] = block[:, s : s + w]
                if y is not None:
                    y[r] = lab[s : s + w]

        if blocks is not None or self.workers == 1 or len(runs) == 1:
            for i in range(len(runs)):
                read_run(i)
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="windows")
            list(self._pool.map(read_run, range(len(runs))))
        return x, y

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """``n`` random windows: spectrograms (n, freq, window) and labels (n, window)."""
        return self.read(*self.draw(n))


def _read_concurrently(array: zarr.Array, runs: list, starts: np.ndarray, w: int) -> list:
    """Read every run's block of ``array`` in one batch of concurrent zarr requests."""
    from zarr.core.sync import sync

    async_array = array.async_array

    async def gather():
        selections = []
        for clip, rows in runs:
            lo, hi = int(starts[rows].min()), int(starts[rows].max()) + w
            selections.append(async_array.getitem((int(clip), slice(None), slice(lo, hi))))
        return await asyncio.gather(*selections)

    return sync(gather())


def _runs(clips: np.ndarray, starts: np.ndarray, w: int):
    """Group windows of one clip that lie within two windows of each other: one read each."""
    order = np.lexsort((starts, clips))
    group = [order[0]]
    for i in order[1:]:
        prev = group[-1]
        if clips[i] == clips[prev] and starts[i] - starts[prev] <= 2 * w:
            group.append(i)
        else:
            yield clips[group[0]], np.array(group)
            group = [i]
    yield clips[group[0]], np.array(group)


def _dataset_path(ds: xr.Dataset) -> pathlib.Path:
    source = ds.encoding.get("store_path")
    if source is None:
        raise ValueError("this dataset was not opened from a store on disk (open_store)")
    return pathlib.Path(source)
