"""Exploration: case-based ``banded`` heads (prototypes that are training cells) vs k-NN, on inner folds.

The ``banded`` head on frozen BirdNET ``post_bn`` features scores as well as 5-NN and
the nearest class mean when its prototypes are left where training put them, and loses
clips when they are pushed onto training cells (``benchmarks/results/push_rules.md``). This
script measures ways of making the prototypes training cells that might keep the trained
head's accuracy, **on inner folds only** (4 folds of each outer fold's training recordings,
400 held-out recordings in all; :func:`vocalpy_xai.clips.species_folds`, seed 0); the outer
test folds (100 clips) are reported beside them and never used to choose. Same data, folds
and chunks as ``bench_explainable_species.py``; a clip's class: the mean of its chunks'
probabilities (``@log``: the sum of their log-probabilities).

Every variant but ``none`` ends with each prototype *equal to* a pure training cell of its
class in its band (its 10 most similar training chunks all of its class, or the class's
purest cell in that band when none is), or (``set``, ``cone``) to a mean of a few such cells,
so it is case-based by construction:

* ``none``: the trained head (``ProtoNetParams(backbone="birdnet")``'s defaults), not
  pushed (not case-based; the reference);
* ``pure``: the package's default: pushed onto the nearest pure cell, then 100 last-layer
  steps;
* ``pure_full``: the same push, then ProtoPNet's full last layer (``last_layer="full"``:
  every prototype to every class, wrong-class connections of either sign, L1 1e-3);
* ``cluster`` / ``cluster_full``: ProtoPNet's cluster and separation costs added while
  training (``cluster_costs=True``, cabrnet's 0.8 / -0.08), so that prototypes stay near
  cells; then ``pure`` / ``pure_full``;
* ``seq3`` / ``seq3_full``: the push in 3 rounds (the prototypes nearest to a pure cell
  first), the prototypes not yet pushed trained 100 more steps after each round (ProtoPNet's
  alternation); then the own-class or the full last layer;
* ``chosen`` / ``chosen_full``: no push: each prototype is trained *as a choice among* the
  pure cells of its class in its band, a softmax over them (logits initialised at 20 x the
  cosine to the k-means centre, learning rate 0.05) whose temperature is annealed from 1 to
  0.01 over the 300 steps; then the prototype is its highest-weighted cell and the last
  layer is retrained (own-class or full, 100 steps);
* ``pb5_pure`` / ``pb5_pure_full``: 5 prototypes per class per band, pushed as ``pure``;
* ``setM`` / ``setM_full`` (M in :data:`SET_SIZES`): each prototype becomes the mean of the
  unit vectors of the M pure cells of its class and band most similar to the trained
  prototype (``push_to_pure_cells(cells=M)``): not one training cell but a set of M, its
  similarity to an input cell exactly the mean of that cell's similarities to the M
  training cells (over the norm of the mean);
* ``coneM`` / ``coneM_full``: the same with non-negative weights (``weighted=True``): the
  at most M of the 50 most similar pure cells whose weighted sum points closest to the
  trained prototype (non-negative least squares).

Baselines on the same folds: ``knn`` (5-NN vote over training chunks) and ``class_mean``,
both cosine on mean-pooled ``post_conv``. ``purity``: share of each prototype's 10 nearest
training chunks of its class (the benchmark's purity), mean over prototypes and folds.

    python benchmarks/bench_case_based.py
    python benchmarks/bench_case_based.py --variants none pure chosen --cache /tmp/xc10.npz

Results: ``benchmarks/results/case_based.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_explainable_species import RESULTS, XC10  # noqa: E402
from bench_push_rules import baselines, features, fold_figures, inner_and_outer  # noqa: E402

#: ``chosen``: initial logits = this x cosine to the k-means centre; their learning rate;
#: final temperature (annealed geometrically from 1)
CHOSEN_SCALE, CHOSEN_LR, CHOSEN_TAU = 20.0, 0.05, 0.01
SEQ_ROUNDS, SEQ_STEPS = 3, 100
#: ``setM``: prototypes that are the mean of M pure training cells
SET_SIZES = (3, 5, 10, 20)
VARIANTS = ("none", "pure", "pure_full", "cluster", "cluster_full", "seq3", "seq3_full",
            "chosen", "chosen_full", "pb5_pure", "pb5_pure_full",
            *[f"{k}{m}{s}" for k in ("set", "cone") for m in SET_SIZES for s in ("", "_full")])  # fmt: skip


def full_layer(clf, F, y, params):
    """Give ``clf`` the package's full last layer (``last_layer="full"``) and train it."""
    from vocalpy_xai.protonet import banded

    own = clf.last_layer
    clf.last_layer = banded.OwnClassLinear(own.class_map, cross=True)
    clf.last_layer.load_state_dict(own.state_dict(), strict=False)
    banded.finetune_last_layer(clf, params, F, y)
    return clf


