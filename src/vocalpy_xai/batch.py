"""Annotate or classify many audio files with a trained model, on a dask.distributed cluster.

``vocalpy-xai annotate`` and ``vocalpy-xai classify`` call :func:`annotate_files` and
:func:`classify_files`. Tasks run on a ``dask.distributed`` cluster: a
:class:`~distributed.LocalCluster` of ``num_workers`` single-threaded processes by default,
or the scheduler at ``scheduler`` (``tcp://host:8786``). Each worker process loads the model
once. The inference itself is the model's own public method:
:meth:`ESNDecoder.iter_predict_many <vocalpy_xai.models.ESNDecoder.iter_predict_many>` on a
task's list of files (about :data:`TASK_AUDIO_S` of audio, so that the reservoir batches
runs across files; long files stream by themselves, in bounded memory), its annotations
written by :data:`WRITE_THREADS` threads while the next files are computed
(:func:`write_predictions`), and
:meth:`AudioProtoNet.predict_proba <vocalpy_xai.protonet.AudioProtoNet.predict_proba>` on
BirdNET's 3-s chunks, one task per file.

Outputs are written atomically; a bad file is listed at the end and does not stop the
others. Annotation is resumable: beside each annotation file, a record in
``OUT/.vocalpy-xai-annotate/`` holds the audio's SHA-256 and the model's hash; a rerun skips
every file already annotated by the same model (audio unchanged), and refuses to overwrite
an annotation it did not write with that model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
import threading
import time
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import pandas as pd

from .errors import DataError, VocalpyXaiError
from .io.annotations import WRITABLE_SEQ_FORMATS, format_class, write_annotations
from .io.atomic import atomic_file, write_text
from .io.audio import AUDIO_EXTENSIONS, sha256_file
from .io.manifest import Manifest, natural_key

#: folder (inside the output folder) of the per-file records that make a run resumable
RECORDS_DIR = ".vocalpy-xai-annotate"
#: seconds of audio per annotation task at most (consecutive files): enough short files to
#: fill the reservoir's batch (:data:`vocalpy_xai.models.esn_decoder.GROUP_FRAMES` frames,
#: about 9 min), few enough that a cluster's workers share a folder evenly
TASK_AUDIO_S = 600.0
#: tasks per worker at least, when the files allow (load balance at the end of a run)
TASKS_PER_WORKER = 1
#: threads writing annotation files while the model computes the next ones
WRITE_THREADS = 2


class BatchError(VocalpyXaiError):
    """A batch that cannot start: unknown model, no input files, unwritable format."""


@attrs.define
class BatchReport:
    """What a batch run did.

    Attributes
    ----------
    written : list of pathlib.Path
        Output files written by this run.
    skipped : list of pathlib.Path
        Audio files skipped because they were already done with the same model.
    failures : list of str
        One line per bad file: the file and its problem.
    audio_s : float
        Seconds of audio processed in this run (written files only).
    seconds : float
        Wall-clock time of the run.
    outputs : dict
        Audio path (str) -> its output (annotation file, or chunk rows for classify).
    """

    written: list[pathlib.Path] = attrs.field(factory=list)
    skipped: list[pathlib.Path] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    audio_s: float = 0.0
    seconds: float = 0.0
    outputs: dict = attrs.field(factory=dict)

    @property
    def x_realtime(self) -> float:
        """Seconds of audio processed per second of wall-clock time."""
        return self.audio_s / self.seconds if self.seconds > 0 else float("nan")

    def summary(self) -> str:
        lines = [
            f"{len(self.written)} file(s) done, {len(self.skipped)} already done (skipped), "
            f"{len(self.failures)} bad file(s); {self.audio_s:.1f} s of audio in "
            f"{self.seconds:.1f} s ({self.x_realtime:.0f}x real time)"
        ]
        if self.failures:
            lines.append("bad files (not processed):")
            lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- inputs and model
def audio_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[pathlib.Path]:
    """The audio files of a file, a folder (searched recursively) or a manifest CSV.

    Raises
    ------
    BatchError
        Nothing to process, or ``source`` does not exist.
    """
    if not isinstance(source, str | os.PathLike):
        return [pathlib.Path(p) for p in source]
    source = pathlib.Path(source)
    if source.is_dir():
        paths = sorted(
            (
                p
                for p in source.rglob("*")
                if p.is_file()
                and p.suffix.lower() in AUDIO_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(source).parts)
            ),
            key=natural_key,
        )
        if not paths:
            raise BatchError(f"{source}: no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        return paths
    if source.suffix.lower() == ".csv":
        return Manifest.read(source).audio_paths
    if source.is_file():
        return [source]
    raise BatchError(f"{source}: no such file or folder")


def resolve_model(model: str | os.PathLike, registry: str | os.PathLike | None = None):
    """The folder and display name of a model: a saved model folder, or ``NAME[@VERSION]``.

    A registered version is checked against its recorded hashes first
    (:meth:`~vocalpy_xai.registry.Registry.verify`).

    Returns
    -------
    path : pathlib.Path
        The model folder.
    name : str
        ``name@vN`` for a registered model, else the folder.
    """
    from .registry import Registry

    if pathlib.Path(model).is_dir():
        return pathlib.Path(model), str(model)
    name, _, ref = str(model).partition("@")
    rec = Registry(registry).verify(name, ref or "latest")
    return rec.path, f"{rec.name}@v{rec.version}"


def model_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a model folder: of every file's relative path and SHA-256."""
    from .registry import hash_tree

    tree = hash_tree(path)
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()


