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
from collections.abc import Callable

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from .errors import StoreError
from .io.manifest import Manifest
from .report import Report, plot_clip_grid, plot_durations, plot_label_counts, plot_spectrogram
from .store import SpectrogramParams, build_store, open_store

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
        "frame step (ms)": 1e3 * ds.attrs["frame_duration_s"],
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
        }
    )
    sec.table(credits, caption="Attribution of every clip (licence per recording)")


def stage_esn(ctx: DemoContext) -> None:
    """Train an ESNDecoder on 14 bundled Bird0 songs, annotate the other 6 from their audio."""
    from .io import SegmentTable, write_annotations
    from .metrics import evaluate, plot_confusion_matrix
    from .models import ESNDecoder, to_annotation

    ds = open_store(ctx.stores["bird0"])
    train, held_out = list(range(14)), list(range(14, ds.sizes["clip"]))
    model = ESNDecoder().fit(ds, train, progress=ctx.progress)
    model_dir = ctx.out / "models" / f"esn-bird0-{model.training_['data_sha256'][:12]}"
    truth, preds = [], []
    annot_dir = ctx.out / "annotations"
    for clip in held_out:
        audio = str(ds["source_path"].values[clip])
        seg = model.annotate(audio)
        preds.append(seg)
        sel = ds["segment_clip"].values == clip
        truth.append(
            SegmentTable(
                ds["segment_onset_s"].values[sel],
                ds["segment_offset_s"].values[sel],
                ds["segment_label"].values[sel].astype(str),
            )
        )
        out = annot_dir / (pathlib.Path(audio).name + ".esn.csv")
        write_annotations(to_annotation(seg, audio), out, "simple-seq", overwrite=True)
    metrics = evaluate(truth, preds)
    if not model_dir.exists():
        model.save(model_dir, metrics=metrics)
    sec = ctx.report.section("Annotation model: ESNDecoder (echo state network)")
    sec.text(
        f"Trained in {model.training_['cpu_seconds']:.1f} s of CPU on songs 0-13 "
        f"({float(ds['duration_s'].values[train].sum()):.0f} s of song); annotations of songs "
        f"14-19 written to {annot_dir} (crowsetta simple-seq); model saved in {model_dir}."
    )
    table = pd.DataFrame(
        {
            "value": {
                "syllable error rate": metrics["syllable_error_rate"],
                "boundary F1 (10 ms)": metrics["boundaries"]["f1"],
                "median onset error (ms)": 1e3
                * (metrics["boundary_errors"]["median_onset_error_s"] or 0),
                "median offset error (ms)": 1e3
                * (metrics["boundary_errors"]["median_offset_error_s"] or 0),
                "true / predicted syllables": f"{metrics['n_true_segments']} / {metrics['n_pred_segments']}",
            }
        }
    )
    sec.table(table, caption="Held-out songs 14-19 against Annotation.xml")
    # syllable-level confusion: each true syllable labelled by the majority of the model's
    # frames inside it
    from .metrics import confusion_matrix, segment_level_labels

    names = model.class_names_
    yt, yp = [], []
    for clip, seg in zip(held_out, truth, strict=True):
        n = int(ds["n_frames"].values[clip])
        spect = ds["spectrogram"].isel(clip=clip, time=slice(0, n)).values
        labels, _ = model.predict_frames(spect, ds["freq"].values)
        times = (np.arange(len(labels)) + 0.5) * model.frame_dur_
        t, p = segment_level_labels(seg, labels, times, names)
        yt.append(t)
        yp.append(p)
    cm = confusion_matrix(np.concatenate(yt), np.concatenate(yp), len(names))
    sec.figure(
        plot_confusion_matrix(cm, names, title="Held-out syllables"),
        "esn-confusion.png",
        caption="Confusion matrix of held-out syllables",
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


#: the demo's stages, run in order; later features append theirs
STAGES: list[Callable[[DemoContext], None]] = [stage_stores, stage_data_report, stage_esn]


def run_demo(
    out: str | pathlib.Path = "demo-output",
    data: str | pathlib.Path | None = None,
    progress: bool = True,
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
    """
    out = pathlib.Path(out)
    data = pathlib.Path(data) if data is not None else DEFAULT_DATA
    if not (data / "bird0" / "Annotation.xml").exists():
        raise FileNotFoundError(
            f"{data}: example data not found (expected bird0/ and xeno_canto_10_species/); "
            "pass --data pointing at the repository's examples/data"
        )
    ctx = DemoContext(
        out=out, data=data, report=Report(out / "report", "vocalpy-xai demo"), progress=progress
    )
    for stage in STAGES:
        t0 = time.perf_counter()
        stage(ctx)
        ctx.timings[stage.__name__] = time.perf_counter() - t0
    timing = pd.DataFrame({"seconds": ctx.timings})
    ctx.report.section("Run").table(timing, caption="Wall time of each step")
    return ctx.report.write()