def push_pure(clf, params, F, y, purity, full: bool = False, cells: int = 1, weighted=False):
    """A pushed copy of ``clf``: pure cells (the mean of ``cells``), then the own-class or the full last layer."""
    from vocalpy_xai.protonet import banded

    clf = copy.deepcopy(clf)
    banded.push_to_pure_cells(clf, F, y, purity=purity, cells=cells, weighted=weighted)
    if full:
        return full_layer(clf, F, y, params)
    banded.finetune_last_layer(clf, params, F, y)
    return clf


def sequential_push(clf, params, F, y, purity, full: bool = False):
    """``seq3``: push a third of the prototypes, train the others, and so on."""
    import torch
    import torch.nn.functional as tf

    from vocalpy_xai.protonet import banded

    clf = copy.deepcopy(clf)
    frozen = np.zeros(clf.num_prototypes, bool)
    X, Y = torch.from_numpy(F), torch.as_tensor(y)
    rng = np.random.default_rng(params.seed + 7)
    for r in range(SEQ_ROUNDS):
        free = np.flatnonzero(~frozen)
        probe = copy.deepcopy(clf)
        records = banded.push_to_pure_cells(probe, F, y, only=free, purity=purity)
        near = np.array([rec["similarity_before"] for rec in records])
        pick = free[np.argsort(-near)[: int(np.ceil(len(free) / (SEQ_ROUNDS - r)))]]
        banded.push_to_pure_cells(clf, F, y, only=pick, purity=purity)
        frozen[pick] = True
        if frozen.all():
            break
        mask = torch.from_numpy(~frozen).float()[:, None, None, None]
        opt = torch.optim.Adam(clf.parameters(), lr=banded.LEARNING_RATE)
        clf.train()
        for _ in range(SEQ_STEPS):
            idx = torch.from_numpy(rng.choice(len(X), min(64, len(X)), replace=False))
            loss = tf.cross_entropy(clf(X[idx])[0], Y[idx])
            loss = loss + params.orthogonality * clf.orthogonality()
            opt.zero_grad()
            loss.backward()
            clf.prototypes.grad *= mask
            opt.step()
        clf.eval()
    if full:
        return full_layer(clf, F, y, params)
    banded.finetune_last_layer(clf, params, F, y)
    return clf


