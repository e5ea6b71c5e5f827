"""The ``banded`` prototype head on a frozen BirdNET: cosine prototypes, each in one frequency band.

After AudioProtoPNet (Heinrich et al. 2025, code DBD-research-group/AudioProtoPNet), adapted
to keep what BirdNET knows:

* **1x1 prototypes compared by cosine similarity** (cabrnet's
  :class:`~cabrnet.core.utils.similarities.CosineSimilarity`) in BirdNET's own channels
  (no add-on layers: the frozen feature space was trained on 6,522 species);
* **a hard frequency band**: each prototype belongs to one row of the feature map (its
  band, reported in Hz) and is compared with the cells of that row only, max over time
  (its time span is the cell it matches best). ``freq_weights`` are one-hot;
* **a non-negative last layer connected to each prototype's own class**
  (:class:`OwnClassLinear`), times a learnt temperature, plus a bias per class (an
  option, ``ProtoNetParams.last_layer="full"``: also ProtoPNet's wrong-class connections,
  zero while the prototypes train, then trained, L1-penalised, after the push);
* **orthogonality loss** between the prototypes of a class (AudioProtoPNet's; an option,
  ``ProtoNetParams.cluster_costs``: also ProtoPNet's cluster and separation costs, which
  AudioProtoPNet turns off, to keep prototypes near training cells of their class);
* **initialised from class-wise k-means** of the training cells of each class in each band,
  so that training starts from a class-mean-like model, and **a budget in optimiser steps**
  (``ProtoNetParams.steps``), not epochs, so that 60 and 6,000 chunks are trained alike.

After training, every prototype is **pushed onto a training cell** of its class in its band
(:func:`push`; ``ProtoNetParams.projection``: ``"pure"``, the nearest cell whose 10 most
similar training chunks are at least ``push_purity`` of its class, by default; ``"nearest"``,
cabrnet's own projection; ``"none"``), then the last layer alone is trained
(:func:`finetune_last_layer`), as ProtoPNet does. A pushed prototype *is* that cell: its
provenance (clip, time in s, band in Hz) is exact, with ``similarity`` 1. With the
own-class last layer the push costs 1-2 clips of 100 on the 10-species benchmark,
whichever rule :mod:`~vocalpy_xai.protonet.selection` chooses on inner folds; the full last
layer (with or without the cluster costs) wins back 4 of the 400 held-out recordings of the
inner folds, still 2 below 5-NN (``benchmarks/bench_case_based.py``, docs/birdnet.md).

A class is added (:func:`add_class`) the way the head was initialised: k-means of the new
class's cells per band; the new prototypes get the mean own-class weight and the mean bias
of the known classes, which are left untouched; then pushed like the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._cabrnet import ProtoPNetClassifier
from .cabrnet_arch import AudioProtoPNetClassifier

#: k-means restarts per class and band when initialising prototypes
KMEANS_INIT = 3
#: initial temperature of the logits (cosine similarities lie in [-1, 1])
INITIAL_SCALE = 10.0
#: learning rate of prototypes, weights, biases and temperature
LEARNING_RATE = 5e-3
#: training steps between two rows of the training history
HISTORY_EVERY = 50
#: nearest training chunks a pure cell's class must own (as the benchmark's purity)
PURITY_K = 10
#: similarities computed at once when scoring candidate cells (bounds memory on big sets)
PURITY_BLOCK = 2**24
#: ``last_layer="full"``: L1 weight of the wrong-class connections in the last-layer stage
WRONG_CLASS_L1 = 1e-3


class OwnClassLinear(nn.Module):
    """Last layer connecting each prototype to its own class, with a weight ``>= 0``.

    ``logits = scale * (relu(w) * class_map.T) @ scores + bias``. :attr:`weight` is the
    effective (C, P) matrix, as cabrnet's ``nn.Linear`` last layer exposes it.

    ``cross=True`` (``ProtoNetParams.last_layer="full"``): ProtoPNet's full last layer,
    ``weight + cross``, where :attr:`cross` (C, P) starts at zero and is not trained with
    the prototypes (:func:`train_head`); in the last-layer stage after the push
    (:func:`train_last_layer`) ``cross`` and the biases alone are trained, every entry (so
    the own-class weights are adjusted and every prototype gets wrong-class connections of
    either sign: a prototype of class B that fires can lower or raise class A's logit), with
    an L1 penalty (:data:`WRONG_CLASS_L1`) on the wrong-class entries, as ProtoPNet's
    last-layer optimisation does.
    """

    def __init__(self, class_map: Tensor, cross: bool = False):
        super().__init__()
        n_proto, n_cls = class_map.shape
        self.register_buffer("class_map", class_map.clone(), persistent=False)
        per_class = class_map.sum(0).clamp_min(1)  # prototypes of each class
        self.raw = nn.Parameter((class_map / per_class).sum(1))
        self.bias = nn.Parameter(torch.zeros(n_cls))
        self.log_scale = nn.Parameter(torch.tensor(float(np.log(INITIAL_SCALE))))
        self.cross = nn.Parameter(torch.zeros(n_cls, n_proto)) if cross else None

    @property
    def weight(self) -> Tensor:
        own = self.log_scale.exp() * F.relu(self.raw)[None, :] * self.class_map.T
        if self.cross is None:
            return own
        return own + self.cross

    def penalty(self) -> Tensor:
        """L1 of the wrong-class connections (0 without them)."""
        if self.cross is None:
            return torch.zeros(())
        return WRONG_CLASS_L1 * (self.cross * (1 - self.class_map.T)).abs().sum()

    def forward(self, scores: Tensor) -> Tensor:
        return scores @ self.weight.T + self.bias


class BandedCosineClassifier(ProtoPNetClassifier):
    """cabrnet ProtoPNet classifier with cosine prototypes tied to one frequency row each.

    Prototype ``p`` belongs to class ``p // (rows * per_band)`` and to row
    ``(p % (rows * per_band)) // per_band``.

    Parameters
    ----------
    similarity_config : dict
        cabrnet similarity layer (``{"name": "CosineSimilarity"}``).
    num_classes, num_features : int
        Classes; channels of the feature map.
    num_proto_per_band : int
        Prototypes of each class in each row.
    num_freq_rows : int
        Rows (frequency bands) of the feature map.
    time_centre : float
        Share of the map's columns, around its centre, where prototypes are matched (1:
        all; syllable windows centred on their syllable: the syllable's part).
    full_last_layer : bool
        Give the last layer ProtoPNet's wrong-class connections (:class:`OwnClassLinear`
        ``cross``; ``ProtoNetParams.last_layer="full"``).
    """

    def __init__(
        self,
        similarity_config: dict[str, Any],
        num_classes: int,
        num_features: int,
        num_proto_per_band: int,
        num_freq_rows: int,
        time_centre: float = 1.0,
        full_last_layer: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(
            similarity_config=similarity_config,
            num_classes=num_classes,
            num_features=num_features,
            num_proto_per_class=num_proto_per_band * num_freq_rows,
            **kwargs,
        )
        self.num_freq_rows = int(num_freq_rows)
        self.num_proto_per_band = int(num_proto_per_band)
        self.time_centre = float(time_centre)
        per_class = self.num_proto_per_class
        rows = (torch.arange(self.num_prototypes) % per_class) // self.num_proto_per_band
        self.register_buffer("proto_rows", rows)
        self.last_layer = OwnClassLinear(self.proto_class_map, cross=full_last_layer)

    def freq_weights(self) -> Tensor:
        """One-hot band of each prototype (P, H)."""
        return F.one_hot(self.proto_rows, self.num_freq_rows).float()

    _check_rows = AudioProtoPNetClassifier._check_rows

    def columns(self, width: int) -> slice:
        """The central columns of a map ``width`` columns wide where prototypes are matched."""
        keep = min(width, max(1, round(width * self.time_centre)))
        lo = (width - keep) // 2
        return slice(lo, lo + keep)

    def similarities(self, features: Tensor, **kwargs) -> Tensor:
        """Cosine similarity maps (N, P, H, W), zero outside each prototype's band and columns."""
        self._check_rows(features)
        sims = self.similarity_layer.similarities(features, self.prototypes)
        span = torch.zeros(sims.shape[3])
        span[self.columns(sims.shape[3])] = 1
        return sims * self.freq_weights()[None, :, :, None] * span

    def pooled(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Scores (N, P): max over time of the similarity in the prototype's band; distances."""
        self._check_rows(features)
        sims = self.similarity_layer.similarities(features, self.prototypes)  # (N, P, H, W)
        index = self.proto_rows[None, :, None, None].expand(len(sims), -1, 1, sims.shape[3])
        scores = sims.gather(2, index)[:, :, 0, self.columns(sims.shape[3])].max(dim=2).values
        return scores, 1 - scores

    def forward(self, features: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        scores, distances = self.pooled(features)
        return self.last_layer(scores), distances

    def cluster_costs(self, scores: Tensor, labels: Tensor, params) -> Tensor:
        """ProtoPNet's cluster and separation costs on pooled scores (N, P) of a batch.

        Cluster: mean over chunks of ``1 - `` the best score of a prototype of the chunk's
        class; separation: mean of ``1 - `` the best score of another class's prototype.
        Weighted by ``params.clustering`` and ``params.separation`` (cabrnet's 0.8 and
        -0.08: the separation term pushes other classes' prototypes away).
        """
        own = self.proto_class_map[:, labels].T.bool()  # (N, P)
        cluster = (1 - scores.masked_fill(~own, -2).max(1).values).mean()
        separation = (1 - scores.masked_fill(own, -2).max(1).values).mean()
        return params.clustering * cluster + params.separation * separation

    def orthogonality(self) -> Tensor:
        """AudioProtoPNet's orthogonality loss: ``|Q_c Q_c^T - I|^2`` over classes."""
        q = F.normalize(self.prototypes[:, :, 0, 0], dim=1)
        q = q.reshape(self.num_classes, self.num_proto_per_class, -1)
        gram = q @ q.transpose(1, 2)
        eye = torch.eye(self.num_proto_per_class)
        return ((gram - eye) ** 2).sum()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def kmeans_prototypes(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(k * rows, C) unit vectors: k-means centres of the cells of each row, row by row.

    ``features``: (N, C, H, W) maps of one class. A row with fewer than ``k`` cells repeats them.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    out = []
    for row in range(features.shape[2]):
        cells = _unit(features[:, :, row, :].transpose(0, 2, 1).reshape(-1, features.shape[1]))
        if len(cells) <= k:
            out.append(cells[np.arange(k) % len(cells)])
            continue
        with threadpool_limits(1):  # a few hundred cells: threads only contend
            km = KMeans(n_clusters=k, n_init=KMEANS_INIT, random_state=seed).fit(cells)
        out.append(_unit(km.cluster_centers_))
    return np.concatenate(out).astype(np.float32)


def init_prototypes(clf: BandedCosineClassifier, features: np.ndarray, y: np.ndarray, seed: int):
    """Set every class's prototypes to k-means centres of its training cells, band by band."""
    vectors = [
        kmeans_prototypes(features[y == c], clf.num_proto_per_band, seed)
        for c in range(clf.num_classes)
    ]
    with torch.no_grad():
        clf.prototypes.copy_(torch.from_numpy(np.concatenate(vectors))[:, :, None, None])


@torch.no_grad()
def nearest_cells(clf: BandedCosineClassifier, features: np.ndarray, y: np.ndarray) -> list[dict]:
    """Each prototype's nearest training cell of its class in its band (provenance).

    Same fields as cabrnet's projection records: ``proto_idx``, ``img_idx``, ``h``, ``w``,
    ``score`` (the cosine similarity).
    """
    classes = clf.proto_class_map.argmax(1).numpy()
    rows = clf.proto_rows.numpy()
    best = np.full(clf.num_prototypes, -np.inf)
    where = np.zeros((clf.num_prototypes, 2), dtype=int)
    for lo in range(0, len(features), 64):
        sims = clf.similarity_layer.similarities(
            torch.from_numpy(features[lo : lo + 64]), clf.prototypes
        ).numpy()  # (n, P, H, W)
        own = y[lo : lo + 64][:, None] == classes[None]  # (n, P)
        row_sims = sims[:, np.arange(len(rows)), rows, :]  # (n, P, W)
        row_sims = np.where(own[:, :, None], row_sims, -np.inf)
        outside = np.ones(row_sims.shape[2], dtype=bool)
        outside[clf.columns(row_sims.shape[2])] = False
        row_sims[:, :, outside] = -np.inf
        flat = row_sims.transpose(1, 0, 2).reshape(len(rows), -1)
        arg = flat.argmax(1)
        value = flat[np.arange(len(rows)), arg]
        better = value > best
        best[better] = value[better]
        n_cols = row_sims.shape[2]
        where[better, 0] = lo + arg[better] // n_cols
        where[better, 1] = arg[better] % n_cols
    return [
        {
            "proto_idx": p,
            "img_idx": int(where[p, 0]) if np.isfinite(best[p]) else -1,
            "h": int(rows[p]),
            "w": int(where[p, 1]),
            "score": float(best[p]),
        }
        for p in range(clf.num_prototypes)
    ]


def train_banded(
    net, params, features: np.ndarray, y: np.ndarray, progress: bool = True
) -> tuple[list[dict], list[dict]]:
    """k-means initialisation, ``params.steps`` Adam steps, the push, last-layer steps.

    :func:`train_head`, then :func:`push` (``params.projection``). Returns (history,
    provenance records).
    """
    history = train_head(net, params, features, y, progress)
    push_history, projection = push(net, params, features, y)
    return history + push_history, projection


def train_head(net, params, features: np.ndarray, y: np.ndarray, progress: bool = True):
    """k-means initialisation, then ``params.steps`` Adam steps of prototypes and last layer.

    Loss: cross-entropy + ``params.orthogonality`` x the orthogonality loss (+ ProtoPNet's
    cluster and separation costs, :meth:`BandedCosineClassifier.cluster_costs`, when
    ``params.cluster_costs``). Batches of ``params.batch_size`` chunks drawn at random
    (seeded) at every step. The last layer's wrong-class connections (if any) stay zero.
    Returns history rows.
    """
    import time

    from tqdm.auto import tqdm

    clf = net.classifier
    init_prototypes(clf, features, y, params.seed)
    torch.manual_seed(params.seed)
    rng = np.random.default_rng(params.seed)
    trained = [p for n, p in clf.named_parameters() if n != "last_layer.cross"]
    optimizer = torch.optim.Adam(trained, lr=LEARNING_RATE)
    X = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    Y = torch.as_tensor(y, dtype=torch.long)
    batch = min(params.batch_size, len(X))
    history: list[dict] = []
    loss_sum = correct = total = 0.0
    t0 = time.perf_counter()
    clf.train()
    for step in tqdm(range(params.steps), desc="banded protonet", disable=not progress):
        if params.max_seconds is not None and time.perf_counter() - t0 > params.max_seconds:
            break
        idx = torch.from_numpy(rng.choice(len(X), batch, replace=False))
        scores, _ = clf.pooled(X[idx])
        logits = clf.last_layer(scores)
        loss = F.cross_entropy(logits, Y[idx]) + params.orthogonality * clf.orthogonality()
        if params.cluster_costs:
            loss = loss + clf.cluster_costs(scores, Y[idx], params)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach()) * batch
        correct += float((logits.argmax(1) == Y[idx]).sum())
        total += batch
        if (step + 1) % HISTORY_EVERY == 0 or step + 1 == params.steps:
            history.append(
                {
                    "phase": "train",
                    "epoch": step // HISTORY_EVERY,
                    "step": step + 1,
                    "loss": loss_sum / total,
                    "accuracy": correct / total,
                }
            )
            loss_sum = correct = total = 0.0
    clf.eval()
    net.eval()
    return history


def push(
    net, params, features: np.ndarray, y: np.ndarray, purity: np.ndarray | None = None
) -> tuple[list[dict], list[dict]]:
    """Push a trained head's prototypes (``params.projection``), then its last layer alone.

    ``"none"``: nothing changes (records: each prototype's nearest cell). Else :func:`project`
    (``"pure"``: at purity ``params.push_purity``; ``purity``: :func:`all_cell_purity`, if
    known) and :func:`finetune_last_layer`. Returns (history, provenance records).
    """
    clf = net.classifier
    if params.projection == "none":
        return [], nearest_cells(clf, features, y)
    projection = project(net, features, y, params.projection == "pure", params.push_purity, purity)
    return finetune_last_layer(clf, params, features, y), projection


def cell_purity(
    features: np.ndarray, y: np.ndarray, chunks: np.ndarray, row: int, k: int = PURITY_K
) -> np.ndarray:
    """Purity of candidate cells: share of their ``k`` most similar training chunks of their class.

    The candidates are every cell of row ``row`` of the chunks ``chunks`` (indices into
    ``features``), in the order ``(chunk, column)``; a chunk's similarity to a cell is the
    best cosine over its cells of the same row, as :func:`~vocalpy_xai.protonet.quality.prototype_purity`
    measures a prototype. Returns (len(chunks) * W,).
    """
    n, c, _, w = features.shape
    cells = _unit(features[:, :, row, :].transpose(0, 2, 1))  # (N, W, C)
    flat = cells.reshape(-1, c)
    cand = cells[chunks].reshape(-1, c)
    own = y[np.repeat(chunks, w)]
    out = np.empty(len(cand))
    block = max(1, PURITY_BLOCK // max(1, n * w))  # candidates per block: bounded memory
    for lo in range(0, len(cand), block):
        sims = (cand[lo : lo + block] @ flat.T).reshape(-1, n, w).max(axis=2)  # (m, N)
        nearest = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, n)]
        out[lo : lo + block] = (y[nearest] == own[lo : lo + block, None]).mean(axis=1)
    return out


def all_cell_purity(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`cell_purity` of every cell (N, H, W): computed once for several pushes."""
    n, _, rows, w = features.shape
    chunks = np.arange(n)
    return np.stack([cell_purity(features, y, chunks, r).reshape(n, w) for r in range(rows)], 1)


@torch.no_grad()
def push_to_pure_cells(
    clf: BandedCosineClassifier,
    features: np.ndarray,
    y: np.ndarray,
    only=None,
    min_purity: float = 1.0,
    fallback: str = "purest",
    purity: np.ndarray | None = None,
    cells: int = 1,
    weighted: bool = False,
) -> list[dict]:
    """Push each prototype onto the nearest *pure* training cell of its class, in its band.

    A cell is pure when at least ``min_purity`` of its :data:`PURITY_K` most similar
    training chunks are of its class (:func:`cell_purity`; 1: all of them); among the
    class's pure cells of the band, the one most similar to the trained prototype is taken
    (two prototypes never take the same cell). A class with no pure cell in a band takes
    its purest, then most similar, cell (``fallback="purest"``) or its most similar cell
    (``"nearest"``). This is
    the projection of ProtoPNet restricted to cells that only their class resembles, in
    the spirit of its pruning of prototypes whose nearest patches are of other classes.
    ``only``: indices of the prototypes to push (default all). ``purity``: the
    :func:`all_cell_purity` of ``features`` and ``y`` when already known.

    ``cells`` > 1: the prototype becomes the mean of the unit vectors of the ``cells`` pure
    cells most similar to it (disjoint between prototypes), so its cosine similarity to any
    input cell is exactly the mean of that cell's cosines to those training cells divided by
    the norm of the mean: the activation is explained by those training cells and nothing
    else. Returns cabrnet-style projection records of those, with the (first) cell's
    ``purity``, the cosine ``similarity_before`` the push, and with ``cells`` > 1 the
    ``members`` (chunk, column, purity) and the prototype's ``score`` (cosine) to its
    first cell.
    """
    rows = clf.proto_rows.numpy()
    classes = clf.proto_class_map.argmax(1).numpy()
    protos = _unit(clf.prototypes[:, :, 0, 0].numpy())
    _, n_chan, n_rows, n_cols = features.shape
    chosen = np.zeros(len(rows), bool)
    chosen[np.arange(len(rows)) if only is None else np.asarray(only, dtype=int)] = True
    records: dict[int, dict] = {}
    for row in range(n_rows):
        for cls in np.unique(classes[chosen]):
            members = np.flatnonzero((classes == cls) & (rows == row) & chosen)
            own = np.flatnonzero(y == cls)
            if not len(members) or not len(own):
                continue
            cand = _unit(features[own][:, :, row, :].transpose(0, 2, 1).reshape(-1, n_chan))
            pure = (
                cell_purity(features, y, own, row)
                if purity is None
                else purity[own, row, :].reshape(-1)
            )
            taken: set[int] = set()
            for p in members:
                sim = cand @ protos[p]
                if fallback == "purest":
                    order = np.lexsort((-sim, -np.minimum(pure, min_purity)))
                else:
                    order = np.lexsort((-sim, pure < min_purity - 1e-9))
                free = [int(i) for i in order if i not in taken]
                if weighted and cells > 1:
                    free, weights = _cone_members(cand, protos[p], free[:CONE_POOL], cells)
                else:
                    free = free[:cells] or [int(order[0])]
                    weights = np.full(len(free), 1 / len(free))
                taken.update(free)
                j = free[0]
                chunk, col = int(own[j // n_cols]), int(j % n_cols)
                vector = features[chunk, :, row, col] if cells == 1 else weights @ cand[free]
                clf.prototypes[p, :, 0, 0] = torch.from_numpy(np.ascontiguousarray(vector))
                records[p] = {
                    "proto_idx": int(p),
                    "img_idx": chunk,
                    "h": row,
                    "w": col,
                    "score": 1.0 if cells == 1 else float(_unit(vector) @ cand[j]),
                    "similarity_before": float(sim[j]),
                    "purity": float(pure[j]),
                }
                if cells > 1:
                    records[p]["members"] = [
                        (int(own[i // n_cols]), int(i % n_cols), float(pure[i]), float(w))
                        for i, w in zip(free, weights, strict=True)
                    ]
    return [records[p] for p in sorted(records)]


#: candidates (most similar pure cells) of a weighted set push
CONE_POOL = 50


def _cone_members(cand: np.ndarray, proto: np.ndarray, pool: list[int], m: int):
    """``m`` of the cells ``pool`` and non-negative weights summing to 1 whose weighted sum of
    unit cells ``cand`` points closest to ``proto``: non-negative least squares on the pool,
    the ``m`` largest weights kept and refit (ordered by weight)."""
    from scipy.optimize import nnls

    A = cand[pool].T.astype(np.float64)
    w, _ = nnls(A, proto.astype(np.float64))
    keep = np.argsort(-w, kind="stable")[:m]
    keep = keep[w[keep] > 0] if (w[keep] > 0).any() else keep[:1]
    w2, _ = nnls(A[:, keep], proto.astype(np.float64))
    if not (w2 > 0).any():
        w2 = np.ones(len(keep))
    order = np.argsort(-w2, kind="stable")
    keep, w2 = keep[order], w2[order]
    nz = w2 > 0
    return [pool[i] for i in keep[nz]], w2[nz] / w2[nz].sum()


def project(
    net,
    features: np.ndarray,
    y: np.ndarray,
    pure: bool = True,
    min_purity: float = 1.0,
    purity: np.ndarray | None = None,
) -> list[dict]:
    """Push every prototype onto a training cell of its class, in its band.

    ``pure`` (default): :func:`push_to_pure_cells` (cells of purity ``>= min_purity``). Else cabrnet's own projection
    (:meth:`cabrnet.archs.generic.model.CaBRNet.project`: the maximum similarity over a
    class's training maps, the prototype replaced by that cell's feature vector);
    :meth:`BandedCosineClassifier.similarities` is zero outside a prototype's band, so the
    cell lies in the band unless every cell of the class in that band has a negative
    similarity; such a prototype is pushed by :func:`nearest_cells` instead. After it,
    every prototype *is* a cell of a training chunk (cosine 1).
    """
    from torch.utils.data import DataLoader

    from ._cabrnet import quiet_cabrnet
    from .birdnet_inputs import FeatureDataset

    clf = net.classifier
    if pure:
        records = push_to_pure_cells(clf, features, y, min_purity=min_purity, purity=purity)
        net.eval()
        return records
    loader = DataLoader(FeatureDataset(features, y), batch_size=64, shuffle=False)
    with quiet_cabrnet():
        records = net.project(dataloader=loader, device="cpu")
    rows = clf.proto_rows.numpy()
    off_band = [
        r["proto_idx"] for r in records if r["img_idx"] < 0 or r["h"] != rows[r["proto_idx"]]
    ]
    if off_band:
        nearest = nearest_cells(clf, features, y)
        with torch.no_grad():
            for p in off_band:
                r = nearest[p]
                cell = features[r["img_idx"], :, r["h"], r["w"]]
                clf.prototypes[p, :, 0, 0] = torch.from_numpy(np.ascontiguousarray(cell))
                records[p] = r
    for r in records:  # cabrnet's score is the similarity before the push
        r["similarity_before"], r["score"] = r["score"], 1.0
    net.eval()
    return records


def finetune_last_layer(clf, params, features: np.ndarray, y: np.ndarray) -> list[dict]:
    """Train the last layer only (own-class weights, biases, temperature) after projection.

    ProtoPNet's last-layer step: ``params.last_layer_steps`` Adam steps of cross-entropy on
    batches of ``params.batch_size`` chunks, prototypes fixed (:func:`train_last_layer`).
    Returns history rows.
    """
    with torch.no_grad():  # the pooled scores do not change: compute them once
        scores = torch.cat(
            [
                clf.pooled(torch.from_numpy(features[lo : lo + 256]))[0]
                for lo in range(0, len(features), 256)
            ]
        )
    Y = torch.as_tensor(y, dtype=torch.long)
    return train_last_layer(
        clf.last_layer, scores, Y, params.batch_size, params.seed, params.last_layer_steps
    )


def train_last_layer(
    layer, scores: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int, steps: int
) -> list[dict]:
    """Adam steps of cross-entropy on a last layer alone, from fixed pooled scores.

    A layer with wrong-class connections (:class:`OwnClassLinear` ``cross``) trains those
    and its biases only, plus their L1 penalty (:meth:`OwnClassLinear.penalty`). Batches
    of ``batch_size`` rows drawn at random (seed ``seed + 1``) at every step. The one
    last-layer loop of the banded head: after the push (:func:`finetune_last_layer`) and
    after pruning (:func:`~vocalpy_xai.protonet.pruning.refit_last_layer`). Returns history
    rows every :data:`HISTORY_EVERY` steps.
    """
    cross = getattr(layer, "cross", None)
    trained = layer.parameters() if cross is None else [cross, layer.bias]
    optimizer = torch.optim.Adam(trained, lr=LEARNING_RATE)
    rng = np.random.default_rng(seed + 1)
    batch = min(batch_size, len(scores))
    history = []
    with torch.enable_grad():
        for step in range(steps):
            idx = torch.from_numpy(rng.choice(len(scores), batch, replace=False))
            logits = layer(scores[idx])
            loss = F.cross_entropy(logits, labels[idx]) + layer.penalty()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if (step + 1) % HISTORY_EVERY == 0 or step + 1 == steps:
                history.append(
                    {
                        "phase": "last_layer",
                        "epoch": step // HISTORY_EVERY,
                        "step": step + 1,
                        "loss": float(loss.detach()),
                        "accuracy": float((logits.argmax(1) == labels[idx]).float().mean()),
                    }
                )
    return history


def add_class(
    model, name: str, features: np.ndarray, reference: np.ndarray | None = None
) -> list[dict]:
    """Add class ``name`` to a ``banded`` model from the feature maps of a few examples.

    New prototypes: k-means centres of the examples' cells, ``num_proto_per_band`` per row;
    their weights start from the mean own-class weight of the known prototypes and the new
    bias from the mean bias. With ``reference`` (feature maps of known-class examples), the
    new class's prototypes, weights and bias (only) are then trained for ``params.steps``
    steps, each batch half new examples (target: the new class), half reference examples
    (target: the model's own prediction), so that the new class fires on its examples and
    not on the known ones: trained prototypes sit further from the data than fresh k-means
    centres, which would otherwise win everywhere. Unless ``params.projection == "none"``,
    the new prototypes are then pushed onto the examples' cells (``"pure"``: pure against
    the reference chunks) and the new class's weights and bias refit for
    ``params.last_layer_steps`` steps. Nothing known changes (with ``last_layer="full"``
    the new prototypes and class get no wrong-class connection). Returns the new prototypes'
    provenance records.
    """
    clf = model.network_.classifier
    n_old, n_cls = clf.proto_class_map.shape
    k = clf.num_proto_per_class
    new = kmeans_prototypes(features, clf.num_proto_per_band, model.params.seed)
    layer = clf.last_layer
    if reference is not None:
        with torch.no_grad():
            ref_target = clf(torch.from_numpy(reference))[0].argmax(1)
    with torch.no_grad():
        class_map = torch.zeros(n_old + k, n_cls + 1)
        class_map[:n_old, :n_cls] = clf.proto_class_map
        class_map[n_old:, n_cls] = 1
        clf.prototypes = nn.Parameter(
            torch.cat([clf.prototypes.detach(), torch.from_numpy(new)[:, :, None, None]])
        )
        clf.proto_class_map = class_map
        clf.proto_rows = torch.cat([clf.proto_rows, clf.proto_rows[:k]])
        new_layer = OwnClassLinear(class_map, cross=layer.cross is not None)
        if layer.cross is not None:  # the new prototypes and class: no wrong-class link
            new_layer.cross[:n_cls, :n_old] = layer.cross
        new_layer.raw.copy_(torch.cat([layer.raw, layer.raw.mean().repeat(k)]))
        new_layer.bias.copy_(torch.cat([layer.bias, layer.bias.mean()[None]]))
        new_layer.log_scale.copy_(layer.log_scale)
        clf.last_layer = new_layer
    clf.num_classes = n_cls + 1
    if reference is not None:
        _fit_new_class(clf, model.params, features, reference, ref_target, n_old)
    y = np.full(len(features), n_cls)
    if model.params.projection == "none":
        return nearest_cells(clf, features, y)[n_old:]
    # push the new prototypes onto the examples' cells (pure against the reference chunks),
    # then refit the new class's weights and bias only
    pool, labels = features, y
    if reference is not None:
        pool = np.concatenate([features, reference])
        labels = np.concatenate([y, ref_target.numpy()])
    new_idx = np.arange(n_old, n_old + k)
    if model.params.projection == "pure":
        records = push_to_pure_cells(
            clf, pool, labels, only=new_idx, min_purity=model.params.push_purity
        )
    else:
        records = nearest_cells(clf, features, y)[n_old:]
        with torch.no_grad():
            for r in records:
                cell = features[r["img_idx"], :, r["h"], r["w"]]
                clf.prototypes[r["proto_idx"], :, 0, 0] = torch.from_numpy(
                    np.ascontiguousarray(cell)
                )
                r["score"] = 1.0
    if reference is not None:
        _fit_new_class(clf, model.params, features, reference, ref_target, n_old, False)
    return records


def _fit_new_class(
    clf, params, features, reference, ref_target, n_old: int, prototypes: bool = True
) -> None:
    """Train the last class's prototypes (unless ``prototypes=False``), weights and bias only.

    See :func:`add_class`; after the new prototypes are pushed, ``params.last_layer_steps``
    steps refit the weights and bias alone.
    """
    new_cls = clf.num_classes - 1
    masks = {
        "prototypes": torch.zeros_like(clf.prototypes),
        "raw": torch.zeros_like(clf.last_layer.raw),
        "bias": torch.zeros_like(clf.last_layer.bias),
    }
    masks["prototypes"][n_old:] = float(prototypes)
    masks["raw"][n_old:] = 1
    masks["bias"][new_cls] = 1
    params_ = {
        "prototypes": clf.prototypes,
        "raw": clf.last_layer.raw,
        "bias": clf.last_layer.bias,
    }
    optimizer = torch.optim.Adam(list(params_.values()), lr=LEARNING_RATE)
    rng = np.random.default_rng(params.seed)
    X_new, X_ref = torch.from_numpy(features), torch.from_numpy(reference)
    half = max(1, params.batch_size // 2)
    clf.train()
    for _ in range(params.steps if prototypes else params.last_layer_steps):
        i = torch.from_numpy(rng.choice(len(X_new), min(half, len(X_new)), replace=False))
        j = torch.from_numpy(rng.choice(len(X_ref), min(half, len(X_ref)), replace=False))
        logits = clf(torch.cat([X_new[i], X_ref[j]]))[0]
        target = torch.cat([torch.full((len(i),), new_cls), ref_target[j]])
        loss = F.cross_entropy(logits, target)
        optimizer.zero_grad()
        loss.backward()
        for key, p in params_.items():
            p.grad *= masks[key]
        optimizer.step()
    clf.eval()
