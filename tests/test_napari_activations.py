"""Activation stores in the viewer: a trained prototype model's real similarity maps over real
Bird0 songs, the prototype panel, and the docs screenshot."""

from __future__ import annotations

import os
import pathlib
import shutil

import crowsetta
import numpy as np
import pytest
import xarray as xr

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import (
    activation_layers,
    napari_get_reader,
    open_activations,
    open_recording,
    top_prototypes,
)
from vocalpy_xai.napari.activations import prototype_colour
from vocalpy_xai.napari.segments_layer import plugin_meta
from vocalpy_xai.napari.view import show_time_range
from vocalpy_xai.napari.viewer import refresh_windows

REPO = pathlib.Path(__file__).resolve().parents[1]
BAND = (1000.0, 9000.0)


@pytest.fixture(scope="module")
def activation_store(tmp_path_factory, example_bird0, syllable_protonet_dir):
    """A trained prototype model's real activations over Bird0 songs 0 and 2 (two clips):
    conftest's AudioProtoNet syllable classifier run on each whole song
    (:func:`vocalpy_xai.protonet.evidence.recording_activations`, the model's similarity
    maps upsampled), cut to the shorter song and written with the project's writer."""
    from vocalpy_xai.protonet import AudioProtoNet, write_activations
    from vocalpy_xai.protonet.evidence import recording_activations

    model = AudioProtoNet.load(syllable_protonet_dir)
    clips = [
        recording_activations(model, example_bird0 / "Wave" / f"{i}.wav", attribution="linear")
        for i in (0, 2)
    ]
    n = min(c.sizes["time"] for c in clips)
    ds = xr.concat(
        [
            c.isel(time=slice(0, n)).assign_coords(clip=[str(i)])
            for c, i in zip(clips, (0, 2), strict=True)
        ],
        dim="clip",
        data_vars="minimal",
        coords="minimal",
        compat="override",
    )
    path = tmp_path_factory.mktemp("activations") / "activations.zarr"
    write_activations(ds, path)
    return path, ds["similarity"].values


def test_read_activation_store(activation_store):
    path, sims = activation_store
    assert napari_get_reader(str(path)) is not None
    ds = open_activations(path)
    layers = activation_layers(ds, "2")
    assert len(layers) == sims.shape[1]
    data, kwargs, kind = layers[0]
    assert kind == "image" and kwargs["blending"] == "translucent"
    np.testing.assert_allclose(data, sims[1, 0], rtol=1e-6)
    # the best-matching prototype of a real song scores well above chance
    top = top_prototypes(ds, "2")
    assert top[0]["score"] > 0.5
    # without its best prototype, the clip's ranking skips it (no other prototype's data)
    rest = ds.sel(prototype=[p for p in ds["prototype"].values if p != top[0]["prototype"]])
    assert [t["prototype"] for t in top_prototypes(rest, "2")] == [t["prototype"] for t in top[1:]]
    assert [k["visible"] for _, k, _ in layers].count(True) == 3


