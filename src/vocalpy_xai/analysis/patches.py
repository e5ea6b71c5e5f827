"""Fixed-size spectrogram patches of annotated syllables, read from a store.

Each syllable's dB spectrogram between its onset and offset, cut to ``fmin``-``fmax``, is
resampled to ``(n_freq, n_time)`` (linear interpolation; short and long syllables get the
same shape, so duration is carried by the shape of the patch, not its size) and standardised
per patch. Only the clips asked for are read.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import zoom

from ..store.dataset import open_store, store_frame_s


@attrs.define(frozen=True)
class PatchParams:
    """Shape and band of syllable patches.

    Parameters
    ----------
    n_freq, n_time : int
        Patch size after resampling.
    fmin, fmax : float
        Frequency band (Hz).
    floor_db : float
        Values below (patch max - ``floor_db``) are clipped before standardising.
    """

    n_freq: int = 32
    n_time: int = 32
    fmin: float = 500.0
    fmax: float = 10000.0
    floor_db: float = 60.0


def syllable_patches(
    store: str | os.PathLike | xr.Dataset,
    clips: Sequence[int] | None = None,
    params: PatchParams | None = None,
    max_syllables: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Patches of the annotated syllables of ``clips``.

    Parameters
    ----------
    store : path or xarray.Dataset
        An annotated spectrogram store.
    clips : sequence of int, optional
        Default: all clips.
    params : PatchParams, optional
    max_syllables : int, optional
        Keep a random (seeded) subset of this many syllables.
    seed : int

    Returns
    -------
    patches : numpy.ndarray
        (syllables, n_freq, n_time), float32, each standardised.
    table : pandas.DataFrame
        One row per patch: clip, audio_path, onset_s, offset_s, duration_s, label.
    """
    import zarr

    params = params or PatchParams()
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    seg_clip = ds["segment_clip"].values.astype(int)
    table = pd.DataFrame(
        {
            "clip": seg_clip,
            "audio_path": ds["source_path"].values[seg_clip].astype(str),
            "onset_s": ds["segment_onset_s"].values,
            "offset_s": ds["segment_offset_s"].values,
            "label": ds["segment_label"].values.astype(str),
        }
    )
    if clips is not None:
        table = table[table["clip"].isin(np.asarray(clips, int))]
    if max_syllables is not None and len(table) > max_syllables:
        keep = np.random.default_rng(seed).choice(len(table), max_syllables, replace=False)
        table = table.iloc[np.sort(keep)]
    table = table.reset_index(drop=True)
    table["duration_s"] = table["offset_s"] - table["onset_s"]
    freqs = ds["freq"].values
    band = np.flatnonzero((freqs >= params.fmin) & (freqs <= params.fmax))
    dt = store_frame_s(ds)
    spect = zarr.open_group(ds.encoding["store_path"], mode="r")["spectrogram"]
    out = np.empty((len(table), params.n_freq, params.n_time), dtype=np.float32)
    for clip, rows in table.groupby("clip").groups.items():
        n = int(ds["n_frames"].values[clip])
        s = spect[int(clip), band.min() : band.max() + 1, :n]
        for i in rows:
            a = int(np.floor(table.at[i, "onset_s"] / dt))
            b = max(a + 2, int(np.ceil(table.at[i, "offset_s"] / dt)))
            patch = np.asarray(s[:, a : min(b, n)], dtype=np.float64)
            patch = np.maximum(patch, patch.max() - params.floor_db)
            patch = zoom(
                patch, (params.n_freq / patch.shape[0], params.n_time / patch.shape[1]), order=1
            )
            out[i] = (patch - patch.mean()) / (patch.std() + 1e-6)
    return out, table
