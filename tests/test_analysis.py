"""Syllable embeddings, clusters and syntax of the 20 bundled Bird0 songs (real data)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from vocalpy_xai.analysis import (
    END,
    START,
    PatchParams,
    analyse_store,
    cluster,
    embed,
    ngrams,
    sequences_of_store,
    syllable_patches,
    transition_entropy,
    transition_matrix,
)
from vocalpy_xai.analysis import cli as analysis_cli
from vocalpy_xai.store import open_store


def test_patches_have_fixed_shape_and_follow_the_store(small_store):
    ds = open_store(small_store)
    patches, table = syllable_patches(ds, clips=[0, 1], params=PatchParams(n_freq=16, n_time=24))
    n = int(np.isin(ds["segment_clip"].values, [0, 1]).sum())
    assert patches.shape == (n, 16, 24) and len(table) == n
    assert np.isfinite(patches).all()
    np.testing.assert_allclose(patches.mean(axis=(1, 2)), 0, atol=1e-4)
    assert (table["duration_s"] > 0).all() and set(table["clip"]) == {0, 1}
    sub, t2 = syllable_patches(ds, max_syllables=50, seed=1)
    assert sub.shape[0] == 50 and len(t2) == 50


@pytest.fixture(scope="module")
def embedded(small_store):
    """UMAP of every syllable of the 20 songs (once: umap's JIT compilation dominates)."""
    patches, table = syllable_patches(small_store)
    return embed(patches, seed=0), table


def test_embedding_clusters_agree_with_labels(embedded):
    emb, table = embedded
    assert emb.shape == (len(table), 2)
    result = cluster(emb, table["label"].to_numpy())
    # Bird0's syllable types are distinct: clusters should recover them well
    assert result.ari > 0.6 and 5 <= result.n_clusters <= 20
    shuffled = cluster(emb, np.random.default_rng(0).permutation(table["label"].to_numpy()))
    assert shuffled.ari < 0.05


def test_syntax_on_known_sequences():
    seqs = [["a", "b", "a", "b"], ["a", "b", "c"]]
    counts = transition_matrix(seqs, normalize=False)
    assert counts.loc[START, "a"] == 2 and counts.loc["b", "a"] == 1 and counts.loc["c", END] == 1
    p = transition_matrix(seqs)
    np.testing.assert_allclose(p.sum(axis=1), 1)
    h = transition_entropy(seqs)
    assert h["a"] == 0 and h[START] == 0
    assert h["b"] == pytest.approx(-(2 * (1 / 3) * np.log2(1 / 3) + (1 / 3) * np.log2(1 / 3)))
    grams = ngrams(seqs, n=2)
    assert grams.iloc[0]["ngram"] == "a b" and grams.iloc[0]["count"] == 3


def test_analyse_store_writes_figures(small_store, embedded, tmp_path):
    ds = open_store(small_store)
    seqs = sequences_of_store(ds)
    assert len(seqs) == ds.sizes["clip"]
    assert sum(map(len, seqs)) == ds.sizes["segment"]
    result = analyse_store(ds, tmp_path / "analysis", max_syllables=400)
    # the CLI verb writes the same files
    parser = argparse.ArgumentParser()
    analysis_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["analyse", str(small_store), "--out", str(tmp_path / "cli"), "--max-syllables", "200"]
    )
    assert args.func(args) == 0 and (tmp_path / "cli" / "embedding.png").exists()
    for name in ("embedding.png", "transitions.png", "transitions.csv", "analysis.json"):
        assert (tmp_path / "analysis" / name).stat().st_size > 0
    saved = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert saved["clusters"]["ari"] == pytest.approx(result["clusters"]["ari"])
    matrix = pd.read_csv(tmp_path / "analysis" / "transitions.csv", index_col=0)
    assert matrix.index[0] == START and matrix.columns[-1] == END
