"""The demo and the command line, end to end on the bundled example data."""

from __future__ import annotations

import re

import pytest

from vocalpy_xai import cli
from vocalpy_xai.store import open_store


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    from vocalpy_xai.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    index = run_demo(out, progress=False)
    return out, index


def test_demo_builds_both_stores_and_writes_the_report(demo_out):
    out, index = demo_out
    bird0, xc10 = (
        open_store(out / "stores" / "bird0.zarr"),
        open_store(out / "stores" / "xc10.zarr"),
    )
    assert bird0.sizes["clip"] == 20 and xc10.sizes["clip"] == 100
    assert set(xc10["label"].values) == {
        "California Towhee",
        "White-crowned Sparrow",
        "Chestnut-backed Chickadee",
        "Black Phoebe",
        "Townsend's Warbler",
        "Orange-crowned Warbler",
        "Lesser Goldfinch",
        "Myrtle Warbler",
        "Dark-eyed Junco",
        "House Sparrow",
    }
    page = index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert {
        "bird0-song0.png",
        "bird0-label-counts.png",
        "bird0-durations.png",
        "xc10-species.png",
        "xc10-label-counts.png",
        "xc10-durations.png",
    } <= set(images)
    for name in images:
        png = (index.parent / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "Paul Marvin" in page  # recordists are credited


def test_demo_trains_an_esn_and_annotates_held_out_songs(demo_out):
    from vocalpy_xai.io import read_annotations
    from vocalpy_xai.models import ESNDecoder

    out, index = demo_out
    files = sorted((out / "annotations").glob("*.esn.csv"))
    assert [f.name for f in files] == [f"{i}.wav.esn.csv" for i in range(14, 20)]
    for f in files:
        annot = read_annotations(f, "simple-seq")[0]
        assert len(annot.seq.labels) > 10 and set(annot.seq.labels) <= set("012345678")
    model = ESNDecoder.load(next((out / "models").glob("esn-bird0-*")))
    assert model.training_["clips"] == list(range(14))
    page = index.read_text()
    assert "esn-song14.png" in page
    # one annotation-model section of scores: the run report's (no second confusion matrix)
    assert "esn-confusion-syllables.png" in page and "esn-confusion.png" not in page
    assert page.count("model run on TEST</h2>") == 1


def test_demo_trains_and_explains_a_prototype_net(demo_out):
    import json

    from vocalpy_xai.protonet import AudioProtoNet, open_activations

    out, index = demo_out
    model_dir = next((out / "models").glob("protonet-bird0-*"))
    model = AudioProtoNet.load(model_dir)
    assert model.params.arch == "audio" and model.class_names_ == list("012345678")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.5 and 0 < metrics["macro_f1"] <= 1
    page = index.read_text()
    assert "protonet-confusion.png" in page
    assert 'href="protonet/index.html"' in page and 'href="protonet/gallery/index.html"' in page
    folder = index.parent / "protonet"
    explained = (folder / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', explained)
    assert len(images) == 9  # one held-out syllable per class
    for name in images:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for href in re.findall(r'<audio controls preload="none" src="([^"]+)"', explained):
        assert (folder / href).is_file()
    gallery = (folder / "gallery" / "index.html").read_text()
    for name in re.findall(r'<img src="([^"]+)"', gallery):
        assert (folder / "gallery" / name).is_file()
    act = open_activations(folder / "activations.zarr")
    assert act.sizes["clip"] == 9 and act.sizes["prototype"] == model.num_prototypes_
    # the demo model's prototypes are checked against the training syllables: the page says
    # how many lie outside a syllable of their class, and draws one colour map
    from vocalpy_xai.clips import syllable_windows
    from vocalpy_xai.protonet.report import source_checks, syllable_table

    store = open_store(out / "stores" / "bird0-syllables.zarr")
    train = syllable_windows(store, range(14), width_s=0.2)
    checks = source_checks(model, syllable_table(train))
    n = int(checks["flagged"].sum())
    assert f"{n} of {model.num_prototypes_} prototypes have a source box" in explained
    print("demo prototypes outside their class:", n, "of", model.num_prototypes_)
    assert act.attrs["model"] == str(model_dir)


def test_demo_runs_the_loop_once_and_a_run_report(demo_out):
    import json

    from vocalpy_xai.registry import Registry

    out, index = demo_out
    summary = json.loads((out / "loop" / "loop.json").read_text())
    noise = summary["noise"]
    assert noise["n_injected"] > 0 and noise["injected_in_reviewed"] >= 0.8 * noise["n_injected"]
    registry = Registry(out / "loop" / "registry")
    assert [v.version for v in registry.list("esn-loop")] == [1, 2]
    page = index.read_text()
    for name in ("esn-learning-curve.png", "esn-worst-001.png", "loop-ranks.png"):
        assert name in page and (index.parent / name).is_file()


def test_demo_rerun_reuses_the_stores(demo_out):
    from vocalpy_xai.demo import run_demo

    out, _ = demo_out
    store = out / "stores" / "bird0.zarr"
    before = store.stat().st_mtime_ns
    run_demo(out, progress=False, stages=["stores"])
    assert store.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="unknown demo stage.*'esn'"):
        run_demo(out, progress=False, stages=["esm"])


def test_cli_manifest_build_info_and_errors(tmp_path, example_bird0, capsys):
    manifest = tmp_path / "m.csv"
    assert (
        cli.main(
            [
                "manifest",
                "annotations",
                str(example_bird0 / "Annotation.xml"),
                "--format",
                "birdsong-recognition-dataset",
                "-o",
                str(manifest),
            ]
        )
        == 0
    )
    store = tmp_path / "s.zarr"
    assert (
        cli.main(["build-store", str(manifest), str(store), "--samplerate", "32000", "--quiet"])
        == 0
    )
    assert "20 clip(s)" in capsys.readouterr().out
    assert cli.main(["info", str(store)]) == 0
    # a second build to the same path is refused with a clear message, exit code 2
    assert cli.main(["build-store", str(manifest), str(store), "--quiet"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    # an unknown annotation format names the valid ones
    assert (
        cli.main(
            [
                "manifest",
                "annotations",
                str(example_bird0 / "Annotation.xml"),
                "--format",
                "xml",
                "-o",
                str(tmp_path / "x.csv"),
            ]
        )
        == 2
    )
    assert "Valid formats" in capsys.readouterr().err
    # a typo in an option is refused by argparse
    with pytest.raises(SystemExit):
        cli.main(["build-store", str(manifest), str(store), "--samplrate", "32000"])
