"""Benchmark: post-processing options of the gradient maps (polarity, blur), on the selection fold.

Not the reported figures: a grid of options measured on **fold 1**'s ``protonet`` (the
headline ``banded`` head of ``bench_explainable_species.py``, trained as its
cross-validation trains it, seed = fold) and 40 of fold 1's test chunks (drawn with seed
0), to decide which variants :data:`~vocalpy_xai.protonet.faithfulness.VARIANTS` offers.
The reported figures are fold 0's (``bench_explainable_species.py``'s ``faithfulness``).

For each candidate: deletion and insertion AUCs per chunk (20 steps of 5 %, the predicted
class, removal ``"noise"``), and the share of chunks beating cabrnet's ``randgrad`` (its
defaults: absolute value, sigma 5) for each of 5 random draws (seeds 0-4) and against
the mean AUC of the 5 draws: how noisy a one-draw comparison is. Writes
``map_options.json`` and ``.md`` to the results folder.

    python benchmarks/bench_map_options.py            # ~30 min on 2 shared cores
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, commit, loadavg, machine, write_results  # noqa: E402

FOLD = 1
N_CHUNKS = 40
RANDOM_DRAWS = 5
#: name: (method, polarity, sigma)
CANDIDATES = {
    **{
        f"gradxinput {p} s{s}": ("gradxinput", p, s)
        for p in ("positive", "absolute", "signed")
        for s in (0, 2, 5)
    },
    **{
        f"integrated_gradients {p} s{s}": ("integrated_gradients", p, s)
        for p in ("positive", "signed")
        for s in (2, 5)
    },
    **{f"saliency absolute s{s}": ("saliency", "absolute", s) for s in (2, 5)},
}


def main() -> dict:
    import pandas as pd
    import torch

    import bench_explainable_species as bes
    from bench_birdnet_protonet import XC10, load_clips, stack
    from vocalpy_xai.birdnet import load_birdnet
    from vocalpy_xai.clips import species_folds
    from vocalpy_xai.protonet import faithfulness as F

    load = loadavg()
    torch.set_num_threads(2)
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    folds = species_folds(table, n_folds=5, seed=0)
    clips = load_clips(table)
    idx = np.arange(len(clips))
    Xtr, ytr, ctr, sources = stack(clips, idx, "train", names)
    Xte, yte, cte, _ = stack(clips, idx, "test", names)
    train = np.isin(ctr, folds[FOLD][0])
    feats = bes.layer_features(load_birdnet(), Xtr[train], layers=("post_bn",))["post_bn"]
    model, _ = bes.fit_protonet(
        bes.PROTONET, feats, ytr[train], names, bes.pick(sources, train), FOLD, 2
    )
    te = np.flatnonzero(np.isin(cte, folds[FOLD][1]))
    sample = np.random.default_rng(0).choice(te, min(N_CHUNKS, len(te)), replace=False)
    X, y = Xte[sample], yte[sample]
    grids = F.input_grid(model, X)
    proba = F.grid_scores(model, grids)
    pred = proba.argmax(1)
    maps, seconds = {}, {}
    for name, (method, polarity, sigma) in CANDIDATES.items():
        t0 = time.perf_counter()
        maps[name] = F.attribution_maps(
            model, X, pred, method, sigma=sigma, polarity=polarity, grids=grids
        )
        seconds[name] = time.perf_counter() - t0
    for seed in range(RANDOM_DRAWS):
        maps[f"randgrad seed {seed}"] = F.attribution_maps(
            model, X, pred, F.RANDOM_METHOD, seed=seed, grids=grids
        )
    curves = F.perturbation_curves(model, X, pred, maps, grids=grids)
    aucs = {
        k: (curves[k]["deletion_auc"], curves[k]["insertion_auc"])
        for k in [*CANDIDATES, *(f"randgrad seed {s}" for s in range(RANDOM_DRAWS))]
    }
    out = summarize(aucs, seconds, pred == y, proba.max(1))
    out["on"] = f"fold {FOLD}'s protonet, {len(X)} of fold {FOLD}'s test chunks (seed 0)"
    out["command"] = "python benchmarks/bench_map_options.py"
    out.update(ran_on=f"commit {commit()}", machine=machine(), loadavg=load)
    write_results("map_options", out, markdown, RESULTS, indent=1)
    return out


def summarize(aucs: dict, seconds: dict, correct: np.ndarray, proba: np.ndarray) -> dict:
    """Shares beating each randgrad draw, from per-chunk AUCs ``{name: (deletion, insertion)}``."""
    rand_del = np.stack([aucs[f"randgrad seed {s}"][0] for s in range(RANDOM_DRAWS)])
    rand_ins = np.stack([aucs[f"randgrad seed {s}"][1] for s in range(RANDOM_DRAWS)])
    rows = {}
    for name in CANDIDATES:
        d, i = (np.asarray(a) for a in aucs[name])
        rows[name] = {
            "deletion_auc_mean": float(d.mean()),
            "insertion_auc_mean": float(i.mean()),
            "deletion_beats_random_per_draw": (d < rand_del).mean(axis=1).tolist(),
            "insertion_beats_random_per_draw": (i > rand_ins).mean(axis=1).tolist(),
            "deletion_beats_random_mean_draw": float(np.mean(d < rand_del.mean(0))),
            "insertion_beats_random_mean_draw": float(np.mean(i > rand_ins.mean(0))),
            "deletion_fails_draw0": np.flatnonzero(d >= rand_del[0]).tolist(),
            "maps_seconds": seconds[name],
        }
    return {
        "accuracy": float(np.mean(correct)),
        "predicted_proba": np.round(np.asarray(proba, dtype=float), 3).tolist(),
        "correct": np.asarray(correct).tolist(),
        "random_vs_random": {
            "deletion": (rand_del[1:] < rand_del[0]).mean(axis=1).tolist(),
            "insertion": (rand_ins[1:] > rand_ins[0]).mean(axis=1).tolist(),
        },
        "candidates": rows,
    }


def markdown(out: dict) -> str:
    """``map_options.md`` from the results."""
    rows = out["candidates"]
    lines = [
        f"# Map post-processing options, {out['on']}",
        "",
        f"Chunk accuracy {100 * out['accuracy']:.1f} %. Share of chunks beating randgrad, "
        "draw 0 (range over draws 0-4; against the mean AUC of the 5 draws).",
        "",
        "| method polarity sigma | deletion AUC | insertion AUC | deletion beats random "
        "| insertion beats random |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        dd, ii = r["deletion_beats_random_per_draw"], r["insertion_beats_random_per_draw"]
        lines.append(
            f"| {name} | {r['deletion_auc_mean']:.3f} | {r['insertion_auc_mean']:.3f} "
            f"| {100 * dd[0]:.1f} % ({100 * min(dd):.1f}-{100 * max(dd):.1f}; "
            f"{100 * r['deletion_beats_random_mean_draw']:.1f}) "
            f"| {100 * ii[0]:.1f} % ({100 * min(ii):.1f}-{100 * max(ii):.1f}; "
            f"{100 * r['insertion_beats_random_mean_draw']:.1f}) |"
        )
    rr = out["random_vs_random"]
    lines += [""] + ([f"Note: {out['note']}.", ""] if "note" in out else [])
    lines += [
        f"randgrad draws 1-4 against draw 0: deletion {rr['deletion']}, insertion "
        f"{rr['insertion']} (a map without information beats one draw on about half).",
        "",
        f"Command: `{out['command']}` at {out['ran_on']}"
        + (
            f"; machine {out['machine']}, load average at start {out['loadavg']}."
            if "machine" in out
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # no options: --help describes the run instead of starting it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
