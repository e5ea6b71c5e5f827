"""Annotations: crowsetta's registry for reading, seq formats for writing, checks on real songs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from vocalpy_xai.errors import AnnotationError, FormatError
from vocalpy_xai.io import (
    WRITABLE_SEQ_FORMATS,
    SegmentTable,
    annotation_formats,
    read_annotations,
    write_annotations,
)


@pytest.fixture(scope="module")
def bird0_annots(example_bird0):
    return read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")


def test_registry_is_crowsettas(bird0_annots):
    import crowsetta

    assert annotation_formats() == crowsetta.formats.as_list()
    assert len(bird0_annots) == 20
    seg = SegmentTable.from_annotation(bird0_annots[0])
    assert len(seg) == 29 and set(seg.labels) <= set("012345678")
    assert np.all(np.diff(seg.onsets_s) > 0)


def test_unknown_format_lists_the_valid_ones(example_bird0):
    with pytest.raises(FormatError, match="unknown annotation format 'birdsong'.*generic-seq"):
        read_annotations(example_bird0 / "Annotation.xml", "birdsong")


def test_unparseable_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("this,is\nnot,an annotation\n")
    with pytest.raises(AnnotationError, match=r"bad\.csv: cannot read as 'simple-seq'"):
        read_annotations(bad, "simple-seq")


@pytest.mark.parametrize("fmt", WRITABLE_SEQ_FORMATS)
def test_write_then_read_every_writable_seq_format(fmt, bird0_annots, tmp_path):
    annot = bird0_annots[3]
    name = {"notmat": "3.wav.not.mat", "timit": "3.phn", "aud-seq": "3.txt"}.get(fmt, "3.csv")
    path = write_annotations(annot, tmp_path / name, fmt, samplerate=32000)
    back = read_annotations(path, fmt, samplerate=32000)
    assert len(back) == 1
    want, got = SegmentTable.from_annotation(annot), SegmentTable.from_annotation(back[0], 32000)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.onsets_s, want.onsets_s, atol=1e-3)
    np.testing.assert_allclose(got.offsets_s, want.offsets_s, atol=1e-3)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_annotations(annot, path, fmt, samplerate=32000)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_simple_seq_is_crowsettas_file_byte_for_byte(bird0_annots, tmp_path):
    """write_annotations skips crowsetta's pandera check of a clean table (issue 16): the
    file is the one crowsetta writes with its check on, byte for byte, for every Bird0
    song; a table the check would refuse (NaN times) is still refused."""
    import crowsetta

    for i, annot in enumerate(bird0_annots):
        seg = SegmentTable.from_annotation(annot)
        ours = write_annotations(annot, tmp_path / f"{i}.csv", "simple-seq")
        theirs = tmp_path / f"{i}-crowsetta.csv"
        crowsetta.formats.seq.SimpleSeq(
            onsets_s=seg.onsets_s,
            offsets_s=seg.offsets_s,
            labels=seg.labels,
            annot_path=theirs,
        ).to_file(theirs)  # pandera validation on (the global default)
        assert ours.read_bytes() == theirs.read_bytes()
    seg = SegmentTable.from_annotation(bird0_annots[0])
    broken = SegmentTable(
        np.where(seg.onsets_s > 1, np.nan, seg.onsets_s), seg.offsets_s, seg.labels
    )
    with pytest.raises(ValueError, match="invalid dataframe"):
        write_annotations(broken.to_annotation("x.wav"), tmp_path / "nan.csv", "simple-seq")
    assert not (tmp_path / "nan.csv").exists()


def test_generic_seq_holds_many_files(bird0_annots, tmp_path):
    path = write_annotations(bird0_annots, tmp_path / "all.csv", "generic-seq")
    back = read_annotations(path, "generic-seq")
    assert [len(SegmentTable.from_annotation(a)) for a in back] == [
        len(SegmentTable.from_annotation(a)) for a in bird0_annots
    ]


def test_formats_crowsetta_cannot_write_are_named(bird0_annots, tmp_path):
    with pytest.raises(FormatError, match="cannot write format 'textgrid'.*simple-seq"):
        write_annotations(bird0_annots[0], tmp_path / "x.TextGrid", "textgrid")


def test_raven_and_textgrid_files_read_through_the_registry(bird0_annots, tmp_path):
    """Two formats crowsetta reads but cannot write: files made from a real Bird0 annotation."""
    seg = SegmentTable.from_annotation(bird0_annots[0])
    raven = tmp_path / "0.Table.1.selections.txt"
    rows = [
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tAnnotation"
    ]
    rows += [
        f"{i + 1}\tSpectrogram 1\t1\t{a:.6f}\t{b:.6f}\t500.0\t8000.0\t{lab}"
        for i, (a, b, lab) in enumerate(zip(seg.onsets_s, seg.offsets_s, seg.labels, strict=True))
    ]
    raven.write_text("\n".join(rows) + "\n")
    got = SegmentTable.from_annotation(read_annotations(raven, "raven")[0])
    np.testing.assert_array_equal(got.labels, seg.labels)
    np.testing.assert_allclose(got.onsets_s, seg.onsets_s, atol=1e-6)

    end = float(seg.offsets_s[-1]) + 0.5
    intervals, t = [], 0.0
    for a, b, lab in zip(seg.onsets_s, seg.offsets_s, seg.labels, strict=True):
        if a > t:
            intervals.append((t, a, ""))
        intervals.append((a, b, lab))
        t = b
    intervals.append((t, end, ""))
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {end}",
        "tiers? <exists>",
        "size = 1",
        "item []:",
        "    item [1]:",
        '        class = "IntervalTier"',
        '        name = "syllables"',
        "        xmin = 0",
        f"        xmax = {end}",
        f"        intervals: size = {len(intervals)}",
    ]
    for i, (a, b, lab) in enumerate(intervals, 1):
        lines += [
            f"        intervals [{i}]:",
            f"            xmin = {a}",
            f"            xmax = {b}",
            f'            text = "{lab}"',
        ]
    grid = tmp_path / "0.TextGrid"
    grid.write_text("\n".join(lines) + "\n")
    annot = read_annotations(grid, "textgrid")[0]
    assert annot is not None


def _table(on, off, labels):
    return SegmentTable(np.array(on, float), np.array(off, float), np.array(labels))


def test_validation_names_file_and_problem(bird0_annots, example_bird0):
    path = example_bird0 / "Annotation.xml"
    real = SegmentTable.from_annotation(bird0_annots[0])
    duration = soundfile.info(example_bird0 / "Wave" / "0.wav").duration
    real.validate(path, duration, labelset=list("012345678"))  # the real one is fine

    with pytest.raises(
        AnnotationError,
        match=r"Annotation\.xml: annotation overlaps itself: "
        r"segment 0 \('a', 0\.1000-0\.3000 s\) and segment 1",
    ):
        _table([0.1, 0.2], [0.3, 0.4], ["a", "b"]).validate(path, duration)
    _table([0.1, 0.3], [0.3, 0.4], ["a", "b"]).validate(path, duration)  # touching is fine
    with pytest.raises(AnnotationError, match="runs past the end of its audio: offset"):
        _table([0.1], [duration + 0.5], ["a"]).validate(path, duration)
    with pytest.raises(AnnotationError, match=r"unknown label\(s\) \['x'\]"):
        _table([0.1], [0.2], ["x"]).validate(path, duration, labelset=["a"])
    with pytest.raises(AnnotationError, match="offset 0.1000 s <= onset 0.2000 s"):
        _table([0.2], [0.1], ["a"]).validate(path, duration)
