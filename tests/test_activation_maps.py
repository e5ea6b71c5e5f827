"""The maps a person sees of a recording are drawn by the package's default attribution
method (the one chosen by the faithfulness figures), say so, report progress, and
``"linear"`` stays available as the fast preview; models expose the parts of a decision
publicly (:meth:`~vocalpy_xai.protonet.AudioProtoNet.explain_parts`,
:meth:`~vocalpy_xai.protonet.AudioProtoNet.cell_box`). Real bundled recordings and the
conftest models (a BirdNET-backbone species model, a CNN syllable model)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from vocalpy_xai.protonet import AudioProtoNet
from vocalpy_xai.protonet.evidence import recording_activations, top_prototypes
from vocalpy_xai.protonet.faithfulness import DEFAULT_METHOD


@pytest.fixture(scope="module")
def xc_clip(tmp_path_factory, example_xc10):
    """A bundled xeno-canto clip (6 s, 2 chunks) the BirdNET fixture model was not trained on."""
    table = pd.read_csv(example_xc10 / "labels.csv")
    name = sorted(table.loc[table["scientific_name"] == "Poecile rufescens", "mp3_file"])[2]
    clip = tmp_path_factory.mktemp("clips") / name.split("/")[-1]
    shutil.copy(example_xc10 / name, clip)
    return clip


def test_predict_any_draws_the_default_method_and_reports_progress(birdnet_protonet_dir, xc_clip):
    from vocalpy_xai.napari.activations import activation_layers
    from vocalpy_xai.napari.prediction import Classified, predict_any

    calls = []
    result = predict_any(birdnet_protonet_dir, xc_clip, progress=lambda d, t: calls.append((d, t)))
    assert isinstance(result, Classified)
    ds = result.activations
    assert ds.attrs["attribution"] == DEFAULT_METHOD
    n = ds.sizes["chunk"]
    assert n == 2 and calls == [(k, n) for k in range(n + 1)]
    # the napari layers name the method and carry it in their metadata
    layers = activation_layers(ds, 0)
    assert len(layers) == ds.sizes["prototype"]
    for _, kwargs, _ in layers:
        assert kwargs["name"].endswith(f", {DEFAULT_METHOD})")
        assert kwargs["metadata"]["vocalpy_xai"]["attribution"] == DEFAULT_METHOD

    # "linear" on request: the same decision, other maps (the cells' similarities upsampled)
    linear = predict_any(birdnet_protonet_dir, xc_clip, attribution="linear").activations
    assert linear.attrs["attribution"] == "linear"
    assert activation_layers(linear, 0)[0][1]["name"].endswith(", linear)")
    np.testing.assert_array_equal(linear["prototype"].values, ds["prototype"].values)
    np.testing.assert_allclose(linear["class_scores"].values, ds["class_scores"].values)
    assert linear["similarity"].shape == ds["similarity"].shape
    assert not np.allclose(linear["similarity"].values, ds["similarity"].values)


def test_cnn_recording_maps_default_and_linear(syllable_protonet_dir, example_bird0):
    """A CNN model's recording (the first 2 s of bundled song 19, as an array): the windows'
    maps laid end to end, drawn by the default method unless "linear" is asked; linear maps
    are the model's own (``explain``)."""
    import soundfile as sf

    model = AudioProtoNet.load(syllable_protonet_dir)
    audio, sr = sf.read(example_bird0 / "Wave" / "19.wav", dtype="float32")
    audio = audio[: 2 * sr]
    calls = []
    ds = recording_activations(model, audio, sr, progress=lambda d, t: calls.append((d, t)))
    assert ds.attrs["attribution"] == DEFAULT_METHOD
    width = model.window_frames_
    n_windows = int(np.ceil(ds.sizes["time"] / width))
    assert calls == [(k, n_windows) for k in range(n_windows + 1)] and n_windows == 10
    linear = recording_activations(model, audio, sr, attribution="linear")
    assert linear.attrs["attribution"] == "linear"
    np.testing.assert_allclose(linear["score"].values, ds["score"].values)
    assert linear["similarity"].shape == ds["similarity"].shape
    # the first window's linear maps are the model's explanation of that window (up to
    # float32 summation order: the recording's windows run in one batch)
    first = model.explain(linear["spectrogram"].values[0][None, :, :width], attribution="linear")
    expected = first["similarity"].values[0]
    np.testing.assert_allclose(
        linear["similarity"].values[0, :, :, :width],
        expected,
        rtol=1e-3,
        atol=1e-3 * np.abs(expected).max(),
    )
    # the default maps put each prototype's evidence elsewhere than the upsampled cells
    assert not np.allclose(ds["similarity"].values, linear["similarity"].values)


