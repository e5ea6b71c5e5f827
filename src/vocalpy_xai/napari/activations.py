"""Prototype activation stores: drawing their maps as napari layers.

Reading and checking a store is :func:`vocalpy_xai.io.activations.open_activations` (one
torch-free module for the format, re-exported here). The format (written by
``vocalpy_xai.protonet.write_activations``): a zarr
:class:`xarray.Dataset` with attributes ``kind="vocalpy-xai-activations"`` and
``format_version=1``, holding

- ``similarity`` (clip, prototype, freq, time) float32 on the input spectrogram's grid and
  ``spectrogram`` (clip, freq, time); coords ``clip`` (str), ``prototype`` (int), ``freq`` (Hz),
  ``time`` (s), ``class``;
- per clip: ``clip_source_path``, ``clip_start_s``, ``predicted_class``, ``class_scores``
  (clip, class); per prototype: ``prototype_class``, ``prototype_source_clip``,
  ``prototype_source_path``, ``prototype_t0_s``, ``prototype_t1_s``, ``prototype_f0_hz``,
  ``prototype_f1_hz``; ``score`` (clip, prototype) and ``top_prototypes`` (clip, rank).
"""

from __future__ import annotations

import pathlib

import numpy as np
import xarray as xr

from ..io.activations import (
    FORMAT_VERSION,
    KIND,
    REQUIRED,
    is_activation_store,
    map_method,
    open_activations,
)
from .coords import grid_transform
from .segments_layer import META_KEY

#: ``attrs["kind"]`` of an activation store (the format: :mod:`vocalpy_xai.io.activations`)
ACTIVATIONS_KIND: str = KIND
#: colours of prototype layers by rank in the clip (the panel's legend uses the same): each
#: map runs from transparent to its colour, drawn translucent, so overlapping maps keep their
#: colours instead of adding up to white
PROTOTYPE_COLOURS = (
    "#ff2bd6",
    "#00e5ff",
    "#7cff3a",
    "#ffa600",
    "#ff4040",
    "#4f7dff",
    "#c080ff",
    "#ffffff",
)
#: prototype layers made visible when a clip opens (its best-ranked ones)
VISIBLE_TOP: int = 3

__all__ = [
    "ACTIVATIONS_KIND",
    "FORMAT_VERSION",
    "REQUIRED",
    "activation_layers",
    "clip_index",
    "map_method",
    "is_activation_store",
    "open_activations",
    "prototype_colour",
    "prototype_colormap",
    "top_prototypes",
]


def clip_index(ds: xr.Dataset, clip: int | str | None) -> int:
    """Position of ``clip`` (a position or a ``clip`` coordinate value; default the first)."""
    if clip is None:
        return 0
    names = [str(c) for c in ds["clip"].values]
    if isinstance(clip, str):
        if clip not in names:
            raise KeyError(f"no clip {clip!r} in the activation store; clips: {names[:10]}...")
        return names.index(clip)
    if not 0 <= int(clip) < len(names):
        raise IndexError(f"clip {clip} out of range (the store holds {len(names)})")
    return int(clip)


def top_prototypes(ds: xr.Dataset, clip: int | str | None, n: int | None = None) -> list[dict]:
    """The clip's best-ranked prototypes: id, class, score and source patch.

    A ranked prototype the dataset does not hold (a subset of its prototypes, e.g. with
    ``ds.sel(prototype=...)``) is left out: it has no score or map here.
    """
    c = clip_index(ds, clip)
    protos = [int(p) for p in ds["prototype"].values]
    ranked = np.asarray(ds["top_prototypes"].isel(clip=c).values).astype(int)
    ranked = [int(p) for p in ranked if p >= 0 and int(p) in protos]
    out = []
    for p in ranked[:n] if n else ranked:
        j = protos.index(p)
        out.append(
            {
                "prototype": int(ds["prototype"].values[j]),
                "index": j,
                "class": str(ds["prototype_class"].values[j]),
                "score": float(ds["score"].isel(clip=c, prototype=j).values),
                "source_path": str(ds["prototype_source_path"].values[j]),
                "source_clip": str(ds["prototype_source_clip"].values[j])
                if "prototype_source_clip" in ds
                else "",
                "t0_s": float(ds["prototype_t0_s"].values[j]),
                "t1_s": float(ds["prototype_t1_s"].values[j]),
                "f0_hz": float(ds["prototype_f0_hz"].values[j]),
                "f1_hz": float(ds["prototype_f1_hz"].values[j]),
            }
        )
    return out


