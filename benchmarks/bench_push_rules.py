"""Exploration: push rules, prototypes per band and medoid prototypes, on inner and outer folds.

The measurements behind the candidates of ``ProtoNetParams(select="inner")``
(:mod:`vocalpy_xai.protonet.selection`) on the 10-species xeno-canto clips (same frozen
BirdNET ``post_bn`` features, same 5 folds by recording, seed 0, as
``bench_explainable_species.py``). In each outer fold the training recordings are split into
4 inner folds (:func:`vocalpy_xai.clips.species_folds`, seed 0); on each inner fold, and on
the outer fold, one ``banded`` head is trained (``projection="none"``) and every variant
below pushes a copy of it:

* ``none``: not pushed (not a case-based model: the prototypes are not training cells);
* ``pure_purest``: cells whose 10 nearest training chunks are all of their class, else the
  purest (the rule of ``push_purity=1``); ``pure_nearest``: the same, else the nearest cell
  ("pure cell, else the nearest"); ``p09`` / ``p08``: purity >= 0.9 / 0.8; ``nearest``: the
  nearest cell of the class (``push_purity=0``); each then 100 or 300 last-layer steps;
* ``func_corr``: a push that keeps what the prototype does rather than what it looks like:
  the cell of its class, in its band, whose scores on the training chunks (max cosine over
  time) correlate best with the trained prototype's (exploratory; not a ``ProtoNetParams``
  rule, as it was tried after the other rules' outer figures were known);
* ``medoid``: no prototype training: each prototype is the training cell nearest to a
  class-wise k-means centre (a medoid, so a cell without any push), and only the last
  layer is trained (1,000 steps from a temperature of 50).

Validation chunks: birdnetlib's cut of the held-out recordings (as the test chunks); a clip's
class: the mean of its chunks' probabilities. Baselines on the same inner folds: 5-NN and
nearest class mean on pooled ``post_conv``. Outer figures are reported, never used to choose.

    python benchmarks/bench_push_rules.py            # prototypes per band 3 and 5
    python benchmarks/bench_push_rules.py --per-band 3

Results: ``benchmarks/results/push_rules.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_explainable_species import (  # noqa: E402
    XC10,
    class_means,
    knn_votes,
    layer_features,
    load_clips,
    stack,
    unit,
)
from results_io import RESULTS, loadavg, machine, run_line, write_results  # noqa: E402

RULES = (
    ("pure_purest", 1.0, "purest"),
    ("pure_nearest", 1.0, "nearest"),
    ("p09", 0.9, "purest"),
    ("p08", 0.8, "purest"),
    ("nearest", 0.0, "purest"),
)


def variants(model, F, y):
    """(name, model) for each push variant of a trained, unpushed model."""
    import attrs

    from vocalpy_xai.protonet import banded

    yield "none", model
    for (name, purity, fallback), steps in itertools.product(RULES, (100, 300)):
        m = copy.deepcopy(model)
        clf = m.network_.classifier
        banded.push_to_pure_cells(clf, F, y, min_purity=purity, fallback=fallback)
        banded.finetune_last_layer(clf, attrs.evolve(m.params, last_layer_steps=steps), F, y)
        yield f"{name}_ll{steps}", m
    for steps in (100, 300):
        m = copy.deepcopy(model)
        clf = m.network_.classifier
        push_by_scores(clf, F, y)
        banded.finetune_last_layer(clf, attrs.evolve(m.params, last_layer_steps=steps), F, y)
        yield f"func_corr_ll{steps}", m


def push_by_scores(clf, F: np.ndarray, y: np.ndarray) -> None:
    """``func_corr``: each prototype onto the own-class cell of its band whose scores on the
    training chunks correlate best with its own (two prototypes never share a cell)."""
    import torch

    from vocalpy_xai.protonet import banded

    rows, classes = clf.proto_rows.numpy(), clf.proto_class_map.argmax(1).numpy()
    protos = banded._unit(clf.prototypes[:, :, 0, 0].detach().numpy())
    n, c, h, w = F.shape
    for r in range(h):
        flat = banded._unit(F[:, :, r, :].transpose(0, 2, 1)).reshape(-1, c)
        for cls in np.unique(classes):
            own = np.flatnonzero(y == cls)
            cand = flat.reshape(n, w, c)[own].reshape(-1, c)
            S = (cand @ flat.T).reshape(len(cand), n, w).max(2)  # candidates' scores
            S = (S - S.mean(1, keepdims=True)) / (S.std(1, keepdims=True) + 1e-8)
            taken: set[int] = set()
            for p in np.flatnonzero((classes == cls) & (rows == r)):
                s = (flat @ protos[p]).reshape(n, w).max(1)
                corr = S @ ((s - s.mean()) / (s.std() + 1e-8)) / n
                j = next(int(i) for i in np.argsort(-corr) if int(i) not in taken)
                taken.add(j)
                cell = F[own[j // w], :, r, j % w]
                with torch.no_grad():
                    clf.prototypes[p, :, 0, 0] = torch.from_numpy(np.ascontiguousarray(cell))


def medoid_model(F, y, names, per_band: int, seed: int):
    """Prototypes = the cells nearest to class-wise k-means centres; last layer only."""
    import attrs
    import torch

    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams, banded

    p = ProtoNetParams(
        backbone="birdnet", projection="none", prototypes_per_band=per_band, seed=seed, steps=1
    )
    m = AudioProtoNet(p).fit(F, y, names, progress=False)  # built; prototypes reset below
    clf = m.network_.classifier
    banded.init_prototypes(clf, F, y, seed)
    classes, rows = clf.proto_class_map.argmax(1).numpy(), clf.proto_rows.numpy()
    with torch.no_grad():
        for c, row in itertools.product(range(clf.num_classes), range(F.shape[2])):
            own = np.flatnonzero(y == c)
            cells = F[own][:, :, row, :].transpose(0, 2, 1).reshape(-1, F.shape[1])
            taken: set[int] = set()
            for k in np.flatnonzero((classes == c) & (rows == row)):
                sim = banded._unit(cells) @ banded._unit(clf.prototypes[k, :, 0, 0].numpy())
                j = next(int(i) for i in np.argsort(-sim) if int(i) not in taken)
                taken.add(j)
                clf.prototypes[k, :, 0, 0] = torch.from_numpy(np.ascontiguousarray(cells[j]))
        clf.last_layer = banded.OwnClassLinear(clf.proto_class_map)
        clf.last_layer.log_scale.fill_(float(np.log(50.0)))
    banded.finetune_last_layer(clf, attrs.evolve(p, last_layer_steps=1000), F, y)
    return m


def features(cache: pathlib.Path | None) -> dict:
    """post_bn maps and pooled post_conv of every training and test chunk (cached in ``cache``).

    The inputs of this script and of ``bench_case_based.py``: ``tr_bn`` / ``te_bn``
    (``post_bn`` maps), ``tr_pc`` / ``te_pc`` (mean-pooled ``post_conv``, the baselines'
    features), ``ytr``, and each chunk's clip ``ctr`` / ``cte``.
    """
    import pandas as pd

    from vocalpy_xai.birdnet import load_birdnet

    if cache is not None and cache.exists():
        return dict(np.load(cache))
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    clips = load_clips(table)
    idx = np.arange(len(clips))
    Xtr, ytr, ctr, _ = stack(clips, idx, "train", names)
    Xte, _, cte, _ = stack(clips, idx, "test", names)
    birdnet = load_birdnet()
    Ftr = layer_features(birdnet, Xtr, ("post_bn", "post_conv"))
    Fte = layer_features(birdnet, Xte, ("post_bn", "post_conv"))
    d = {
        "tr_bn": Ftr["post_bn"],
        "te_bn": Fte["post_bn"],
        "tr_pc": Ftr["post_conv"].mean(axis=(2, 3)),
        "te_pc": Fte["post_conv"].mean(axis=(2, 3)),
        "ytr": ytr,
        "ctr": ctr,
        "cte": cte,
    }
    if cache is not None:
        np.savez(cache, **d)
    return d


def baselines(d: dict, a: np.ndarray, b: np.ndarray, out: dict, hits) -> None:
    """5-NN vote and nearest class mean (cosine, pooled ``post_conv``) of the held-out
    chunks ``b``, trained on the chunks ``a``: ``hits(scores)`` extends ``out["knn"]`` and
    ``out["class_mean"]``."""
    A, B, y = d["tr_pc"][a], d["te_pc"][b], d["ytr"][a]
    out.setdefault("knn", []).extend(hits(knn_votes(A, y, B, 10)))
    out.setdefault("class_mean", []).extend(hits(unit(B) @ class_means(A, y, 10).T))


def run(per_band: list[int]) -> dict:
    import pandas as pd
    import torch

    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    torch.set_num_threads(1)
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    truth = np.asarray([names.index(s) for s in table["scientific_name"]])
    d = features(None)
    ytr, ctr, cte, Fte = d["ytr"], d["ctr"], d["cte"], d["te_bn"]

    def hits(proba, cc, clip_ids):
        return [bool(np.argmax(proba[cc == c].sum(0)) == truth[c]) for c in clip_ids]

    def evaluate(a, b, val_clips, seed, out):
        F, y = d["tr_bn"][a], ytr[a]
        baselines(d, a, b, out, lambda s: hits(s, cte[b], val_clips))
        for pb in per_band:
            params = ProtoNetParams(
                backbone="birdnet", projection="none", prototypes_per_band=pb, seed=seed
            )
            model = AudioProtoNet(params).fit(F, y, names, progress=False)
            models = itertools.chain(
                variants(model, F, y), [("medoid_ll1000", medoid_model(F, y, names, pb, seed))]
            )
            for name, m in models:
                proba = m.predict_proba(Fte[b])
                out.setdefault(f"pb{pb}_{name}", []).extend(hits(proba, cte[b], val_clips))

    res = inner_and_outer(table, ctr, cte, evaluate)
    return {key: fold_figures(res, key) for key in res["inner"]}


def inner_and_outer(table, ctr: np.ndarray, cte: np.ndarray, evaluate) -> dict:
    """Run ``evaluate`` on every inner fold of every outer fold, then on the outer fold.

    Outer folds: ``species_folds(table, 5, seed=0)``; inner: 4 folds of each outer fold's
    training recordings (seed 0). ``evaluate(a, b, clip_ids, fold, out)`` gets the masks of
    the training chunks (``ctr``: each one's clip) and held-out chunks (``cte``), the
    held-out clips, the outer fold and the dict of per-clip hits to extend. Returns
    ``{"inner": out, "outer": out}``.
    """
    from vocalpy_xai.clips import species_folds

    res: dict = {"inner": {}, "outer": {}}
    for k, (train_idx, test_idx) in enumerate(species_folds(table, 5, seed=0)):
        inner = species_folds(table.iloc[train_idx].reset_index(drop=True), 4, seed=0)
        for itr, iva in inner:
            a, b = np.isin(ctr, train_idx[itr]), np.isin(cte, train_idx[iva])
            evaluate(a, b, train_idx[iva], k, res["inner"])
        a, b = np.isin(ctr, train_idx), np.isin(cte, test_idx)
        evaluate(a, b, test_idx, k, res["outer"])
        print(f"outer fold {k} done", flush=True)
    return res


def fold_figures(res: dict, key: str) -> dict:
    """Inner and outer clip accuracy and hits of ``key`` in :func:`inner_and_outer`'s result."""
    return {
        "inner_accuracy": float(np.mean(res["inner"][key])),
        "inner_hits": int(np.sum(res["inner"][key])),
        "inner_recordings": len(res["inner"][key]),
        "outer_accuracy": float(np.mean(res["outer"][key])),
        "outer_hits": int(np.sum(res["outer"][key])),
    }


def fold_cells(v: dict) -> str:
    """``v``'s (:func:`fold_figures`) inner and outer clip accuracy as two Markdown table cells."""
    return (
        f"{100 * v['inner_accuracy']:.2f}% ({v['inner_hits']}/{v['inner_recordings']}) | "
        f"{100 * v['outer_accuracy']:.0f}% ({v['outer_hits']}/100)"
    )


def markdown(r: dict) -> str:
    lines = [
        "# Push rules on inner and outer folds (10 species, frozen BirdNET `post_bn`)",
        "",
        "Inner: 4 folds of each outer fold's training recordings (400 held-out recordings in "
        "all); outer: the 5 test folds (100 clips), reported only. `pbN`: N prototypes per "
        "class per band. See the script's docstring for each variant.",
        "",
        "| variant | inner clip accuracy | outer clip accuracy |",
        "|---|---|---|",
    ]
    for key, v in r["variants"].items():
        lines.append(f"| `{key}` | {fold_cells(v)} |")
    lines += ["", run_line(r), ""]
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-band", type=int, nargs="+", default=[3, 5])
    args = parser.parse_args()
    load = loadavg()
    t0 = time.perf_counter()
    r = {
        "variants": run(args.per_band),
        "machine": machine(),
        "loadavg": load,
        "seconds": time.perf_counter() - t0,
        "command": "python benchmarks/bench_push_rules.py " + " ".join(sys.argv[1:]),
    }
    write_results("push_rules", r, markdown, RESULTS)
    return r


if __name__ == "__main__":
    main()
