"""Classifying a recording with an AudioProtoNet: species scores per chunk and per recording,
each decision with the prototypes behind it (band in Hz, time span in s, source clip and time).

The one inference path of the classifiers for a whole recording (server, napari's Predict
dock): :func:`classify_recording` cuts the recording the way the model's backbone reads it,

- BirdNET backbone: consecutive 3-s chunks of 48-kHz audio (:func:`vocalpy_xai.birdnet.chunk_audio`,
  the last one zero-padded);
- CNN backbone: the spectrogram the model was trained on (the ``spect_params`` its folder
  records) cut into consecutive windows of the model's width
  (:func:`vocalpy_xai.protonet.sliding_windows`),

scores every chunk, and averages the chunks' probabilities and prototype scores for the
recording (as :meth:`BirdNETProtoNet.explain_recording
<vocalpy_xai.protonet.BirdNETProtoNet.explain_recording>` does).

:func:`top_prototypes_of_chunks` is the one place that turns a model's decision on its chunks
(BirdNET models) or windows (CNN models) into JSON-ready records: for each input its top
prototypes by contribution to the predicted class (the ranking of
:meth:`~vocalpy_xai.protonet.AudioProtoNet.explain`), where in the input each one matched
(time span in s, band in Hz), the training cell it is (``banded`` models push every
prototype onto a cell of a named training clip, see :mod:`vocalpy_xai.protonet.banded`) and
a sentence saying so (:func:`looks_like`). :func:`top_prototypes` is the same for inputs
already cut (chunks, feature maps, windows).
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence

import attrs
import numpy as np

from ..progress import Progress, steps
from .activations import _top_prototypes
from .errors import SpectrogramInputError


@attrs.define(frozen=True)
class Classification:
    """An AudioProtoNet's answer for one recording.

    Attributes
    ----------
    class_names : list of str
    chunk_start_s, chunk_end_s : numpy.ndarray
        ``(K,)``: where each chunk lies in the recording (s).
    chunk_proba : numpy.ndarray
        ``(K, C)`` class probabilities of each chunk.
    chunk_evidence : list of list of dict
        Per chunk, its top prototypes (:func:`top_prototypes_of_chunks`).
    proba : numpy.ndarray
        ``(C,)``: the recording's probabilities, the mean over its chunks.
    evidence : list of dict
        The recording's top prototypes (ranked on the chunks' mean scores; each ``match``
        is the box of the chunk where that prototype scored highest).
    duration_s : float
        Length of the recording (s).
    """

    class_names: list[str]
    chunk_start_s: np.ndarray
    chunk_end_s: np.ndarray
    chunk_proba: np.ndarray
    chunk_evidence: list[list[dict]]
    proba: np.ndarray
    evidence: list[dict]
    duration_s: float

    @property
    def predicted(self) -> str:
        """The recording's most probable class."""
        return self.class_names[int(np.argmax(self.proba))]

    @property
    def chunk_predicted(self) -> list[str]:
        return [self.class_names[int(k)] for k in np.argmax(self.chunk_proba, axis=1)]

    def to_dict(self) -> dict:
        """Plain JSON types: ``recording`` and ``chunks`` with scores by class name."""

        def scores(p) -> dict[str, float]:
            return {c: float(v) for c, v in zip(self.class_names, p, strict=True)}

        return {
            "class_names": list(self.class_names),
            "duration_s": float(self.duration_s),
            "recording": {
                "predicted": self.predicted,
                "scores": scores(self.proba),
                "top_prototypes": self.evidence,
            },
            "chunks": [
                {
                    "start_s": float(a),
                    "end_s": float(b),
                    "predicted": pred,
                    "scores": scores(p),
                    "top_prototypes": ev,
                }
                for a, b, pred, p, ev in zip(
                    self.chunk_start_s,
                    self.chunk_end_s,
                    self.chunk_predicted,
                    self.chunk_proba,
                    self.chunk_evidence,
                    strict=True,
                )
            ],
        }


def _number(x: float) -> float | None:
    """A float, or None for NaN (JSON has no NaN)."""
    x = float(x)
    return x if np.isfinite(x) else None


