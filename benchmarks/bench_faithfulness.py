"""Benchmark: are the explanations faithful? Every attribution method, full curves, pointing game.

Two parts, each callable from other benchmarks (``benchmarks/bench_explainable_species.py``)
and run together by ``python benchmarks/bench_faithfulness.py``:

1. :func:`run_faithfulness` (the ``"faithfulness"`` section): for a trained model and
   test inputs, every attribution method of :mod:`vocalpy_xai.protonet.faithfulness`
   (geometry-aware linear upsampling, cabrnet's cubic upsampling, saliency, SmoothGrad,
   PRP where the backbone allows it, and cabrnet's randgrad as the random baseline) of the
   true class's evidence; deletion and insertion curves (5 % of the time-frequency cells
   per step, removed cells set to the input's floor) and their AUCs per input; the share
   of inputs where each method's AUC beats randgrad's. ``method`` is the one chosen on
   other inputs (``chosen=``, from :func:`select_method`; ``bench_explainable_species.py``
   chooses on fold 1), else the best worse of the two shares here. Run alone, the model is the current
   AudioProtoNet (``arch="audio"``, BirdNET V2.4 ``post_bn`` frozen, 30 epochs) trained on
   fold 0 of the 10-species clips (``clips.species_folds(table, 5, seed=0)``, training
   chunks 3 s every 1 s) and tested on a random subsample of fold 0's test chunks
   (birdnetlib's cutting).
2. :func:`run_bird0_syllables` (the ``"bird0_syllables"`` section): an AudioProtoNet on the
   spectrogram CNN trained on Bird0 syllable windows of TRAIN (files 0-61, a capped
   number per class), accuracy on every TEST window (files 95-134), prototype purity, and
   cabrnet's pointing game on a subsample of TEST windows: the share of the top 10 %
   attributed cells inside the syllable masks (annotated syllables' frames x the bins where
   each syllable is >= 6 dB above the bin's background,
   :func:`~vocalpy_xai.protonet.faithfulness.syllable_energy_mask`), against the mask's
   own share of the grid (``uniform``: what a map without information scores).

Writes ``benchmarks/results/faithfulness.json``, ``.md`` and ``faithfulness_curves.png``
(mean deletion and insertion curves per method).

    python benchmarks/bench_faithfulness.py                 # both parts (CPU: ~30 min)
    python benchmarks/bench_faithfulness.py --chunks 4 --windows 40 --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SHARED = pathlib.Path(
    os.environ.get("VOCALPY_XAI_SHARED_DATA", HERE.parent.parent / "shared" / "data")
)
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"
sys.path.insert(0, str(HERE))
from results_io import RESULTS, commit, loadavg, machine, read_results, write_results  # noqa: E402


def applicable_methods(model) -> list[str]:
    """Every method of :data:`~vocalpy_xai.protonet.faithfulness.METHODS` the backbone allows."""
    from vocalpy_xai.protonet.faithfulness import METHODS

    return [m for m in METHODS if not (m == "prp" and model.params.uses_birdnet)]


def choose_method(per_method: dict, random: str) -> str:
    """The method whose worse share (deletion, insertion) of beating random is highest.

    Ties: the cheaper method (earlier in
    :data:`~vocalpy_xai.protonet.faithfulness.METHODS`, cheapest first: the default
    draws every map of the HTML report and the napari layers), then the lower mean
    deletion AUC. Occlusion (:data:`~vocalpy_xai.protonet.faithfulness.TAUTOLOGICAL`) is
    measured but not chosen: it ranks cells by the drop that deletion measures.
    """
    from vocalpy_xai.protonet.faithfulness import METHODS, TAUTOLOGICAL

    def cost(m: str) -> int:
        return METHODS.index(m) if m in METHODS else len(METHODS)

    scored = {
        m: (
            min(v["deletion_beats_random"], v["insertion_beats_random"]),
            -cost(m),
            -v["deletion_auc_mean"],
        )
        for m, v in per_method.items()
        if m != random and m not in TAUTOLOGICAL and "deletion_beats_random" in v
    }
    return max(scored, key=scored.get)


def _method_curves(model, X, targets, grids, methods, steps, seed, removal) -> tuple[dict, dict]:
    """Maps of every method for ``targets``, their curves, and the seconds each map took."""
    from vocalpy_xai.protonet import faithfulness as F

    maps, seconds = {}, {}
    for m in methods:
        t0 = time.perf_counter()
        maps[m] = F.attribution_maps(model, X, targets, m, seed=seed, grids=grids, removal=removal)
        seconds[m] = time.perf_counter() - t0
        print(f"  maps {m} ({len(targets)} inputs): {seconds[m]:.1f} s", flush=True)
    curves = F.perturbation_curves(
        model, X, targets, maps, steps=steps, grids=grids, removal=removal
    )
    return curves, seconds


def run_faithfulness(
    model,
    X,
    y,
    methods: list[str] | None = None,
    steps: int = 20,
    seed: int = 0,
    removal: str | None = None,
    chosen: str | None = None,
) -> dict:
    """Deletion and insertion curves of every attribution method against randgrad.

    The class followed is the one the model **predicts** on the intact input, for the map
    and for the curve, as the curves' authors run them (RISE's ``CausalMetric``, Petsiuk et
    al. 2018: the map explains the decision, the curve follows that decision's
    probability). The inputs the model misclassifies are also run with their true class,
    and ``true_class`` gives every share under that protocol (the correctly classified
    inputs are the same under both).

    Parameters
    ----------
    model : AudioProtoNet
        Trained (CNN backbone: ``X`` dB windows; BirdNET: ``X`` audio chunks).
    X, y : numpy.ndarray
        Test inputs and their true classes.
    methods : list of str, optional
        Default: :func:`applicable_methods`.
    steps : int
        Curve steps (20: 5 % of the cells each).
    removal : str, optional
        What a removed cell becomes, for every method and the random one
        (:func:`~vocalpy_xai.protonet.faithfulness.removal_baseline`; default
        :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_REMOVAL`).
    chosen : str, optional
        The method chosen on other inputs (:func:`select_method`): ``method`` and its
        shares report it, so the inputs here only measure it. Default: the best here
        (:func:`choose_method`), which flatters it.

    Returns
    -------
    dict
        ``method`` (``chosen``, else the best here), ``best_here`` (the best here), its ``deletion_beats_random`` / ``insertion_beats_random``,
        ``per_method`` (per method: both shares, the shares on correctly classified and
        misclassified inputs, the shares with the true class (``true_class``), mean AUCs,
        per-input AUCs, mean curves, seconds to compute its maps), ``correct`` (per input),
        ``fractions``, ``n_inputs``, ``steps``, ``removal``, ``score``.
    """
    from vocalpy_xai.protonet import faithfulness as F

    methods = methods or applicable_methods(model)
    removal = removal or F.DEFAULT_REMOVAL
    methods = [*methods, *(m for m in (chosen, F.RANDOM_METHOD) if m and m not in methods)]
    y = np.asarray(y, dtype=int)
    grids = F.input_grid(model, X)
    pred = F.grid_scores(model, grids).argmax(axis=1)
    correct = pred == y
    t0 = time.perf_counter()
    curves, seconds = _method_curves(model, X, pred, grids, methods, steps, seed, removal)
    wrong = np.flatnonzero(~correct)
    true_curves = None
    if len(wrong):  # the misclassified inputs again, following their true class
        true_curves, _ = _method_curves(
            model, X[wrong], y[wrong], grids[wrong], methods, steps, seed, removal
        )
    curve_s = time.perf_counter() - t0

    def true_class_auc(m: str, key: str) -> np.ndarray:
        auc = curves[m][key].copy()
        if true_curves is not None:
            auc[wrong] = true_curves[m][key]
        return auc

    per_method = {}
    for m in methods:
        c = curves[m]
        row = {
            "deletion_auc_mean": float(c["deletion_auc"].mean()),
            "insertion_auc_mean": float(c["insertion_auc"].mean()),
            "deletion_curve_mean": c["deletion"].mean(axis=0).round(4).tolist(),
            "insertion_curve_mean": c["insertion"].mean(axis=0).round(4).tolist(),
            "deletion_auc": c["deletion_auc"].round(4).tolist(),
            "insertion_auc": c["insertion_auc"].round(4).tolist(),
            "maps_seconds": seconds[m],
        }
        if m != F.RANDOM_METHOD:
            row.update(F.beats_random(curves, m))
            r = F.RANDOM_METHOD
            dele = c["deletion_auc"] < curves[r]["deletion_auc"]
            ins = c["insertion_auc"] > curves[r]["insertion_auc"]
            for name, keep in (("correct", correct), ("misclassified", ~correct)):
                if keep.any():
                    row[name] = {
                        "deletion_beats_random": float(dele[keep].mean()),
                        "insertion_beats_random": float(ins[keep].mean()),
                    }
            row["true_class"] = {
                "deletion_beats_random": float(
                    np.mean(true_class_auc(m, "deletion_auc") < true_class_auc(r, "deletion_auc"))
                ),
                "insertion_beats_random": float(
                    np.mean(true_class_auc(m, "insertion_auc") > true_class_auc(r, "insertion_auc"))
                ),
            }
        per_method[m] = row
    best_here = choose_method(per_method, F.RANDOM_METHOD)
    best = chosen or best_here
    return {
        "method": best,
        "best_here": best_here,
        "chosen_here": chosen is None,
        "deletion_beats_random": per_method[best]["deletion_beats_random"],
        "insertion_beats_random": per_method[best]["insertion_beats_random"],
        "per_method": per_method,
        "fractions": curves["fractions"].tolist(),
        "intact_proba_mean": float(curves["intact"].mean()),
        "empty_proba_mean": float(curves["empty"].mean()),
        "n_inputs": int(len(y)),
        "accuracy": float(correct.mean()),
        "correct": correct.tolist(),
        "steps": steps,
        "curves_seconds": curve_s,
        "removal": F.REMOVAL_TEXT[removal],
        "removal_kind": removal,
        "tautological": [m for m in methods if m in F.TAUTOLOGICAL],
        "target": "the class the model predicts on the intact input (RISE's protocol); "
        "true_class: the true class instead",
        "score": "softmax probability of the predicted class",
        "random": F.RANDOM_METHOD,
    }


def select_method(model, X, y, steps: int = 20, seed: int = 0, removal: str | None = None) -> dict:
    """Choose the map method on selection inputs that are not the reported ones.

    Every method :func:`choose_method` may choose (:func:`applicable_methods` less
    :data:`~vocalpy_xai.protonet.faithfulness.TAUTOLOGICAL`) is measured by
    :func:`run_faithfulness` on ``model`` and ``X, y`` (e.g. another fold's model and
    its test chunks); pass the returned ``method`` as ``run_faithfulness(chosen=...)`` on
    the reported inputs.

    Returns
    -------
    dict
        ``method`` (the choice), ``n_inputs``, ``accuracy``, and ``per_method``: each
        method's shares of inputs beating randgrad and mean AUCs on the selection inputs.
    """
    from vocalpy_xai.protonet.faithfulness import TAUTOLOGICAL

    methods = [m for m in applicable_methods(model) if m not in TAUTOLOGICAL]
    run = run_faithfulness(model, X, y, methods, steps=steps, seed=seed, removal=removal)
    keys = (
        "deletion_beats_random",
        "insertion_beats_random",
        "deletion_auc_mean",
        "insertion_auc_mean",
    )
    return {
        "method": run["method"],
        "n_inputs": run["n_inputs"],
        "accuracy": run["accuracy"],
        "per_method": {m: {k: v[k] for k in keys if k in v} for m, v in run["per_method"].items()},
    }


# ------------------------------------------------------------------------ species part
def species_model_and_chunks(n_chunks: int, epochs: int, threads: int, seed: int = 0):
    """The current AudioProtoNet on BirdNET (fold 0) and a subsample of fold 0's test chunks."""
    import pandas as pd

    sys.path.insert(0, str(HERE))
    from bench_birdnet_protonet import XC10, features, fit, load_clips, stack
    from vocalpy_xai.birdnet import load_birdnet
    from vocalpy_xai.clips import species_folds
    from vocalpy_xai.protonet.birdnet_backbone import BirdNETExtractor

    table = pd.read_csv(XC10 / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    train_idx, test_idx = species_folds(table, n_folds=5, seed=0)[0]
    clips = load_clips(table)
    Xtr, ytr, _, src = stack(clips, train_idx, "train", names)
    Xte, yte, _, _ = stack(clips, test_idx, "test", names)
    extractor = BirdNETExtractor(load_birdnet(), "post_bn", add_on=None)
    Ftr, _ = features(extractor, Xtr, threads)
    model, wall = fit("audio", Ftr, ytr, names, src, epochs, seed, threads)
    acc = float(np.mean(model.predict(Xte) == yte))
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(Xte), size=min(n_chunks, len(Xte)), replace=False))
    info = {
        "model": "AudioProtoNet arch=audio, BirdNET V2.4 post_bn (frozen), "
        f"{epochs} epochs, fold 0 of species_folds(table, 5, seed=0)",
        "train_chunks": int(len(Xtr)),
        "test_chunks": int(len(Xte)),
        "test_chunk_accuracy": acc,
        "chunks_evaluated": int(len(pick)),
        "train_wall_s": wall,
    }
    return model, Xte[pick], yte[pick], info


# ------------------------------------------------------------------------ Bird0 part
def bird0_masks(ds, windows, above_db: float = 6.0) -> np.ndarray:
    """(N, F, T) syllable masks: frames of any annotated syllable x where it has energy."""
    from vocalpy_xai.protonet.faithfulness import syllable_energy_mask

    labels = ds["frame_labels"].values
    background = int(list(ds["class"].values).index(ds.attrs["background_label"]))
    hop = windows.frame_s
    n_time = windows.X.shape[2]
    masks = np.zeros(windows.X.shape, dtype=bool)
    for i, src in enumerate(windows.sources):
        start = int(round(src["start_s"] / hop))
        row = labels[int(src["clip"])]
        frames = start + np.arange(n_time)
        inside = (frames >= 0) & (frames < row.shape[0])
        flags = np.zeros(n_time, dtype=bool)
        flags[inside] = ~np.isin(row[frames[inside]], (background, -1))
        masks[i] = syllable_energy_mask(windows.X[i], flags, above_db)
    return masks


def run_bird0_syllables(
    work: pathlib.Path,
    n_windows: int = 200,
    max_per_class: int = 100,
    epochs: int = 8,
    threads: int = 2,
    methods: list[str] | None = None,
    seed: int = 0,
    model=None,
    curve_windows: int = 60,
) -> dict:
    """Accuracy, purity and pointing game of a syllable classifier on Bird0's fixed split.

    ``model``: a trained CNN-backbone AudioProtoNet on the same windows (default: the
    demo's ``arch="audio"`` network trained here on TRAIN, ``max_per_class`` windows per
    class). Pointing game and curves on ``n_windows`` random TEST windows.
    """
    import vocalpy_xai as vx
    from vocalpy_xai.clips import bird0_fixed_split, build_syllable_store, syllable_windows
    from vocalpy_xai.demo import PROTONET_PARAMS, PROTONET_WINDOW_S
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams, prototype_purity
    from vocalpy_xai.protonet import faithfulness as F

    store = work / "bird0.zarr"
    if not store.exists():
        build_syllable_store(BIRD0 / "Annotation.xml", store, progress=False)
    ds = vx.open_store(store)
    train_idx, test_idx = bird0_fixed_split(ds["duration_s"].values)
    train_all = syllable_windows(ds, train_idx, width_s=PROTONET_WINDOW_S)
    rng = np.random.default_rng(seed)
    keep = np.concatenate(
        [
            rng.permutation(np.flatnonzero(train_all.y == c))[:max_per_class]
            for c in np.unique(train_all.y)
        ]
    )
    train = train_all.subset(np.sort(keep))
    test = syllable_windows(ds, test_idx, width_s=PROTONET_WINDOW_S, labels=train.class_names)
    info: dict = {}
    if model is None:
        params = ProtoNetParams(
            **{**PROTONET_PARAMS, "epochs": epochs, "max_seconds": None, "num_threads": threads}
        )
        t0 = time.perf_counter()
        model = AudioProtoNet(params).fit(**train.fit_kwargs(), progress=False)
        info["train_wall_s"] = time.perf_counter() - t0
        info["model"] = f"AudioProtoNet {params.to_dict()}"
    accuracy = float(np.mean(model.predict(test.X) == test.y))
    purity = float(np.mean(prototype_purity(model, train.X, train.y, k=10)))
    pick = np.sort(rng.choice(len(test), size=min(n_windows, len(test)), replace=False))
    sub = test.subset(pick)
    masks = bird0_masks(ds, sub)
    methods = methods or applicable_methods(model)
    per_method: dict = {}
    maps = {}
    for m in methods:
        t0 = time.perf_counter()
        maps[m] = F.attribution_maps(model, sub.X, sub.y, m, seed=seed)
        pg = F.pointing_game(maps[m], masks, top=0.10)
        per_method[m] = {
            "top10_in_syllable": float(pg["top_in_mask"].mean()),
            "energy_in_syllable": float(pg["energy_in_mask"].mean()),
            "maps_seconds": time.perf_counter() - t0,
        }
        print(f"  bird0 {m}: {per_method[m]}", flush=True)
    out = {
        "accuracy": accuracy,
        "purity": purity,
        "uniform": float(masks.reshape(len(masks), -1).mean(axis=1).mean()),
        "per_method": per_method,
        "n_train_windows": int(len(train)),
        "n_test_windows": int(len(test)),
        "n_pointing_windows": int(len(sub)),
        "mask": "frames of annotated syllables (store frame labels) x bins >= 6 dB above the "
        "bin's background (20th percentile over the window)",
        **info,
    }
    if curve_windows:
        cw = sub.subset(np.arange(min(curve_windows, len(sub))))
        out["curves"] = run_faithfulness(model, cw.X, cw.y, methods, seed=seed)
    return out


def pick_bird0(result: dict, method: str) -> dict:
    """The ``bird0_syllables`` figures of one method (the default)."""
    pm = result["per_method"][method]
    return {
        "accuracy": result["accuracy"],
        "top10_in_syllable": pm["top10_in_syllable"],
        "uniform": result["uniform"],
        "purity": result["purity"],
        "method": method,
    }


# ------------------------------------------------------------------------ output
def plot_curves(sections: dict[str, dict], path: pathlib.Path) -> None:
    """Mean deletion and insertion curves per method, one row per section."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sections), 2, figsize=(10, 3.6 * len(sections)), squeeze=False)
    for row, (title, faith) in zip(axes, sections.items(), strict=True):
        x = 100 * np.asarray(faith["fractions"])
        for m, v in faith["per_method"].items():
            style = {"color": "k", "ls": "--"} if m == faith["random"] else {}
            row[0].plot(x, v["deletion_curve_mean"], label=m, **style)
            row[1].plot(x, v["insertion_curve_mean"], label=m, **style)
        for ax, kind in zip(row, ("deletion", "insertion"), strict=True):
            ax.set_title(f"{title}: {kind} ({faith['n_inputs']} inputs)")
            ax.set_xlabel(
                f"% of time-frequency cells {'removed' if kind == 'deletion' else 'restored'}"
            )
            ax.set_ylabel("probability of the true class")
            ax.set_ylim(0, 1.02)
        row[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def markdown(results: dict) -> str:
    """``faithfulness.md`` from the results."""
    lines = ["# Faithfulness of the explanations: every attribution method, full curves", ""]
    faith = results.get("faithfulness")
    if faith:
        info = results.get("species_setup", {})
        lines += [
            f"## Species (BirdNET backbone): {faith['n_inputs']} test chunks",
            "",
            f"Model: {info.get('model', '?')}; chunk accuracy on fold 0's "
            f"{info.get('test_chunks', '?')} test chunks {_pct(info.get('test_chunk_accuracy'))}; "
            f"{faith['n_inputs']} of them drawn at random (seed 0) for the curves. "
            f"Removal: {faith['removal']}. Score: {faith['score']}. Chosen: **{faith['method']}**.",
            "",
            "| method | deletion AUC (lower better) | insertion AUC (higher better) "
            "| deletion beats randgrad | insertion beats randgrad | maps s |",
            "|---|---|---|---|---|---|",
        ]
        for m, v in faith["per_method"].items():
            lines.append(
                f"| {m} | {v['deletion_auc_mean']:.3f} | {v['insertion_auc_mean']:.3f} | "
                f"{_pct(v.get('deletion_beats_random'))} | {_pct(v.get('insertion_beats_random'))} "
                f"| {v['maps_seconds']:.0f} |"
            )
        lines.append("")
    b0 = results.get("bird0_full")
    if b0:
        lines += [
            f"## Bird0 syllables (CNN backbone): fixed split, {b0['n_pointing_windows']} of "
            f"{b0['n_test_windows']} TEST windows",
            "",
            f"Accuracy (all TEST windows) {_pct(b0['accuracy'])}; prototype purity "
            f"{_pct(b0['purity'])}; {b0['n_train_windows']} training windows. Mask: {b0['mask']}; "
            f"a uniform map scores the mask's share of the grid, {_pct(b0['uniform'])}.",
            "",
            "| method | top 10 % inside syllables | attribution inside syllables "
            "| deletion beats randgrad | insertion beats randgrad |",
            "|---|---|---|---|---|",
        ]
        curves = b0.get("curves", {}).get("per_method", {})
        for m, v in b0["per_method"].items():
            c = curves.get(m, {})
            lines.append(
                f"| {m} | {_pct(v['top10_in_syllable'])} | {_pct(v['energy_in_syllable'])} | "
                f"{_pct(c.get('deletion_beats_random'))} | {_pct(c.get('insertion_beats_random'))} |"
            )
        if b0.get("note"):
            lines += ["", f"Note: {b0['note']}."]
        lines.append("")
    lines += [
        "Goals (issue 13): deletion and insertion beat random on >= 90 % of test chunks; "
        "Bird0 top-10 % inside syllables >= 80 % with accuracy >= 96 %, purity >= 95 %.",
        f"Machine: {results['machine']}; load average at start {results['load_average']}. "
        f"Ran on: {results['ran_on']}.",
    ]
    return "\n".join(lines) + "\n"


def write(results: dict) -> None:
    """``faithfulness.json`` and ``.md``."""
    write_results("faithfulness", results, markdown, RESULTS)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=16, help="species test chunks for the curves")
    ap.add_argument("--windows", type=int, default=200, help="Bird0 TEST windows (pointing game)")
    ap.add_argument("--curve-windows", type=int, default=60, help="Bird0 windows for the curves")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--bird0-epochs", type=int, default=8)
    ap.add_argument("--max-per-class", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-species", action="store_true")
    ap.add_argument("--skip-bird0", action="store_true")
    ap.add_argument("--work", type=pathlib.Path, default=None)
    args = ap.parse_args()
    results = read_results("faithfulness", RESULTS)  # a part skipped keeps its earlier figures
    results.update(
        {"load_average": loadavg(), "machine": machine(), "ran_on": f"commit {commit()}"}
    )
    sections = {}
    if "faithfulness" in results:
        sections["species (BirdNET)"] = results["faithfulness"]
    if "curves" in results.get("bird0_full", {}):
        sections["Bird0 syllables (CNN)"] = results["bird0_full"]["curves"]
    if not args.skip_species:
        model, X, y, info = species_model_and_chunks(args.chunks, args.epochs, args.threads)
        results["species_setup"] = info
        results["faithfulness"] = run_faithfulness(model, X, y)
        sections["species (BirdNET)"] = results["faithfulness"]
        write(results)
        plot_curves(sections, RESULTS / "faithfulness_curves.png")
    if not args.skip_bird0:
        work = args.work or pathlib.Path(tempfile.mkdtemp(prefix="bench-faith-"))
        work.mkdir(parents=True, exist_ok=True)
        b0 = run_bird0_syllables(
            work,
            n_windows=args.windows,
            max_per_class=args.max_per_class,
            epochs=args.bird0_epochs,
            threads=args.threads,
            curve_windows=args.curve_windows,
        )
        results["bird0_full"] = b0
        method = results.get("faithfulness", {}).get("method") or max(
            b0["per_method"], key=lambda m: b0["per_method"][m]["top10_in_syllable"]
        )
        results["bird0_syllables"] = pick_bird0(b0, method)
        if "curves" in b0:
            sections["Bird0 syllables (CNN)"] = b0["curves"]
    write(results)
    if sections:
        plot_curves(sections, RESULTS / "faithfulness_curves.png")
    print(
        json.dumps(
            {k: results[k] for k in ("faithfulness", "bird0_syllables") if k in results}, indent=1
        )[:3000]
    )
    return results


if __name__ == "__main__":
    main()
