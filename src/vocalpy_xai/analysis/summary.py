"""One call for the analysis of a store: embedding + clusters + syntax, as PNGs and JSON."""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence

import xarray as xr

from ..io.atomic import write_text
from ..report.plots import save
from ..store.dataset import open_store
from .embeddings import cluster, embed, plot_embedding
from .patches import PatchParams, syllable_patches
from .syntax import ngrams, plot_transitions, sequences_of_store, transition_entropy
from .syntax import transition_matrix as _transitions


def analyse_store(
    store: str | os.PathLike | xr.Dataset,
    out: str | os.PathLike,
    clips: Sequence[int] | None = None,
    max_syllables: int | None = 3000,
    patch_params: PatchParams | None = None,
    seed: int = 0,
) -> dict:
    """Embed, cluster and describe the syntax of a store's syllables; write figures.

    Writes ``embedding.png``, ``transitions.png``, ``transitions.csv``, ``ngrams.csv`` and
    ``analysis.json`` (cluster counts, adjusted Rand index, entropies, top n-grams) in
    ``out``; returns the JSON's content.
    """
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    patches, table = syllable_patches(ds, clips, patch_params, max_syllables, seed)
    emb = embed(patches, seed=seed)
    clusters = cluster(emb, table["label"].to_numpy())
    save(plot_embedding(emb, table["label"].to_numpy()), out / "embedding.png")
    seqs = sequences_of_store(ds, clips)
    matrix = _transitions(seqs)
    save(plot_transitions(matrix), out / "transitions.png")
    matrix.to_csv(out / "transitions.csv")
    grams = {n: ngrams(seqs, n, top=10) for n in (2, 3, 4)}
    for n, g in grams.items():
        g.to_csv(out / f"ngrams-{n}.csv", index=False)
    result = {
        "n_syllables_embedded": int(len(table)),
        "clusters": clusters.to_dict(),
        "transition_entropy_bits": transition_entropy(seqs).round(4).to_dict(),
        "top_ngrams": {n: g.head(5).to_dict("records") for n, g in grams.items()},
    }
    write_text(out / "analysis.json", json.dumps(result, indent=2, default=str))
    return result
