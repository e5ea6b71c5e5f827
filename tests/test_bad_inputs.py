"""A corpus of bad inputs: each gets the project's named error, naming the file (and key).

Every bad file is made at test time from the bundled data (examples/data): audio cut,
emptied, resampled or corrupted; annotations emptied, overlapped or mislabelled; saved
models truncated, byte-flipped, re-weighted or reshaped; registries, server requests and
configs gone wrong; builds killed half-way. One parametrised test per kind; every case
asserts that the error is a :class:`vocalpy_xai.errors.VocalpyXaiError` (never a raw
library exception) whose message names the file at fault (and the table and key, for
configs).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile

from vocalpy_xai.errors import (
    AudioResampledWarning,
    BuildError,
    ConfigError,
    ModelFolderError,
    VocalpyXaiError,
)

SR = 32000


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def song(example_bird0) -> tuple[np.ndarray, int]:
    """The first bundled Bird0 song (samples, rate)."""
    data, sr = soundfile.read(example_bird0 / "Wave" / "0.wav", dtype="float32")
    return data, sr


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory, example_bird0) -> pathlib.Path:
    """A store of the first 3 bundled songs."""
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store

    m = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    m3 = Manifest(m.table.iloc[:3], m.root)
    path = tmp_path_factory.mktemp("bad-store") / "bird0-3.zarr"
    build_store(m3, path, SpectrogramParams(samplerate=SR), progress=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_store) -> pathlib.Path:
    from vocalpy_xai.models import ESNDecoder, ESNParams

    model = ESNDecoder(ESNParams(units=40, seed=1)).fit(tiny_store, [0, 1], progress=False)
    return model.save(tmp_path_factory.mktemp("bad-model") / "esn")


@pytest.fixture(scope="module")
def model(model_dir):
    from vocalpy_xai.models import ESNDecoder

    return ESNDecoder.load(model_dir)


def _named(err: BaseException, *names) -> None:
    """The error is the project's and its message names every one of ``names``."""
    assert isinstance(err, VocalpyXaiError), f"raw {type(err).__name__}: {err}"
    text = str(err)
    for name in names:
        assert str(name) in text, f"{name!r} not named in: {text}"


