"""Benchmark: ESNDecoder vs vak's TweetyNet on the fixed Bird0 split (issues 3 and 16).

One run, same machine: both models train on TRAIN (files 0-61, the shortest prefix with
>= 600 s of audio) and annotate TEST (files 95-134); both are scored by
``vocalpy_xai.metrics.evaluate`` against Annotation.xml: syllable error rate, onset and
offset F1 at +-10 ms, frame accuracy on a 1-ms grid (segments rasterised, true and
predicted alike), median onset/offset error, training time.

ESNDecoder, default hyper-parameters (``ESNDecoder()``), 2 threads:

* annotation speed, end to end (``vocalpy_xai.batch.write_predictions`` on the TEST wavs:
  ``ESNDecoder.iter_predict_many`` -- decode, spectrogram, features, reservoir both ways,
  read-out, segments -- and a ``simple-seq`` csv per file written on threads while the
  next files compute; the path of ``vocalpy-xai annotate``'s tasks), as x real time by
  wall clock and per CPU second; beside it, in the same run, ``annotate_many`` followed
  by a csv per file in a loop, ``annotate()`` file by file, and the pre-issue-16 reference
  path (``load_audio`` + librosa spectrogram + reservoirpy's ``Reservoir.run``) on the
  same files, and whether they give the same annotations (the written csv files read
  back). ``--speed-only`` measures this part again (and the hour,
  and dask) into the existing ``esn.json``, for a rerun on a quiet machine;
* peak RSS of a fresh process annotating one hour of song (TEST songs concatenated) with
  plain ``annotate()`` (it streams by itself), and its speed.

TweetyNet (vak 1.0.4, ``tweetynet_baseline.py``): vak's clean-up on (majority vote,
segments under 20 ms removed, ``post_tfm_kwargs``), a training budget of
``TWEETYNET_CPU_BUDGET_S`` CPU seconds of the ``vak train`` process (not wall clock: the
machine is shared). Training takes 20+ minutes of wall time here, so a TweetyNet result
saved by ``--tweetynet-only`` with the same budget, clean-up and baseline code (checked by
hash) is reused; ``--rerun-tweetynet`` trains it again. A TweetyNet trained elsewhere (e.g. to
convergence on a GPU machine) comes in with ``--tweetynet-result PATH``: a JSON object with
``syllable_error_rate`` (clean-up on), ``epochs``, ``train_wall_s``, ``device`` and ``post_tfm``
(:func:`load_tweetynet_result`; its ``predict_csv``, if any, is scored here as the ESN is);
with ``--add-tweetynet`` it is added to the ``esn.json`` of an earlier run without running the
ESN half again. Published figures are quoted
beside ours. ``dask.*``: batch annotation on a dask cluster (``vocalpy-xai annotate``),
measured when the batch module is present, else null.

Results: ``benchmarks/results/esn.json`` (``summary`` holds the issue's keys) and ``esn.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, loadavg, read_results, write_json, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"
#: TweetyNet's training budget: CPU seconds of the ``vak train`` process (not wall clock)
TWEETYNET_CPU_BUDGET_S = 600.0


def fixed_split(durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bird0's fixed split: TRAIN = shortest prefix with >= 600 s, TEST = files 95-134."""
    from vocalpy_xai.clips import bird0_fixed_split

    return bird0_fixed_split(durations)


def truth_tables(ds, clips):
    from vocalpy_xai.store.dataset import clip_segments

    return [clip_segments(ds, c) for c in clips]


def summarize(metrics: dict) -> dict:
    errs = metrics["boundary_errors"]
    return {
        "syllable_error_rate": metrics["syllable_error_rate"],
        "frame_accuracy": metrics.get("frames", {}).get("accuracy"),
        "boundary_f1_10ms": metrics["boundaries"]["f1"],
        "onset_f1_10ms": metrics["boundaries"]["onset"]["f1"],
        "offset_f1_10ms": metrics["boundaries"]["offset"]["f1"],
        "median_onset_error_s": errs.get("median_onset_error_s"),
        "median_offset_error_s": errs.get("median_offset_error_s"),
    }


# Peak RSS is read from /proc/self/status (VmHWM): ru_maxrss of a child started from a
# big parent reports the parent's size (Linux folds the pre-exec peak into it).
HOUR_SCRIPT = textwrap.dedent("""
    import sys, time
    from vocalpy_xai.models import ESNDecoder
    m = ESNDecoder.load(sys.argv[1])
    t, c = time.perf_counter(), time.process_time()
    seg = m.annotate(sys.argv[2])
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(len(seg), dt, cpu, hwm)
""")

#: published figures, quoted beside ours
PUBLISHED = {
    "tweetynet_published": {
        "ser": 0.0151,
        "ser_sd": 0.0028,
        "frame_acc": 0.984,
        "source": "Cohen et al. 2022, eLife 11:e63853 (TweetyNet), Bengalese finch Bird0 "
        "(Koumura), 600 s of training data, with clean-up (majority vote, min. segment 20 ms)",
    },
    "das_published": {
        "onset_f1": 0.99,
        "offset_f1": 0.99,
        "tolerance_s": 0.010,
        "source": "Steinfath et al. 2021, eLife 10:e68837 (DAS), Bengalese finches, "
        "onset/offset F1 at 10 ms",
    },
}


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def grid_labels(segments, duration_s: float, names: dict, step: float = 0.001) -> np.ndarray:
    """Class of every 1-ms cell (centre inside a segment, else background)."""
    from vocalpy_xai.store.labels import frame_labels

    times = np.arange(int(duration_s / step)) * step + step / 2
    return frame_labels(segments, times, names)


