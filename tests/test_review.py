"""Disagreement finder and re-annotation loop on the 20 bundled Bird0 songs (real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocalpy_xai.errors import AnnotationError
from vocalpy_xai.io import Manifest
from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.registry import Registry
from vocalpy_xai.review import (
    DELETE,
    REVIEW_COLUMNS,
    AnnotationVersions,
    build_version_store,
    cross_val_predictions,
    file_folds,
    find_disagreements,
    predictions_of,
    read_review_list,
    retrain,
    top_share,
    write_review_list,
)
from vocalpy_xai.store import SpectrogramParams, open_store

TRAIN, TEST = list(range(0, 14)), list(range(14, 20))
PARAMS = SpectrogramParams(samplerate=32000)
ESN = ESNParams(units=150, seed=0)


@pytest.fixture(scope="module")
def setup(example_bird0, tmp_path_factory):
    """Versions v1 (original) and v2 (3 % of TRAIN syllables relabelled), and their stores."""
    work = tmp_path_factory.mktemp("review")
    manifest = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    versions = AnnotationVersions.create(work / "annot", manifest)
    clean = open_store(build_version_store(versions, 1, work / "v1.zarr", PARAMS))
    classes = [str(c) for c in clean["class"].values[1:]]
    table = versions.table(1)
    train_paths = set(clean["source_path"].values[TRAIN].astype(str))
    rows = table[table["audio_path"].isin(train_paths)]
    rng = np.random.default_rng(1)
    noisy_rows = rows.iloc[rng.choice(len(rows), size=int(0.03 * len(rows)), replace=False)]
    noise = noisy_rows[["audio_path", "onset_s"]].assign(
        human_label=noisy_rows["label"],
        new_label=[rng.choice([c for c in classes if c != x]) for x in noisy_rows["label"]],
    )
    v2 = versions.apply(noise, note="synthetic noise")
    noisy = open_store(build_version_store(versions, v2, work / "v2.zarr", PARAMS, classes))
    return {
        "work": work,
        "versions": versions,
        "clean": clean,
        "noisy": noisy,
        "noise": noise,
        "classes": classes,
    }


def test_versions_keep_originals_and_diff(setup):
    versions, noise = setup["versions"], setup["noise"]
    assert versions.versions() == [1, 2]
    sha1 = versions.info(1)["sha256"]
    diff = versions.diff(1, 2)
    assert len(diff) == len(noise) and set(diff["change"]) == {"relabel"}
    assert versions.info(1)["sha256"] == sha1 and versions.info(2)["parent"] == 1
    assert versions.info(2)["n_changes"] == len(noise)
    assert (setup["clean"]["class"].values == setup["noisy"]["class"].values).all()


def test_finder_ranks_relabelled_syllables_first(setup):
    noisy, noise = setup["noisy"], setup["noise"]
    pred = cross_val_predictions(noisy, TRAIN, k=3, seeds=(0,), params=ESN, progress=False)
    assert pred.n_models == 1 and set(pred.probs) == set(TRAIN)
    review = find_disagreements(noisy, pred, TRAIN)
    assert list(review.columns) == REVIEW_COLUMNS
    assert list(review["rank"]) == list(range(1, len(review) + 1))
    assert review["score"].is_monotonic_decreasing
    for col in ("disagreement", "human_prob", "confidence", "ensemble_disagreement"):
        assert review[col].between(0, 1).all()
    noisy_keys = set(zip(noise["audio_path"], noise["onset_s"].round(6), strict=True))
    is_noisy = [
        (p, round(o, 6)) in noisy_keys
        for p, o in zip(review["audio_path"], review["onset_s"], strict=True)
    ]
    top = top_share(review.assign(is_noisy=is_noisy), 0.10)
    # a small reservoir trained on ~9 songs still puts most relabelled syllables on top
    assert top["is_noisy"].sum() >= 0.7 * len(noise)
    flagged = review[review["flag"]]
    assert len(flagged) and (flagged["disagreement"] >= 2 / 3).all()


def test_review_list_roundtrip_and_corrections(setup, tmp_path):
    versions, noisy, clean = setup["versions"], setup["noisy"], setup["clean"]
    model = ESNDecoder(ESN).fit(noisy, TRAIN[:7], progress=False)
    pred = predictions_of([model], noisy, TRAIN[7:])
    review = find_disagreements(noisy, pred)
    path = write_review_list(review, tmp_path / "review.csv", top=20)
    with pytest.raises(FileExistsError):
        write_review_list(review, path)
    back = read_review_list(path)
    assert len(back) == 20 and (back["new_label"] == "").all()
    # the reviewer corrects the first row, deletes the second
    true = dict(
        zip(
            zip(
                clean["source_path"].values[clean["segment_clip"].values].astype(str),
                clean["segment_onset_s"].values.round(6),
                strict=True,
            ),
            clean["segment_label"].values.astype(str),
            strict=True,
        )
    )
    back.loc[0, "new_label"] = true[(back.loc[0, "audio_path"], round(back.loc[0, "onset_s"], 6))]
    back.loc[1, "new_label"] = DELETE
    latest = versions.latest()
    v = versions.apply(back, parent=2, note="review")
    assert v == latest + 1
    d = versions.diff(2, v)
    assert (d["change"] == "deleted").sum() == 1
    assert len(d) == 1 + (back.loc[0, "new_label"] != back.loc[0, "human_label"])
    # stale or unmatched corrections are refused, nothing written
    stale = back.head(1).assign(human_label="not-a-label", new_label="0")
    with pytest.raises(AnnotationError, match="stale"):
        versions.apply(stale, parent=2)
    missing = pd.DataFrame({"audio_path": ["nowhere.wav"], "onset_s": [0.0], "new_label": ["0"]})
    with pytest.raises(AnnotationError, match="no annotated file"):
        versions.apply(missing)
    assert versions.latest() == v


def test_ensemble_and_retrain_loop(setup, tmp_path):
    versions, noisy, clean, noise = (
        setup["versions"],
        setup["noisy"],
        setup["clean"],
        setup["noise"],
    )
    models = [
        ESNDecoder(ESNParams(units=150, seed=s)).fit(noisy, TRAIN, progress=False) for s in (0, 1)
    ]
    pred = predictions_of(models, noisy, TEST)
    review = find_disagreements(noisy, pred)
    assert (review["n_models"] == 2).all() and review["ensemble_disagreement"].isin([0, 0.5]).all()
    # fix every noisy label (a complete review) and retrain: the loop, registered
    fix = noise.assign(human_label=noise["new_label"], new_label=noise["human_label"])
    v = versions.apply(fix, parent=2, note="complete review")
    assert len(versions.diff(1, v)) == 0
    fixed = build_version_store(versions, v, tmp_path / "fixed.zarr", PARAMS, setup["classes"])
    reg = Registry(tmp_path / "registry")
    _, m = retrain(
        fixed,
        TRAIN,
        test_store=clean,
        test_clips=TEST,
        params=ESN,
        registry=reg,
        name="esn",
        note=f"annotation v{v}",
    )
    assert 0 <= m["syllable_error_rate"] < 0.5 and m["frame_accuracy"] > 0.8
    table = reg.compare("esn")
    assert table.loc[1, "syllable_error_rate"] == m["syllable_error_rate"]


def test_file_folds_partition():
    folds = file_folds(range(10), 3, seed=0)
    assert sorted(np.concatenate(folds).tolist()) == list(range(10))
    assert {len(f) for f in folds} <= {3, 4}
    with pytest.raises(ValueError, match="k must be"):
        file_folds(range(3), 5)


def test_cli_functions(example_bird0, tmp_path, capsys):
    import argparse

    from vocalpy_xai.review import cli as review_cli

    parser = argparse.ArgumentParser()
    review_cli.add_parser(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args(["review", *argv])
        return args.func(args)

    root = tmp_path / "versions"
    xml = example_bird0 / "Annotation.xml"
    assert (
        run("init", str(xml), "--format", "birdsong-recognition-dataset", "--root", str(root)) == 0
    )
    first = AnnotationVersions(root).table(1).iloc[0]
    fix = tmp_path / "fix.csv"
    pd.DataFrame(
        {"audio_path": [first["audio_path"]], "onset_s": [first["onset_s"]], "new_label": ["x"]}
    ).to_csv(fix, index=False)
    assert run("apply", str(root), str(fix), "--note", "cli") == 0
    assert run("versions", str(root)) == 0
    assert run("diff", str(root), "1", "2") == 0
    out = capsys.readouterr().out
    assert "version 2: 1 change(s)" in out and "relabel" in out
    assert review_cli.parse_clips("0-2,5", 10).tolist() == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="outside"):
        review_cli.parse_clips("0-20", 10)
