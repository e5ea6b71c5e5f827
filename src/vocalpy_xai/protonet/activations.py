"""Activation datasets: prototype similarity maps on the input's time (s) and frequency (Hz).

Format (``kind="vocalpy-xai-activations"``, ``format_version=1``; its reader, writer and
checks are :mod:`vocalpy_xai.io.activations`, torch-free), read by the napari plugin:

- ``similarity`` (clip, prototype, freq, time) float32: each prototype's similarity map,
  upsampled from feature cells onto the input spectrogram's grid
  (:func:`vocalpy_xai.protonet.grid.upsample`); for ``arch="blackbox"`` the "prototypes" are
  the classes and the maps their class activation maps;
- ``spectrogram`` (clip, freq, time) float32: the input;
- coordinates ``clip`` (str), ``prototype`` (int), ``freq`` (Hz), ``time`` (s from the window
  start), ``class`` (str);
- per clip: ``clip_source_path``, ``clip_start_s`` (NaN when unknown), ``predicted_class``,
  ``class_scores`` (clip, class; probabilities), ``score`` (clip, prototype; the pooled
  similarity the classifier uses), ``top_prototypes`` (clip, rank; prototypes by their
  contribution to the predicted class);
- per prototype: ``prototype_class``, ``prototype_source_clip``, ``prototype_source_path``,
  ``prototype_source_window`` (index of the training window), ``prototype_t0_s``,
  ``prototype_t1_s`` (absolute time in the source recording when its start was given),
  ``prototype_f0_hz``, ``prototype_f1_hz`` (the footprint of the feature cell it was projected
  onto: first and last bin centre / frame time), and for ``arch="audio"``
  ``prototype_freq_weight`` (prototype, freq): its learnt band weights spread over the bins
  (sums to 1 over freq);
- attrs: ``kind``, ``format_version``, ``arch``, ``model`` (saved directory or name),
  ``cell_frames`` / ``cell_bins`` (footprint of a feature cell), ``receptive_field``,
  ``attribution`` (how ``similarity`` was drawn: a method of
  :mod:`vocalpy_xai.protonet.faithfulness`, by default
  :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`; ``"linear"``, the cells'
  similarities upsampled, is the fast preview; read it with
  :func:`vocalpy_xai.io.activations.map_method`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..io.activations import FORMAT_VERSION, KIND, open_activations, write_activations
from . import grid
from .backbone import receptive_field

__all__ = [
    "FORMAT_VERSION",
    "KIND",
    "activation_dataset",
    "display",
    "open_activations",
    "prototype_attribution",
    "write_activations",
]


def _top_prototypes(model, parts: dict, top_k: int) -> np.ndarray:
    """Prototypes ranked by contribution to the predicted class (N, top_k)."""
    scores = parts["scores"]
    pred = parts["proba"].argmax(axis=1)
    weights = model.last_layer()
    if weights is None:  # ProtoTree: by similarity among the predicted class's prototypes
        mapping = model.network_.prototype_class_mapping.T  # (C, P)
        contrib = scores + 1e6 * mapping[pred]
    else:
        contrib = scores * weights[pred]
    k = min(top_k, scores.shape[1])
    return np.argsort(-contrib, axis=1, kind="stable")[:, :k]


def activation_dataset(
    model,
    X: np.ndarray,
    parts: dict,
    clip_ids: Sequence[str] | None = None,
    top_k: int = 3,
    sources: Sequence[dict] | None = None,
    attribution: str | None = None,
) -> xr.Dataset:
    """Assemble the activation dataset of windows ``X`` from the model's ``parts``.

    ``attribution``: how each prototype's map is drawn on the input
    (:data:`~vocalpy_xai.protonet.faithfulness.METHODS`; default
    :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`), recorded in
    ``attrs["attribution"]``.
    """
    from .model import normalize_sources

    n = len(X)
    src = normalize_sources(sources, n)
    if clip_ids is None:
        clip_ids = [s["clip"] if sources is not None else f"clip-{i}" for i, s in enumerate(src)]
    clip_ids = [str(c) for c in clip_ids]
    if len(clip_ids) != n:
        from .errors import SpectrogramInputError

        raise SpectrogramInputError(f"{len(clip_ids)} clip ids for {n} windows")
    view = display(model, X, parts["maps"], attribution)
    sim, spect = view["similarity"], view["spectrogram"]
    names = np.asarray(model.class_names_, dtype=str)
    protos = model.prototypes_
    n_proto = sim.shape[1]

    def proto(key, dtype):
        return ("prototype", np.asarray([p[key] for p in protos], dtype=dtype))

    ds = xr.Dataset(
        {
            "similarity": (("clip", "prototype", "freq", "time"), sim),
            "spectrogram": (("clip", "freq", "time"), spect),
            "clip_source_path": ("clip", np.asarray([s["source_path"] for s in src], dtype=str)),
            "clip_start_s": ("clip", np.asarray([s["start_s"] for s in src], dtype=float)),
            "predicted_class": ("clip", names[parts["proba"].argmax(axis=1)]),
            "class_scores": (("clip", "class"), parts["proba"].astype(np.float32)),
            "score": (("clip", "prototype"), parts["scores"].astype(np.float32)),
            "top_prototypes": (("clip", "rank"), _top_prototypes(model, parts, top_k)),
            "prototype_class": proto("class", str),
            "prototype_source_clip": proto("source_clip", str),
            "prototype_source_path": proto("source_path", str),
            "prototype_source_window": proto("window", int),
            "prototype_t0_s": proto("t0_s", float),
            "prototype_t1_s": proto("t1_s", float),
            "prototype_f0_hz": proto("f0_hz", float),
            "prototype_f1_hz": proto("f1_hz", float),
        },
        coords={
            "clip": ("clip", np.asarray(clip_ids, dtype=str)),
            "prototype": ("prototype", np.arange(n_proto)),
            "freq": ("freq", view["freq_hz"], {"units": "Hz"}),
            "time": ("time", view["time_s"], {"units": "s"}),
            "class": ("class", names),
            "rank": ("rank", np.arange(min(top_k, n_proto))),
        },
        attrs={
            "kind": KIND,
            "format_version": FORMAT_VERSION,
            "arch": model.params.arch,
            "model": str(getattr(model, "path_", "") or f"AudioProtoNet[{model.params.arch}]"),
            "frame_s": model.frame_s_,
            "attribution": view["attribution"],
            **view["attrs"],
        },
    )
    weights = model.freq_weights()
    if weights is not None:
        ds["prototype_freq_weight"] = (("prototype", "freq"), view["rows_on_grid"](weights))
    return ds


def display(
    model,
    X: np.ndarray,
    maps: np.ndarray | None,
    attribution: str | None = None,
    prototypes: Sequence[int] | None = None,
) -> dict:
    """Spectrogram, maps on its grid and the grid's geometry, for the model's backbone.

    CNN backbone: the input windows and their own grid. BirdNET backbone: branch 1 of
    BirdNET's own mel spectrogram on a linear frequency grid, its STFT frames as time
    (:class:`~vocalpy_xai.protonet.birdnet_backbone.BirdNETGeometry`). ``maps``: the
    prototypes' similarity maps over cells (N, P, H, W); ``maps=None``: the spectrogram
    only (``similarity`` is None). ``attribution``: how the maps are drawn on the grid
    (:func:`prototype_attribution`); ``prototypes``: the prototype index of each of the P
    maps (default ``0 ... P-1``). ``attrs["time_origin_s"]``: where column 0's left edge
    lies from the window's start.
    """
    from .faithfulness import DEFAULT_METHOD

    attribution = attribution or DEFAULT_METHOD
    if maps is not None and attribution != "linear":
        maps = prototype_attribution(model, X, maps.shape[1], attribution, prototypes)
    if not model.params.uses_birdnet:
        n_freq, n_time = X.shape[1:]
        stride = model.stride
        if maps is not None and attribution == "linear":
            maps = grid.upsample(maps, n_freq, n_time, stride)
        return {
            "similarity": maps,
            "attribution": attribution,
            "spectrogram": X.astype(np.float32),
            "freq_hz": np.asarray(model.freq_hz_, dtype=float),
            "time_s": np.arange(n_time) * model.frame_s_,
            "rows_on_grid": lambda w: grid.rows_on_grid(w, n_freq, stride),
            "attrs": {
                "backbone": "cnn",
                "time_origin_s": 0.0,
                "cell_frames": stride,
                "cell_bins": stride,
                "receptive_field": receptive_field(len(model.params.channels)),
            },
        }
    import torch

    from .errors import SpectrogramInputError

    if X.ndim != 2:
        raise SpectrogramInputError(
            "explanations of a BirdNET-backbone model need the audio chunks (N, 144000), "
            "not feature maps: they are drawn on the chunks' spectrograms"
        )
    geo = model.geometry_
    with torch.no_grad():
        spect = model._birdnet.spectrogram(torch.from_numpy(X)).numpy()
    g = geo.grid
    if maps is not None:  # cells (linear) or BirdNET's 96 mel rows onto the display rows
        maps = (
            geo.upsample(maps)
            if attribution == "linear"
            else np.einsum("fr,...rt->...ft", geo.row_matrix, maps).astype(np.float32)
        )
    return {
        "similarity": maps,
        "attribution": attribution,
        "spectrogram": geo.spectrogram_db(spect),
        "freq_hz": geo.freq_hz,
        "time_s": geo.time_s,
        "rows_on_grid": geo.rows_on_grid,
        "attrs": {
            "backbone": f"birdnet_v2.4:{model.params.birdnet_layer}",
            "time_origin_s": float(geo.time_s[0] - geo.frame_s / 2),
            "cell_frames": int(round(g.jump[1])),
            "cell_bins": int(round(g.jump[0])),
            "receptive_field": int(round(g.rf[1])),
            "freq_axis": "BirdNET branch 1 mel bands (0.5-15 kHz) resampled to linear Hz",
        },
    }


def prototype_attribution(
    model, X: np.ndarray, n_maps: int, method: str, prototypes: Sequence[int] | None = None
) -> np.ndarray:
    """Each prototype's map (N, P, R, T) on the input grid by an attribution ``method``.

    The maps of :func:`vocalpy_xai.protonet.faithfulness.attribution_maps` with
    ``kind="prototype"`` (gradient methods: one backward pass per window and prototype), on
    the model's ``params.num_threads`` torch threads as its predictions (more threads than
    free cores make BirdNET's many small operators wait on each other).
    """
    from .faithfulness import attribution_maps, input_grid
    from .training import torch_threads

    index = np.arange(n_maps) if prototypes is None else np.asarray(prototypes, dtype=int)
    grids = input_grid(model, X)
    n = len(grids)
    reps = np.repeat(np.arange(n), len(index))
    with torch_threads(model.params.num_threads):
        maps = attribution_maps(
            model, X[reps], np.tile(index, n), method, kind="prototype", grids=grids[reps]
        )
    return maps.reshape(n, len(index), *maps.shape[1:])
