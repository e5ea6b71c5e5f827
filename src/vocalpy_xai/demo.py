"""The end-to-end demo on the example data bundled with the repository.

``vocalpy-xai demo --out demo-output`` runs every stage in :data:`STAGES` in order on a
:class:`DemoContext`. Each stage reads what earlier stages left in the context (manifests,
stores) and adds its section to the one HTML report, so later features extend the demo by
adding a stage, not by rewriting it.

Re-running the demo reuses stores it already built (they are opened, not rebuilt) and
rewrites the report.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from .errors import StoreError
from .io.manifest import Manifest
from .report import Report, plot_clip_grid, plot_durations, plot_label_counts, plot_spectrogram
from .store import SpectrogramParams, build_store, clip_segments, open_store
from .store.dataset import store_frame_s

#: the repository's bundled example data (examples/data), when running from a checkout
DEFAULT_DATA = pathlib.Path(__file__).resolve().parents[2] / "examples" / "data"

BIRD0_PARAMS = SpectrogramParams(samplerate=32000, n_fft=512, hop_length=64)
XC10_PARAMS = SpectrogramParams(samplerate=32000, n_fft=512, hop_length=160, fmin=300, fmax=12000)


@attrs.define
class DemoContext:
    """What the demo's stages share."""

    out: pathlib.Path
    data: pathlib.Path
    report: Report
    progress: bool = True
    manifests: dict[str, Manifest] = attrs.field(factory=dict)
    stores: dict[str, pathlib.Path] = attrs.field(factory=dict)
    models: dict[str, pathlib.Path] = attrs.field(factory=dict)
    timings: dict[str, float] = attrs.field(factory=dict)

    def log(self, message: str) -> None:
        if self.progress:
            print(message, flush=True)


def build_or_open(
    manifest: Manifest, path: pathlib.Path, params: SpectrogramParams, progress: bool
) -> xr.Dataset:
    """Open the store at ``path`` if it is complete, else build it from ``manifest``."""
    try:
        ds = open_store(path)
        if len(ds["clip"]) == len(manifest):
            return ds
    except StoreError:
        pass
    report = build_store(manifest, path, params, overwrite=path.exists(), progress=progress)
    if report.failures:
        print(report.summary())
    return open_store(path)


# ------------------------------------------------------------------------------- stages
def stage_stores(ctx: DemoContext) -> None:
    """Manifests and spectrogram stores of the two bundled data sets."""
    bird0 = Manifest.from_annotation_file(
        ctx.data / "bird0" / "Annotation.xml", "birdsong-recognition-dataset"
    )
    xc10 = Manifest.from_label_table(
        ctx.data / "xeno_canto_10_species" / "labels.csv",
        audio_column="mp3_file",
        label_column="common_name",
    )
    for name, manifest, params in (("bird0", bird0, BIRD0_PARAMS), ("xc10", xc10, XC10_PARAMS)):
        ctx.manifests[name] = manifest
        manifest.write(ctx.out / "manifests" / f"{name}.csv")
        path = ctx.out / "stores" / f"{name}.zarr"
        ctx.log(f"[demo] store {path} ({len(manifest)} files)")
        t0 = time.perf_counter()
        build_or_open(manifest, path, params, ctx.progress)
        ctx.timings[f"store {name}"] = time.perf_counter() - t0
        ctx.stores[name] = path


def _store_table(ds: xr.Dataset) -> pd.DataFrame:
    params = ds.attrs["spectrogram_params"]
    rows = {
        "clips": ds.sizes["clip"],
        "total duration (s)": float(ds["duration_s"].sum()),
        "sample rate (Hz)": ds.attrs["samplerate"],
        "frequency bins": ds.sizes["freq"],
        "frame step (ms)": 1e3 * store_frame_s(ds),
        "resampled clips": int(ds["resampled"].sum()),
        "downmixed clips": int(ds["downmixed"].sum()),
        "spectrogram parameters": params,
    }
    if "segment_label" in ds:
        rows["annotated segments"] = ds.sizes["segment"]
        rows["classes (frame labels)"] = ", ".join(ds["class"].values)
    return pd.DataFrame({"value": rows})


