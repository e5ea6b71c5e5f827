"""Benchmark: what drawing a recording's activation maps with the default method costs.

The maps a person sees (napari's Predict dock, :func:`vocalpy_xai.napari.predict_any`,
:func:`vocalpy_xai.protonet.recording_activations`) are drawn with
:data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD` (chosen by the faithfulness
figures of ``bench_explainable_species.py``); ``"linear"`` (the prototypes' own cell maps
upsampled) is the fast preview. This measures both on the same recordings, in the same run,
with the same model:

* BirdNET backbone: an AudioProtoNet with the package's default head for BirdNET
  (``ProtoNetParams(backbone="birdnet")``) on the frozen BirdNET V2.4 features, trained on
  the first 2 bundled xeno-canto clips of each of the 10 species (3-s chunks, no overlap);
  the recording: the 3rd bundled clip of each of the first 5 species laid end to end (30 s
  of real audio, 10 chunks of 3 s); the maps of the chunks' and the recording's top
  prototypes are drawn (``prototypes="top"``);
* CNN backbone: an AudioProtoNet of the package's default architecture trained briefly
  (2 epochs) on the syllables of bundled Bird0 songs 0-5 (0.2-s windows, 0-8 kHz), on
  bundled song 19 (15.2 s; every prototype's map of each 0.2-s window).

Each recording is run once per method cold (the first call in the process pays torch's
warm-up), then ``REPEATS`` times alternating the methods; the figure is the median of the
repeats and the ratio default / linear. Wall clock on 2 shared cores is noisy: read the
ratio. Writes ``activation_maps.json`` and ``.md`` to the results folder.

    python benchmarks/bench_activation_maps.py        # about 2 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, loadavg, machine, write_results  # noqa: E402

REPO = HERE.parent
EXAMPLES = REPO / "examples" / "data"
REPEATS = 2
#: species whose held-out clip goes into the BirdNET recording (6 s each)
RECORDING_SPECIES = 5
LINEAR = "linear"


def birdnet_case(tmp: pathlib.Path) -> tuple[object, pathlib.Path, dict]:
    """A 10-species BirdNET-backbone model and a 30-s recording of held-out bundled clips."""
    import pandas as pd
    import soundfile as sf

    from vocalpy_xai.birdnet import chunk_audio
    from vocalpy_xai.io.audio import load_audio
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    xc = EXAMPLES / "xeno_canto_10_species"
    table = pd.read_csv(xc / "labels.csv")
    names = sorted(table["scientific_name"].unique())
    X, y, held_out = [], [], []
    for k, name in enumerate(names):
        files = sorted(table.loc[table["scientific_name"] == name, "mp3_file"])
        for f in files[:2]:
            audio, sr = sf.read(xc / f, dtype="float32")
            X.append(chunk_audio(audio, sr, min_last_s=3.0).audio)
            y += [k] * len(X[-1])
        held_out.append(files[2])
    params = ProtoNetParams(backbone="birdnet", seed=0)  # default: 1 torch thread
    t0 = time.perf_counter()
    model = AudioProtoNet(params).fit(np.concatenate(X), np.asarray(y), names, progress=False)
    train_s = time.perf_counter() - t0
    held_out = held_out[:RECORDING_SPECIES]
    parts = [load_audio(xc / f, samplerate=48000, mono=True).sound.data[0] for f in held_out]
    path = tmp / "xc-held-out.wav"
    sf.write(path, np.concatenate(parts), 48000)
    info = {
        "model": f"AudioProtoNet {params.to_dict()}, trained on {len(y)} chunks of "
        f"{2 * len(names)} bundled clips (trained in {train_s:.0f} s)",
        "recording": f"the 3rd bundled clip of {len(held_out)} species, end to end: "
        + ", ".join(held_out),
    }
    return model, path, info


def cnn_case(tmp: pathlib.Path) -> tuple[object, pathlib.Path, dict]:
    """A CNN syllable model (package defaults, a short budget; bundled Bird0 songs 0-5,
    0-8 kHz), recording its spectrogram parameters so it reads audio, and bundled song 19."""
    import json as _json

    from vocalpy_xai.io import Manifest
    from vocalpy_xai.protonet import (
        AudioProtoNet,
        ProtoNetParams,
        frequency_band,
        syllable_windows,
    )
    from vocalpy_xai.store import SpectrogramParams, build_store, open_store

    bird0 = EXAMPLES / "bird0"
    manifest = Manifest.from_annotation_file(
        bird0 / "Annotation.xml", "birdsong-recognition-dataset"
    )
    store = build_store(
        manifest, tmp / "bird0.zarr", SpectrogramParams(samplerate=32000), progress=False
    ).path
    ds = open_store(store)
    spect = _json.loads(ds.attrs["spectrogram_params"])
    spect.update(samplerate=int(ds.attrs["samplerate"]), fmax=8000.0)  # the band kept
    windows = frequency_band(syllable_windows(ds, range(6), width_s=0.2), fmax=8000.0)
    # the default architecture; a budget to time the model, not to score it
    params = ProtoNetParams(epochs=2, warmup_epochs=1, last_layer_epochs=1, seed=0)
    t0 = time.perf_counter()
    model = AudioProtoNet(params).fit(**windows.fit_kwargs(), progress=False, spect_params=spect)
    info = {
        "model": f"AudioProtoNet {params.to_dict()}, trained on the {len(windows.X)} syllables "
        f"of bundled Bird0 songs 0-5 (0.2-s windows, 0-8 kHz; trained in "
        f"{time.perf_counter() - t0:.0f} s)",
        "recording": "examples/data/bird0/Wave/19.wav",
    }
    return model, bird0 / "Wave" / "19.wav", info


def measure(model, path: pathlib.Path, method: str) -> tuple[float, float, object]:
    """Wall and CPU seconds of a recording's activation dataset, and the dataset."""
    from vocalpy_xai.protonet import recording_activations

    t0, c0 = time.perf_counter(), time.process_time()
    ds = recording_activations(model, path, attribution=method)
    return time.perf_counter() - t0, time.process_time() - c0, ds


