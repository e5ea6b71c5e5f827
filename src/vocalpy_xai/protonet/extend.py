"""Add a class to a trained prototype network without retraining it (case-based few-shot).

A ProtoPNet decides from the similarity of its input to stored training patches; a new class
can therefore be added by storing patches of it. :func:`add_class` takes a few examples of
the new class (windows or BirdNET chunks), and:

1. computes the latent cells of the examples with the trained extractor (unchanged);
2. scores every cell as a candidate prototype: how strongly it would fire (the model's own
   pooled similarity; for ``arch="audio"`` in the cell's frequency row) on the *other*
   examples of the new class, minus how strongly on examples of the known classes
   (``reference``: the hardest tenth of them; without reference examples, on the model's
   own prototypes, which are patches of its training data);
3. takes the ``prototypes_per_class`` best candidates, at most one per example, so that
   each new prototype is a real patch of one of the given recordings, with its source
   recorded as for trained prototypes;
4. for ``arch="audio"``, ties each new prototype to the frequency row it was taken from;
5. extends the last layer with the average weights the trained model gives a class to its
   own and to other classes' prototypes.

Nothing else changes: existing prototypes and weights keep their values; the new class only
competes for inputs that resemble its patches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .errors import SpectrogramInputError

#: logit of a new prototype's own frequency row (softmax weight ~0.87 over 3 rows)
OWN_ROW_LOGIT = 3.0
#: share of the reference examples (the most similar ones) a candidate is contrasted with
HARD_SHARE = 0.1
#: weight of the new examples (vs the reference examples) when fitting the new last-layer row
POSITIVE_SHARE = 0.1


def _latent_cells(model, X: np.ndarray) -> np.ndarray:
    """Add-on features of the examples, (N, D, H, W)."""
    from .training import torch_threads

    net = model.network_
    out = []
    with torch.no_grad(), torch_threads(model.params.num_threads):
        for lo in range(0, len(X), 32):
            out.append(net.features(model._encode(X[lo : lo + 32])).numpy())
    return np.concatenate(out)


def _row_weights(model, rows: np.ndarray, n_rows: int) -> torch.Tensor:
    """Band weights (K, H) of candidate prototypes taken from ``rows`` (audio), else None."""
    if model.params.arch != "audio":
        return None
    logits = torch.zeros(len(rows), n_rows)
    logits[torch.arange(len(rows)), torch.as_tensor(rows)] = OWN_ROW_LOGIT
    return torch.softmax(logits, dim=1)


def _pooled_scores(model, cells: np.ndarray, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Pooled similarity (M, K) of candidate prototypes ``vectors`` (K, D) on ``cells`` (M, D, H, W).

    As the classifier pools: max over time per row, band-weighted over rows (``audio``), or
    max over the whole map (``plain``).
    """
    sim_layer = model.network_.classifier.similarity_layer
    x = torch.from_numpy(cells)
    v = torch.from_numpy(vectors)
    m, d, h, w = x.shape
    flat = x.permute(0, 2, 3, 1).reshape(-1, d)
    dist = (flat**2).sum(1, keepdim=True) + (v**2).sum(1)[None] - 2 * flat @ v.T
    dist = dist.clamp_min(0).reshape(m, h, w, -1).permute(0, 3, 1, 2)  # (M, K, H, W)
    with torch.no_grad():
        sims = sim_layer.distances_to_similarities(dist)
    weights = _row_weights(model, rows, h)
    if weights is None:
        return sims.amax(dim=(2, 3)).numpy()
    return (sims.amax(dim=3) * weights[None]).sum(dim=2).numpy()


