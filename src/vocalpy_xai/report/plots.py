"""Figures of a spectrogram store: spectrograms with annotations, label counts, durations.

Every function takes a store (``xarray.Dataset`` from :func:`vocalpy_xai.store.open_store`)
and returns a :class:`matplotlib.figure.Figure`; :func:`save` writes it as PNG.
Only the clips drawn are read from the store.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")  # reports are written headless
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.patches import Rectangle

from ..io.manifest import natural_key


def save(fig: plt.Figure, path: str | pathlib.Path, dpi: int = 110) -> pathlib.Path:
    """Save a figure as PNG (atomically) and close it."""
    from ..io.atomic import atomic_file

    path = pathlib.Path(path)
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def label_colors(names) -> dict[str, tuple]:
    """A fixed colour per label name (tab10/tab20 cycled)."""
    names = sorted({str(n) for n in names}, key=natural_key)
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _clip_image(ds: xr.Dataset, clip: int, t_max: float | None = None):
    from ..store.dataset import store_frame_s

    n = int(ds["n_frames"].values[clip])
    if t_max is not None:
        n = min(n, int(t_max / store_frame_s(ds)) + 1)
    spect = ds["spectrogram"].isel(clip=clip, time=slice(0, n)).values
    times = ds["time"].values[:n]
    freqs = ds["freq"].values
    return spect, times, freqs


def plot_spectrogram(
    ds: xr.Dataset,
    clip: int,
    ax: plt.Axes | None = None,
    t_max: float | None = None,
    title: str | None = None,
    colors: dict | None = None,
) -> plt.Figure:
    """One clip's spectrogram, in seconds and kHz, with its annotated segments overlaid.

    Segments are drawn as coloured boxes spanning the frequency axis, labelled on top; a
    colour bar gives the values in dB.
    """
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(12, 3.2))
    spect, times, freqs = _clip_image(ds, clip, t_max)
    vmax = np.nanmax(spect)
    image = ax.imshow(
        spect,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(times[0], times[-1], freqs[0] / 1e3, freqs[-1] / 1e3),
        vmin=vmax - 70,
        vmax=vmax,
    )
    ax.figure.colorbar(image, ax=ax, label="dB", pad=0.01, fraction=0.03)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    if "segment_clip" in ds:
        sel = ds["segment_clip"].values == clip
        on = ds["segment_onset_s"].values[sel]
        off = ds["segment_offset_s"].values[sel]
        labels = ds["segment_label"].values[sel]
        colors = colors or label_colors(ds["segment_label"].values)
        top = freqs[-1] / 1e3
        for a, b, lab in zip(on, off, labels, strict=True):
            if a > times[-1]:
                break
            ax.add_patch(
                Rectangle(
                    (a, 0), b - a, top, fill=False, lw=1.2, edgecolor=colors[str(lab)], alpha=0.9
                )
            )
            ax.text(
                (a + b) / 2,
                top * 0.97,
                str(lab),
                ha="center",
                va="top",
                fontsize=8,
                color="white",
                bbox={"facecolor": colors[str(lab)], "pad": 1, "lw": 0},
            )
    if title:
        ax.set_title(title, fontsize=9)
    return fig if fig is not None else ax.figure


def plot_clip_grid(ds: xr.Dataset, clips, titles, ncols: int = 2) -> plt.Figure:
    """Several clips' spectrograms in a grid, one title each (e.g. species + attribution)."""
    clips = list(clips)
    nrows = int(np.ceil(len(clips) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.5 * ncols, 2.6 * nrows), squeeze=False)
    for ax, clip, title in zip(axes.flat, clips, titles, strict=False):
        plot_spectrogram(ds, clip, ax=ax, title=title)
    for ax in list(axes.flat)[len(clips) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def label_counts(ds: xr.Dataset) -> pd.Series:
    """Count of segments per label (annotated stores) or of clips per label (clip labels)."""
    if "segment_label" in ds:
        values = ds["segment_label"].values
    elif "label" in ds:
        values = ds["label"].values
    else:
        return pd.Series(dtype=int)
    counts = pd.Series(values.astype(str)).value_counts()
    return counts.reindex(sorted(counts.index, key=natural_key))


def plot_label_counts(ds: xr.Dataset, what: str = "segments") -> plt.Figure:
    """Bar chart of :func:`label_counts`."""
    counts = label_counts(ds)
    colors = label_colors(counts.index)
    fig, ax = plt.subplots(figsize=(max(4, 0.55 * len(counts) + 1.5), 3.2))
    ax.bar(range(len(counts)), counts.values, color=[colors[k] for k in counts.index])
    ax.set_xticks(
        range(len(counts)),
        counts.index,
        rotation=45 if len(counts) > 9 else 0,
        ha="right" if len(counts) > 9 else "center",
    )
    ax.set_ylabel(f"number of {what}")
    for i, v in enumerate(counts.values):
        ax.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    return fig


def plot_durations(ds: xr.Dataset) -> plt.Figure:
    """Histogram of clip durations and, when annotated, of segment durations per label."""
    annotated = "segment_label" in ds
    fig, axes = plt.subplots(
        1, 2 if annotated else 1, figsize=(11 if annotated else 5.5, 3.2), squeeze=False
    )
    axes = axes[0]
    axes[0].hist(ds["duration_s"].values, bins=20, color="0.4")
    axes[0].set_xlabel("clip duration (s)")
    axes[0].set_ylabel("clips")
    if annotated:
        dur = (ds["segment_offset_s"].values - ds["segment_onset_s"].values) * 1e3
        labels = ds["segment_label"].values.astype(str)
        names = sorted(set(labels), key=natural_key)
        colors = label_colors(names)
        bins = np.linspace(0, np.percentile(dur, 99.5), 40)
        for name in names:
            axes[1].hist(
                dur[labels == name],
                bins=bins,
                histtype="step",
                lw=1.5,
                color=colors[name],
                label=name,
            )
        axes[1].set_xlabel("segment duration (ms)")
        axes[1].set_ylabel("segments")
        axes[1].legend(title="label", fontsize=7, ncols=2)
    fig.tight_layout()
    return fig
