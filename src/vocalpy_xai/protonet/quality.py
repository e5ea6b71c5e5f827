"""How good are the explanations? Prototype purity, activation inside masks, deletion test.

- :func:`prototype_purity`: a prototype is "pure" when the training windows it resembles most
  are of its own class;
- :func:`activation_in_mask`: the share of an explanation's activation mass that falls inside
  annotated regions (e.g. the syllables), to compare with the mask's own share of the grid;
- :func:`deletion_test`: faithfulness; removing the most activated 10 % of time-frequency
  bins should hurt the true-class score more than removing a random 10 % (one point of
  the full deletion / insertion curves of :mod:`~vocalpy_xai.protonet.faithfulness`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import SpectrogramInputError
from .model import AudioProtoNet


def _band_weighted(model: AudioProtoNet, maps: np.ndarray) -> np.ndarray:
    """Maps (N, P, H, W) weighted by each prototype's band (``audio``; others unchanged)."""
    w = model.freq_weights()
    if w is None:
        return maps
    return maps * (w / w.max(axis=1, keepdims=True))[None, :, :, None]


def _prototype_class_map(model: AudioProtoNet) -> np.ndarray:
    """(P, C) 0/1: the classes each prototype stands for."""
    if model.params.arch == "blackbox":
        return np.eye(len(model.class_names_))
    return np.asarray(model.network_.prototype_class_mapping)


def prototype_purity(model: AudioProtoNet, X, y, k: int = 10) -> np.ndarray:
    """Share of each prototype's ``k`` nearest training windows that are of its class.

    Each window is represented by its patch most similar to the prototype (for
    ``arch="audio"``, similarity weighted by the prototype's band, as in projection), so
    neighbouring cells of one syllable count once.

    Returns
    -------
    purity : numpy.ndarray
        (P,) in [0, 1]; chance is the share of the prototype's class in ``y``. NaN for a
        prototype pruned from every class (:mod:`~vocalpy_xai.protonet.pruning`).
    """
    if model.params.arch == "blackbox":
        raise SpectrogramInputError("a blackbox model has no prototypes; purity is undefined")
    X = model._prepare(X)
    y = np.asarray(y)
    if len(y) != len(X):
        raise SpectrogramInputError(f"{len(y)} labels for {len(X)} windows")
    maps = _band_weighted(model, model._parts(X)["maps"])
    best = maps.reshape(maps.shape[0], maps.shape[1], -1).max(axis=2)  # (N, P)
    k = min(k, len(X))
    nearest = np.argsort(-best, axis=0, kind="stable")[:k]  # (k, P)
    classes = _prototype_class_map(model)  # (P, C)
    hits = classes[np.arange(best.shape[1])[None, :], y[nearest]]  # (k, P)
    return np.where(classes.any(axis=1), hits.mean(axis=0, dtype=float), np.nan)


