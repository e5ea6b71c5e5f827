"""Benchmark: the annotation service on loopback under a bounded concurrent load.

An ESNDecoder trained on 14 of the bundled Bird0 songs is registered in a temporary
registry; ``vocalpy-xai serve``'s application runs under uvicorn in a child process on
127.0.0.1, and an asyncio client (httpx) sends ``--requests`` annotation requests with at
most ``--concurrency`` in flight: by path under the data root (most) and as uploads (every
fifth), over the 20 bundled songs. Reported: throughput, latency percentiles (p50, p99),
errors (any non-200 answer or exception: must be 0), and the audio seconds annotated per
second. Then the limits (an oversized upload -> 413, a traversal -> 403) are checked, and
schemathesis fuzzes every operation of the live server's OpenAPI spec (``--fuzz-examples``
cases each), counting server errors (5xx; must be 0).

Results: ``benchmarks/results/serve.json`` and ``serve.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
DATA = REPO / "examples" / "data" / "bird0"
RESULTS = pathlib.Path(os.environ.get("VOCALPY_XAI_BENCH_RESULTS", HERE / "results"))
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
    return reg.root


async def load(base: str, n: int, concurrency: int, wavs: list[pathlib.Path]) -> dict:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    latencies, errors = [], []
    audio_s = 0.0
    durations = {p: os.path.getsize(p) / (2 * 32000) for p in wavs}  # 16-bit mono 32 kHz

    async def one(i: int, client: httpx.AsyncClient) -> None:
        nonlocal audio_s
        wav = wavs[i % len(wavs)]
        async with sem:
            t = time.perf_counter()
            try:
                if i % 5 == 4:
                    r = await client.post(
                        f"{base}/models/bird0-esn/predict",
                        files={"file": (wav.name, wav.read_bytes(), "audio/wav")},
                    )
                else:
                    r = await client.post(
                        f"{base}/models/bird0-esn/predict-path", json={"path": f"Wave/{wav.name}"}
                    )
                ok = r.status_code == 200 and r.json()["model"]["version"] == 1
                if not ok:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except Exception as err:  # every failure is counted
                errors.append(repr(err))
            else:
                audio_s += durations[wav] if ok else 0
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


def limits(base: str, big: pathlib.Path) -> dict:
    import httpx

    with httpx.Client(timeout=60) as c:
        r1 = c.post(
            f"{base}/models/bird0-esn/predict",
            files={"file": ("big.wav", big.read_bytes() * 4, "audio/wav")},
        )
        r2 = c.post(f"{base}/models/bird0-esn/predict-path", json={"path": "../../../etc/passwd"})
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
            [sys.executable, str(script), str(root), str(DATA), str(port), str(LIMIT)]
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
            asyncio.run(load(base, 8, 2, wavs))  # warm-up: model load and first calls
            result = {"load": asyncio.run(load(base, args.requests, args.concurrency, wavs))}
            result["limits"] = limits(base, max(wavs, key=os.path.getsize))
            result["fuzz"] = fuzz(base, args.fuzz_examples)
            result["units"] = args.units
            result["upload_limit_bytes"] = LIMIT
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    write(result)


def write(r: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(r, indent=2))
    load_, lim, fz = r["load"], r["limits"], r["fuzz"]
    lines = [
        "# Annotation service on loopback (uvicorn, one process; ESNDecoder, "
        f"{r['units']} units, bundled Bird0 songs)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests / max in flight | {load_['requests']} / {load_['concurrency']} |",
        f"| errors | **{load_['errors']}** |",
        f"| throughput | {load_['throughput_rps']:.1f} requests/s |",
        f"| audio annotated | {load_['audio_s_per_s']:.0f} s of song per s |",
        f"| latency p50 / p99 / max | {load_['latency_p50_ms']:.0f} / "
        f"{load_['latency_p99_ms']:.0f} / {load_['latency_max_ms']:.0f} ms |",
        f"| oversized upload ({r['upload_limit_bytes']} B limit) | "
        f"{lim['oversized_upload_status']} |",
        f"| path traversal | {lim['traversal_status']} |",
        f"| schemathesis: operations / cases / server errors | {fz['operations']} / "
        f"{fz['cases']} / **{fz['server_errors']}** |",
        "",
    ]
    (RESULTS / "serve.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