def _source(proto: dict) -> dict:
    """Where a prototype came from: its training patch (source clip, time span, band)."""
    return {
        "clip": str(proto.get("source_clip", "")),
        "path": str(proto.get("source_path", "")),
        "start_s": _number(proto.get("start_s", float("nan"))),
        "t0_s": _number(proto.get("t0_s", float("nan"))),
        "t1_s": _number(proto.get("t1_s", float("nan"))),
        "f0_hz": _number(proto.get("f0_hz", float("nan"))),
        "f1_hz": _number(proto.get("f1_hz", float("nan"))),
        # cosine of the prototype to that cell (1 when it was pushed onto it)
        "similarity": _number(proto.get("similarity", float("nan"))),
    }


def looks_like(match: dict | None, source: dict) -> str:
    """ "this part (t0-t1 s, f0-f1 Hz) looks like that part of <clip> at <t> s, <f0-f1> Hz".

    ``match``: ``t0_s``, ``t1_s``, ``f0_hz``, ``f1_hz`` of the explained part (None: the
    short form "like that part of <clip> ..."); ``source``: ``clip``, ``t0_s``, ``f0_hz``,
    ``f1_hz`` of the prototype's training cell (``t0_s`` None or NaN when it has no
    recorded source).
    """
    here = (
        "like"
        if match is None
        else f"this part ({match['t0_s']:.2f}-{match['t1_s']:.2f} s, "
        f"{match['f0_hz']:.0f}-{match['f1_hz']:.0f} Hz) looks like"
    )
    t0 = source.get("t0_s")
    if not source.get("clip") or t0 is None or not math.isfinite(t0):
        return f"{here} a prototype with no recorded source"
    f0, f1 = sorted((source["f0_hz"], source["f1_hz"]))
    return f"{here} that part of {source['clip']} at {t0:.2f} s, {f0:.0f}-{f1:.0f} Hz"


def _match_box(model, maps: np.ndarray, n_freq: int, n_time: int, start_s: float) -> dict:
    """The box (s in the recording, Hz) of the cell where a similarity map peaks."""
    h, w = np.unravel_index(int(np.argmax(maps)), maps.shape)
    box = model.cell_box(int(h), int(w), n_freq, n_time)
    return {
        "t0_s": float(box["t0_s"] + start_s),
        "t1_s": float(box["t1_s"] + start_s),
        "f0_hz": float(box["f0_hz"]),
        "f1_hz": float(box["f1_hz"]),
    }


def top_prototypes_of_chunks(
    model,
    parts: dict,
    start_s: Sequence[float],
    n_freq: int = 0,
    n_time: int = 0,
    top_k: int = 3,
) -> list[list[dict]]:
    """Each chunk's top prototypes as dicts, ranked by their contribution to its prediction.

    Parameters
    ----------
    model : AudioProtoNet
        A trained model.
    parts : dict
        The model's :meth:`~vocalpy_xai.protonet.AudioProtoNet.explain_parts` of the chunks
        (``proba``, ``scores``, ``maps``).
    start_s : sequence of float
        Where each chunk starts in the recording (s).
    n_freq, n_time : int
        Size of the chunks' spectrogram windows (CNN backbone; ignored for BirdNET).
    top_k : int
        Prototypes per chunk.

    Returns
    -------
    list of list of dict
        Per chunk and rank: ``rank`` (1 first), ``prototype`` (index), ``class`` (the
        prototype's class), ``similarity`` (the pooled score the classifier uses),
        ``weight`` (last-layer weight to the predicted class), ``contribution`` (similarity
        x weight; None for a ProtoTree), ``match`` (where it matched in this chunk:
        ``t0_s``/``t1_s`` in the recording, ``f0_hz``/``f1_hz``; banded: inside the
        prototype's band), ``source`` (its training cell: ``clip``, ``path``, ``start_s``,
        ``t0_s``, ``t1_s``, ``f0_hz``, ``f1_hz``, ``similarity``; None where unknown) and
        ``text`` (:func:`looks_like`).
    """
    top = _top_prototypes(model, parts, top_k)
    weights = model.last_layer()
    pred = parts["proba"].argmax(axis=1)
    classes = model._prototype_classes()
    out = []
    for i, ranked in enumerate(top):
        rows = []
        for rank, p in enumerate(ranked):
            p = int(p)
            score = float(parts["scores"][i, p])
            weight = None if weights is None else _number(weights[pred[i], p])
            match = _match_box(model, parts["maps"][i, p], n_freq, n_time, start_s[i])
            source = _source(model.prototypes_[p])
            rows.append(
                {
                    "rank": rank + 1,
                    "prototype": p,
                    "class": classes[p],
                    "similarity": score,
                    "weight": weight,
                    "contribution": None if weight is None else score * weight,
                    "match": match,
                    "source": source,
                    "text": looks_like(match, source),
                }
            )
        out.append(rows)
    return out


