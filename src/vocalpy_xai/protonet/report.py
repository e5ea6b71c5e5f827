"""Explanations for people: HTML pages with figures and audio of a prototype net's decisions.

:func:`explanation_report` turns an activation dataset (:meth:`AudioProtoNet.explain`) into a
folder a person can open in a browser::

    out_dir/
      index.html               one section per explained window
      explain-000.png ...      per window: its top prototypes' similarity maps over its
                               spectrogram, beside each prototype's source training window
      audio/*.wav              the explained window, the part each prototype matched, and
                               each prototype's box, cut from the source recordings
      gallery/index.html       every class's prototypes: source patches with their boxes,
      gallery/class-*.png      band weights (arch="audio"), audio of each box
      activations.zarr         the activation dataset (:func:`write_activations`)

Times on the figures are seconds in the source recording (from the window start when the
window's start is unknown), frequencies Hz. The *matched part* of an explained window is the
receptive field (in time) of the feature cell where the prototype's similarity peaks, clipped
to the window; a prototype's *box* is the footprint of the cell it was projected onto
(frames ``prototype_t0_s`` ... ``prototype_t1_s``, i.e. ``[t0, t1 + frame_s)``), so its WAV
lasts exactly ``t1 - t0 + frame_s`` (``cell_frames`` frames).
"""

from __future__ import annotations

import html
import os
import pathlib
import re

import attrs
import matplotlib
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import xarray as xr
from matplotlib.patches import Rectangle

from ..birdnet.model import CHUNK_SAMPLES
from ..io.activations import map_method
from ..io.atomic import atomic_file
from ..report import Report
from .activations import write_activations
from .evidence import looks_like
from .faithfulness import DEFAULT_METHOD

#: subfolders and files of a report folder
AUDIO_DIR, GALLERY_DIR, ACTIVATIONS_NAME = "audio", "gallery", "activations.zarr"


@attrs.define
class ExplanationReport:
    """Paths of a written explanation report."""

    index: pathlib.Path
    gallery: pathlib.Path
    activations: pathlib.Path
    figures: list[pathlib.Path]
    audio: list[pathlib.Path]
    #: :func:`source_checks` of the model's prototypes (``flagged``: outside their class)
    sources: pd.DataFrame = attrs.field(factory=pd.DataFrame)
    #: colour maps of every spectrogram drawn (one: :data:`SPECTROGRAM_CMAP`)
    colormaps: set = attrs.field(factory=set)


# ----------------------------------------------------------------------------- audio
class _AudioCutter:
    """Cuts spans of source recordings (loaded once each, mono) into small WAV files."""

    def __init__(self, out_dir: pathlib.Path):
        self.out_dir = out_dir
        self.cache: dict[str, tuple[np.ndarray, int]] = {}
        self.written: list[pathlib.Path] = []

    def _load(self, path: str) -> tuple[np.ndarray, int]:
        if path not in self.cache:
            from ..io.audio import load_audio

            sound = load_audio(path, mono=True, allow_silence=True).sound
            self.cache[path] = (np.asarray(sound.data[0], dtype=np.float32), int(sound.samplerate))
        return self.cache[path]

    def cut(self, source_path: str, t0: float, t1: float, name: str) -> pathlib.Path | None:
        """Write ``[t0, t1)`` s of ``source_path`` (clipped to the recording) as ``name``.

        Returns None when the source is unknown or the span empty.
        """
        import soundfile

        if not source_path or not (np.isfinite(t0) and np.isfinite(t1)):
            return None
        if not os.path.exists(source_path):
            raise FileNotFoundError(f"{source_path}: source recording not found (for {name})")
        data, sr = self._load(source_path)
        a = min(max(int(round(t0 * sr)), 0), len(data))
        b = min(max(int(round(t1 * sr)), 0), len(data))
        if b <= a:
            return None
        path = self.out_dir / name
        with atomic_file(path) as tmp:
            soundfile.write(tmp, data[a:b], sr, subtype="PCM_16", format="WAV")
        self.written.append(path)
        return path


