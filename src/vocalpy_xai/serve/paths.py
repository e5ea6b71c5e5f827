"""Confine requested file paths to a data root (no ``..`` or symbolic-link escapes)."""

from __future__ import annotations

import os
import pathlib


class PathRefused(PermissionError):
    """A requested path lies outside the data root (or no data root is configured)."""


def resolve_inside(root: str | os.PathLike | None, requested: str) -> pathlib.Path:
    """The real path of ``requested`` if it is a file inside ``root``.

    ``requested`` is relative to ``root`` (or absolute). Every ``..`` and symbolic link is
    resolved first, so a link inside the root pointing outside it is refused like a
    literal ``../..``.

    Raises
    ------
    PathRefused
        No root configured, a NUL byte, or a resolved path outside the root.
    FileNotFoundError
        Inside the root but no such file.
    """
    if root is None:
        raise PathRefused("this server has no data root: upload the file instead")
    if "\x00" in requested or not requested.strip():
        raise PathRefused("invalid path")
    real_root = pathlib.Path(root).resolve(strict=True)
    p = pathlib.Path(requested)
    candidate = p if p.is_absolute() else real_root / p
    real = candidate.resolve(strict=False)
    if real != real_root and not real.is_relative_to(real_root):
        raise PathRefused(f"{requested!r} is outside the data root")
    if not real.is_file():
        raise FileNotFoundError(f"no file {requested!r} under the data root")
    return real