# ------------------------------------------------------------------------------ audio
def _audio_case(kind: str, tmp: pathlib.Path, song, example_bird0) -> pathlib.Path:
    data, sr = song
    wav = example_bird0 / "Wave" / "0.wav"
    p = tmp / f"{kind}.wav"
    if kind == "missing":
        return p
    if kind == "directory":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "not_audio":
        p.write_text("onset,offset,label\n0.1,0.2,a\n")
    elif kind == "truncated_wav":
        p.write_bytes(wav.read_bytes()[: wav.stat().st_size // 2])
    elif kind == "header_only_wav":
        p.write_bytes(wav.read_bytes()[:44])
    elif kind == "one_sample":
        soundfile.write(p, data[:1], sr)
    elif kind == "shorter_than_10ms":
        soundfile.write(p, data[1000:1100], sr)
    elif kind == "silent":
        soundfile.write(p, np.zeros(sr, np.float32), sr)
    elif kind == "nan":
        x = data[:sr].copy()
        x[100] = np.nan
        soundfile.write(p, x, sr, subtype="FLOAT")
    elif kind == "bad_extension":
        p = tmp / "song.aiff2"
        p.write_bytes(wav.read_bytes())
    elif kind == "truncated_mp3":
        mp3 = next((example_bird0.parent / "xeno_canto_10_species" / "mp3").glob("*.mp3"))
        p = tmp / "cut.mp3"
        p.write_bytes(mp3.read_bytes()[:3000])
    elif kind == "random_bytes_mp3":
        p = tmp / "noise.mp3"
        p.write_bytes(np.random.default_rng(0).bytes(20000))
    elif kind == "cbin_without_rec":
        p = tmp / "song.cbin"
        p.write_bytes((data[:sr] * 3000).astype(">i2").tobytes())
    else:
        raise AssertionError(kind)
    return p


AUDIO_CASES = [
    "missing",
    "directory",
    "empty",
    "not_audio",
    "truncated_wav",
    "header_only_wav",
    "one_sample",
    "shorter_than_10ms",
    "silent",
    "nan",
    "bad_extension",
    "truncated_mp3",
    "random_bytes_mp3",
    "cbin_without_rec",
]


@pytest.mark.parametrize("kind", AUDIO_CASES)
def test_bad_audio(kind, tmp_path, song, example_bird0):
    from vocalpy_xai.io import load_audio

    path = _audio_case(kind, tmp_path, song, example_bird0)
    with pytest.raises(VocalpyXaiError) as info:
        load_audio(path, samplerate=SR, mono=True)
    _named(info.value, path.name)


@pytest.mark.parametrize("n_samples", [1, 400])
def test_too_short_audio_is_not_stored(n_samples, tmp_path, song):
    """A 1-sample WAV, or one shorter than an FFT window (512), is refused by a build."""
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store

    data, sr = song
    wav = tmp_path / f"short-{n_samples}.wav"
    soundfile.write(wav, data[1000 : 1000 + n_samples], sr)
    ok = tmp_path / "ok.wav"
    soundfile.write(ok, data, sr)
    manifest = Manifest(pd.DataFrame({"audio_path": [str(wav), str(ok)], "label": ["a", "a"]}))
    report = build_store(manifest, tmp_path / "s.zarr", SpectrogramParams(), progress=False)
    assert report.stored == 1 and len(report.failures) == 1
    _named(report.failures[0], wav.name, "too short")


MODEL_AUDIO_CASES = [
    "upsampled_8khz",
    "one_sample",
    "under_one_model_frame",
    "one_sample_stream",
    "refused_any_rate",
]


@pytest.mark.parametrize("kind", MODEL_AUDIO_CASES)
def test_bad_audio_for_a_model(kind, tmp_path, song, model):
    """annotate() refuses audio the model cannot use, naming the file."""
    import librosa

    data, sr = song
    path = tmp_path / f"{kind}.wav"
    call = model.annotate
    if kind in ("upsampled_8khz", "refused_any_rate"):
        rate = 8000 if kind == "upsampled_8khz" else 44100
        soundfile.write(path, librosa.resample(data[: 2 * sr], orig_sr=sr, target_sr=rate), rate)
        if kind == "refused_any_rate":

            def call(p):
                return model.annotate(p, resample=False)

    elif kind in ("one_sample", "one_sample_stream"):
        soundfile.write(path, data[1000:1001], sr)
        call = model.annotate_stream if kind.endswith("stream") else model.annotate
    elif kind == "under_one_model_frame":
        soundfile.write(path, data[1000:1600], sr)  # 600 samples: < n_fft + hop * stride
    with pytest.raises(VocalpyXaiError) as info:
        call(path)
    _named(info.value, path.name)


def test_higher_rates_are_resampled_with_a_warning(tmp_path, song, model):
    import librosa

    data, sr = song
    path = tmp_path / "48k.wav"
    soundfile.write(path, librosa.resample(data, orig_sr=sr, target_sr=48000), 48000)
    with pytest.warns(AudioResampledWarning, match=r"48k\.wav.*48000 Hz resampled to 32000"):
        segments = model.annotate(path)
    assert len(segments) > 0
    same = tmp_path / "32k.wav"
    soundfile.write(same, data, sr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioResampledWarning)  # at the model's rate: silent
        model.annotate(same)


# ------------------------------------------------------------------------------ annotations
def _simple_seq(path: pathlib.Path, rows: list[tuple]) -> pathlib.Path:
    pd.DataFrame(rows, columns=["onset_s", "offset_s", "label"]).to_csv(path, index=False)
    return path


def _xml_with_overlap(example_bird0, tmp: pathlib.Path) -> pathlib.Path:
    """Annotation.xml (20 recordings) with the second note of 3.wav stretched over the third."""
    import re

    text = (example_bird0 / "Annotation.xml").read_text()
    start = text.index("<WaveFileName>3.wav</WaveFileName>")
    notes = [m.start() for m in re.finditer("<Note>", text[start:])]
    at = start + notes[1]
    length = re.compile(r"<Length>(\d+)</Length>")
    m = length.search(text, at)
    text = text[: m.start()] + f"<Length>{int(m.group(1)) * 3}</Length>" + text[m.end() :]
    (tmp / "Wave").mkdir(parents=True)
    for wav in (example_bird0 / "Wave").glob("*.wav"):
        (tmp / "Wave" / wav.name).symlink_to(wav)
    out = tmp / "Annotation.xml"
    out.write_text(text)
    return out


ANNOTATION_CASES = [
    "header_only",
    "segment_past_the_end",
    "negative_onset",
    "offset_before_onset",
    "overlap_in_a_csv",
    "overlap_in_a_multi_file_xml",
    "unknown_label",
    "not_an_annotation",
    "missing_annotation_file",
    "nan_times",
]


@pytest.mark.parametrize("kind", ANNOTATION_CASES)
def test_bad_annotations(kind, tmp_path, example_bird0):
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store

    wav = shutil.copy(example_bird0 / "Wave" / "0.wav", tmp_path / "0.wav")
    csv = tmp_path / "0.csv"
    labels = None
    named = [csv.name, "0.wav"]
    if kind == "header_only":
        _simple_seq(csv, [])
    elif kind == "segment_past_the_end":
        _simple_seq(csv, [(0.1, 0.2, "a"), (0.5, 500.0, "b")])
    elif kind == "negative_onset":
        _simple_seq(csv, [(-0.1, 0.2, "a")])
    elif kind == "offset_before_onset":
        _simple_seq(csv, [(0.3, 0.2, "a")])
    elif kind == "overlap_in_a_csv":
        _simple_seq(csv, [(0.1, 0.3, "a"), (0.2, 0.4, "b")])
    elif kind == "unknown_label":
        _simple_seq(csv, [(0.1, 0.2, "a"), (0.3, 0.4, "zz")])
        labels = ["a", "b"]
        named.append("zz")
    elif kind == "not_an_annotation":
        csv.write_text("this is not,an annotation\n\x00\x01,2\n")
        named = [csv.name, "cannot read as 'simple-seq'"]  # the file, whatever it annotates
    elif kind == "missing_annotation_file":
        named = [csv.name, "does not exist"]
    elif kind == "nan_times":
        _simple_seq(csv, [(0.1, float("nan"), "a")])
        named = [csv.name, "offset_s"]
    if kind == "overlap_in_a_multi_file_xml":
        xml = _xml_with_overlap(example_bird0, tmp_path / "xml")
        manifest = Manifest.from_annotation_file(xml, "birdsong-recognition-dataset")
        named = ["Annotation.xml", "recording 3.wav", "overlaps"]
    else:
        table = pd.DataFrame(
            {"audio_path": [str(wav)], "annot_path": [str(csv)], "annot_format": ["simple-seq"]}
        )
        manifest = Manifest(table)
    with pytest.raises(VocalpyXaiError) as info:
        build_store(
            manifest,
            tmp_path / "s.zarr",
            SpectrogramParams(samplerate=SR),
            on_error="raise",
            labels=labels,
            progress=False,
        )
    err = info.value
    _named(err, *named)
    if isinstance(err, BuildError):
        assert all(isinstance(f, VocalpyXaiError) for f in err.failures)
    assert not (tmp_path / "s.zarr").exists()


def test_empty_annotations_are_accepted_when_allowed(tmp_path, example_bird0):
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store, open_store

    wav = shutil.copy(example_bird0 / "Wave" / "0.wav", tmp_path / "0.wav")
    csv = _simple_seq(tmp_path / "0.csv", [])
    table = pd.DataFrame(
        {"audio_path": [str(wav)], "annot_path": [str(csv)], "annot_format": ["simple-seq"]}
    )
    params = SpectrogramParams(samplerate=SR)
    report = build_store(
        Manifest(table), tmp_path / "s.zarr", params, allow_empty_annotations=True, progress=False
    )
    assert report.stored == 1
    ds = open_store(tmp_path / "s.zarr")
    assert int((ds["frame_labels"].values[0] > 0).sum()) == 0  # all background, as asked


# ------------------------------------------------------------------------------ model folders
def _reseal(folder: pathlib.Path) -> None:
    """Record the folder's current files as its checksums (a consistent but wrong folder)."""
    from vocalpy_xai.models.folder import CHECKSUMS_FILE
    from vocalpy_xai.registry.hashing import hash_tree

    (folder / CHECKSUMS_FILE).unlink(missing_ok=True)
    (folder / CHECKSUMS_FILE).write_text(json.dumps(hash_tree(folder)))


def _edit_config(folder: pathlib.Path, change) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    change(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


def _edit_weights(folder: pathlib.Path, change) -> None:
    with np.load(folder / "weights.npz") as w:
        arrays = {k: w[k] for k in w.files}
    change(arrays)
    np.savez(folder / "weights.npz", **arrays)


MODEL_CASES = {
    # (what to do to a copy of a saved model, reseal checksums?, file named, verify?)
    "missing_folder": (lambda d: shutil.rmtree(d), False, "esn", True),
    "no_config": (lambda d: (d / "config.json").unlink(), False, "esn", True),
    "truncated_weights": (
        lambda d: (d / "weights.npz").write_bytes((d / "weights.npz").read_bytes()[:500]),
        False,
        "weights.npz",
        True,
    ),
    "truncated_weights_unverified": (
        lambda d: (d / "weights.npz").write_bytes((d / "weights.npz").read_bytes()[:500]),
        False,
        "weights.npz",
        False,
    ),
    "byte_flipped_weights": (
        lambda d: _flip(d / "weights.npz", 2000),
        False,
        "weights.npz",
        True,
    ),
    "altered_but_valid_weights": (
        lambda d: _edit_weights(d, lambda a: a.__setitem__("Wout", a["Wout"] * 1.5)),
        False,
        "weights.npz",
        True,
    ),
    "readout_of_wrong_shape": (
        lambda d: _edit_weights(d, lambda a: a.__setitem__("Wout", a["Wout"][:-3])),
        True,
        "weights.npz",
        True,
    ),
    "reservoir_of_wrong_shape": (
        lambda d: _edit_weights(d, lambda a: a.__setitem__("W_shape", np.array([7, 7]))),
        True,
        "weights.npz",
        True,
    ),
    "array_missing": (
        lambda d: _edit_weights(d, lambda a: a.pop("bias")),
        True,
        "weights.npz",
        True,
    ),
    "weights_missing": (lambda d: (d / "weights.npz").unlink(), True, "weights.npz", True),
    "config_without_params": (
        lambda d: _edit_config(d, lambda c: c.pop("params")),
        True,
        "config.json",
        True,
    ),
    "config_not_json": (
        lambda d: (d / "config.json").write_text("{not json"),
        True,
        "config.json",
        True,
    ),
    "config_edited": (
        lambda d: _edit_config(d, lambda c: c["params"].__setitem__("leak_rate", 0.9)),
        False,
        "config.json",
        True,
    ),
    "unknown_parameter": (
        lambda d: _edit_config(d, lambda c: c["params"].__setitem__("unitz", 3)),
        True,
        "config.json",
        True,
    ),
    "other_family": (
        lambda d: _edit_config(d, lambda c: c.__setitem__("family", "TweetyNet")),
        True,
        "config.json",
        True,
    ),
    "future_format_version": (
        lambda d: _edit_config(d, lambda c: c.__setitem__("format_version", 99)),
        True,
        "config.json",
        True,
    ),
    "checksums_corrupt": (
        lambda d: (d / "checksums.json").write_text("[1, 2"),
        False,
        "checksums.json",
        True,
    ),
}


def _flip(path: pathlib.Path, at: int) -> None:
    b = bytearray(path.read_bytes())
    b[at] ^= 0xFF
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("kind", list(MODEL_CASES))
def test_bad_model_folders(kind, tmp_path, model_dir):
    from vocalpy_xai.models import ESNDecoder

    folder = pathlib.Path(shutil.copytree(model_dir, tmp_path / "esn"))
    damage, reseal, named, verify = MODEL_CASES[kind]
    damage(folder)
    if reseal:
        _reseal(folder)
    with pytest.raises(ModelFolderError) as info:
        ESNDecoder.load(folder, verify=verify)
    _named(info.value, named)


def test_a_saved_model_is_never_overwritten(model, model_dir):
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    with pytest.raises(FileExistsError, match="never overwritten"):
        model.save(model_dir)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before


def test_eval_cli_names_the_corrupt_model(tmp_path, model_dir, tiny_store, capsys):
    from vocalpy_xai import cli

    folder = pathlib.Path(shutil.copytree(model_dir, tmp_path / "esn"))
    _flip(folder / "weights.npz", 1500)
    (tmp_path / "splits.csv").write_text("clip,split\n0,train\n1,train\n2,test\n")
    cfg = tmp_path / "eval.toml"
    cfg.write_text(
        f'[vak.eval]\ncheckpoint_path = "{folder}"\noutput_dir = "out"\n'
        f'[vak.eval.dataset]\npath = "{tiny_store}"\nsplits_path = "splits.csv"\n'
        "[vak.eval.model.ESNDecoder]\n"
    )
    assert cli.main(["eval", str(cfg)]) == 2
    assert "weights.npz" in capsys.readouterr().err


# ------------------------------------------------------------------------------ registry
@pytest.fixture(scope="module")
def registry_root(tmp_path_factory, model_dir) -> pathlib.Path:
    from vocalpy_xai.registry import Registry

    root = tmp_path_factory.mktemp("bad-reg") / "models"
    Registry(root).register(model_dir, "bird0", alias="production")
    return root


def _writable(path: pathlib.Path) -> pathlib.Path:
    path.chmod(0o644)
    return path


REGISTRY_CASES = [
    "registry_json_corrupt",
    "registry_json_not_a_manifest",
    "aliases_json_corrupt",
    "registered_weights_modified",
    "registered_file_removed",
    "unknown_model",
    "unknown_version",
    "unknown_alias",
    "missing_registry_folder",
    "register_a_non_model_folder",
]


@pytest.mark.parametrize("kind", REGISTRY_CASES)
def test_bad_registry(kind, tmp_path, registry_root):
    from vocalpy_xai.registry import Registry

    root = pathlib.Path(shutil.copytree(registry_root, tmp_path / "models"))
    version = root / "bird0" / "v0001"
    name, ref, named = "bird0", "latest", [root]
    if kind == "registry_json_corrupt":
        _writable(version / "registry.json").write_text('{"family": "ESNDecoder", ')
        named = [version / "registry.json"]
    elif kind == "registry_json_not_a_manifest":
        _writable(version / "registry.json").write_text("[]")
        named = [version / "registry.json"]
    elif kind == "aliases_json_corrupt":
        (root / "bird0" / "aliases.json").write_text("{oops")
        ref, named = "production", [root / "bird0" / "aliases.json"]
    elif kind == "registered_weights_modified":
        _flip(_writable(version / "model" / "weights.npz"), 1000)
        named = [version, "weights.npz"]
    elif kind == "registered_file_removed":
        (version / "model" / "metrics.json").unlink()
        named = [version, "metrics.json"]
    elif kind == "unknown_model":
        name, named = "bird1", ["bird1", root]
    elif kind == "unknown_version":
        ref, named = "7", ["bird0", "7"]
    elif kind == "unknown_alias":
        ref, named = "prod", ["bird0", "prod"]
    with pytest.raises(VocalpyXaiError) as info:
        if kind == "missing_registry_folder":
            named = [tmp_path / "modles"]
            Registry(tmp_path / "modles", create=False)
        elif kind == "register_a_non_model_folder":
            (tmp_path / "notes").mkdir()
            named = [tmp_path / "notes"]
            Registry(root).register(tmp_path / "notes", "x")
        else:
            Registry(root).load(name, ref)
    _named(info.value, *named)


# ------------------------------------------------------------------------------ server
@pytest.fixture(scope="module")
def data_root(tmp_path_factory, song) -> pathlib.Path:
    import librosa

    data, sr = song
    root = tmp_path_factory.mktemp("bad-data-root")
    (root / "songs").mkdir()
    soundfile.write(root / "songs" / "short.wav", data[: 2 * sr], sr)
    soundfile.write(root / "songs" / "long.wav", np.tile(data, 3), sr)  # > the 3-s limit
    soundfile.write(
        root / "songs" / "8k.wav",
        librosa.resample(data[: 2 * sr], orig_sr=sr, target_sr=8000),
        8000,
    )
    (root / "songs" / "notes.wav").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def client(registry_root, data_root):
    from fastapi.testclient import TestClient

    from vocalpy_xai.serve import create_app

    with TestClient(create_app(registry_root, data_root, max_duration_s=3.0)) as c:
        yield c


SERVER_CASES = {
    # request, status, words that must be in the answer
    "path_over_the_duration_limit": ("path", "songs/long.wav", 413, ["songs/long.wav", "3 s"]),
    "upload_over_the_duration_limit": ("upload", "songs/long.wav", 413, ["long.wav", "3 s"]),
    "path_outside_the_root": ("path", "../../etc/passwd", 403, ["outside the data root"]),
    "path_missing": ("path", "songs/nope.wav", 404, ["songs/nope.wav"]),
    "path_not_audio": ("path", "songs/notes.wav", 422, ["songs/notes.wav"]),
    "upload_not_audio": ("upload", "songs/notes.wav", 422, ["notes.wav"]),
    "path_at_8khz": ("path", "songs/8k.wav", 422, ["songs/8k.wav", "8000 Hz"]),
    "unknown_model": ("model", "songs/short.wav", 404, ["bird9"]),
}


@pytest.mark.parametrize("kind", list(SERVER_CASES))
def test_bad_server_requests(kind, client, data_root):
    how, rel, status, words = SERVER_CASES[kind]
    if how == "upload":
        path = data_root / rel
        r = client.post("/models/bird0/predict", files={"file": (path.name, path.read_bytes())})
    else:
        name = "bird9" if how == "model" else "bird0"
        r = client.post(f"/models/{name}/predict-path", json={"path": rel})
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail
    assert str(data_root) not in detail  # the server's own paths are never shown
    assert "Traceback" not in detail


def test_serve_refuses_a_missing_registry_folder(tmp_path, capsys, monkeypatch):
    from vocalpy_xai import cli

    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("served a missing registry"))
    assert cli.main(["serve", "--registry", str(tmp_path / "modles")]) == 2
    assert str(tmp_path / "modles") in capsys.readouterr().err
    assert cli.main(["models", "list", "--registry", str(tmp_path / "modles")]) == 2
    assert "no such registry folder" in capsys.readouterr().err
    assert not (tmp_path / "modles").exists()


# ------------------------------------------------------------------------------ configs
ESN = """
[vak.train]
root_results_dir = "results"

[vak.train.dataset]
path = "bird0.zarr"
splits_path = "bird0.splits.csv"

[vak.train.model.ESNDecoder.network]
units = 100
seed = 3
bidirectional = true

[vak.train.model.ESNDecoder.optimizer]
ridge = 1e-4

[vak.train.trainer]
accelerator = "cpu"
"""

PROTO = """
[vak.train]
root_results_dir = "results"

[vak.train.dataset]
path = "syll.zarr"
params = { window_s = 0.2 }

[vak.train.model.AudioProtoNet.network]
arch = "audio"
channels = [8, 16]

[vak.train.model.AudioProtoNet.optimizer]
epochs = 10
"""

TWEETY = """
[vak.prep]
data_dir = "Wave"
output_dir = "prepped"
dataset_type = "frame classification"
input_type = "spect"
audio_format = "wav"
annot_format = "birdsong-recognition-dataset"
annot_file = "Annotation.xml"
labelset = ["0", "1", "2"]
train_dur = -1
[vak.prep.spect_params]
fft_size = 512
freq_cutoffs = [500.0, 10000]
thresh = 6.25
[vak.train]
root_results_dir = "results"
num_epochs = 2
standardize_frames = true
[vak.train.dataset]
path = "prepped"
[vak.train.dataset.params]
window_size = 176
[vak.train.model.TweetyNet.optimizer]
lr = 0.001
[vak.train.trainer]
accelerator = "cpu"
devices = 1
"""

CONFIG_CASES = {
    # base, (old, new), words the message must hold (besides the file)
    "misspelt_dataset_key": (
        ESN,
        ("splits_path", "split_path"),
        ["[vak.train.dataset]", "'split_path'", "Did you mean 'splits_path'"],
    ),
    "bool_as_string": (
        ESN,
        ("bidirectional = true", 'bidirectional = "false"'),
        ["[vak.train.model.ESNDecoder.network]", "'bidirectional'", "true or false"],
    ),
    "int_as_string": (
        ESN,
        ("units = 100", 'units = "100"'),
        ["ESNDecoder.network]", "'units'", "an integer > 0", "'100' (a string)"],
    ),
    "seed_as_word": (ESN, ("seed = 3", 'seed = "three"'), ["'seed'", "an integer"]),
    "float_as_string": (
        ESN,
        ("ridge = 1e-4", 'ridge = "1e-4"'),
        ["[vak.train.model.ESNDecoder.optimizer]", "'ridge'", "a number >= 0"],
    ),
    "stride_as_string": (ESN, ("seed = 3", 'stride = "4"'), ["'stride'", "an integer > 0"]),
    "fractional_int": (ESN, ("units = 100", "units = 100.7"), ["'units'", "100.7"]),
    "negative_units": (ESN, ("units = 100", "units = -5"), ["'units'", "> 0", "-5"]),
    "leak_rate_out_of_range": (
        ESN,
        ("seed = 3", "leak_rate = 1.5"),
        ["'leak_rate'", "<= 1"],
    ),
    "missing_dataset_path": (
        ESN,
        ('path = "bird0.zarr"\n', ""),
        ["[vak.train.dataset]", "missing required key 'path'"],
    ),
    "missing_results_dir": (
        ESN,
        ('root_results_dir = "results"\n', ""),
        ["[vak.train]", "missing required key 'root_results_dir'"],
    ),
    "missing_dataset_table": (
        ESN,
        ('[vak.train.dataset]\npath = "bird0.zarr"\nsplits_path = "bird0.splits.csv"\n', ""),
        ["[vak.train]", "missing required key 'dataset'"],
    ),
    "toml_syntax_error": (ESN, ("units = 100", "units = = 100"), ["not valid TOML", "line"]),
    "unknown_top_level_table": (
        ESN,
        ("[vak.train]\n", "[vak.trian]\nx = 1\n[vak.train]\n"),
        ["[vak]", "'trian'", "Did you mean 'train'"],
    ),
    "unknown_model": (ESN, ("ESNDecoder", "ESNDecodr"), ["'ESNDecodr'", "ESNDecoder"]),
    "unknown_model_table": (
        ESN,
        ("ESNDecoder.optimizer]", "ESNDecoder.optimiser]"),
        ["model table 'optimiser'", "optimizer"],
    ),
    "unknown_model_key": (ESN, ("units =", "unit ="), ["'unit'", "Did you mean 'units'"]),
    "unknown_trainer_key": (
        ESN,
        ('accelerator = "cpu"', 'acelerator = "cpu"'),
        ["[vak.train.trainer]", "'acelerator'", "accelerator"],
    ),
    "table_as_value": (
        ESN,
        ("[vak.train.trainer]\n", "[vak.train.model.ESNDecoder.loss]\nonset_weight = [1]\n"),
        ["ESNDecoder.loss]", "'onset_weight'"],
    ),
    "protonet_arch_choice": (
        PROTO,
        ('arch = "audio"', 'arch = "audo"'),
        ["AudioProtoNet.network]", "'arch'", "'audio'"],
    ),
    "protonet_channels_item": (
        PROTO,
        ("channels = [8, 16]", "channels = [8, -16]"),
        ["'channels[1]'", "> 0"],
    ),
    "protonet_epochs_fraction": (
        PROTO,
        ("epochs = 10", "epochs = 10.5"),
        ["AudioProtoNet.optimizer]", "'epochs'"],
    ),
    "protonet_dataset_param": (
        PROTO,
        ("window_s = 0.2", "window = 0.2"),
        ["[vak.train.dataset.params]", "'window'", "window_s"],
    ),
    "protonet_negative_window": (
        PROTO,
        ("window_s = 0.2", "window_s = -0.2"),
        ["[vak.train.dataset.params]", "'window_s'", "> 0"],
    ),
    "vak_model_dataset_typo": (
        TWEETY,
        ('path = "prepped"', 'path = "prepped"\nsplit_path = "s.json"'),
        ["[vak.train.dataset]", "'split_path'", "splits_path"],
    ),
    "vak_key_type": (
        TWEETY,
        ("num_epochs = 2", 'num_epochs = "2"'),
        ["[vak.train]", "'num_epochs'", "an integer"],
    ),
    "missing_file": (None, ("", ""), ["config file not found"]),
}


@pytest.mark.parametrize("kind", list(CONFIG_CASES))
def test_bad_configs(kind, tmp_path):
    from vocalpy_xai.vak.run import check_config

    base, (old, new), words = CONFIG_CASES[kind]
    path = tmp_path / f"{kind}.toml"
    if base is not None:
        assert old in base
        path.write_text(base.replace(old, new))
    with pytest.raises(ConfigError) as info:
        check_config(path, "train")
    _named(info.value, path, *words)


@pytest.mark.parametrize(
    "kind, text, words",
    [
        ("missing", None, ["cannot read"]),
        ("wrong_columns", "file,set\n0,train\n", ["columns 'clip' and 'split'"]),
        ("clip_out_of_range", "clip,split\n0,train\n99,test\n", ["99", "row 3"]),
        ("clip_not_a_number", "clip,split\nzero,train\n", ["'zero'"]),
    ],
)
def test_bad_splits_files(kind, text, words, tmp_path):
    from vocalpy_xai.vak.run import read_splits

    path = tmp_path / f"{kind}.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_splits(path, 3)
    _named(info.value, path, *words)


def test_good_configs_pass(tmp_path):
    from vocalpy_xai.vak.run import check_config

    for i, text in enumerate((ESN, PROTO, TWEETY)):
        (tmp_path / f"{i}.toml").write_text(text)
        assert "dataset" in check_config(tmp_path / f"{i}.toml", "train")
    example = pathlib.Path(__file__).parents[1] / "examples" / "configs" / "protonet_bird0.toml"
    assert check_config(example, "train")["dataset"]["params"] == {"window_s": 0.2}


# ------------------------------------------------------------------------------ builds
def _bird0_manifest(example_bird0, n: int, tmp: pathlib.Path) -> pathlib.Path:
    from vocalpy_xai.io import Manifest

    m = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    out = tmp / "manifest.csv"
    Manifest(m.table.iloc[:n], m.root).write(out)
    return out


def test_a_build_killed_while_writing_leaves_nothing_behind(tmp_path, example_bird0):
    """SIGKILL while the store is written, then build again: the leftovers are removed."""
    manifest = _bird0_manifest(example_bird0, 6, tmp_path)
    store = tmp_path / "s.zarr"
    script = textwrap.dedent(
        f"""
        from vocalpy_xai.store import SpectrogramParams, build_store
        build_store({str(manifest)!r}, {str(store)!r}, SpectrogramParams(samplerate={SR}),
                    progress=False, num_workers=1)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 120
    try:
        while not list(tmp_path.glob(".s.zarr.tmp-*")):
            assert proc.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not store.exists() and list(tmp_path.glob(".s.zarr.tmp-*"))
    from vocalpy_xai.store import SpectrogramParams, build_store, open_store

    report = build_store(manifest, store, SpectrogramParams(samplerate=SR), progress=False)
    assert report.stored == 6 and report.reused == 6  # the killed build's pieces were reused
    assert open_store(store).sizes["clip"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv", "s.zarr"]


def test_a_refused_overwrite_leaves_no_staging_folder(tmp_path, tiny_store, example_bird0):
    from vocalpy_xai.errors import StoreError
    from vocalpy_xai.store import SpectrogramParams, build_store

    store = pathlib.Path(shutil.copytree(tiny_store, tmp_path / "s.zarr"))
    (tmp_path / "s.zarr.building").mkdir()  # an empty one, left by an older version
    manifest = _bird0_manifest(example_bird0, 2, tmp_path)
    with pytest.raises(StoreError) as info:
        build_store(manifest, store, SpectrogramParams(samplerate=SR), progress=False)
    _named(info.value, store)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.csv", "s.zarr"]


def test_build_store_cli_labels_and_one_summary(tmp_path, example_bird0, capsys):
    from vocalpy_xai import cli
    from vocalpy_xai.store import open_store

    manifest = _bird0_manifest(example_bird0, 3, tmp_path)
    args = ["build-store", str(manifest), str(tmp_path / "s.zarr"), "--samplerate", "32000"]
    # Bird0's songs 0-2 use labels 0-8: a label set without '8' makes a file bad, by name
    code = cli.main([*args, "--labels", "0,1,2,3,4,5,6,7", "--quiet", "--on-error", "raise"])
    err = capsys.readouterr().err
    assert code == 2 and "Annotation.xml" in err and "'8'" in err and "recording" in err
    assert cli.main([*args, "--labels", *"0 1 2 3 4 5 6 7 8 9".split(), "--quiet"]) == 0
    out = capsys.readouterr()
    assert (out.out + out.err).count("clip(s)") == 1  # the summary, once
    ds = open_store(tmp_path / "s.zarr")
    assert list(ds["class"].values) == ["background", *"0123456789"]
    assert all(os.path.isabs(p) for p in ds["source_path"].values.astype(str))
