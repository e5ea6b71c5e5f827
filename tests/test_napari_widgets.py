"""Dock widgets on a real viewer: train (worker thread), predict, disagreements, save."""

from __future__ import annotations

import os
import shutil
import time

import crowsetta
import pytest

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.segments_layer import plugin_meta


@pytest.fixture
def song(tmp_path, example_bird0):
    wav = tmp_path / "15.wav"
    shutil.copy(example_bird0 / "Wave" / "15.wav", wav)
    annot = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")[15]
    annot = crowsetta.Annotation(annot_path=tmp_path / "15.csv", notated_path=wav, seq=annot.seq)
    write_annotations(annot, tmp_path / "15.csv", "simple-seq")
    return wav


def test_train_predict_disagreements_save(
    make_napari_viewer, qtbot, small_store, song, tmp_path, monkeypatch
):
    from qtpy.QtCore import QTimer

    from vocalpy_xai.napari.widgets import (
        DisagreementWidget,
        PredictWidget,
        SaveWidget,
        TrainWidget,
    )
    from vocalpy_xai.registry import Registry

    registry_root = tmp_path / "registry"
    monkeypatch.setenv("VOCALPY_XAI_REGISTRY", str(registry_root))  # never the user's home
    viewer = make_napari_viewer()
    open_recording(viewer, song)

    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    assert train.registry_root.text() == str(registry_root)
    train.store.setText(str(small_store))
    assert train.name.text() == "esn-bird0-20"
    train.out_dir.setText(str(tmp_path / "models"))  # a plain copy besides the registry's
    train.units.setValue(150)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(50)
    t0 = time.perf_counter()
    worker = train.start()
    assert worker is not None
    qtbot.waitUntil(lambda: train.result is not None or train.error is not None, timeout=120_000)
    timer.stop()
    assert train.error is None, train.error
    result = train.result
    elapsed = time.perf_counter() - t0
    # the event loop kept running during training: the viewer stayed responsive
    gaps = [b - a for a, b in zip(ticks[:-1], ticks[1:], strict=True)]
    assert len(ticks) > 0.3 * elapsed / 0.05 and max(gaps) < 1.5
    assert train.progress.value() == 100
    assert not train.confusion.pixmap().isNull()
    assert result.confusion.shape == (len(result.class_names),) * 2
    assert (result.model_dir / "config.json").exists()
    # registered in the project's model registry as version 1 of esn-bird0-20
    (version,) = Registry(registry_root).list()
    assert (version.name, version.version) == ("esn-bird0-20", 1)
    assert result.registered.version == 1 and result.model_dir.parent == tmp_path / "models"
    assert (version.path / "config.json").read_bytes() == (
        result.model_dir / "config.json"
    ).read_bytes()
    assert version.class_names == result.class_names
    assert version.metrics["syllable_error_rate"] == result.metrics["syllable_error_rate"]
    assert "syllable error rate" in train.status.text()
    assert "esn-bird0-20 version 1" in train.status.text()
    Registry(registry_root).promote("esn-bird0-20", 1, "production")

    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(predict, name="Predict")
    predict.refresh_models()
    items = [predict.registered.itemText(i) for i in range(predict.registered.count())]
    assert items == ["", "esn-bird0-20@1  (production)", "esn-bird0-20@production  (v1)"]
    predict.registered.setCurrentIndex(1)  # the model just registered
    assert predict.source().name == "esn-bird0-20" and predict.source().ref == "1"
    disagreements = DisagreementWidget(viewer)
    disagreements.only_flagged.setChecked(False)
    viewer.window.add_dock_widget(disagreements, name="Disagreements")
    predict.start()
    qtbot.waitUntil(lambda: predict.layer is not None, timeout=60_000)
    assert plugin_meta(predict.layer)["role"] == "predictions"
    assert len(predict.layer.data) > 10
    assert "predicted by esn-bird0-20@1" in predict.status.text()
    assert plugin_meta(predict.layer)["model_dir"] == str(version.path)

    disagreements.refresh()
    ranking = disagreements.ranking
    annotation = viewer.layers["15 annotation"]
    assert disagreements.table.rowCount() == len(ranking) > 0
    assert ranking["share"].is_monotonic_decreasing
    assert ((ranking["share"] >= 2 / 3) == ranking["flagged"]).all()
    disagreements.table.selectRow(0)
    centre = viewer.scene.camera.center[-1]
    assert centre == pytest.approx((ranking.onset_s[0] + ranking.offset_s[0]) / 2, abs=1e-6)
    assert len(annotation.selected_data) == 1

    save = SaveWidget(viewer)
    viewer.layers.selection.active = annotation
    save.format.setCurrentText("aud-seq")
    path = save.save()
    assert path is not None and path.name == "15.v2.txt"
    saved = crowsetta.formats.seq.AudSeq.from_file(path).to_annot().seq
    assert (
        saved.labels.tolist()
        == read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq.labels.tolist()
    )
    save.overwrite.setChecked(True)
    save.format.setCurrentText("notmat")
    assert save.save() is None and "cannot be replaced" in save.status.text()

    # a registered model whose files changed is refused, in the panel (no traceback)
    config = version.path / "config.json"
    os.chmod(config, 0o644)
    config.write_text(config.read_text() + " ")
    old_layer = predict.layer
    predict.registered.setCurrentIndex(2)  # esn-bird0-20@production
    predict.start()
    qtbot.waitUntil(lambda: predict.error is not None, timeout=60_000)
    assert "integrity check failed" in predict.status.text()
    assert "config.json" in predict.status.text()
    assert predict.layer is old_layer
    # a plain model folder still works
    predict.model_dir.setText(str(result.model_dir))
    predict.registered.setCurrentIndex(0)
    assert predict.source().path == str(result.model_dir)
    predict.start()
    qtbot.waitUntil(lambda: predict.layer is not old_layer, timeout=60_000)
    assert f"predicted by {result.model_dir.name}" in predict.status.text()
