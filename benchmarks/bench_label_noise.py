"""Benchmark: find relabelled syllables in Bird0's TRAIN and fix them (the Canapy loop).

1. Build the store of the 135 Bird0 songs; annotation version 1 = Annotation.xml.
2. Relabel 5 % of the TRAIN syllables at random (seeded) to another label: version 2
   (written as a corrections table, like any other correction).
3. Score every TRAIN syllable with models that never saw its file: k-fold cross-validation
   by file over TRAIN (k ESNs, each trained on k-1 folds of the noisy labels, predicting the
   held-out fold), repeated with ``--seeds`` different fold assignments and reservoir seeds
   (an ensemble of that many models per file). Rank with the disagreement finder.
4. A "human" reviews the top 10 % of the list and gives the true label of each reviewed
   syllable: version 3.
5. Train one ESN on TRAIN of each version (clean, noisy, fixed) and score TEST (files 95-134,
   never relabelled). The three models go to a registry; its comparison table is printed.

Results: ``benchmarks/results/label_noise.json`` and ``label_noise.md``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"


def fixed_split(durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bird0's fixed split: TRAIN = shortest prefix with >= 600 s, TEST = files 95-134."""
    from vocalpy_xai.clips import bird0_fixed_split

    return bird0_fixed_split(durations)


def noise_corrections(table: pd.DataFrame, rate: float, classes: list[str], seed: int):
    """A corrections table relabelling ``rate`` of the rows of ``table`` to another label."""
    rng = np.random.default_rng(seed)
    n = int(round(rate * len(table)))
    rows = table.iloc[np.sort(rng.choice(len(table), size=n, replace=False))].copy()
    rows["human_label"] = rows["label"]
    rows["new_label"] = [rng.choice([c for c in classes if c != lab]) for lab in rows["label"]]
    return rows[["audio_path", "onset_s", "offset_s", "human_label", "new_label"]]


