"""The activation-dataset format: its constants, checks, reader and writer (torch-free).

An activation dataset (``attrs["kind"] == "vocalpy-xai-activations"``, ``format_version``
1) holds prototype similarity maps on the input's time (s) and frequency (Hz) grid; it is
written by :func:`vocalpy_xai.protonet.write_activations` (the variables are described in
:mod:`vocalpy_xai.protonet.activations`) and read by the napari plugin. This module is the
one place that knows the format's name, version and required variables, so that the napari
plugin reads it without importing torch.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import xarray as xr

from ..errors import ActivationsFormatError
from .atomic import atomic_dir

#: ``attrs["kind"]`` of an activation dataset
KIND: str = "vocalpy-xai-activations"
#: the format version this vocalpy-xai writes and reads
FORMAT_VERSION: int = 1
#: variables an activation dataset must hold
REQUIRED: tuple[str, ...] = (
    "similarity",
    "spectrogram",
    "score",
    "top_prototypes",
    "prototype_class",
    "prototype_source_path",
    "prototype_t0_s",
    "prototype_t1_s",
    "prototype_f0_hz",
    "prototype_f1_hz",
    "clip_source_path",
    "clip_start_s",
)

__all__ = [
    "FORMAT_VERSION",
    "KIND",
    "REQUIRED",
    "ActivationsFormatError",
    "is_activation_store",
    "map_method",
    "open_activations",
    "validate",
    "write_activations",
]


def map_method(ds: xr.Dataset) -> str:
    """The attribution method that drew a dataset's maps (``attrs["attribution"]``).

    Datasets written before they recorded it hold ``"linear"`` maps (the prototypes' cell
    maps upsampled), the only kind drawn then.
    """
    return str(ds.attrs.get("attribution", "linear"))


def validate(ds: xr.Dataset, where: str) -> None:
    """Check kind, format version and required variables; ``where`` names the dataset.

    Raises
    ------
    ActivationsFormatError
        Another kind of dataset, another format version, or variables missing.
    """
    kind, version = ds.attrs.get("kind"), ds.attrs.get("format_version")
    if kind != KIND:
        raise ActivationsFormatError(
            f"{where}: not a vocalpy-xai activation dataset (kind={kind!r}, expected {KIND!r})"
        )
    try:
        version = int(version)
    except (TypeError, ValueError):
        pass
    if version != FORMAT_VERSION:
        raise ActivationsFormatError(
            f"{where}: activation format version {version}, this vocalpy-xai reads "
            f"version {FORMAT_VERSION}"
        )
    missing = [name for name in REQUIRED if name not in ds.variables]
    if missing:
        raise ActivationsFormatError(f"{where}: activation dataset lacks {', '.join(missing)}")


def is_activation_store(path: str | os.PathLike) -> bool:
    """True when ``path`` is a zarr group whose ``attrs["kind"]`` is :data:`KIND`."""
    import zarr

    try:
        return zarr.open_group(str(path), mode="r").attrs.get("kind") == KIND
    except Exception:
        return False


def open_activations(path: str | os.PathLike) -> xr.Dataset:
    """Open an activation dataset lazily (dask), after checking it (:func:`validate`).

    Text variables come back as plain numpy ``str``; ``ds.encoding["store_path"]`` is the
    path opened.

    Raises
    ------
    ActivationsFormatError
        No such path, not a readable zarr dataset, or :func:`validate` refuses it.
    """
    from ..store.dataset import _plain_strings

    path = pathlib.Path(path)
    if not path.exists():
        raise ActivationsFormatError(f"{path}: no activation dataset here")
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except Exception as err:
        raise ActivationsFormatError(f"{path}: not a readable zarr dataset ({err})") from err
    validate(ds, str(path))
    ds = _plain_strings(ds)
    for name, var in ds.variables.items():  # object text (zarr 2 stores) as plain str too
        if var.dtype.kind == "O" and var.ndim <= 1:
            values = np.asarray([str(v) for v in np.asarray(var.values).ravel()], dtype=str)
            values = values.reshape(var.shape)
            ds = (
                ds.assign_coords({name: (var.dims, values, var.attrs)})
                if name in ds.coords
                else ds.assign({name: (var.dims, values, var.attrs)})
            )
    ds.encoding["store_path"] = str(path)
    return ds


def write_activations(
    ds: xr.Dataset, path: str | os.PathLike, overwrite: bool = False
) -> pathlib.Path:
    """Write an activation dataset to zarr atomically (temp folder, then rename).

    Chunked one clip at a time. An existing ``path`` is refused unless ``overwrite``.
    """
    validate(ds, "the dataset to write")
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    encoding = {
        "similarity": {"chunks": (1, *ds["similarity"].shape[1:])},
        "spectrogram": {"chunks": (1, *ds["spectrogram"].shape[1:])},
    }
    with atomic_dir(path, replace=overwrite, create=False) as tmp:
        _variable_length_strings(ds).to_zarr(
            tmp, mode="w-", encoding=encoding, zarr_format=3, consolidated=False
        )
    return path


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Text as numpy StringDType: zarr 3's specified variable-length string type.

    (Fixed-width numpy ``<U`` text has no zarr v3 specification; zarr warns about it.)
    """
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            values = var.values.astype(np.dtypes.StringDType())
            ds = (
                ds.assign_coords({name: (var.dims, values, var.attrs)})
                if name in ds.coords
                else ds.assign({name: (var.dims, values, var.attrs)})
            )
    return ds
