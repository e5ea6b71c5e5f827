"""A long recording (real Bird0 songs concatenated): the annotation layer holds only the
segments near the view, yet every edit, undo and save covers all segments, exactly."""

from __future__ import annotations

import crowsetta
import numpy as np
import pytest
import soundfile

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.editor import editor_of
from vocalpy_xai.napari.segments_layer import MAX_SHOWN, plugin_meta, segments_from_layer
from vocalpy_xai.napari.viewer import visible_time_range
from vocalpy_xai.napari.writer import napari_write_annotation, save_annotation


@pytest.fixture
def long_song(tmp_path, example_bird0):
    """The bundled Bird0 songs one after another (about 2.5 min), annotated in a csv beside."""
    annots = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")
    pieces, on, off, labels, t, sr = [], [], [], [], 0.0, None
    for annot in annots:
        data, sr = soundfile.read(str(annot.notated_path), dtype="int16")
        pieces.append(data)
        on += list(np.asarray(annot.seq.onsets_s) + t)
        off += list(np.asarray(annot.seq.offsets_s) + t)
        labels += list(np.asarray(annot.seq.labels).astype(str))
        t += len(data) / sr
    wav = tmp_path / "long.wav"
    soundfile.write(str(wav), np.concatenate(pieces), sr)
    seq = crowsetta.Sequence.from_keyword(
        onsets_s=np.array(on), offsets_s=np.array(off), labels=np.array(labels)
    )
    annot = crowsetta.Annotation(annot_path=tmp_path / "long.csv", notated_path=wav, seq=seq)
    write_annotations(annot, tmp_path / "long.csv", "simple-seq")
    return wav


def _view(viewer, qtbot, shapes, centre_s: float, width_s: float = 5.0) -> tuple[float, float]:
    """Move the camera to a ``width_s`` window at ``centre_s``; wait for the segment swap."""
    camera = viewer.scene.camera
    y0, y1 = plugin_meta(shapes)["freq_span"]
    camera.zoom = viewer.canvas.size[1] / width_s
    camera.center = ((y0 + y1) / 2, centre_s)
    view = visible_time_range(viewer)
    qtbot.waitUntil(lambda: plugin_meta(shapes).get("view") == view, timeout=5000)
    return view


