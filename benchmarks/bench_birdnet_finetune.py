"""Benchmark: fine-tuning BirdNET under AudioProtoNet vs keeping it frozen (CPU budget).

Same data, folds and chunks as ``bench_birdnet_protonet.py`` (10 species, 5-fold CV by
recording); on the first ``--folds`` folds, an ``audio`` AudioProtoNet with BirdNET frozen
(features computed once) and one with BirdNET fine-tuned (``finetune_backbone=True``, the
warm-up with BirdNET frozen, then everything trained at ``--lr``; audio shifted in time by
up to 10 % of a chunk), both with the same epochs and seed. Clip accuracy (mean of the
chunks' probabilities) and training wall time, in the same run.

Results: ``benchmarks/results/birdnet_finetune.json`` and ``birdnet_finetune.md``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench_birdnet_protonet import RESULTS, XC10, accuracy, clip_predictions, load_clips, stack
from results_io import loadavg, machine, write_results


def main() -> dict:
    import pandas as pd

    from vocalpy_xai.clips import species_folds
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    load = loadavg()
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    truth = np.asarray([names.index(s) for s in table["scientific_name"]])
    folds = species_folds(table, n_folds=5, seed=0)[: args.folds]
    clips = load_clips(table)
    idx = np.arange(len(clips))
    Xtr, ytr, ctr, _ = stack(clips, idx, "train", names)
    Xte, _, cte, _ = stack(clips, idx, "test", names)
    rows = []
    for k, (train_idx, test_idx) in enumerate(folds):
        tr, te = np.isin(ctr, train_idx), np.isin(cte, test_idx)
        row = {"fold": k}
        for mode in ("frozen", "finetuned"):
            params = ProtoNetParams(
                arch="audio",
                backbone="birdnet",
                finetune_backbone=mode == "finetuned",
                epochs=args.epochs,
                warmup_epochs=args.warmup,
                lr=args.lr,
                seed=k,
                num_threads=args.threads,
            )
            t0 = time.perf_counter()
            model = AudioProtoNet(params).fit(Xtr[tr], ytr[tr], names, progress=False)
            wall = time.perf_counter() - t0
            pred = clip_predictions(model.predict_proba(Xte[te]), cte[te], test_idx)
            row[mode] = {"accuracy": accuracy(pred, truth), "train_wall_s": wall}
            print(f"fold {k} {mode}: {row[mode]}", flush=True)
        rows.append(row)
    r = {
        "folds": rows,
        "epochs": args.epochs,
        "warmup_epochs": args.warmup,
        "lr": args.lr,
        "machine": machine(),
        "loadavg": load,
    }
    for mode in ("frozen", "finetuned"):
        r[mode] = {
            "accuracy": float(np.mean([x[mode]["accuracy"] for x in rows])),
            "train_wall_s": float(np.mean([x[mode]["train_wall_s"] for x in rows])),
        }
    write_results("birdnet_finetune", r, markdown, RESULTS)
    return r


def markdown(r: dict) -> str:
    """``birdnet_finetune.md`` from the results."""
    lines = [
        "# Fine-tuning BirdNET under AudioProtoNet vs frozen",
        "",
        f"10 species, fold(s) 0–{len(r['folds']) - 1} of the 5-fold CV by recording; `audio` "
        f"arch, `post_bn`, {r['epochs']} epochs ({r['warmup_epochs']} warm-up with BirdNET "
        f"frozen), fine-tuning lr {r['lr']:g}. Same run, same seed.",
        "",
        "| | clip accuracy | training wall time (s) |",
        "|---|---|---|",
    ]
    for mode in ("frozen", "finetuned"):
        lines.append(
            f"| {mode} | {100 * r[mode]['accuracy']:.1f}% | {r[mode]['train_wall_s']:.0f} |"
        )
    lines += ["", f"Machine: {r['machine']}; load average at start {r['loadavg']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