def _recording_evidence(model, parts, start_s, n_freq, n_time, top_k) -> list[dict]:
    """The recording's top prototypes: ranked on the chunks' mean scores and probabilities."""
    mean = {
        "scores": parts["scores"].mean(0, keepdims=True),
        "proba": parts["proba"].mean(0, keepdims=True),
    }
    best = parts["scores"].argmax(axis=0)  # per prototype, the chunk where it scored highest
    maps = parts["maps"][best, np.arange(parts["maps"].shape[1])][None]
    (rows,) = top_prototypes_of_chunks(model, {**mean, "maps": maps}, [0.0], n_freq, n_time, top_k)
    for row in rows:
        k = int(best[row["prototype"]])
        row["match"] = _match_box(
            model, parts["maps"][k, row["prototype"]], n_freq, n_time, float(start_s[k])
        )
        row["text"] = looks_like(row["match"], row["source"])
    return rows


def top_prototypes(model, X, k: int = 3, start_s: Sequence[float] | None = None) -> list[dict]:
    """Each input's predicted class and its ``k`` top prototypes, as plain dicts.

    Parameters
    ----------
    model : AudioProtoNet
        A trained prototype model (not ``arch="blackbox"``).
    X : array-like
        What the model reads: 3-s chunks of 48-kHz audio (N, 144000) or their BirdNET
        feature maps (BirdNET models), or spectrogram windows (CNN models).
    k : int
        Prototypes per input.
    start_s : sequence of float, optional
        Start of each input in its recording (s), added to the matched time spans
        (default 0).

    Returns
    -------
    list of dict
        One per input: ``predicted_class``, ``probability``, ``start_s`` and
        ``prototypes``, the rows of :func:`top_prototypes_of_chunks`.
    """
    model._check_fitted()
    if model.params.arch == "blackbox":
        raise ValueError("a blackbox model has no prototypes: its evidence is a class map")
    parts = model.explain_parts(X)
    n = len(parts["proba"])
    starts = np.zeros(n) if start_s is None else np.asarray(start_s, dtype=float)
    if starts.shape != (n,):
        raise ValueError(f"start_s must hold {n} values, got shape {starts.shape}")
    n_freq, n_time = (0, 0) if model.params.uses_birdnet else np.shape(X)[1:]
    rows = top_prototypes_of_chunks(model, parts, starts, n_freq, n_time, k)
    names = model.class_names_
    return [
        {
            "predicted_class": names[int(parts["proba"][i].argmax())],
            "probability": float(parts["proba"][i].max()),
            "start_s": float(starts[i]),
            "prototypes": rows[i],
        }
        for i in range(n)
    ]


def _load(audio, samplerate: int | None, target: int | None) -> tuple[np.ndarray, int]:
    """Mono samples and their rate, from a path, a :class:`vocalpy.Sound` or an array."""
    from ..io.audio import load_audio

    if isinstance(audio, (str, os.PathLike)):
        record = load_audio(pathlib.Path(audio), samplerate=target, mono=True)
        return np.asarray(record.sound.data[0]), int(record.sound.samplerate)
    if hasattr(audio, "data") and hasattr(audio, "samplerate"):  # vocalpy.Sound
        data = np.asarray(audio.data)
        return (data.mean(axis=0) if data.ndim == 2 else data), int(audio.samplerate)
    if samplerate is None:
        raise SpectrogramInputError("audio given as an array needs its samplerate")
    data = np.asarray(audio)
    return (data.mean(axis=1) if data.ndim == 2 else data), int(samplerate)


def classify_recording(
    model, audio, samplerate: int | None = None, top_k: int = 3
) -> Classification:
    """Species scores of a recording of any length, per chunk and for the recording.

    Parameters
    ----------
    model : AudioProtoNet
        A trained model (either backbone).
    audio : path, vocalpy.Sound or numpy.ndarray
        The recording (an array needs ``samplerate``).
    samplerate : int, optional
        Sample rate of an array.
    top_k : int
        Prototypes reported per decision.

    Raises
    ------
    SpectrogramInputError
        A CNN-backbone model whose folder records no spectrogram parameters (trained
        before they were recorded: it can classify spectrogram windows only), or audio at a
        rate whose spectrogram grid differs from the model's.
    """
    return _classification(model, _read(model, audio, samplerate), top_k)


