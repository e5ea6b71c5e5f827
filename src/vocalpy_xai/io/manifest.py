"""A small table that says what a data set is: audio files, their annotations, or clip labels.

A manifest is a CSV file (or a :class:`pandas.DataFrame`) with one row per audio file:

``audio_path``
    The audio file, absolute or relative to the manifest's folder. Required.
``annot_path``, ``annot_format``
    Its annotation file and crowsetta format name. One annotation file may cover many
    audio files (e.g. ``birdsong-recognition-dataset``'s ``Annotation.xml``).
``label``
    A clip-level label (species), for clip-label tables with no onsets and offsets.

Any other column (recordist, licence, ...) is kept as per-clip metadata.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable

import pandas as pd

from ..errors import AnnotationError, ManifestError
from .annotations import SegmentTable, format_class, read_annotations
from .atomic import atomic_file
from .audio import AUDIO_EXTENSIONS

REQUIRED_COLUMNS: tuple[str, ...] = ("audio_path",)
#: formats whose one annotation file names the audio files it annotates (paired by those
#: names, not by file names); the same three as vak's ``map_annotated_to_annot``
NAMING_FORMATS: tuple[str, ...] = ("birdsong-recognition-dataset", "generic-seq", "yarden")
#: what :meth:`Manifest.from_folder` does with audio that has no annotation
UNANNOTATED_CHOICES: tuple[str, ...] = ("error", "skip", "keep")
KNOWN_COLUMNS: tuple[str, ...] = ("audio_path", "annot_path", "annot_format", "label")


def natural_key(path: str | pathlib.Path) -> list:
    """Sort key that orders ``2.wav`` before ``10.wav`` (numbers compared as numbers)."""
    parts = re.split(r"(\d+)", str(path))
    return [int(p) if p.isdigit() else p for p in parts]


class Manifest:
    """The files of a data set, with their annotations or clip labels.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per audio file, columns as described in :mod:`vocalpy_xai.io.manifest`.
    root : str or pathlib.Path, optional
        Folder that relative paths are resolved against. Default: current directory.

    Examples
    --------
    >>> m = Manifest.from_annotation_file("Bird0/Annotation.xml", "birdsong-recognition-dataset")
    >>> m = Manifest.from_label_table("xeno_canto_10_species/labels.csv",
    ...                               audio_column="mp3_file", label_column="common_name")
    >>> m.segments()  # onsets, offsets, labels per audio file
    """

    def __init__(self, table: pd.DataFrame, root: str | pathlib.Path | None = None):
        self.root = (pathlib.Path(root) if root is not None else pathlib.Path.cwd()).absolute()
        table = table.copy()
        missing_cols = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing_cols:
            raise ManifestError(self.root, f"manifest lacks column(s) {missing_cols}")
        table["audio_path"] = [str(self._resolve(p)) for p in table["audio_path"]]
        if "annot_path" in table.columns:
            table["annot_path"] = [
                str(self._resolve(p)) if isinstance(p, str) and p else None
                for p in table["annot_path"]
            ]
            if "annot_format" not in table.columns:
                raise ManifestError(self.root, "manifest has annot_path but no annot_format")
            for fmt in table["annot_format"].dropna().unique():
                format_class(fmt)  # unknown format names fail here, before any work
        if table["audio_path"].duplicated().any():
            dup = table.loc[table["audio_path"].duplicated(), "audio_path"].tolist()
            raise ManifestError(self.root, f"audio file(s) listed twice: {dup[:5]}")
        self.table = table.reset_index(drop=True)

    def _resolve(self, p) -> pathlib.Path:
        p = pathlib.Path(p)
        return p if p.is_absolute() else (self.root / p)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        kind = (
            "labelled clips"
            if self.has_labels
            else ("annotated files" if self.has_annotations else "audio files")
        )
        return f"Manifest({len(self)} {kind}, root={str(self.root)!r})"

    @property
    def audio_paths(self) -> list[pathlib.Path]:
        """The audio files, in manifest order."""
        return [pathlib.Path(p) for p in self.table["audio_path"]]

    @property
    def has_annotations(self) -> bool:
        return "annot_path" in self.table.columns and self.table["annot_path"].notna().any()

    @property
    def has_labels(self) -> bool:
        return "label" in self.table.columns and self.table["label"].notna().any()

    def check_files(self) -> list[ManifestError]:
        """Errors for every audio or annotation file the manifest names but that is missing."""
        errors = []
        for p in self.table["audio_path"]:
            if not pathlib.Path(p).is_file():
                errors.append(ManifestError(p, "audio file named in the manifest does not exist"))
        if "annot_path" in self.table.columns:
            for p in self.table["annot_path"].dropna().unique():
                if not pathlib.Path(p).is_file():
                    errors.append(
                        ManifestError(p, "annotation file named in the manifest does not exist")
                    )
        return errors

    def subset(self, rows: Iterable[int]) -> Manifest:
        """A manifest of the given row positions."""
        return Manifest(self.table.iloc[list(rows)].reset_index(drop=True), self.root)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def read(cls, path: str | pathlib.Path) -> Manifest:
        """Read a manifest CSV; relative paths are relative to its folder."""
        path = pathlib.Path(path)
        if not path.is_file():
            raise ManifestError(path, "manifest file not found")
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False).replace({"": None})
        except Exception as err:
            raise ManifestError(path, f"cannot parse as CSV: {err}") from err
        try:
            return cls(table, root=path.parent)
        except ManifestError as err:
            raise ManifestError(path, err.problem) from err

    def write(self, path: str | pathlib.Path) -> pathlib.Path:
        """Write the manifest as CSV with paths relative to its folder where possible."""
        path = pathlib.Path(path)
        table = self.table.copy()
        for col in ("audio_path", "annot_path"):
            if col in table.columns:
                table[col] = [_relative(p, path.parent) for p in table[col]]
        with atomic_file(path) as tmp:
            table.to_csv(tmp, index=False)
        return path

    @classmethod
    def from_annotation_file(
        cls,
        annot_path: str | pathlib.Path,
        annot_format: str,
        audio_dir: str | pathlib.Path | None = None,
        sort: bool = True,
    ) -> Manifest:
        """A manifest of every audio file annotated in one (multi-file) annotation file.

        Parameters
        ----------
        annot_path : str or pathlib.Path
            E.g. ``Annotation.xml`` (``birdsong-recognition-dataset``) or a ``generic-seq`` csv.
        annot_format : str
            crowsetta format name.
        audio_dir : str or pathlib.Path, optional
            Folder of the audio files, when the annotation stores bare names.
        sort : bool
            Sort by audio file name, numbers compared as numbers (default True).
        """
        annot_path = pathlib.Path(annot_path)
        kwargs = {}
        if annot_format == "birdsong-recognition-dataset" and audio_dir is not None:
            kwargs["wav_path"] = audio_dir
        annots = read_annotations(annot_path, annot_format, **kwargs)
        rows = []
        for annot in annots:
            notated = pathlib.Path(annot.notated_path) if annot.notated_path else None
            if notated is None:
                raise AnnotationError(annot_path, "an annotation names no audio file")
            if audio_dir is not None and not notated.is_absolute():
                notated = pathlib.Path(audio_dir) / notated.name
            rows.append(
                {
                    "audio_path": str(notated),
                    "annot_path": str(annot_path),
                    "annot_format": annot_format,
                }
            )
        table = pd.DataFrame(rows).drop_duplicates("audio_path")
        if sort:
            table = table.iloc[
                sorted(range(len(table)), key=lambda i: natural_key(table.iloc[i]["audio_path"]))
            ]
        return cls(table, root=pathlib.Path.cwd())

    @classmethod
    def from_pairs(
        cls,
        audio_paths: Iterable[str | pathlib.Path],
        annot_paths: Iterable[str | pathlib.Path],
        annot_format: str,
    ) -> Manifest:
        """A manifest from one annotation file per audio file (e.g. ``x.wav`` + ``x.wav.csv``)."""
        format_class(annot_format)
        audio_paths, annot_paths = list(audio_paths), list(annot_paths)
        if len(audio_paths) != len(annot_paths):
            raise ValueError(
                f"{len(audio_paths)} audio files but {len(annot_paths)} annotation files"
            )
        table = pd.DataFrame(
            {
                "audio_path": [str(p) for p in audio_paths],
                "annot_path": [str(p) for p in annot_paths],
                "annot_format": annot_format,
            }
        )
        return cls(table)

    @classmethod
    def from_folder(
        cls,
        folder: str | pathlib.Path,
        annot_format: str,
        unannotated: str = "error",
        recursive: bool = True,
    ) -> Manifest:
        """A manifest of a folder of audio files and their annotation files.

        Audio files and annotations are paired by crowsetta's naming conventions, as vak
        does (https://vak.readthedocs.io/en/latest/reference/filenames.html): the format's
        extension (the crowsetta class's ``ext``, e.g. ``.not.mat`` for ``notmat``) is
        removed from an annotation file's name, giving the audio file's name
        (``x.cbin.not.mat`` -> ``x.cbin``, ``x.wav.csv`` -> ``x.wav``); otherwise its
        suffixes are replaced by an audio extension (``x.csv`` -> ``x.wav``, Raven's
        ``x.Table.1.selections.txt`` -> ``x.wav``). The audio file must lie in the same
        folder as its annotation. Formats whose one file names the audio it annotates
        (:data:`NAMING_FORMATS`, e.g. ``generic-seq``) are paired by those names.

        Parameters
        ----------
        folder : str or pathlib.Path
            The folder (and, with ``recursive``, its sub-folders).
        annot_format : str
            crowsetta format name of the annotation files.
        unannotated : {"error", "skip", "keep"}
            Audio without an annotation: an error (default), left out of the manifest, or
            kept without one (to annotate it with a model).
        recursive : bool
            Also look in sub-folders (default True).

        Raises
        ------
        ManifestError
            Naming the folder and listing every audio file without an annotation (with
            ``unannotated="error"``), every annotation file without its audio, and every
            audio file with more than one annotation file.
        """
        folder = pathlib.Path(folder)
        if not folder.is_dir():
            raise ManifestError(folder, "not a folder")
        if unannotated not in UNANNOTATED_CHOICES:
            raise ValueError(
                f"unannotated must be one of {UNANNOTATED_CHOICES}, got {unannotated!r}"
            )
        fmt_cls = format_class(annot_format)
        exts = (fmt_cls.ext,) if isinstance(fmt_cls.ext, str) else tuple(fmt_cls.ext)
        files = sorted(
            (p for p in (folder.rglob("*") if recursive else folder.iterdir()) if p.is_file()),
            key=natural_key,
        )
        files = [
            p
            for p in files
            if not any(part.startswith(".") for part in p.relative_to(folder).parts)
        ]
        audio = [p for p in files if p.suffix.lower() in AUDIO_EXTENSIONS]
        audio_set = set(audio)
        annot_files = [
            p for p in files if p not in audio_set and any(p.name.endswith(e) for e in exts)
        ]
        pairs: dict[pathlib.Path, list[pathlib.Path]] = {a: [] for a in audio}
        orphans: list[str] = []
        if annot_format in NAMING_FORMATS:
            by_name: dict[str, list[pathlib.Path]] = {}
            for a in audio:
                by_name.setdefault(a.name, []).append(a)
            for f in annot_files:
                for annot in read_annotations(f, annot_format):
                    name = pathlib.Path(str(annot.notated_path or "")).name
                    found = by_name.get(name, [])
                    if not found:
                        orphans.append(f"{f}: names audio file '{name}', not found in {folder}")
                    for a in found:
                        pairs[a].append(f)
        else:
            for f in annot_files:
                a = _audio_of_annotation(f, exts, audio_set)
                if a is None:
                    orphans.append(str(f))
                else:
                    pairs[a].append(f)
        missing = [str(a) for a, fs in pairs.items() if not fs]
        doubles = [
            f"{a}: {', '.join(str(f) for f in fs)}" for a, fs in pairs.items() if len(fs) > 1
        ]
        problems = []
        if orphans:
            problems.append(
                _listing(
                    f"{len(orphans)} '{annot_format}' annotation file(s) without their audio file",
                    orphans,
                )
            )
        if doubles:
            problems.append(
                _listing(
                    f"{len(doubles)} audio file(s) with more than one annotation file", doubles
                )
            )
        if missing and unannotated == "error":
            problems.append(
                _listing(
                    f"{len(missing)} audio file(s) without a '{annot_format}' annotation "
                    "(pass unannotated='skip' / --unannotated skip to leave them out, or 'keep')",
                    missing,
                )
            )
        if not audio:
            problems.append(f"no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        elif not annot_files:
            problems.append(
                f"no annotation files of format '{annot_format}' (extension {' or '.join(exts)})"
            )
        if problems:
            raise ManifestError(folder, "\n  ".join(problems))
        rows = [
            {
                "audio_path": str(a),
                "annot_path": str(fs[0]) if fs else None,
                "annot_format": annot_format if fs else None,
            }
            for a, fs in pairs.items()
            if fs or unannotated == "keep"
        ]
        return cls(pd.DataFrame(rows, columns=["audio_path", "annot_path", "annot_format"]))

    @classmethod
    def from_audio_dir(cls, audio_dir: str | pathlib.Path, ext: str | None = None) -> Manifest:
        """A manifest of every audio file in a folder (no annotations), naturally sorted."""
        audio_dir = pathlib.Path(audio_dir)
        exts = (ext,) if ext else AUDIO_EXTENSIONS
        paths = sorted(
            (p for p in audio_dir.iterdir() if p.suffix.lower() in exts), key=natural_key
        )
        if not paths:
            raise ManifestError(audio_dir, f"no audio files with extension(s) {exts}")
        return cls(pd.DataFrame({"audio_path": [str(p) for p in paths]}))

    @classmethod
    def from_label_table(
        cls,
        csv_path: str | pathlib.Path,
        audio_column: str = "audio_path",
        label_column: str = "label",
        root: str | pathlib.Path | None = None,
    ) -> Manifest:
        """A manifest from a clip-label table such as xeno-canto's ``labels.csv``.

        Parameters
        ----------
        csv_path : str or pathlib.Path
            The table.
        audio_column, label_column : str
            Columns holding the audio file and its label. Other columns are kept.
        root : str or pathlib.Path, optional
            Folder the audio paths are relative to; default: the table's folder.

        Raises
        ------
        ManifestError
            The table lacks a column, or names audio files that do not exist:
            every missing file is listed.
        """
        csv_path = pathlib.Path(csv_path)
        if not csv_path.is_file():
            raise ManifestError(csv_path, "label table not found")
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        for col in (audio_column, label_column):
            if col not in table.columns:
                raise ManifestError(
                    csv_path,
                    f"label table has no column '{col}'; columns are {list(table.columns)}",
                )
        table = table.rename(columns={audio_column: "audio_path", label_column: "label"})
        root = pathlib.Path(root) if root is not None else csv_path.parent
        manifest = cls(table, root=root)
        missing = [
            pathlib.Path(p) for p in manifest.table["audio_path"] if not pathlib.Path(p).is_file()
        ]
        if missing:
            listed = "\n    ".join(str(p) for p in missing[:20])
            more = f"\n    ... and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise ManifestError(
                csv_path,
                f"label table names {len(missing)} missing audio file(s):\n    {listed}{more}",
            )
        return manifest

    # ------------------------------------------------------------------ annotations
    def segments(self, errors: list | None = None) -> dict[str, SegmentTable | None]:
        """Onsets, offsets and labels of every annotated audio file.

        Each annotation file is read once, however many audio files it covers.

        Parameters
        ----------
        errors : list, optional
            If given, an unreadable annotation is appended to it as an
            :class:`~vocalpy_xai.errors.AnnotationError` (its audio files are left out of
            the result) instead of being raised.

        Returns
        -------
        segments : dict
            Audio path (str) to :class:`~vocalpy_xai.io.annotations.SegmentTable`, or
            None for rows without an annotation.

        Raises
        ------
        AnnotationError
            An annotation file cannot be read, or has no annotation for an audio file
            the manifest pairs with it.
        """
        out: dict[str, SegmentTable | None] = dict.fromkeys(self.table["audio_path"])
        if not self.has_annotations:
            return out
        rows = self.table.dropna(subset=["annot_path"])
        for (annot_path, fmt), group in rows.groupby(["annot_path", "annot_format"], sort=False):
            try:
                annots = read_annotations(annot_path, fmt)
            except AnnotationError as err:
                if errors is None:
                    raise
                errors.append(err)
                for audio_path in group["audio_path"]:
                    out.pop(audio_path, None)
                continue
            by_name: dict[str, object] = {}
            for a in annots:
                if a.notated_path is not None:
                    by_name[pathlib.Path(a.notated_path).name] = a
            for audio_path in group["audio_path"]:
                name = pathlib.Path(audio_path).name
                if len(annots) == 1 and len(group) == 1:
                    annot = annots[0]
                elif name in by_name:
                    annot = by_name[name]
                else:
                    err = AnnotationError(
                        annot_path, f"has no annotation for audio file {audio_path}"
                    )
                    if errors is None:
                        raise err
                    errors.append(err)
                    out.pop(audio_path, None)
                    continue
                out[audio_path] = SegmentTable.from_annotation(annot)
        return out


def _audio_of_annotation(
    annot_path: pathlib.Path, exts: tuple[str, ...], audio: set[pathlib.Path]
) -> pathlib.Path | None:
    """The audio file beside ``annot_path`` that its name points to, by vak's conventions."""
    ext = next(e for e in exts if annot_path.name.endswith(e))
    name = annot_path.name[: -len(ext)]
    if annot_path.with_name(name) in audio:  # "remove": x.wav.csv -> x.wav
        return annot_path.with_name(name)
    stem = name
    while True:  # "replace": x.csv -> x.wav, x.Table.1.selections.txt -> x.wav
        for audio_ext in AUDIO_EXTENSIONS:
            for e in (audio_ext, audio_ext.upper()):
                candidate = annot_path.with_name(stem + e)
                if candidate in audio:
                    return candidate
        shorter = pathlib.Path(stem).stem
        if shorter == stem or not shorter:
            return None
        stem = shorter


def _listing(head: str, items: list[str], limit: int = 50) -> str:
    more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
    return head + ":\n    " + "\n    ".join(items[:limit]) + more


def _relative(p, base: pathlib.Path):
    if p is None or (isinstance(p, float) and pd.isna(p)):
        return p
    try:
        return str(pathlib.Path(p).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(p)


__all__ = ["NAMING_FORMATS", "Manifest", "natural_key"]
