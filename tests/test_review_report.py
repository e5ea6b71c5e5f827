"""Run reports and the loop once, on the 20 bundled Bird0 songs (real data, small ESNs)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from vocalpy_xai import cli
from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.registry import Registry
from vocalpy_xai.review import REVIEW_COLUMNS, read_review_list, run_loop_once, run_report
from vocalpy_xai.review.report import same_architecture, training_subsets
from vocalpy_xai.store import open_store

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

TRAIN, TEST = list(range(0, 14)), list(range(14, 20))
ESN = ESNParams(units=300, seed=0)
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
N_WORST = 5
#: floor: share of the injected (relabelled) TRAIN syllables in the reviewed top 10 % of
#: the review list. Measured on the bundled songs: 27/27 (max rank 38 of 537).
NOISE_IN_TOP_FLOOR = 0.8


def _pngs_in(html: str) -> set[str]:
    return set(re.findall(r'src="([^"]+\.png)"', html))


@pytest.fixture(scope="module")
def ds(small_store):
    return open_store(small_store)


@pytest.fixture(scope="module")
def model(ds):
    return ESNDecoder(ESN).fit(ds, TRAIN, progress=False)


@pytest.fixture(scope="module")
def run(model, ds, tmp_path_factory):
    out = tmp_path_factory.mktemp("run-report")
    return run_report(
        model, ds, TRAIN, TEST, out, learning_curve=FRACTIONS, n_worst=N_WORST, progress=False
    )


@pytest.fixture(scope="module")
def loop(small_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "run"
    return run_loop_once(small_store, TRAIN, TEST, out, progress=False)


# ------------------------------------------------------------------------------ run report
def test_run_report_writes_html_referencing_its_pngs(run):
    assert run.index.is_file()
    html = run.index.read_text()
    pngs = _pngs_in(html)
    expected = {
        "confusion-syllables.png",
        "confusion-frames.png",
        "learning-curve.png",
        *run.worst["figure"],
    }
    assert expected <= pngs
    for name in pngs:
        assert (run.index.parent / name).is_file(), name
    assert {p.name for p in run.figures.values()} == pngs
    for name in ("metrics.json", "per_class.csv", "learning_curve.csv", "worst_errors.csv"):
        assert (run.out_dir / name).is_file() and name in run.files
    assert "syllable error rate" in html and "boundary F1 (10 ms)" in html


def test_run_report_metrics_and_per_class_table(run, model):
    m = json.loads((run.out_dir / "metrics.json").read_text())
    assert m["syllable_error_rate"] == pytest.approx(run.metrics["syllable_error_rate"])
    assert 0 <= m["syllable_error_rate"] < 0.2  # a 300-unit ESN on 14 songs: ~3 %
    assert m["n_files"] == len(TEST) and m["segments"]["n_segments"] == m["n_true_segments"]
    per_class = pd.read_csv(run.out_dir / "per_class.csv", dtype={"class": str})
    assert list(per_class["class"]) == list(model.class_names_)
    for col in ("syllables precision", "syllables recall", "syllables f1", "frames f1"):
        assert per_class[col].between(0, 1).all()


def test_learning_curve_points_and_last_point(run, model, ds):
    curve = run.learning_curve
    assert list(curve["fraction"]) == list(FRACTIONS)
    assert list(curve["n_files"]) == [round(f * len(TRAIN)) for f in FRACTIONS]
    assert list(curve["retrained"]) == [True, True, True, False]  # 100 %: the model itself
    assert curve["syllable_error_rate"].iloc[-1] == run.metrics["syllable_error_rate"]
    assert curve["frame_error"].iloc[-1] == pytest.approx(1 - run.metrics["frames"]["accuracy"])
    assert (curve[["syllable_error_rate", "frame_error"]] >= 0).all().all()
    # reusing the model is exact: a fresh ESN of the same parameters on the same files
    # gives the same TEST syllable error rate
    from vocalpy_xai.review.report import predict_clips, score_predictions

    fresh = same_architecture(model).fit(ds, TRAIN, progress=False)
    assert score_predictions(fresh, predict_clips(fresh, ds, TEST))["syllable_error_rate"] == (
        pytest.approx(curve["syllable_error_rate"].iloc[-1])
    )


def test_training_subsets_are_nested():
    subsets = training_subsets(TRAIN, (0.25, 0.5, 1.0), seed=3)
    assert [len(s) for s in subsets] == [4, 7, 14]
    assert set(subsets[0]) <= set(subsets[1]) <= set(subsets[2])
    assert subsets[-1] == TRAIN
    with pytest.raises(ValueError, match="fractions"):
        training_subsets(TRAIN, (0.0, 1.0))


def test_worst_errors_ranked_with_crops(run):
    worst = run.worst
    assert 0 < len(worst) <= N_WORST
    assert worst["score"].is_monotonic_decreasing and (worst["disagreement"] > 0).all()
    assert set(worst["error"]) <= {"label", "missed"}
    assert (worst["model_label"] != worst["human_label"]).all()  # errors only
    assert set(worst["clip"]) <= set(TEST)
    for name in worst["figure"]:
        assert (run.index.parent / name).stat().st_size > 5_000


def test_cli_report_from_saved_model(model, small_store, tmp_path):
    model_dir = model.save(tmp_path / "model")
    out = tmp_path / "report"
    code = cli.main(
        [
            "review", "report", str(model_dir), str(small_store),
            "--train-clips", "0-13", "--test-clips", "14-19", "--out", str(out),
            "--fractions", "0.5,1", "--worst", "2",
        ]
    )  # fmt: skip
    assert code == 0
    curve = pd.read_csv(out / "learning_curve.csv")
    assert list(curve["fraction"]) == [0.5, 1.0] and not curve["retrained"].iloc[-1]
    assert {"learning-curve.png", "worst-001.png"} <= _pngs_in((out / "index.html").read_text())
    assert cli.main(["review", "report", str(tmp_path / "nope"), str(small_store),
                     "--test-clips", "14-19", "--out", str(out)]) == 2  # fmt: skip


# ------------------------------------------------------------------------------ the loop once
def test_loop_registers_two_versions_and_compares(loop):
    reg = Registry(loop["registry_root"])
    assert [v.version for v in reg.list(loop["name"])] == [1, 2]
    assert loop["model_versions"] == {"before": 1, "after": 2}
    assert list(loop["compare"].index) == [1, 2]
    assert "syllable_error_rate" in loop["compare"].columns
    for when in ("before", "after"):
        assert 0 <= loop["metrics"][when]["syllable_error_rate"] < 0.2
    notes = [v.manifest["note"] for v in reg.list(loop["name"])]
    assert "noisy" in notes[0] and "reviewed" in notes[1]
    assert isinstance(reg.load(loop["name"], 2), ESNDecoder)


def test_loop_review_list_sorted_and_noise_on_top(loop):
    review = read_review_list(loop["review_list"])
    assert list(review.columns) == REVIEW_COLUMNS
    assert list(review["rank"]) == list(range(1, len(review) + 1))
    assert review["score"].is_monotonic_decreasing
    s = loop["noise"]
    assert len(review) == s["n_train_syllables"]
    assert s["n_injected"] == round(0.05 * s["n_train_syllables"]) > 0
    assert s["injected_in_reviewed"] >= NOISE_IN_TOP_FLOOR * s["n_injected"]
    assert s["wrong_labels_before"] == s["n_injected"]
    assert s["wrong_labels_after"] == s["n_injected"] - s["n_fixed"]
    assert s["wrong_labels_after"] <= (1 - NOISE_IN_TOP_FLOOR) * s["n_injected"]
    reviewed = read_review_list(loop["reviewed_list"])
    assert len(reviewed) == s["n_reviewed"] == int(np.ceil(0.10 * len(review)))
    assert (reviewed["new_label"] != "").sum() == s["n_fixed"]


def test_loop_files_written(loop):
    out = loop["out_dir"]
    assert loop["annotations_root"].is_dir()
    assert sorted(p.name for p in loop["annotations_root"].glob("v*")) == ["v001", "v002", "v003"]
    for store in loop["stores"].values():
        assert open_store(store).sizes["clip"] == 20
    html = loop["report"].read_text()
    assert {"loop-ranks.png", "loop-before-after.png"} <= _pngs_in(html)
    for path in loop["figures"].values():
        assert path.is_file()
    summary = json.loads((out / "loop.json").read_text())
    assert summary["noise"] == loop["noise"]
    # the run is not silently overwritten; overwrite=True replaces it
    with pytest.raises(FileExistsError):
        run_loop_once(loop["stores"]["noisy"], TRAIN, TEST, out, progress=False)


def test_loop_conclusion_is_computed_from_its_figures(loop):
    import html

    from vocalpy_xai.review.loop import loop_conclusion

    s, before, after = loop["noise"], loop["metrics"]["before"], loop["metrics"]["after"]
    text = loop_conclusion(s, before, after)
    delta = after["levenshtein_distance"] - before["levenshtein_distance"]
    assert f"{abs(delta)} syllable error" in text
    assert f"corrected {s['wrong_labels_before'] - s['wrong_labels_after']} of" in text
    assert html.escape(text) in loop["report"].read_text()
    # the same figures with a large change read as one
    worse = {**after, "levenshtein_distance": before["levenshtein_distance"] + 50}
    assert "more on TEST" in loop_conclusion(s, before, worse)
    better = {**after, "levenshtein_distance": max(0, before["levenshtein_distance"] - 50)}
    if before["levenshtein_distance"] >= 50:
        assert "removed" in loop_conclusion(s, before, better)