def _audio_tag(href: str | None, label: str) -> str:
    if href is None:
        return '<span class="note">no audio</span>'
    return (
        f'<div><span class="note">{html.escape(label)}</span><br>'
        f'<audio controls preload="none" src="{html.escape(href)}"></audio></div>'
    )


# ----------------------------------------------------------------------------- geometry
def _peak(sim: np.ndarray, stride: int, rf: int, geometry=None) -> dict:
    """Peak input cell of a (F, T) map, its feature cell's footprint and receptive field.

    ``geometry``: a BirdNET model's :class:`BirdNETGeometry` (cells are not a regular
    ``stride``); None for the CNN backbone.
    """
    n_freq, n_time = sim.shape
    f, t = np.unravel_index(int(np.argmax(sim)), sim.shape)
    if geometry is not None:
        return geometry.display_span(int(f), int(t))
    h, w = f // stride, t // stride
    centre = w * stride + (stride - 1) / 2
    return {
        "f": int(f),
        "t": int(t),
        "f_lo": min(h * stride, n_freq - 1),
        "f_hi": min(h * stride + stride, n_freq) - 1,
        "t_lo": min(w * stride, n_time - 1),
        "t_hi": min(w * stride + stride, n_time) - 1,
        "rf_lo": int(max(np.floor(centre - (rf - 1) / 2), 0)),
        "rf_hi": int(min(np.ceil(centre + (rf - 1) / 2), n_time - 1)),
    }


def _train_window(train, model, k: int, window: int) -> tuple[np.ndarray, float] | None:
    """The training window prototype ``k`` was projected onto, and its start (s)."""
    from .activations import display

    if window < 0:
        return None
    X = train.X if hasattr(train, "X") else np.asarray(train)
    birdnet = model.params.uses_birdnet
    size = CHUNK_SAMPLES if birdnet else len(model.freq_hz_)
    if window >= len(X) or X.ndim < 2 or X.shape[1] != size:
        unit = "samples (audio chunks)" if birdnet else "bins"
        raise ValueError(
            f"prototype {k} was projected onto training window {window}, but the windows given "
            f"as `train` are {X.shape[0]} x {X.shape[1]} {unit} (the model's: {size} {unit}): "
            "pass the windows the model was trained on"
        )
    start = model.prototypes_[k].get("start_s", float("nan"))
    if hasattr(train, "sources"):
        start = train.sources[window].get("start_s", start)
    view = display(model, np.asarray(X[window : window + 1]), None)
    start = float(start) if np.isfinite(start) else 0.0
    return view["spectrogram"][0], start + view["attrs"]["time_origin_s"]


# ----------------------------------------------------------------------------- sources
#: a prototype whose box lies less than this share inside syllables of its class is flagged
IN_CLASS_SHARE: float = 0.5


def syllable_table(windows) -> pd.DataFrame:
    """The annotated syllables behind syllable windows: ``source_path``, ``onset_s``,
    ``offset_s``, ``label`` (one row per syllable, sorted), empty without syllable meta."""
    meta = getattr(windows, "meta", None) or {}
    sources = getattr(windows, "sources", None) or []
    if not {"onset_s", "offset_s", "label"} <= set(meta) or not sources:
        return pd.DataFrame(columns=["source_path", "onset_s", "offset_s", "label"])
    table = pd.DataFrame(
        {
            "source_path": [str(s.get("source_path", "")) for s in sources],
            "onset_s": np.asarray(meta["onset_s"], float),
            "offset_s": np.asarray(meta["offset_s"], float),
            "label": np.asarray(meta["label"]).astype(str),
        }
    )
    return table.drop_duplicates().sort_values(["source_path", "onset_s"]).reset_index(drop=True)


