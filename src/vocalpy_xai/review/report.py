"""Run reports: what one trained model gets right and wrong on TEST, as an HTML page.

:func:`run_report` writes, for a model and a train/test split of a store:

- every metric of :func:`vocalpy_xai.metrics.evaluate` on TEST (syllable error rate,
  boundary precision/recall/F1 at 10 ms, onset/offset errors, frame and syllable accuracy),
  the per-class precision/recall/F1 table (syllables and frames) and confusion matrices;
- a learning curve: ESNs of the model's hyper-parameters trained on growing, nested subsets
  of the TRAIN files (e.g. 25/50/75/100 %), each scored on TEST (syllable error rate and
  frame error);
- the worst errors: the TEST syllables the model disagrees with most (the disagreement
  finder's score, :func:`~vocalpy_xai.review.score_segments`, with the model as its only
  member), each as a PNG crop of the spectrogram with the human and model segments drawn.

Files: ``index.html`` (a :class:`~vocalpy_xai.report.Report`), its PNGs, and
``metrics.json``, ``per_class.csv``, ``learning_curve.csv``, ``worst_errors.csv``.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from ..io.annotations import SegmentTable
from ..models.esn_decoder import ESNDecoder
from ..models.features import BandFeatures
from ..report import Report, Section, label_colors
from ..store.dataset import store_frame_s
from .finder import score_segments, store_segments
from .predictions import FramePredictions

#: default learning-curve points: shares of the TRAIN files
DEFAULT_FRACTIONS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)

#: seconds of context on each side of a syllable in a worst-error crop
CROP_PAD_S = 0.25


@attrs.define
class ClipPredictions:
    """A model's annotation of store clips, with the reference.

    Attributes
    ----------
    clips : list of int
    truth, pred : list of SegmentTable
        Human (store) and model segments, one table per clip.
    y_true, y_pred : list of numpy.ndarray
        Class index of every model frame (reference from the store's frame labels).
    probs : dict
        Clip to frame probabilities (model frames, classes).
    """

    clips: list[int]
    truth: list[SegmentTable]
    pred: list[SegmentTable]
    y_true: list[np.ndarray]
    y_pred: list[np.ndarray]
    probs: dict[int, np.ndarray]


@attrs.define
class RunReport:
    """What :func:`run_report` wrote.

    Attributes
    ----------
    index : pathlib.Path
        The HTML page.
    out_dir : pathlib.Path
        Folder of the data files (``metrics.json``, CSVs).
    metrics : dict
        :func:`~vocalpy_xai.metrics.evaluate` of the model on TEST.
    learning_curve : pandas.DataFrame
        One row per point (empty when no curve was asked for).
    worst : pandas.DataFrame
        The worst TEST syllables, most doubtful first, with their crop's file name.
    figures : dict
        Figure name to PNG path.
    files : dict
        Data file name to path.
    """

    index: pathlib.Path
    out_dir: pathlib.Path
    metrics: dict
    learning_curve: pd.DataFrame
    worst: pd.DataFrame
    figures: dict[str, pathlib.Path]
    files: dict[str, pathlib.Path]


# ------------------------------------------------------------------------------ helpers
def _open(store: str | os.PathLike | xr.Dataset) -> xr.Dataset:
    from ..store.dataset import open_store

    return store if isinstance(store, xr.Dataset) else open_store(store)


def _load_model(model: ESNDecoder | str | os.PathLike) -> ESNDecoder:
    if isinstance(model, ESNDecoder):
        return model
    path = pathlib.Path(model)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no saved model folder here (ESNDecoder.save)")
    return ESNDecoder.load(path)


def _clip_list(clips: Sequence[int], ds: xr.Dataset, what: str) -> list[int]:
    out = [int(c) for c in clips]
    n = ds.sizes["clip"]
    if not out:
        raise ValueError(f"no {what} clips given")
    bad = [c for c in out if not 0 <= c < n]
    if bad:
        raise ValueError(f"{what} clips {bad} outside the store's clips 0-{n - 1}")
    return out


def _write_text(path: pathlib.Path, text: str) -> pathlib.Path:
    """Write a text file atomically (:func:`vocalpy_xai.io.atomic.write_text`)."""
    from ..io.atomic import write_text

    return write_text(path, text)


def _write_csv(df: pd.DataFrame, path: pathlib.Path) -> pathlib.Path:
    return _write_text(path, df.to_csv(index=False, float_format="%.6g"))


def same_architecture(model: ESNDecoder) -> ESNDecoder:
    """An untrained ESNDecoder with ``model``'s hyper-parameters, features and post-processing."""
    config = model.features.to_dict()
    config["mean_"] = config["std_"] = None  # refitted on the new training clips
    return ESNDecoder(model.params, BandFeatures.from_dict(config), model.postprocess)


# ------------------------------------------------------------------------------ scoring
def predict_clips(
    model: ESNDecoder, store: str | os.PathLike | xr.Dataset, clips
) -> ClipPredictions:
    """Annotate store clips with a model (:meth:`ESNDecoder.predict` on each clip's spectrogram).

    The reference frame labels are the store's at the model frames' times (every
    ``stride``-th spectrogram frame, :func:`vocalpy_xai.store.frame_times`).
    """
    from ..store.dataset import ClipReader
    from .loop import truth_tables

    ds = _open(store)
    clips = _clip_list(clips, ds, "prediction")
    reader = ClipReader(ds)
    freqs = ds["freq"].values
    stride = model.features.stride
    preds, yt, yp, probs = [], [], [], {}
    for c in clips:
        result = model.predict(reader.spectrogram(c), freqs)
        labels = result.frame_labels
        preds.append(result.segments)
        y = reader.frame_labels(c)[::stride][: len(labels)]
        yt.append(y)
        yp.append(labels[: len(y)])
        probs[c] = result.probabilities
    return ClipPredictions(clips, truth_tables(ds, clips), preds, yt, yp, probs)


def score_predictions(model: ESNDecoder, cp: ClipPredictions) -> dict:
    """Every metric of :func:`~vocalpy_xai.metrics.evaluate`, frames and syllables included."""
    from ..metrics import evaluate

    truth, pred = cp.truth, cp.pred
    if model.time_offset_:
        # evaluate() puts frame i at i * frame_s (no offset): move both annotations to that
        # clock (every other metric depends on differences of times only)
        def shift(t: SegmentTable) -> SegmentTable:
            dt = model.time_offset_
            return attrs.evolve(t, onsets_s=t.onsets_s - dt, offsets_s=t.offsets_s - dt)

        truth, pred = [shift(t) for t in truth], [shift(p) for p in pred]
    return evaluate(truth, pred, cp.y_true, cp.y_pred, model.class_names_, frame_s=model.frame_s_)


def headline(metrics: dict) -> dict[str, float]:
    """The scalar metrics of an :func:`~vocalpy_xai.metrics.evaluate` result, by name."""
    b, e = metrics["boundaries"], metrics["boundary_errors"]
    out = {
        "syllable error rate": metrics["syllable_error_rate"],
        "frame error": 1.0 - metrics["frames"]["accuracy"],
        "frame accuracy": metrics["frames"]["accuracy"],
        "syllable accuracy (majority of frames)": (metrics.get("segments") or {}).get("accuracy"),
        "boundary precision (10 ms)": b.get("precision"),
        "boundary recall (10 ms)": b.get("recall"),
        "boundary F1 (10 ms)": b.get("f1"),
        "median onset error (ms)": _ms(e.get("median_onset_error_s")),
        "median offset error (ms)": _ms(e.get("median_offset_error_s")),
        "true syllables": metrics["n_true_segments"],
        "predicted syllables": metrics["n_pred_segments"],
        "files": metrics["n_files"],
    }
    return {k: v for k, v in out.items() if v is not None}


def _ms(x):
    return None if x is None else 1e3 * x


def per_class_table(metrics: dict) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support of syllables and of frames, one row per class."""
    parts = []
    for level, records in (
        ("syllables", (metrics.get("segments") or {}).get("per_class")),
        ("frames", metrics["frames"]["per_class"]),
    ):
        if records:
            parts.append(pd.DataFrame(records).set_index("class").add_prefix(f"{level} "))
    return pd.concat(parts, axis=1).reset_index()


# ------------------------------------------------------------------------------ learning curve
def training_subsets(
    train_clips: Sequence[int], fractions: Sequence[float], seed: int = 0
) -> list[list[int]]:
    """Nested subsets of the TRAIN files: the first ``round(f * n)`` of a seeded permutation.

    The subset of fraction 1 is ``train_clips`` itself, in its order (so the last point of a
    learning curve is the model trained on every TRAIN file).
    """
    train = [int(c) for c in train_clips]
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"learning-curve fractions must be in (0, 1], got {f}")
    order = [int(c) for c in np.random.default_rng(seed).permutation(train)]
    out = []
    for f in fractions:
        n = max(1, int(round(f * len(train))))
        out.append(train if n == len(train) else sorted(order[:n]))
    return out


def compute_learning_curve(
    model: ESNDecoder,
    store: str | os.PathLike | xr.Dataset,
    train_clips: Sequence[int],
    test_clips: Sequence[int],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """TEST scores of ESNs like ``model`` trained on growing shares of the TRAIN files.

    Parameters
    ----------
    model : ESNDecoder
        Gives the hyper-parameters, features and post-processing of every point. A point
        whose training files are exactly ``model``'s is ``model`` itself (not retrained).
    store : path or xarray.Dataset
    train_clips, test_clips : sequence of int
    fractions : sequence of float
        Shares of the TRAIN files, in (0, 1] (subsets are nested, :func:`training_subsets`).
    seed : int
        Seed of the file order of the subsets.
    progress : bool
        Show a progress bar over the points.

    Returns
    -------
    pandas.DataFrame
        ``fraction``, ``n_files``, ``train_seconds`` (of audio), ``syllable_error_rate``,
        ``frame_error``, ``boundary_f1``, ``train_cpu_s``, ``retrained``.
    """
    from tqdm.auto import tqdm

    ds = _open(store)
    test = _clip_list(test_clips, ds, "test")
    subsets = training_subsets(_clip_list(train_clips, ds, "train"), fractions, seed)
    trained_on = sorted(int(c) for c in model.training_.get("clips", []))
    durations = ds["duration_s"].values
    rows = []
    for f, clips in zip(
        fractions,
        tqdm(subsets, desc="learning curve", unit="model", disable=not progress),
        strict=True,
    ):
        reuse = sorted(clips) == trained_on
        m = model if reuse else same_architecture(model).fit(ds, clips, progress=False)
        scores = score_predictions(m, predict_clips(m, ds, test))
        rows.append(
            {
                "fraction": float(f),
                "n_files": len(clips),
                "train_seconds": float(durations[clips].sum()),
                "syllable_error_rate": scores["syllable_error_rate"],
                "frame_error": 1.0 - scores["frames"]["accuracy"],
                "boundary_f1": scores["boundaries"]["f1"],
                "train_cpu_s": float(m.training_["cpu_seconds"]),
                "retrained": not reuse,
            }
        )
    return pd.DataFrame(rows)


def plot_learning_curve(curve: pd.DataFrame):
    """TEST syllable error rate and frame error (%) against the number of TRAIN files."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = curve["n_files"].to_numpy()
    for col, name, marker in (
        ("syllable_error_rate", "syllable error rate", "o"),
        ("frame_error", "frame error", "s"),
    ):
        y = 100 * curve[col].to_numpy(dtype=float)
        ax.plot(x, y, marker=marker, label=name)
        for xi, yi in zip(x, y, strict=True):
            ax.annotate(
                f"{yi:.1f}",
                (xi, yi),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    ax.set_xticks(x, [f"{n}\n({100 * f:.0f} %)" for n, f in zip(x, curve["fraction"], strict=True)])
    ax.set_xlabel("TRAIN files (share)")
    ax.set_ylabel("TEST error (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ worst errors
def worst_errors(
    model: ESNDecoder, store: str | os.PathLike | xr.Dataset, cp: ClipPredictions, n: int = 8
) -> pd.DataFrame:
    """The ``n`` TEST syllables the model gets most wrong (finder score, rank 1 first).

    Only errors: syllables whose majority model label differs from the human label (a
    syllable the model labels right on most frames is not an error, however doubtful).
    Columns as a review list (:data:`~vocalpy_xai.review.REVIEW_COLUMNS`) plus ``error``:
    ``label`` (another syllable class) or ``missed`` (background). Insertions (model syllables over
    background) are not segments of the reference: they count in the syllable error rate
    and show in the crops, but are not ranked here.
    """
    ds = _open(store)
    pred = FramePredictions(
        list(model.class_names_),
        model.frame_s_,
        model.time_offset_,
        {c: [p] for c, p in cp.probs.items()},
    )
    review = score_segments(store_segments(ds, cp.clips), pred)
    # errors only: the model's majority label differs from the human one
    errors = (review["disagreement"] > 0) & (review["model_label"] != review["human_label"])
    review = review[errors].head(int(n)).copy()
    background = model.class_names_[0]
    review["error"] = np.where(review["model_label"] == background, "missed", "label")
    return review.reset_index(drop=True)


def plot_error_crop(
    ds: xr.Dataset,
    row,
    truth: SegmentTable,
    pred: SegmentTable,
    pad_s: float = CROP_PAD_S,
    colors: dict | None = None,
):
    """A spectrogram crop around one syllable: human segments (boxes, labels on top),
    model segments (bars, labels below) and the syllable itself (dashed white)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    clip = int(row.clip)
    dt = store_frame_s(ds)
    n = int(ds["n_frames"].values[clip])
    t0 = max(0.0, float(row.onset_s) - pad_s)
    t1 = min(n * dt, float(row.offset_s) + pad_s)
    i0, i1 = int(t0 / dt), max(int(np.ceil(t1 / dt)), int(t0 / dt) + 2)
    spect = ds["spectrogram"].isel(clip=clip, time=slice(i0, i1)).values
    freqs = ds["freq"].values / 1e3
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    vmax = float(np.nanmax(spect))
    image = ax.imshow(
        spect,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=vmax - 70,
        vmax=vmax,
        extent=(i0 * dt, i1 * dt, freqs[0], freqs[-1]),
    )
    ax.figure.colorbar(image, ax=ax, label="dB", pad=0.01, fraction=0.03)
    top = float(freqs[-1])
    names = list(truth.labels) + list(pred.labels) + [row.human_label, row.model_label]
    colors = colors or label_colors(names)
    for a, b, lab in zip(truth.onsets_s, truth.offsets_s, truth.labels, strict=True):
        if b < t0 or a > t1:
            continue
        c = colors.get(str(lab), "w")
        ax.add_patch(Rectangle((a, top * 0.25), b - a, top * 0.75, fill=False, lw=1.2, edgecolor=c))
        ax.text(
            (a + b) / 2,
            top * 0.97,
            str(lab),
            ha="center",
            va="top",
            fontsize=8,
            color="white",
            bbox={"facecolor": c, "pad": 1, "lw": 0},
            clip_on=True,
        )
    for a, b, lab in zip(pred.onsets_s, pred.offsets_s, pred.labels, strict=True):
        if b < t0 or a > t1:
            continue
        ax.plot([a, b], [top * 0.08] * 2, lw=6, color="cyan", solid_capstyle="butt")
        ax.text(
            (a + b) / 2, top * 0.13, str(lab), color="cyan", ha="center", fontsize=8, clip_on=True
        )
    ax.add_patch(
        Rectangle(
            (row.onset_s, 0),
            row.offset_s - row.onset_s,
            top,
            fill=False,
            lw=1.5,
            ls="--",
            edgecolor="white",
        )
    )
    ax.set_xlim(t0, t1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("kHz")
    name = pathlib.Path(str(row.audio_path)).name
    ax.set_title(
        f"#{row.rank} {name} {row.onset_s:.2f}-{row.offset_s:.2f} s: human '{row.human_label}', "
        f"model '{row.model_label}' (score {row.score:.2f})",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ the report
def _split_text(model: ESNDecoder, train: list[int], test: list[int]) -> str:
    p = model.params
    trained_on = sorted(int(c) for c in model.training_.get("clips", []))
    text = (
        f"ESNDecoder ({p.units} units, leak {p.leak_rate}, spectral radius "
        f"{p.spectral_radius}, ridge {p.ridge:g}, seed {p.seed}), trained on "
        f"{len(trained_on)} files in {model.training_.get('cpu_seconds', float('nan')):.1f} s CPU; "
        f"TRAIN: {len(train)} files, TEST: {len(test)} files."
    )
    if trained_on != sorted(train):
        text += " Note: the model's training files differ from the TRAIN files given."
    if set(trained_on) & set(test):
        text += " Warning: the model was trained on some TEST files; its scores are optimistic."
    return text


def run_report(
    model: ESNDecoder | str | os.PathLike,
    store_ds: str | os.PathLike | xr.Dataset,
    train_clips: Sequence[int],
    test_clips: Sequence[int],
    out_dir: str | os.PathLike,
    learning_curve: Sequence[float] | None = DEFAULT_FRACTIONS,
    n_worst: int = 8,
    seed: int = 0,
    title: str | None = None,
    report: Report | None = None,
    prefix: str = "",
    progress: bool = True,
) -> RunReport:
    """Write the HTML report of one model run: metrics, per-class table, confusion
    matrices, learning curve and worst errors.

    Parameters
    ----------
    model : ESNDecoder or path
        A trained model, or its saved folder (:meth:`ESNDecoder.save`, a registry
        version's ``model/`` folder).
    store_ds : path or xarray.Dataset
        The annotated store the model was trained on (its spectrogram parameters).
    train_clips, test_clips : sequence of int
        TRAIN files (for the learning curve) and TEST files (every score).
    out_dir : path
        Folder of the report (created): ``index.html``, PNGs, ``metrics.json``,
        ``per_class.csv``, ``learning_curve.csv``, ``worst_errors.csv``.
    learning_curve : sequence of float, optional
        Shares of the TRAIN files to train on (ESNs of the model's hyper-parameters,
        nested subsets); None or empty: no curve. A share whose files are exactly the
        model's training files reuses the model.
    n_worst : int
        Worst TEST syllables to show (0: none).
    seed : int
        Seed of the learning curve's subsets.
    title : str, optional
        Page title (default: "Model run report").
    report : Report, optional
        Add the sections to this report (e.g. the demo's) instead of a new one in
        ``out_dir``; figures go to its folder, data files to ``out_dir``. It is not
        written: call ``report.write()``.
    prefix : str
        Prefix of figure file names and section titles (several runs in one report).
    progress : bool
        Progress bars (learning curve).

    Returns
    -------
    RunReport

    Examples
    --------
    >>> rr = run_report("models/esn-bird0", "bird0.zarr", range(14), range(14, 20), "run-report")
    >>> rr.index
    PosixPath('run-report/index.html')
    """
    model = _load_model(model)
    ds = _open(store_ds)
    train = _clip_list(train_clips, ds, "train")
    test = _clip_list(test_clips, ds, "test")
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    own = report is None
    report = Report(out, title=title or "Model run report") if own else report
    stem = f"{prefix}-" if prefix else ""
    head = f"{prefix}: " if prefix else ""
    figures: dict[str, pathlib.Path] = {}
    files: dict[str, pathlib.Path] = {}

    from ..metrics import plot_confusion_matrix

    # -- metrics on TEST
    cp = predict_clips(model, ds, test)
    metrics = score_predictions(model, cp)
    files["metrics.json"] = _write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    sec: Section = report.section(f"{head}model run on TEST")
    sec.text(_split_text(model, train, test))
    sec.table(pd.DataFrame({"value": headline(metrics)}), caption="Scores on the TEST files")
    per_class = per_class_table(metrics)
    files["per_class.csv"] = _write_csv(per_class, out / "per_class.csv")
    sec.table(per_class, caption="Per-class precision, recall and F1 on TEST (syllables, frames)")
    names = metrics["class_names"]
    if metrics.get("segments"):
        cm = np.asarray(metrics["segments"]["confusion_matrix"])
        figures["confusion_syllables"] = sec.figure(
            plot_confusion_matrix(cm, names, title="TEST syllables (majority of frames)"),
            f"{stem}confusion-syllables.png",
            caption="Confusion matrix of TEST syllables: each labelled by the majority of the "
            "model's frames inside it (rows: human label)",
        )
    cm = np.asarray(metrics["frames"]["confusion_matrix"])
    figures["confusion_frames"] = sec.figure(
        plot_confusion_matrix(cm, names, title="TEST frames"),
        f"{stem}confusion-frames.png",
        caption="Confusion matrix of TEST frames (background included)",
    )

    # -- learning curve
    curve = pd.DataFrame()
    if learning_curve:
        curve = compute_learning_curve(
            model, ds, train, test, tuple(learning_curve), seed=seed, progress=progress
        )
        files["learning_curve.csv"] = _write_csv(curve, out / "learning_curve.csv")
        sec = report.section(f"{head}learning curve")
        sec.text(
            "ESNs of the same hyper-parameters trained on nested, seeded subsets of the TRAIN "
            "files and scored on the same TEST files. A curve still falling at 100 % says "
            "more annotated songs would help."
        )
        figures["learning_curve"] = sec.figure(
            plot_learning_curve(curve),
            f"{stem}learning-curve.png",
            caption="TEST syllable error rate and frame error against TRAIN size",
        )
        sec.table(curve, caption="Learning curve")

    # -- worst errors
    worst = pd.DataFrame()
    if n_worst > 0:
        worst = worst_errors(model, ds, cp, n_worst)
        sec = report.section(f"{head}worst errors on TEST")
        if len(worst):
            sec.text(
                "TEST syllables ranked by the disagreement finder's score with this model as "
                "its only member. Boxes (top): human syllables; cyan bars (bottom): the model's; "
                "dashed: the syllable ranked."
            )
            index = {c: i for i, c in enumerate(cp.clips)}
            colors = label_colors(names[1:])
            crops = []
            for row in worst.itertuples(index=False):
                i = index[int(row.clip)]
                name = f"{stem}worst-{int(row.rank):03d}.png"
                fig = plot_error_crop(ds, row, cp.truth[i], cp.pred[i], colors=colors)
                figures[name.removesuffix(".png")] = sec.figure(
                    fig,
                    name,
                    caption=f"rank {row.rank}: {row.error} error, human '{row.human_label}' "
                    f"-> model '{row.model_label}', {100 * row.disagreement:.0f} % of frames "
                    "disagree",
                )
                crops.append(name)
            worst["figure"] = crops
            sec.table(
                worst[
                    [
                        "rank",
                        "audio_path",
                        "onset_s",
                        "offset_s",
                        "human_label",
                        "model_label",
                        "error",
                        "score",
                        "disagreement",
                        "figure",
                    ]
                ],
                caption="Worst TEST syllables",
            )
        else:
            sec.text("The model agrees with every TEST syllable on every frame.")
        files["worst_errors.csv"] = _write_csv(worst, out / "worst_errors.csv")

    index = report.write() if own else report.out_dir / "index.html"
    return RunReport(index, out, metrics, curve, worst, figures, files)