def stage_data_report(ctx: DemoContext) -> None:
    """Spectrograms with annotations, label counts and duration histograms of each store."""
    ds = open_store(ctx.stores["bird0"])
    sec = ctx.report.section("Bengalese finch Bird0: 20 annotated songs")
    sec.text(
        "Koumura & Okanoya (2016), CC BY 4.0. Frame labels in the store are aligned to "
        "the syllables of Annotation.xml; frames outside syllables are 'background'."
    )
    sec.table(_store_table(ds), caption="Store summary")
    for clip in range(3):
        name = pathlib.Path(str(ds["source_path"].values[clip])).name
        fig = plot_spectrogram(ds, clip, title=f"{name}: spectrogram with annotated syllables")
        sec.figure(fig, f"bird0-song{clip}.png", caption=f"Bird0 {name} with its syllables")
    sec.figure(
        plot_label_counts(ds, "syllables"), "bird0-label-counts.png", caption="Syllables per label"
    )
    sec.figure(
        plot_durations(ds),
        "bird0-durations.png",
        caption="Song durations and syllable durations per label",
    )

    ds = open_store(ctx.stores["xc10"])
    sec = ctx.report.section("xeno-canto: 10 species x 10 clips")
    sec.text(
        "Clips of about 6 s cut from xeno-canto recordings by the phoebe project; each "
        "recordist and licence is listed (CC BY-NC-SA / CC BY-SA). MP3 at 44.1 and 48 kHz, "
        "some stereo: resampled to 32 kHz and downmixed, as recorded in the store."
    )
    sec.table(_store_table(ds), caption="Store summary")
    labels = ds["label"].values.astype(str)
    first = [int(np.flatnonzero(labels == name)[0]) for name in sorted(set(labels))]
    titles = [
        f"{labels[i]} — XC{ds['meta_xc_id'].values[i]}, {ds['meta_recordist'].values[i]}"
        for i in first
    ]
    sec.figure(
        plot_clip_grid(ds, first, titles),
        "xc10-species.png",
        caption="One clip per species (recordist credited)",
    )
    sec.figure(plot_label_counts(ds, "clips"), "xc10-label-counts.png", caption="Clips per species")
    sec.figure(plot_durations(ds), "xc10-durations.png", caption="Clip durations")
    credits = pd.DataFrame(
        {
            "species": labels,
            "xeno-canto": [f"XC{x}" for x in ds["meta_xc_id"].values],
            "recordist": ds["meta_recordist"].values,
            "licence": ds["meta_license"].values,
            "url": ds["meta_xc_url"].values
            if "meta_xc_url" in ds
            else [f"https://xeno-canto.org/{x}" for x in ds["meta_xc_id"].values],
        }
    )
    sec.table(
        credits,
        caption=f"Attribution of every clip ({len(credits)} recordings, licence per recording)",
        folded=True,
        links={"xeno-canto": "url"},
    )


def stage_esn(ctx: DemoContext) -> None:
    """Train an ESNDecoder on 14 bundled Bird0 songs, annotate the other 6 from their audio."""
    from .io import write_annotations
    from .metrics import evaluate
    from .models import ESNDecoder

    ds = open_store(ctx.stores["bird0"])
    train, held_out = list(range(14)), list(range(14, ds.sizes["clip"]))
    model = ESNDecoder().fit(ds, train, progress=ctx.progress)
    model_dir = ctx.out / "models" / f"esn-bird0-{model.training_['data_sha256'][:12]}"
    truth, preds = [], []
    annot_dir = ctx.out / "annotations"
    for clip in held_out:
        audio = str(ds["source_path"].values[clip])
        seg = model.predict(audio).segments
        preds.append(seg)
        truth.append(clip_segments(ds, clip))
        out = annot_dir / (pathlib.Path(audio).name + ".esn.csv")
        write_annotations(seg.to_annotation(audio), out, "simple-seq", overwrite=True)
    metrics = evaluate(truth, preds)
    if not model_dir.exists():
        model.save(model_dir, metrics=metrics)
    ctx.models["esn"] = model_dir
    sec = ctx.report.section("Annotation model: ESNDecoder (echo state network)")
    sec.text(
        f"Trained in {model.training_['cpu_seconds']:.1f} s of CPU on songs 0-13 "
        f"({float(ds['duration_s'].values[train].sum()):.0f} s of song); annotations of songs "
        f"14-19 written to {annot_dir} (crowsetta simple-seq); model saved in {model_dir}. "
        "Its scores on songs 14-19, per-class table, confusion matrices, learning curve and "
        "worst errors are the run report's sections below (`esn: ...`), the one place they "
        "are computed."
    )
    fig = plot_spectrogram(ds, held_out[0], title="Song 14: human annotation (boxes)")
    ax = fig.axes[0]
    top = float(ds["freq"].values[-1]) / 1e3
    for a, b, lab in zip(preds[0].onsets_s, preds[0].offsets_s, preds[0].labels, strict=True):
        ax.plot([a, b], [top * 0.06] * 2, lw=5, color="cyan", solid_capstyle="butt")
        ax.text((a + b) / 2, top * 0.1, str(lab), color="cyan", ha="center", fontsize=8)
    sec.figure(
        fig,
        "esn-song14.png",
        caption="Song 14: human syllables (boxes, top) and ESNDecoder's (cyan, bottom)",
    )
    from .review import run_report

    run_report(
        model,
        ds,
        train,
        held_out,
        ctx.out / "run-report",
        report=ctx.report,
        prefix="esn",
        progress=ctx.progress,
    )


