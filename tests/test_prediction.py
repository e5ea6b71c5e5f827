"""The one inference path of annotation models (ESNDecoder.predict) and the one frame-time
convention, on real Bengalese finch song (the bundled Bird0 songs)."""

from __future__ import annotations

import numpy as np
import pytest
import vocalpy

from vocalpy_xai.errors import AudioError
from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.models import AnnotationPrediction
from vocalpy_xai.store import ClipReader, frame_labels, frame_times, open_store

TEST = range(14, 20)  # held-out bundled Bird0 songs (the shared models train on 0-13)


def _same_segments(a, b):
    """Same labels, same times up to floating-point noise."""
    assert list(a.labels) == list(b.labels)
    times = np.stack([a.onsets_s, a.offsets_s]), np.stack([b.onsets_s, b.offsets_s])
    np.testing.assert_allclose(*times, atol=1e-9)


def test_predict_takes_a_path_a_sound_or_a_spectrogram(trained_esn, small_store):
    ds = open_store(small_store)
    reader = ClipReader(ds)
    clip = TEST[0]
    path = str(ds["source_path"].values[clip])
    from_path = trained_esn.predict(path)
    assert isinstance(from_path, AnnotationPrediction)
    n, k = from_path.probabilities.shape
    assert k == len(trained_esn.class_names_) == len(from_path.class_names)
    assert len(from_path.frame_labels) == len(from_path.frame_times) == n > 0
    np.testing.assert_allclose(from_path.probabilities.sum(axis=1), 1.0)
    # annotate() is predict()'s segments; a Sound goes the same way as its file
    _same_segments(trained_esn.annotate(path), from_path.segments)
    from_sound = trained_esn.predict(vocalpy.Sound.read(path))
    _same_segments(from_sound.segments, from_path.segments)
    np.testing.assert_array_equal(from_sound.frame_labels, from_path.frame_labels)
    # the store's spectrogram of the same song: the same frames, the same labels almost
    # everywhere (librosa's spectrogram vs the model's float32 one)
    from_store = trained_esn.predict(reader.spectrogram(clip), ds["freq"].values)
    assert len(from_store) == n
    assert np.mean(from_store.frame_labels == from_path.frame_labels) >= 0.99
    with pytest.raises(ValueError, match="needs freqs"):
        trained_esn.predict(reader.spectrogram(clip))


def test_model_frames_sit_on_the_store_frames_they_were_trained_on(trained_esn, small_store):
    """Model frame i is at the store time of spectrogram frame i * stride: the frame whose
    label it learnt (store.frame_times, the one convention)."""
    ds = open_store(small_store)
    reader = ClipReader(ds)
    stride = trained_esn.features.stride
    store_times = ds["time"].values
    agree = []
    for clip in TEST:
        pred = trained_esn.predict(reader.spectrogram(clip), ds["freq"].values)
        n = len(pred)
        np.testing.assert_allclose(pred.frame_times, store_times[: n * stride : stride], atol=1e-12)
        np.testing.assert_array_equal(
            pred.frame_times, frame_times(n, trained_esn.frame_s_, trained_esn.time_offset_)
        )
        # the store's frame labels at those times are the ones read at every stride-th frame
        truth = reader.frame_labels(clip)[::stride][:n]
        from vocalpy_xai.store import clip_segments

        index = {str(c): i for i, c in enumerate(ds["class"].values)}
        at_times = frame_labels(clip_segments(ds, clip), pred.frame_times, index)
        np.testing.assert_array_equal(at_times, truth)
        agree.append(np.mean(pred.frame_labels == truth))
    # the half-frame shift of the old napari convention ((i + 0.5) * frame) would move
    # every frame by 4 ms; on the store's own times the model agrees with the annotation
    assert np.mean(agree) >= 0.9


def test_predict_refuses_audio_it_cannot_read_naming_it(trained_esn, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    with pytest.raises(AudioError, match="broken.wav"):
        trained_esn.predict(bad)
    low = vocalpy.Sound(data=np.zeros((1, 16000), np.float32) + 0.1, samplerate=16000)
    with pytest.raises(AudioError, match="16000 Hz"):
        trained_esn.predict(low)  # "down": a lower rate is refused


def test_segments_become_a_crowsetta_annotation(trained_esn, small_store, tmp_path):
    ds = open_store(small_store)
    path = str(ds["source_path"].values[TEST[1]])
    seg = trained_esn.predict(path).segments
    annot = seg.to_annotation(path)
    assert str(annot.notated_path) == path and len(annot.seq.labels) == len(seg)
    out = write_annotations(annot, tmp_path / "pred.csv", "simple-seq")
    back = read_annotations(out, "simple-seq")[0]
    np.testing.assert_array_equal(np.asarray(back.seq.labels).astype(str), seg.labels)
    # crowsetta's simple-seq reader rounds times to the millisecond (``to_seq``)
    np.testing.assert_allclose(back.seq.onsets_s, seg.onsets_s, atol=5e-4 + 1e-9)