def like_text(proto: dict) -> str:
    """ "like that part of <clip> at <t> s, <f0-f1> Hz": a prototype's (:func:`top_prototypes`) source."""
    from ..protonet.evidence import looks_like

    clip = pathlib.PurePath(proto.get("source_clip") or "").name
    return looks_like(None, {**proto, "clip": clip})


def prototype_colour(rank: int) -> str:
    """The colour (hex) of the prototype ranked ``rank`` (0: best) in a clip."""
    return PROTOTYPE_COLOURS[rank % len(PROTOTYPE_COLOURS)]


def prototype_colormap(rank: int):
    """A napari colormap from transparent to :func:`prototype_colour` (``rank``)."""
    from napari.utils.colormaps import Colormap

    colour = prototype_colour(rank).lstrip("#")
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    return Colormap([[*rgb, 0.0], [*rgb, 0.85]], name=f"vocalpy-xai prototype {rank}")


def activation_layers(
    ds: xr.Dataset, clip: int | str | None = None, time_offset_s: float = 0.0
) -> list[tuple]:
    """One Image LayerData per prototype: its similarity map over the clip's spectrogram.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`open_activations`.
    clip : int or str, optional
        Position or name of the clip (default the first).
    time_offset_s : float
        Added to the store's times (e.g. ``clip_start_s`` to draw over the whole recording).

    Returns
    -------
    layers : list of (data, kwargs, "image")
        Translucent, one colour each by rank (:func:`prototype_colour`); the clip's
        :data:`VISIBLE_TOP` best prototypes are visible, the others hidden (tick them in the
        layer list or the panel). Named ``prototype <k> (<class>, <method>)``: the method
        that drew the maps (:func:`~vocalpy_xai.io.activations.map_method`), also in the
        layers' metadata.
    """
    c = clip_index(ds, clip)
    freqs = np.asarray(ds["freq"].values, float)
    sim = ds["similarity"].isel(clip=c).transpose("prototype", "freq", "time")
    flip = len(freqs) > 1 and freqs[0] > freqs[-1]
    if flip:
        freqs = freqs[::-1]
    transform = grid_transform(freqs, np.asarray(ds["time"].values, float) + time_offset_s)
    ranked = [p["index"] for p in top_prototypes(ds, c)]
    rank_of = {j: r for r, j in enumerate(ranked)}
    visible = set(ranked[:VISIBLE_TOP])
    scores = np.asarray(ds["score"].isel(clip=c).values, float)
    method = map_method(ds)
    layers = []
    for j, proto in enumerate(ds["prototype"].values):
        data = sim.isel(prototype=j).data
        if flip:
            data = data[::-1]
        data = np.asarray(data, dtype=np.float32)
        top = float(np.nanmax(data)) if np.isfinite(data).any() else 1.0
        klass = str(ds["prototype_class"].values[j])
        layers.append(
            (
                data,
                {
                    "name": f"prototype {int(proto)} ({klass}, {method})",
                    "colormap": prototype_colormap(rank_of.get(j, j)),
                    "blending": "translucent",
                    "opacity": 1.0,
                    "contrast_limits": (max(0.0, top * 0.5), max(top, 1e-6)),
                    "visible": j in visible,
                    **transform,
                    "metadata": {
                        META_KEY: {
                            "role": "activation",
                            "store_path": ds.encoding.get("store_path"),
                            "clip": str(ds["clip"].values[c]),
                            "prototype": int(proto),
                            "class": klass,
                            "score": float(scores[j]),
                            "rank": int(rank_of.get(j, -1)),
                            "colour": prototype_colour(rank_of.get(j, j)),
                            "attribution": method,
                        }
                    },
                },
                "image",
            )
        )
    return layers
