"""The spectrogram view on a real canvas (Xvfb): time-only zoom keeps every frequency and the
labels on screen, rulers and a status bar in s / kHz / dB; the docs screenshot of a song at 1 s."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.rulers import rulers_layer
from vocalpy_xai.napari.segments_layer import plugin_meta
from vocalpy_xai.napari.view import (
    BAND_SHARE,
    camera_of,
    canvas_size,
    fit_frequency,
    show_time_range,
    status_text,
)
from vocalpy_xai.napari.viewer import refresh_windows, visible_time_range

REPO = pathlib.Path(__file__).resolve().parents[1]


def visible_world(viewer) -> tuple[tuple[float, float], tuple[float, float]]:
    """((y0, y1), (t0, t1)): the world rectangle the canvas shows."""
    camera = camera_of(viewer)
    height, width = canvas_size(viewer)
    cy, ct = camera.center[-2], camera.center[-1]
    hy, ht = height / camera.zoom / 2, width / camera.zoom / 2
    return (cy - hy, cy + hy), (ct - ht, ct + ht)


def yellow_rows(image: np.ndarray) -> np.ndarray:
    """Rows of a screenshot holding the annotation's edge colour (#ffd000 at the layer's
    opacity: about (186, 152, 0))."""
    r, g, b = (image[..., i].astype(int) for i in range(3))
    close = (r > 140) & (g > 110) & (b < 40) & (r - g > 15) & (r - g < 60)
    return np.flatnonzero(close.sum(axis=1) >= 4)


def shown_song(make_napari_viewer, qtbot, song, width: int, t0: float, t1: float):
    """A shown viewer ``width`` pixels wide with ``song`` open at ``t0``-``t1`` s, its
    segments swapped in; returns the viewer and its spectrogram and annotation layers."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(width, 800)
    qtbot.waitUntil(lambda: canvas_size(viewer)[1] > width - 500)
    qtbot.wait(300)  # let the window settle
    image, shapes = open_recording(viewer, song)
    show_time_range(viewer, t0, t1)
    qtbot.waitUntil(lambda: plugin_meta(shapes).get("view") == visible_time_range(viewer))
    return viewer, image, shapes


def test_half_second_zoom_keeps_whole_band_and_labels(make_napari_viewer, qtbot, song0):
    song = song0
    seq = read_annotations(song.with_suffix(".csv"), "simple-seq")[0].seq
    t0 = float(seq.onsets_s[5]) - 0.1
    viewer, image, shapes = shown_song(make_napari_viewer, qtbot, song, 1280, t0, t0 + 0.5)

    # camera: exactly 0.5 s across, and the spectrogram's whole band (0-16 kHz) inside the
    # canvas's vertical range, filling BAND_SHARE of it
    (y0, y1), (v0, v1) = visible_world(viewer)
    assert v1 - v0 == pytest.approx(0.5, rel=0.01)  # the canvas may settle by a few pixels
    lo, hi = image.extent.world[:, -2]
    assert y0 < lo and hi < y1
    assert image.extent.world[1, -2] * 5000 / fit_frequency(viewer).factor >= 15_990
    assert (hi - lo) / (y1 - y0) == pytest.approx(BAND_SHARE, rel=0.02)
    # the segments of the view are shapes, with their labels shown, spanning the band
    on, off = shapes.features["onset_s"].to_numpy(), shapes.features["offset_s"].to_numpy()
    labels = shapes.features["label"].to_numpy()
    in_view = (off > v0) & (on < v1)
    assert in_view.sum() >= 2 and shapes.text.visible
    sy0, sy1 = shapes.extent.world[:, -2]
    assert y0 <= sy0 and sy1 <= y1

    # screenshot: the annotation's full-band rectangles reach from near the bottom to near
    # the top of the canvas (at the old fixed scale they ran off it above and below)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rows = yellow_rows(shot)
    height = shot.shape[0]
    assert rows.size and (rows.max() - rows.min()) / height > BAND_SHARE - 0.05
    assert rows.min() > 0 and rows.max() < height - 1

    # rulers: time labels in s across the view, frequency labels in kHz up to 16
    refresh_windows(viewer, force=True)
    ticks = [t for t in rulers_layer(viewer).features["tick"] if t]
    assert sum(t.endswith(" s") for t in ticks) >= 4
    assert "16 kHz" in ticks and "0 kHz" in ticks

    # status bar: seconds, kHz, dB of the spectrogram and the label under the cursor
    k = int(np.flatnonzero(in_view)[0])
    t = float((on[k] + off[k]) / 2)
    y = float(np.mean(image.extent.world[:, -2]))
    text = status_text(viewer, (y, t))
    assert f"t = {t:.3f} s" in text and "kHz" in text and text.count("dB") == 1
    assert f"label {labels[k]} ({on[k]:.3f}-{off[k]:.3f} s)" in text
    status = shapes.get_status((y, t), world=True)
    assert "kHz" in status["coordinates"] and "dB" in status["coordinates"]


def test_time_only_zoom_and_pan(make_napari_viewer, qtbot, song0):
    song = song0
    viewer = make_napari_viewer()
    image, shapes = open_recording(viewer, song)
    camera = camera_of(viewer)
    for width_s in (4.0, 1.0, 0.25):
        show_time_range(viewer, 1.0, 1.0 + width_s)
        (y0, y1), _ = visible_world(viewer)
        lo, hi = image.extent.world[:, -2]
        assert y0 < lo and hi < y1 and (hi - lo) / (y1 - y0) > BAND_SHARE - 0.01
    # a vertical pan snaps back: the band stays centred; a horizontal one moves in time
    centre = camera.center
    camera.center = (centre[-2] + 10.0, centre[-1] + 0.1)
    assert camera.center[-2] == pytest.approx(centre[-2])
    assert camera.center[-1] == pytest.approx(centre[-1] + 0.1)


def test_song_at_one_second_screenshot(make_napari_viewer, qtbot, song0):
    song = song0
    """The docs screenshot (written with VOCALPY_XAI_WRITE_SCREENSHOT=1)."""
    viewer, image, shapes = shown_song(make_napari_viewer, qtbot, song, 1400, 2.0, 3.0)
    refresh_windows(viewer, force=True)
    view = visible_time_range(viewer)
    assert view == pytest.approx((2.0, 3.0), abs=0.02)
    ticks = [t for t in rulers_layer(viewer).features["tick"] if t.endswith(" s")]
    assert ticks[0] == "2.0 s" and float(ticks[-1][:-2]) >= 2.8
    shot = viewer.screenshot(canvas_only=False, flash=False)
    assert shot[..., :3].std() > 10
    if os.environ.get("VOCALPY_XAI_WRITE_SCREENSHOT"):
        from PIL import Image

        Image.fromarray(shot).save(REPO / "docs" / "images" / "napari_song_1s.png")
