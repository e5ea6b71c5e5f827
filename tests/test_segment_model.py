"""The model-based segmenter: a trained ESNDecoder behind vocalpy.Segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import vocalpy

from vocalpy_xai.errors import AudioError
from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.segment.model import ESNSegmenterParams, esn_segment
from vocalpy_xai.store import open_store


@pytest.fixture(scope="module")
def model_dir(small_store, tmp_path_factory):
    model = ESNDecoder(ESNParams(units=200, seed=4)).fit(small_store, range(14), progress=False)
    return str(model.save(tmp_path_factory.mktemp("seg") / "esn"))


def test_vocalpy_segmenter_runs_the_model(model_dir, small_store):
    ds = open_store(small_store)
    paths = [str(p) for p in ds["source_path"].values[14:17]]
    sounds = [vocalpy.Sound.read(p) for p in paths]
    segmenter = vocalpy.Segmenter(
        callback=esn_segment, params=ESNSegmenterParams(model_dir=model_dir)
    )
    one = segmenter.segment(sounds[0])
    many = segmenter.segment(sounds)
    assert isinstance(one, vocalpy.Segments) and len(many) == 3
    assert len(one) == len(many[0]) and np.array_equal(one.start_inds, many[0].start_inds)
    # the segments match the model's own annotation of the file, in samples of the sound
    direct = ESNDecoder.load(model_dir).annotate(paths[0])
    np.testing.assert_allclose(one.start_inds / one.samplerate, direct.onsets_s, atol=1e-4)
    assert list(one.labels) == list(direct.labels)
    # and they find the annotated syllables
    true_n = int((ds["segment_clip"].values == 14).sum())
    assert abs(len(one) - true_n) <= max(3, true_n // 5)


def test_wrong_rate_is_resampled_or_refused(model_dir, small_store):
    import librosa

    ds = open_store(small_store)
    sound = vocalpy.Sound.read(str(ds["source_path"].values[15]))
    data = librosa.resample(sound.data, orig_sr=32000, target_sr=44100)
    other = vocalpy.Sound(data=data, samplerate=44100)
    with pytest.raises(AudioError, match="44100 Hz, expected 32000 Hz"):
        esn_segment(other, model_dir=model_dir, resample=False)
    seg = esn_segment(other, model_dir=model_dir)
    assert seg.samplerate == 44100 and len(seg) > 5
    with pytest.raises(ValueError, match="needs model_dir"):
        esn_segment(sound)