def activation_in_mask(ds: xr.Dataset, mask, which: str = "top") -> np.ndarray:
    """Share of each clip's activation mass inside a boolean mask.

    Parameters
    ----------
    ds : xarray.Dataset
        An activation dataset (:meth:`AudioProtoNet.explain` / :func:`open_activations`).
    mask : array-like or xarray.DataArray of bool
        (clip, freq, time) or (clip, time) (then the same for every frequency), on the
        dataset's grid, e.g. True inside annotated syllables.
    which : str
        ``"top"``: the map of each clip's top prototype (``top_prototypes`` rank 0);
        ``"all"``: the sum of all prototypes' maps.

    Returns
    -------
    share : numpy.ndarray
        (clip,) in [0, 1]. Mass is the map minus its minimum (so a constant offset counts
        for nothing); compare with the mask's own share of the grid (chance).
    """
    sim = ds["similarity"]
    if which == "top":
        top = xr.DataArray(np.asarray(ds["top_prototypes"].values[:, 0]), dims="clip")
        maps = sim.isel(prototype=top)
        maps = maps - maps.min(dim=("freq", "time"))
    elif which == "all":
        maps = (sim - sim.min(dim=("freq", "time"))).sum("prototype")
    else:
        raise ValueError(f"which must be 'top' or 'all', got {which!r}")
    maps = np.asarray(maps.transpose("clip", "freq", "time").values, dtype=float)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2:
        mask = mask[:, None, :]
    try:
        mask = np.broadcast_to(mask, maps.shape)
    except ValueError as err:
        raise SpectrogramInputError(
            f"mask of shape {np.shape(mask)} does not fit the maps (clip, freq, time) {maps.shape}"
        ) from err
    total = maps.sum(axis=(1, 2))
    inside = (maps * mask).sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def relevance_cells(model: AudioProtoNet, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Evidence for ``classes`` (N,) on the feature cells (N, H, W).

    ProtoPNet variants: the sum of prototype similarity maps (band-weighted for ``audio``)
    weighted by the positive last-layer weights to the class; ProtoTree: the sum of the maps
    of the class's prototypes; blackbox: the class activation map.
    """
    maps = _band_weighted(model, model._parts(X)["maps"])
    weights = model.last_layer()
    if weights is None:
        coef = _prototype_class_map(model).T[classes]
    else:
        coef = np.clip(weights[classes], 0, None)
    return np.einsum("np,nphw->nhw", coef, maps)


def deletion_test(
    model: AudioProtoNet, X, y, fraction: float = 0.10, seed: int = 0, method: str | None = None
) -> dict[str, np.ndarray | float]:
    """Delete the most relevant ``fraction`` of time-frequency bins vs a random ``fraction``.

    One point of the deletion curve (:func:`~vocalpy_xai.protonet.faithfulness.perturbation_curves`
    gives the whole curve and insertion). Deleting sets a bin to its row's background level
    (:func:`~vocalpy_xai.protonet.faithfulness.removal_baseline`). The true class's score (logit; log-probability for ProtoTree) is
    computed on the intact window, with the most relevant bins deleted (attribution
    ``method``, default :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`) and with
    as many random bins deleted. BirdNET backbone: ``X`` are audio chunks, and the bins are
    those of BirdNET's own two-channel spectrogram (both channels deleted together).

    Returns
    -------
    result : dict
        ``score`` (N,), ``drop_top`` (N,), ``drop_random`` (N,) (score minus score after
        deletion), ``beats_random`` (N,) bool, ``share_beats_random`` (float: share of windows
        where deleting the top bins hurt more), ``fraction``.
    """
    from .faithfulness import DEFAULT_METHOD, attribution_maps, edit_grids, grid_scores, input_grid

    method = method or DEFAULT_METHOD

    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    X = model._prepare(X)
    y = np.asarray(y, dtype=int)
    if len(y) != len(X):
        raise SpectrogramInputError(f"{len(y)} labels for {len(X)} windows")
    grids = input_grid(model, X)
    rel = attribution_maps(model, X, y, method, grids=grids).reshape(len(X), -1)
    n_bins = rel.shape[1]
    n_del = max(1, int(round(fraction * n_bins)))
    rng = np.random.default_rng(seed)
    top = np.concatenate(
        [
            edit_grids(g, np.argsort(-r, kind="stable"), [n_del], "deletion")
            for g, r in zip(grids, rel, strict=True)
        ]
    )
    rand = np.concatenate(
        [
            edit_grids(g, rng.choice(n_bins, n_del, replace=False), [n_del], "deletion")
            for g in grids
        ]
    )
    rows = np.arange(len(X))
    base = grid_scores(model, grids, "logits")[rows, y]
    drop_top = base - grid_scores(model, top, "logits")[rows, y]
    drop_random = base - grid_scores(model, rand, "logits")[rows, y]
    beats = drop_top > drop_random
    return {
        "score": base,
        "drop_top": drop_top,
        "drop_random": drop_random,
        "beats_random": beats,
        "share_beats_random": float(beats.mean()),
        "fraction": float(fraction),
    }