def stage_loop(ctx: DemoContext) -> None:
    """The canapy loop once on Bird0: 5 % label noise on TRAIN, disagreement finder,
    simulated review, retrain; both models in a local registry."""
    from .review import run_loop_once

    ds = open_store(ctx.stores["bird0"])
    train, held_out = list(range(14)), list(range(14, ds.sizes["clip"]))
    result = run_loop_once(
        ctx.stores["bird0"],
        train,
        held_out,
        ctx.out / "loop",
        progress=ctx.progress,
        report=ctx.report,
        overwrite=True,
    )
    s = result["noise"]
    ctx.log(
        f"[demo] loop: {s['injected_in_reviewed']}/{s['n_injected']} relabelled syllables "
        f"found; registry {result['registry_root']}"
    )


#: the demo's AudioProtoNet: small enough to train in about a minute on one CPU core
PROTONET_PARAMS = {
    "arch": "audio",
    "prototypes_per_class": 3,
    "channels": (8, 16, 32, 32),
    "prototype_dim": 32,
    "epochs": 6,
    "warmup_epochs": 1,
    "last_layer_epochs": 3,
    "max_seconds": 60.0,
    "seed": 0,
    "num_threads": 1,
}
#: syllable windows of the prototype stage (s): the syllable and some context
PROTONET_WINDOW_S = 0.2


def _windows_sha256(X: np.ndarray, params: dict) -> str:
    import hashlib
    import json

    h = hashlib.sha256(np.ascontiguousarray(X).tobytes())
    h.update(json.dumps(params, sort_keys=True, default=list).encode())
    return h.hexdigest()


def stage_prototypes(ctx: DemoContext) -> None:
    """Train an AudioProtoNet on the syllables of songs 0-13, classify and explain 14-19."""
    from .clips import SYLLABLE_PARAMS, syllable_windows
    from .metrics import confusion_matrix, per_class_scores, plot_confusion_matrix
    from .protonet import AudioProtoNet, ProtoNetParams
    from .protonet.report import explanation_report

    path = ctx.out / "stores" / "bird0-syllables.zarr"
    ctx.log(f"[demo] syllable store {path} (500-10000 Hz, 2-ms frames)")
    ds = build_or_open(ctx.manifests["bird0"], path, SYLLABLE_PARAMS, ctx.progress)
    ctx.stores["bird0-syllables"] = path
    train_clips, test_clips = range(14), range(14, ds.sizes["clip"])
    train = syllable_windows(ds, train_clips, width_s=PROTONET_WINDOW_S)
    test = syllable_windows(ds, test_clips, width_s=PROTONET_WINDOW_S, labels=train.class_names)
    params = ProtoNetParams(**PROTONET_PARAMS)
    digest = _windows_sha256(train.X, params.to_dict())[:12]
    model_dir = ctx.out / "models" / f"protonet-bird0-{digest}"
    if (model_dir / "config.json").exists():
        ctx.log(f"[demo] AudioProtoNet: reusing {model_dir}")
        model = AudioProtoNet.load(model_dir)
    else:
        ctx.log(f"[demo] AudioProtoNet: training on {len(train)} syllables")
        model = AudioProtoNet(params).fit(**train.fit_kwargs(), progress=ctx.progress)
    pred = model.predict(test.X)
    scores = per_class_scores(test.y, pred, train.class_names, ignore_index=None)
    metrics = {
        "accuracy": float(np.mean(pred == test.y)),
        "macro_f1": float(scores["f1"].mean()),
        "n_train": len(train),
        "n_test": len(test),
        "per_class": scores.reset_index().to_dict("records"),
    }
    if not model_dir.exists():
        model.save(model_dir, metrics=metrics)
        model.path_ = model_dir
    t = model.training_
    sec = ctx.report.section("Syllable classifier: AudioProtoNet (prototype network)")
    sec.text(
        f"A frequency-aware prototype network (arch='audio', {model.num_prototypes_} "
        f"prototypes, {t['epochs']} epochs, {t['cpu_seconds']:.0f} s of CPU) trained on the "
        f"{len(train)} syllables of songs 0-13 ({PROTONET_WINDOW_S * 1e3:.0f}-ms windows "
        f"centred on each syllable, 500-10000 Hz) and tested on the {len(test)} syllables of "
        f"songs 14-19; model saved in {model_dir}. Every prediction is explained by "
        "prototypes, patches of real training syllables, and where in time and frequency "
        "they matched."
    )
    table = pd.DataFrame(
        {
            "value": {
                "accuracy": metrics["accuracy"],
                "macro F1": metrics["macro_f1"],
                "majority-class accuracy": float(np.bincount(test.y).max() / len(test)),
                "train / test syllables": f"{len(train)} / {len(test)}",
            }
        }
    )
    sec.table(table, caption="Held-out syllables of songs 14-19")
    cm = confusion_matrix(test.y, pred, len(train.class_names), ignore_index=None)
    sec.figure(
        plot_confusion_matrix(cm, train.class_names, title="AudioProtoNet, held-out syllables"),
        "protonet-confusion.png",
        caption="Confusion matrix of held-out syllables (AudioProtoNet)",
    )
    # explain the first held-out syllable of each class
    first = [int(np.flatnonzero(test.y == k)[0]) for k in np.unique(test.y)]
    ids = [
        f"{pathlib.Path(test.sources[i]['source_path']).name}@{test.meta['onset_s'][i]:.3f}s"
        f" ({test.meta['label'][i]})"
        for i in first
    ]
    act = model.explain(
        test.X[first], clip_ids=ids, sources=[test.sources[i] for i in first], top_k=3
    )
    out = explanation_report(
        model,
        train,
        act,
        ctx.report.out_dir / "protonet",
        title="AudioProtoNet: held-out Bird0 syllables explained",
        progress=ctx.progress,
        segments=test,
    )
    rel = out.index.parent.name
    sec.raw_html(
        f'<p><a href="{rel}/index.html">Explanations</a> of one held-out syllable per class '
        f"(similarity maps, source patches, audio) &middot; "
        f'<a href="{rel}/gallery/index.html">prototype gallery</a> &middot; activation '
        f"dataset <code>{rel}/{out.activations.name}</code> (napari plugin)</p>"
    )