def grid_accuracy(truths, preds, durations) -> float:
    names = {
        str(x): i + 1 for i, x in enumerate(sorted({str(lb) for t in truths for lb in t.labels}))
    }
    for p in preds:
        for lb in p.labels:
            names.setdefault(str(lb), len(names) + 1)
    hits = total = 0
    for t, p, d in zip(truths, preds, durations, strict=True):
        a, b = grid_labels(t, d, names), grid_labels(p, d, names)
        hits += int((a == b).sum())
        total += len(a)
    return hits / total


def _same(a, b, atol: float = 1e-6) -> bool:
    """Same labels, same times up to ``atol`` (1 us: the refined edges read float32
    envelopes; a csv read back: crowsetta's simple-seq reader rounds to the millisecond)."""
    return (
        len(a) == len(b)
        and list(a.labels) == list(b.labels)
        and bool(np.allclose(a.onsets_s, b.onsets_s, rtol=0, atol=atol))
        and bool(np.allclose(a.offsets_s, b.offsets_s, rtol=0, atol=atol))
    )


#: a written csv read back against an in-memory table: crowsetta rounds to 1 ms
CSV_ATOL = 5e-4 + 1e-6


def reference_annotate(model, path: str):
    """Today's path before issue 16: whole file, librosa spectrogram, reservoirpy's run
    (then the same segments and boundary refiner as the model's)."""
    from vocalpy_xai.io.audio import load_audio
    from vocalpy_xai.models.sources import spectrogram_of_audio

    rec = load_audio(path, samplerate=model.samplerate_, mono=True)
    spect, freqs = spectrogram_of_audio(model.pipeline_, rec.sound.data[0], model.samplerate_)
    x = model.features.transform(spect, freqs)
    scores = model._states_reservoirpy(x) @ model.readout_.Wout + model.readout_.bias
    return model._prediction(scores, model.features.envelope(spect, freqs)).segments


