"""Annotation versions: corrections become a new version; originals are never overwritten.

Layout of a versions folder::

    <root>/v001/annotations.csv   every segment of every file (crowsetta ``generic-seq``)
    <root>/v001/version.json      parent, time, note, source, counts, SHA-256 of the csv
    <root>/v002/corrections.csv   the corrections that made v002 from its parent
    ...

Version 1 is a copy of the original annotation (any crowsetta format, through a
:class:`~vocalpy_xai.io.Manifest`); each :meth:`AnnotationVersions.apply` writes the next
version in a temporary folder and renames it into place. :meth:`AnnotationVersions.manifest`
gives a manifest to build a store from any version (:func:`vocalpy_xai.build_store`).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import time
import uuid

import crowsetta
import numpy as np
import pandas as pd

from ..errors import AnnotationError
from ..io.annotations import SegmentTable, read_annotations, write_annotations
from ..io.manifest import Manifest, natural_key
from ..registry.hashing import sha256_file

ANNOT_FILE, META_FILE, CORRECTIONS_FILE = "annotations.csv", "version.json", "corrections.csv"
#: a ``new_label`` that removes the segment
DELETE = "<delete>"
#: default tolerance (s) when matching a correction to a segment by onset
TOLERANCE_S = 1e-3


class AnnotationVersions:
    """A folder of numbered annotation versions of one data set.

    Parameters
    ----------
    root : path
        The versions folder (created by :meth:`create`).

    Examples
    --------
    >>> versions = AnnotationVersions.create("bird0-annot", manifest)      # v1 = originals
    >>> v2 = versions.apply("review.csv", note="first review")            # corrections -> v2
    >>> build_store(versions.manifest(v2), "bird0-v2.zarr", params)
    """

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)
        if not self.versions():
            raise FileNotFoundError(
                f"{self.root}: no annotation versions here (AnnotationVersions.create)"
            )

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        root: str | os.PathLike,
        source: Manifest | dict[str, SegmentTable],
        note: str = "original annotations",
    ) -> AnnotationVersions:
        """Start a versions folder; version 1 copies ``source`` (a manifest or segment tables)."""
        root = pathlib.Path(root)
        if root.exists() and any(root.iterdir()):
            raise FileExistsError(f"{root} exists and is not empty; not overwriting it")
        if isinstance(source, Manifest):
            segments = {k: v for k, v in source.segments().items() if v is not None}
            desc = sorted({str(p) for p in source.table.get("annot_path", []) if p})
        else:
            segments, desc = dict(source), ["<segment tables>"]
        root.mkdir(parents=True, exist_ok=True)
        _write_version(root, 1, segments, {"parent": None, "note": note, "source": desc}, None)
        return cls(root)

    # ------------------------------------------------------------------ queries
    def versions(self) -> list[int]:
        """Version numbers, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            int(p.name[1:])
            for p in self.root.iterdir()
            if re.fullmatch(r"v\d+", p.name) and (p / META_FILE).is_file()
        )

    def latest(self) -> int:
        return self.versions()[-1]

    def _dir(self, version: int | str) -> pathlib.Path:
        v = self.latest() if version in (None, "latest") else int(str(version).lstrip("v"))
        d = self.root / f"v{v:03d}"
        if not (d / META_FILE).is_file():
            raise AnnotationError(
                self.root, f"no annotation version {v} (versions: {self.versions()})"
            )
        return d

    def info(self, version: int | str = "latest") -> dict:
        """The ``version.json`` of a version."""
        return json.loads((self._dir(version) / META_FILE).read_text())

    def path(self, version: int | str = "latest") -> pathlib.Path:
        """The ``generic-seq`` CSV of a version, after checking its SHA-256."""
        d = self._dir(version)
        meta = json.loads((d / META_FILE).read_text())
        if sha256_file(d / ANNOT_FILE) != meta["sha256"]:
            raise AnnotationError(d / ANNOT_FILE, "modified after it was written (SHA-256 differs)")
        return d / ANNOT_FILE

    def segments(self, version: int | str = "latest") -> dict[str, SegmentTable]:
        """Audio path to segments, for every file of a version."""
        annots = read_annotations(self.path(version), "generic-seq")
        return {str(a.notated_path): SegmentTable.from_annotation(a) for a in annots}

    def manifest(self, version: int | str = "latest") -> Manifest:
        """A manifest of a version (build a store from it to retrain)."""
        return Manifest.from_annotation_file(self.path(version), "generic-seq")

    def table(self, version: int | str = "latest") -> pd.DataFrame:
        """One row per segment: audio_path, onset_s, offset_s, label."""
        rows = [
            (p, a, b, lab)
            for p, s in self.segments(version).items()
            for a, b, lab in zip(s.onsets_s, s.offsets_s, s.labels, strict=True)
        ]
        return pd.DataFrame(rows, columns=["audio_path", "onset_s", "offset_s", "label"])

    def list(self) -> pd.DataFrame:
        """One row per version: version, parent, created, note, segments, changes."""
        rows = [{"version": v, **self.info(v)} for v in self.versions()]
        cols = ["version", "parent", "created", "note", "n_segments", "n_changes"]
        return pd.DataFrame(rows)[cols].set_index("version")

    def diff(self, a: int | str, b: int | str, tolerance_s: float = TOLERANCE_S) -> pd.DataFrame:
        """Segments that differ between two versions (matched by file and onset).

        Returns a table with ``audio_path``, ``onset_s``, ``offset_s``, ``label_a``,
        ``label_b`` and ``change`` (``relabel``, ``boundary``, ``deleted``, ``added``).
        """
        sa, sb = self.segments(a), self.segments(b)
        rows = []
        for path in sorted(set(sa) | set(sb), key=natural_key):
            ta, tb = sa.get(path), sb.get(path)
            on_a = ta.onsets_s if ta is not None else np.array([])
            on_b = tb.onsets_s if tb is not None else np.array([])
            used = np.zeros(len(on_b), bool)
            for i, on in enumerate(on_a):
                j = int(np.argmin(np.abs(on_b - on))) if len(on_b) else -1
                if j < 0 or abs(on_b[j] - on) > tolerance_s or used[j]:
                    rows.append((path, on, ta.offsets_s[i], ta.labels[i], None, "deleted"))
                    continue
                used[j] = True
                if ta.labels[i] != tb.labels[j]:
                    rows.append((path, on, ta.offsets_s[i], ta.labels[i], tb.labels[j], "relabel"))
                elif abs(ta.offsets_s[i] - tb.offsets_s[j]) > tolerance_s:
                    rows.append((path, on, tb.offsets_s[j], ta.labels[i], tb.labels[j], "boundary"))
            for j in np.flatnonzero(~used):
                rows.append((path, on_b[j], tb.offsets_s[j], None, tb.labels[j], "added"))
        cols = ["audio_path", "onset_s", "offset_s", "label_a", "label_b", "change"]
        return pd.DataFrame(rows, columns=cols)

    # ------------------------------------------------------------------ corrections
    def apply(
        self,
        corrections: pd.DataFrame | str | os.PathLike,
        parent: int | str = "latest",
        note: str = "",
        tolerance_s: float = TOLERANCE_S,
    ) -> int:
        """Apply a corrections table to a version; write and return the new version number.

        Parameters
        ----------
        corrections : DataFrame or path to a CSV
            Columns ``audio_path``, ``onset_s`` (which segment: same file, onset within
            ``tolerance_s``) and ``new_label`` (empty: unchanged; ``<delete>``: remove).
            Optional: ``human_label`` or ``label`` (the label the reviewer saw: a
            mismatch means the correction is stale and is refused), ``new_onset_s``,
            ``new_offset_s``. A filled-in review list is a corrections table.
        parent : int or "latest"
            The version corrected.
        note : str
            Kept in ``version.json``.

        Raises
        ------
        AnnotationError
            Some rows match no segment, or name a label other than the segment's; every
            bad row is listed and nothing is written.
        """
        from .review_list import read_review_list

        table = (
            read_review_list(corrections)
            if not isinstance(corrections, pd.DataFrame)
            else corrections.copy()
        )
        if "new_label" not in table.columns:
            table["new_label"] = ""
        table["new_label"] = table["new_label"].fillna("").astype(str)
        for col in ("new_onset_s", "new_offset_s"):
            if col not in table.columns:
                table[col] = np.nan
        expect_col = next((c for c in ("human_label", "label") if c in table.columns), None)
        active = table[
            (table["new_label"] != "")
            | table["new_onset_s"].notna()
            | table["new_offset_s"].notna()
        ]
        parent_v = int(self._dir(parent).name[1:])
        segments = self.segments(parent_v)
        by_name = {pathlib.Path(p).name: p for p in segments}
        edits: dict[str, dict[int, tuple]] = {}
        problems = []
        for i, row in active.iterrows():
            key = str(row["audio_path"])
            key = key if key in segments else by_name.get(pathlib.Path(key).name)
            seg = segments.get(key) if key else None
            if seg is None or len(seg) == 0:
                problems.append(f"row {i}: no annotated file {row['audio_path']}")
                continue
            j = int(np.argmin(np.abs(seg.onsets_s - float(row["onset_s"]))))
            if abs(seg.onsets_s[j] - float(row["onset_s"])) > tolerance_s:
                problems.append(f"row {i}: no segment at {row['onset_s']:.4f} s in {key}")
                continue
            if expect_col and isinstance(row[expect_col], str) and row[expect_col] != seg.labels[j]:
                problems.append(
                    f"row {i}: {key} at {seg.onsets_s[j]:.4f} s is labelled "
                    f"'{seg.labels[j]}', the correction expected '{row[expect_col]}' (stale)"
                )
                continue
            edits.setdefault(key, {})[j] = (
                row["new_label"],
                row["new_onset_s"],
                row["new_offset_s"],
            )
        if problems:
            raise AnnotationError(
                self._dir(parent_v) / ANNOT_FILE,
                f"{len(problems)} correction(s) cannot be applied; nothing was written:\n  "
                + "\n  ".join(problems),
            )
        n_changes = 0
        new = dict(segments)
        for key, changes in edits.items():
            seg = segments[key]
            on, off, lab = seg.onsets_s.copy(), seg.offsets_s.copy(), seg.labels.astype(object)
            keep = np.ones(len(seg), bool)
            for j, (label, new_on, new_off) in changes.items():
                if label == DELETE:
                    keep[j] = False
                    n_changes += 1
                    continue
                changed = False
                if label and label != lab[j]:
                    lab[j], changed = label, True
                if pd.notna(new_on) and float(new_on) != on[j]:
                    on[j], changed = float(new_on), True
                if pd.notna(new_off) and float(new_off) != off[j]:
                    off[j], changed = float(new_off), True
                n_changes += changed
            order = np.argsort(on[keep], kind="stable")
            new[key] = SegmentTable(
                on[keep][order], off[keep][order], lab[keep][order].astype(str), seg.annot_path
            )
            new[key].validate(key)  # corrections must not make segments overlap
        meta = {"parent": parent_v, "note": note, "n_changes": int(n_changes)}
        for _ in range(100):  # another process may take the number: try the next one
            v = self.latest() + 1
            try:
                _write_version(self.root, v, new, meta, active)
                return v
            except FileExistsError:
                continue
        raise RuntimeError(f"{self.root}: could not allocate a version number")


