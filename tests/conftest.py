"""Shared fixtures: real birdsong from the project's shared data and the bundled examples."""

from __future__ import annotations

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "data"
#: the project's shared data folder (real recordings); override with VOCALPY_XAI_SHARED_DATA
SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"
XC10 = SHARED / "xeno_canto_10_species"


@pytest.fixture(scope="session")
def bird0_dir() -> pathlib.Path:
    if not (BIRD0 / "Annotation.xml").exists():
        pytest.skip(f"shared Bird0 data not found at {BIRD0}")
    return BIRD0


@pytest.fixture(scope="session")
def xc10_dir() -> pathlib.Path:
    if not (XC10 / "labels.csv").exists():
        pytest.skip(f"shared xeno-canto data not found at {XC10}")
    return XC10


@pytest.fixture(scope="session")
def example_bird0() -> pathlib.Path:
    """20 Bird0 songs bundled in the repository (examples/data/bird0)."""
    return EXAMPLES / "bird0"


@pytest.fixture(scope="session")
def example_xc10() -> pathlib.Path:
    return EXAMPLES / "xeno_canto_10_species"


@pytest.fixture(scope="session")
def bird0_wav(example_bird0) -> pathlib.Path:
    return example_bird0 / "Wave" / "0.wav"


@pytest.fixture(scope="session")
def small_store(tmp_path_factory, example_bird0):
    """A store of the 20 bundled Bird0 songs (built once per session)."""
    from vocalpy_xai.io import Manifest
    from vocalpy_xai.store import SpectrogramParams, build_store

    path = tmp_path_factory.mktemp("stores") / "bird0-20.zarr"
    manifest = Manifest.from_annotation_file(
        example_bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    build_store(manifest, path, SpectrogramParams(samplerate=32000), progress=False)
    return path


@pytest.fixture
def song0(tmp_path, example_bird0) -> pathlib.Path:
    """A private copy of bundled Bird0 song 0 with its annotation as a simple-seq csv beside
    it (what the napari reader finds), in ``tmp_path``."""
    import shutil

    import crowsetta

    from vocalpy_xai.io import read_annotations, write_annotations

    wav = tmp_path / "0.wav"
    shutil.copy(example_bird0 / "Wave" / "0.wav", wav)
    annot = read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")[0]
    annot = crowsetta.Annotation(annot_path=tmp_path / "0.csv", notated_path=wav, seq=annot.seq)
    write_annotations(annot, tmp_path / "0.csv", "simple-seq")
    return wav
