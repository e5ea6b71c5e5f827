"""SHA-256 of every file of a folder, and checks against a recorded list."""

from __future__ import annotations

import pathlib

from ..io.audio import sha256_file  # the one file hash of the package

__all__ = ["hash_tree", "sha256_file"]


def hash_tree(root: str | pathlib.Path) -> dict[str, dict]:
    """``{relative path: {"sha256": ..., "bytes": ...}}`` of every file under ``root``.

    Paths use forward slashes and are sorted; symbolic links are refused (a registered
    model must be self-contained).
    """
    root = pathlib.Path(root)
    out: dict[str, dict] = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            raise ValueError(f"{p}: symbolic links cannot be registered; copy the file instead")
        if p.is_file():
            out[p.relative_to(root).as_posix()] = {
                "sha256": sha256_file(p),
                "bytes": p.stat().st_size,
            }
    return out


def compare_tree(root: str | pathlib.Path, recorded: dict[str, dict]) -> list[str]:
    """Problems (one line each) between the files under ``root`` and ``recorded``."""
    root = pathlib.Path(root)
    problems = []
    present = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    for rel, rec in recorded.items():
        p = present.get(rel)
        if p is None:
            problems.append(f"{rel}: missing")
        elif sha256_file(p) != rec["sha256"]:
            problems.append(f"{rel}: SHA-256 differs from the recorded {rec['sha256'][:12]}...")
    problems += [
        f"{rel}: not part of the registered version" for rel in present if rel not in recorded
    ]
    return problems
