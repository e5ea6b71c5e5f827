"""Your own bird from the command line: a folder of evTAF ``.cbin`` songs with ``.not.mat``
annotations -> manifest -> store -> ESN trained from a vak config -> annotations of the rest,
on a dask.distributed cluster, resumable, bad files listed.

The folder is made at test time from the bundled Bird0 songs (examples/data/bird0, CC BY 4.0):
each WAV's int16 samples written as big-endian int16 (evTAF ``.cbin``) beside a ``.rec``
header (``Chans``, ``ADFREQ``, ``Samples``, as :func:`evfuncs.readrecf` parses them), and the
Koumura annotation of the song written by crowsetta as ``x.cbin.not.mat``.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import crowsetta
import numpy as np
import pytest
import soundfile

from vocalpy_xai import cli
from vocalpy_xai.io import Manifest, load_audio, read_annotations, write_annotations
from vocalpy_xai.metrics import syllable_error_rate

#: songs written as .cbin; the first N_ANNOTATED get a .not.mat
SONGS = list(range(10))
N_ANNOTATED = 6

ESN_CONFIG = """
[vak.train]
root_results_dir = "results"

[vak.train.dataset]
path = "store.zarr"

[vak.train.model.ESNDecoder.network]
units = 400
seed = 0

[vak.train.trainer]
accelerator = "cpu"
"""


def write_cbin(wav, cbin) -> None:
    """Write a WAV's samples as evTAF .cbin (big-endian int16) + .rec header."""
    data, sr = soundfile.read(wav, dtype="int16")
    data.astype(">i2").tofile(cbin)
    cbin.with_suffix(".rec").write_text(f"Chans = 1\nADFREQ = {sr}\nSamples = {len(data)}\n")