@attrs.define(frozen=True)
class _Recording:
    """A recording cut the way the model's backbone reads it, and the model's one pass over it.

    ``inputs``: BirdNET: the 3-s chunks (N, 144000); CNN: the windows (N, F, T).
    ``start_s`` (N,): where each starts (s); ``parts``: their
    :meth:`~vocalpy_xai.protonet.AudioProtoNet.explain_parts` (the backbone's forward
    pass, shared by :func:`classify_recording` and :func:`recording_activations`); CNN:
    ``spect``, the recording's spectrogram (F, frames), and ``sources``, the windows'.
    ``clip_id`` and ``source``: its name and file, for its activation dataset.
    """

    inputs: np.ndarray
    start_s: np.ndarray
    duration_s: float
    parts: dict
    spect: np.ndarray | None = None
    sources: list[dict] | None = None
    clip_id: str = "recording"
    source: str = ""


def _birdnet_chunks(model, samples: np.ndarray, samplerate: int) -> _Recording:
    """BirdNET backbone: samples cut into 3-s chunks (:func:`vocalpy_xai.birdnet.chunk_audio`)."""
    from ..birdnet import chunk_audio

    x = np.asarray(samples)
    duration = (x.shape[0] if x.ndim else 0) / float(samplerate)
    chunks = chunk_audio(samples, samplerate)
    starts = np.asarray(chunks.start_s, dtype=float)
    return _Recording(chunks.audio, starts, duration, model.explain_parts(chunks.audio))


def _read(model, audio, samplerate: int | None) -> _Recording:
    """The recording (path, vocalpy.Sound or array) read once and cut for the model."""
    model._check_fitted()
    path = pathlib.Path(audio) if isinstance(audio, (str, os.PathLike)) else None
    name = {"clip_id": path.stem, "source": str(path)} if path is not None else {}
    if model.params.uses_birdnet:
        rec = _birdnet_chunks(model, *_load(audio, samplerate, None))
        return attrs.evolve(rec, **name)
    spect, windows, duration = _windows_of_audio(model, audio, samplerate)
    starts = np.asarray([s["start_s"] for s in windows.sources], dtype=float)
    parts = model.explain_parts(windows.X)
    return _Recording(windows.X, starts, duration, parts, spect, windows.sources, **name)


def _classification(model, rec: _Recording, top_k: int) -> Classification:
    """:func:`classify_recording` of a recording already read."""
    if model.params.uses_birdnet:
        ends = np.minimum(rec.start_s + 3.0, rec.duration_s)
        n_freq = n_time = 0
    else:
        ends = np.minimum(rec.start_s + model.window_frames_ * model.frame_s_, rec.duration_s)
        n_freq, n_time = rec.inputs.shape[1:]
    parts, starts = rec.parts, rec.start_s
    return Classification(
        class_names=list(model.class_names_),
        chunk_start_s=starts,
        chunk_end_s=ends,
        chunk_proba=parts["proba"].astype(float),
        chunk_evidence=top_prototypes_of_chunks(model, parts, starts, n_freq, n_time, top_k),
        proba=parts["proba"].mean(axis=0).astype(float),
        evidence=_recording_evidence(model, parts, starts, n_freq, n_time, top_k),
        duration_s=rec.duration_s,
    )


def _windows_of_audio(model, audio, samplerate):
    """CNN backbone: the recording's spectrogram (model's parameters), its consecutive
    windows of the model's width, and the recording's length (s)."""
    from ..store.params import SpectrogramParams
    from .data import sliding_windows

    params = getattr(model, "spect_params_", None)
    if not params:
        raise SpectrogramInputError(
            f"{getattr(model, 'path_', 'this model')}: records no spectrogram parameters "
            "(spect_params), so it cannot compute its input from audio; retrain it with "
            "fit(..., spect_params=...) or classify spectrogram windows"
        )
    params = SpectrogramParams.from_dict(params)
    data, rate = _load(audio, samplerate, params.samplerate)
    if params.samplerate is not None and rate != params.samplerate:
        import librosa  # as load_audio resamples files

        data = librosa.resample(data, orig_sr=rate, target_sr=params.samplerate, res_type="soxr_hq")
        rate = params.samplerate
    import vocalpy

    spect = params.compute(vocalpy.Sound(data=data[None, :], samplerate=rate))
    freqs = params.frequencies(rate)
    windows = sliding_windows(spect, freqs, model.frame_s_, model.window_frames_ * model.frame_s_)
    windows = attrs.evolve(windows, X=model._prepare(windows.X, freqs, model.frame_s_))
    return spect, windows, len(data) / float(rate)