def _loaded(path: str, digest: str):
    """The model at ``path``, loaded once per worker thread (models hold reservoir state)."""
    return _load(path, digest, threading.get_ident())


@functools.cache
def _load(path: str, digest: str, thread: int):
    from .registry import load_model_dir

    return load_model_dir(path)  # torch and cabrnet are imported for species models only


def _common_root(paths: Sequence[pathlib.Path]) -> pathlib.Path:
    parents = [str(p.resolve().parent) for p in paths]
    return pathlib.Path(os.path.commonpath(parents)) if parents else pathlib.Path.cwd()


def annotation_name(audio: pathlib.Path, annot_format: str) -> str:
    """``x.wav`` -> ``x.wav.csv`` (``simple-seq``), ``x.cbin.not.mat`` (``notmat``), ...

    The audio file's name plus the format's extension (its crowsetta class's ``ext``):
    the naming that :meth:`Manifest.from_folder` pairs back.
    """
    ext = format_class(annot_format).ext
    return audio.name + (ext if isinstance(ext, str) else ext[0])


# ---------------------------------------------------------------------------- one file (worker)
def _record_path(out: pathlib.Path, output: pathlib.Path) -> pathlib.Path:
    return out / RECORDS_DIR / (output.relative_to(out).as_posix().replace("/", "__") + ".json")


def _audio_duration(path: pathlib.Path) -> float:
    if path.suffix.lower() == ".cbin":
        import evfuncs

        rec = evfuncs.readrecf(path.with_suffix(".rec"))
        return rec["num_samples"] / rec["sample_freq"]
    import soundfile

    return float(soundfile.info(str(path)).duration)