#: the demo's stages, run in order; later features append theirs
STAGES: list[Callable[[DemoContext], None]] = [
    stage_stores,
    stage_data_report,
    stage_esn,
    stage_loop,
    stage_prototypes,
]


#: stages that a stage needs to have run before it (names without ``stage_``)
STAGE_NEEDS: dict[str, tuple[str, ...]] = {
    "data_report": ("stores",),
    "esn": ("stores",),
    "loop": ("stores", "esn"),
    "prototypes": ("stores",),
}


def _stages_to_run(names: Sequence[str] | None) -> list[Callable[[DemoContext], None]]:
    by_name = {stage.__name__.removeprefix("stage_"): stage for stage in STAGES}
    if names is None:
        return list(STAGES)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown demo stage(s) {unknown}; the stages are {list(by_name)}")
    wanted = set(names)
    for name in names:
        wanted.update(STAGE_NEEDS.get(name, ()))
    return [stage for name, stage in by_name.items() if name in wanted]


def run_demo(
    out: str | pathlib.Path = "demo-output",
    data: str | pathlib.Path | None = None,
    progress: bool = True,
    stages: Sequence[str] | None = None,
) -> pathlib.Path:
    """Run the demo and return the path of its HTML report.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder: ``manifests/``, ``stores/`` and ``report/index.html``.
    data : str or pathlib.Path, optional
        Folder with ``bird0/`` and ``xeno_canto_10_species/`` (default: the repository's
        ``examples/data``).
    progress : bool
        Print stage names and progress bars.
    stages : sequence of str, optional
        Run only these stages (names of :data:`STAGES` without ``stage_``, e.g. ``["esn"]``)
        and the stages they need (:data:`STAGE_NEEDS`); the report then holds those alone.
        Default: all.
    """
    out = pathlib.Path(out)
    run = _stages_to_run(stages)
    data = pathlib.Path(data) if data is not None else DEFAULT_DATA
    if not (data / "bird0" / "Annotation.xml").exists():
        raise FileNotFoundError(
            f"{data}: example data not found (expected bird0/ and xeno_canto_10_species/); "
            "pass --data pointing at the repository's examples/data"
        )
    ctx = DemoContext(
        out=out, data=data, report=Report(out / "report", "vocalpy-xai demo"), progress=progress
    )
    for stage in run:
        t0 = time.perf_counter()
        stage(ctx)
        ctx.timings[stage.__name__] = time.perf_counter() - t0
    timing = pd.DataFrame({"seconds": ctx.timings})
    ctx.report.section("Run").table(timing, caption="Wall time of each step")
    return ctx.report.write()