def train_default(work: pathlib.Path):
    """Store of Bird0, the default ESNDecoder trained on TRAIN and saved; TEST paths."""
    import vocalpy_xai as vx
    from vocalpy_xai.models import ESNDecoder

    manifest = vx.Manifest.from_annotation_file(
        BIRD0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    vx.build_store(
        manifest, work / "bird0.zarr", vx.SpectrogramParams(samplerate=32000), progress=False
    )
    ds = vx.open_store(work / "bird0.zarr")
    train, test = fixed_split(ds["duration_s"].values)
    model = ESNDecoder().fit(ds, train, progress=False)  # the default model
    model.save(work / "esn")
    return ds, train, test, model


def measure_speed(model, paths: list[str], audio_s: float, work: pathlib.Path) -> dict:
    """x real time of the whole path on TEST, new and old, in the same run.

    ``annotate_many`` (the files' reservoir runs batched together) and ``annotate()`` file
    by file, each writing a ``simple-seq`` csv per file, then the reference path
    (:func:`reference_annotate`, csv files written too); wall and CPU seconds of each, and
    whether their
    annotations are the same. Returns the measures and the predictions of
    ``annotate_many`` (scored by the caller).
    """
    from vocalpy_xai.batch import write_predictions
    from vocalpy_xai.io import SegmentTable, read_annotations, write_annotations

    model.annotate_many(paths[:2])  # loads numba's compiled cache
    model.annotate(paths[0])
    (work / "warm-up").mkdir()  # the writing path's first use (imports, threads) untimed
    write_predictions(model, paths[:2], [work / "warm-up" / f"{i}.csv" for i in range(2)])

    def timed(fn):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        return result, time.perf_counter() - t0, time.process_time() - c0

    def write_all(segs, folder):
        folder.mkdir()
        for p, seg in zip(paths, segs, strict=True):
            write_annotations(
                seg.to_annotation(p), folder / f"{pathlib.Path(p).stem}.csv", "simple-seq"
            )
        return segs

    def written(folder):
        folder.mkdir()
        csvs = [folder / f"{pathlib.Path(p).stem}.csv" for p in paths]
        results = write_predictions(model, paths, csvs, "simple-seq")
        failed = [r["error"] for r in results if r["status"] != "written"]
        if failed:
            raise RuntimeError(f"annotation failed: {failed}")
        return csvs

    load0 = loadavg()[0]
    csvs, many_s, many_cpu = timed(lambda: written(work / "annotations"))
    preds = [
        SegmentTable.from_annotation(read_annotations(c, "simple-seq")[0]) for c in csvs
    ]  # what was written, read back
    _, loop_s, loop_cpu = timed(
        lambda: write_all(model.annotate_many(paths), work / "annotations-loop")
    )
    each, each_s, each_cpu = timed(
        lambda: write_all([model.annotate(p) for p in paths], work / "annotations-each")
    )
    reference, ref_s, ref_cpu = timed(
        lambda: write_all(
            [reference_annotate(model, p) for p in paths], work / "annotations-reference"
        )
    )
    load1 = loadavg()[0]
    return preds, {
        "test_audio_s": audio_s,
        "annotation_x_realtime": audio_s / many_s,
        "annotation_wall_s": many_s,
        "annotation_cpu_s": many_cpu,
        "annotation_x_realtime_per_cpu_s": audio_s / many_cpu,
        "annotation_how": "batch.write_predictions(model, TEST paths, csv paths): "
        "ESNDecoder.iter_predict_many + a simple-seq csv per file written on 2 threads",
        "load_average_1min": [load0, load1],
        "annotate_many_then_write": {
            "what": "ESNDecoder.annotate_many(TEST paths), then a csv per file in a loop",
            "x_realtime": audio_s / loop_s,
            "cpu_s": loop_cpu,
            "x_realtime_per_cpu_s": audio_s / loop_cpu,
        },
        "annotate_each": {
            "what": "ESNDecoder.annotate() file by file + a csv per file",
            "x_realtime": audio_s / each_s,
            "cpu_s": each_cpu,
            "x_realtime_per_cpu_s": audio_s / each_cpu,
            "files_with_identical_annotations": sum(
                _same(a, b) for a, b in zip(each, reference, strict=True)
            ),
        },
        "reference_path": {
            "what": "load_audio + librosa spectrogram + reservoirpy Reservoir.run (whole "
            "file) + a csv per file",
            "x_realtime": audio_s / ref_s,
            "cpu_s": ref_cpu,
            "x_realtime_per_cpu_s": audio_s / ref_cpu,
            "files_with_identical_annotations": sum(
                _same(a, b, CSV_ATOL) for a, b in zip(preds, reference, strict=True)
            ),
            "n_files": len(paths),
        },
        "speedup_vs_reference_wall": ref_s / many_s,
        "speedup_vs_reference_cpu": ref_cpu / many_cpu,
        "engine_threads": model.engine_.threads,
    }


def measure_one_hour(model_dir: pathlib.Path, paths: list[str], work: pathlib.Path) -> dict:
    """One hour of song annotated by plain ``annotate()`` in a fresh process (its peak RSS)."""
    import soundfile

    hour = work / "one-hour.wav"
    with soundfile.SoundFile(hour, "w", samplerate=32000, channels=1, subtype="PCM_16") as f:
        written = 0
        while written < 3600 * 32000:
            for p in paths:
                data, _ = soundfile.read(p, dtype="int16")
                f.write(data)
                written += len(data)
                if written >= 3600 * 32000:
                    break
    script = work / "hour.py"
    script.write_text(HOUR_SCRIPT)
    res = subprocess.run(
        [sys.executable, str(script), str(model_dir), str(hour)],
        capture_output=True,
        text=True,
        check=True,
    )
    n_seg, seconds, cpu, rss_kb = res.stdout.split()
    hour.unlink()
    return {
        "audio_s": written / 32000,
        "segments": int(n_seg),
        "seconds": float(seconds),
        "cpu_s": float(cpu),
        "x_realtime": written / 32000 / float(seconds),
        "peak_rss_mb": int(rss_kb) / 1024,
        "how": "ESNDecoder.annotate() on a 1-h wav in a fresh process (streams by itself)",
    }


def score_esn(model, ds, clips, preds) -> dict:
    """Accuracy of the model's annotations ``preds`` of store clips ``clips``."""
    from vocalpy_xai.metrics import evaluate
    from vocalpy_xai.store import ClipReader

    # frame accuracy on the model's 8-ms frames, from the store's spectrograms
    reader = ClipReader(ds)
    yt, yp = [], []
    for c in clips:
        labels = model.predict(reader.spectrogram(c), ds["freq"].values).frame_labels
        y = reader.frame_labels(c)[:: model.features.stride][: len(labels)]
        yt.append(y)
        yp.append(labels[: len(y)])
    truths = truth_tables(ds, clips)
    metrics = evaluate(truths, preds, np.concatenate(yt), np.concatenate(yp), model.class_names_)
    out = summarize(metrics)
    durations = ds["duration_s"].values[clips].astype(float)
    out["frame_accuracy_1ms"] = grid_accuracy(truths, preds, durations)
    out["frame_accuracy_model_frames"] = out.pop("frame_accuracy")
    return out


def run_esn(work: pathlib.Path) -> dict:
    ds, train, test, model = train_default(work)
    paths = [str(p) for p in ds["source_path"].values[test]]
    durations = ds["duration_s"].values[test].astype(float)
    preds, speed = measure_speed(model, paths, float(durations.sum()), work)
    out = score_esn(model, ds, test, preds)
    out.update(
        {
            "train_cpu_s": model.training_["cpu_seconds"],
            "train_wall_s": model.training_["seconds"],
            "train_audio_s": float(ds["duration_s"].values[train].sum()),
            "n_train_files": int(len(train)),
            **speed,
            "peak_rss_mb_process": _vm_hwm_mb(),
            "peak_rss_note": "ESN process: store build, training and annotation of TEST",
            "params": {
                "units": model.params.units,
                "stride": model.features.stride,
                "bidirectional": model.params.bidirectional,
                "engine_threads": model.engine_.threads,
            },
        }
    )
    out["one_hour"] = measure_one_hour(work / "esn", paths, work)
    return out


SPEED_KEYS = (
    "train_wall_s",
    "train_cpu_s",
    "annotation_x_realtime",
    "annotation_wall_s",
    "annotation_cpu_s",
    "annotation_x_realtime_per_cpu_s",
    "annotation_how",
    "load_average_1min",
    "annotate_many_then_write",
    "annotate_each",
    "reference_path",
    "speedup_vs_reference_wall",
    "speedup_vs_reference_cpu",
    "engine_threads",
    "one_hour",
)


#: files 62-94 of Bird0: where the default's post-processing was chosen (never TEST)
VAL_FILES = range(62, 95)


def rerun_accuracy(work: pathlib.Path) -> dict:
    """``--accuracy-only``: the accuracy part again (training, TEST and VAL annotation).

    The default model is trained and annotates TEST (files 95-134) and VAL (files 62-94,
    where its hyper-parameters and post-processing were chosen; reported as ``esn.val``)
    with ``annotate_many``; the accuracy and training-time keys of the existing
    ``esn.json`` are replaced, its speed, TweetyNet and dask keys kept.
    """
    results = read_results("esn", RESULTS, required=True)
    load0 = loadavg()[0]
    ds, _, test, model = train_default(work)
    load1 = loadavg()[0]
    val = np.array(VAL_FILES)
    scored = {}
    for name, clips in (("test", test), ("val", val)):
        paths = [str(p) for p in ds["source_path"].values[clips]]
        scored[name] = score_esn(model, ds, clips, model.annotate_many(paths))
    results["esn"].update(scored["test"])
    results["esn"]["val"] = {"files": "62-94", **scored["val"]}
    results["esn"]["train_wall_s"] = model.training_["seconds"]
    results["esn"]["train_cpu_s"] = model.training_["cpu_seconds"]
    results["esn"]["train_load_average_1min"] = [load0, load1]
    results["esn"]["boundary_refiner"] = model.refiner_ is not None
    results["esn"]["accuracy_rerun"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return results


def rerun_speed(work: pathlib.Path) -> dict:
    """``--speed-only``: the speed part again (training time, TEST annotation new vs old, 1 h,
    dask).

    The default model is deterministic, so it is the model of the full run; the accuracy
    keys of the existing ``esn.json`` are kept and the speed keys replaced (for a rerun
    on a quiet machine).
    """
    results = read_results("esn", RESULTS, required=True)
    ds, _, test, model = train_default(work)
    paths = [str(p) for p in ds["source_path"].values[test]]
    audio_s = float(ds["duration_s"].values[test].astype(float).sum())
    _, speed = measure_speed(model, paths, audio_s, work)
    speed["one_hour"] = measure_one_hour(work / "esn", paths, work)
    speed["speed_rerun"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    speed["train_wall_s"] = model.training_["seconds"]
    speed["train_cpu_s"] = model.training_["cpu_seconds"]
    results["esn"].update({k: speed[k] for k in (*SPEED_KEYS, "speed_rerun")})
    results["dask"] = run_dask(work, work / "esn", paths)
    return results


def run_dask(work: pathlib.Path, model_dir: pathlib.Path, paths: list[str]) -> dict | None:
    """x real time of ``vocalpy-xai annotate`` (batch module) on 1 and 2 dask workers.

    The TEST files, in tasks of consecutive files (at most ``batch.TASK_AUDIO_S`` of audio,
    at least one a worker: ``batch.annotate_files``), on the batch's own local cluster of 1
    then 2 single-threaded worker processes, measured as ``bench_batch.on_dask`` does: the
    start-up (cluster, workers loading the model, one warm-up file a worker) timed apart,
    then the batch; ``x_realtime_*`` is the batch's, ``x_realtime_with_startup_*`` counts
    the start-up too (a user's first run). The extrapolation to 10,000 hours on 32 cores
    takes the 2-worker run's audio seconds per worker CPU second as one core's rate.
    """
    try:
        from bench_batch import CORES, HOURS, on_dask
        from vocalpy_xai import batch
    except ImportError:  # the batch module (issue 12) is not on this branch
        return None
    out = {
        "task_how": f"tasks of consecutive files, at most {batch.TASK_AUDIO_S:.0f} s of audio "
        "and at least one a worker, each through ESNDecoder.iter_predict_many + csv files "
        "written on threads; start-up timed apart"
    }
    files = [pathlib.Path(p) for p in paths]
    for n in (1, 2):
        (work / f"dask-{n}").mkdir()
        run = on_dask(files, model_dir, work / f"dask-{n}", n)
        tag = f"{n}_worker" + ("s" if n > 1 else "")
        out[f"x_realtime_{tag}"] = run["x_realtime"]
        out[f"x_realtime_with_startup_{tag}"] = run["audio_s"] / (run["seconds"] + run["startup_s"])
        out[f"x_realtime_per_cpu_s_{tag}"] = run["x_realtime_per_cpu_s"]
        out[f"seconds_{n}"] = run["seconds"]
        out[f"startup_s_{n}"] = run["startup_s"]
        out["audio_s"] = run["audio_s"]
    per_core = out["x_realtime_per_cpu_s_2_workers"]
    out["extrapolation"] = {
        "hours_of_audio": HOURS,
        "cores": CORES,
        "assumed_x_realtime_per_core": per_core,
        "wall_clock_hours": HOURS / (per_core * CORES),
    }
    return out


TWEETYNET_RESULT = "esn_tweetynet.json"
#: its name in the results folder
TWEETYNET_NAME = pathlib.Path(TWEETYNET_RESULT).stem


def _tweetynet_config(budget: float) -> dict:
    """What a saved TweetyNet result must match to be reused: budget, clean-up, code."""
    import hashlib

    import tweetynet_baseline

    digest = hashlib.sha256()
    for name in ("tweetynet_baseline.py", "vak_baseline.py"):
        digest.update((HERE / name).read_bytes())
    return {
        "cpu_budget_s": budget,
        "post_tfm": dict(tweetynet_baseline.POST_TFM),
        "code_sha256": digest.hexdigest(),
    }


TWEETYNET_PREDICTIONS = "esn_tweetynet_predict.csv"


def score_tweetynet(predict_csv: pathlib.Path) -> dict:
    """TweetyNet's TEST annotations (vak's generic-seq csv) scored as the ESN's are."""
    import soundfile

    from vocalpy_xai.io import SegmentTable, read_annotations
    from vocalpy_xai.metrics import evaluate

    annots = read_annotations(predict_csv, "generic-seq")
    by_name = {pathlib.Path(a.notated_path).name: SegmentTable.from_annotation(a) for a in annots}
    truth = {
        pathlib.Path(a.notated_path).name: SegmentTable.from_annotation(a)
        for a in read_annotations(BIRD0 / "Annotation.xml", "birdsong-recognition-dataset")
    }
    names = [f"{i}.wav" for i in range(95, 135)]
    empty = SegmentTable(np.array([]), np.array([]), np.array([], dtype=str))
    truths, preds = [truth[n] for n in names], [by_name.get(n, empty) for n in names]
    out = summarize(evaluate(truths, preds))
    out.pop("frame_accuracy")
    durations = [soundfile.info(str(BIRD0 / "Wave" / n)).duration for n in names]
    out["frame_accuracy_1ms"] = grid_accuracy(truths, preds, durations)
    return out


def run_tweetynet(work: pathlib.Path, budget: float) -> dict:
    import shutil

    import tweetynet_baseline

    result = tweetynet_baseline.run_tweetynet(work / "tweetynet", cpu_budget_s=budget)
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result["predict_csv"], RESULTS / TWEETYNET_PREDICTIONS)
    out = score_tweetynet(RESULTS / TWEETYNET_PREDICTIONS)
    out.update({k: v for k, v in result.items() if k != "predict_csv"})
    out["frame_accuracy_vak"] = result.get("frame_accuracy")  # vak eval, its 2-ms frames
    out["config"] = _tweetynet_config(budget)
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return out


def tweetynet_result(work: pathlib.Path, budget: float, rerun: bool = False) -> dict:
    """TweetyNet's half: reuse the saved result of the same budget, clean-up and code, or run it.

    TweetyNet trains for ``budget`` CPU seconds (20+ minutes of wall time on a shared
    2-core machine): a result saved by ``--tweetynet-only`` (same budget, clean-up and
    baseline code, checked by hash) is reused rather than trained again.
    """
    result = {} if rerun else read_results(TWEETYNET_NAME, RESULTS)
    if result and result.get("config") == _tweetynet_config(budget):
        result["reused_from"] = f"{TWEETYNET_RESULT} (run finished {result.get('finished')})"
        if (RESULTS / TWEETYNET_PREDICTIONS).exists():  # scored by this run's code
            result.update(score_tweetynet(RESULTS / TWEETYNET_PREDICTIONS))
        return result
    result = run_tweetynet(work, budget)
    write_json(TWEETYNET_NAME, result, RESULTS, default=str)
    return result


#: keys a TweetyNet result produced elsewhere must hold (``--tweetynet-result``)
EXTERNAL_REQUIRED = ("syllable_error_rate", "epochs", "train_wall_s", "device", "post_tfm")
#: other names accepted for them
EXTERNAL_ALIASES = {
    "ser": "syllable_error_rate",
    "train_s": "train_wall_s",
    "trained_on": "device",  # tweetynet_gpu.py's name
}


def load_tweetynet_result(path: str | os.PathLike) -> dict:
    """A TweetyNet result trained elsewhere (e.g. on a GPU machine), read from a JSON file.

    The file holds one object with at least ``syllable_error_rate`` (or ``ser``: TEST,
    vak's clean-up on), ``epochs`` (epochs trained, vak's epoch), ``train_wall_s`` (or
    ``train_s``), ``device`` (e.g. ``"cuda (NVIDIA H200)"``) and ``post_tfm`` (the clean-up,
    which must be :data:`tweetynet_baseline.POST_TFM`: majority vote, minimum segment 20 ms).
    Anything else (``onset_f1_10ms``, ``steps``, ``train_cpu_s``, a training curve, ...) is
    kept. ``tweetynet_baseline.run_tweetynet``'s own result (or ``esn_tweetynet.json``) fits.

    ``device`` may also be ``trained_on`` or ``train.device`` (``tweetynet_gpu.py``'s
    result). ``predict_csv`` (vak's generic-seq csv of TEST; a relative path is looked up
    from the JSON file's folder and each folder above it, e.g. the repository root), when
    the file names one that exists, is scored by this benchmark's code
    (:func:`score_tweetynet`), as the ESN is; the file's own figures are kept under
    ``reported``. Problems are a ``SystemExit`` naming the file.
    """
    import tweetynet_baseline

    path = pathlib.Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"--tweetynet-result {path}: cannot read a JSON object ({err})") from err
    if not isinstance(result, dict):
        raise SystemExit(f"--tweetynet-result {path}: expected a JSON object")
    for alias, key in EXTERNAL_ALIASES.items():
        if key not in result and alias in result:
            result[key] = result.pop(alias)
    if result.get("device") is None and isinstance(result.get("train"), dict):
        result["device"] = result["train"].get("device")
    if result.get("device") is None and "cpu_budget_s" in result:
        result["device"] = "cpu"  # tweetynet_baseline's own result
    missing = [k for k in EXTERNAL_REQUIRED if result.get(k) is None]
    if missing:
        raise SystemExit(
            f"--tweetynet-result {path}: missing {', '.join(missing)} "
            f"(needs {', '.join(EXTERNAL_REQUIRED)})"
        )
    if result["post_tfm"] != dict(tweetynet_baseline.POST_TFM):
        raise SystemExit(
            f"--tweetynet-result {path}: post_tfm is {result['post_tfm']}, the benchmark "
            f"compares TweetyNet with vak's clean-up {tweetynet_baseline.POST_TFM}"
        )
    ser = result["syllable_error_rate"]
    if not isinstance(ser, int | float) or not 0 <= ser:
        raise SystemExit(f"--tweetynet-result {path}: syllable_error_rate {ser!r} is not a rate")
    csv = result.get("predict_csv")
    if csv:
        # absolute, or relative to the JSON's folder or a folder above it (the repository)
        found = [
            c
            for c in (pathlib.Path(csv), *(d / csv for d in path.resolve().parents))
            if c.is_file()
        ]
        if found:
            scored = score_tweetynet(found[0])
            result["reported"] = {k: result.get(k) for k in scored}
            result.update(scored)
            result["scored_by"] = f"bench_esn.score_tweetynet on {found[0]}"
        else:
            print(
                f"--tweetynet-result {path}: predict_csv {csv} not found; its own figures are used"
            )
    result["reused_from"] = f"{path} ({result['device']})"
    return result


def summary(results: dict) -> dict:
    """The issue's keys, flat."""
    e, t, d = results["esn"], results.get("tweetynet") or {}, results.get("dask") or {}
    return {
        "esn.ser": e["syllable_error_rate"],
        "esn.onset_f1": e["onset_f1_10ms"],
        "esn.offset_f1": e["offset_f1_10ms"],
        "esn.frame_acc_1ms": e["frame_accuracy_1ms"],
        "esn.train_s": e["train_wall_s"],
        "esn.annotate_x_realtime": e["annotation_x_realtime"],
        "esn.peak_rss_mb_1h": e["one_hour"]["peak_rss_mb"],
        "tweetynet.ser": t.get("syllable_error_rate"),
        "tweetynet.epochs": t.get("epochs"),
        "tweetynet.train_s": t.get("train_wall_s"),
        "tweetynet.device": t.get("device", "cpu" if t else None),
        "tweetynet_published.ser": PUBLISHED["tweetynet_published"]["ser"],
        "dask.x_realtime_1_worker": d.get("x_realtime_1_worker"),
        "dask.x_realtime_2_workers": d.get("x_realtime_2_workers"),
    }


GOALS = {
    "esn.ser": ("<=", 0.0075),
    "esn.onset_f1": (">=", 0.99),
    "esn.offset_f1": (">=", 0.99),
    "esn.frame_acc_1ms": (">=", 0.98),
    "esn.train_s": ("<=", 15.0),
    "esn.annotate_x_realtime": (">=", 500.0),
    "esn.peak_rss_mb_1h": ("<", 1024.0),
}


def _cell(value) -> str:
    if value is None:
        return "null"
    return value if isinstance(value, str) else format(value, ".4g")


def write(results: dict) -> None:
    """``esn.json`` (``summary`` recomputed, first) and ``esn.md``."""
    results = {k: v for k, v in results.items() if k != "summary"}
    results = {"summary": summary(results), **results}
    write_results("esn", results, markdown, RESULTS, default=str)


def markdown(results: dict) -> str:
    """``esn.md`` from the results."""
    e, t = results["esn"], results.get("tweetynet")

    def f(x, fmt):
        return "n/a" if x is None else format(x, fmt)

    pub, das = PUBLISHED["tweetynet_published"], PUBLISHED["das_published"]
    ms = 1e3
    rows = [
        (
            "syllable error rate",
            e["syllable_error_rate"],
            t and t["syllable_error_rate"],
            ".2%",
            f"{pub['ser']:.2%} +- {pub['ser_sd']:.2%} (TweetyNet)",
        ),
        (
            "onset F1 at 10 ms",
            e["onset_f1_10ms"],
            t and t["onset_f1_10ms"],
            ".3f",
            f"{das['onset_f1']} (DAS)",
        ),
        (
            "offset F1 at 10 ms",
            e["offset_f1_10ms"],
            t and t["offset_f1_10ms"],
            ".3f",
            f"{das['offset_f1']} (DAS)",
        ),
        (
            "frame accuracy, 1-ms grid",
            e["frame_accuracy_1ms"],
            t and t.get("frame_accuracy_1ms"),
            ".2%",
            f"{pub['frame_acc']:.1%} (TweetyNet, its frames)",
        ),
        (
            "median onset error (ms)",
            e["median_onset_error_s"] and ms * e["median_onset_error_s"],
            t and t["median_onset_error_s"] and ms * t["median_onset_error_s"],
            ".1f",
            "",
        ),
        (
            "median offset error (ms)",
            e["median_offset_error_s"] and ms * e["median_offset_error_s"],
            t and t["median_offset_error_s"] and ms * t["median_offset_error_s"],
            ".1f",
            "",
        ),
        ("training wall time (s)", e["train_wall_s"], t and t.get("train_wall_s"), ".1f", ""),
        ("training CPU time (s)", e["train_cpu_s"], t and t.get("train_cpu_s"), ".1f", ""),
        (
            "annotation speed (x real time, wall)",
            e["annotation_x_realtime"],
            t and t.get("annotation_x_realtime"),
            ".0f",
            "",
        ),
        ("peak RSS (MB)", e["peak_rss_mb_process"], t and t.get("peak_rss_mb"), ".0f", ""),
    ]
    lines = [
        "# ESNDecoder vs TweetyNet, Bird0 fixed split (TRAIN files 0-61, 601 s; TEST 95-134)",
        "",
        "| measure | ESNDecoder (default) | TweetyNet (vak, clean-up on) | published |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {f(b, fm)} | {f(c, fm)} | {pb} |" for a, b, c, fm, pb in rows]
    lines += [
        "",
        "## The issue's keys against its goals",
        "",
        "| key | value | goal | met |",
        "|---|---|---|---|",
    ]
    for key, value in results["summary"].items():
        goal = GOALS.get(key)
        met = ""
        if goal and value is not None:
            op, g = goal
            met = {"<=": value <= g, ">=": value >= g, "<": value < g}[op]
            met = "yes" if met else "no"
        lines.append(
            f"| `{key}` | {_cell(value)} | "
            f"{'' if not goal else goal[0] + ' ' + format(goal[1], 'g')} | {met} |"
        )
    h, r = e["one_hour"], e["reference_path"]
    each = e.get("annotate_each") or {}
    loop = e.get("annotate_many_then_write") or {}
    v = e.get("val")
    if e.get("accuracy_rerun"):
        lines += [
            "",
            f"Accuracy part rerun {e['accuracy_rerun']} (`--accuracy-only`; boundary refiner: "
            f"{'on' if e.get('boundary_refiner') else 'off'}): training {e['train_wall_s']:.1f} s "
            f"wall, {e['train_cpu_s']:.1f} s CPU, at a 1-min load average of "
            f"{e['train_load_average_1min'][0]:.1f}-{e['train_load_average_1min'][1]:.1f} on "
            "the shared 2-core machine (wall time is the load's; CPU time is the model's)."
            + (
                f" VAL (files {v['files']}, where the post-processing was chosen): SER "
                f"{v['syllable_error_rate']:.2%}, onset/offset F1 {v['onset_f1_10ms']:.4f}/"
                f"{v['offset_f1_10ms']:.4f}, 1-ms frame accuracy {v['frame_accuracy_1ms']:.2%}."
                if v
                else ""
            ),
        ]
    lines += [
        "",
        f"Annotation of TEST ({e['test_audio_s']:.0f} s, 40 files, a csv written per file) "
        f"with `{e.get('annotation_how', 'annotate()')}`: "
        f"{e['annotation_x_realtime']:.0f}x real time by wall clock, "
        f"{e['annotation_x_realtime_per_cpu_s']:.0f}x per CPU second "
        f"(engine threads: {e['params']['engine_threads']}; 1-min load average of the shared "
        f"2-core machine {e['load_average_1min'][0]:.1f} before, "
        f"{e['load_average_1min'][1]:.1f} after"
        + (f"; speed part rerun {e['speed_rerun']}" if e.get("speed_rerun") else "")
        + "). Same files, same run: "
        + (
            f"`annotate_many` then a csv per file in a loop {loop['x_realtime']:.0f}x real time "
            f"({loop['x_realtime_per_cpu_s']:.0f}x per CPU s); "
            if loop
            else ""
        )
        + (
            f"`annotate()` file by file {each['x_realtime']:.0f}x real time "
            f"({each['x_realtime_per_cpu_s']:.0f}x per CPU s); "
            if each
            else ""
        )
        + f"the reference path ({r['what']}): {r['x_realtime']:.0f}x real time"
        + (
            f" ({r['x_realtime_per_cpu_s']:.0f}x per CPU s)"
            if r.get("x_realtime_per_cpu_s")
            else ""
        )
        + f"; speed-up {e['speedup_vs_reference_wall']:.1f}x wall, "
        f"{e['speedup_vs_reference_cpu']:.1f}x CPU; identical annotations (reference vs "
        f"the written csv files, read back: times to crowsetta's millisecond) in "
        f"{r['files_with_identical_annotations']} of {r['n_files']} files"
        + (
            f", (reference vs `annotate()`) in {each['files_with_identical_annotations']}."
            if each
            else "."
        ),
        "",
        f"One hour of song, plain `annotate()` in a fresh process: {h['x_realtime']:.0f}x real "
        f"time ({h['seconds']:.1f} s wall, {h['cpu_s']:.1f} s CPU), peak RSS "
        f"{h['peak_rss_mb']:.0f} MB.",
        "",
    ]
    elsewhere = t and (t.get("device", "cpu") != "cpu" or t.get("cpu_budget_s") is None)
    if elsewhere:
        lines.append(
            f"TweetyNet: trained on {t.get('device')} for {f(t.get('epochs'), '.2f')} epochs "
            f"of vak's ({t.get('steps') or '?'} steps, {f(t.get('train_wall_s'), '.0f')} s "
            f"wall"
            + (f", stopped by {t['stopped_by']}" if t.get("stopped_by") else "")
            + f"), clean-up {t.get('post_tfm')}; result read from {t['reused_from']}"
            + (f", TEST annotations scored here ({t['scored_by']})." if t.get("scored_by") else ".")
        )
    elif t:
        lines.append(
            f"TweetyNet: training budget {t.get('cpu_budget_s')} CPU s of the `vak train` "
            f"process ({t.get('steps')} steps of 8 windows, {f(t.get('epochs'), '.3f')} of an "
            f"epoch), clean-up {t.get('post_tfm')}; "
            + (
                f"result reused from {t['reused_from']}"
                + (f", added to {t['added_to']}." if t.get("added_to") else ".")
                if t.get("reused_from")
                else "trained in this run."
            )
        )
    else:
        lines.append(
            f"TweetyNet: not in this run (--skip-tweetynet; no saved {TWEETYNET_RESULT} with "
            f"a {TWEETYNET_CPU_BUDGET_S:.0f}-CPU-s budget and clean-up "
            "min_segment_dur 0.02 was ready); tweetynet.* keys null."
        )
    lines.append("Published: " + "; ".join(v["source"] for v in PUBLISHED.values()) + ".")
    d = results.get("dask")
    if d is None:
        lines.append("dask: the batch annotation module was not on this branch; keys null.")
    else:
        lines.append(
            f"dask (`vocalpy_xai.batch.annotate_files`, TEST files, "
            f"{d.get('task_how', 'one task per file')}): {d['x_realtime_1_worker']:.0f}x real "
            f"time on 1 worker ({d['seconds_1']:.1f} s), {d['x_realtime_2_workers']:.0f}x on 2 "
            f"({d['seconds_2']:.1f} s)"
            + (
                f"; with the start-up ({d['startup_s_1']:.1f} s and {d['startup_s_2']:.1f} s): "
                f"{d['x_realtime_with_startup_1_worker']:.0f}x and "
                f"{d['x_realtime_with_startup_2_workers']:.0f}x. Audio seconds per worker CPU "
                f"second: {d['x_realtime_per_cpu_s_1_worker']:.0f} (1 worker), "
                f"{d['x_realtime_per_cpu_s_2_workers']:.0f} (2). Extrapolated: "
                f"{d['extrapolation']['hours_of_audio']:,} hours of audio in "
                f"{d['extrapolation']['wall_clock_hours']:.1f} hours on "
                f"{d['extrapolation']['cores']} cores, at the 2-worker rate per CPU second "
                "(`bench_batch.py`'s method; not measured on 32 cores)."
                if "extrapolation" in d
                else "."
            )
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tweetynet-budget", type=float, default=TWEETYNET_CPU_BUDGET_S)
    parser.add_argument("--skip-tweetynet", action="store_true")
    parser.add_argument(
        "--tweetynet-only", action="store_true", help=f"run TweetyNet, save {TWEETYNET_RESULT}"
    )
    parser.add_argument(
        "--add-tweetynet",
        action="store_true",
        help=f"add the saved {TWEETYNET_RESULT} to the esn.json of an earlier --skip-tweetynet run",
    )
    parser.add_argument(
        "--rerun-tweetynet",
        action="store_true",
        help=f"train again even if {TWEETYNET_RESULT} fits",
    )
    parser.add_argument(
        "--tweetynet-result",
        type=pathlib.Path,
        metavar="PATH",
        help="take TweetyNet's result from this JSON (trained elsewhere, e.g. on a GPU): "
        f"needs {', '.join(EXTERNAL_REQUIRED)}; with --add-tweetynet, add it to esn.json",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="measure the speed part again (TEST annotation new vs reference, 1 h, dask) "
        "and replace it in esn.json, keeping its accuracy and TweetyNet keys",
    )
    parser.add_argument(
        "--accuracy-only",
        action="store_true",
        help="train the default model again and score TEST and VAL (files 62-94); replace the "
        "accuracy and training-time keys of esn.json, keeping its speed and TweetyNet keys",
    )
    args = parser.parse_args()
    if args.accuracy_only:
        with tempfile.TemporaryDirectory(prefix="bench-esn-") as tmp:
            write(rerun_accuracy(pathlib.Path(tmp)))
        return
    if args.speed_only:
        with tempfile.TemporaryDirectory(prefix="bench-esn-") as tmp:
            write(rerun_speed(pathlib.Path(tmp)))
        return
    external = load_tweetynet_result(args.tweetynet_result) if args.tweetynet_result else None
    if args.add_tweetynet:  # TweetyNet trained in its own run, after the ESN half
        results = read_results("esn", RESULTS, required=True)
        if external is not None:
            results["tweetynet"] = external
        else:
            saved = read_results(TWEETYNET_NAME, RESULTS, required=True)
            if saved.get("config") != _tweetynet_config(args.tweetynet_budget):
                raise SystemExit(f"{TWEETYNET_RESULT}: another budget, clean-up or baseline code")
            with tempfile.TemporaryDirectory(prefix="bench-esn-") as tmp:
                results["tweetynet"] = tweetynet_result(pathlib.Path(tmp), args.tweetynet_budget)
        results["tweetynet"]["added_to"] = "the ESN half of an earlier run (--add-tweetynet)"
        write(results)
        return
    with tempfile.TemporaryDirectory(prefix="bench-esn-") as tmp:
        work = pathlib.Path(tmp)
        if args.tweetynet_only:
            r = tweetynet_result(work, args.tweetynet_budget, rerun=True)
            print(json.dumps({k: r[k] for k in ("syllable_error_rate", "steps")}, default=str))
            return
        results = {"esn": run_esn(work)}
        if external is not None:
            results["tweetynet"] = external
        elif not args.skip_tweetynet:
            results["tweetynet"] = tweetynet_result(
                work, args.tweetynet_budget, rerun=args.rerun_tweetynet
            )
        results["dask"] = run_dask(
            work, work / "esn", [str(BIRD0 / "Wave" / f"{i}.wav") for i in range(95, 135)]
        )
        results.update(PUBLISHED)
    write(results)


if __name__ == "__main__":
    main()
