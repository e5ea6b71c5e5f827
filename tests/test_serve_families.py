"""Every built-in model family through the registry and the server, on real recordings.

Per family: register a saved model -> load it from the registry (every file checked against
its SHA-256, and the model folder's own ``checksums.json``) -> run it through the HTTP
service -> the same answer as the saved model called directly. ESNDecoder annotates
(``/predict``); AudioProtoNet on the BirdNET backbone and the AudioProtoNet CNN syllable
classifier classify (``/classify``), with each decision's top prototypes in s and Hz.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.protonet import AudioProtoNet
from vocalpy_xai.protonet.evidence import classify_recording
from vocalpy_xai.registry import Registry, families, family_task
from vocalpy_xai.serve import create_app
from vocalpy_xai.serve.app import public_sources

#: the bundled examples (the server's data root) and a Bird0 song no fixture model was
#: trained on
EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples" / "data"
BIRD0_SONG = "bird0/Wave/15.wav"
#: the species of conftest's BirdNET-backbone model
XC_SPECIES = ("Melozone crissalis", "Poecile rufescens")


@pytest.fixture(scope="module")
def esn_dir(small_store, tmp_path_factory):
    model = ESNDecoder(ESNParams(units=100, seed=1)).fit(small_store, range(0, 6), progress=False)
    return model.save(tmp_path_factory.mktemp("esn") / "esn")


@pytest.fixture(scope="module")
def xc_clip(example_xc10):
    """A xeno-canto clip of the first species that the BirdNET model was not trained on."""
    table = pd.read_csv(example_xc10 / "labels.csv")
    files = sorted(table.loc[table["scientific_name"] == XC_SPECIES[0], "mp3_file"])
    return f"xeno_canto_10_species/{files[2]}"


@pytest.fixture(scope="module")
def served(tmp_path_factory, esn_dir, birdnet_protonet_dir, syllable_protonet_dir):
    reg = Registry(tmp_path_factory.mktemp("registry") / "models")
    reg.register(esn_dir, "esn", alias="production")
    reg.register(birdnet_protonet_dir, "species")
    reg.register(syllable_protonet_dir, "syllables")
    with TestClient(create_app(reg, EXAMPLES, max_upload_bytes=2_000_000)) as client:
        yield reg, client


def _same_classification(body: dict, direct: dict) -> None:
    """The server's answer equals the direct call's (floats to float32 precision)."""
    assert body["class_names"] == direct["class_names"]
    assert body["recording"]["predicted"] == direct["recording"]["predicted"]
    assert len(body["chunks"]) == len(direct["chunks"])
    for got, want in zip(
        [body["recording"], *body["chunks"]], [direct["recording"], *direct["chunks"]], strict=True
    ):
        assert got["predicted"] == want["predicted"]
        assert got["scores"].keys() == want["scores"].keys()
        np.testing.assert_allclose(
            list(got["scores"].values()), list(want["scores"].values()), rtol=1e-5
        )
        assert [e["prototype"] for e in got["top_prototypes"]] == [
            e["prototype"] for e in want["top_prototypes"]
        ]
        for g, w in zip(got["top_prototypes"], want["top_prototypes"], strict=True):
            assert g["source"] == w["source"] and g["match"] == pytest.approx(w["match"])
            assert g["class"] == w["class"]


def test_every_builtin_family_has_a_task():
    assert {"ESNDecoder", "AudioProtoNet"} <= set(families())
    assert family_task("ESNDecoder") == "annotate" and family_task("AudioProtoNet") == "classify"


def test_esn_through_registry_and_server(served, esn_dir):
    reg, client = served
    song = EXAMPLES / BIRD0_SONG
    r = client.post("/models/esn/predict-path", json={"path": BIRD0_SONG})
    assert r.status_code == 200, r.text
    direct = ESNDecoder.load(esn_dir).annotate(song)
    assert [s["label"] for s in r.json()["segments"]] == list(direct.labels)
    np.testing.assert_allclose([s["onset_s"] for s in r.json()["segments"]], direct.onsets_s)
    assert isinstance(reg.load("esn"), ESNDecoder)
    # an annotation model does not classify: 422 naming the right endpoint
    r = client.post("/models/esn/classify-path", json={"path": BIRD0_SONG})
    assert r.status_code == 422 and "/models/esn/predict" in r.json()["detail"]


def test_birdnet_protonet_classifies_a_real_xeno_canto_clip(served, birdnet_protonet_dir, xc_clip):
    reg, client = served
    clip = EXAMPLES / xc_clip
    r = client.post("/models/species/classify", files={"file": (clip.name, clip.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": "species", "version": 1, "family": "AudioProtoNet"}
    assert body["class_names"] == list(XC_SPECIES)
    # a 6-s clip: two 3-s BirdNET chunks
    assert [(c["start_s"], c["end_s"]) for c in body["chunks"]] == [(0.0, 3.0), (3.0, 6.0)]
    assert body["recording"]["predicted"] in XC_SPECIES
    assert sum(body["recording"]["scores"].values()) == pytest.approx(1.0, abs=1e-5)
    for decision in [body["recording"], *body["chunks"]]:
        assert len(decision["top_prototypes"]) == 3
        for ev in decision["top_prototypes"]:
            box, src = ev["match"], ev["source"]
            assert 0.0 <= box["t0_s"] < box["t1_s"] <= 6.0 + 1e-6  # a span (s) in the clip
            assert 0.0 <= box["f0_hz"] < box["f1_hz"] <= 24000.0  # a band (Hz)
            assert src["file"].endswith(".mp3") and "/" not in src["file"]  # no server path
            assert src["t0_s"] < src["t1_s"] and src["f0_hz"] < src["f1_hz"]
            assert ev["class"] in XC_SPECIES
    for chunk in body["chunks"]:
        for ev in chunk["top_prototypes"]:
            assert chunk["start_s"] <= ev["match"]["t0_s"] < chunk["start_s"] + 3.0
    # the same answer as the saved model called directly, and by path
    direct = public_sources(
        classify_recording(AudioProtoNet.load(birdnet_protonet_dir), clip).to_dict()
    )
    _same_classification(body, direct)
    by_path = client.post("/models/species/classify-path?top_k=3", json={"path": xc_clip})
    assert by_path.status_code == 200 and by_path.json()["chunks"] == body["chunks"]
    # a classifier does not annotate
    r = client.post("/models/species/predict-path", json={"path": xc_clip})
    assert r.status_code == 422 and "/models/species/classify" in r.json()["detail"]


def test_syllable_classifier_through_registry_and_server(served, syllable_protonet_dir):
    reg, client = served
    r = client.post("/models/syllables/classify-path?top_k=2", json={"path": BIRD0_SONG})
    assert r.status_code == 200, r.text
    body = r.json()
    model = AudioProtoNet.load(syllable_protonet_dir)
    direct = public_sources(classify_recording(model, EXAMPLES / BIRD0_SONG, top_k=2).to_dict())
    _same_classification(body, direct)
    width = model.window_frames_ * model.frame_s_  # windows of the model's own width
    starts = np.asarray([c["start_s"] for c in body["chunks"]])
    np.testing.assert_allclose(np.diff(starts)[:-1], width, rtol=1e-6)
    assert all(len(c["top_prototypes"]) == 2 for c in body["chunks"])
    assert all(e["match"]["f1_hz"] <= 8000.0 for c in body["chunks"] for e in c["top_prototypes"])


def test_a_modified_registered_classifier_is_refused(served, tmp_path, birdnet_protonet_dir):
    reg, _ = served
    rec = reg.register(birdnet_protonet_dir, "tampered")
    weights = rec.path / "weights.pt"
    weights.chmod(0o644)
    weights.write_bytes(weights.read_bytes() + b"\0")
    with TestClient(create_app(reg, EXAMPLES)) as client:
        r = client.post("/models/tampered/classify-path", json={"path": BIRD0_SONG})
    assert r.status_code == 500 and "integrity" in r.json()["detail"]
    assert "weights.pt" in r.json()["detail"]