def recording_activations(
    model,
    audio,
    samplerate: int | None = None,
    top_k: int = 3,
    attribution: str | None = None,
    progress: Progress = False,
):
    """The activation dataset of a whole recording: one clip, maps on its own time axis.

    BirdNET backbone: :meth:`BirdNETProtoNet.explain_recording
    <vocalpy_xai.protonet.BirdNETProtoNet.explain_recording>` (the union of the chunks'
    top prototypes). CNN backbone: every prototype's map of each consecutive window
    (:meth:`AudioProtoNet.explain`) laid at the window's place; the recording's scores are
    the means over its windows. The format is :mod:`vocalpy_xai.protonet.activations`'
    (what napari draws with :func:`vocalpy_xai.napari.activation_layers`).
    ``attribution``: how the maps are drawn (:mod:`vocalpy_xai.protonet.faithfulness`),
    recorded in ``attrs["attribution"]``; default
    :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`, the method chosen by the
    faithfulness figures (one backward pass per input and prototype drawn:
    ``benchmarks/results/activation_maps.md`` gives its cost); ``"linear"`` (the cells'
    similarities upsampled) is the fast preview. ``progress``: over the chunks or windows
    (:func:`vocalpy_xai.progress.steps`: ``True`` a tqdm bar, or a callable
    ``progress(done, total)``).
    """
    return _activations(model, _read(model, audio, samplerate), top_k, attribution, progress)


def _classification_and_activations(
    model,
    audio,
    top_k: int = 3,
    attribution: str | None = None,
    progress: Progress = False,
):
    """:func:`classify_recording` and :func:`recording_activations` of the same recording
    (napari's Predict dock, :func:`vocalpy_xai.napari.predict_any`), from one read and one
    forward pass of the model over its chunks or windows."""
    rec = _read(model, audio, None)
    return (
        _classification(model, rec, top_k),
        _activations(model, rec, top_k, attribution, progress),
    )


def _activations(
    model,
    rec: _Recording,
    top_k: int,
    attribution: str | None,
    progress: Progress,
    prototypes="top",
):
    """:func:`recording_activations` of a recording already read; ``prototypes``: BirdNET
    (:meth:`BirdNETProtoNet.explain_recording
    <vocalpy_xai.protonet.BirdNETProtoNet.explain_recording>`)."""
    if model.params.uses_birdnet:
        return _birdnet_activations(model, rec, top_k, attribution, progress, prototypes)
    from .activations import activation_dataset, display

    spect, X, parts = rec.spect, rec.inputs, rec.parts
    n_frames, width = spect.shape[1], X.shape[2]
    sim = np.zeros((parts["maps"].shape[1], spect.shape[0], n_frames), np.float32)
    for k in steps(range(len(X)), progress, "windows"):  # one window's maps at a time
        view = display(model, X[k : k + 1], parts["maps"][k : k + 1], attribution)
        lo = int(round(rec.start_s[k] / model.frame_s_))
        n = min(width, n_frames - lo)
        sim[:, :, lo : lo + n] = view["similarity"][0, :, :, :n]
    mean = {key: parts[key].mean(0, keepdims=True) for key in ("scores", "proba")}
    names = np.asarray(model.class_names_, dtype=str)
    # the metadata of the first window (its maps are dropped: drawn the cheap way)
    first = {key: value[:1] for key, value in parts.items()}
    ds = activation_dataset(model, X[:1], first, [rec.clip_id], top_k, rec.sources[:1], "linear")
    ds.attrs["attribution"] = view["attribution"]
    out = ds.drop_dims("time")
    out["similarity"] = (("clip", "prototype", "freq", "time"), sim[None])
    out["spectrogram"] = (("clip", "freq", "time"), spect[None].astype(np.float32))
    out = out.assign_coords(time=("time", np.arange(n_frames) * model.frame_s_, {"units": "s"}))
    out["class_scores"] = (("clip", "class"), mean["proba"].astype(np.float32))
    out["predicted_class"] = ("clip", names[mean["proba"].argmax(1)])
    out["score"] = (("clip", "prototype"), mean["scores"].astype(np.float32))
    out["top_prototypes"] = (("clip", "rank"), _top_prototypes(model, mean, top_k))
    out["clip_source_path"] = ("clip", np.asarray([rec.source], dtype=str))
    out["clip_start_s"] = ("clip", np.zeros(1))
    out.attrs["duration_s"] = rec.duration_s
    return out