def run(work: pathlib.Path, args) -> dict:
    import vocalpy_xai as vx
    from vocalpy_xai.registry import Registry
    from vocalpy_xai.review import (
        AnnotationVersions,
        build_version_store,
        cross_val_predictions,
        find_disagreements,
        retrain,
        top_share,
        write_review_list,
    )

    t_start = time.perf_counter()
    params = vx.SpectrogramParams(samplerate=32000)
    esn = vx.ESNParams(units=args.units)
    manifest = vx.Manifest.from_annotation_file(
        BIRD0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    versions = AnnotationVersions.create(work / "annotations", manifest)
    clean_store = build_version_store(versions, 1, work / "v1.zarr", params)
    ds_clean = vx.open_store(clean_store)
    classes = [str(c) for c in ds_clean["class"].values[1:]]
    train, test = fixed_split(ds_clean["duration_s"].values)
    train_paths = set(ds_clean["source_path"].values[train].astype(str))

    # 2. label noise on TRAIN syllables
    v1 = versions.table(1)
    train_rows = v1[v1["audio_path"].isin(train_paths)].reset_index(drop=True)
    noise = noise_corrections(train_rows, args.noise, classes, args.seed)
    v_noisy = versions.apply(noise, parent=1, note=f"synthetic noise: {args.noise:.0%} of TRAIN")
    noisy_store = build_version_store(versions, v_noisy, work / "v2.zarr", params, classes)
    ds_noisy = vx.open_store(noisy_store)

    # 3. cross-validated predictions and the ranked review list
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    pred = cross_val_predictions(
        ds_noisy, train, k=args.folds, seeds=range(args.seeds), params=esn, progress=True
    )
    review = find_disagreements(ds_noisy, pred, train)
    finder_s, finder_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    key = list(zip(noise["audio_path"], noise["onset_s"].round(6), strict=True))
    review["is_noisy"] = [
        (p, round(o, 6)) in set(key)
        for p, o in zip(review["audio_path"], review["onset_s"], strict=True)
    ]
    top = top_share(review, args.review_share)
    recall_top = float(top["is_noisy"].sum() / len(noise))
    flagged = review[review["flag"]]
    ranks = review.loc[review["is_noisy"], "rank"].to_numpy()
    write_review_list(review.drop(columns="is_noisy"), work / "review.csv", top=len(top))

    # 4. the reviewer fixes the reviewed rows with the true labels
    true = v1.set_index(["audio_path", v1["onset_s"].round(6)])["label"]
    fix = top[["audio_path", "onset_s", "offset_s", "human_label"]].copy()
    fix["new_label"] = [
        true[(p, round(o, 6))] for p, o in zip(fix["audio_path"], fix["onset_s"], strict=True)
    ]
    fix = fix[fix["new_label"] != fix["human_label"]]
    v_fixed = versions.apply(fix, parent=v_noisy, note="review of the top 10 %")
    fixed_store = build_version_store(versions, v_fixed, work / "v3.zarr", params, classes)
    remaining = versions.diff(1, v_fixed)

    # 5. one model per version, scored on TEST against the clean annotation
    reg = Registry(work / "registry")
    scores = {}
    for label, store, v in (
        ("clean", clean_store, 1),
        ("noisy", noisy_store, v_noisy),
        ("fixed", fixed_store, v_fixed),
    ):
        _, m = retrain(
            store,
            train,
            test_store=ds_clean,
            test_clips=test,
            params=esn,
            registry=reg,
            name="bird0-esn",
            note=f"{label}: annotation version {v}",
        )
        scores[label] = m
    table = reg.compare("bird0-esn")
    return {
        "n_train_files": int(len(train)),
        "n_test_files": int(len(test)),
        "n_train_syllables": int(len(train_rows)),
        "noise_rate": args.noise,
        "n_relabelled": int(len(noise)),
        "folds": args.folds,
        "ensemble_seeds": args.seeds,
        "esn_units": args.units,
        "review_share": args.review_share,
        "n_reviewed": int(len(top)),
        "noisy_in_top_share": recall_top,
        "precision_top_share": float(top["is_noisy"].mean()),
        "median_rank_of_noisy": float(np.median(ranks)),
        "canapy_flagged": int(len(flagged)),
        "canapy_flag_recall": float(flagged["is_noisy"].sum() / len(noise)),
        "canapy_flag_precision": float(flagged["is_noisy"].mean()) if len(flagged) else None,
        "n_fixed": int(len(fix)),
        "remaining_wrong_labels": int(len(remaining)),
        "finder_wall_s": finder_s,
        "finder_cpu_s": finder_cpu,
        "test": scores,
        "ser_gap_fixed_minus_clean_points": 100
        * (scores["fixed"]["syllable_error_rate"] - scores["clean"]["syllable_error_rate"]),
        "registry_compare": table.reset_index().to_dict("records"),
        "versions": versions.list().reset_index().to_dict("records"),
        "total_wall_s": time.perf_counter() - t_start,
    }


def markdown(r: dict) -> str:
    """``label_noise.md`` from the results."""
    t = r["test"]
    lines = [
        "# Label noise on Bird0 TRAIN: finding and fixing relabelled syllables",
        "",
        f"TRAIN: {r['n_train_files']} files, {r['n_train_syllables']} syllables; "
        f"{r['n_relabelled']} ({r['noise_rate']:.0%}) relabelled at random to another label. "
        f"Scored by {r['folds']}-fold cross-validation by file over TRAIN, "
        f"{r['ensemble_seeds']} repetitions (an ensemble of {r['ensemble_seeds']} ESNs per file, "
        f"{r['esn_units']} units): {r['finder_cpu_s']:.0f} s CPU.",
        "",
        "| finder | value |",
        "|---|---|",
        f"| relabelled syllables in the top {r['review_share']:.0%} ({r['n_reviewed']} rows) "
        f"| **{r['noisy_in_top_share']:.1%}** |",
        f"| precision of the top {r['review_share']:.0%} | {r['precision_top_share']:.1%} |",
        f"| median rank of a relabelled syllable | {r['median_rank_of_noisy']:.0f} |",
        f"| Canapy rule (>= 2/3 frames disagree): flagged | {r['canapy_flagged']} |",
        f"| Canapy rule: recall / precision | {r['canapy_flag_recall']:.1%} / "
        f"{(r['canapy_flag_precision'] or 0):.1%} |",
        f"| labels fixed by the review / still wrong | {r['n_fixed']} / "
        f"{r['remaining_wrong_labels']} |",
        "",
        "| TEST (files 95-134) | clean | noisy | fixed |",
        "|---|---|---|---|",
    ]
    for key, fmt in (
        ("syllable_error_rate", ".2%"),
        ("frame_accuracy", ".2%"),
        ("boundary_f1_10ms", ".3f"),
    ):
        lines.append(
            f"| {key.replace('_', ' ')} | "
            + " | ".join(format(t[v][key], fmt) for v in ("clean", "noisy", "fixed"))
            + " |"
        )
    lines += [
        "",
        f"Fixed minus clean SER: {r['ser_gap_fixed_minus_clean_points']:+.2f} points. "
        f"Total wall time {r['total_wall_s']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seeds", type=int, default=2, help="cross-validation repetitions")
    p.add_argument("--units", type=int, default=400)
    p.add_argument("--review-share", type=float, default=0.10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as tmp:
        write_results("label_noise", run(pathlib.Path(tmp), args), markdown, RESULTS, default=str)


if __name__ == "__main__":
    main()
