"""The spectrogram store on real data: labels vs annotations, lazy windows, splits, metadata."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import soundfile
import xarray as xr

from vocalpy_xai.errors import ManifestError, StoreError
from vocalpy_xai.io import Manifest, SegmentTable, read_annotations, sha256_file
from vocalpy_xai.store import (
    SpectrogramParams,
    WindowSampler,
    build_store,
    open_store,
    prefix_split,
    split_by_duration,
    split_by_file,
    store_params,
    valid_mask,
)


@pytest.fixture(scope="session")
def bird0_store(tmp_path_factory, bird0_dir):
    """A store of all 135 Bird0 songs (threaded dask scheduler)."""
    path = tmp_path_factory.mktemp("bird0") / "bird0.zarr"
    manifest = Manifest.from_annotation_file(
        bird0_dir / "Annotation.xml", "birdsong-recognition-dataset"
    )
    report = build_store(manifest, path, SpectrogramParams(samplerate=32000), progress=False)
    assert report.stored == 135 and not report.failures
    return path


@pytest.mark.slow
def test_bird0_frame_labels_agree_with_annotation_xml(bird0_store, bird0_dir):
    ds = open_store(bird0_store)
    annots = read_annotations(bird0_dir / "Annotation.xml", "birdsong-recognition-dataset")
    by_name = {a.notated_path.name: SegmentTable.from_annotation(a) for a in annots}
    classes = list(ds["class"].values)
    assert classes == ["background", *"012345678"]
    labels = ds["frame_labels"].values
    n_frames = ds["n_frames"].values
    dt = ds.attrs["frame_duration_s"]
    n_syllables = 0
    for clip, path in enumerate(ds["source_path"].values):
        seg = by_name[path.split("/")[-1]]
        n = n_frames[clip]
        assert np.all(labels[clip, n:] == -1)  # padding is never a class
        for on, off, lab in zip(seg.onsets_s, seg.offsets_s, seg.labels, strict=True):
            first, last = int(np.ceil(on / dt)) + 1, int(np.floor(off / dt)) - 1
            inside = labels[clip, first : last + 1]  # every frame but +-1 at the edges
            assert inside.size > 0 and np.all(inside == classes.index(lab)), (path, on, lab)
            n_syllables += 1
        # frames outside every syllable (with the same +-1 margin) are background
        covered = np.zeros(n, bool)
        for on, off in zip(seg.onsets_s, seg.offsets_s, strict=True):
            covered[max(int(on / dt) - 1, 0) : int(np.ceil(off / dt)) + 2] = True
        assert np.all(labels[clip, :n][~covered] == 0)
    assert n_syllables == 7652
    # the segment table keeps the original syllables, with their labels
    assert ds.sizes["segment"] == 7652
    counts = pd.Series(ds["segment_label"].values.astype(str)).value_counts().to_dict()
    assert counts == {
        "0": 1930,
        "1": 625,
        "2": 756,
        "3": 477,
        "4": 477,
        "5": 1387,
        "6": 872,
        "7": 473,
        "8": 655,
    }


@pytest.mark.slow
def test_bird0_metadata_and_coordinates(bird0_store, bird0_dir):
    ds = open_store(bird0_store)
    assert isinstance(ds["spectrogram"].data, da.Array)  # lazy
    assert ds["spectrogram"].dims == ("clip", "freq", "time")
    assert ds["freq"].values[1] == pytest.approx(32000 / 512)
    assert ds["time"].values[1] == pytest.approx(64 / 32000)
    path0 = bird0_dir / "Wave" / "0.wav"
    assert ds["source_path"].values[0] == str(path0)
    assert ds["audio_sha256"].values[0] == sha256_file(path0)
    assert ds["duration_s"].values.sum() == pytest.approx(1384.7, abs=0.1)
    assert ds["duration_s"].values[0] == pytest.approx(soundfile.info(path0).duration)
    assert store_params(ds) == SpectrogramParams(samplerate=32000)
    mask = valid_mask(ds).values
    spect0 = ds["spectrogram"].isel(clip=0).values
    assert np.isfinite(spect0[:, mask[0]]).all() and np.isnan(spect0[:, ~mask[0]]).all()


@pytest.mark.slow
def test_fixed_bird0_split(bird0_store):
    ds = open_store(bird0_store)
    split = prefix_split(ds["duration_s"].values, 600, range(95, 135))
    dur = ds["duration_s"].values
    n_train = int((split == "train").sum())
    assert dur[:n_train].sum() >= 600 > dur[: n_train - 1].sum()
    assert list(np.flatnonzero(split == "test")) == list(range(95, 135))


def test_window_sampler_reads_the_right_frames(small_store):
    ds = open_store(small_store)
    sampler = WindowSampler(small_store, window_frames=500, seed=1)
    clips, starts = sampler.draw(64)
    x, y = sampler.read(clips, starts)
    assert x.shape == (64, ds.sizes["freq"], 500) and y.shape == (64, 500)
    assert np.isfinite(x).all() and (y >= 0).all()  # never into padding
    for i in (0, 17, 63):
        want = ds["spectrogram"].isel(clip=clips[i], time=slice(starts[i], starts[i] + 500))
        np.testing.assert_array_equal(x[i], want.values)
        np.testing.assert_array_equal(
            y[i], ds["frame_labels"].isel(clip=clips[i], time=slice(starts[i], starts[i] + 500))
        )
    # the concurrent batch read (default) and the thread-pool read agree
    x2, y2 = WindowSampler(small_store, window_frames=500, seed=1, workers=2).read(clips, starts)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    # same seed, same windows; a split restricts the clips drawn
    again = WindowSampler(small_store, window_frames=500, seed=1).draw(64)
    np.testing.assert_array_equal(again[0], clips)
    only = WindowSampler(small_store, window_frames=500, clips=[2, 5], seed=0).draw(100)[0]
    assert set(only) <= {2, 5}


def test_splits_are_reproducible_and_by_file(small_store):
    dur = open_store(small_store)["duration_s"].values
    a = split_by_file(len(dur), (0.6, 0.2, 0.2), seed=3)
    assert (a == split_by_file(len(dur), (0.6, 0.2, 0.2), seed=3)).all()
    assert (a != split_by_file(len(dur), (0.6, 0.2, 0.2), seed=4)).any()
    assert sorted(pd.Series(a).value_counts().to_dict().items()) == [
        ("test", 4),
        ("train", 12),
        ("val", 4),
    ]
    b = split_by_duration(dur, val_dur=15, test_dur=30, seed=0)
    assert dur[b == "test"].sum() >= 30 and dur[b == "val"].sum() >= 15
    assert set(b) == {"train", "val", "test"}
    assert (b == split_by_duration(dur, val_dur=15, test_dur=30, seed=0)).all()
    with pytest.raises(ValueError, match="need"):
        split_by_duration(dur, test_dur=1e6)


def test_xeno_canto_store_resamples_downmixes_and_keeps_clip_labels(tmp_path, example_xc10):
    manifest = Manifest.from_label_table(
        example_xc10 / "labels.csv", audio_column="mp3_file", label_column="common_name"
    )
    manifest = manifest.subset(range(0, 100, 7))  # 15 clips, both rates, mono and stereo
    report = build_store(
        manifest,
        tmp_path / "xc.zarr",
        SpectrogramParams(samplerate=48000, n_fft=1024, hop_length=480),
        progress=False,
    )
    ds = open_store(report.path)
    table = manifest.table
    assert list(ds["label"].values) == list(table["label"])
    assert list(ds["resampled"].values) == list(table["orig_sr"].astype(int) != 48000)
    assert list(ds["downmixed"].values) == list(table["orig_channels"].astype(int) == 2)
    np.testing.assert_allclose(
        ds["duration_s"].values, table["duration_s"].astype(float), atol=0.05
    )
    names = list(ds["clip_class_name"].values)
    assert [names[i] for i in ds["clip_class"].values] == list(table["label"])
    assert list(ds["meta_recordist"].values) == list(table["recordist"])  # attribution kept
    assert "frame_labels" not in ds  # a clip label says nothing about which frames


def test_label_table_naming_missing_files(tmp_path, example_xc10):
    table = pd.read_csv(example_xc10 / "labels.csv").head(5)
    table.loc[1, "mp3_file"] = "mp3/does-not-exist.mp3"
    table.loc[3, "mp3_file"] = "mp3/gone.mp3"
    csv = tmp_path / "labels.csv"
    table.to_csv(csv, index=False)
    with pytest.raises(
        ManifestError,
        match=r"labels\.csv: label table names 2 missing audio "
        r"file\(s\):\n.*does-not-exist\.mp3\n.*gone\.mp3",
    ):
        Manifest.from_label_table(
            csv, audio_column="mp3_file", label_column="common_name", root=example_xc10
        )
    with pytest.raises(ManifestError, match="no column 'species'"):
        Manifest.from_label_table(csv, audio_column="mp3_file", label_column="species")


def test_existing_store_is_never_overwritten_silently(small_store, example_bird0):
    manifest = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    before = xr.open_zarr(small_store).attrs
    with pytest.raises(StoreError, match="already exists; refusing to overwrite"):
        build_store(manifest, small_store, progress=False)
    assert open_store(small_store).attrs == before


def test_opening_a_missing_or_partial_store(tmp_path):
    with pytest.raises(StoreError, match="no spectrogram store here"):
        open_store(tmp_path / "nothing.zarr")
    (tmp_path / "x.zarr.building").mkdir()
    with pytest.raises(StoreError, match="an interrupted build left"):
        open_store(tmp_path / "x.zarr")


def test_manifest_csv_round_trip(tmp_path, example_bird0):
    m = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    path = m.write(tmp_path / "manifest.csv")
    back = Manifest.read(path)
    assert back.audio_paths == m.audio_paths and back.has_annotations


def test_one_clip_reader_reads_the_clip_of_a_selection(small_store):
    """``ds.isel(clip=[5, 2])``: position 0 is store clip 5. The zarr arrays on disk are
    indexed by store clip, so a reader indexing them by position reads clip 0 instead."""
    import zarr

    from vocalpy_xai.models.sources import StoreSource
    from vocalpy_xai.store import ClipReader, clip_segments

    ds = open_store(small_store)
    sub = ds.isel(clip=[5, 2])
    full, part = ClipReader(ds), ClipReader(sub)
    for pos, clip in enumerate((5, 2)):
        assert part.n_frames(pos) == full.n_frames(clip)
        np.testing.assert_array_equal(part.spectrogram(pos), full.spectrogram(clip))
        np.testing.assert_array_equal(part.frame_labels(pos), full.frame_labels(clip))
        np.testing.assert_array_equal(
            clip_segments(sub, pos).labels, clip_segments(ds, clip).labels
        )
        # the training view of a store reads through the same reader
        src = StoreSource(sub)
        np.testing.assert_array_equal(src.spectrogram(pos), full.spectrogram(clip))
        np.testing.assert_array_equal(
            src.onsets_s(pos), ds["segment_onset_s"].values[ds["segment_clip"].values == clip]
        )
    # syllable windows of a selection are those of the clips selected
    from vocalpy_xai.clips import syllable_windows

    labels = [str(c) for c in ds["class"].values[1:]]
    a, b = syllable_windows(sub, [0], labels=labels), syllable_windows(ds, [5], labels=labels)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.meta["label"], b.meta["label"])
    # what the old readers did (zarr by position) reads another song
    raw = zarr.open_group(small_store, mode="r")["spectrogram"]
    n = part.n_frames(0)
    wrong = np.asarray(raw[0, :, :n])
    assert wrong.shape != part.spectrogram(0).shape or not np.array_equal(
        wrong, part.spectrogram(0)
    )
    # a selection that is not on disk any more (e.g. loaded) reads through xarray alike
    loaded = sub.load()
    loaded.encoding.pop("store_path", None)
    np.testing.assert_array_equal(ClipReader(loaded).spectrogram(1), full.spectrogram(2))
