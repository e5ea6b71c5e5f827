"""A crash after an edit loses nothing: the autosave sidecar restores it on reopening."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import crowsetta
import numpy as np
import pytest

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.annotation_files import autosave_path
from vocalpy_xai.napari.segments_layer import plugin_meta, segments_from_layer

CHILD = textwrap.dedent(
    """
    import sys, time
    import napari
    from vocalpy_xai.napari import open_recording
    from vocalpy_xai.napari.editor import editor_of

    viewer = napari.Viewer(show=False)
    image, shapes = open_recording(viewer, sys.argv[1])
    editor = editor_of(shapes)
    seg = editor.segments()
    editor.set_times(2, float(seg.onsets_s[2]) - 0.008, float(seg.offsets_s[2]))
    editor.set_label("8", [4])
    print("EDITED", flush=True)
    time.sleep(600)  # killed before it ends: no save, no clean exit
    """
)


@pytest.fixture
def song(tmp_path, example_bird0):
    wav = tmp_path / "1.wav"
    shutil.copy(example_bird0 / "Wave" / "1.wav", wav)
    annot = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")[1]
    annot = crowsetta.Annotation(annot_path=tmp_path / "1.csv", notated_path=wav, seq=annot.seq)
    write_annotations(annot, tmp_path / "1.csv", "simple-seq")
    return wav


def test_sigkill_after_edit_restores_from_autosave(make_napari_viewer, song, tmp_path):
    original = read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "xcb")}
    child = subprocess.Popen(
        [sys.executable, str(script), str(song)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 80
        line = ""
        while time.monotonic() < deadline and "EDITED" not in line:
            line = child.stdout.readline()
            if not line and child.poll() is not None:
                break
        assert "EDITED" in line, "the child never made its edit"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert autosave_path(song).exists()
    # the original annotation is untouched
    assert read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq.labels.tolist() == (
        original.labels.tolist()
    )

    viewer = make_napari_viewer()
    _, shapes = open_recording(viewer, song)
    assert plugin_meta(shapes)["source"] == "autosave"
    seg = segments_from_layer(shapes)
    assert seg.onsets_s[2] == pytest.approx(original.onsets_s[2] - 0.008, abs=1e-9)
    assert seg.labels[4] == "8"
    np.testing.assert_array_equal(np.delete(seg.onsets_s, 2), np.delete(original.onsets_s, 2))
    np.testing.assert_array_equal(seg.offsets_s, original.offsets_s)
    assert [
        i for i, (a, b) in enumerate(zip(seg.labels, original.labels, strict=True)) if a != b
    ] == ([4] if original.labels[4] != "8" else [])
