"""Metrics on the real Bird0 annotation: perfect, shifted, thinned and relabelled copies."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from vocalpy_xai import metrics
from vocalpy_xai.io import SegmentTable, read_annotations
from vocalpy_xai.report import save
from vocalpy_xai.store import PAD_LABEL, class_names, frame_labels, frame_times

#: 1 ms frames (hop 32 samples at 32 kHz)
HOP, SAMPLERATE = 32, 32000
FRAME_S = HOP / SAMPLERATE


@pytest.fixture(scope="module")
def true_segments(example_bird0) -> list[SegmentTable]:
    annots = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")
    segments = [SegmentTable.from_annotation(a) for a in annots]
    assert len(segments) == 20 and all(len(s) for s in segments)
    return segments


@pytest.fixture(scope="module")
def names(true_segments) -> list[str]:
    return class_names(np.concatenate([s.labels for s in true_segments]))


def _shift(seg: SegmentTable, dt: float) -> SegmentTable:
    return SegmentTable(seg.onsets_s + dt, seg.offsets_s + dt, seg.labels, seg.annot_path)


def _keep(seg: SegmentTable, mask: np.ndarray) -> SegmentTable:
    return SegmentTable(seg.onsets_s[mask], seg.offsets_s[mask], seg.labels[mask], seg.annot_path)


def _relabel(seg: SegmentTable) -> tuple[SegmentTable, np.ndarray]:
    """Every 4th syllable (from the 2nd) gets the next label of 0..8; returns the mask too."""
    changed = np.arange(len(seg)) % 4 == 1
    labels = seg.labels.copy()
    labels[changed] = [str((int(x) + 1) % 9) for x in labels[changed]]
    return SegmentTable(seg.onsets_s, seg.offsets_s, labels, seg.annot_path), changed


def _times(seg: SegmentTable) -> np.ndarray:
    return frame_times(int(np.ceil((seg.offsets_s.max() + 0.05) / FRAME_S)), HOP / SAMPLERATE)


def _frames(segments, names, times_of=None) -> list[np.ndarray]:
    index = {n: i for i, n in enumerate(names)}
    return [
        frame_labels(s, _times(t), index)
        for s, t in zip(segments, times_of or segments, strict=True)
    ]


def test_perfect_prediction(true_segments, names):
    frames = _frames(true_segments, names)
    result = metrics.evaluate(true_segments, true_segments, frames, frames, names, frame_s=FRAME_S)
    assert result["syllable_error_rate"] == 0.0 and result["levenshtein_distance"] == 0
    assert result["boundaries"]["f1"] == 1.0
    assert result["boundaries"]["n_hits"] == 2 * sum(len(s) for s in true_segments)
    errors = result["boundary_errors"]
    assert errors["median_onset_error_s"] == 0.0 and errors["median_offset_error_s"] == 0.0
    assert errors["n_matched"] == result["n_true_segments"]
    assert result["frames"]["accuracy"] == 1.0
    assert result["segments"]["accuracy"] == 1.0
    cm = np.array(result["segments"]["confusion_matrix"])
    assert np.count_nonzero(cm - np.diag(np.diag(cm))) == 0
    assert all(r["f1"] == 1.0 for r in result["segments"]["per_class"] if r["support"])
    # JSON with builtins only (no NaN either)
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_shift_by_5ms_tolerance(true_segments):
    shifted = [_shift(s, 0.005) for s in true_segments]
    at_10 = metrics.boundary_scores_corpus(true_segments, shifted, tolerance=0.010)
    at_2 = metrics.boundary_scores_corpus(true_segments, shifted, tolerance=0.002)
    assert at_10["f1"] == at_10["onset"]["f1"] == at_10["offset"]["f1"] == 1.0
    assert at_2["f1"] == 0.0 and at_2["n_hits"] == 0
    assert metrics.syllable_error_rate_corpus(true_segments, shifted) == 0.0

    errors = metrics.boundary_errors_corpus(true_segments, shifted, tolerance=0.010)
    assert errors["n_matched"] == sum(len(s) for s in true_segments)
    assert errors["median_onset_error_s"] == pytest.approx(0.005, abs=1e-9)
    assert errors["median_offset_error_s"] == pytest.approx(0.005, abs=1e-9)
    assert errors["onset_within_tolerance"] == 1.0
    assert metrics.boundary_errors_corpus(true_segments, shifted, 0.002)[
        "offset_within_tolerance"
    ] == (0.0)


def test_drop_every_third_syllable(true_segments):
    kept = [_keep(s, np.arange(len(s)) % 3 != 2) for s in true_segments]
    dropped = [len(t) - len(k) for t, k in zip(true_segments, kept, strict=True)]
    n_true = [len(t) for t in true_segments]
    # only deletions: the distance is the number dropped
    for t, k, d in zip(true_segments, kept, dropped, strict=True):
        assert metrics.levenshtein_distance(t.labels, k.labels) == d
        assert metrics.syllable_error_rate(t.labels, k.labels) == d / len(t)
    assert metrics.syllable_error_rate_corpus(true_segments, kept) == sum(dropped) / sum(n_true)

    scores = metrics.boundary_scores_corpus(true_segments, kept)
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(1 - sum(dropped) / sum(n_true))
    assert scores["n_hits"] == 2 * (sum(n_true) - sum(dropped))


# vak's character_error_rate wraps a tensor in torch.tensor(), which warns
@pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")
def test_ser_matches_vak_on_one_file(true_segments):
    from vak.metrics.distance.functional import character_error_rate

    true = true_segments[3]
    pred = _relabel(_keep(true, np.arange(len(true)) % 5 != 0))[0]
    ours = metrics.syllable_error_rate(true.labels, pred.labels)
    assert ours > 0
    # vak's rate takes strings: Bird0 labels are one character each
    theirs = float(character_error_rate("".join(pred.labels), "".join(true.labels)))
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_boundary_scores_agree_with_vocalpy(true_segments):
    from vocalpy.metrics.segmentation import fscore, precision, recall

    true = true_segments[0]
    pred = _shift(_keep(true, np.arange(len(true)) % 3 != 0), 0.004)
    pred = SegmentTable(pred.onsets_s, pred.offsets_s + 0.02, pred.labels)  # offsets miss
    ours = metrics.boundary_scores(true, pred, tolerance=0.005)
    for name, fn in (("precision", precision), ("recall", recall), ("f1", fscore)):
        theirs, n_tp, _ = fn(pred.onsets_s, true.onsets_s, tolerance=0.005)
        assert ours["onset"][name] == pytest.approx(theirs)
        assert ours["onset"]["n_hits"] == n_tp
    assert ours["offset"]["n_hits"] == 0
    assert ours["n_hits"] == ours["onset"]["n_hits"] == len(pred)


def test_touching_segments_are_scored(true_segments):
    """Song 1 has an offset equal to the next onset; vocalpy rejects that as one array."""
    from vocalpy.metrics.segmentation import fscore

    seg = true_segments[1]
    assert np.any(seg.onsets_s[1:] == seg.offsets_s[:-1])
    boundaries = np.sort(np.concatenate([seg.onsets_s, seg.offsets_s]))
    with pytest.raises(ValueError, match="strictly increasing"):
        fscore(boundaries, boundaries, tolerance=0.01)
    assert metrics.boundary_scores(seg, seg)["f1"] == 1.0


def test_relabelled_confusion_matrix(true_segments, names, tmp_path):
    relabelled, masks = zip(*(_relabel(s) for s in true_segments), strict=True)
    index = {n: i for i, n in enumerate(names)}
    expected = Counter()
    expected_frames = Counter()
    for seg, new, mask in zip(true_segments, relabelled, masks, strict=True):
        times = _times(seg)
        for i in np.flatnonzero(mask):
            pair = (index[seg.labels[i]], index[new.labels[i]])
            expected[pair] += 1
            inside = (times >= seg.onsets_s[i]) & (times < seg.offsets_s[i])
            expected_frames[pair] += int(inside.sum())
    assert sum(expected.values()) > 50

    y_true = _frames(true_segments, names)
    y_pred = _frames(relabelled, names, times_of=true_segments)
    result = metrics.evaluate(
        true_segments,
        list(relabelled),
        y_true,
        y_pred,
        names,
        frame_s=FRAME_S,
        figure_dir=tmp_path,
    )
    for level, counts in (("segments", expected), ("frames", expected_frames)):
        cm = np.array(result[level]["confusion_matrix"])
        off = {(i, j): int(cm[i, j]) for i, j in zip(*np.nonzero(cm), strict=True) if i != j}
        assert off == dict(counts), level
    assert np.sum(result["segments"]["confusion_matrix"]) == result["n_true_segments"]
    assert np.sum(result["frames"]["confusion_matrix"]) == sum(y.size for y in y_true)
    # boundaries untouched
    assert result["boundaries"]["f1"] == 1.0
    assert 0 < result["syllable_error_rate"] <= sum(expected.values()) / result["n_true_segments"]
    # segment-level per-class recall of class "0": fraction of its segments kept
    seg_scores = {r["class"]: r for r in result["segments"]["per_class"]}
    n0 = sum(int(np.sum(s.labels == "0")) for s in true_segments)
    changed0 = sum(v for (t, _), v in expected.items() if t == index["0"])
    assert seg_scores["0"]["support"] == n0
    assert seg_scores["0"]["recall"] == pytest.approx((n0 - changed0) / n0)

    for level in ("frames", "segments"):
        png = tmp_path / f"confusion_{level}.png"
        assert result["figures"][level] == str(png)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # normalised matrix drawn as percentages
    cm = metrics.confusion_matrix(
        np.concatenate(y_true), np.concatenate(y_pred), len(names), normalize="true"
    )
    assert np.allclose(cm.sum(axis=1)[cm.sum(axis=1) > 0], 1.0)
    fig = metrics.plot_confusion_matrix(cm, names, title="frames, normalised")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted label" and ax.get_ylabel() == "true label"
    assert any(t.get_text().endswith("%") for t in ax.texts)
    path = save(fig, tmp_path / "cm_norm.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_frame_accuracy_ignores_padding_and_checks_lengths(true_segments, names):
    y_true = _frames(true_segments[:2], names)
    shifted = _frames([_shift(s, 0.005) for s in true_segments[:2]], names, true_segments[:2])
    y_true, y_pred = np.concatenate(y_true), np.concatenate(shifted)
    expected = np.mean(y_true == y_pred)
    assert 0.5 < expected < 1.0
    acc = metrics.frame_accuracy(y_true, y_pred)
    assert acc == pytest.approx(expected)
    # padding frames (-1) are not scored whatever is predicted there
    padded_true = np.concatenate([y_true, np.full(500, PAD_LABEL, np.int16)])
    padded_pred = np.concatenate([y_pred, np.full(500, 3, np.int16)])
    assert metrics.frame_accuracy(padded_true, padded_pred) == pytest.approx(expected)
    with pytest.raises(ValueError, match=f"{y_true.size}.*{y_true.size - 1}"):
        metrics.frame_accuracy(y_true, y_pred[:-1])
    with pytest.raises(ValueError, match="outside"):
        metrics.confusion_matrix(y_true, y_pred + len(names), len(names))
    scores = metrics.per_class_scores(padded_true, padded_pred, names)
    assert list(scores.columns) == ["precision", "recall", "f1", "support"]
    assert scores["support"].sum() == y_true.size
    assert scores.loc["background", "support"] == int(np.sum(y_true == 0))


def test_empty_prediction(true_segments, names):
    true = true_segments[0]
    empty = SegmentTable(np.array([]), np.array([]), np.array([], dtype=str))
    assert metrics.syllable_error_rate(true.labels, empty.labels) == 1.0
    scores = metrics.boundary_scores(true, empty)
    assert scores["recall"] == scores["precision"] == scores["f1"] == 0.0
    assert scores["n_pred"] == 0 and scores["n_true"] == 2 * len(true)
    errors = metrics.boundary_errors(true, empty)
    assert errors["n_matched"] == 0 and np.isnan(errors["median_onset_error_s"])
    result = metrics.evaluate([true], [empty])
    assert result["syllable_error_rate"] == 1.0
    assert result["boundary_errors"]["median_onset_error_s"] is None
    json.dumps(result, allow_nan=False)
    with pytest.raises(ValueError, match="undefined"):
        metrics.syllable_error_rate([], ["a"])
