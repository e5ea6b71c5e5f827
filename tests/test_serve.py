"""The annotation service on real song: uploads, data-root paths, limits, OpenAPI fuzzing."""

from __future__ import annotations

import os
import pathlib

import crowsetta
import numpy as np
import pytest
from fastapi.testclient import TestClient

from vocalpy_xai.models import ESNDecoder, ESNParams
from vocalpy_xai.registry import Registry
from vocalpy_xai.serve import create_app, fastapi_app, resolve_inside
from vocalpy_xai.serve.paths import PathRefused

LIMIT = 400_000  # bytes: the bundled songs are 150-800 kB


@pytest.fixture(scope="module")
def registry(small_store, tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("reg") / "models")
    model = ESNDecoder(ESNParams(units=100, seed=0)).fit(small_store, range(0, 8), progress=False)
    reg.register(model, "bird0", alias="production")
    reg.register(model, "bird0")  # v2, not production
    return reg


@pytest.fixture(scope="module")
def songs(example_bird0):
    wav = sorted((example_bird0 / "Wave").glob("*.wav"), key=lambda p: os.path.getsize(p))
    return {"small": wav[0], "large": wav[-1], "root": example_bird0}


@pytest.fixture(scope="module")
def client(registry, songs):
    with TestClient(create_app(registry, songs["root"], max_upload_bytes=LIMIT)) as c:
        yield c


def test_upload_and_path_give_the_same_annotation(client, songs, registry, tmp_path):
    small = songs["small"]
    assert small.stat().st_size < LIMIT
    r = client.post("/models/bird0/predict", files={"file": (small.name, small.read_bytes())})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": "bird0", "version": 1, "family": "ESNDecoder"}
    expected = registry.load("bird0", 1).annotate(small)
    assert [s["label"] for s in body["segments"]] == list(expected.labels)
    np.testing.assert_allclose([s["onset_s"] for s in body["segments"]], expected.onsets_s)
    r2 = client.post(
        "/models/bird0/predict-path", json={"path": f"Wave/{small.name}", "version": "2"}
    )
    assert r2.status_code == 200 and r2.json()["model"]["version"] == 2
    assert r2.json()["segments"] == body["segments"]
    # simple-seq: a CSV crowsetta reads back
    r3 = client.post(
        "/models/bird0/predict-path?format=simple-seq", json={"path": f"Wave/{small.name}"}
    )
    assert r3.status_code == 200 and r3.headers["x-model-version"] == "1"
    csv = tmp_path / "pred.csv"
    csv.write_text(r3.text)
    seq = crowsetta.formats.by_name("simple-seq").from_file(csv)
    assert list(seq.labels.astype(str)) == list(expected.labels)
    models = client.get("/models").json()
    assert [(m["version"], m["aliases"]) for m in models] == [(1, ["production"]), (2, [])]


def test_paths_outside_the_data_root_are_refused(client, songs, tmp_path):
    root = songs["root"]
    outside = tmp_path / "secret.wav"
    outside.write_bytes(songs["small"].read_bytes())
    for bad in ("../bird0/../../etc/passwd", "/etc/passwd", str(outside), "Wave/../../x.wav"):
        r = client.post("/models/bird0/predict-path", json={"path": bad})
        assert r.status_code == 403, (bad, r.text)
    r = client.post("/models/bird0/predict-path", json={"path": "Wave/nope.wav"})
    assert r.status_code == 404
    # a symbolic link inside the root that points outside it
    link_root = tmp_path / "root"
    (link_root / "sub").mkdir(parents=True)
    (link_root / "sub" / "inside.wav").write_bytes(b"x")
    os.symlink(outside, link_root / "sub" / "escape.wav")
    os.symlink(tmp_path, link_root / "dirlink")
    with pytest.raises(PathRefused):
        resolve_inside(link_root, "sub/escape.wav")
    with pytest.raises(PathRefused):
        resolve_inside(link_root, "dirlink/secret.wav")
    assert (
        resolve_inside(link_root, "sub/../sub/inside.wav")
        == (link_root / "sub" / "inside.wav").resolve()
    )
    assert pathlib.Path(root).exists()


def test_no_data_root_refuses_paths(registry, songs):
    with TestClient(create_app(registry, None)) as c:
        r = c.post("/models/bird0/predict-path", json={"path": "Wave/0.wav"})
    assert r.status_code == 403


def test_oversized_uploads_get_413(client, songs):
    large = songs["large"]
    assert large.stat().st_size > LIMIT
    r = client.post("/models/bird0/predict", files={"file": (large.name, large.read_bytes())})
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():  # a well-formed multipart body without Content-Length: counted as it streams
        data = (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n" + large.read_bytes() + b"\r\n--xyz--\r\n"
        )
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    r = client.post(
        "/models/bird0/predict",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code == 413


def test_errors_are_clear(client, songs):
    small = songs["small"]
    r = client.post("/models/nope/predict", files={"file": ("a.wav", small.read_bytes())})
    assert r.status_code == 404 and "no model named 'nope'" in r.json()["detail"]
    r = client.post("/models/bird0/predict?version=staging", files={"file": ("a.wav", b"123")})
    assert r.status_code == 404
    r = client.post("/models/bird0/predict", files={"file": ("a.wav", b"not audio at all")})
    assert r.status_code == 422 and "a.wav" in r.json()["detail"]


def test_openapi_fuzzing_finds_no_server_error(registry, songs, birdnet_protonet_dir, tmp_path):
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error

    both = Registry(tmp_path / "models")  # an annotation model and a classifier
    both.register(registry.list("bird0")[0].path, "bird0")
    both.register(birdnet_protonet_dir, "xc")
    app = create_app(both, songs["root"], max_upload_bytes=LIMIT)
    spec = fastapi_app(app).openapi()
    assert {
        "/models/{name}/predict",
        "/models/{name}/predict-path",
        "/models/{name}/classify",
        "/models/{name}/classify-path",
        "/models",
    } <= set(spec["paths"])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for op in schema.get_all_operations():
        operation = op.ok()

        @hypothesis.settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(checks=[not_a_server_error])

        check()


def test_serve_verb_defaults_to_loopback():
    import argparse

    from vocalpy_xai.serve import cli as serve_cli

    parser = argparse.ArgumentParser()
    serve_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--data-root", "/data"])
    assert args.host == "127.0.0.1" and args.func is serve_cli.cmd_serve
    assert args.max_upload_mb == 50