def chosen_cells(clf, params, F, y, purity):
    """``chosen``: prototypes trained as annealed softmax choices among pure cells; unretrained."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as tf

    from vocalpy_xai.protonet import banded

    clf = copy.deepcopy(clf)
    banded.init_prototypes(clf, F, y, params.seed)
    rows, classes = clf.proto_rows.numpy(), clf.proto_class_map.argmax(1).numpy()
    sets = {}
    for r in range(F.shape[2]):
        for c in np.unique(classes):
            own = np.flatnonzero(y == c)
            cells = F[own][:, :, r, :].transpose(0, 2, 1).reshape(-1, F.shape[1])
            pure = purity[own, r, :].reshape(-1)
            keep = pure >= min(1.0, pure.max()) - 1e-9  # pure, else the class's purest
            sets[r, c] = torch.from_numpy(np.ascontiguousarray(banded._unit(cells[keep])))
    cands = [sets[rows[p], classes[p]] for p in range(len(rows))]
    start = tf.normalize(clf.prototypes.detach()[:, :, 0, 0], dim=1)
    logits = nn.ParameterList(
        [nn.Parameter(CHOSEN_SCALE * (T @ start[p])) for p, T in enumerate(cands)]
    )
    del clf._parameters["prototypes"]
    opt = torch.optim.Adam(
        [
            {"params": list(logits), "lr": CHOSEN_LR},
            {"params": list(clf.last_layer.parameters()), "lr": banded.LEARNING_RATE},
        ]
    )
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    X, Y = torch.from_numpy(F), torch.as_tensor(y)
    clf.train()
    for step in range(params.steps):
        tau = CHOSEN_TAU ** (step / max(1, params.steps - 1))
        mix = [torch.softmax(a / tau, 0) @ T for a, T in zip(logits, cands, strict=True)]
        clf.prototypes = torch.stack(mix)[:, :, None, None]
        idx = torch.from_numpy(rng.choice(len(X), min(params.batch_size, len(X)), replace=False))
        loss = tf.cross_entropy(clf(X[idx])[0], Y[idx])
        loss = loss + params.orthogonality * clf.orthogonality()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        cells = torch.stack([T[a.argmax()] for a, T in zip(logits, cands, strict=True)])
    del clf.prototypes
    clf.prototypes = nn.Parameter(cells[:, :, None, None].clone())
    clf.eval()
    return clf


def heads(F, y, names, seed: int, purity, wanted):
    """(variant, classifier) for each wanted variant, trained on ``F``, ``y``."""
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    def trained(per_band: int, steps: int = 300, **kw):
        p = ProtoNetParams(
            backbone="birdnet",
            projection="none",
            prototypes_per_band=per_band,
            seed=seed,
            steps=steps,
            **kw,
        )
        return AudioProtoNet(p).fit(F, y, names, progress=False)

    if {"cluster", "cluster_full"} & set(wanted):
        m = trained(3, cluster_costs=True)
        for key, full in (("cluster", False), ("cluster_full", True)):
            if key in wanted:
                yield key, push_pure(m.network_.classifier, m.params, F, y, purity, full)

    # ``chosen`` trains its own head from a fresh start (one step of the
    # default recipe: k-means prototypes, an untrained last layer), for params.steps steps
    fresh = None
    if {"chosen", "chosen_full"} & set(wanted):
        fresh = trained(3, steps=1).network_.classifier

    if {"none", "pure", "pure_full", "seq3", "seq3_full", "chosen", "chosen_full"} & set(
        wanted
    ) or any(w.startswith(("set", "cone")) for w in wanted):
        m = trained(3)
        clf, p = m.network_.classifier, m.params
        if "none" in wanted:
            yield "none", clf
        for m in SET_SIZES:
            for kind in ("set", "cone"):
                for key, full in ((f"{kind}{m}", False), (f"{kind}{m}_full", True)):
                    if key in wanted:
                        yield key, push_pure(clf, p, F, y, purity, full, m, kind == "cone")
        for key, full in (("pure", False), ("pure_full", True)):
            if key in wanted:
                yield key, push_pure(clf, p, F, y, purity, full)
        for key, full in (("seq3", False), ("seq3_full", True)):
            if key in wanted:
                yield key, sequential_push(clf, p, F, y, purity, full)
        if {"chosen", "chosen_full"} & set(wanted):
            from vocalpy_xai.protonet import banded

            chosen = chosen_cells(fresh, p, F, y, purity)
            if "chosen" in wanted:
                c = copy.deepcopy(chosen)
                banded.finetune_last_layer(c, p, F, y)
                yield "chosen", c
            if "chosen_full" in wanted:
                yield "chosen_full", full_layer(copy.deepcopy(chosen), F, y, p)
    if {"pb5_pure", "pb5_pure_full"} & set(wanted):
        m = trained(5)
        for key, full in (("pb5_pure", False), ("pb5_pure_full", True)):
            if key in wanted:
                yield key, push_pure(m.network_.classifier, m.params, F, y, purity, full)


def run(d: dict, wanted) -> dict:
    import pandas as pd
    import torch

    from vocalpy_xai.protonet import banded

    torch.set_num_threads(1)
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    truth = np.asarray([names.index(s) for s in table["scientific_name"]])
    Ftr, Fte, ytr, ctr, cte = d["tr_bn"], d["te_bn"], d["ytr"], d["ctr"], d["cte"]

    def hits(proba, cc, clip_ids, log=False):
        agg = (lambda p: np.log(np.clip(p, 1e-12, 1)).sum(0)) if log else (lambda p: p.sum(0))
        return [bool(np.argmax(agg(proba[cc == c])) == truth[c]) for c in clip_ids]

    def purity_of(clf, F, y):
        with torch.no_grad():
            s = clf.pooled(torch.from_numpy(F))[0].numpy()
        nearest = np.argsort(-s, axis=0, kind="stable")[:10]
        return float((y[nearest] == clf.proto_class_map.argmax(1).numpy()[None]).mean())

    def evaluate(a, b, clip_ids, seed, out):
        F, y = Ftr[a], ytr[a]
        baselines(d, a, b, out, lambda s: hits(s, cte[b], clip_ids))
        purity = banded.all_cell_purity(F, y)
        for key, clf in heads(F, y, names, seed, purity, wanted):
            with torch.no_grad():
                proba = torch.softmax(clf(torch.from_numpy(Fte[b]))[0], 1).numpy()
            out.setdefault(key, []).extend(hits(proba, cte[b], clip_ids))
            out.setdefault(key + "@log", []).extend(hits(proba, cte[b], clip_ids, log=True))
            out.setdefault("purity:" + key, []).append(purity_of(clf, F, y))

    res = inner_and_outer(table, ctr, cte, evaluate)
    return {
        key: {
            **fold_figures(res, key),
            "purity": float(np.mean(res["inner"]["purity:" + key]))
            if "purity:" + key in res["inner"]
            else None,
        }
        for key in res["inner"]
        if not key.startswith("purity:")
    }


def markdown(r: dict) -> str:
    lines = [
        "# Case-based `banded` heads vs k-NN on inner folds (10 species, frozen BirdNET `post_bn`)",
        "",
        "Inner: 4 folds of each outer fold's training recordings (400 held-out recordings); "
        "outer: the 5 test folds (100 clips), reported only, never used to choose. Every "
        "variant but `none` has prototypes equal to pure training cells (`set`, `cone`: a mean of "
        "a few). `@log`: a clip's "
        "class from the sum of its chunks' log-probabilities. Purity: inner folds' mean. See "
        "the script's docstring for each variant.",
        "",
        "| variant | inner clip accuracy | outer clip accuracy | purity |",
        "|---|---|---|---|",
    ]
    for key, v in r["variants"].items():
        purity = "" if v["purity"] is None else f"{100 * v['purity']:.1f}%"
        lines.append(
            f"| `{key}` | {100 * v['inner_accuracy']:.2f}% ({v['inner_hits']}/"
            f"{v['inner_recordings']}) | {100 * v['outer_accuracy']:.0f}% ({v['outer_hits']}/100)"
            f" | {purity} |"
        )
    lines += ["", f"Machine: {r['machine']}; load average at start {r['loadavg']}; "
              f"{r['seconds']:.0f} s. Command: `{r['command']}`.", ""]  # fmt: skip
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--cache", type=pathlib.Path, default=None,
                        help="npz of the BirdNET features (written if absent)")  # fmt: skip
    args = parser.parse_args()
    load = [round(v, 2) for v in os.getloadavg()]
    t0 = time.perf_counter()
    r = {
        "variants": run(features(args.cache), args.variants),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "loadavg": load,
        "seconds": time.perf_counter() - t0,
        "command": "python benchmarks/bench_case_based.py " + " ".join(sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "case_based.json").write_text(json.dumps(r, indent=2))
    (RESULTS / "case_based.md").write_text(markdown(r))
    print(markdown(r))
    return r


if __name__ == "__main__":
    main()
