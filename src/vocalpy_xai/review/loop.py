"""The re-annotation loop: annotation version -> store -> retrained model -> scores -> registry.

Each step reuses the project's parts: :func:`~vocalpy_xai.store.build_store` on the
version's manifest (with the class list fixed, so models of every version share their
classes), :class:`~vocalpy_xai.models.ESNDecoder` and :func:`vocalpy_xai.metrics.evaluate`;
models go to a :class:`~vocalpy_xai.registry.Registry` with their metrics and the
annotation version in their note, so :meth:`Registry.compare` compares versions.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..io.annotations import SegmentTable
from ..io.atomic import write_text
from ..models.esn_decoder import ESNDecoder, ESNParams
from ..store.build import build_store
from ..store.dataset import clip_segments, open_store
from ..store.params import SpectrogramParams
from .versions import AnnotationVersions


def build_version_store(
    versions: AnnotationVersions,
    version: int | str,
    path: str | os.PathLike,
    params: SpectrogramParams,
    classes: Sequence[str] | None = None,
    progress: bool = False,
) -> pathlib.Path:
    """Build a spectrogram store of one annotation version.

    ``classes`` (segment labels, without background) fixes the label map, so that a
    correction that removes every instance of a label does not renumber the classes.
    """
    build_store(
        versions.manifest(version),
        path,
        params,
        labels=list(classes) if classes is not None else None,
        on_error="raise",
        progress=progress,
    )
    return pathlib.Path(path)


def truth_tables(ds: xr.Dataset, clips: Sequence[int]) -> list[SegmentTable]:
    """The annotated segments of ``clips`` of a store, one table per clip."""
    return [clip_segments(ds, c) for c in clips]


def evaluate_on_store(model: ESNDecoder, ds: xr.Dataset, clips: Sequence[int]) -> dict:
    """Scores of a model on clips of a store: SER, boundary F1 at 10 ms, frame accuracy.

    From :func:`~vocalpy_xai.review.predict_clips` and
    :func:`~vocalpy_xai.review.report.score_predictions`, as in a run report.
    """
    from .report import predict_clips, score_predictions

    m = score_predictions(model, predict_clips(model, ds, clips))
    return {
        "n_true_segments": int(m["n_true_segments"]),
        "levenshtein_distance": int(m["levenshtein_distance"]),
        "syllable_error_rate": float(m["syllable_error_rate"]),
        "boundary_f1_10ms": float(m["boundaries"]["f1"]),
        "frame_accuracy": float(m["frames"]["accuracy"]),
    }


def retrain(
    store: str | os.PathLike | xr.Dataset,
    train_clips: Sequence[int],
    test_store: str | os.PathLike | xr.Dataset | None = None,
    test_clips: Sequence[int] | None = None,
    params: ESNParams | None = None,
    registry=None,
    name: str | None = None,
    note: str = "",
    progress: bool = False,
) -> tuple[ESNDecoder, dict]:
    """Train an ESNDecoder on ``train_clips``, score it on the test clips, optionally register it.

    Parameters
    ----------
    store : path or xarray.Dataset
        Store of the annotation version to train on.
    train_clips : sequence of int
    test_store : path or xarray.Dataset, optional
        Store holding the reference annotation of the test clips (default ``store``).
    test_clips : sequence of int, optional
        Clips to score (no scores without them).
    params : ESNParams, optional
    registry : Registry, optional
        Register the model (with its scores as metrics) as a new version of ``name``.
    name : str, optional
        Registry name.
    note : str
        Registry note (e.g. ``"annotation v3"``).

    Returns
    -------
    model, metrics : ESNDecoder, dict
    """
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    model = ESNDecoder(params or ESNParams()).fit(ds, train_clips, progress=progress)
    metrics: dict = {}
    if test_clips is not None:
        tds = ds if test_store is None else test_store
        tds = tds if isinstance(tds, xr.Dataset) else open_store(tds)
        metrics = evaluate_on_store(model, tds, test_clips)
    metrics["train_cpu_s"] = model.training_["cpu_seconds"]
    if registry is not None:
        if not name:
            raise ValueError("a registry name is needed to register the model")
        rec = registry.register(model, name, metrics=metrics, note=note)
        model.registry_version_ = rec
    return model, metrics


def loop_conclusion(stats: dict, m_before: dict, m_after: dict) -> str:
    """What the loop's figures say, in a sentence computed from them.

    The two models' TEST errors are compared in syllables (edit operations,
    ``levenshtein_distance`` of :func:`evaluate_on_store`); a difference of at most
    ``max(2, 0.5 % of the TEST syllables)`` is called noise (one reservoir seed, one noise
    draw). The annotation's gain is the drop in wrong TRAIN labels.
    """
    fixed = stats["wrong_labels_before"] - stats["wrong_labels_after"]
    labels = f"the review corrected {fixed} of {stats['wrong_labels_before']} wrong TRAIN labels"
    n_test = int(m_after.get("n_true_segments") or 0)
    if "levenshtein_distance" not in m_before or not n_test:
        return f"{labels[0].upper()}{labels[1:]}."
    delta = int(m_after["levenshtein_distance"]) - int(m_before["levenshtein_distance"])
    noise = max(2, int(round(0.005 * n_test)))
    errs = f"{abs(delta)} syllable error{'s' if abs(delta) != 1 else ''} of {n_test}"
    if abs(delta) <= noise:
        return (
            f"The two models differ by {errs} on TEST, within noise (at most {noise}): "
            f"retraining did not change the model measurably; the gain is in the "
            f"annotation itself: {labels}."
        )
    if delta < 0:
        return f"Retraining on the reviewed labels removed {errs} on TEST; {labels}."
    return (
        f"The model retrained on the reviewed labels makes {errs} more on TEST than the one "
        f"trained on the noisy labels; {labels}."
    )


# ------------------------------------------------------------------------------ once, end to end
#: what :func:`run_loop_once` writes in its ``out_dir`` (a re-run with ``overwrite`` wipes it)
LOOP_SUMMARY = "loop.json"


def _clips_of_paths(ds: xr.Dataset, paths: Sequence[str]) -> np.ndarray:
    """Clip indices of audio files in a store (stores of versions may order files otherwise)."""
    index = {str(p): i for i, p in enumerate(ds["source_path"].values.astype(str))}
    missing = [p for p in paths if p not in index]
    if missing:
        raise ValueError(f"{len(missing)} file(s) missing from the store, e.g. {missing[0]}")
    return np.array([index[p] for p in paths], dtype=int)


def store_annotations(ds: xr.Dataset) -> dict[str, SegmentTable]:
    """Audio path to its annotated segments, for every clip of a store."""
    paths = ds["source_path"].values.astype(str)
    tables = truth_tables(ds, range(ds.sizes["clip"]))
    return {str(p): t for p, t in zip(paths, tables, strict=True)}


def noise_corrections(
    table: pd.DataFrame, rate: float, classes: Sequence[str], seed: int = 0
) -> pd.DataFrame:
    """A corrections table relabelling ``rate`` of the rows of ``table`` to another label.

    ``table`` has columns ``audio_path``, ``onset_s``, ``offset_s``, ``label``; rows are drawn
    without replacement and each gets a label drawn uniformly from the other ``classes``.
    """
    rng = np.random.default_rng(seed)
    n = int(round(rate * len(table)))
    rows = table.iloc[np.sort(rng.choice(len(table), size=n, replace=False))].copy()
    rows["human_label"] = rows["label"]
    rows["new_label"] = [str(rng.choice([c for c in classes if c != lab])) for lab in rows["label"]]
    return rows[["audio_path", "onset_s", "offset_s", "human_label", "new_label"]].reset_index(
        drop=True
    )


def _keys(df: pd.DataFrame) -> list[tuple[str, float]]:
    return list(zip(df["audio_path"].astype(str), df["onset_s"].round(6), strict=True))


def simulated_review(
    review: pd.DataFrame, truth: pd.DataFrame, share: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reviewer who knows the true labels checks the top ``share`` of a review list.

    Returns the reviewed rows (a filled-in review list: ``new_label`` = the true label where
    it differs from ``human_label``, empty where the reviewer confirms it) and the rows
    changed (the corrections applied).
    """
    from .finder import top_share

    true = dict(zip(_keys(truth), truth["label"].astype(str), strict=True))
    reviewed = top_share(review, share).copy()
    labels = [true[k] for k in _keys(reviewed)]
    reviewed["new_label"] = [
        t if t != h else "" for t, h in zip(labels, reviewed["human_label"], strict=True)
    ]
    return reviewed, reviewed[reviewed["new_label"] != ""]


