"""A review list from the disagreement finder, opened in the napari Disagreements panel."""

from __future__ import annotations

import os
import pathlib
import shutil

import crowsetta
import numpy as np
import pytest

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.disagreement import same_file
from vocalpy_xai.napari.segments_layer import plugin_meta

REPO = pathlib.Path(__file__).resolve().parents[1]

SONGS = (12, 13, 14, 15)


@pytest.fixture(scope="module")
def review_list(tmp_path_factory, example_bird0):
    """Four Bird0 songs (audio + simple-seq csv) in tmp, a store of them, an ESN trained on
    three, and the finder's review list of all four, written as CSV."""
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.models import ESNDecoder, ESNParams
    from vocalpy_xai.review import find_disagreements, predictions_of, write_review_list
    from vocalpy_xai.store import SpectrogramParams, build_store, open_store

    tmp_path = tmp_path_factory.mktemp("review")
    annots = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")
    wavs, csvs = [], []
    for i in SONGS:
        wav = tmp_path / f"{i}.wav"
        shutil.copy(example_bird0 / "Wave" / f"{i}.wav", wav)
        annot = crowsetta.Annotation(
            annot_path=tmp_path / f"{i}.csv", notated_path=wav, seq=annots[i].seq
        )
        write_annotations(annot, tmp_path / f"{i}.csv", "simple-seq")
        wavs.append(wav)
        csvs.append(tmp_path / f"{i}.csv")
    store = tmp_path / "four.zarr"
    build_store(
        Manifest.from_pairs(wavs, csvs, "simple-seq"),
        store,
        SpectrogramParams(samplerate=32000),
        progress=False,
    )
    ds = open_store(store)
    model = ESNDecoder(ESNParams(units=100, seed=0)).fit(ds, [0, 1, 2], progress=False)
    review = find_disagreements(ds, predictions_of([model], ds, range(len(SONGS))))
    return write_review_list(review, tmp_path / "review.csv"), tmp_path / "15.wav"


def test_load_review_list(make_napari_viewer, review_list):
    from vocalpy_xai.napari.widgets.disagreements import REVIEW_COLUMNS, load_review_list
    from vocalpy_xai.review import read_review_list

    csv, wav = review_list
    table = read_review_list(csv)
    assert table["audio_path"].nunique() == len(SONGS)
    expected = table[[same_file(p, wav) for p in table["audio_path"]]].sort_values("rank")
    assert 5 < len(expected) < len(table)

    viewer = make_napari_viewer()
    open_recording(viewer, wav)
    widget = load_review_list(viewer, csv)
    assert widget.review_path == csv
    assert "Disagreements" in viewer.window.dock_widgets
    assert load_review_list(viewer, csv) is widget  # the docked panel is reused

    # the table is exactly the list's rows for 15.wav, in rank order
    header = [widget.table.horizontalHeaderItem(c).text() for c in range(len(REVIEW_COLUMNS))]
    assert header == list(REVIEW_COLUMNS)
    assert widget.table.rowCount() == len(expected)
    cells = [
        [widget.table.item(r, c).text() for c in range(len(REVIEW_COLUMNS))]
        for r in range(widget.table.rowCount())
    ]
    want = [
        [
            str(int(row.rank)),
            f"{row.onset_s:.3f}",
            f"{row.offset_s:.3f}",
            row.human_label,
            row.model_label,
            f"{row.score:.3f}",
        ]
        for row in expected.itertuples()
    ]
    assert cells == want
    assert widget.ranking["rank"].tolist() == expected["rank"].tolist()
    np.testing.assert_allclose(widget.ranking["onset_s"], expected["onset_s"])

    # choosing a row centres the view on that segment and selects its shape
    annotation = viewer.layers["15 annotation"]
    for r in (len(expected) - 1, 0):
        row = expected.iloc[r]
        widget.table.selectRow(r)
        centre = viewer.scene.camera.center[-1]
        assert centre == pytest.approx((row.onset_s + row.offset_s) / 2, abs=1e-5)
        (shape,) = annotation.selected_data
        assert annotation.features["onset_s"][shape] == pytest.approx(row.onset_s, abs=1e-5)
        assert annotation.features["label"][shape] == row.human_label

    # a new layer does not replace the review list by the computed disagreements
    viewer.add_points([[0, 0]])
    assert widget.table.rowCount() == len(expected) and widget.review_path == csv


def test_review_list_without_rows_for_the_recording(make_napari_viewer, review_list, tmp_path):
    from vocalpy_xai.napari.widgets.disagreements import load_review_list
    from vocalpy_xai.review import read_review_list, write_review_list

    csv, wav = review_list
    table = read_review_list(csv)
    others = table[[not same_file(p, wav) for p in table["audio_path"]]]
    other_csv = write_review_list(others, tmp_path / "others.csv")
    viewer = make_napari_viewer()
    open_recording(viewer, wav)
    widget = load_review_list(viewer, other_csv)
    assert widget.review_path is None and widget.table.rowCount() == 0
    assert "no row is about" in widget.status.text()


