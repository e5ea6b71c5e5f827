"""Model registry on a real ESNDecoder trained on bundled Bird0 songs."""

from __future__ import annotations

import argparse
import json
import threading

import numpy as np
import pytest

from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.registry import IntegrityError, Registry, RegistryError, register_family
from vocalpy_xai.registry import cli as registry_cli
from vocalpy_xai.store import open_store


@pytest.fixture(scope="module")
def model_dir(small_store, tmp_path_factory):
    model = ESNDecoder(ESNParams(units=100, seed=3)).fit(small_store, range(0, 6), progress=False)
    return model.save(tmp_path_factory.mktemp("m") / "esn", metrics={"syllable_error_rate": 0.1})


@pytest.fixture()
def reg(tmp_path):
    return Registry(tmp_path / "registry")


def test_register_load_alias_compare(reg, model_dir, small_store):
    v1 = reg.register(model_dir, "bird0-esn", note="first")
    v2 = reg.register(model_dir, "bird0-esn", metrics={"syllable_error_rate": 0.05})
    assert (v1.version, v2.version) == (1, 2)
    assert v1.family == "ESNDecoder" and v1.class_names[0] == "background"
    assert len(v1.data_sha256) == 64 and v1.manifest["summary"]["spectrogram"]["n_fft"] == 512
    assert set(v1.manifest["files"]) == {
        "config.json",
        "weights.npz",
        "metrics.json",
        "checksums.json",
    }
    reg.promote("bird0-esn", 1, "production")
    model = reg.load("bird0-esn", "production")
    assert isinstance(model, ESNDecoder) and model.registry_version_.version == 1
    ds = open_store(small_store)
    audio = ds["source_path"].values[10]
    np.testing.assert_array_equal(
        model.annotate(audio).labels, ESNDecoder.load(model_dir).annotate(audio).labels
    )
    assert reg.resolve("bird0-esn") == 2 and reg.resolve("bird0-esn", "v1") == 1
    table = reg.compare("bird0-esn")
    assert list(table.index) == [1, 2]
    assert (
        table.loc[1, "syllable_error_rate"] == 0.1 and table.loc[2, "syllable_error_rate"] == 0.05
    )
    assert table.loc[1, "aliases"] == "production"
    assert [str(r.version) for r in reg.list()] == ["1", "2"] and reg.models() == ["bird0-esn"]


def test_integrity_check_on_load(reg, model_dir):
    rec = reg.register(model_dir, "m")
    weights = rec.path / "weights.npz"
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="weights.npz: SHA-256 differs"):
        reg.load("m")
    (rec.path / "extra.txt").write_text("x")
    with pytest.raises(IntegrityError, match="extra.txt: not part"):
        reg.verify("m")


def test_delete_never_reuses_numbers(reg, model_dir):
    reg.register(model_dir, "m", alias="production")
    reg.register(model_dir, "m")
    with pytest.raises(RegistryError, match="aliased as production"):
        reg.delete("m", 1)
    reg.delete("m", 2)
    assert reg.register(model_dir, "m").version == 3
    reg.delete("m", "production", force=True)
    assert reg.aliases("m") == {} and [r.version for r in reg.list("m")] == [3]
    with pytest.raises(RegistryError, match="no version 1"):
        reg.load("m", 1)
    with pytest.raises(RegistryError, match="no alias 'staging'"):
        reg.load("m", "staging")


def test_concurrent_registrations_get_distinct_versions(reg, model_dir):
    out = []
    threads = [
        threading.Thread(target=lambda: out.append(reg.register(model_dir, "m").version))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == [1, 2, 3, 4]
    assert not [p for p in (reg.root / "m").iterdir() if p.name.startswith(".tmp")]


def test_other_families_and_bad_input(reg, tmp_path):
    d = tmp_path / "proto"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"kind": "ToyProtoNet", "classes": ["a", "b"]}))
    (d / "prototypes.npy").write_bytes(np.arange(4.0).tobytes())
    rec = reg.register(d, "proto")
    assert rec.family == "ToyProtoNet" and rec.class_names == ["a", "b"]
    with pytest.raises(RegistryError, match="no loader for model family 'ToyProtoNet'"):
        reg.load("proto")
    register_family("ToyProtoNet", lambda p: np.frombuffer((p / "prototypes.npy").read_bytes()))
    np.testing.assert_array_equal(reg.load("proto"), np.arange(4.0))
    with pytest.raises(RegistryError, match="no config.json"):
        reg.register(tmp_path, "x")
    with pytest.raises(RegistryError, match="invalid model name"):
        reg.register(d, "../escape")
    with pytest.raises(RegistryError, match="no model named 'nope'"):
        reg.load("nope")


def test_cli_functions(reg, model_dir, capsys):
    parser = argparse.ArgumentParser()
    registry_cli.add_parser(parser.add_subparsers(dest="command"))

    def run(*argv):
        args = parser.parse_args(["models", *argv, "--registry", str(reg.root)])
        return args.func(args)

    assert run("register", str(model_dir), "cli-model", "--alias", "production") == 0
    assert run("register", str(model_dir), "cli-model") == 0
    assert run("promote", "cli-model", "2", "--alias", "production") == 0
    assert run("compare", "cli-model") == 0
    assert run("verify", "cli-model", "production") == 0
    assert run("delete", "cli-model", "1") == 0
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "cli-model v2 (production)" in out and "deleted cli-model v1" in out
