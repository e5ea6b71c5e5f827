"""Spectrogram stores: zarr through xarray, built in parallel with dask, opened lazily."""

from .build import BuildReport, build_store
from .dataset import (
    ClipReader,
    WindowSampler,
    clip_segments,
    open_store,
    store_frame_s,
    store_params,
    valid_mask,
)
from .labels import BACKGROUND, PAD_LABEL, class_names, frame_labels, frame_times
from .params import SpectrogramParams
from .splits import prefix_split, split_by_duration, split_by_file

__all__ = [
    "clip_segments",
    "BACKGROUND",
    "PAD_LABEL",
    "BuildReport",
    "ClipReader",
    "SpectrogramParams",
    "WindowSampler",
    "build_store",
    "class_names",
    "frame_labels",
    "frame_times",
    "open_store",
    "prefix_split",
    "split_by_duration",
    "split_by_file",
    "store_frame_s",
    "store_params",
    "valid_mask",
]
