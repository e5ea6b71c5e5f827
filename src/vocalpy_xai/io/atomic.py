"""Atomic writes: build a file or folder beside its destination, then publish it by rename.

Every file or folder the package writes goes through :func:`atomic_file` or
:func:`atomic_dir`: a reader never sees a half-written one, and an interrupted write leaves
the old one in place.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def atomic_dir(
    path: str | os.PathLike, replace: bool = False, create: bool = True
) -> Iterator[pathlib.Path]:
    """Yield a temporary folder that becomes ``path`` when the block ends without error.

    The temporary folder lies beside ``path`` (same file system, so publishing is one
    ``rename``); on an error it is removed and ``path`` is left as it was. Readers never see
    a half-written folder.

    Parameters
    ----------
    path : path-like
        The folder to create.
    replace : bool
        If ``path`` exists when the block ends: swap it for the new folder (the old one is
        moved aside, then deleted) instead of raising :class:`FileExistsError`.
    create : bool
        Create the temporary folder (default). False when the writer creates it itself
        (e.g. ``xarray.Dataset.to_zarr(mode="w-")``).

    Examples
    --------
    >>> with atomic_dir("models/esn") as tmp:
    ...     (tmp / "config.json").write_text("{}")
    """
    path = pathlib.Path(path)
    if path.exists() and not replace:
        raise FileExistsError(f"{path} exists; not overwriting it")
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    if create:
        tmp.mkdir(parents=True)
    else:
        tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
        if path.exists():
            if not replace:
                raise FileExistsError(
                    f"{path} appeared while it was being written; not overwriting it"
                )
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old)
        else:
            os.rename(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, overwrite: bool = True) -> Iterator[pathlib.Path]:
    """Yield a temporary path that replaces ``path`` when the block ends without error.

    The temporary file has ``path``'s name (writers that go by the extension work) inside
    a private folder beside it (``.NAME.<id>.tmp/``, same file system, so publishing is one
    ``os.replace``); on an error it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The file to write. Its folder is created if missing.
    overwrite : bool
        Replace an existing ``path`` (default); False: raise :class:`FileExistsError`.

    Examples
    --------
    >>> with atomic_file("out/metrics.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    folder.mkdir()
    try:
        tmp = folder / path.name
        yield tmp
        if not overwrite and path.exists():
            raise FileExistsError(f"{path} appeared while it was being written; not overwriting it")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str, overwrite: bool = True) -> pathlib.Path:
    """Write a UTF-8 text file atomically (:func:`atomic_file`); returns ``path``."""
    with atomic_file(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return pathlib.Path(path)


def leftovers(path: str | os.PathLike) -> list[pathlib.Path]:
    """Temporary folders of :func:`atomic_dir` for ``path`` left by a killed process.

    ``.NAME.tmp-*`` (a write that never finished) and ``.NAME.old-*`` (a replaced folder
    not yet deleted). Not for a ``path`` being written by another process at the same time.
    """
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(
        p
        for pattern in (f".{path.name}.tmp-*", f".{path.name}.old-*")
        for p in path.parent.glob(pattern)
        if p.is_dir()
    )


def remove_leftovers(path: str | os.PathLike) -> list[pathlib.Path]:
    """Delete the :func:`leftovers` of ``path``; returns what was removed."""
    removed = leftovers(path)
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


__all__ = ["atomic_dir", "atomic_file", "leftovers", "remove_leftovers", "write_text"]
