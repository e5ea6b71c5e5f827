"""Store builds: bad files reported or refused, interrupted builds resume, dask.distributed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import soundfile
import xarray as xr

from vocalpy_xai.errors import AnnotationError, AudioError, BuildError, StoreError
from vocalpy_xai.io import Manifest
from vocalpy_xai.store import SpectrogramParams, build_store, open_store

PARAMS = SpectrogramParams(samplerate=32000)


def _assert_same_store(a, b):
    ds_a, ds_b = open_store(a), open_store(b)
    xr.testing.assert_identical(ds_a.load(), ds_b.load())


@pytest.fixture
def mixed_folder(tmp_path, example_bird0):
    """Six real songs with simple-seq annotations, four of them broken in different ways."""
    from vocalpy_xai.io import SegmentTable, read_annotations, write_annotations

    annots = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")
    audio, annot_paths = [], []
    for i in range(6):
        wav = tmp_path / f"{i}.wav"
        shutil.copy(example_bird0 / "Wave" / f"{i}.wav", wav)
        csv = write_annotations(annots[i], tmp_path / f"{i}.wav.csv", "simple-seq")
        audio.append(wav)
        annot_paths.append(csv)
    # 1: truncated audio; 2: empty file; 3: pure silence; 4: overlapping annotation
    data = (tmp_path / "1.wav").read_bytes()
    (tmp_path / "1.wav").write_bytes(data[: len(data) // 3])
    (tmp_path / "2.wav").write_bytes(b"")
    soundfile.write(tmp_path / "3.wav", np.zeros(32000 * 2, np.int16), 32000)
    seg = SegmentTable.from_annotation(annots[4])
    on, off = seg.onsets_s.copy(), seg.offsets_s.copy()
    off[2] = on[3] + 0.01  # syllable 2 now runs into syllable 3
    pd.DataFrame({"onset_s": on, "offset_s": off, "label": seg.labels}).to_csv(
        annot_paths[4], index=False
    )
    return Manifest.from_pairs(audio, annot_paths, "simple-seq")


def test_skip_reports_every_bad_file_and_stores_the_good_ones(mixed_folder, tmp_path):
    report = build_store(mixed_folder, tmp_path / "out.zarr", PARAMS, progress=False)
    assert report.stored == 2
    problems = {os.path.basename(str(e.path)): (type(e), e.problem) for e in report.failures}
    assert set(problems) == {"1.wav", "2.wav", "3.wav", "4.wav.csv"}
    assert problems["1.wav"][0] is AudioError and "truncated WAV" in problems["1.wav"][1]
    assert "file is empty" in problems["2.wav"][1]
    assert "pure silence" in problems["3.wav"][1]
    assert problems["4.wav.csv"][0] is AnnotationError
    assert "overlaps itself" in problems["4.wav.csv"][1]
    summary = report.summary()
    assert "4 bad file(s) were skipped" in summary and "1.wav: truncated WAV" in summary
    ds = open_store(report.path)
    assert [p.rsplit("/", 1)[-1] for p in ds["source_path"].values] == ["0.wav", "5.wav"]


def test_raise_refuses_before_writing_anything(mixed_folder, tmp_path):
    out = tmp_path / "refused.zarr"
    with pytest.raises(BuildError, match=r"4 bad input file\(s\); nothing was written") as info:
        build_store(mixed_folder, out, PARAMS, on_error="raise", progress=False)
    assert len(info.value.failures) == 4
    assert not out.exists() and not out.with_name("refused.zarr.building").exists()


def test_unknown_labels_make_a_file_bad(example_bird0, tmp_path):
    manifest = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    ).subset(range(4))
    with pytest.raises(BuildError) as info:
        build_store(
            manifest,
            tmp_path / "x.zarr",
            PARAMS,
            labels=["0", "1"],
            on_error="raise",
            progress=False,
        )
    assert all("unknown label(s)" in e.problem for e in info.value.failures)


@pytest.mark.distributed
def test_localcluster_build_is_identical(small_store, example_bird0, tmp_path):
    from distributed import Client, LocalCluster

    manifest = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        report = build_store(
            manifest, tmp_path / "dist.zarr", PARAMS, client=client, progress=False
        )
    assert report.stored == 20
    _assert_same_store(small_store, report.path)


def _finished(pieces):
    """Pieces renamed into place (temporary files start with a dot)."""
    return [p for p in pieces.glob("*.npz") if not p.name.startswith(".")]


BUILD_SCRIPT = textwrap.dedent("""
    import sys
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store
    m = Manifest.from_annotation_file(sys.argv[1], "birdsong-recognition-dataset")
    r = build_store(m, sys.argv[2], SpectrogramParams(samplerate=32000), num_workers=1,
                    progress=False)
    print("reused", r.reused, "computed", r.computed)
""")


def test_killed_build_leaves_no_store_and_resumes(small_store, example_bird0, tmp_path):
    """SIGKILL a build once some spectrograms are done; the rerun reuses them."""
    out = tmp_path / "resumed.zarr"
    script = tmp_path / "build.py"
    script.write_text(BUILD_SCRIPT)
    args = [sys.executable, str(script), str(example_bird0 / "Annotation.xml"), str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pieces = out.with_name("resumed.zarr.building") / "pieces"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pieces.exists() and len(_finished(pieces)) >= 5:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(_finished(pieces))
    assert 5 <= done < 20
    assert not out.exists()
    with pytest.raises(StoreError, match="interrupted build"):
        open_store(out)

    rerun = subprocess.run(args, capture_output=True, text=True, check=True)
    reused = int(rerun.stdout.split()[1])
    assert reused == done  # every finished spectrogram is reused, none recomputed
    assert not pieces.parent.exists()  # staging is cleaned up after success
    _assert_same_store(small_store, out)