def write_predictions(
    model,
    audio_paths: Sequence[str | os.PathLike],
    outputs: Sequence[str | os.PathLike],
    annot_format: str = "simple-seq",
    overwrite: bool = False,
    on_written: Callable[[int, int], None] | None = None,
    threads: int = WRITE_THREADS,
    sha256: dict[int, str] | None = None,
) -> list[dict]:
    """Annotate audio files with an ESNDecoder and write one annotation file each.

    The files go through :meth:`ESNDecoder.iter_predict_many
    <vocalpy_xai.models.ESNDecoder.iter_predict_many>` (short files batched in the
    reservoir); each annotation is written (:func:`~vocalpy_xai.io.write_annotations`,
    atomic) by one of ``threads`` threads as soon as it is made, while the model reads and
    computes the next files. A file that fails is reported, the others go on.

    Parameters
    ----------
    model : ESNDecoder
    audio_paths, outputs : sequences of path
        Audio files and the annotation file of each.
    annot_format : str
        A crowsetta seq format (:data:`~vocalpy_xai.io.annotations.WRITABLE_SEQ_FORMATS`).
    overwrite : bool
        Replace existing annotation files (else they are refused, per file).
    on_written : callable, optional
        ``on_written(index, n_segments)``, called on the writing thread after each file is
        written (e.g. to record it); an error there fails that file.
    threads : int
        Writing threads.
    sha256 : dict, optional
        Filled with ``{index: SHA-256 of the audio file}`` as the model read it (the bytes
        it decoded, read once, where :meth:`ESNDecoder.iter_predict_many
        <vocalpy_xai.models.ESNDecoder.iter_predict_many>` reads the file whole), before
        ``on_written`` is called for that file.

    Returns
    -------
    list of dict
        Per file, in order: ``{"status": "written", "audio_s", "segments"}`` or
        ``{"status": "failed", "error"}`` (the error names the file).
    """
    import concurrent.futures

    audio = [pathlib.Path(p) for p in audio_paths]
    targets = [pathlib.Path(p) for p in outputs]
    results: list[dict | None] = [None] * len(audio)

    def write(i: int, prediction) -> dict:
        try:
            seg = prediction.segments
            write_annotations(
                seg.to_annotation(audio[i], targets[i]),
                targets[i],
                annot_format,
                samplerate=model.samplerate_,
                overwrite=overwrite,
            )
            if on_written is not None:
                on_written(i, len(seg))
            return {"status": "written", "audio_s": _audio_duration(audio[i]), "segments": len(seg)}
        except Exception as err:  # a bad file is listed at the end, never stops the batch
            return _failed(audio[i], err)

    if hasattr(model, "iter_predict_many"):
        predictions = model.iter_predict_many(audio, errors="return", sha256=sha256)
    else:  # a family registered with predict() only: one file at a time
        predictions = _one_by_one(model, audio, sha256)
    with concurrent.futures.ThreadPoolExecutor(max(1, threads)) as pool:
        futures = {}
        for i, prediction in predictions:
            if isinstance(prediction, Exception):
                results[i] = _failed(audio[i], prediction)
            else:
                futures[pool.submit(write, i, prediction)] = i
        for future, i in futures.items():
            results[i] = future.result()
    return results


def _one_by_one(model, audio: list[pathlib.Path], sha256: dict[int, str] | None = None):
    for i, path in enumerate(audio):
        try:
            if sha256 is not None:  # the file as it was just before the model read it
                sha256[i] = sha256_file(path)
            yield i, model.predict(path)
        except Exception as err:
            yield i, err


def _failed(path: pathlib.Path, err: BaseException) -> dict:
    text = str(err) if isinstance(err, DataError | VocalpyXaiError) else repr(err)
    return {"status": "failed", "error": text if str(path) in text else f"{path}: {text}"}