def _write_version(
    root: pathlib.Path,
    version: int,
    segments: dict[str, SegmentTable],
    meta: dict,
    corrections: pd.DataFrame | None,
) -> None:
    final = root / f"v{version:03d}"
    if final.exists():
        raise FileExistsError(final)
    tmp = root / f".tmp-v{version:03d}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        annots = [
            crowsetta.Annotation(
                annot_path=final / ANNOT_FILE,
                notated_path=path,
                seq=crowsetta.Sequence.from_keyword(
                    onsets_s=s.onsets_s, offsets_s=s.offsets_s, labels=np.asarray(s.labels, str)
                ),
            )
            for path, s in sorted(segments.items(), key=lambda kv: natural_key(kv[0]))
            if len(s)
        ]
        write_annotations(annots, tmp / ANNOT_FILE, "generic-seq")
        if corrections is not None:
            corrections.to_csv(tmp / CORRECTIONS_FILE, index=False)
        info = {
            "version": version,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "n_files": len(annots),
            "n_segments": int(sum(len(s) for s in segments.values())),
            "n_changes": 0,
            **meta,
            "sha256": sha256_file(tmp / ANNOT_FILE),
        }
        (tmp / META_FILE).write_text(json.dumps(info, indent=2, default=str))
        try:
            os.rename(tmp, final)  # fails if another writer took this number
        except OSError as err:
            raise FileExistsError(final) from err
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