def test_viewer_screenshot_and_prototype_panel(
    make_napari_viewer, qtbot, activation_store, tmp_path, example_bird0
):
    from vocalpy_xai.napari.widgets import PrototypeWidget

    path, _ = activation_store
    wav = tmp_path / "2.wav"
    shutil.copy(example_bird0 / "Wave" / "2.wav", wav)
    annot = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")[2]
    write_annotations(
        crowsetta.Annotation(annot_path=tmp_path / "2.csv", notated_path=wav, seq=annot.seq),
        tmp_path / "2.csv",
        "simple-seq",
    )
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 860)
    open_recording(viewer, wav)
    panel = PrototypeWidget(viewer)
    viewer.window.add_dock_widget(panel, name="Clips and prototypes")

    # File > Open: napari reads the store through the plugin; the panel lists it
    viewer.open(str(path), plugin="vocalpy-xai")
    qtbot.waitUntil(lambda: panel.list.count() == 3)
    n_layers = len(viewer.layers)
    assert panel.path.text() == str(path) and panel.clip.currentText() == "0"
    # opening it again from the panel replaces its layers instead of duplicating them
    panel.open_store(str(path))
    assert len(viewer.layers) == n_layers
    panel.clip.setCurrentIndex(1)  # clip "2": song 2, the open recording
    assert len(viewer.layers) == n_layers and panel.list.count() == 3
    frame = next(la for la in viewer.layers if plugin_meta(la).get("role") == "clip_frame")
    spect = next(la for la in panel.layers if plugin_meta(la).get("role") == "spectrogram")
    t0, t1 = plugin_meta(frame)["times"]
    assert t0 == pytest.approx(spect.extent.world[0, -1], abs=0.01)
    assert t1 == pytest.approx(spect.extent.world[1, -1], abs=0.01)
    # legend: the list's colours are its layers' colours, by rank
    for rank, proto in enumerate(panel.prototypes):
        layer = panel._layer_of(proto["prototype"])
        colour = plugin_meta(layer)["colour"]
        assert colour == prototype_colour(rank)
        assert panel.list.item(rank).foreground().color().name() == colour
        assert layer.blending == "translucent"
        # where the prototype comes from, and how its map was drawn
        clip = pathlib.PurePath(proto["source_clip"]).name
        assert f"like that part of {clip} at {proto['t0_s']:.2f} s" in panel.list.item(rank).text()
        assert plugin_meta(layer)["attribution"] == panel.ds.attrs["attribution"] == "linear"
        assert layer.name.endswith(", linear)")
    assert panel.legend.text().endswith("maps drawn by linear")
    icon = panel.list.item(0).icon().pixmap(150, 90)
    assert icon.width() >= 120  # a readable thumbnail, not 7 x 7 pixels
    show_time_range(viewer, 1.8, 3.4)
    refresh_windows(viewer, force=True)
    qtbot.wait(200)
    image = viewer.screenshot(canvas_only=False, flash=False)
    assert image.ndim == 3 and image[..., :3].std() > 10
    if os.environ.get("VOCALPY_XAI_WRITE_SCREENSHOT"):
        from PIL import Image

        Image.fromarray(image).save(REPO / "docs" / "images" / "napari_activations.png")

    assert panel.clip.count() == 2
    assert panel.list.count() == 3
    assert not panel.list.item(0).icon().isNull()  # thumbnail of the real source patch
    from qtpy.QtCore import Qt

    item = panel.list.item(2)
    layer = panel._layer_of(panel.prototypes[2]["prototype"])
    item.setCheckState(Qt.CheckState.Checked)
    assert layer.visible
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not layer.visible
    panel.list.setCurrentRow(0)
    message = panel.play(match=True)
    assert message  # plays where there is a device; headless says there is none
    panel.clip.setCurrentIndex(1)
    assert panel.list.count() == 3


def test_one_torch_free_activation_format(tmp_path):
    """napari and protonet read activation datasets through one module, which needs no torch."""
    import subprocess
    import sys

    from vocalpy_xai.errors import ActivationsFormatError, StoreError
    from vocalpy_xai.io import activations as fmt
    from vocalpy_xai.napari import activations as napari_activations
    from vocalpy_xai.protonet import activations as protonet_activations

    assert napari_activations.open_activations is fmt.open_activations
    assert protonet_activations.open_activations is fmt.open_activations
    assert protonet_activations.KIND == napari_activations.ACTIVATIONS_KIND == fmt.KIND
    code = (
        "import sys, vocalpy_xai.io.activations, vocalpy_xai.napari.activations; "
        "print(sorted(m for m in ('torch', 'cabrnet') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    bad = tmp_path / "other.zarr"
    xr.Dataset({"a": ("x", np.arange(3))}, attrs={"kind": "other"}).to_zarr(
        bad, zarr_format=3, consolidated=False
    )
    with pytest.raises(ActivationsFormatError, match="not a vocalpy-xai activation dataset") as e:
        open_activations(bad)
    assert isinstance(e.value, StoreError)  # what the plugin's panels catch