def source_checks(model, syllables: pd.DataFrame) -> pd.DataFrame:
    """Where each prototype's source box lies: inside a syllable of its class or not.

    Parameters
    ----------
    model : AudioProtoNet
    syllables : pandas.DataFrame
        :func:`syllable_table` of the training windows.

    Returns
    -------
    checks : pandas.DataFrame
        One row per prototype: ``prototype``, ``class``, ``source_path``, ``box_t0_s``,
        ``box_t1_s`` (the box, ``t1 + frame_s`` at the end), ``in_class_share`` (share of the
        box's duration inside syllables of its class in the same recording),
        ``syllable_onset_s`` / ``syllable_offset_s`` / ``syllable_label`` (the syllable the box
        overlaps most, NaN / "" in silence), ``where`` (``"in its class"``,
        ``"in class X"``, ``"in silence"``) and ``flagged`` (``in_class_share <``
        :data:`IN_CLASS_SHARE`).
    """
    frame_s = float(model.frame_s_)
    rows = []
    by_file = {k: g for k, g in syllables.groupby("source_path")} if len(syllables) else {}
    for k, p in enumerate(model.prototypes_):
        t0, t1 = float(p["t0_s"]), float(p["t1_s"]) + frame_s
        g = by_file.get(str(p.get("source_path", "")))
        share, best, where = 0.0, None, "in silence"
        if g is not None and t1 > t0:
            overlap = np.clip(
                np.minimum(g["offset_s"].to_numpy(), t1) - np.maximum(g["onset_s"].to_numpy(), t0),
                0,
                None,
            )
            mine = g["label"].to_numpy() == str(p["class"])
            share = float(overlap[mine].sum() / (t1 - t0))
            if overlap.max() > 0:
                best = g.iloc[int(np.argmax(overlap))]
                label = str(best["label"])
                where = "in its class" if label == str(p["class"]) else f"in class {label}"
        rows.append(
            {
                "prototype": k,
                "class": str(p["class"]),
                "source_path": str(p.get("source_path", "")),
                "box_t0_s": t0,
                "box_t1_s": t1,
                "in_class_share": min(share, 1.0),
                "syllable_onset_s": float(best["onset_s"]) if best is not None else np.nan,
                "syllable_offset_s": float(best["offset_s"]) if best is not None else np.nan,
                "syllable_label": str(best["label"]) if best is not None else "",
                "where": where,
                "flagged": share < IN_CLASS_SHARE,
            }
        )
    return pd.DataFrame(rows)


def _flag_text(check) -> str:
    if not bool(check["flagged"]):
        return ""
    return (
        f"⚠ source {check['where']}: only {check['in_class_share']:.0%} of its box lies in a "
        f"syllable of class {check['class']}"
    )


