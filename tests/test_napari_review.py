"""A review list from the disagreement finder, opened in the napari Disagreements panel."""

from __future__ import annotations

import shutil

import crowsetta
import numpy as np
import pytest

pytest.importorskip("napari")

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.napari import open_recording
from vocalpy_xai.napari.disagreement import same_file

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