def test_long_recording_shows_view_saves_all(make_napari_viewer, qtbot, long_song):
    original = read_annotations(long_song.with_suffix(".csv"), "simple-seq")[0].seq
    n = len(original.onsets_s)
    assert n > MAX_SHOWN  # long enough for the layer to hold only part of it
    viewer = make_napari_viewer()
    _, shapes = open_recording(viewer, long_song)
    editor = editor_of(shapes)
    assert len(shapes.data) <= MAX_SHOWN
    seg = segments_from_layer(shapes)
    np.testing.assert_array_equal(seg.onsets_s, original.onsets_s)
    np.testing.assert_array_equal(seg.offsets_s, original.offsets_s)
    assert seg.labels.tolist() == np.asarray(original.labels).astype(str).tolist()

    # zoomed in: the shapes are the segments in and around the view, and all of those
    v0, v1 = _view(viewer, qtbot, shapes, 60.0)
    width = v1 - v0
    on = shapes.features["onset_s"].to_numpy(float)
    off = shapes.features["offset_s"].to_numpy(float)
    assert 0 < len(on) < 100
    assert ((off >= v0 - width) & (on <= v1 + width)).all()
    near = (original.offsets_s >= v0) & (original.onsets_s <= v1)
    assert set(np.asarray(original.onsets_s)[near]) <= set(on)

    # edits on shown shapes: relabel one, move another's offset (as a drag does), delete one
    i, j, k = 1, 3, 5
    t_i, t_j, t_k = on[i], on[j], on[k]
    editor.set_label("8", [i])
    data = [d.copy() for d in shapes.data]
    t1 = float(off[j])
    data[j][np.isclose(data[j][:, 1], t1, atol=1e-5), 1] = t1 + 0.012
    shapes.data = data
    shapes.events.data(value=shapes.data, action="changed", data_indices=(j,), vertex_indices=((),))
    editor.delete({k})
    assert len(editor.segments()) == n - 1

    # far away: the edited segments are hidden now, and kept
    _view(viewer, qtbot, shapes, 130.0)
    assert t_i not in set(shapes.features["onset_s"])
    seg = editor.segments()
    assert len(seg) == n - 1

    expected_on = np.asarray(original.onsets_s, float)
    expected_off = np.asarray(original.offsets_s, float).copy()
    expected_labels = np.asarray(original.labels).astype(str).copy()
    ii, jj, kk = (int(np.flatnonzero(expected_on == t)[0]) for t in (t_i, t_j, t_k))
    expected_labels[ii] = "8"
    keep = np.arange(n) != kk
    for path in (save_annotation(shapes), long_song.with_name("long.npe2.csv")):
        if path.name.endswith("npe2.csv"):  # File > Save Selected Layer (npe2 writer)
            napari_write_annotation(str(path), shapes.data, shapes._get_state())
        saved = crowsetta.formats.seq.SimpleSeq.from_file(path).to_annot().seq
        assert len(saved.onsets_s) == n - 1
        np.testing.assert_array_equal(saved.onsets_s, expected_on[keep])  # exactly unchanged
        assert np.flatnonzero(saved.offsets_s != expected_off[keep]).tolist() == [jj - (jj > kk)]
        assert saved.offsets_s[jj - (jj > kk)] == pytest.approx(t1 + 0.012, abs=1e-6)
        assert np.asarray(saved.labels).astype(str).tolist() == expected_labels[keep].tolist()

    # undo all three edits: every segment as read, exactly
    for _ in range(3):
        assert editor.undo()
    seg = editor.segments()
    np.testing.assert_array_equal(seg.onsets_s, original.onsets_s)
    np.testing.assert_array_equal(seg.offsets_s, original.offsets_s)
    assert seg.labels.tolist() == np.asarray(original.labels).astype(str).tolist()
    assert len(shapes.data) < 100  # undo restores into the current view's window


def test_long_recording_overview_and_crowded_labels(make_napari_viewer, qtbot, long_song):
    """A long recording gets an overview dock (click to go there); zoomed all the way out its
    labels hide instead of overlapping, and come back zoomed in."""
    from qtpy.QtCore import QPoint, Qt

    from vocalpy_xai.napari.view import show_time_range
    from vocalpy_xai.napari.viewer import refresh_windows
    from vocalpy_xai.napari.widgets.overview import OverviewWidget

    viewer = make_napari_viewer(show=True)
    image, shapes = open_recording(viewer, long_song)
    overview = next(w for w in viewer.window.dock_widgets.values() if isinstance(w, OverviewWidget))
    duration = plugin_meta(image)["duration_s"]
    assert overview.layer is image and overview.span[1] == pytest.approx(duration, abs=0.01)
    assert overview.pixmap is not None and overview.pixmap.width() > 100

    # zoomed out on all of it: too crowded for labels
    refresh_windows(viewer, force=True)
    assert not shapes.text.visible
    # a click at three quarters of the strip centres the view there
    show_time_range(viewer, 10.0, 15.0)
    qtbot.waitUntil(lambda: overview.strip.width() > 50)
    x = int(overview.strip.width() * 0.75)
    qtbot.mouseClick(overview.strip, Qt.MouseButton.LeftButton, pos=QPoint(x, 10))
    centre = viewer.scene.camera.center[-1]
    assert centre == pytest.approx(overview.strip.t_of(x), abs=1e-6)
    assert centre == pytest.approx(0.75 * duration, rel=0.02)
    view = visible_time_range(viewer)
    assert view[1] - view[0] == pytest.approx(5.0, rel=0.05)  # the zoom is kept
    refresh_windows(viewer, force=True)
    assert shapes.text.visible