def _band_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Share of the smaller band covered by the other (0 when disjoint)."""
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    width = min(a1 - a0, b1 - b0)
    return inter / width if width > 0 else 0.0


def _draw_syllables(ax, syllables: pd.DataFrame, source_path: str, t0: float, t1: float):
    """Syllable boundaries (dashed) and labels of ``source_path`` between ``t0`` and ``t1``."""
    if syllables is None or not len(syllables):
        return
    g = syllables[
        (syllables["source_path"] == source_path)
        & (syllables["offset_s"] > t0)
        & (syllables["onset_s"] < t1)
    ]
    top = ax.get_ylim()[1]
    for row in g.itertuples():
        for t in (row.onset_s, row.offset_s):
            if t0 <= t <= t1:
                ax.axvline(t, color=SYLLABLE_COLOR, lw=1.0, ls="--")
        mid = (max(row.onset_s, t0) + min(row.offset_s, t1)) / 2
        ax.text(
            mid, top, str(row.label), color=SYLLABLE_COLOR, ha="center", va="bottom", fontsize=8
        )


# ----------------------------------------------------------------------------- figures
#: the one colour map of every spectrogram in the report (both panels, the gallery)
SPECTROGRAM_CMAP: str = "gray_r"
#: colour of syllable boundaries and labels on the figures
SYLLABLE_COLOR: str = "#1f77b4"


def _show_spectrogram(ax, spect, freq, t_start, frame_s):
    times = t_start + np.arange(spect.shape[1]) * frame_s
    vmax = float(np.nanmax(spect))
    ax.imshow(
        spect,
        origin="lower",
        aspect="auto",
        cmap=SPECTROGRAM_CMAP,
        label="spectrogram",
        extent=(times[0], times[-1] + frame_s, freq[0], freq[-1]),
        vmin=vmax - 70,
        vmax=vmax,
        interpolation="nearest",
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    return times


def _draw_similarity(ax, spect, sim, freq, t_start, frame_s, peak):
    """Spectrogram, similarity as a translucent overlay with contours, peak cell boxed."""
    times = _show_spectrogram(ax, spect, freq, t_start, frame_s)
    extent = (times[0], times[-1] + frame_s, freq[0], freq[-1])
    lo, hi = float(sim.min()), float(sim.max())
    norm = (sim - lo) / (hi - lo) if hi > lo else np.zeros_like(sim)
    ax.imshow(
        np.ma.masked_less(norm, 0.5),
        origin="lower",
        aspect="auto",
        cmap="autumn_r",
        alpha=0.5,
        extent=extent,
        vmin=0.5,
        vmax=1.0,
    )
    if hi > lo:
        ax.contour(
            times + frame_s / 2,
            freq,
            norm,
            levels=[0.75, 0.9],
            colors=["#f77f00", "#d62828"],
            linewidths=0.8,
        )
    ax.add_patch(
        Rectangle(
            (times[peak["t_lo"]], freq[peak["f_lo"]]),
            (peak["t_hi"] - peak["t_lo"] + 1) * frame_s,
            freq[peak["f_hi"]] - freq[peak["f_lo"]],
            fill=False,
            edgecolor="cyan",
            lw=1.5,
        )
    )
    y = freq[0] + 0.03 * (freq[-1] - freq[0])
    ax.plot([times[peak["rf_lo"]], times[peak["rf_hi"]] + frame_s], [y, y], color="cyan", lw=4)


def _draw_box(ax, proto: dict, frame_s: float, color: str = "lime", lw: float = 1.5):
    ax.add_patch(
        Rectangle(
            (proto["t0_s"], proto["f0_hz"]),
            proto["t1_s"] - proto["t0_s"] + frame_s,
            proto["f1_hz"] - proto["f0_hz"],
            fill=False,
            edgecolor=color,
            lw=lw,
        )
    )


def _draw_source(ax, src, proto, freq, frame_s, title, syllables=None, flagged=False):
    if src is None:
        ax.text(0.5, 0.5, "no source window", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    patch, start = src
    times = _show_spectrogram(ax, patch, freq, start, frame_s)
    _draw_box(ax, proto, frame_s, color="#d62828" if flagged else "lime")
    _draw_syllables(ax, syllables, str(proto.get("source_path", "")), times[0], times[-1] + frame_s)
    ax.set_title(title, fontsize=8, color="#d62828" if flagged else "black")


def spectrogram_colormaps(fig) -> set[str]:
    """Names of the colour maps of a figure's spectrogram images (one per report)."""
    return {
        im.get_cmap().name for ax in fig.axes for im in ax.images if im.get_label() == "spectrogram"
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)) or "_"


