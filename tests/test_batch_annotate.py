"""Batch annotation on dask: a task is a list of files through the ESN's batched path (issue 16)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vocalpy_xai import batch
from vocalpy_xai.io import SegmentTable, read_annotations

#: the held-out bundled Bird0 songs (the shared ESN never trained on them)
HELD_OUT = range(14, 20)


@pytest.fixture(scope="module")
def model_dir(trained_esn, tmp_path_factory):
    return trained_esn.save(tmp_path_factory.mktemp("batch") / "esn")


@pytest.mark.distributed
def test_tasks_of_many_files_equal_annotate_and_resume(
    trained_esn, model_dir, example_bird0, tmp_path, monkeypatch
):
    """Songs in several multi-file tasks on 2 workers: every annotation file holds what
    ``annotate()`` gives for its song, a bad file is listed at the end, a rerun skips all."""
    from distributed import LocalCluster

    songs = tmp_path / "songs"
    songs.mkdir()
    for i in HELD_OUT:
        shutil.copy(example_bird0 / "Wave" / f"{i}.wav", songs / f"{i}.wav")
    (songs / "99.wav").write_bytes(b"RIFF not a wav")
    files = batch.audio_files(songs)
    monkeypatch.setattr(batch, "TASK_AUDIO_S", 15.0)  # ~2 songs a task: several tasks
    tasks = batch._tasks(files, n_workers=2)
    assert len(tasks) >= 3 and any(len(t) > 1 for t in tasks)
    assert sorted(i for t in tasks for i in t) == list(range(len(files)))  # each file once

    out = tmp_path / "out"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        report = batch.annotate_files(
            songs, model_dir, out, scheduler=cluster.scheduler_address, progress=False
        )
        assert len(report.written) == len(HELD_OUT) and not report.skipped
        assert len(report.failures) == 1 and "99.wav" in report.failures[0]
        for i in HELD_OUT:
            path = out / f"{i}.wav.csv"
            got = SegmentTable.from_annotation(read_annotations(path, "simple-seq")[0])
            want = trained_esn.annotate(songs / f"{i}.wav")
            assert len(want) > 10
            np.testing.assert_array_equal(got.labels, want.labels)
            # crowsetta's simple-seq reader rounds times to the millisecond (``to_seq``)
            np.testing.assert_allclose(got.onsets_s, want.onsets_s, atol=5e-4 + 1e-9)
            np.testing.assert_allclose(got.offsets_s, want.offsets_s, atol=5e-4 + 1e-9)
            record = json.loads((out / batch.RECORDS_DIR / f"{i}.wav.csv.json").read_text())
            assert record["segments"] == len(want) and len(record["audio_sha256"]) == 64
        before = {p: p.stat().st_mtime_ns for p in out.glob("*.wav.csv")}

        again = batch.annotate_files(
            songs, model_dir, out, scheduler=cluster.scheduler_address, progress=False
        )
    assert not again.written and len(again.skipped) == len(HELD_OUT)
    assert len(again.failures) == 1
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.wav.csv")} == before
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind


@pytest.mark.distributed
def test_local_cluster_workers_run_without_dask_malloc_trim():
    """dask's MALLOC_TRIM_THRESHOLD_ made every large numpy temporary page-fault again in
    the workers (2.3x the CPU of annotation): a batch's local cluster starts them without."""
    import os

    from distributed import Client

    with batch.local_cluster(1) as cluster, Client(cluster) as client:
        env = client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_")
    assert list(env.values()) == [None]


def test_a_task_reads_each_new_file_once_and_records_what_it_decoded(
    model_dir, example_bird0, tmp_path, monkeypatch
):
    """The record's SHA-256 is that of the bytes the model decoded, read with them (one read
    of a new file, spied on the real reader); a rerun hashes the annotated files to decide,
    skips the unchanged ones and annotates a changed one again."""
    from vocalpy_xai.io import audio as audio_io

    songs = tmp_path / "songs"
    songs.mkdir()
    for i in (14, 15):
        shutil.copy(example_bird0 / "Wave" / f"{i}.wav", songs / f"{i}.wav")
    audios = [str(songs / f"{i}.wav") for i in (14, 15)]
    out = tmp_path / "out"
    outputs = [str(out / f"{i}.wav.csv") for i in (14, 15)]
    calls = {"read_hashed": [], "sha256_file": []}
    for name in calls:
        real = getattr(audio_io, name)

        def spy(path, *args, _real=real, _name=name, **kwargs):
            calls[_name].append(str(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(audio_io, name, spy)
    monkeypatch.setattr(batch, "sha256_file", audio_io.sha256_file)
    digest = batch.model_hash(model_dir)

    def run():
        for c in calls.values():
            c.clear()
        return batch._annotate_task(
            audios, outputs, str(out), str(model_dir), digest, "esn", "simple-seq"
        )

    assert [r["status"] for r in run()] == ["written", "written"]
    assert sorted(calls["read_hashed"]) == audios and not calls["sha256_file"]
    for a, o in zip(audios, outputs, strict=True):
        rec = json.loads(batch._record_path(out, batch.pathlib.Path(o)).read_text())
        assert rec["audio_sha256"] == batch.hashlib.sha256(open(a, "rb").read()).hexdigest()

    assert [r["status"] for r in run()] == ["skipped", "skipped"]
    assert sorted(calls["sha256_file"]) == audios and not calls["read_hashed"]

    data = bytearray(open(audios[1], "rb").read())
    data[-200:] = bytes(200)  # the song's last samples silenced: other audio
    open(audios[1], "wb").write(bytes(data))
    assert [r["status"] for r in run()] == ["skipped", "written"]
    assert calls["read_hashed"] == [audios[1]]
    rec = json.loads(batch._record_path(out, batch.pathlib.Path(outputs[1])).read_text())
    assert rec["audio_sha256"] == batch.hashlib.sha256(bytes(data)).hexdigest()