def _choose_cells(model, cells: np.ndarray, reference: np.ndarray | None, k: int) -> list[tuple]:
    """``k`` (example, row, col) cells: the best contrast, at most one per example."""
    n, d, h, w = cells.shape
    index = np.array(np.unravel_index(np.arange(n * h * w), (n, h, w))).T
    vectors = cells.transpose(0, 2, 3, 1).reshape(-1, d)
    rows = index[:, 1]
    own = _pooled_scores(model, cells, vectors, rows)  # (n, n*h*w)
    own[index[:, 0], np.arange(len(index))] = np.nan  # not on the example it comes from
    positive = np.nanmean(own, axis=0) if n > 1 else np.zeros(len(index))
    if reference is None:
        protos = model.network_.classifier.prototypes.detach().numpy()[:, :, 0, 0]
        reference = np.broadcast_to(protos[:, :, None, None], (*protos.shape, h, w)).copy()
    ref = _pooled_scores(model, reference, vectors, rows)  # (R, n*h*w)
    hard = max(1, int(round(HARD_SHARE * len(ref))))
    negative = -np.sort(-ref, axis=0)[:hard].mean(axis=0)
    contrast = positive - negative
    chosen: list[int] = []
    used: set[int] = set()
    for i in np.argsort(-contrast, kind="stable"):
        example = int(index[i, 0])
        if example in used and len(used) < n:
            continue
        chosen.append(int(i))
        used.add(example)
        if len(chosen) == k:
            break
    return [tuple(int(v) for v in index[i]) for i in chosen]


