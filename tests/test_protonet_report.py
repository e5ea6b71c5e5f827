"""Explanation reports of a tiny AudioProtoNet trained on a few bundled Bird0 songs.

The pages must reference figures and audio that exist, and every WAV must last what it
stands for: a prototype's box (its feature cell's frames) or the matched part of a window.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile

from vocalpy_xai.clips import build_syllable_store, syllable_windows
from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams, open_activations
from vocalpy_xai.protonet.report import explanation_report
from vocalpy_xai.store import open_store

TINY = ProtoNetParams(
    arch="audio",
    prototypes_per_class=2,
    channels=(8, 16, 16),
    prototype_dim=16,
    epochs=2,
    warmup_epochs=1,
    last_layer_epochs=1,
    seed=0,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, example_bird0):
    path = tmp_path_factory.mktemp("protonet-report") / "bird0-syllables.zarr"
    build_syllable_store(example_bird0 / "Annotation.xml", path, progress=False)
    ds = open_store(path)
    train = syllable_windows(ds, range(0, 5), width_s=0.2)
    test = syllable_windows(ds, range(18, 20), width_s=0.2, labels=train.class_names)
    model = AudioProtoNet(TINY).fit(**train.fit_kwargs(), progress=False)
    return model, train, test


def test_report_pages_figures_audio_and_activations(trained, tmp_path):
    model, train, test = trained
    X, sources = test.X[:3], test.sources[:3]
    ids = [f"song{s['clip']}@{s['start_s']:.3f}" for s in sources]
    act = model.explain(X, clip_ids=ids, sources=sources, top_k=2)
    out = explanation_report(model, train, act, tmp_path / "explain", progress=False)

    page = out.index.read_text()
    images = re.findall(r'<img src="([^"]+)"', page)
    assert images == [f"explain-{i:03d}.png" for i in range(3)]
    for name in images:
        assert (out.index.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sounds = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    # per window: itself, then per rank the matched part, the prototype box, its syllable
    assert len(sounds) == 3 * (1 + 2 * 3)
    for href in sounds:
        assert (out.index.parent / href).is_file(), href
    assert 'href="gallery/index.html"' in page and out.gallery.is_file()

    frame_s, stride = model.frame_s_, model.stride
    for k in set(act["top_prototypes"].values.ravel().tolist()):
        p = model.prototypes_[k]
        info = soundfile.info(out.index.parent / "audio" / f"proto-{k:03d}.wav")
        assert info.duration == pytest.approx(p["t1_s"] - p["t0_s"] + frame_s, abs=1.5e-4)
        assert info.duration == pytest.approx(stride * frame_s, abs=1.5e-4)
    window = soundfile.info(out.index.parent / "audio" / "clip000-window.wav")
    assert window.duration == pytest.approx(X.shape[2] * frame_s, abs=1.5e-4)
    # the matched part: the receptive field of the peak cell, clipped to the window
    rf = act.attrs["receptive_field"]
    for href in sounds:
        if href.endswith("-match.wav"):
            d = soundfile.info(out.index.parent / href).duration
            assert stride * frame_s <= d <= (rf + stride) * frame_s

    gallery = out.gallery.read_text()
    classes = list(dict.fromkeys(p["class"] for p in model.prototypes_))
    thumbs = re.findall(r'<img src="([^"]+)"', gallery)
    assert len(thumbs) == len(classes) == 9
    for name in thumbs:
        assert (out.gallery.parent / name).read_bytes()[:4] == b"\x89PNG"
    for href in re.findall(r'<audio controls preload="none" src="([^"]+)"', gallery):
        assert (out.gallery.parent / href).is_file()
    assert "band weights" in gallery

    # the whole source syllable of each shown prototype plays, as long as its annotation says
    for k in set(act["top_prototypes"].values.ravel().tolist()):
        w = model.prototypes_[k]["window"]
        d = soundfile.info(out.index.parent / "audio" / f"proto-{k:03d}-syllable.wav").duration
        assert d == pytest.approx(train.meta["offset_s"][w] - train.meta["onset_s"][w], abs=1e-4)
    # both panels (and the gallery) share one colour map; bands are stated side by side
    assert out.colormaps == {"gray_r"}
    assert "matched " in page and " vs prototype " in page

    opened = open_activations(out.activations)
    assert list(opened["clip"].values) == ids
    np.testing.assert_array_equal(opened["score"].values, act["score"].values)
    # re-writing the report in the same folder replaces it
    again = explanation_report(model, train, act, tmp_path / "explain", audio=False, progress=False)
    assert "<audio" not in again.index.read_text() and again.audio == []


def test_report_refuses_windows_of_another_model(trained, tmp_path):
    model, train, test = trained
    act = model.explain(test.X[:1], sources=test.sources[:1], top_k=1)
    with pytest.raises(ValueError, match="pass the windows the model was trained on"):
        explanation_report(model, train.X[:2], act, tmp_path / "x", progress=False)


def test_report_flags_prototypes_sourced_outside_their_class(trained, tmp_path):
    """Each prototype's source box is checked against the annotated syllables of its source
    recording; the page lists and marks those outside a syllable of their class."""
    from vocalpy_xai.protonet.report import IN_CLASS_SHARE, source_checks, syllable_table

    model, train, test = trained
    syllables = syllable_table(train)
    assert len(syllables) == len(set(zip(syllables.source_path, syllables.onset_s, strict=True)))
    checks = source_checks(model, syllables)
    assert len(checks) == model.num_prototypes_
    # recompute one flag by hand from the annotation: the box's overlap with its class
    for _, c in checks.iterrows():
        p = model.prototypes_[int(c.prototype)]
        g = syllables[(syllables.source_path == p["source_path"]) & (syllables.label == p["class"])]
        t0, t1 = p["t0_s"], p["t1_s"] + model.frame_s_
        inside = np.clip(np.minimum(g.offset_s, t1) - np.maximum(g.onset_s, t0), 0, None).sum()
        assert c.in_class_share == pytest.approx(min(inside / (t1 - t0), 1.0))
        assert c.flagged == (c.in_class_share < IN_CLASS_SHARE)
        assert (c["where"] == "in its class") == (c.syllable_label == p["class"])
    act = model.explain(test.X[:2], sources=test.sources[:2], top_k=2)
    out = explanation_report(
        model, train, act, tmp_path / "x", audio=False, progress=False, segments=test
    )
    page = out.index.read_text()
    n_flagged = int(checks.flagged.sum())
    assert f"{n_flagged} of {len(checks)} prototypes have a source box" in page
    shown = set(act["top_prototypes"].values[:, :2].ravel().tolist())
    if checks.flagged[list(shown)].any():
        assert "⚠ source" in page
    print("flagged", n_flagged, "of", len(checks), checks["where"].value_counts().to_dict())
