"""Benchmark: ESNDecoder vs vak's TweetyNet on the fixed Bird0 split (issue 3).

One run, same machine: both models train on TRAIN (files 0, 1, ... up to the shortest prefix
with >= 600 s of audio) and annotate TEST (files 95-134); both are scored by
``vocalpy_xai.metrics.evaluate`` against Annotation.xml. Printed for each: syllable error
rate, frame accuracy (ESN), median onset/offset error, training CPU time, annotation speed
(x real time, from audio files to annotations) and peak RSS; plus the ESN's peak RSS while
annotating a one-hour recording streamed in chunks (songs of TEST concatenated to 1 h).

TweetyNet runs under a CPU budget (``--tweetynet-budget`` seconds, default 600) through
``benchmarks/tweetynet_baseline.py``; ``--skip-tweetynet`` runs the ESN half only.
Results: ``benchmarks/results/esn.json`` and ``esn.md``.
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
SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"
RESULTS = pathlib.Path(os.environ.get("VOCALPY_XAI_BENCH_RESULTS", HERE / "results"))
#: TweetyNet's training budget: CPU seconds of the ``vak train`` process (not wall clock)
TWEETYNET_CPU_BUDGET_S = 1200.0


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
    t = time.perf_counter()
    seg = m.annotate_stream(sys.argv[2], chunk_s=30)
    dt = time.perf_counter() - t
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
    print(len(seg), dt, hwm)
""")


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def run_esn(work: pathlib.Path) -> dict:
    import soundfile

    import vocalpy_xai as vx
    from vocalpy_xai.metrics import evaluate
    from vocalpy_xai.models import ESNDecoder

    manifest = vx.Manifest.from_annotation_file(
        BIRD0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    vx.build_store(
        manifest, work / "bird0.zarr", vx.SpectrogramParams(samplerate=32000), progress=False
    )
    ds = vx.open_store(work / "bird0.zarr")
    train, test = fixed_split(ds["duration_s"].values)
    model = ESNDecoder(vx.ESNParams(units=800)).fit(ds, train, progress=False)
    model_dir = model.save(work / "esn")

    # annotation from the audio files: load + spectrogram + ESN + segments
    paths = [str(p) for p in ds["source_path"].values[test]]
    audio_s = float(ds["duration_s"].values[test].sum())
    t0 = time.perf_counter()
    preds = [model.annotate(p) for p in paths]
    annotate_s = time.perf_counter() - t0
    # frame accuracy from the store's spectrograms (same features)
    from vocalpy_xai.models.esn_decoder import _ClipReader

    reader = _ClipReader(ds)
    yt, yp = [], []
    for c in test:
        labels, _ = model.predict_frames(reader.spectrogram(c), ds["freq"].values)
        y = reader.frame_labels(c)[:: model.features.stride][: len(labels)]
        yt.append(y)
        yp.append(labels[: len(y)])
    metrics = evaluate(
        truth_tables(ds, test), preds, np.concatenate(yt), np.concatenate(yp), model.class_names_
    )
    out = summarize(metrics)
    out.update(
        {
            "train_cpu_s": model.training_["cpu_seconds"],
            "train_wall_s": model.training_["seconds"],
            "train_audio_s": float(ds["duration_s"].values[train].sum()),
            "n_train_files": int(len(train)),
            "annotation_x_realtime": audio_s / annotate_s,
            "peak_rss_mb_process": _vm_hwm_mb(),
            "peak_rss_note": "ESN process: store build, training and annotation of TEST",
            "params": {"units": model.params.units, "stride": model.features.stride},
        }
    )

    # one hour of song, streamed in 30-s chunks, in a fresh process (its own peak RSS)
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
    n_seg, seconds, rss_kb = res.stdout.split()
    out["one_hour"] = {
        "audio_s": written / 32000,
        "segments": int(n_seg),
        "seconds": float(seconds),
        "x_realtime": written / 32000 / float(seconds),
        "peak_rss_mb": int(rss_kb) / 1024,
    }
    return out


TWEETYNET_RESULT = "esn_tweetynet.json"


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


def run_tweetynet(work: pathlib.Path, budget: float) -> dict:
    import tweetynet_baseline
    from vocalpy_xai.io import SegmentTable, read_annotations
    from vocalpy_xai.metrics import evaluate

    result = tweetynet_baseline.run_tweetynet(work / "tweetynet", cpu_budget_s=budget)
    annots = read_annotations(result["predict_csv"], "generic-seq")
    by_name = {pathlib.Path(a.notated_path).name: SegmentTable.from_annotation(a) for a in annots}
    truth = {
        pathlib.Path(a.notated_path).name: SegmentTable.from_annotation(a)
        for a in read_annotations(BIRD0 / "Annotation.xml", "birdsong-recognition-dataset")
    }
    names = [f"{i}.wav" for i in range(95, 135)]
    empty = SegmentTable(np.array([]), np.array([]), np.array([], dtype=str))
    metrics = evaluate([truth[n] for n in names], [by_name.get(n, empty) for n in names])
    out = summarize(metrics)
    out.update({k: v for k, v in result.items() if k != "predict_csv"})
    out["config"] = _tweetynet_config(budget)
    out["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return out


def tweetynet_result(work: pathlib.Path, budget: float, rerun: bool = False) -> dict:
    """TweetyNet's half: reuse the saved result of the same budget, clean-up and code, or run it.

    TweetyNet trains for ``budget`` CPU seconds (20+ minutes of wall time on a shared
    2-core machine): a result saved by ``--tweetynet-only`` (same budget, clean-up and
    baseline code, checked by hash) is reused rather than trained again.
    """
    saved = RESULTS / TWEETYNET_RESULT
    if not rerun and saved.exists():
        result = json.loads(saved.read_text())
        if result.get("config") == _tweetynet_config(budget):
            result["reused_from"] = f"{saved.name} (run finished {result.get('finished')})"
            return result
    result = run_tweetynet(work, budget)
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=2, default=str))
    return result