def _copy_song(src_dir, dst_dir, stem: str, relabel: bool = False):
    """Copy one song (wav + simple-seq csv) to ``dst_dir``; ``relabel``: change its first
    label (another annotation version)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src_dir / f"{stem}.wav", dst_dir / f"{stem}.wav")
    annot = read_annotations(src_dir / f"{stem}.csv", "simple-seq")[0]
    seq = annot.seq
    if relabel:
        labels = np.asarray(seq.labels).astype(str).copy()
        labels[0] = "zz"
        seq = crowsetta.Sequence.from_keyword(
            onsets_s=seq.onsets_s, offsets_s=seq.offsets_s, labels=labels
        )
    annot = crowsetta.Annotation(
        annot_path=dst_dir / f"{stem}.csv", notated_path=dst_dir / f"{stem}.wav", seq=seq
    )
    write_annotations(annot, dst_dir / f"{stem}.csv", "simple-seq")
    return dst_dir / f"{stem}.wav"


def test_review_list_after_moving_the_data_set(make_napari_viewer, qtbot, review_list, tmp_path):
    """A list copied with its data set finds its rows by relative path, silently; a data set
    moved without its list is matched by file name, with a warning; a list computed on another
    annotation version warns."""
    from vocalpy_xai.napari.widgets.disagreements import load_review_list
    from vocalpy_xai.review import read_review_list

    csv, wav = review_list
    table = read_review_list(csv)
    assert (table["audio_relpath"] == [pathlib.Path(p).name for p in table["audio_path"]]).all()
    assert table["annotation_sha"].str.len().eq(16).all()
    n_rows = int(sum(same_file(p, wav) for p in table["audio_path"]))

    # 1. the whole folder copied elsewhere (the original paths still exist, but are not the
    #    open file): rows found through audio_relpath, no warning
    moved = tmp_path / "copied"
    moved_wav = _copy_song(wav.parent, moved, "15")
    shutil.copy(csv, moved / "review.csv")
    viewer = make_napari_viewer()
    open_recording(viewer, moved_wav)
    widget = load_review_list(viewer, moved / "review.csv")
    assert widget.table.rowCount() == n_rows and widget.warnings == []
    widget.table.selectRow(0)
    assert viewer.layers["review highlight"].visible

    # 2. the data set moved, the list left behind and its paths gone stale: matched by file
    #    name, with a warning naming the file
    stale = table.assign(
        audio_path=[str(tmp_path / "gone" / pathlib.Path(p).name) for p in table["audio_path"]],
        audio_relpath="",
    )
    stale_csv = tmp_path / "elsewhere" / "review.csv"
    stale_csv.parent.mkdir()
    stale.to_csv(stale_csv, index=False)
    widget = load_review_list(viewer, stale_csv)
    assert widget.table.rowCount() == n_rows
    assert len(widget.warnings) == 1 and "by file name" in widget.warnings[0]
    assert "15.wav" in widget.status.text()

    # 3. another annotation version (one label changed): the digest differs, a warning says so
    other = _copy_song(wav.parent, tmp_path / "relabelled", "15", relabel=True)
    viewer2 = make_napari_viewer()
    open_recording(viewer2, other)
    widget2 = load_review_list(viewer2, stale_csv)
    assert widget2.table.rowCount() == n_rows
    assert any("another version of the annotation" in w for w in widget2.warnings)


def test_review_jump_highlights_segment(make_napari_viewer, qtbot, review_list):
    """Choosing a row shows the whole band and the labels, and frames the segment."""
    from vocalpy_xai.napari.view import canvas_size, fit_frequency
    from vocalpy_xai.napari.widgets.disagreements import load_review_list

    csv, wav = review_list
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1400, 900)
    qtbot.waitUntil(lambda: canvas_size(viewer)[1] > 700)
    image, annotation = open_recording(viewer, wav)
    widget = load_review_list(viewer, csv)
    qtbot.wait(300)
    # the table shows every column without horizontal scrolling
    table = widget.table
    header = table.horizontalHeader()
    for c in range(table.columnCount()):
        need = max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
        assert table.columnWidth(c) >= need  # no cell cut short
        assert table.columnViewportPosition(c) + need <= table.viewport().width()
    assert not table.horizontalScrollBar().isVisible()

    row = widget.ranking.iloc[0]
    table.selectRow(0)
    highlight = viewer.layers["review highlight"]
    a, b = plugin_meta(highlight)["times"]
    assert a == pytest.approx(row.onset_s, abs=1e-4) and b == pytest.approx(row.offset_s, abs=1e-4)
    assert f"human {row.human_label} / model {row.model_label}" in highlight.features["note"][0]
    # the highlight spans the whole band; the band and the segment are inside the canvas
    camera = viewer.scene.camera
    height, width = canvas_size(viewer)
    y0 = camera.center[-2] - height / camera.zoom / 2
    y1 = camera.center[-2] + height / camera.zoom / 2
    t0 = camera.center[-1] - width / camera.zoom / 2
    t1 = camera.center[-1] + width / camera.zoom / 2
    lo, hi = image.extent.world[:, -2]
    hy0, hy1 = highlight.extent.world[:, -2]
    assert y0 < hy0 <= lo and hi <= hy1 < y1
    assert t0 < a and b < t1 and (b - a) / (t1 - t0) > 0.1  # the segment, with context
    assert annotation.text.visible and fit_frequency(viewer).band() is not None
    (shape,) = annotation.selected_data
    assert annotation.features["label"][shape] == row.human_label
    shot = viewer.screenshot(canvas_only=False, flash=False)
    if os.environ.get("VOCALPY_XAI_WRITE_SCREENSHOT"):
        from PIL import Image

        Image.fromarray(shot).save(REPO / "docs" / "images" / "napari_review_jump.png")
    # the highlight's magenta edge is on the canvas screenshot
    canvas = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    magenta = (canvas[..., 0] > 180) & (canvas[..., 1] < 90) & (canvas[..., 2] > 150)
    assert magenta.sum() > 200
