"""Choosing the ``banded`` head's push rule on inner folds of the training recordings.

The push (:func:`vocalpy_xai.protonet.banded.push`) makes every prototype a training cell,
and which cell it takes (how pure a cell must be) and how long the last layer is then
retrained change the model's accuracy by a clip or two in a hundred on the 10-species
benchmark: too little to choose on the test folds, which would then no longer test.
:func:`select_push` chooses among :data:`CANDIDATES` on the training data alone: the
training recordings are split into inner folds by recording
(:func:`vocalpy_xai.clips.species_folds`, stratified by class), a head is trained on each
inner training part once, every candidate pushes a copy of it, and the candidate with the
best clip accuracy on the held-out recordings (a clip's class: the mean of its chunks'
probabilities) over all inner folds wins; ties go to the earlier candidate.
"""

from __future__ import annotations

import copy

import attrs
import numpy as np
import pandas as pd
import torch

#: push rules tried by ``ProtoNetParams(select="inner")``, in order of preference (ties go
#: to the earlier): ``push_purity`` (1: every one of the cell's 10 most similar training
#: chunks is of its class; 0: the nearest cell of its class) x ``last_layer_steps``
CANDIDATES: tuple[dict, ...] = tuple(
    {"projection": "pure", "push_purity": purity, "last_layer_steps": steps}
    for purity in (1.0, 0.9, 0.8, 0.0)
    for steps in (100, 300)
)


def inner_folds(groups: np.ndarray, y: np.ndarray, n_folds: int, seed: int) -> list[tuple]:
    """Folds of chunk indices by recording: ``(train, val)`` pairs, or ``[]`` if impossible.

    ``groups``: the recording of each chunk; ``y``: its class. The folds are
    :func:`vocalpy_xai.clips.species_folds` of the recordings (``min(n_folds, fewest
    recordings of a class)`` folds); none when a class has fewer than 2 recordings.
    """
    from ..clips import species_folds

    table = pd.DataFrame({"label": y, "recording": groups}).drop_duplicates()
    if table["recording"].duplicated().any():
        raise ValueError("a recording's chunks carry more than one class")
    fewest = int(table.groupby("label")["recording"].nunique().min())
    n = min(n_folds, fewest)
    if n < 2:
        return []
    folds = species_folds(table, n, seed=seed, label_column="label", group_column="recording")
    recordings = table["recording"].to_numpy()
    return [
        (
            np.flatnonzero(np.isin(groups, recordings[train])),
            np.flatnonzero(np.isin(groups, recordings[val])),
        )
        for train, val in folds
    ]


@torch.no_grad()
def clip_hits(clf, features: np.ndarray, y: np.ndarray, groups: np.ndarray) -> list[bool]:
    """Per recording: is the mean of its chunks' probabilities highest for its class?"""
    proba = torch.softmax(clf(torch.from_numpy(np.ascontiguousarray(features)))[0], 1).numpy()
    return [
        bool(proba[groups == g].mean(0).argmax() == y[groups == g][0]) for g in np.unique(groups)
    ]


def candidate_hits(
    build, params, features: np.ndarray, y: np.ndarray, val_features, val_y, val_groups
) -> list[list[bool]]:
    """Per candidate of :data:`CANDIDATES`, its :func:`clip_hits` on held-out recordings.

    One head is trained on ``features``, ``y`` (``build()``: a fresh network; ``params``:
    its budget, ``projection="none"``), and every candidate pushes and retrains the last
    layer of a copy of it.
    """
    from .banded import all_cell_purity, push, train_head

    net = build()
    train_head(net, attrs.evolve(params, projection="none"), features, y, progress=False)
    trained = copy.deepcopy(net.classifier.state_dict())
    purity = all_cell_purity(features, y)  # the same for every candidate
    hits = []
    for candidate in CANDIDATES:
        net.classifier.load_state_dict(trained)  # every candidate pushes the same head
        push(net, attrs.evolve(params, **candidate), features, y, purity)
        hits.append(clip_hits(net.classifier, val_features, val_y, np.asarray(val_groups)))
    return hits


def select_push(build, params, features: np.ndarray, y: np.ndarray, groups) -> tuple:
    """The candidate of :data:`CANDIDATES` with the best inner clip accuracy, and the record.

    Parameters
    ----------
    build : callable
        ``build()`` returns a fresh, untrained network (a ``banded`` head).
    params : ProtoNetParams
        The model's parameters (``inner_folds``, ``seed`` and the training budget).
    features : numpy.ndarray
        Feature maps (N, C, H, W) of the training chunks; ``y`` their classes (N,).
    groups : sequence
        The recording of each chunk.

    Returns
    -------
    chosen : dict
        ``ProtoNetParams`` fields of the chosen candidate (``{}`` when skipped).
    record : dict
        ``candidates`` (each with its inner ``accuracy`` and ``hits``), ``chosen``,
        ``folds``, ``recordings`` held out over all folds, or ``skipped`` and why.
    """
    groups = np.asarray(groups, dtype=str)
    folds = inner_folds(groups, y, params.inner_folds, params.seed)
    if not folds:
        return {}, {"skipped": "a class has fewer than 2 recordings (sources' clip)"}
    hits: list[list[bool]] = [[] for _ in CANDIDATES]
    for train, val in folds:
        fold = candidate_hits(
            build, params, features[train], y[train], features[val], y[val], groups[val]
        )
        for k, h in enumerate(fold):
            hits[k] += h
    accuracy = [float(np.mean(h)) for h in hits]
    best = int(np.argmax(accuracy))  # the first of the best
    record = {
        "folds": len(folds),
        "recordings": len(hits[0]),
        "candidates": [
            {**c, "accuracy": a, "hits": int(np.sum(h))}
            for c, a, h in zip(CANDIDATES, accuracy, hits, strict=True)
        ],
        "chosen": dict(CANDIDATES[best]),
    }
    return dict(CANDIDATES[best]), record


def outer_candidates(model, features, y, test_features, test_y, test_groups) -> list[dict]:
    """Every candidate's clip accuracy on a test set, for a fitted ``banded`` BirdNET model.

    For reporting only (a benchmark's outer folds, where choosing would be peeking): the
    head is retrained on ``features``, ``y`` with the model's parameters and seed, then
    every candidate pushes it (:func:`candidate_hits`).
    """
    from .networks import build_birdnet_network

    p, n = model.params, len(model.class_names_)
    hits = candidate_hits(
        lambda: build_birdnet_network(p, n, model._birdnet)[0],
        p, features, y, test_features, test_y, test_groups,
    )  # fmt: skip
    return [{**c, "hits": h} for c, h in zip(CANDIDATES, hits, strict=True)]