def write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "esn.json").write_text(json.dumps(results, indent=2, default=str))
    e, t = results["esn"], results.get("tweetynet")

    def f(x, fmt):
        return "n/a" if x is None else format(x, fmt)

    rows = [
        (
            "syllable error rate (TEST)",
            f(e["syllable_error_rate"], ".2%"),
            f(t and t["syllable_error_rate"], ".2%"),
        ),
        (
            "frame accuracy (TEST)",
            f(e["frame_accuracy"], ".2%"),
            f(t and t.get("frame_accuracy"), ".2%"),
        ),
        (
            "boundary F1 at 10 ms",
            f(e["boundary_f1_10ms"], ".3f"),
            f(t and t["boundary_f1_10ms"], ".3f"),
        ),
        (
            "median onset error (ms)",
            f(e["median_onset_error_s"] and 1e3 * e["median_onset_error_s"], ".1f"),
            f(t and t["median_onset_error_s"] and 1e3 * t["median_onset_error_s"], ".1f"),
        ),
        (
            "median offset error (ms)",
            f(e["median_offset_error_s"] and 1e3 * e["median_offset_error_s"], ".1f"),
            f(t and t["median_offset_error_s"] and 1e3 * t["median_offset_error_s"], ".1f"),
        ),
        ("training CPU time (s)", f(e["train_cpu_s"], ".1f"), f(t and t.get("train_cpu_s"), ".1f")),
        (
            "annotation speed (x real time)",
            f(e["annotation_x_realtime"], ".0f"),
            f(t and t.get("annotation_x_realtime"), ".0f"),
        ),
        ("peak RSS (MB)", f(e["peak_rss_mb_process"], ".0f"), f(t and t.get("peak_rss_mb"), ".0f")),
    ]
    lines = [
        "# ESNDecoder vs TweetyNet, Bird0 fixed split (TRAIN >= 600 s prefix, TEST 95-134)",
        "",
        "| measure | ESNDecoder | TweetyNet |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    h = e["one_hour"]
    lines += [
        "",
        f"One hour of song streamed in 30-s chunks: {h['x_realtime']:.0f}x real time, "
        f"peak RSS {h['peak_rss_mb']:.0f} MB.",
        "",
    ]
    if t:
        lines.append(f"TweetyNet CPU budget: {t.get('cpu_budget_s')} s ({t.get('steps')} steps).")
        lines.append(
            f"Training speed-up (TweetyNet CPU / ESN CPU): "
            f"{t['train_cpu_s'] / e['train_cpu_s']:.1f}x"
        )
    (RESULTS / "esn.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tweetynet-budget", type=float, default=TWEETYNET_CPU_BUDGET_S)
    parser.add_argument("--skip-tweetynet", action="store_true")
    parser.add_argument(
        "--tweetynet-only", action="store_true", help=f"run TweetyNet, save {TWEETYNET_RESULT}"
    )
    parser.add_argument(
        "--rerun-tweetynet",
        action="store_true",
        help=f"train again even if {TWEETYNET_RESULT} fits",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-esn-") as tmp:
        work = pathlib.Path(tmp)
        if args.tweetynet_only:
            r = tweetynet_result(work, args.tweetynet_budget, rerun=True)
            print(json.dumps({k: r[k] for k in ("syllable_error_rate", "steps")}, default=str))
            return
        results = {"esn": run_esn(work)}
        if not args.skip_tweetynet:
            results["tweetynet"] = tweetynet_result(
                work, args.tweetynet_budget, rerun=args.rerun_tweetynet
            )
    write(results)


if __name__ == "__main__":
    main()