def _plot_ranks(review: pd.DataFrame, n_reviewed: int):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    noisy = review["injected"].to_numpy()
    ax.plot(review["rank"], review["score"], color="0.6", lw=1, label="TRAIN syllables")
    ax.scatter(
        review.loc[noisy, "rank"],
        review.loc[noisy, "score"],
        s=14,
        color="crimson",
        zorder=3,
        label="relabelled (injected noise)",
    )
    ax.axvline(n_reviewed + 0.5, color="k", ls="--", lw=1, label=f"reviewed: top {n_reviewed}")
    ax.set_xlabel("rank in the review list")
    ax.set_ylabel("score")
    ax.set_xscale("log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plot_before_after(wrong: tuple[int, int], before: dict, after: dict):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.0))
    ax = axes[0]
    ax.bar(["noisy (v2)", "reviewed (v3)"], wrong, color=["crimson", "seagreen"])
    for i, v in enumerate(wrong):
        ax.text(i, v, str(v), ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("wrong TRAIN labels")
    ax = axes[1]
    names = ["syllable error rate", "frame error"]
    b = [before["syllable_error_rate"], 1 - before["frame_accuracy"]]
    a = [after["syllable_error_rate"], 1 - after["frame_accuracy"]]
    x = np.arange(2)
    ax.bar(x - 0.2, 100 * np.array(b), 0.4, color="crimson", label="model v1 (noisy labels)")
    ax.bar(x + 0.2, 100 * np.array(a), 0.4, color="seagreen", label="model v2 (reviewed)")
    for xi, v in zip([*(x - 0.2), *(x + 0.2)], [*b, *a], strict=True):
        ax.text(xi, 100 * v, f"{100 * v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, names)
    ax.set_ylabel("TEST error (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def run_loop_once(
    store_path_or_ds: str | os.PathLike | xr.Dataset,
    train_clips: Sequence[int],
    test_clips: Sequence[int],
    out_dir: str | os.PathLike,
    registry_root: str | os.PathLike | None = None,
    progress: bool = True,
    noise: float = 0.05,
    review_share: float = 0.10,
    k: int = 3,
    params: ESNParams | None = None,
    name: str = "esn-loop",
    seed: int = 0,
    report=None,
    overwrite: bool = False,
) -> dict:
    """Go round the Canapy loop once on a store, with label noise to find and fix.

    1. Annotation version 1 = the store's annotation; version 2 = version 1 with ``noise``
       of the TRAIN syllables relabelled at random (seeded) to another label: the labels a
       careless annotator might have left. Its store is built (label map kept).
    2. Train an ESNDecoder on TRAIN of version 2, score it on TEST against the store's
       (clean) annotation and register it: model version 1.
    3. Find disagreements on TRAIN with ``k``-fold cross-validation by file
       (:func:`cross_val_predictions`) and write the ranked review list
       (``review.csv``, for the napari plugin).
    4. A simulated reviewer, who knows the store's true labels, checks the top
       ``review_share`` of the list and gives the true label where it differs
       (``review-reviewed.csv``); the corrections make annotation version 3.
    5. Retrain on version 3, score on TEST, register: model version 2; compare the two.

    Parameters
    ----------
    store_path_or_ds : path or xarray.Dataset
        An annotated store (e.g. the demo's 20 bundled Bird0 songs).
    train_clips, test_clips : sequence of int
        Clip indices in this store (TEST is never relabelled).
    out_dir : path
        Folder of the run (created; must be empty or a previous run with ``overwrite``):
        ``annotations/`` (versions), ``stores/``, ``review.csv``, ``review-reviewed.csv``,
        ``loop.json``, and ``report/`` when no ``report`` is given.
    registry_root : path, optional
        The model registry (default ``out_dir/registry``).
    progress : bool
        Progress bars.
    noise : float
        Share of TRAIN syllables relabelled.
    review_share : float
        Share of the review list (from the top) the simulated reviewer checks.
    k : int
        Cross-validation folds (by file).
    params : ESNParams, optional
        Reservoir of every model (default: 300 units).
    name : str
        Registry name of the models.
    seed : int
        Seed of the noise (and of the folds and reservoirs).
    report : Report, optional
        Add the section "The loop once: find, fix, retrain" to this report instead of
        writing ``out_dir/report/index.html``. It is not written: call ``report.write()``.
    overwrite : bool
        Replace the previous run in ``out_dir`` (only a folder holding ``loop.json``).

    Returns
    -------
    dict
        ``out_dir``, ``registry_root``, ``name``, ``model_versions`` (before, after),
        ``annotation_versions`` (original, noisy, reviewed) and ``annotations_root``,
        ``stores``, ``review_list``, ``reviewed_list``, ``noise`` (injected segments and how
        the finder ranked them), ``metrics`` (before, after: TEST scores), ``compare``
        (:meth:`Registry.compare` table), ``figures`` (name to PNG path), ``report``
        (HTML path), ``summary`` (``loop.json``), ``timings`` (s).
    """
    import json
    import shutil
    import time

    from tqdm.auto import tqdm

    from ..registry import Registry
    from ..report import Report
    from ..store.dataset import store_params
    from .finder import find_disagreements
    from .predictions import cross_val_predictions
    from .review_list import write_review_list

    t_start, cpu_start = time.perf_counter(), time.process_time()
    out = pathlib.Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} is not empty; pass overwrite=True (CLI: --overwrite) to replace a run"
            )
        if not (out / LOOP_SUMMARY).is_file():
            raise FileExistsError(f"{out} holds no {LOOP_SUMMARY}: not a loop run, not removing it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    reg = Registry(registry_root if registry_root is not None else out / "registry")
    params = params or ESNParams(units=300, seed=seed)
    clean = (
        store_path_or_ds
        if isinstance(store_path_or_ds, xr.Dataset)
        else open_store(store_path_or_ds)
    )
    n = clean.sizes["clip"]
    train, test = np.asarray(train_clips, dtype=int), np.asarray(test_clips, dtype=int)
    if not len(train) or not len(test):
        raise ValueError("give TRAIN and TEST clips")
    if set(train) & set(test):
        raise ValueError("TRAIN and TEST clips overlap")
    if train.min() < 0 or test.min() < 0 or max(train.max(), test.max()) >= n:
        raise ValueError(f"clip indices outside the store's 0-{n - 1}")
    paths = clean["source_path"].values.astype(str)
    classes = [str(c) for c in clean["class"].values[1:]]
    spect = store_params(clean)
    timings: dict[str, float] = {}
    steps = tqdm(total=5, desc="loop", unit="step", disable=not progress)

    def step(label: str, t0: float) -> float:
        timings[label] = time.perf_counter() - t0
        steps.update()
        return time.perf_counter()

    # 1. versions: original, noisy
    t = time.perf_counter()
    steps.set_postfix_str("label noise")
    versions = AnnotationVersions.create(
        out / "annotations", store_annotations(clean), note="the store's annotation"
    )
    truth = versions.table(1)
    train_rows = truth[truth["audio_path"].isin(set(paths[train]))].reset_index(drop=True)
    injected = noise_corrections(train_rows, noise, classes, seed)
    v_noisy = versions.apply(
        injected, parent=1, note=f"simulated: {noise:.0%} of TRAIN syllables relabelled"
    )
    noisy_path = build_version_store(
        versions, v_noisy, out / "stores" / "noisy.zarr", spect, classes
    )
    noisy = open_store(noisy_path)
    train_noisy = _clips_of_paths(noisy, paths[train])
    t = step("noise and store", t)

    # 2. model on the noisy labels
    steps.set_postfix_str("train v1")
    before, m_before = retrain(
        noisy,
        train_noisy,
        test_store=clean,
        test_clips=test,
        params=params,
        registry=reg,
        name=name,
        note=f"annotation version {v_noisy} (noisy) of {versions.root}",
    )
    t = step("train v1", t)

    # 3. cross-validated disagreements on TRAIN
    steps.set_postfix_str("find disagreements")
    pred = cross_val_predictions(
        noisy, train_noisy, k=k, seeds=(seed,), params=params, progress=progress
    )
    review = find_disagreements(noisy, pred, train_noisy)
    review_path = write_review_list(review, out / "review.csv")
    t = step("find disagreements", t)

    # 4. the simulated review
    steps.set_postfix_str("review")
    reviewed, fixes = simulated_review(review, truth, review_share)
    reviewed_path = write_review_list(reviewed, out / "review-reviewed.csv")
    v_fixed = versions.apply(
        reviewed_path, parent=v_noisy, note=f"simulated review of the top {review_share:.0%}"
    )
    fixed_path = build_version_store(
        versions, v_fixed, out / "stores" / "reviewed.zarr", spect, classes
    )
    fixed = open_store(fixed_path)
    t = step("review and store", t)

    # 5. retrain, compare
    steps.set_postfix_str("train v2")
    after, m_after = retrain(
        fixed,
        _clips_of_paths(fixed, paths[train]),
        test_store=clean,
        test_clips=test,
        params=params,
        registry=reg,
        name=name,
        note=f"annotation version {v_fixed} (reviewed) of {versions.root}",
    )
    step("train v2", t)
    steps.close()
    compare = reg.compare(name, [before.registry_version_.version, after.registry_version_.version])

    # how the finder ranked the injected noise
    injected_keys = set(_keys(injected))
    review["injected"] = [k_ in injected_keys for k_ in _keys(review)]
    ranks = review.loc[review["injected"], "rank"].to_numpy()
    flagged = review[review["flag"]]
    remaining = versions.diff(1, v_fixed)
    stats = {
        "n_train_syllables": int(len(train_rows)),
        "n_injected": int(len(injected)),
        "n_reviewed": int(len(reviewed)),
        "injected_in_reviewed": int(review["injected"].head(len(reviewed)).sum()),
        "recall_reviewed": float(review["injected"].head(len(reviewed)).sum() / max(len(ranks), 1)),
        "median_rank": float(np.median(ranks)) if len(ranks) else None,
        "max_rank": int(ranks.max()) if len(ranks) else None,
        "canapy_flagged": int(len(flagged)),
        "canapy_recall": float(flagged["injected"].sum() / max(len(ranks), 1)),
        "n_fixed": int(len(fixes)),
        "wrong_labels_before": int(len(versions.diff(1, v_noisy))),
        "wrong_labels_after": int(len(remaining)),
    }

    # report section
    own = report is None
    report = Report(out / "report", title="The loop once") if own else report
    sec = report.section("The loop once: find, fix, retrain")
    sec.text(
        f"{stats['n_injected']} of the {stats['n_train_syllables']} TRAIN syllables "
        f"({noise:.0%}, seed {seed}) were relabelled at random to another label (annotation "
        f"version {v_noisy}). {k}-fold cross-validated ESNs ({params.units} units) scored every "
        f"TRAIN syllable; a simulated reviewer who knows the true labels checked the top "
        f"{review_share:.0%} of the ranked list ({stats['n_reviewed']} rows) and corrected "
        f"{stats['n_fixed']} (version {v_fixed}). Both models are in the registry "
        f"{reg.root} as '{name}' and scored on the {len(test)} TEST files against the original "
        "annotation."
    )
    sec.text(
        f"Wrong TRAIN labels: {stats['wrong_labels_before']} before the review, "
        f"{stats['wrong_labels_after']} after. TEST syllable error rate: "
        f"{m_before['syllable_error_rate']:.2%} (model on the noisy labels) and "
        f"{m_after['syllable_error_rate']:.2%} (after the review). "
        + loop_conclusion(stats, m_before, m_after)
    )
    sec.table(pd.DataFrame({"value": stats}), caption="Injected noise, finder and review")
    figures = {
        "ranks": sec.figure(
            _plot_ranks(review, len(reviewed)),
            "loop-ranks.png",
            caption="Review list: score by rank; red: the relabelled syllables; dashed: the "
            "reviewer's cut-off",
        ),
        "before_after": sec.figure(
            _plot_before_after(
                (stats["wrong_labels_before"], stats["wrong_labels_after"]), m_before, m_after
            ),
            "loop-before-after.png",
            caption="Wrong TRAIN labels before and after the review; TEST errors of the models "
            "trained on each",
        ),
    }
    cols = [
        c
        for c in (
            "syllable_error_rate",
            "boundary_f1_10ms",
            "frame_accuracy",
            "train_cpu_s",
            "data_sha256",
        )
        if c in compare.columns
    ]
    sec.table(compare[cols], caption=f"Registry: {name}, models before and after the review")
    sec.table(
        review.head(10)[
            ["rank", "audio_path", "onset_s", "human_label", "model_label", "score", "injected"]
        ],
        caption="Top of the review list (review.csv)",
    )
    index = report.write() if own else report.out_dir / "index.html"

    timings["total_wall"] = time.perf_counter() - t_start
    timings["total_cpu"] = time.process_time() - cpu_start
    result = {
        "out_dir": out,
        "registry_root": reg.root,
        "name": name,
        "model_versions": {
            "before": before.registry_version_.version,
            "after": after.registry_version_.version,
        },
        "annotations_root": versions.root,
        "annotation_versions": {"original": 1, "noisy": v_noisy, "reviewed": v_fixed},
        "stores": {"noisy": noisy_path, "reviewed": fixed_path},
        "review_list": review_path,
        "reviewed_list": reviewed_path,
        "noise": stats,
        "metrics": {"before": m_before, "after": m_after},
        "compare": compare,
        "figures": figures,
        "report": index,
        "timings": timings,
    }
    summary = {k_: v for k_, v in result.items() if k_ != "compare"}
    write_text(out / LOOP_SUMMARY, json.dumps(summary, indent=2, default=str))
    result["summary"] = out / LOOP_SUMMARY
    return result
