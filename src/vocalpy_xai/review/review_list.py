"""Review lists on disk: a CSV a person (or the napari plugin) opens, fills and returns.

One row per segment to check, most suspicious first: ``rank``, ``audio_path``, ``onset_s``,
``offset_s``, ``human_label``, ``model_label``, the scores, and an empty ``new_label``
column. ``audio_relpath`` (the recording relative to the list's folder) and ``annotation_sha`` (which
annotation the list was computed on) let a copied or moved list find its recordings and warn when
the annotation shown is another version. A filled-in review list is itself a corrections table
(:meth:`~vocalpy_xai.review.AnnotationVersions.apply`): rows with a ``new_label`` are
applied, empty ones are left as they are, ``<delete>`` removes the segment.
"""

from __future__ import annotations

import os
import pathlib

import pandas as pd

from ..errors import ManifestError
from ..io.atomic import atomic_file
from .finder import REVIEW_COLUMNS


def write_review_list(
    review: pd.DataFrame, path: str | os.PathLike, top: int | None = None, overwrite: bool = False
) -> pathlib.Path:
    """Write a ranked review list as CSV, atomically (temp file, then rename).

    Parameters
    ----------
    review : pandas.DataFrame
        From :func:`~vocalpy_xai.review.find_disagreements`.
    path : path
        The CSV to write.
    top : int, optional
        Keep only the first ``top`` rows.
    overwrite : bool
        Replace an existing file (default: refuse).
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    table = review.sort_values("rank")
    if top is not None:
        table = table.head(int(top))
    path.parent.mkdir(parents=True, exist_ok=True)
    table = table.assign(audio_relpath=[relative_to(p, path.parent) for p in table["audio_path"]])
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    return path


def relative_to(audio_path: str | os.PathLike, folder: str | os.PathLike) -> str:
    """``audio_path`` relative to ``folder`` (POSIX separators), or "" where there is none
    (another drive)."""
    try:
        rel = os.path.relpath(pathlib.Path(audio_path).resolve(), pathlib.Path(folder).resolve())
    except ValueError:
        return ""
    return pathlib.Path(rel).as_posix()


def read_review_list(path: str | os.PathLike) -> pd.DataFrame:
    """Read a review list (or any corrections table) written by :func:`write_review_list`."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no review list here")
    table = pd.read_csv(
        path,
        dtype={
            "human_label": str,
            "model_label": str,
            "new_label": str,
            "annotation_sha": str,
            "audio_relpath": str,
        },
    )
    missing = {"audio_path", "onset_s"} - set(table.columns)
    if missing:
        raise ManifestError(path, f"missing column(s) {', '.join(sorted(missing))}")
    if "new_label" not in table.columns:
        table["new_label"] = ""
    table["new_label"] = table["new_label"].fillna("")
    for col in ("annotation_sha", "audio_relpath"):
        if col in table.columns:
            table[col] = table[col].fillna("").astype(str)
    return table


__all__ = ["REVIEW_COLUMNS", "read_review_list", "write_review_list"]
