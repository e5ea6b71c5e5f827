"""The disagreement finder for every kind of model: annotation models (frame probabilities,
ESNDecoder) and prototype syllable classifiers (segment probabilities, SpectrogramProtoNet),
on the bundled Bird0 songs."""

from __future__ import annotations

import numpy as np
import pytest

from vocalpy_xai.review import (
    FramePredictions,
    SegmentPredictions,
    find_disagreements,
    predictions_of,
    score_segments,
    store_segments,
)
from vocalpy_xai.store import open_store

TEST = range(14, 20)  # held-out bundled Bird0 songs (the shared models train on 0-13)

#: relabelled syllables per test, and the share of the ranked list a reviewer would read
N_RELABELLED, TOP_SHARE = 12, 0.25


def _relabel(table, seed=0):
    """A copy of the store's segments with N_RELABELLED labels changed to another class."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(table), N_RELABELLED, replace=False)
    out = table.copy()
    names = sorted(set(table["label"]))
    for r in rows:
        others = [n for n in names if n != out.at[r, "label"]]
        out.at[r, "label"] = others[rng.integers(len(others))]
    return out, set(out.loc[rows, "segment"])


def _found(review, relabelled) -> int:
    """How many relabelled segments a reviewer reading the top TOP_SHARE of the list sees."""
    top = review.head(int(np.ceil(TOP_SHARE * len(review))))
    return len(relabelled & set(top["segment"]))


def test_finder_ranks_a_prototype_classifier_s_doubts(syllable_protonet, small_store):
    ds = open_store(small_store)
    pred = predictions_of([syllable_protonet], ds, TEST)
    assert isinstance(pred, SegmentPredictions) and pred.n_models == 1
    segments = store_segments(ds, TEST)
    assert set(pred.probs) == set(segments["segment"])
    review = find_disagreements(ds, pred)
    assert len(review) == len(segments)
    # one probability vector per syllable: the model's label is its arg-max, and
    # "disagreement" is whether that differs from the human label
    for row in review.itertuples():
        p = pred.probs[row.segment][0]
        assert row.model_label == syllable_protonet.class_names_[int(p.argmax())]
        assert row.disagreement == float(row.model_label != row.human_label)
        assert row.human_prob == pytest.approx(
            p[syllable_protonet.class_names_.index(row.human_label)]
        )
    # a (tiny) model that learnt something: it agrees with the annotation more often than
    # the most frequent label would
    agree = 1.0 - review["disagreement"].mean()
    assert agree > segments["label"].value_counts(normalize=True).max()
    # relabelled syllables rise in the list; those the model labels with their original
    # label are all flagged (canapy's rule on its one vote)
    noisy, relabelled = _relabel(segments)
    ranked = score_segments(noisy, pred).set_index("segment")
    original = segments.set_index("segment")["label"]
    known = [s for s in relabelled if ranked.at[s, "model_label"] == original[s]]
    assert known and ranked.loc[known, "flag"].all()
    others = ranked.drop(index=list(relabelled))
    assert ranked.loc[list(relabelled), "rank"].mean() < 0.75 * others["rank"].mean()


def test_finder_takes_an_annotation_model_the_same_way(trained_esn, small_store):
    ds = open_store(small_store)
    pred = predictions_of([trained_esn], ds, TEST)
    assert isinstance(pred, FramePredictions)
    assert pred.frame_s == trained_esn.frame_s_ and pred.clips == list(TEST)
    segments = store_segments(ds, TEST)
    noisy, relabelled = _relabel(segments)
    ranked = score_segments(noisy, pred)
    assert _found(ranked, relabelled) >= N_RELABELLED - 2


def test_an_ensemble_of_two_kinds_is_refused(trained_esn, syllable_protonet, small_store):
    with pytest.raises(ValueError, match="share their classes|mixes"):
        predictions_of([trained_esn, syllable_protonet], small_store, TEST)


def test_review_find_takes_a_registered_prototype_model(syllable_protonet, small_store, tmp_path):
    """register -> `vocalpy-xai review find --model NAME` -> the same list as the finder."""
    from vocalpy_xai import cli
    from vocalpy_xai.registry import Registry
    from vocalpy_xai.review import read_review_list

    Registry(tmp_path / "reg").register(syllable_protonet, "syllables", note="test")
    out = tmp_path / "review.csv"
    argv = ["review", "find", str(small_store), "-o", str(out), "--clips", "14-19",
            "--model", "syllables", "--registry", str(tmp_path / "reg")]  # fmt: skip
    assert cli.main(argv) == 0
    listed = read_review_list(out)
    direct = find_disagreements(small_store, predictions_of([syllable_protonet], small_store, TEST))
    assert list(listed["segment"]) == list(direct["segment"])
    assert list(listed["model_label"].astype(str)) == list(direct["model_label"])
