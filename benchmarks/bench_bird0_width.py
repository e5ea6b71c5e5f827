"""How the Bird0 benchmark's CNN width was chosen: on VAL files 62-94 only.

Trains the ``banded`` CNN of :mod:`bench_bird0_syllables` (its :data:`PARAMS`, TRAIN
windows and helpers) with the demo's narrow CNN ``(8, 16, 32, 32)`` and the package
default ``(16, 32, 64, 64)``, two seeds each, and measures on VAL only: accuracy on every
VAL window, the baselines on the same windows, and the pointing game of the two gradient x
input maps on the 60 VAL windows :func:`bench_bird0_syllables.run` draws. TEST is never
read.

    python benchmarks/bench_bird0_width.py

Results: ``benchmarks/results/bird0_width.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_bird0_syllables import PARAMS, RESULTS, _draw, baselines, load_windows, pointing  # noqa: E402
from results_io import loadavg, machine, run_line, write_results  # noqa: E402

WIDTHS = {"narrow (demo)": (8, 16, 32, 32), "default": (16, 32, 64, 64)}
SEEDS = (0, 1)
METHODS = ("gradxinput", "gradxinput_sigma2")


def run(threads: int = 2) -> dict:
    from vocalpy_xai.protonet import AudioProtoNet, ProtoNetParams

    ds, train, val, _ = load_windows(pathlib.Path(tempfile.mkdtemp(prefix="bird0-width-")), 100)
    val_sub = _draw(val, 60, 0)
    rows = []
    for name, channels in WIDTHS.items():
        for seed in SEEDS:
            t0 = time.perf_counter()
            p = ProtoNetParams(
                **{**PARAMS, "channels": channels, "seed": seed, "num_threads": threads}
            )
            model = AudioProtoNet(p).fit(**train.fit_kwargs(), progress=False)
            pm, _ = pointing(model, ds, val_sub, METHODS, seed)
            rows.append(
                {
                    "width": name,
                    "channels": list(channels),
                    "seed": seed,
                    "val_accuracy": float(np.mean(model.predict(val.X) == val.y)),
                    "val_top10_in_syllable": {m: pm[m]["top10_in_syllable"] for m in METHODS},
                    "val_baselines": baselines(model, train, val),
                    "seconds": time.perf_counter() - t0,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows, "n_val_windows": len(val), "n_val_pointing_windows": len(val_sub)}


def markdown(r: dict) -> str:
    lines = [
        "# Bird0: the CNN width of the banded head, chosen on VAL (files 62-94)",
        "",
        f"{r['n_val_windows']} VAL windows; pointing game on {r['n_val_pointing_windows']} of "
        "them (top 10 % of the map inside the syllable mask). TEST is not read.",
        "",
        "| width | seed | VAL accuracy | top 10 % in syllables (`gradxinput` / `_sigma2`) | "
        "window 5-NN | CNN pooled 5-NN | CNN linear probe |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in r["rows"]:
        b, t = x["val_baselines"], x["val_top10_in_syllable"]
        lines.append(
            f"| {x['width']} `{tuple(x['channels'])}` | {x['seed']} | "
            f"{100 * x['val_accuracy']:.1f}% | {100 * t['gradxinput']:.1f}% / "
            f"{100 * t['gradxinput_sigma2']:.1f}% | {100 * b['window_5nn']:.1f}% | "
            f"{100 * b['cnn_pooled_5nn']:.1f}% | {100 * b['cnn_pooled_linear_probe']:.1f}% |"
        )
    lines += ["", run_line(r, "python benchmarks/bench_bird0_width.py"), ""]
    return "\n".join(lines)


def main() -> dict:
    load = loadavg()
    t0 = time.perf_counter()
    r = run()
    r.update(machine=machine(), loadavg=load, seconds=time.perf_counter() - t0)
    write_results("bird0_width", r, markdown, RESULTS)
    return r


if __name__ == "__main__":
    # no options: --help describes the run instead of starting it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