# ----------------------------------------------------------------------------- main
def explanation_report(
    model,
    train,
    activations: xr.Dataset,
    out_dir: str | os.PathLike,
    top_k: int | None = None,
    audio: bool = True,
    max_clips: int | None = 20,
    title: str = "AudioProtoNet explanations",
    progress: bool = True,
    segments=None,
) -> ExplanationReport:
    """Write HTML pages, PNG figures and WAV files explaining a prototype net's decisions.

    Parameters
    ----------
    model : AudioProtoNet
        The trained model that produced ``activations``.
    train : Windows or numpy.ndarray
        The windows the model was trained on (``Windows`` from
        :func:`vocalpy_xai.clips.syllable_windows`, or their ``X``): the prototypes' source
        patches are drawn from them.
    activations : xarray.Dataset
        :meth:`AudioProtoNet.explain`'s dataset (or :func:`open_activations`'), with the
        explained windows' ``clip_source_path`` / ``clip_start_s`` for their audio.
    out_dir : path
        Folder of the report (created; files of an earlier report there are replaced).
    top_k : int, optional
        Prototypes shown per window (default: all ranks in ``top_prototypes``).
    audio : bool
        Write WAV files cut from the source recordings and ``<audio>`` players.
    max_clips : int, optional
        Explain at most this many windows (the first ones; default 20).
    title : str
        Title of the page.
    progress : bool
        Show a progress bar.
    segments : Windows or pandas.DataFrame, optional
        The syllables of the explained windows' recordings (the explained ``Windows``, or a
        :func:`syllable_table`): their boundaries are drawn on the left panels. The training
        windows' syllables are always drawn on the right.

    Returns
    -------
    ExplanationReport
        ``index`` (explanations page), ``gallery`` (prototype gallery page),
        ``activations`` (zarr), ``figures`` and ``audio`` written.

    Raises
    ------
    ValueError
        ``train`` is not the model's training windows, or the activations hold no
        prototypes with a source (``arch="blackbox"``).
    FileNotFoundError
        A source recording named in the activations is missing (with ``audio=True``).
    """
    from tqdm.auto import tqdm

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    act = activations
    if "top_prototypes" not in act or "prototype_t0_s" not in act:
        raise ValueError("`activations` is not an activation dataset (see AudioProtoNet.explain)")
    if act.attrs.get("arch") == "blackbox":
        raise ValueError(
            "a blackbox model has no prototypes to show; its class activation maps are in "
            "the activation dataset (write_activations)"
        )
    act_path = write_activations(act, out_dir / ACTIVATIONS_NAME, overwrite=True)
    cutter = _AudioCutter(out_dir / AUDIO_DIR) if audio else None
    freq = act["freq"].values
    frame_s = float(act.attrs.get("frame_s", model.frame_s_))
    stride, rf = int(act.attrs["cell_frames"]), int(act.attrs["receptive_field"])
    origin = float(act.attrs.get("time_origin_s", 0.0))  # left edge of column 0
    geometry = model.geometry_  # BirdNET backbone; None for the CNN
    protos = [dict(p) for p in model.prototypes_]
    if len(protos) != act.sizes["prototype"]:
        raise ValueError(
            f"the model has {len(protos)} prototypes, the activations {act.sizes['prototype']}: "
            "they come from different models"
        )
    weights = model.last_layer()
    syllables = syllable_table(train)
    checks = source_checks(model, syllables)
    explained = segments if isinstance(segments, pd.DataFrame) else syllable_table(segments)
    all_syllables = pd.concat([syllables, explained], ignore_index=True).drop_duplicates()
    colormaps: set[str] = set()
    window_meta = getattr(train, "meta", None) or {}
    train_sources = getattr(train, "sources", None) or []
    class_index = {c: i for i, c in enumerate(model.class_names_)}
    figures: list[pathlib.Path] = []

    proto_audio: dict[int, str | None] = {}
    syllable_audio: dict[int, str | None] = {}

    def syllable_wav(k: int) -> str | None:
        """The whole syllable of the training window prototype ``k`` was projected onto."""
        if cutter is None:
            return None
        if k not in syllable_audio:
            w = int(protos[k].get("window", -1))
            href = None
            if 0 <= w < len(window_meta.get("onset_s", [])) and w < len(train_sources):
                path = cutter.cut(
                    str(train_sources[w].get("source_path", "")),
                    float(window_meta["onset_s"][w]),
                    float(window_meta["offset_s"][w]),
                    f"proto-{k:03d}-syllable.wav",
                )
                href = None if path is None else f"{AUDIO_DIR}/{path.name}"
            syllable_audio[k] = href
        return syllable_audio[k]

    def proto_wav(k: int) -> str | None:
        if cutter is None:
            return None
        if k not in proto_audio:
            p = protos[k]
            path = cutter.cut(
                p["source_path"], p["t0_s"], p["t1_s"] + frame_s, f"proto-{k:03d}.wav"
            )
            proto_audio[k] = None if path is None else f"{AUDIO_DIR}/{path.name}"
        return proto_audio[k]

    report = Report(out_dir, title)
    intro = report.section("About")
    method = map_method(act)
    intro.text(
        f"Model: {act.attrs.get('model', '')} (arch={act.attrs.get('arch')}). For each window: "
        "its top prototypes (by contribution to the predicted class: score x last-layer "
        f"weight). Maps drawn by '{method}' (vocalpy_xai.protonet.faithfulness; "
        f"the default, '{DEFAULT_METHOD}', is the method that beat a random attribution on "
        "deletion and insertion curves, benchmarks/results/explainable_species.md). "
        "Evidence: 'this part looks like that part of <training clip> at <t> s, <f0-f1> Hz', "
        "the prototype's training cell (a banded model's prototypes are those cells). "
        "Left: the prototype's map over the window (translucent overlay, "
        "shown where above 50 % of its range, contours at 75 and 90 %); cyan box: the feature cell where it peaks; "
        "cyan bar: that cell's receptive field in time (the matched part, also as audio). "
        "Right: the training window the prototype was projected onto, its box in green "
        "(red when flagged, see below; the prototype's 16-ms cell plays as 'prototype box', "
        "the whole syllable it sits in as 'source syllable'). Both panels use one colour map "
        f"({SPECTROGRAM_CMAP}: dark = loud); dashed blue lines and labels: annotated syllables. "
        "The table states the band where the prototype matched beside the prototype's own "
        "band: a match in another band is the same pattern at another pitch."
    )
    flagged = checks[checks["flagged"]] if len(checks) else checks
    src_sec = report.section("Prototype sources")
    src_sec.text(
        f"{len(flagged)} of {len(checks)} prototypes have a source box that lies less than "
        f"{IN_CLASS_SHARE:.0%} inside a syllable of their own class (in silence or in another "
        "class's syllable): the model's argument 'this looks like that' is then not about a "
        "syllable of the class it votes for. They are marked ⚠ below."
    )
    if len(flagged):
        src_sec.raw_html(
            "<table><tr><th>prototype</th><th>class</th><th>source</th><th>box</th>"
            "<th>where</th><th>share in its class</th></tr>"
            + "".join(
                f"<tr><td>{int(c.prototype)}</td><td>{html.escape(c['class'])}</td>"
                f"<td>{html.escape(pathlib.Path(c.source_path).name)}</td>"
                f"<td>{c.box_t0_s:.3f}-{c.box_t1_s:.3f} s</td><td>{html.escape(c['where'])}</td>"
                f"<td>{c.in_class_share:.0%}</td></tr>"
                for _, c in flagged.iterrows()
            )
            + "</table>"
        )
    intro.raw_html(
        f'<p><a href="{GALLERY_DIR}/index.html">Prototype gallery</a> &middot; '
        f"activation dataset: <code>{html.escape(ACTIVATIONS_NAME)}</code> "
        "(open with <code>vocalpy_xai.protonet.open_activations</code> or the napari plugin)</p>"
    )
    n_clips = act.sizes["clip"] if max_clips is None else min(max_clips, act.sizes["clip"])
    ranks = act["top_prototypes"].values
    k_show = ranks.shape[1] if top_k is None else min(top_k, ranks.shape[1])
    for i in tqdm(range(n_clips), desc="explanation report", disable=not progress):
        one = act.isel(clip=i).load()
        clip_id = str(one["clip"].values)
        start = float(one["clip_start_s"].values)
        start0 = start if np.isfinite(start) else 0.0
        src_path = str(one["clip_source_path"].values)
        spect = one["spectrogram"].values
        predicted = str(one["predicted_class"].values)
        proba = one["class_scores"].values
        sec = report.section(f"{i + 1}. {clip_id}: predicted {predicted}")
        sec.text(
            f"{pathlib.Path(src_path).name or 'unknown source'}, window from {start0:.3f} s; "
            f"predicted '{predicted}' (p = {proba.max():.2f})."
        )
        if cutter is not None:
            n_time = spect.shape[1]
            path = cutter.cut(src_path, start, start + n_time * frame_s, f"clip{i:03d}-window.wav")
            sec.raw_html(
                _audio_tag(None if path is None else f"{AUDIO_DIR}/{path.name}", "the whole window")
            )
        fig, axes = plt.subplots(k_show, 2, figsize=(10, 2.8 * k_show), squeeze=False)
        rows = []
        for r in range(k_show):
            k = int(ranks[i, r])
            p = protos[k]
            sim = one["similarity"].values[k]
            peak = _peak(sim, stride, rf, geometry)
            match_t0 = start0 + origin + peak["rf_lo"] * frame_s
            match_t1 = start0 + origin + (peak["rf_hi"] + 1) * frame_s
            score = float(one["score"].values[k])
            weight = (
                float(weights[class_index[predicted], k])
                if weights is not None and predicted in class_index
                else float("nan")
            )
            ax_sim, ax_src = axes[r]
            _draw_similarity(ax_sim, spect, sim, freq, start0 + origin, frame_s, peak)
            t_left = start0 + origin
            _draw_syllables(
                ax_sim, all_syllables, src_path, t_left, t_left + spect.shape[1] * frame_s
            )
            check = checks.iloc[k] if len(checks) > k else None
            warn = " ⚠ source outside its class" if check is not None and check["flagged"] else ""
            ax_sim.set_title(
                f"rank {r + 1}: prototype {k} (class {p['class']}), score {score:.2f}{warn}",
                fontsize=8,
            )
            m0, m1 = float(freq[peak["f_lo"]]), float(freq[peak["f_hi"]])
            band_note = (
                f"matched {m0:.0f}-{m1:.0f} Hz vs prototype {p['f0_hz']:.0f}-{p['f1_hz']:.0f} Hz"
                f" ({_band_overlap(m0, m1, p['f0_hz'], p['f1_hz']):.0%} overlap)"
            )
            src = _train_window(train, model, k, int(p["window"]))
            _draw_source(
                ax_src,
                src,
                p,
                freq,
                frame_s,
                f"its source: {pathlib.Path(p['source_path']).name}, "
                f"{p['t0_s']:.3f}-{p['t1_s']:.3f} s, {p['f0_hz']:.0f}-{p['f1_hz']:.0f} Hz",
                syllables,
                bool(check["flagged"]) if check is not None else False,
            )
            match_href = None
            if cutter is not None:
                path = cutter.cut(src_path, match_t0, match_t1, f"clip{i:03d}-p{k:03d}-match.wav")
                match_href = None if path is None else f"{AUDIO_DIR}/{path.name}"
            says = looks_like(
                {"t0_s": match_t0, "t1_s": match_t1, "f0_hz": m0, "f1_hz": m1},
                {
                    "clip": pathlib.Path(str(p.get("source_clip") or "")).name,
                    "t0_s": p["t0_s"],
                    "f0_hz": p["f0_hz"],
                    "f1_hz": p["f1_hz"],
                },
            )
            rows.append(
                "<tr>"
                f"<td>{r + 1}</td><td>{k}</td><td>{html.escape(str(p['class']))}</td>"
                f"<td>{html.escape(says)}</td>"
                f"<td>{score:.3f}</td><td>{weight:.3f}</td><td>{score * weight:.3f}</td>"
                f"<td>{match_t0:.3f}-{match_t1:.3f} s</td>"
                f"<td>{p['t0_s']:.3f}-{p['t1_s']:.3f} s, {p['f0_hz']:.0f}-{p['f1_hz']:.0f} Hz</td>"
                f"<td>{html.escape(band_note)}</td>"
                f"<td>{html.escape(_flag_text(check) if check is not None else '')}</td>"
                + (
                    f"<td>{_audio_tag(match_href, 'matched part')}</td>"
                    f"<td>{_audio_tag(proto_wav(k), 'prototype box')}</td>"
                    f"<td>{_audio_tag(syllable_wav(k), 'source syllable')}</td>"
                    if cutter is not None
                    else ""
                )
                + "</tr>"
            )
        fig.tight_layout()
        colormaps |= spectrogram_colormaps(fig)
        name = f"explain-{i:03d}.png"
        figures.append(
            sec.figure(fig, name, caption=f"{clip_id}: top {k_show} prototypes and their sources")
        )
        head = (
            "<tr><th>rank</th><th>prototype</th><th>class</th><th>evidence</th><th>score</th>"
            "<th>weight</th><th>contribution</th><th>matched part</th><th>prototype box</th>"
            "<th>bands</th><th>source</th>"
            + (
                "<th>listen: matched</th><th>listen: prototype</th><th>listen: source syllable</th>"
                if cutter is not None
                else ""
            )
            + "</tr>"
        )
        sec.raw_html(f"<table>{head}{''.join(rows)}</table>")
    index = report.write()
    gallery, gallery_figures = prototype_gallery(
        model, train, act, out_dir / GALLERY_DIR, proto_wav, frame_s
    )
    figures.extend(gallery_figures)
    return ExplanationReport(
        index=index,
        gallery=gallery,
        activations=act_path,
        figures=figures,
        audio=[] if cutter is None else list(dict.fromkeys(cutter.written)),
        sources=checks,
        colormaps=colormaps,
    )


