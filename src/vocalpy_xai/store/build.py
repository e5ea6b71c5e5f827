"""Build a zarr spectrogram store from a manifest: parallel (dask), resumable, atomic.

How a build runs (see docs/store.md):

1. Every file named by the manifest is checked (it exists, its annotation reads).
2. One dask task per audio file loads it (:func:`vocalpy_xai.io.load_audio`, resampled and
   downmixed as the parameters say), checks its annotation against its duration, computes
   its spectrogram (:func:`vocalpy.spectrogram`) and writes it as a *piece* in the staging
   folder ``<store>.building/pieces/``, named by the audio file's SHA-256 and the parameters'
   hash, with an atomic rename. A piece that is already there is reused: an interrupted build
   resumes where it stopped, and a file whose bytes changed is recomputed.
3. The pieces are assembled (dask again) into one ``xarray.Dataset`` written to
   ``.<store>.tmp-<id>/``; a completion mark is written last, and the folder is renamed to
   ``<store>`` in one step. A killed build therefore never leaves a store at ``<store>``:
   :func:`vocalpy_xai.store.open_store` finds either nothing or a complete store.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import pathlib
import shutil
import time
from collections.abc import Sequence
from typing import Literal

import attrs
import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ..errors import AnnotationError, AudioError, BuildError, DataError, StoreError
from ..io.annotations import SegmentTable
from ..io.atomic import atomic_dir, atomic_file, remove_leftovers
from ..io.audio import load_audio
from ..io.manifest import Manifest
from .labels import BACKGROUND, PAD_LABEL, class_names, frame_labels, frame_times
from .params import SpectrogramParams

logger = logging.getLogger(__name__)

#: store layout version, written to the store's attributes
STORE_VERSION: int = 1
#: attribute written last; a store without it is incomplete
COMPLETE_ATTR: str = "vocalpy_xai_complete"
#: default time chunk (frames); 512 frames = 1.02 s at hop 64 / 32 kHz
CHUNK_FRAMES: int = 512


@attrs.define
class BuildReport:
    """What a build did.

    Attributes
    ----------
    path : pathlib.Path
        The store.
    stored : int
        Clips in the store.
    computed, reused : int
        Spectrograms computed by this build, and reused from an interrupted one.
    failures : list of DataError
        Every bad input file, each naming the file and its problem.
    seconds : float
        Wall time of the build.
    """

    path: pathlib.Path
    stored: int
    computed: int
    reused: int
    failures: list[DataError]
    seconds: float

    def summary(self) -> str:
        lines = [
            f"store {self.path}: {self.stored} clip(s) ({self.computed} computed, "
            f"{self.reused} reused from an interrupted build) in {self.seconds:.1f} s"
        ]
        if self.failures:
            lines.append(f"{len(self.failures)} bad file(s) were skipped:")
            lines += [f"  {err}" for err in self.failures]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- per-file task
def _piece_path(pieces_dir: pathlib.Path, sha256: str, params: SpectrogramParams) -> pathlib.Path:
    return pieces_dir / f"{sha256}-{params.sha256()[:16]}.npz"


def _read_piece_meta(piece: pathlib.Path) -> dict | None:
    try:
        with np.load(piece) as npz:
            meta = json.loads(str(npz["meta"]))
            if npz["spectrogram"].shape[1] != meta["n_frames"]:
                return None
            return meta
    except Exception:  # unreadable piece (should not happen: pieces are renamed into place)
        return None


def _write_piece(piece: pathlib.Path, spectrogram: np.ndarray, meta: dict) -> None:
    with atomic_file(piece) as tmp:
        np.savez(tmp, spectrogram=spectrogram, meta=np.array(json.dumps(meta)))


def process_file(
    audio_path: str,
    segments: SegmentTable | None,
    params: dict,
    pieces_dir: str | None,
    labelset: Sequence[str] | None = None,
    allow_empty: bool = False,
) -> dict | DataError:
    """Load, check and (unless ``pieces_dir`` is None) compute the spectrogram of one file.

    Runs inside a dask task. Bad input is *returned* as a :class:`DataError` (not raised),
    so that a build over many files can report all of them.

    An annotation with no segment is bad unless ``allow_empty``; annotation problems name
    the annotation file and the recording (one file may annotate many recordings).

    Returns
    -------
    meta : dict or DataError
        Per-clip metadata and the piece's path, or the error naming the file.
    """
    from ..io.audio import sha256_file

    spect_params = SpectrogramParams.from_dict(params)
    path = pathlib.Path(audio_path)

    def check(duration: float) -> None:
        if segments is None:
            return
        try:
            if len(segments) == 0 and not allow_empty:
                raise AnnotationError(
                    segments.annot_path or path,
                    "no annotated segment (a header only, or an empty sequence); build "
                    "with allow_empty_annotations=True if the recording truly has none",
                )
            segments.validate(duration=duration, labelset=labelset)
        except AnnotationError as err:
            raise AnnotationError(err.path, f"recording {path.name}: {err.problem}") from err

    try:
        if pieces_dir is not None and path.is_file():
            piece = _piece_path(pathlib.Path(pieces_dir), sha256_file(path), spect_params)
            if piece.exists() and (meta := _read_piece_meta(piece)) is not None:
                check(meta["duration_s"])
                return {**meta, "piece": str(piece), "reused": True}
        record = load_audio(
            path, samplerate=spect_params.samplerate, mono=True, min_samples=spect_params.n_fft
        )
        meta = {**record.provenance(), "duration_s": record.duration}
        check(record.duration)
        if pieces_dir is None:  # validation only
            return {**meta, "piece": None, "reused": False}
        spectrogram = spect_params.compute(record.sound)
        meta["n_frames"] = int(spectrogram.shape[1])
        meta["n_freq"] = int(spectrogram.shape[0])
        piece = _piece_path(pathlib.Path(pieces_dir), record.sha256, spect_params)
        _write_piece(piece, spectrogram, meta)
        return {**meta, "piece": str(piece), "reused": False}
    except DataError as err:
        return err


# ---------------------------------------------------------------------------- running tasks
def _run_tasks(calls: list[tuple], client, num_workers: int | None, progress: bool, desc: str):
    """Run ``process_file(*args)`` for every args tuple, in parallel, in input order."""
    if not calls:
        return []
    if client is not None:
        from distributed import as_completed

        futures = client.map(process_file, *zip(*calls, strict=True), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(futures)
        bar = _bar(len(futures), desc, progress)
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            bar.update(1)
        bar.close()
        return results
    tasks = [dask.delayed(process_file, pure=False)(*args) for args in calls]
    with _dask_progress(desc, progress):
        return list(dask.compute(*tasks, scheduler="threads", num_workers=num_workers))


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=not enabled)


def _dask_progress(desc: str, enabled: bool):
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    from tqdm.dask import TqdmCallback

    return TqdmCallback(desc=desc, unit="task")


# ---------------------------------------------------------------------------- assembly
def _load_spectrogram(piece: str) -> np.ndarray:
    with np.load(piece) as npz:
        return npz["spectrogram"]


def _assemble(
    metas: list[dict],
    segments: list[SegmentTable | None],
    clip_labels: list[str | None],
    extra: dict[str, list],
    params: SpectrogramParams,
    classes: list[str] | None,
    chunk_frames: int,
) -> xr.Dataset:
    samplerate = metas[0]["samplerate"]
    n_freq = metas[0]["n_freq"]
    n_frames = np.array([m["n_frames"] for m in metas])
    max_frames = int(n_frames.max())
    chunk_frames = min(chunk_frames, max_frames)

    padded = []
    for meta in metas:
        arr = da.from_delayed(
            dask.delayed(_load_spectrogram, pure=True)(meta["piece"]),
            shape=(n_freq, meta["n_frames"]),
            dtype=np.float32,
        )
        pad = max_frames - meta["n_frames"]
        if pad:
            arr = da.concatenate(
                [arr, da.full((n_freq, pad), np.nan, dtype=np.float32, chunks=(n_freq, pad))],
                axis=1,
            )
        # One dask chunk per clip (zarr still stores chunk_frames-long chunks): each task
        # hands zarr a whole clip, whose chunks it then encodes and writes concurrently;
        # one task per zarr chunk paid zarr's per-call overhead thousands of times.
        padded.append(arr.rechunk((n_freq, max_frames)))
    spect = da.stack(padded)

    times = frame_times(max_frames, params.hop_length / samplerate)
    data_vars: dict = {
        "spectrogram": (("clip", "freq", "time"), spect),
        "n_frames": (("clip",), n_frames.astype(np.int64)),
        "duration_s": (("clip",), np.array([m["duration_s"] for m in metas])),
        "source_path": (("clip",), np.array([m["source_path"] for m in metas], dtype=object)),
        "audio_sha256": (("clip",), np.array([m["sha256"] for m in metas], dtype=object)),
        "source_samplerate": (("clip",), np.array([m["source_samplerate"] for m in metas])),
        "source_channels": (("clip",), np.array([m["source_channels"] for m in metas])),
        "resampled": (("clip",), np.array([m["resampled"] for m in metas])),
        "downmixed": (("clip",), np.array([m["downmixed"] for m in metas])),
        "spect_params_sha256": (("clip",), np.array([params.sha256()] * len(metas), dtype=object)),
        "annot_path": (
            ("clip",),
            np.array(
                [str(s.annot_path) if s is not None and s.annot_path else "" for s in segments],
                dtype=object,
            ),
        ),
    }
    coords: dict = {
        "clip": np.arange(len(metas)),
        "freq": params.frequencies(samplerate),
        "time": times,
    }
    attrs_: dict = {
        "store_version": STORE_VERSION,
        "spectrogram_params": json.dumps(params.to_dict()),
        "samplerate": int(samplerate),
        "hop_length": params.hop_length,
        "frame_duration_s": params.hop_length / samplerate,
        "created_by": "vocalpy_xai.store.build_store",
        "padding": "spectrogram is NaN and frame_labels is -1 past each clip's n_frames",
    }
    if classes is not None:
        class_index = {name: i for i, name in enumerate(classes)}
        labels = np.full((len(metas), max_frames), PAD_LABEL, dtype=np.int16)
        seg_rows = []
        for i, (meta, seg) in enumerate(zip(metas, segments, strict=True)):
            n = meta["n_frames"]
            labels[i, :n] = frame_labels(seg, times[:n], class_index)
            if seg is not None:
                seg_rows += [
                    (i, a, b, lab)
                    for a, b, lab in zip(seg.onsets_s, seg.offsets_s, seg.labels, strict=True)
                ]
        data_vars["frame_labels"] = (
            ("clip", "time"),
            da.from_array(labels, chunks=(1, max_frames)),
        )
        coords["class"] = np.array(classes, dtype=object)
        attrs_["background_label"] = BACKGROUND
        seg_arr = list(zip(*seg_rows, strict=True)) if seg_rows else [[], [], [], []]
        data_vars["segment_clip"] = (("segment",), np.asarray(seg_arr[0], dtype=np.int64))
        data_vars["segment_onset_s"] = (("segment",), np.asarray(seg_arr[1], dtype=float))
        data_vars["segment_offset_s"] = (("segment",), np.asarray(seg_arr[2], dtype=float))
        data_vars["segment_label"] = (("segment",), np.asarray(seg_arr[3], dtype=object))
    if any(lab is not None for lab in clip_labels):
        names = sorted({lab for lab in clip_labels if lab is not None})
        index = {name: i for i, name in enumerate(names)}
        data_vars["label"] = (("clip",), np.array([lab or "" for lab in clip_labels], dtype=object))
        data_vars["clip_class"] = (
            ("clip",),
            np.array(
                [index[lab] if lab is not None else -1 for lab in clip_labels], dtype=np.int64
            ),
        )
        coords["clip_class_name"] = np.array(names, dtype=object)
    for name, values in extra.items():
        data_vars[f"meta_{name}"] = (("clip",), np.array([str(v) for v in values], dtype=object))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs_)


def _encoding(ds: xr.Dataset, chunk_frames: int) -> dict:
    compressor = zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
    n_freq = ds.sizes["freq"]
    chunk_frames = min(chunk_frames, ds.sizes["time"])
    enc = {
        "spectrogram": {
            "chunks": (1, n_freq, chunk_frames),
            "compressors": (compressor,),
            "fill_value": np.float32(np.nan),
        },
    }
    if "frame_labels" in ds:
        enc["frame_labels"] = {
            "chunks": (1, chunk_frames),
            "compressors": (compressor,),
            "fill_value": np.int16(PAD_LABEL),
        }
    return enc


# ---------------------------------------------------------------------------- entry point
def build_store(
    manifest: Manifest | str | os.PathLike,
    path: str | os.PathLike,
    params: SpectrogramParams | None = None,
    *,
    on_error: Literal["skip", "raise"] = "skip",
    labels: Sequence[str] | None = None,
    chunk_frames: int = CHUNK_FRAMES,
    client=None,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    allow_empty_annotations: bool = False,
) -> BuildReport:
    """Build a spectrogram store (zarr, through xarray) from a manifest.

    Parameters
    ----------
    manifest : Manifest or path to a manifest CSV
        The audio files, with annotations or clip labels.
    path : str or path-like
        The store to create (a folder, conventionally ending in ``.zarr``).
    params : SpectrogramParams, optional
        Default ``SpectrogramParams()``: 512-point FFT, hop 64, files' own sample rate.
    on_error : {"skip", "raise"}
        ``"skip"`` (default): bad files are left out, the good ones stored, and every bad
        one listed in the report. ``"raise"``: every file is checked first and, if any is
        bad, a :class:`~vocalpy_xai.errors.BuildError` listing all of them is raised
        before anything is written.
    labels : sequence of str, optional
        The segment label set. Default: every label found in the annotations. With a
        label set, a segment with any other label makes its file bad.
    chunk_frames : int
        Time frames per zarr chunk (default 512).
    client : distributed.Client, optional
        Run on this dask.distributed cluster; default: dask's threaded scheduler.
    num_workers : int, optional
        Threads for the threaded scheduler (default: number of cores).
    overwrite : bool
        If False (default) an existing store at ``path`` is an error. If True it is
        replaced, in one rename, once the new store is complete.
    progress : bool
        Show progress bars (tqdm).
    allow_empty_annotations : bool
        Accept an annotation with no segment (the clip is all background). Default
        False: such a file is bad (a header-only file is more often a mistake).

    Returns
    -------
    report : BuildReport
        Counts, timing, and every bad file with its problem.

    Raises
    ------
    StoreError
        ``path`` exists and ``overwrite`` is False.
    BuildError
        ``on_error="raise"`` and some file is bad (nothing written), or no file is good.
    """
    t0 = time.perf_counter()
    if not isinstance(manifest, Manifest):
        manifest = Manifest.read(manifest)
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', not {on_error!r}")
    params = params or SpectrogramParams()
    path = pathlib.Path(path)
    for old in remove_leftovers(path):
        logger.info("removed %s, left by an interrupted build", old)
    staging = path.with_name(path.name + ".building")
    if staging.is_dir() and not any(staging.rglob("*.npz")):
        shutil.rmtree(staging, ignore_errors=True)  # nothing to resume from
    if path.exists() and not overwrite:
        raise StoreError(
            f"{path} already exists; refusing to overwrite it (pass overwrite=True to "
            "replace it once the new store is complete)"
        )

    failures: list[DataError] = list(manifest.check_files())
    missing = {str(err.path) for err in failures}
    seg_by_path = manifest.segments(errors=failures)
    failures = [
        f for f in failures if not (isinstance(f, AnnotationError) and str(f.path) in missing)
    ]
    dropped = {p for p in manifest.table["audio_path"] if p not in seg_by_path}
    rows = [
        i
        for i, p in enumerate(manifest.table["audio_path"])
        if p not in missing and p not in dropped
    ]
    calls_base = [
        (manifest.table["audio_path"][i], seg_by_path.get(manifest.table["audio_path"][i]))
        for i in rows
    ]
    annotated = manifest.has_annotations
    if labels is not None:
        classes = class_names(labels)
    elif annotated:
        classes = class_names(
            lab for seg in seg_by_path.values() if seg is not None for lab in seg.labels
        )
    else:
        classes = None
    labelset = classes[1:] if classes is not None else None

    if on_error == "raise":
        checks = _run_tasks(
            [
                (p, s, params.to_dict(), None, labelset, allow_empty_annotations)
                for p, s in calls_base
            ],
            client,
            num_workers,
            progress,
            "checking files",
        )
        failures += [r for r in checks if isinstance(r, DataError)]
        failures += _rate_mismatches(checks, rows, manifest, params)
        if failures:
            raise BuildError(failures, stored=0, refused=True)

    pieces_dir = staging / "pieces"
    pieces_dir.mkdir(parents=True, exist_ok=True)
    results = _run_tasks(
        [
            (p, s, params.to_dict(), str(pieces_dir), labelset, allow_empty_annotations)
            for p, s in calls_base
        ],
        client,
        num_workers,
        progress,
        "spectrograms",
    )
    failures += [r for r in results if isinstance(r, DataError)]
    rate_failures = _rate_mismatches(results, rows, manifest, params)
    failures += rate_failures
    bad_paths = {str(e.path) for e in rate_failures}
    good = [
        (i, r)
        for i, r in zip(rows, results, strict=True)
        if not isinstance(r, DataError) and r["source_path"] not in bad_paths
    ]
    if not good:
        if not any(pieces_dir.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(failures, stored=0)

    table = manifest.table
    metas = [r for _, r in good]
    extra_cols = [
        c for c in table.columns if c not in ("audio_path", "annot_path", "annot_format", "label")
    ]
    ds = _assemble(
        metas,
        [seg_by_path.get(table["audio_path"][i]) for i, _ in good],
        [
            table["label"][i] if "label" in table.columns and table["label"][i] else None
            for i, _ in good
        ],
        {c: [table[c][i] for i, _ in good] for c in extra_cols},
        params,
        classes if annotated or labels is not None else None,
        chunk_frames,
    )
    if "annot_format" in table.columns:
        ds["annot_format"] = (
            "clip",
            np.array([table["annot_format"][i] or "" for i, _ in good], dtype=object),
        )
    _write_atomically(ds, path, chunk_frames, client, progress, overwrite)
    shutil.rmtree(staging, ignore_errors=True)

    report = BuildReport(
        path=path,
        stored=len(metas),
        computed=sum(not m["reused"] for m in metas),
        reused=sum(bool(m["reused"]) for m in metas),
        failures=failures,
        seconds=time.perf_counter() - t0,
    )
    if failures:  # the report lists them (the CLI prints it once)
        logger.warning("%d bad input file(s) skipped building %s", len(failures), path)
    return report


def _rate_mismatches(results, rows, manifest, params) -> list[DataError]:
    """With ``samplerate=None`` every file must share one rate: flag the others."""
    if params.samplerate is not None:
        return []
    rates = [r["samplerate"] for r in results if not isinstance(r, DataError)]
    if not rates:
        return []
    common = collections.Counter(rates).most_common(1)[0][0]
    return [
        AudioError(
            r["source_path"],
            f"sample rate {r['samplerate']} Hz differs from the store's {common} Hz "
            "(most files'); set SpectrogramParams(samplerate=...) to resample all files",
        )
        for r in results
        if not isinstance(r, DataError) and r["samplerate"] != common
    ]


def quiet_zarr():
    """Silence zarr's note that consolidated metadata is not in the v3 spec (we use it)."""
    import contextlib
    import warnings

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            yield

    return ctx()


def _write_atomically(ds, path: pathlib.Path, chunk_frames, client, progress, overwrite) -> None:
    try:
        with atomic_dir(path, replace=overwrite, create=False) as tmp:
            _write_store(ds, tmp, chunk_frames, client, progress)
    except FileExistsError as err:
        raise StoreError(f"{path} appeared during the build; not overwriting it") from err


def _write_store(ds, tmp: pathlib.Path, chunk_frames, client, progress) -> None:
    """Write the dataset to ``tmp`` and mark it complete (last)."""
    delayed = ds.to_zarr(
        tmp,
        mode="w-",
        compute=False,
        consolidated=False,
        encoding=_encoding(ds, chunk_frames),
        zarr_format=3,
    )
    if client is not None:
        client.compute(delayed).result()
    else:
        with _dask_progress("writing store", progress):
            dask.compute(delayed, scheduler="threads")
    group = zarr.open_group(tmp, mode="r+")
    group.attrs[COMPLETE_ATTR] = True
    with quiet_zarr():
        zarr.consolidate_metadata(tmp)


__all__ = ["BuildReport", "build_store", "process_file"]
