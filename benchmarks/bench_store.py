"""Benchmark: the zarr spectrogram store vs vak's prepared dataset, on all 135 Bird0 songs.

Measured in one run, on the same machine, same files, same spectrogram size
(512-point FFT, hop 64 samples = 2 ms at 32 kHz, 257 frequency bins):

1. build time: ``vocalpy_xai.build_store`` (dask threads) vs ``vak prep`` as users run it
   (its default dask process pool) and vak prep on dask threads (its best case here);
2. random training batches: 64 one-second windows (500 frames) with their frame labels,
   from the store (``WindowSampler``) vs through vak's own ``TrainDatapipe`` (what
   ``vak train`` reads; ``benchmarks/vak_baseline.py``), median of 20 batches after warm-up,
   both from the OS page cache;
3. size on disk.

Goals (issue 2): reads >= 5x faster than vak's, build no slower. Results are written to
``benchmarks/results/store.json`` and ``store.md``. Run with ``nox -s benchmarks -- store``
or ``.venv/bin/python benchmarks/bench_store.py``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import vak_baseline  # noqa: E402
from results_io import RESULTS, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
BIRD0 = SHARED / "bengalese_finch_koumura_bird0"
N_BATCHES, BATCH, WINDOW = 20, 64, 500


def du(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def time_batches(read, n_batches: int = N_BATCHES, warmup: int = 2) -> dict:
    for _ in range(warmup):
        read()
    times = []
    for _ in range(n_batches):
        t0 = time.perf_counter()
        read()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main() -> dict:
    import vocalpy_xai as vx

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        # -- 1. builds ----------------------------------------------------------------
        manifest = vx.Manifest.from_annotation_file(
            BIRD0 / "Annotation.xml", "birdsong-recognition-dataset"
        )
        # imports are done before timing, as for vak (vak_baseline imports vak first):
        # librosa loads its spectrum module lazily on first use (~3 s once per process)
        import librosa.core.spectrum  # noqa: F401

        t0 = time.perf_counter()
        report = vx.build_store(
            manifest, work / "bird0.zarr", vx.SpectrogramParams(samplerate=32000), progress=False
        )
        ours_build = time.perf_counter() - t0
        assert report.stored == 135, report.summary()

        vak_builds = {}
        vak_path = None
        for scheduler in ("default", "threads"):
            config = vak_baseline.write_vak_prep_config(
                BIRD0 / "Wave",
                BIRD0 / "Annotation.xml",
                work / f"vak-{scheduler}",
                work / f"vak-{scheduler}.toml",
                fft_size=512,
                step_size=64,
            )
            path, seconds = vak_baseline.run_vak_prep(
                config, dask_scheduler=None if scheduler == "default" else scheduler
            )
            vak_builds[scheduler] = seconds
            vak_path = vak_path or path

        # -- 2. random batches ----------------------------------------------------------
        sampler = vx.WindowSampler(work / "bird0.zarr", window_frames=WINDOW, seed=0)
        ours_read = time_batches(lambda: sampler.batch(BATCH))
        sampler1 = vx.WindowSampler(work / "bird0.zarr", window_frames=WINDOW, seed=0, workers=1)
        ours_read_1 = time_batches(lambda: sampler1.batch(BATCH))
        reader = vak_baseline.vak_window_batch_reader(vak_path, window_size=WINDOW)
        rng = np.random.default_rng(0)
        vak_read = time_batches(lambda: reader(BATCH, rng))
        x, y = sampler.batch(BATCH)
        vak_frames, _ = reader(BATCH, rng)

        results = {
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "data": f"Bird0: {len(manifest)} songs, {float(report.seconds):.1f} s build",
            "build_s": {
                "vocalpy_xai": ours_build,
                "vak_prep_default": vak_builds["default"],
                "vak_prep_threads": vak_builds["threads"],
            },
            "build_speedup_vs_vak_default": vak_builds["default"] / ours_build,
            "build_speedup_vs_vak_threads": vak_builds["threads"] / ours_build,
            "batch_read_s": {
                "vocalpy_xai": ours_read,
                "vocalpy_xai_1_thread": ours_read_1,
                "vak_train_datapipe": vak_read,
            },
            "read_speedup": vak_read["median_s"] / ours_read["median_s"],
            "read_speedup_1_thread": vak_read["median_s"] / ours_read_1["median_s"],
            "batch": {
                "windows": BATCH,
                "frames": WINDOW,
                "ours_shape": list(x.shape),
                "vak_shape": list(vak_frames.shape),
            },
            "disk_bytes": {"vocalpy_xai": du(work / "bird0.zarr"), "vak": du(vak_path)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def markdown(results: dict) -> str:
    """``store.md`` from the results."""
    b, r, d = results["build_s"], results["batch_read_s"], results["disk_bytes"]
    lines = [
        "# Store benchmark: vocalpy-xai zarr store vs vak prepared dataset (Bird0, 135 songs)",
        "",
        "| measure | vocalpy-xai | vak | ratio (vak / ours) |",
        "|---|---|---|---|",
        f"| build (s), vak default | {b['vocalpy_xai']:.1f} | {b['vak_prep_default']:.1f} | "
        f"{results['build_speedup_vs_vak_default']:.2f}x |",
        f"| build (s), vak on threads | {b['vocalpy_xai']:.1f} | {b['vak_prep_threads']:.1f} | "
        f"{results['build_speedup_vs_vak_threads']:.2f}x |",
        f"| 64 x 1-s windows, median (ms) | {1e3 * r['vocalpy_xai']['median_s']:.1f} | "
        f"{1e3 * r['vak_train_datapipe']['median_s']:.1f} | {results['read_speedup']:.2f}x |",
        f"| same, store read on 1 thread (ms) | {1e3 * r['vocalpy_xai_1_thread']['median_s']:.1f}"
        f" | | {results['read_speedup_1_thread']:.2f}x |",
        f"| size on disk (MB) | {d['vocalpy_xai'] / 1e6:.0f} | {d['vak'] / 1e6:.0f} | "
        f"{d['vak'] / d['vocalpy_xai']:.1f}x |",
        "",
        f"Machine: {results['machine']['cores']} cores. Goals: reads >= 5x, build >= 1x.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # no options: --help describes the run instead of starting it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    write_results("store", main(), markdown, RESULTS)