def test_explain_parts_and_cell_box_are_what_evidence_reads(birdnet_protonet_dir, xc_clip):
    from vocalpy_xai.birdnet import chunk_audio
    from vocalpy_xai.io.audio import load_audio

    model = AudioProtoNet.load(birdnet_protonet_dir)
    audio = load_audio(xc_clip, samplerate=48000, mono=True).sound.data[0]
    chunks = chunk_audio(audio, 48000).audio
    parts = model.explain_parts(chunks)
    assert set(parts) == {"logits", "proba", "maps", "scores"}
    np.testing.assert_allclose(parts["proba"], model.predict_proba(chunks), rtol=1e-6)
    assert parts["maps"].shape[:2] == (len(chunks), model.num_prototypes_)
    # the top prototype's match is the box of the cell where its map peaks
    (first, *_) = top_prototypes(model, chunks[:1], k=1)
    best = first["prototypes"][0]
    cell = np.unravel_index(np.argmax(parts["maps"][0, best["prototype"]]), parts["maps"].shape[2:])
    box = model.cell_box(*map(int, cell))
    assert best["match"] == {k: box[k] for k in ("t0_s", "t1_s", "f0_hz", "f1_hz")}
    assert 0.0 <= box["t0_s"] < box["t1_s"] <= 3.0 and box["f0_hz"] < box["f1_hz"]


@pytest.mark.parametrize("backbone", ["birdnet", "cnn"])
def test_predict_any_runs_the_backbone_once_per_chunk(
    backbone, request, xc_clip, example_bird0, tmp_path
):
    """The Predict dock's classification and maps come from one forward pass of the model's
    backbone over the recording (a spy on the real backbone counts the chunks it reads),
    and are what classify_recording and recording_activations give on their own."""
    import xarray as xr

    from vocalpy_xai.napari.prediction import predict_any
    from vocalpy_xai.protonet.evidence import classify_recording

    if backbone == "birdnet":
        model = AudioProtoNet.load(request.getfixturevalue("birdnet_protonet_dir"))
        audio = xc_clip
    else:
        import soundfile as sf

        model = AudioProtoNet.load(request.getfixturevalue("syllable_protonet_dir"))
        song, sr = sf.read(example_bird0 / "Wave" / "19.wav", dtype="float32")
        audio = tmp_path / "19-first-3s.wav"  # the first 3 s of bundled song 19
        sf.write(audio, song[: 3 * sr], sr)
    seen = []  # inputs per call of the backbone (BirdNET's trunk, the CNN)
    spy = model.network_.extractor.convnet.register_forward_hook(
        lambda module, args, out: seen.append(len(args[0]))
    )
    try:
        result = predict_any(model, audio, attribution="linear")
        n = len(result.classification.chunk_start_s)
        assert n > 1 and sum(seen) == n
        seen.clear()
        expected = classify_recording(model, audio)
        assert sum(seen) == n
        seen.clear()
        activations = recording_activations(model, audio, attribution="linear")
        assert sum(seen) == n
    finally:
        spy.remove()
    assert result.classification.to_dict() == expected.to_dict()
    xr.testing.assert_identical(result.activations, activations)