def _birdnet_activations(
    model, rec: _Recording, top_k: int, attribution: str | None, progress: Progress, prototypes
):
    """BirdNET backbone: :meth:`BirdNETProtoNet.explain_recording
    <vocalpy_xai.protonet.BirdNETProtoNet.explain_recording>` of a recording already read."""
    import xarray as xr

    from .activations import activation_dataset, display

    parts, chunks, duration = rec.parts, rec.inputs, rec.duration_s
    chunk_top = _top_prototypes(model, parts, top_k)
    mean = {"scores": parts["scores"].mean(0, keepdims=True)}
    mean["proba"] = parts["proba"].mean(0, keepdims=True)
    recording_top = _top_prototypes(model, mean, top_k)
    if isinstance(prototypes, str):
        if prototypes not in ("top", "all"):
            raise ValueError(f"prototypes must be 'top', 'all' or indices, got {prototypes!r}")
        keep = (  # the recording's own top prototypes too: the layers napari shows first
            np.union1d(chunk_top, recording_top)
            if prototypes == "top"
            else np.arange(parts["maps"].shape[1])
        )
    else:
        keep = np.unique(np.asarray(prototypes, dtype=int))
    sims, specs = [], []
    for k in steps(range(len(chunks)), progress, "chunks"):
        view = display(model, chunks[k : k + 1], parts["maps"][k : k + 1, keep], attribution, keep)
        sims.append(view["similarity"][0])
        specs.append(view["spectrogram"][0])
    # a regular time axis over the whole recording (BirdNET's frames do not tile a 3-s
    # chunk exactly): each column takes the nearest frame of the chunk it falls in
    geo = model.geometry_
    times = (np.arange(max(1, int(duration / geo.frame_s))) + 0.5) * geo.frame_s
    k = np.clip(np.searchsorted(rec.start_s, times, side="right") - 1, 0, len(sims) - 1)
    local = times - rec.start_s[k]
    frame = np.clip(np.searchsorted(geo.time_s, local), 1, len(geo.time_s) - 1)
    frame -= (local - geo.time_s[frame - 1]) < (geo.time_s[frame] - local)
    sims, specs = np.stack(sims), np.stack(specs)  # (K, P, F, T0), (K, F, T0)
    coords = {"freq": geo.freq_hz, "time": ("time", times, {"units": "s"})}
    sim = xr.DataArray(
        np.moveaxis(sims[k, :, :, frame], 0, -1)[None],
        dims=("clip", "prototype", "freq", "time"),
        coords={**coords, "prototype": keep},
    )
    spect = xr.DataArray(
        np.moveaxis(specs[k, :, frame], 0, -1)[None],
        dims=("clip", "freq", "time"),
        coords=coords,
    )
    first = {key: value[:1] for key, value in parts.items()}
    # metadata only (its maps are dropped): drawn the cheap way
    full = activation_dataset(model, chunks[:1], first, [rec.clip_id], top_k, None, "linear")
    full.attrs["attribution"] = view["attribution"]
    out = full.drop_vars(["similarity", "spectrogram"]).drop_dims("time").isel(prototype=keep)
    out["similarity"] = sim.assign_coords(clip=[rec.clip_id])
    out["spectrogram"] = spect.assign_coords(clip=[rec.clip_id])
    names = np.asarray(model.class_names_, dtype=str)
    out["class_scores"] = (("clip", "class"), mean["proba"].astype(np.float32))
    out["predicted_class"] = ("clip", names[mean["proba"].argmax(1)])
    out["score"] = (("clip", "prototype"), mean["scores"][:, keep].astype(np.float32))
    out["top_prototypes"] = (("clip", "rank"), recording_top)
    out["clip_source_path"] = ("clip", np.asarray([rec.source], dtype=str))
    out["clip_start_s"] = ("clip", np.zeros(1))
    out["chunk_start_s"] = ("chunk", rec.start_s)
    out["chunk_class_scores"] = (("chunk", "class"), parts["proba"].astype(np.float32))
    out["chunk_predicted_class"] = ("chunk", names[parts["proba"].argmax(1)])
    out["chunk_score"] = (("chunk", "prototype"), parts["scores"][:, keep].astype(np.float32))
    out["chunk_top_prototypes"] = (("chunk", "rank"), chunk_top)
    out.attrs["duration_s"] = duration
    return out