def _annotate_task(
    audios: list[str],
    outputs: list[str],
    out_dir: str,
    model_dir: str,
    digest: str,
    model_name: str,
    annot_format: str,
    engine_threads: int | None = None,
) -> list[dict]:
    """Annotate a list of files; runs on a worker. One ``{"status", ...}`` per file.

    ``engine_threads``: threads of the model's reservoir engine in this worker (a local
    cluster's cores shared among its workers), or None for the engine's default.

    A file whose annotation exists is skipped if its record names the same model and the
    same audio (SHA-256), refused if the annotation is someone else's, annotated again if
    the audio changed. The others go through :func:`write_predictions` together; each
    written file gets its record (audio and model SHA-256) after its annotation. The
    record's SHA-256 is that of the bytes the model decoded, read once with them
    (``write_predictions(sha256=...)``); a file with an annotation is hashed first, to
    decide.
    """
    out = pathlib.Path(out_dir)
    results: list[dict | None] = [None] * len(audios)
    todo: list[int] = []
    for i, (audio, output) in enumerate(zip(audios, outputs, strict=True)):
        audio_p, output_p = pathlib.Path(audio), pathlib.Path(output)
        try:
            if not output_p.exists():
                todo.append(i)  # hashed as the model reads it
                continue
            record_p = _record_path(out, output_p)
            done = json.loads(record_p.read_text()) if record_p.exists() else {}
            if done.get("model_sha256") and done.get("model_sha256") != digest:
                raise DataError(
                    output_p,
                    f"exists, annotated by another model ({done.get('model')}); not "
                    "overwriting it: choose another output folder",
                )
            if not done:
                raise DataError(
                    output_p, "exists and was not written by vocalpy-xai annotate; not overwriting"
                )
            if done.get("audio_sha256") == sha256_file(audio_p):
                results[i] = {"status": "skipped", "audio_s": 0.0}
            else:
                todo.append(i)  # same model, audio changed since: annotate again
        except Exception as err:
            results[i] = _failed(audio_p, err)
    if todo:
        shas: dict[int, str] = {}  # per index in todo: the audio as the model read it

        def record(j: int, n_segments: int) -> None:
            i = todo[j]
            output_p = pathlib.Path(outputs[i])
            rec = {
                "audio": audios[i],
                "audio_sha256": shas[j],
                "model": model_name,
                "model_sha256": digest,
                "annotation": outputs[i],
                "format": annot_format,
                "segments": n_segments,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            write_text(_record_path(out, output_p), json.dumps(rec, indent=1))

        try:
            model = _loaded(model_dir, digest)
        except Exception as err:  # every file of the task is listed with the reason
            for i in todo:
                results[i] = _failed(pathlib.Path(audios[i]), err)
            return results
        if engine_threads and hasattr(model, "engine_"):
            model.engine_.threads = engine_threads
        done = write_predictions(
            model,
            [audios[i] for i in todo],
            [outputs[i] for i in todo],
            annot_format,
            overwrite=True,
            on_written=record,
            sha256=shas,
        )
        for i, result in zip(todo, done, strict=True):
            results[i] = result
    return results


def _tasks(files: list[pathlib.Path], n_workers: int) -> list[list[int]]:
    """Consecutive files in tasks of at most :data:`TASK_AUDIO_S` of audio, and at least
    :data:`TASKS_PER_WORKER` tasks a worker when there are files enough.

    Durations are estimated from file sizes (one ``stat`` a file: a folder of millions of
    songs is planned in seconds), at the bytes per second of up to 20 files spread over the
    list; a bad file counts as empty (its task names the problem).
    """
    sizes = []
    for f in files:
        try:
            sizes.append(float(f.stat().st_size))
        except OSError:
            sizes.append(0.0)
    rates = []
    for i in range(0, len(files), max(1, len(files) // 20)):
        try:
            seconds = _audio_duration(files[i])
        except Exception:
            continue
        if seconds > 0 and sizes[i] > 0:
            rates.append(sizes[i] / seconds)
    durations = np.asarray(sizes) / (float(np.median(rates)) if rates else 64000.0)
    total = float(durations.sum())
    n_tasks = max(1, int(np.ceil(total / TASK_AUDIO_S)), n_workers * TASKS_PER_WORKER)
    per_task = max(total / n_tasks, 1e-9)
    tasks: list[list[int]] = [[]]
    filled = 0.0
    for i, d in enumerate(durations):
        if tasks[-1] and filled + d / 2 > per_task * len(tasks):
            tasks.append([])
        tasks[-1].append(i)
        filled += d
    return tasks


def _classify_one(audio: str, model_dir: str, digest: str) -> dict:
    """Chunk scores of one file (the classifiers' one path,
    :func:`~vocalpy_xai.protonet.classify_recording`); runs on a worker."""
    from .protonet.evidence import classify_recording

    path = pathlib.Path(audio)
    try:
        model = _loaded(model_dir, digest)
        result = classify_recording(model, path)
        return {
            "status": "written",
            "audio_s": float(result.duration_s),
            "start_s": np.asarray(result.chunk_start_s, dtype=float).tolist(),
            "proba": np.asarray(result.chunk_proba, dtype=float).tolist(),
        }
    except Exception as err:  # a bad file is listed at the end, never stops the batch
        return _failed(path, err)


# ---------------------------------------------------------------------------- the cluster
def local_cluster(num_workers: int):
    """The :class:`~distributed.LocalCluster` of a batch: ``num_workers`` single-threaded
    worker processes on the loopback interface, without dask's ``MALLOC_TRIM_THRESHOLD_``.

    dask starts worker processes with ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``), so that workers give memory back to the
    system. Setting it fixes glibc's threshold for serving allocations by ``mmap`` at
    128 kB, so every large numpy temporary (FFT blocks, reservoir blocks) is a fresh
    mapping whose pages fault in again: annotating the Bird0 TEST files took 3.4 s of CPU
    with it against 1.5 s without (sys time 6.4 s against 1.0 s in a 3-run script; issue
    16). The variable is unset for these workers (dask's documented way: the config key
    set to None). Workers of a cluster started elsewhere (``--scheduler``) keep their own
    environment: start them with that key set to ``null`` in the dask config, or with
    ``MALLOC_TRIM_THRESHOLD_`` unset.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=num_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )


def _run(
    make_tasks: Callable[[int], list[tuple]],
    fn: Callable,
    scheduler: str | None,
    num_workers: int,
    progress: bool,
    on_result: Callable[[int, dict], None],
    desc: str,
) -> None:
    """Run ``fn(*task)`` for every task on a dask.distributed cluster.

    ``make_tasks(n)``: the tasks, given the cluster's ``n`` worker threads.
    """
    from distributed import Client, as_completed
    from tqdm.auto import tqdm

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = local_cluster(num_workers)
        client = Client(cluster)
    try:
        tasks = make_tasks(max(1, sum(client.nthreads().values())))
        futures = {client.submit(fn, *task, pure=False): i for i, task in enumerate(tasks)}
        with tqdm(total=len(futures), desc=desc, disable=not progress, unit="task") as bar:
            for future in as_completed(futures):
                on_result(futures[future], future.result())
                bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def annotate_files(
    source,
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    annot_format: str = "simple-seq",
    registry: str | os.PathLike | None = None,
    scheduler: str | None = None,
    num_workers: int = 1,
    progress: bool = True,
    engine_threads: int | None = None,
) -> BatchReport:
    """Annotate audio files with an ESNDecoder, one crowsetta annotation file per audio file.

    Parameters
    ----------
    source : path or sequence of paths
        An audio file, a folder (searched recursively), a manifest CSV, or a list of files.
    model : str or path
        A saved model folder, or ``NAME[@VERSION]`` of the registry.
    out_dir : path
        Output folder: ``x.wav`` becomes ``OUT/<its folder relative to the inputs' common
        folder>/x.wav.csv`` (the format's extension), plus ``OUT/manifest.csv`` pairing every
        audio file with its annotation (``vocalpy-xai build-store`` reads it).
    annot_format : str
        A crowsetta seq format crowsetta can write (:data:`WRITABLE_SEQ_FORMATS`).
    registry : path, optional
        Registry root for ``NAME@VERSION`` (default ``$VOCALPY_XAI_REGISTRY`` or
        ``~/.vocalpy-xai/models``).
    scheduler : str, optional
        Address of a running dask.distributed scheduler; default: a local cluster.
    num_workers : int
        Worker processes of the local cluster (one thread each).
    progress : bool
        Progress bar over tasks.
    engine_threads : int, optional
        Threads of the reservoir engine in each worker (default: this machine's cores
        shared among the local cluster's workers; with ``scheduler``, the engine's default).

    Returns
    -------
    BatchReport
        Written, skipped (already done with this model) and bad files.
    """
    if annot_format not in WRITABLE_SEQ_FORMATS:
        format_class(annot_format)
        raise BatchError(
            f"crowsetta cannot write format '{annot_format}'; choose one of "
            f"{', '.join(WRITABLE_SEQ_FORMATS)}"
        )
    files = audio_files(source)
    model_dir, model_name = resolve_model(model, registry)
    digest = model_hash(model_dir)
    out = pathlib.Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = _common_root(files)
    outputs = [
        out / p.resolve().parent.relative_to(root) / annotation_name(p, annot_format) for p in files
    ]
    report = BatchReport()
    t0 = time.perf_counter()

    groups: list[list[int]] = []
    # a local cluster's workers share this machine's cores: the reservoir steps on as many
    # threads as each worker's share (a remote cluster's workers keep the engine's default)
    if engine_threads is None and not scheduler:
        engine_threads = max(1, (os.cpu_count() or 1) // max(1, num_workers))

    def make_tasks(n_workers: int) -> list[tuple]:
        groups.extend(_tasks(files, n_workers))
        return [
            (
                [str(files[i]) for i in g],
                [str(outputs[i]) for i in g],
                str(out),
                str(model_dir),
                digest,
                model_name,
                annot_format,
                engine_threads,
            )
            for g in groups
        ]

    def on_result(t: int, results: list[dict]) -> None:
        for i, result in zip(groups[t], results, strict=True):
            if result["status"] == "failed":
                report.failures.append(result["error"])
                continue
            report.outputs[str(files[i])] = outputs[i]
            if result["status"] == "skipped":
                report.skipped.append(files[i])
            else:
                report.written.append(outputs[i])
                report.audio_s += result["audio_s"]

    _run(make_tasks, _annotate_task, scheduler, num_workers, progress, on_result, "annotate")
    report.seconds = time.perf_counter() - t0
    report.failures.sort(key=natural_key)
    if report.outputs:
        done = [str(p) for p in files if str(p) in report.outputs]
        table = pd.DataFrame(
            {
                "audio_path": [str(pathlib.Path(p).resolve()) for p in done],
                "annot_path": [str(report.outputs[p]) for p in done],
                "annot_format": annot_format,
            }
        )
        Manifest(table).write(out / "manifest.csv")
    return report


def classify_files(
    source,
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    registry: str | os.PathLike | None = None,
    scheduler: str | None = None,
    num_workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> BatchReport:
    """Species scores of audio files with an AudioProtoNet on a BirdNET backbone.

    Every recording is cut into BirdNET's 3-s chunks (:func:`vocalpy_xai.birdnet.chunk_audio`)
    and scored with the model's :meth:`~vocalpy_xai.protonet.AudioProtoNet.predict_proba`;
    a recording's scores are the means over its chunks (as in
    :meth:`~vocalpy_xai.protonet.AudioProtoNet.explain_recording`). Writes, atomically,
    ``OUT/chunk_scores.csv`` (``audio_path, start_s, end_s, predicted, p_<class>...``) and
    ``OUT/recording_scores.csv`` (``audio_path, n_chunks, predicted, p_<class>...``).

    Parameters are those of :func:`annotate_files`; ``overwrite`` replaces existing CSVs.
    """
    files = audio_files(source)
    model_dir, _ = resolve_model(model, registry)
    digest = model_hash(model_dir)
    family = json.loads((model_dir / "config.json").read_text()).get("family")
    params = json.loads((model_dir / "config.json").read_text()).get("params", {})
    if family != "AudioProtoNet" or params.get("backbone") != "birdnet":
        raise BatchError(
            f"{model_dir}: classify needs an AudioProtoNet on the BirdNET backbone (a species "
            f"model that reads audio); this is a {family} with backbone "
            f"{params.get('backbone')!r}. Annotation models: vocalpy-xai annotate"
        )
    out = pathlib.Path(out_dir)
    targets = [out / "chunk_scores.csv", out / "recording_scores.csv"]
    for t in targets:
        if t.exists() and not overwrite:
            raise FileExistsError(f"{t} exists; pass --overwrite to replace it")
    names = json.loads((model_dir / "config.json").read_text())["class_names"]
    report = BatchReport()
    results: dict[int, dict] = {}
    t0 = time.perf_counter()

    def on_result(i: int, result: dict) -> None:
        if result["status"] == "failed":
            report.failures.append(result["error"])
        else:
            results[i] = result
            report.audio_s += result["audio_s"]

    tasks = [(str(p), str(model_dir), digest) for p in files]  # one file a task
    _run(lambda _: tasks, _classify_one, scheduler, num_workers, progress, on_result, "classify")
    chunk_rows, rec_rows = [], []
    for i in sorted(results):
        proba, start = np.asarray(results[i]["proba"]), np.asarray(results[i]["start_s"])
        for k in range(len(start)):
            chunk_rows.append(
                {
                    "audio_path": str(files[i]),
                    "start_s": start[k],
                    "end_s": start[k] + 3.0,
                    "predicted": names[int(proba[k].argmax())],
                    **{f"p_{c}": proba[k, j] for j, c in enumerate(names)},
                }
            )
        mean = proba.mean(0)
        rec_rows.append(
            {
                "audio_path": str(files[i]),
                "n_chunks": len(start),
                "predicted": names[int(mean.argmax())],
                **{f"p_{c}": mean[j] for j, c in enumerate(names)},
            }
        )
        report.written.append(files[i])
    out.mkdir(parents=True, exist_ok=True)
    for path, rows in zip(targets, (chunk_rows, rec_rows), strict=True):
        with atomic_file(path) as tmp:
            pd.DataFrame(rows).to_csv(tmp, index=False)
    report.outputs = {"chunks": targets[0], "recordings": targets[1]}
    report.seconds = time.perf_counter() - t0
    report.failures.sort(key=natural_key)
    return report


__all__ = [
    "BatchError",
    "BatchReport",
    "annotate_files",
    "annotation_name",
    "audio_files",
    "classify_files",
    "local_cluster",
    "model_hash",
    "resolve_model",
    "write_predictions",
]