def prototype_gallery(
    model,
    train,
    activations: xr.Dataset,
    out_dir: str | os.PathLike,
    proto_wav=None,
    frame_s: float | None = None,
) -> tuple[pathlib.Path, list[pathlib.Path]]:
    """A page of every class's prototypes: source patches with boxes, band weights, audio.

    ``proto_wav(k)`` gives the href (relative to the parent folder) of prototype ``k``'s
    box audio, or None. Returns the page and its figures.
    """
    out_dir = pathlib.Path(out_dir)
    frame_s = float(frame_s or model.frame_s_)
    freq = activations["freq"].values
    band = (
        activations["prototype_freq_weight"].values
        if "prototype_freq_weight" in activations
        else None
    )
    protos = model.prototypes_
    report = Report(out_dir, "AudioProtoNet prototype gallery")
    report.section("About").raw_html(
        '<p><a href="../index.html">Back to the explanations</a>. Each prototype is a patch of '
        "a training window (green box: the feature cell it was projected onto)"
        + (
            "; below it, its learnt band weights over frequency (arch='audio': how much each "
            "frequency band counts when the prototype is matched)."
            if band is not None
            else "."
        )
        + "</p>"
    )
    figures = []
    classes = list(dict.fromkeys(str(p["class"]) for p in protos))
    for cls in classes:
        ks = [k for k, p in enumerate(protos) if str(p["class"]) == cls]
        nrows = 2 if band is not None else 1
        fig, axes = plt.subplots(
            nrows,
            len(ks),
            figsize=(2.6 * len(ks), 2.4 * nrows),
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 1.2]} if band is not None else None,
        )
        for j, k in enumerate(ks):
            p = protos[k]
            src = _train_window(train, model, k, int(p["window"]))
            _draw_source(axes[0, j], src, p, freq, frame_s, f"prototype {k}")
            if j:
                axes[0, j].set_ylabel("")
            if band is not None:
                ax = axes[1, j]
                ax.fill_between(freq, band[k], color="tab:green", alpha=0.6)
                if np.isfinite(p["f0_hz"]):
                    ax.axvspan(p["f0_hz"], p["f1_hz"], color="lime", alpha=0.3)
                ax.set_xlim(freq[0], freq[-1])
                ax.set_xlabel("frequency (Hz)")
                ax.set_ylabel("band weight" if j == 0 else "")
                ax.tick_params(labelsize=7)
        fig.suptitle(f"class {cls}", fontsize=10)
        fig.tight_layout()
        sec = report.section(f"class {cls}")
        figures.append(
            sec.figure(fig, f"class-{_slug(cls)}.png", caption=f"Prototypes of class {cls}")
        )
        rows = []
        for k in ks:
            p = protos[k]
            href = proto_wav(k) if proto_wav is not None else None
            rows.append(
                f"<tr><td>{k}</td><td>{html.escape(pathlib.Path(p['source_path']).name)}</td>"
                f"<td>{p['t0_s']:.3f}-{p['t1_s']:.3f} s</td>"
                f"<td>{p['f0_hz']:.0f}-{p['f1_hz']:.0f} Hz</td>"
                + (f"<td>{freq[int(np.argmax(band[k]))]:.0f} Hz</td>" if band is not None else "")
                + f"<td>{_audio_tag(None if href is None else '../' + href, 'box')}</td></tr>"
            )
        head = (
            "<tr><th>prototype</th><th>source</th><th>time</th><th>frequency</th>"
            + ("<th>peak band</th>" if band is not None else "")
            + "<th>listen</th></tr>"
        )
        sec.raw_html(f"<table>{head}{''.join(rows)}</table>")
    return report.write(), figures


__all__ = ["ExplanationReport", "explanation_report", "prototype_gallery"]
