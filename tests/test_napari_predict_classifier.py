"""The Predict dock runs a registered prototype model on the open recording: its chunks
labelled with their species and its real activation layers, drawn on a real canvas (Xvfb);
and the dock finds a registry beside the files open in the viewer."""

from __future__ import annotations

import os
import pathlib
import shutil

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")

from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.registry import find_registry
from vocalpy_xai.napari.segments_layer import plugin_meta
from vocalpy_xai.napari.viewer import layers_with_role
from vocalpy_xai.protonet.faithfulness import DEFAULT_METHOD
from vocalpy_xai.registry import Registry

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def xc_clip(tmp_path, example_xc10):
    """A private copy of a bundled xeno-canto clip the fixture model was not trained on."""
    table = pd.read_csv(example_xc10 / "labels.csv")
    name = sorted(table.loc[table["scientific_name"] == "Poecile rufescens", "mp3_file"])[2]
    clip = tmp_path / "clips" / pathlib.PurePath(name).name
    clip.parent.mkdir()
    shutil.copy(example_xc10 / name, clip)
    return clip


def test_predict_dock_shows_a_prototype_models_activations(
    make_napari_viewer, qtbot, xc_clip, birdnet_protonet_dir, tmp_path, monkeypatch
):
    from vocalpy_xai.napari.widgets import PredictWidget
    from vocalpy_xai.protonet import AudioProtoNet
    from vocalpy_xai.protonet.evidence import classify_recording

    root = tmp_path / "registry"
    Registry(root).register(birdnet_protonet_dir, "xc-species", alias="production")
    monkeypatch.setenv("VOCALPY_XAI_REGISTRY", str(root))  # never the user's home
    viewer = make_napari_viewer(show=True)
    open_recording(viewer, xc_clip)
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="Predict")
    assert predict.registry_root.text() == str(root)
    items = [predict.registered.itemText(i) for i in range(predict.registered.count())]
    assert items == ["", "xc-species@1  (production)", "xc-species@production  (v1)"]
    predict.registered.setCurrentIndex(2)
    assert predict.start() is not None
    qtbot.waitUntil(
        lambda: predict.result is not None or predict.error is not None, timeout=180_000
    )
    assert predict.error is None, predict.error

    # the chunks, labelled with the species the model gives them (as calling it directly)
    direct = classify_recording(AudioProtoNet.load(birdnet_protonet_dir), xc_clip)
    chunks = viewer.layers[f"{xc_clip.stem} classification"]
    assert plugin_meta(chunks)["role"] == "classification"
    assert list(chunks.features["label"]) == direct.chunk_predicted
    assert direct.predicted in predict.status.text() and "xc-species@1" in predict.status.text()

    # the model's activation layers: one per prototype kept, on the recording's time axis,
    # drawn by the package's default attribution method, which the panel and layers name
    layers = layers_with_role(viewer, "activation")
    ds = predict.result.activations
    assert len(layers) == ds.sizes["prototype"] >= 1
    assert predict.maps.currentData() is None and ds.attrs["attribution"] == DEFAULT_METHOD
    assert f"maps drawn by {DEFAULT_METHOD}" in predict.status.text()
    assert all(la.name.endswith(f", {DEFAULT_METHOD})") for la in layers)
    assert all(plugin_meta(la)["attribution"] == DEFAULT_METHOD for la in layers)
    # the progress bar followed the chunks, and hides once done
    n_chunks = len(direct.chunk_start_s)
    assert predict.progress.maximum() == predict.progress.value() == n_chunks
    qtbot.waitUntil(lambda: not predict.progress.isVisible())
    assert all(plugin_meta(la)["audio_path"] == str(xc_clip) for la in layers)
    shown = [la for la in layers if la.visible]
    top = [int(p) for p in ds["top_prototypes"].values[0]]
    assert sorted(plugin_meta(la)["prototype"] for la in shown) == sorted(top[: len(shown)])
    for la in layers:
        k = list(ds["prototype"].values).index(plugin_meta(la)["prototype"])
        np.testing.assert_array_equal(
            la.data, ds["similarity"].values[0, k][:: 1 if ds["freq"][0] < ds["freq"][-1] else -1]
        )
        extent = la.extent.world[:, -1]  # time (s) spanned by the layer
        assert extent[0] < 0.05 and abs(extent[1] - direct.duration_s) < 0.05
    # drawn on the canvas: hiding them changes what is on screen
    qtbot.waitUntil(lambda: predict.isVisible())
    if os.environ.get("VOCALPY_XAI_WRITE_SCREENSHOT"):  # the README's screenshot
        from PIL import Image

        viewer.window._qt_window.resize(1400, 860)
        viewer.layers.selection.active = chunks
        qtbot.wait(300)
        shot = viewer.screenshot(canvas_only=False, flash=False)
        Image.fromarray(shot).save(REPO / "docs" / "images" / "napari_predict_prototypes.png")
    with_maps = viewer.screenshot(canvas_only=True, flash=False)
    for la in shown:
        la.visible = False
    without_maps = viewer.screenshot(canvas_only=True, flash=False)
    assert with_maps.shape == without_maps.shape
    assert np.abs(with_maps.astype(int) - without_maps.astype(int)).sum() > 0

    # running again (the fast "linear" preview) replaces the layers instead of piling them up
    predict.result = None
    predict.maps.setCurrentIndex(1)
    predict.start()
    qtbot.waitUntil(lambda: predict.result is not None, timeout=180_000)
    again = layers_with_role(viewer, "activation")
    assert len(again) == ds.sizes["prototype"]
    assert predict.result.activations.attrs["attribution"] == "linear"
    assert all(la.name.endswith(", linear)") for la in again)
    assert "maps drawn by linear" in predict.status.text()


def test_the_default_registry_is_found_beside_open_files(tmp_path, monkeypatch, esn_model_dir):
    monkeypatch.delenv("VOCALPY_XAI_REGISTRY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty user registry
    demo = tmp_path / "demo-output"
    Registry(demo / "loop" / "registry").register(esn_model_dir, "esn")
    store = demo / "stores" / "bird0.zarr"
    assert find_registry([store / "zarr.json"]) == demo / "loop" / "registry"
    assert (
        find_registry([tmp_path / "elsewhere" / "x.wav"])
        == tmp_path / "home" / ".vocalpy-xai" / "models"
    )
    Registry(tmp_path / "home" / ".vocalpy-xai" / "models").register(esn_model_dir, "mine")
    assert find_registry([store / "zarr.json"]) == tmp_path / "home" / ".vocalpy-xai" / "models"


@pytest.fixture(scope="module")
def esn_model_dir(small_store, tmp_path_factory):
    from vocalpy_xai.models import ESNDecoder, ESNParams

    model = ESNDecoder(ESNParams(units=50, seed=0)).fit(small_store, range(0, 2), progress=False)
    return model.save(tmp_path_factory.mktemp("esn") / "esn")
