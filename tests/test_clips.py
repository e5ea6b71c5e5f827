"""Classification examples from stores: folds by recording, windows, augmentation, syllables.

Real data only: the bundled xeno-canto clips (100 clips, 10 species) and Bird0 songs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vocalpy_xai.clips import (
    SPECIES_PARAMS,
    augment,
    bird0_fixed_split,
    build_species_store,
    build_syllable_store,
    fold_ids,
    species_folds,
    species_windows,
    syllable_windows,
    window_starts,
)
from vocalpy_xai.store import open_store, prefix_split


@pytest.fixture(scope="module")
def xc_table(example_xc10) -> pd.DataFrame:
    return pd.read_csv(example_xc10 / "labels.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def species_ds(tmp_path_factory, example_xc10):
    path = tmp_path_factory.mktemp("clips") / "xc10.zarr"
    build_species_store(example_xc10 / "labels.csv", path, progress=False, num_workers=1)
    return open_store(path)


@pytest.fixture(scope="module")
def bird0_ds(tmp_path_factory, example_bird0):
    path = tmp_path_factory.mktemp("clips") / "bird0-syllables.zarr"
    build_syllable_store(example_bird0 / "Annotation.xml", path, progress=False, num_workers=1)
    return open_store(path)


# ---------------------------------------------------------------------------- folds
def test_folds_stratified_disjoint_cover_all(xc_table):
    folds = species_folds(xc_table, n_folds=5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(xc_table)))  # each clip tested once
    species = xc_table["scientific_name"].to_numpy()
    for train, test in folds:
        assert not set(train) & set(test)
        assert len(train) + len(test) == len(xc_table)
        # 10 clips per species, 5 folds: exactly 2 test clips of every species per fold
        _, counts = np.unique(species[test], return_counts=True)
        assert len(counts) == 10 and set(counts) == {2}
    ids = fold_ids(folds)
    assert set(ids) == set(range(5))


def test_folds_reproducible_and_seeded(xc_table, example_xc10):
    a = species_folds(xc_table, seed=0)
    b = species_folds(example_xc10 / "labels.csv", seed=0)  # from the CSV path
    c = species_folds(xc_table, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_folds_group_by_recording(xc_table):
    # Every xeno-canto clip here is its own recording; pretend pairs of clips of a species
    # were cut from one recording: a recording must never be on both sides.
    table = xc_table.copy()
    table["xc_id"] = [f"{s}-{i // 2}" for i, s in enumerate(table["scientific_name"])]
    for seed in (0, 1, 2):
        for train, test in species_folds(table, n_folds=5, seed=seed):
            assert not set(table["xc_id"].iloc[train]) & set(table["xc_id"].iloc[test])
            assert table["scientific_name"].iloc[test].nunique() == 10  # still stratified


def test_folds_from_store_match_table(species_ds, xc_table):
    from_store = species_folds(species_ds, seed=0)
    from_table = species_folds(xc_table, seed=0)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(from_store, from_table, strict=True))
    with pytest.raises(ValueError, match="fewer recordings"):
        species_folds(xc_table, n_folds=11)


# ---------------------------------------------------------------------------- species windows
def test_species_windows_shape_coords_labels(species_ds):
    clips = [0, 13, 57, 99]
    w = species_windows(species_ds, clips, window_s=3.0, hop_s=1.0)
    n_freq = species_ds.sizes["freq"]
    assert w.X.dtype == np.float32 and w.X.shape[1:] == (n_freq, 300)
    assert n_freq == 224 and w.frame_s == pytest.approx(0.01)
    assert w.freq_hz[0] >= SPECIES_PARAMS.fmin and w.freq_hz[-1] <= SPECIES_PARAMS.fmax
    assert len(w.sources) == len(w.y) == len(w.X)
    assert np.isfinite(w.X).all()
    labels = species_ds["label"].values
    for x, y, src in zip(w.X, w.y, w.sources, strict=True):
        c = src["clip"]
        assert set(src) == {"clip", "source_path", "start_s"}
        assert w.class_names[y] == labels[c]  # the label of its source clip
        assert src["source_path"] == species_ds["source_path"].values[c]
        start = round(src["start_s"] / w.frame_s)
        ref = species_ds["spectrogram"].isel(clip=c, time=slice(start, start + 300)).values
        np.testing.assert_array_equal(x, ref)
    # a 6-s clip (601 frames) gives windows at 0, 1, 2, 3 s
    starts = [s["start_s"] for s in w.sources if s["clip"] == 0]
    assert starts == pytest.approx([0.0, 1.0, 2.0, 3.0])
    kwargs = w.fit_kwargs()
    assert set(kwargs) == {"X", "y", "class_names", "freq_hz", "frame_s", "sources"}


def test_species_windows_pad_short_clips_and_random_crop(species_ds):
    # windows longer than the clips: one window per clip, padded with the clip's floor
    w = species_windows(species_ds, [3], window_s=8.0)
    n = int(species_ds["n_frames"].values[3])
    assert w.X.shape == (1, 224, 800)
    assert np.isfinite(w.X).all()
    tail = w.X[0, :, n:]
    assert np.all(tail == tail[:, :1])  # constant per row (the floor)
    assert window_starts(100, 300, 100).tolist() == [0]
    assert window_starts(650, 300, 100).tolist() == [0, 100, 200, 300, 350]
    a = species_windows(species_ds, [5, 6], random_offset=True, rng=np.random.default_rng(0))
    b = species_windows(species_ds, [5, 6], random_offset=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.X, b.X)


# ---------------------------------------------------------------------------- augmentation
def test_augment_roll_shift_preserves_frequency_profile(species_ds):
    X = species_windows(species_ds, [1, 40, 80]).X
    rng = np.random.default_rng(0)
    out = augment(X, rng, p_mix=0, p_mask=0, p_gain=0, p_shift=1.0, max_shift=0.5)
    assert out.shape == X.shape and out.dtype == np.float32
    assert not np.array_equal(out, X)  # it did shift
    # each frequency row keeps exactly its own values (only their time order changes)
    np.testing.assert_array_equal(np.sort(out, axis=2), np.sort(X, axis=2))
    power = lambda a: (10 ** (a / 10)).sum(axis=2)  # noqa: E731 (per-row energy profile)
    np.testing.assert_allclose(power(out), power(X), rtol=1e-5)


def test_augment_never_moves_energy_between_frequencies(species_ds):
    # Real windows made band-limited: rows outside 2-5 kHz silenced to a constant floor.
    w = species_windows(species_ds, [2, 30, 70])
    X = w.X.copy()
    band = (w.freq_hz >= 2000) & (w.freq_hz <= 5000)
    X[:, ~band, :] = -100.0
    noise = species_windows(species_ds, [90]).X
    noise[:, ~band, :] = -100.0
    for kwargs in (
        {"shift_mode": "roll", "p_mask": 0, "p_mix": 0},
        {"shift_mode": "fill", "p_mask": 1.0, "n_masks": 3},
        {"p_mix": 1.0, "p_mask": 1.0},
        {"p_mix": 1.0, "noise": noise},
    ):
        out = augment(X, np.random.default_rng(1), y=w.y, **kwargs)
        for i in range(len(X)):
            outside = out[i, ~band, :]
            # still one constant (the floor plus this window's gain): nothing leaked in
            np.testing.assert_allclose(outside, outside.flat[0], atol=1e-2)
            if kwargs.get("p_mix") == 0:
                # a circular time shift keeps each row's energy exactly (up to the gain)
                prof_in = np.log((10 ** (X[i] / 10)).mean(axis=1))
                prof_out = np.log((10 ** (out[i] / 10)).mean(axis=1))
                d = prof_out - prof_in
                np.testing.assert_allclose(d, d[0], atol=1e-3)
    # shifts with fill and time masks, without gain: every output column is an input column
    # (moved in time) or a per-row floor, each value within its own row's range
    out = augment(X, np.random.default_rng(3), shift_mode="fill", p_mask=1.0, p_gain=0, p_mix=0)
    for i in range(len(X)):
        cols = {X[i, :, t].tobytes() for t in range(X.shape[2])}
        lo, hi = X[i].min(axis=1), X[i].max(axis=1)
        for t in range(X.shape[2]):
            col = out[i, :, t]
            assert col.tobytes() in cols or (np.all(col >= lo) and np.all(col <= hi))
    # mixing adds power row by row: without gain and shift, no value ever decreases
    mixed = augment(X, np.random.default_rng(2), y=w.y, p_mix=1.0, p_shift=0, p_gain=0, p_mask=0)
    assert np.all(mixed >= X - 1e-4) and np.any(mixed > X + 1.0)


def test_augment_seeded_and_input_untouched(species_ds):
    X = species_windows(species_ds, [10, 20]).X
    before = X.copy()
    a = augment(X, np.random.default_rng(5), p_mix=1.0, p_mask=1.0)
    b = augment(X, np.random.default_rng(5), p_mix=1.0, p_mask=1.0)
    c = augment(X, np.random.default_rng(6), p_mix=1.0, p_mask=1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(X, before)
    gain_only = augment(X, np.random.default_rng(0), p_shift=0, p_mask=0, p_mix=0)
    d = gain_only - X
    assert np.allclose(d, d[:, :1, :1], atol=1e-4)  # one dB offset per window
    with pytest.raises(ValueError, match="shift_mode"):
        augment(X, np.random.default_rng(0), shift_mode="pitch")


# ---------------------------------------------------------------------------- syllables
def test_syllable_windows_centre_label_and_mask(bird0_ds):
    clips = [0, 1, 2, 3]
    w = syllable_windows(bird0_ds, clips, width_s=0.3)
    assert w.class_names == [str(i) for i in range(9)]
    seg_clip = bird0_ds["segment_clip"].values
    assert len(w) == int(np.isin(seg_clip, clips).sum())  # one window per syllable
    n_t = w.X.shape[2]
    assert n_t % 2 == 1 and w.frame_s == pytest.approx(0.002) and w.X.shape[1] == 153
    centre = n_t // 2
    # the annotated syllable is at the centre of its window
    assert w.mask[:, centre].all()
    names = np.array(w.class_names)[w.y]
    np.testing.assert_array_equal(names, w.meta["label"])
    np.testing.assert_array_equal(w.meta["centre_frame_label"], w.meta["label"])
    classes = [str(c) for c in bird0_ds["class"].values]
    frame_labels = bird0_ds["frame_labels"].values
    for i, src in enumerate(w.sources):
        c, start = src["clip"], round(src["start_s"] / w.frame_s)
        labels = frame_labels[c]
        idx = start + np.flatnonzero(w.mask[i])
        # the mask covers exactly the frames the store labels with this syllable's class
        # whose centres lie inside the annotated segment
        assert {classes[k] for k in labels[idx]} == {w.meta["label"][i]}
        t = idx * w.frame_s
        assert t.min() >= w.meta["onset_s"][i] and t.max() < w.meta["offset_s"][i]
        duration = w.meta["offset_s"][i] - w.meta["onset_s"][i]
        assert abs(w.mask[i].sum() * w.frame_s - duration) <= 2 * w.frame_s
        assert src["source_path"].endswith(f"{c}.wav")


def test_bird0_fixed_split_matches_prefix_split(bird0_dir):
    import soundfile

    durations = np.array(
        [soundfile.info(bird0_dir / "Wave" / f"{i}.wav").duration for i in range(135)]
    )
    train, test = bird0_fixed_split(durations)
    split = prefix_split(durations, 600, range(95, 135))
    assert np.array_equal(train, np.flatnonzero(split == "train"))
    assert np.array_equal(test, np.arange(95, 135))
    assert np.array_equal(train, np.arange(len(train)))  # a prefix 0, 1, 2, ...
    assert durations[train].sum() >= 600 > durations[train[:-1]].sum()
    with pytest.raises(ValueError, match="135"):
        bird0_fixed_split(durations[:20])
