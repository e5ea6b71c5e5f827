"""napari plugin on a real canvas (Xvfb): open a Bird0 song, edit, save, re-read with crowsetta."""

from __future__ import annotations

import crowsetta
import numpy as np
import pytest
from qtpy.QtCore import Qt

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.annotation_files import autosave_path
from vocalpy_xai.napari.editor import editor_of
from vocalpy_xai.napari.segments_layer import plugin_meta
from vocalpy_xai.napari.writer import save_annotation


@pytest.fixture
def song(song0):
    """Bird0 song 0 and its annotation as a simple-seq csv beside it (a private copy)."""
    return song0


def _layers(viewer):
    image = next(lay for lay in viewer.layers if plugin_meta(lay).get("role") == "spectrogram")
    shapes = next(lay for lay in viewer.layers if plugin_meta(lay).get("role") == "annotation")
    return image, shapes


def test_open_edit_save_reread(make_napari_viewer, qtbot, song):
    viewer = make_napari_viewer()
    open_recording(viewer, song)
    image, shapes = _layers(viewer)
    original = read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq
    assert len(shapes.data) == len(original.labels)
    assert plugin_meta(shapes)["source"] == "annotation"
    # world frame: time (s) along x, the spectrogram spans the recording
    assert image.extent.world[1][1] == pytest.approx(7.659, abs=0.01)
    assert viewer.scene.camera.orientation2d[0] == "up"

    # 1. move the offset of segment 3 by +12 ms, through the layer's data (a drag emits the same)
    i = 3
    data = [d.copy() for d in shapes.data]
    t1 = float(original.offsets_s[i])
    data[i][np.isclose(data[i][:, 1], t1, atol=1e-5), 1] = t1 + 0.012
    shapes.data = data
    shapes.events.data(value=shapes.data, action="changed", data_indices=(i,), vertex_indices=((),))
    # 2. relabel segment 5 with the keyboard: select it, press a label key on the canvas
    j = 5
    new_label = next(lab for lab in map(str, range(9)) if lab != original.labels[j])
    viewer.layers.selection.active = shapes
    shapes.mode = "select"
    shapes.selected_data = {j}
    canvas = viewer.window._qt_viewer.canvas.native
    canvas.setFocus()
    qtbot.keyClick(canvas, getattr(Qt, f"Key_{new_label}"))
    assert shapes.features["label"][j] == new_label
    assert autosave_path(song).exists()  # every edit autosaved

    path = save_annotation(shapes)
    assert path.name == "0.v2.csv"  # a new version; the original is untouched
    assert read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq.labels.tolist() == (
        original.labels.tolist()
    )
    seq = crowsetta.formats.seq.SimpleSeq.from_file(path).to_annot().seq
    expected_off = np.array(original.offsets_s, float)
    expected_off[i] = t1 + 0.012
    expected_labels = np.array(original.labels).astype(str)
    expected_labels[j] = new_label
    np.testing.assert_array_equal(seq.onsets_s, original.onsets_s)  # exactly unchanged
    changed = np.flatnonzero(seq.offsets_s != original.offsets_s)
    assert changed.tolist() == [i]
    assert seq.offsets_s[i] == pytest.approx(t1 + 0.012, abs=1e-6)
    np.testing.assert_array_equal(np.delete(seq.offsets_s, i), np.delete(expected_off, i))
    assert np.flatnonzero(np.asarray(seq.labels) != original.labels).tolist() == [j]
    assert np.asarray(seq.labels).astype(str).tolist() == expected_labels.tolist()
    with pytest.raises(FileExistsError):  # never replaces a file without an explicit choice
        save_annotation(shapes, song.with_suffix(".csv"))


def test_add_delete_undo_redo(make_napari_viewer, song):
    viewer = make_napari_viewer()
    open_recording(viewer, song)
    _, shapes = _layers(viewer)
    editor = editor_of(shapes)
    n = len(shapes.data)
    before = editor.segments()
    editor.delete({0})
    assert len(shapes.data) == n - 1
    editor.add_segment(7.3, 7.4, "8")
    assert len(shapes.data) == n
    assert editor.segments().labels[-1] == "8"
    editor.undo()
    editor.undo()
    after = editor.segments()
    np.testing.assert_array_equal(after.onsets_s, before.onsets_s)
    np.testing.assert_array_equal(after.labels, before.labels)
    editor.redo()
    assert len(shapes.data) == n - 1
    # a rectangle drawn with napari's tool gets the current default label and its times
    rect = np.array([[0.1, 7.45], [0.5, 7.45], [0.5, 7.55], [0.1, 7.55]])
    shapes.add_rectangles([rect])
    seg = editor.segments()
    assert seg.onsets_s[-1] == pytest.approx(7.45, abs=1e-6)
    assert len(seg) == n