@pytest.fixture(scope="module")
def scheduler():
    """An in-process dask.distributed cluster (2 workers), passed to the CLI's --scheduler."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def truth(example_bird0):
    return read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")


@pytest.fixture(scope="module")
def cbin_folder(tmp_path_factory, example_bird0, truth):
    folder = tmp_path_factory.mktemp("own") / "bird0-cbin"
    folder.mkdir()
    for i in SONGS:
        cbin = folder / f"bird0_{i:03d}.cbin"
        write_cbin(example_bird0 / "Wave" / f"{i}.wav", cbin)
        if i < N_ANNOTATED:
            annot = crowsetta.Annotation(
                annot_path=folder / f"{cbin.name}.not.mat", notated_path=cbin, seq=truth[i].seq
            )
            write_annotations(annot, folder / f"{cbin.name}.not.mat", "notmat", samplerate=32000)
    return folder


def test_cbin_round_trip_is_exact(cbin_folder, example_bird0, truth):
    """The .cbin reads back sample for sample; the .not.mat reads back the same segments."""
    wav = load_audio(example_bird0 / "Wave" / "3.wav").sound.data
    cbin = load_audio(cbin_folder / "bird0_003.cbin")
    np.testing.assert_array_equal(cbin.sound.data, wav)
    assert cbin.sound.samplerate == 32000
    seg = read_annotations(cbin_folder / "bird0_003.cbin.not.mat", "notmat")[0].seq
    assert seg.labels.tolist() == truth[3].seq.labels.tolist()
    np.testing.assert_allclose(seg.onsets_s, truth[3].seq.onsets_s, atol=1e-6)


def test_manifest_from_folder_lists_every_unpaired_file(
    cbin_folder, example_bird0, tmp_path, capsys
):
    out = tmp_path / "manifest.csv"
    # the command: a folder given to `manifest annotations` works too
    rc = cli.main(
        ["manifest", "annotations", str(cbin_folder), "--format", "notmat", "-o", str(out)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert f"{len(SONGS) - N_ANNOTATED} audio file(s) without a 'notmat' annotation" in err
    for i in SONGS[N_ANNOTATED:]:
        assert f"bird0_{i:03d}.cbin" in err  # every one listed, not just the first

    # annotations without audio are listed too (all of them)
    odd = tmp_path / "odd"
    shutil.copytree(cbin_folder, odd)
    for name in ("bird0_000", "bird0_001"):
        (odd / f"{name}.cbin").unlink()
    with pytest.raises(ValueError) as info:
        Manifest.from_folder(odd, "notmat", unannotated="skip")
    assert "2 'notmat' annotation file(s) without their audio file" in str(info.value)
    assert "bird0_000.cbin.not.mat" in str(info.value)
    assert "bird0_001.cbin.not.mat" in str(info.value)

    # x.wav + x.csv ("replace" convention) and x.wav.csv ("remove") for simple-seq
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for name in ("a", "b"):
        shutil.copy(example_bird0 / "Wave" / "0.wav", wavs / f"{name}.wav")
    seq = read_annotations(cbin_folder / "bird0_000.cbin.not.mat", "notmat")[0].seq
    for target in (wavs / "a.wav.csv", wavs / "b.csv"):
        write_annotations(
            crowsetta.Annotation(annot_path=target, notated_path=wavs / "a.wav", seq=seq),
            target,
            "simple-seq",
        )
    m = Manifest.from_folder(wavs, "simple-seq")
    assert [p.name for p in m.audio_paths] == ["a.wav", "b.wav"]
    assert [pathlib.Path(p).name for p in m.table["annot_path"]] == ["a.wav.csv", "b.csv"]


@pytest.mark.distributed
def test_cbin_folder_to_trained_model_to_annotations(
    cbin_folder, truth, scheduler, tmp_path, capsys
):
    """manifest -> build-store -> train (vak config) -> annotate (dask), from the command line."""
    work = tmp_path
    assert (
        cli.main(
            [
                "manifest",
                "folder",
                str(cbin_folder),
                "--format",
                "notmat",
                "--unannotated",
                "skip",
                "-o",
                str(work / "manifest.csv"),
            ]
        )
        == 0
    )
    manifest = Manifest.read(work / "manifest.csv")
    assert len(manifest) == N_ANNOTATED
    rc = cli.main(["build-store", str(work / "manifest.csv"), str(work / "store.zarr"), "--quiet"])
    assert rc == 0
    (work / "esn.toml").write_text(ESN_CONFIG)
    assert cli.main(["train", str(work / "esn.toml"), "--quiet"]) == 0
    model_dir = next((work / "results").glob("results_*/ESNDecoder"))

    # a bad file among the songs: listed at the end, the others annotated
    songs = work / "songs"
    shutil.copytree(cbin_folder, songs)
    (songs / "broken.cbin").write_bytes(b"\x00\x01" * 10)
    (songs / "broken.rec").write_text("Chans = 1\nADFREQ = 32000\nSamples = 64000\n")
    out = work / "annotations"
    rc, printed = annotate(capsys, songs, str(model_dir), out, scheduler)
    assert rc == 0
    assert f"{len(SONGS)} file(s) done, 0 already done (skipped), 1 bad file(s)" in printed
    assert "broken.cbin: truncated .cbin" in printed
    # the songs the model never saw: annotated almost as the human did
    sers = []
    for i in SONGS[N_ANNOTATED:]:
        pred = read_annotations(out / f"bird0_{i:03d}.cbin.not.mat", "notmat")[0].seq
        sers.append(syllable_error_rate(truth[i].seq.labels, pred.labels))
    assert np.mean(sers) < 0.2, sers  # measured 0.086 with 6 training songs, 400 units
    # annotations + audio pair back up into a manifest for the next store
    again = Manifest.read(out / "manifest.csv")
    assert len(again) == len(SONGS) and again.has_annotations
    assert set(again.segments()) == set(again.table["audio_path"])

    # resumable: a rerun with the same model (here: registered, same files) skips every file
    reg = work / "registry"
    assert cli.main(["models", "register", str(model_dir), "my-bird", "--registry", str(reg)]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.not.mat")}
    rc, printed = annotate(capsys, songs, "my-bird@latest", out, scheduler, "--registry", str(reg))
    assert rc == 0 and f"0 file(s) done, {len(SONGS)} already done (skipped)" in printed
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.not.mat")} == before
    record = json.loads(next((out / ".vocalpy-xai-annotate").glob("*.json")).read_text())
    assert len(record["audio_sha256"]) == 64 and len(record["model_sha256"]) == 64

    # an annotation the tool did not write (a person's) is never overwritten: listed instead
    hand = cbin_folder / "bird0_000.cbin.not.mat"
    (work / "mixed").mkdir()
    shutil.copy(hand, work / "mixed" / hand.name)
    rc, printed = annotate(capsys, cbin_folder, str(model_dir), work / "mixed", scheduler)
    assert rc == 0 and "1 bad file(s)" in printed
    assert "bird0_000.cbin.not.mat: exists and was not written by vocalpy-xai annotate" in printed
    assert (work / "mixed" / hand.name).read_bytes() == hand.read_bytes()

    # a manifest, or one file, in place of a folder
    rc, printed = annotate(capsys, work / "manifest.csv", str(model_dir), work / "m", scheduler)
    assert rc == 0 and f"{N_ANNOTATED} file(s) done" in printed
    one = songs / "bird0_007.cbin"
    rc, printed = annotate(capsys, one, str(model_dir), work / "one", scheduler)
    assert rc == 0 and "1 file(s) done" in printed
    single, batch = (
        read_annotations(d / "bird0_007.cbin.not.mat", "notmat")[0].seq for d in (work / "one", out)
    )
    assert single.labels.tolist() == batch.labels.tolist()
    np.testing.assert_allclose(single.onsets_s, batch.onsets_s)


def annotate(capsys, source, model: str, out, scheduler: str, *extra: str) -> tuple[int, str]:
    """``vocalpy-xai annotate SOURCE --model MODEL --out OUT --format notmat`` on the cluster."""
    capsys.readouterr()
    args = ["annotate", str(source), "--model", model, "--out", str(out), "--format", "notmat"]
    rc = cli.main([*args, "--scheduler", scheduler, *extra])
    return rc, capsys.readouterr().out
