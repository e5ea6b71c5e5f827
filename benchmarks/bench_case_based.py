"""Exploration: case-based ``banded`` heads (prototypes that are training cells) vs k-NN, on inner folds.

The ``banded`` head on frozen BirdNET ``post_bn`` features scores as well as 5-NN and
the nearest class mean when its prototypes are left where training put them, and loses
clips when they are pushed onto training cells (``benchmarks/results/push_rules.md``). This
script measures ways of making the prototypes training cells that might keep the trained
head's accuracy, **on inner folds only** (4 folds of each outer fold's training recordings,
400 held-out recordings in all; :func:`vocalpy_xai.clips.species_folds`, seed 0); the outer
test folds (100 clips) are reported beside them and never used to choose. Same data, folds
and chunks as ``bench_explainable_species.py``; a clip's class: the mean of its chunks'
probabilities (``@log``: the sum of their log-probabilities; ``@max``: the last layer applied
to each prototype's best similarity over all the clip's chunks).

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
* ``pb5_pure`` / ``pb5_pure_full``, ``pb10_pure`` / ``pb10_pure_full``: 5 or 10 prototypes
  per class per band, pushed as ``pure``;
* ``pure_metric`` / ``pure_full_metric``: ``pure`` / ``pure_full``, then a learnt weight per
  channel inside the cosine (the same for inputs and prototypes, so a prototype is still a
  training cell, compared under a learnt metric, as ProtoPNet's add-on layers do before
  its push) trained with the last layer for :data:`METRIC_STEPS` steps;
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
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_explainable_species import XC10  # noqa: E402
from bench_push_rules import baselines, features, fold_cells, fold_figures, inner_and_outer  # noqa: E402
from results_io import RESULTS, loadavg, machine, run_line, write_results  # noqa: E402

#: ``chosen``: initial logits = this x cosine to the k-means centre; their learning rate;
#: final temperature (annealed geometrically from 1)
CHOSEN_SCALE, CHOSEN_LR, CHOSEN_TAU = 20.0, 0.05, 0.01
SEQ_ROUNDS, SEQ_STEPS = 3, 100
#: ``setM``: prototypes that are the mean of M pure training cells
SET_SIZES = (3, 5, 10, 20)
#: prototypes per class per band of the ``pbN`` variants
PER_BAND = (5, 10)
#: ``*_metric``: steps and learning rate of the channel weights (log scale, from 0)
METRIC_STEPS, METRIC_LR = 100, 0.01
VARIANTS = ("none", "pure", "pure_full", "cluster", "cluster_full", "seq3", "seq3_full",
            "chosen", "chosen_full", "pure_metric", "pure_full_metric",
            *[f"pb{n}_pure{s}" for n in PER_BAND for s in ("", "_full")],
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


class MetricHead:
    """A pushed head whose cosine weighs channels by ``exp(log_w)`` (inputs and prototypes alike).

    Wraps a ``banded`` classifier: ``pooled`` / ``__call__`` / ``last_layer`` /
    ``proto_class_map`` as the classifier's, so the script scores and purity treat it alike.
    """

    def __init__(self, clf, log_w):
        self.clf, self.log_w = clf, log_w
        self.last_layer, self.proto_class_map = clf.last_layer, clf.proto_class_map

    def pooled(self, X):
        import torch
        import torch.nn.functional as tf

        w = torch.exp(self.log_w)
        xs = tf.normalize(X * w[None, :, None, None], dim=1)
        ps = tf.normalize(self.clf.prototypes.detach()[:, :, 0, 0] * w[None], dim=1)
        sims = torch.einsum("nchw,pc->nphw", xs, ps)
        rows = self.clf.proto_rows[None, :, None, None].expand(len(sims), -1, 1, sims.shape[3])
        cols = self.clf.columns(sims.shape[3])
        scores = sims.gather(2, rows)[:, :, 0, cols].max(dim=2).values
        return scores, 1 - scores

    def __call__(self, X):
        scores, distances = self.pooled(X)
        return self.last_layer(scores), distances


def learnt_metric(clf, params, F, y) -> MetricHead:
    """``*_metric``: channel weights and the last layer trained together on a pushed head."""
    import torch
    import torch.nn.functional as tf

    from vocalpy_xai.protonet import banded

    head = MetricHead(copy.deepcopy(clf), torch.zeros(F.shape[1], requires_grad=True))
    layer = head.last_layer
    cross = getattr(layer, "cross", None)
    trained = list(layer.parameters()) if cross is None else [cross, layer.bias]
    opt = torch.optim.Adam(
        [{"params": [head.log_w], "lr": METRIC_LR}, {"params": trained, "lr": banded.LEARNING_RATE}]
    )
    X, Y = torch.from_numpy(F), torch.as_tensor(y, dtype=torch.long)
    rng = np.random.default_rng(params.seed + 3)
    for _ in range(METRIC_STEPS):
        idx = torch.from_numpy(rng.choice(len(X), min(params.batch_size, len(X)), replace=False))
        loss = tf.cross_entropy(head(X[idx])[0], Y[idx]) + layer.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
    head.log_w.requires_grad_(False)
    return head


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
    ) or any(w.startswith(("set", "cone")) or w.endswith("_metric") for w in wanted):
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
            if key in wanted or f"{key}_metric" in wanted:
                pushed = push_pure(clf, p, F, y, purity, full)
                if key in wanted:
                    yield key, pushed
                if f"{key}_metric" in wanted:
                    yield f"{key}_metric", learnt_metric(pushed, p, F, y)
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
    for n in PER_BAND:
        if {f"pb{n}_pure", f"pb{n}_pure_full"} & set(wanted):
            m = trained(n)
            for key, full in ((f"pb{n}_pure", False), (f"pb{n}_pure_full", True)):
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
            X, cc = torch.from_numpy(Fte[b]), cte[b]
            with torch.no_grad():
                proba = torch.softmax(clf(X)[0], 1).numpy()
                s = clf.pooled(X)[0]
                best = torch.stack([s[torch.from_numpy(cc == c)].amax(0) for c in clip_ids])
                by_max = clf.last_layer(best).numpy()
            out.setdefault(key, []).extend(hits(proba, cc, clip_ids))
            out.setdefault(key + "@log", []).extend(hits(proba, cc, clip_ids, log=True))
            out.setdefault(key + "@max", []).extend(
                [bool(np.argmax(r) == truth[c]) for r, c in zip(by_max, clip_ids, strict=True)]
            )
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
        "a few; `_metric`: compared under learnt channel weights). `@log`: a clip's "
        "class from the sum of its chunks' log-probabilities; `@max`: from each prototype's "
        "best similarity over the clip's chunks. Purity: inner folds' mean. See "
        "the script's docstring for each variant.",
        "",
        "| variant | inner clip accuracy | outer clip accuracy | purity |",
        "|---|---|---|---|",
    ]
    for key, v in r["variants"].items():
        purity = "" if v["purity"] is None else f"{100 * v['purity']:.1f}%"
        lines.append(f"| `{key}` | {fold_cells(v)} | {purity} |")
    lines += ["", run_line(r, r["command"]), ""]
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--cache", type=pathlib.Path, default=None,
                        help="npz of the BirdNET features (written if absent)")  # fmt: skip
    args = parser.parse_args()
    load = loadavg()
    t0 = time.perf_counter()
    r = {
        "variants": run(features(args.cache), args.variants),
        "machine": machine(),
        "loadavg": load,
        "seconds": time.perf_counter() - t0,
        "command": "python benchmarks/bench_case_based.py " + " ".join(sys.argv[1:]),
    }
    write_results("case_based", r, markdown, RESULTS)
    return r


if __name__ == "__main__":
    main()
