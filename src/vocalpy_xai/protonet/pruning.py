"""ProtoPNet's pruning for ``banded`` heads: prototypes that other classes resemble are disabled.

ProtoPNet (Chen et al. 2019) and cabrnet's :meth:`~cabrnet.archs.protopnet.model.ProtoPNet.prune`
remove a prototype when too few of its nearest training patches are of its class. cabrnet's
own method cannot run on a ``banded`` head (it compares prototypes with every cell of the map,
not their band, and replaces the own-class last layer by a plain ``nn.Linear``), so this
module applies the same rule with the measure the project reports:
:func:`~vocalpy_xai.protonet.quality.prototype_purity`, the share of a prototype's ``k``
most similar training windows (similarity inside its band and time span) of its class.

A pruned prototype is *disabled*, as cabrnet does with ``disable_pruned_prototypes=True``:
its row of ``proto_class_map`` is zero (cabrnet's ``prototype_is_active`` is False) and its
last-layer weight is zero, so it no longer adds to any class; tensors keep their shape, so a
saved model loads as any other. Each class keeps at least its purest prototype. Then, as
ProtoPNet after pruning, the last layer alone is refit (:func:`refit_last_layer`).
"""

from __future__ import annotations

import numpy as np
import torch

#: training windows a prototype's purity is measured on (as the benchmarks')
PURITY_K = 10
#: optimiser steps of the last-layer refit after pruning
REFIT_STEPS = 100


def active_prototypes(model) -> np.ndarray:
    """(P,) bool: the prototypes still connected to a class (all, for an unpruned model)."""
    return np.asarray(model.network_.prototype_class_mapping).any(axis=1)


@torch.no_grad()
def prune_impure(model, X, y, threshold: float, k: int = PURITY_K) -> dict:
    """Disable the prototypes of a trained ``banded`` model whose purity is below ``threshold``.

    Parameters
    ----------
    model : AudioProtoNet
        A trained model with ``arch="banded"``.
    X, y : numpy.ndarray
        Its training windows and their classes (what purity is measured on).
    threshold : float
        Smallest purity (share of the ``k`` most similar windows of the prototype's class)
        a prototype keeps its place with.
    k : int
        Windows per prototype.

    Returns
    -------
    dict
        ``purity`` (P,) before pruning, ``active`` (P,) bool after it, ``threshold``, ``k``,
        ``history`` of the last-layer refit.
    """
    from .quality import prototype_purity

    if model.params.arch != "banded":
        raise ValueError(f"pruning is for arch='banded' models, not {model.params.arch!r}")
    clf = model.network_.classifier
    purity = prototype_purity(model, X, y, k=k)
    was_active = active_prototypes(model)
    classes = clf.proto_class_map.argmax(1).numpy()
    active = was_active & (purity >= threshold)
    for c in np.unique(classes[was_active]):  # every class keeps its purest prototype
        own = np.flatnonzero((classes == c) & was_active)
        if not active[own].any():
            active[own[np.argmax(purity[own])]] = True
    off = torch.from_numpy(np.flatnonzero(~active))
    clf.proto_class_map[off] = 0
    clf.last_layer.class_map[off] = 0
    clf.last_layer.raw[off] = 0
    history = refit_last_layer(model, X, y)
    return {
        "purity": purity,
        "active": active,
        "threshold": float(threshold),
        "k": int(k),
        "history": history,
    }


def refit_last_layer(model, X, y, steps: int = REFIT_STEPS) -> list[dict]:
    """Train a ``banded`` model's last layer alone (weights, biases, temperature) on its windows.

    The pooled prototype scores do not change: they are computed once. A disabled
    prototype's weight stays zero (``relu`` has no gradient there). Adam, cross-entropy,
    batches of ``params.batch_size``, ``steps`` steps. Returns history rows.
    """
    import torch.nn.functional as F

    from .banded import train_last_layer

    layer = model.network_.classifier.last_layer
    scores = torch.from_numpy(model._parts(model._prepare(X))["scores"])
    labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
    train_last_layer(layer, scores, labels, model.params.batch_size, model.params.seed, steps)
    history = []
    with torch.no_grad():
        logits = layer(scores)
        history.append(
            {
                "phase": "prune",
                "step": steps,
                "loss": float(F.cross_entropy(logits, labels)),
                "accuracy": float((logits.argmax(1) == labels).float().mean()),
            }
        )
    return history