def _fit_new_row(model, cells: np.ndarray, ref_cells: np.ndarray, steps: int = 300) -> None:
    """Fit the new class's last-layer row only (everything else frozen) on prototype scores.

    Targets: the new class for its examples, the model's own prediction for the reference
    examples (their labels are not needed); the new examples weigh :data:`POSITIVE_SHARE`
    of the loss, the reference the rest. Starts from the average weights, with the model's
    L1 coefficient.
    """
    clf = model.network_.classifier
    with torch.no_grad():
        feats = torch.from_numpy(np.concatenate([cells, ref_cells]))
        if model.params.arch == "audio":
            scores = clf.pooled(feats)[0]
        else:
            scores = clf.similarities(feats).amax(dim=(2, 3))
        logits = clf.last_layer(scores)
    n_new, new = len(cells), clf.num_classes - 1
    target = torch.cat([torch.full((n_new,), new), logits[n_new:, :new].argmax(dim=1)])
    sample_w = torch.cat(
        [
            torch.full((n_new,), POSITIVE_SHARE / n_new),
            torch.full((len(ref_cells),), (1 - POSITIVE_SHARE) / len(ref_cells)),
        ]
    )
    row = clf.last_layer.weight[new].detach().clone().requires_grad_(True)
    fixed = clf.last_layer.weight[:new].detach()
    opt = torch.optim.Adam([row], lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        out = torch.cat([scores @ fixed.T, (scores @ row)[:, None]], dim=1)
        loss = (torch.nn.functional.cross_entropy(out, target, reduction="none") * sample_w).sum()
        loss = loss + model.params.l1 * row.abs().sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        clf.last_layer.weight[new] = row.detach()


def add_class(
    model,
    name: str,
    X,
    sources: Sequence[dict] | None = None,
    reference=None,
):
    """Add class ``name`` to a trained ``audio``/``plain`` model from a few examples.

    Parameters
    ----------
    model : AudioProtoNet
        A trained prototype model (``arch`` ``"audio"`` or ``"plain"``); modified in place.
    name : str
        The new class; must not be one of the model's classes.
    X : array-like
        Examples of the new class, as the model reads them (spectrogram windows, or BirdNET
        chunks / feature maps).
    sources : sequence of dict, optional
        Per example: ``clip``, ``source_path``, ``start_s`` (recorded with the new prototypes).
    reference : array-like, optional
        Examples of the known classes (e.g. some training windows / chunks), used only to
        choose patches that tell the new class apart; default: the model's own prototypes.

    Returns
    -------
    AudioProtoNet
        ``model``, with ``prototypes_per_class`` more prototypes and one more class.
    """
    from .model import normalize_sources

    model._check_fitted()
    arch = model.params.arch
    if arch not in ("audio", "plain", "banded"):
        raise ValueError(
            f"classes can be added to 'audio', 'plain' and 'banded' models, not {arch!r}"
        )
    if name in model.class_names_:
        raise ValueError(f"class {name!r} is already one of the model's classes")
    X = model._prepare(X)
    if len(X) == 0:
        raise SpectrogramInputError(f"no example of class {name!r}")
    sources = normalize_sources(sources, len(X))
    if arch == "banded":  # k-means of the examples' cells per band, trained vs reference
        from . import banded

        n_old = model.network_.classifier.num_prototypes
        # _prepare checks ``reference`` against the model as ``X`` is checked: a CNN's
        # backbone_features does not (no grid check, no DataArray); BirdNET's checks again,
        # a pass of about 1 ms per 30 chunks
        ref = None if reference is None else model.backbone_features(model._prepare(reference))
        projection = banded.add_class(model, name, model.backbone_features(X), ref)
        return _record_added(model, name, projection, sources, n_old, len(X))
    clf = model.network_.classifier
    k = clf.num_proto_per_class
    cells = _latent_cells(model, X)
    # _latent_cells encodes without checking: the reference is prepared here, as X was
    ref_cells = None if reference is None else _latent_cells(model, model._prepare(reference))
    chosen = _choose_cells(model, cells, ref_cells, k)

    new = torch.tensor(np.stack([cells[i, :, h, w] for i, h, w in chosen]))[:, :, None, None]
    old_map = clf.proto_class_map  # (P, C)
    n_old, n_cls = old_map.shape
    weight = clf.last_layer.weight.detach()  # (C, P)
    own = (weight * old_map.T).sum() / old_map.sum()
    other = (weight * (1 - old_map.T)).sum() / (1 - old_map).sum()
    new_map = torch.zeros(n_old + k, n_cls + 1)
    new_map[:n_old, :n_cls] = old_map
    new_map[n_old:, n_cls] = 1
    new_weight = torch.full((n_cls + 1, n_old + k), float(other))
    new_weight[:n_cls, :n_old] = weight
    new_weight[n_cls, n_old:] = float(own)
    with torch.no_grad():
        clf.prototypes = torch.nn.Parameter(torch.cat([clf.prototypes.detach(), new]))
        clf.proto_class_map = new_map
        clf.last_layer = torch.nn.Linear(n_old + k, n_cls + 1, bias=False)
        clf.last_layer.weight.copy_(new_weight)
        if arch == "audio":
            rows = torch.zeros(k, clf.num_freq_rows)
            rows[torch.arange(k), torch.tensor([h for _, h, _ in chosen])] = OWN_ROW_LOGIT
            clf.freq_logits = torch.nn.Parameter(torch.cat([clf.freq_logits.detach(), rows]))
    clf.num_classes = n_cls + 1
    if ref_cells is not None:
        _fit_new_row(model, cells, ref_cells)
    projection = [
        {"proto_idx": n_old + j, "img_idx": i, "h": h, "w": w, "score": float("nan")}
        for j, (i, h, w) in enumerate(chosen)
    ]
    return _record_added(model, name, projection, sources, n_old, len(X))


def _record_added(model, name: str, projection, sources, n_old: int, n_examples: int):
    """Append the new class's name, its prototypes' provenance and a training note."""
    model.class_names_ = [*model.class_names_, str(name)]
    k = model.network_.classifier.num_prototypes - n_old
    n_freq = len(model.freq_hz_)
    added = model._provenance(projection, sources, n_freq, model.window_frames_)[n_old:]
    for row in added:
        row["added"] = True
    model.prototypes_ = [*model.prototypes_, *added]
    model.training_.setdefault("added_classes", []).append(
        {"class": str(name), "n_examples": n_examples, "prototypes": list(range(n_old, n_old + k))}
    )
    return model