def run_case(name: str, model, path: pathlib.Path, info: dict) -> dict:
    from vocalpy_xai.protonet.faithfulness import DEFAULT_METHOD

    methods = (LINEAR, DEFAULT_METHOD)
    cold, runs, cpu, drawn = {}, {m: [] for m in methods}, {m: [] for m in methods}, {}
    for m in methods:
        cold[m], _, ds = measure(model, path, m)
        drawn[m] = ds.attrs["attribution"]
    for _ in range(REPEATS):
        for m in methods:
            wall, cpu_s, _ = measure(model, path, m)
            runs[m].append(wall)
            cpu[m].append(cpu_s)
    duration = float(ds.attrs["duration_s"])
    n_inputs = int(ds.sizes["chunk"]) if "chunk" in ds.sizes else None
    if n_inputs is None:  # CNN: consecutive windows of the model's width
        n_inputs = int(np.ceil(duration / (model.window_frames_ * model.frame_s_)))
    n_maps = n_inputs * int(ds.sizes["prototype"])
    median = {m: statistics.median(runs[m]) for m in methods}
    median_cpu = {m: statistics.median(cpu[m]) for m in methods}
    out = {
        **info,
        "duration_s": duration,
        "inputs": n_inputs,
        "prototypes_drawn": int(ds.sizes["prototype"]),
        "maps": n_maps,
        "attribution_recorded": drawn,
        "cold_s": cold,
        "runs_s": runs,
        "median_s": median,
        "cpu_runs_s": cpu,
        "median_cpu_s": median_cpu,
        "ratio_default_vs_linear": median[DEFAULT_METHOD] / median[LINEAR],
        "cpu_ratio_default_vs_linear": median_cpu[DEFAULT_METHOD] / median_cpu[LINEAR],
        "num_threads": model.params.num_threads,
        "default_s_per_recording_minute": 60.0 * median[DEFAULT_METHOD] / duration,
        "default_ms_per_map": 1e3 * median[DEFAULT_METHOD] / n_maps,
    }
    print(f"{name}: {json.dumps({k: out[k] for k in ('median_s', 'cold_s', 'maps')})}", flush=True)
    return out


def markdown(r: dict) -> str:
    d = r["default_method"]
    lines = [
        "# Activation maps of a recording: the default method vs linear",
        "",
        f"Default method: **{d}** (`vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`); "
        "`linear` is the fast preview. `recording_activations(model, path, attribution=...)`, "
        f"median of {REPEATS} alternating runs after one cold run of each; the same model and "
        "recording for both methods. Command: `python benchmarks/bench_activation_maps.py`.",
        "",
        f"| backbone | recording | maps (inputs x prototypes) | linear: wall / CPU (s) "
        f"| {d}: wall / CPU (s) | ratio wall / CPU | {d}: wall s per recording minute "
        f"| cold linear / {d} (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in r["cases"].items():
        wall, cpu = c["median_s"], c["median_cpu_s"]
        lines.append(
            f"| {name} | {c['duration_s']:.1f} s | {c['maps']} ({c['inputs']} x "
            f"{c['prototypes_drawn']}) | {wall['linear']:.2f} / {cpu['linear']:.2f} | "
            f"{wall[d]:.2f} / {cpu[d]:.2f} | {c['ratio_default_vs_linear']:.1f}x / "
            f"{c['cpu_ratio_default_vs_linear']:.1f}x | "
            f"{c['default_s_per_recording_minute']:.1f} | {c['cold_s']['linear']:.1f} / "
            f"{c['cold_s'][d]:.1f} |"
        )
    lines += [""]
    for name, c in r["cases"].items():
        lines += [f"- {name}: model {c['model']}; recording {c['recording']}."]
    lines += [
        "",
        "Both models at their default `num_threads` (1 torch thread, for predictions and maps). "
        "BirdNET: the maps of the chunks' and the recording's top prototypes (as the Predict "
        "dock draws them); gradient x input needs one forward pass per chunk and one backward "
        "pass through BirdNET per chunk and prototype. CNN: every prototype's map of every "
        "window (one forward pass per window, one backward pass per window and prototype).",
        "",
        f"Machine: {r['machine']}; load average at start {r['loadavg']} (shared cores: read "
        f"the ratios); {r['seconds']:.0f} s in all.",
    ]
    return "\n".join(lines) + "\n"


def main() -> dict:
    from vocalpy_xai.protonet.faithfulness import DEFAULT_METHOD

    t0 = time.perf_counter()
    r = {
        "default_method": DEFAULT_METHOD,
        "machine": machine(),
        "loadavg": loadavg(),
        "repeats": REPEATS,
        "cases": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for name, case in (("birdnet", birdnet_case), ("cnn", cnn_case)):
            model, path, info = case(tmp)
            r["cases"][name] = run_case(name, model, path, info)
    r["seconds"] = time.perf_counter() - t0
    write_results("activation_maps", r, markdown, RESULTS)
    return r


if __name__ == "__main__":
    # no options: --help describes the run instead of starting it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    sys.exit(0 if main() else 1)
