"""The saved-model folder contract, shared by every model family.

A saved model is a folder holding

- ``config.json``: a JSON object naming the ``family`` and the ``format_version``, and
  whatever else the family records (hyper-parameters, classes, spectrogram parameters, ...);
- the family's weight files (``weights.npz``, ``weights.pt``, ...) and ``metrics.json``;
- ``checksums.json``: the SHA-256 and size of every other file, recorded when it was saved.

:func:`save_model_folder` writes one atomically (never over an existing folder);
:func:`open_model_folder` checks one before its family reads it: the folder and its config
exist, the config is a JSON object of the expected family and a format version this
vocalpy-xai reads, it has the keys the family needs, and no file changed since it was saved.
:func:`load_arrays` reads a ``.npz`` of weights and checks their shapes. Every problem is a
:class:`~vocalpy_xai.errors.ModelFolderError` naming the file at fault.

A family adopts the contract with one call in ``save`` and one in ``load``::

    save_model_folder(path, "AudioProtoNet", 1, config,
                      {"weights.pt": lambda p: torch.save(state, p)}, metrics)
    config = open_model_folder(path, "AudioProtoNet", 1, required=("params", "class_names"))
"""

from __future__ import annotations

import json
import os
import pathlib
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import ModelFolderError
from ..io.atomic import atomic_dir

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
CHECKSUMS_FILE = "checksums.json"


def save_model_folder(
    path: str | os.PathLike,
    family: str,
    format_version: int,
    config: dict,
    files: Mapping[str, Callable[[pathlib.Path], object]],
    metrics: dict | None = None,
) -> pathlib.Path:
    """Write a model folder atomically: config, weight files, metrics, checksums.

    Parameters
    ----------
    path : path-like
        The folder to create; an existing one is never overwritten.
    family, format_version : str, int
        Written into ``config.json`` first.
    config : dict
        The family's own config entries (JSON-serialisable).
    files : mapping of file name to writer
        ``writer(file_path)`` writes one file of the folder (e.g. the weights).
    metrics : dict, optional
        Written to ``metrics.json``.

    Raises
    ------
    FileExistsError
        ``path`` exists.
    """
    from ..registry.hashing import hash_tree

    path = pathlib.Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; a saved model is never overwritten")
    with atomic_dir(path) as tmp:
        for name, write in files.items():
            write(tmp / name)
        full = {"family": family, "format_version": format_version, **config}
        (tmp / CONFIG_FILE).write_text(json.dumps(full, indent=2))
        (tmp / METRICS_FILE).write_text(json.dumps(metrics or {}, indent=2))
        (tmp / CHECKSUMS_FILE).write_text(json.dumps(hash_tree(tmp), indent=2))
    return path


def _read_json(path: pathlib.Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelFolderError(path, f"unreadable or corrupt JSON ({err})") from err


def verify_checksums(path: str | os.PathLike) -> None:
    """Check every file of a model folder against ``checksums.json``.

    A folder saved before checksums were recorded (no ``checksums.json``) is accepted with
    a warning.

    Raises
    ------
    ModelFolderError
        Naming the first file that is missing or changed since the model was saved.
    """
    from ..registry.hashing import sha256_file

    path = pathlib.Path(path)
    sums = path / CHECKSUMS_FILE
    if not sums.is_file():
        warnings.warn(
            f"{path}: no {CHECKSUMS_FILE} (saved by an older vocalpy-xai); its files cannot "
            "be checked against their hashes",
            stacklevel=3,
        )
        return
    recorded = _read_json(sums)
    if not isinstance(recorded, dict):
        raise ModelFolderError(sums, "not a JSON object of file hashes")
    for rel, rec in recorded.items():
        file = path / rel
        if not file.is_file():
            raise ModelFolderError(file, "missing: the model folder is incomplete")
        try:
            want = rec["sha256"]
        except (TypeError, KeyError) as err:
            raise ModelFolderError(sums, f"entry for {rel!r} has no 'sha256'") from err
        if sha256_file(file) != want:
            raise ModelFolderError(
                file,
                f"changed since the model was saved (SHA-256 differs from the recorded "
                f"{str(want)[:12]}...): truncated, corrupted or edited",
            )


def open_model_folder(
    path: str | os.PathLike,
    family: str,
    format_version: int | Sequence[int],
    required: Sequence[str] = (),
    verify: bool = True,
) -> dict:
    """The checked ``config.json`` of a model folder of one family.

    Parameters
    ----------
    path : path-like
        The model folder.
    family : str
        The family the config must name.
    format_version : int or sequence of int
        Format version(s) the caller reads.
    required : sequence of str
        Config keys the family needs.
    verify : bool
        Check every file against ``checksums.json`` (default).

    Raises
    ------
    ModelFolderError
        Naming the folder or the file at fault, and what is wrong.
    """
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ModelFolderError(path, "no such model folder")
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise ModelFolderError(path, f"not a saved {family} model folder (no {CONFIG_FILE})")
    config = _read_json(cfg)
    if not isinstance(config, dict):
        raise ModelFolderError(cfg, "model config is not a JSON object")
    named = config.get("family") or config.get("kind")
    if named != family:
        raise ModelFolderError(cfg, f"a '{named}' model, not a {family}")
    versions = (format_version,) if isinstance(format_version, int) else tuple(format_version)
    if config.get("format_version") not in versions:
        raise ModelFolderError(
            cfg,
            f"model format version {config.get('format_version')!r}; this vocalpy-xai reads "
            f"version {', '.join(map(str, versions))}",
        )
    missing = [k for k in required if k not in config]
    if missing:
        raise ModelFolderError(cfg, f"missing key(s) {', '.join(map(repr, missing))}")
    if verify:
        verify_checksums(path)
    return config


def load_arrays(
    file: str | os.PathLike, shapes: Mapping[str, tuple | None] | None = None
) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` (no pickles), with the shapes checked.

    Parameters
    ----------
    file : path-like
        The ``.npz``.
    shapes : mapping, optional
        Array name to expected shape (``None`` in a shape: any size; ``None`` as the shape:
        present, any shape). Arrays not named are read unchecked.

    Raises
    ------
    ModelFolderError
        The file is missing, unreadable, truncated, lacks an array or holds one of
        another shape.
    """
    file = pathlib.Path(file)
    if not file.is_file():
        raise ModelFolderError(file, "missing: the model folder is incomplete")
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ModelFolderError(file, f"unreadable or corrupt weights ({err})") from err
    for name, shape in (shapes or {}).items():
        if name not in arrays:
            raise ModelFolderError(file, f"no array '{name}'")
        if shape is not None:
            check_shape(file, name, arrays[name].shape, shape)
    return arrays


def check_shape(file: str | os.PathLike, name: str, shape: tuple, expected: tuple) -> None:
    """Refuse an array whose shape is not ``expected`` (``None``: any size on that axis)."""
    ok = len(shape) == len(expected) and all(
        e is None or int(s) == int(e) for s, e in zip(shape, expected, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ModelFolderError(file, f"array '{name}' has shape {tuple(shape)}, expected {want}")


__all__ = [
    "CHECKSUMS_FILE",
    "CONFIG_FILE",
    "METRICS_FILE",
    "check_shape",
    "load_arrays",
    "open_model_folder",
    "save_model_folder",
    "verify_checksums",
]
