"""Benchmark: the napari plugin on a 10-minute recording (real Bird0 songs, concatenated).

Builds ``bird0-10min.wav`` from consecutive Bird0 songs (shared data, else the bundled 20
songs repeated) with its annotation beside it (simple-seq csv, every song's syllables shifted
to their place), then, in a real napari viewer on a virtual X server (Xvfb, Mesa software GL):

- **open time**: ``viewer.open(path, plugin="vocalpy-xai")`` until the first frame with the
  spectrogram pyramid and the annotation layer is drawn;
- **pan frame time**: zoomed to a 5-s window, the camera moves 0.5 s at a time across the
  recording (40 steps), and far jumps to random places (20 steps, spectrogram chunks not yet
  computed); each step is timed until its frame is drawn;
- **segment swap**: the annotation layer holds only the segments near the view (at most
  ``MAX_SHOWN`` shapes; the rest wait in its metadata) and swaps them in once the camera
  stops (debounced); after each far jump, the swap and its frame are timed, and the layer's
  segments (shown + hidden) are checked against the annotation read.

Results: ``benchmarks/results/napari.json`` and ``napari.md``. Run:
``.venv/bin/python benchmarks/bench_napari.py`` (starts Xvfb itself when there is no display).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results_io import RESULTS, machine, write_results  # noqa: E402

SHARED = pathlib.Path(os.environ.get("VOCALPY_XAI_SHARED_DATA", REPO.parent / "shared" / "data"))
TARGET_S = 600.0


def make_recording(out: pathlib.Path) -> tuple[pathlib.Path, int, float, int]:
    """Concatenate Bird0 songs to >= 10 min; write the wav and its simple-seq annotation."""
    import crowsetta
    import soundfile

    from vocalpy_xai.io import read_annotations, write_annotations

    folder = SHARED / "bengalese_finch_koumura_bird0"
    if not (folder / "Annotation.xml").exists():
        folder = REPO / "examples" / "data" / "bird0"
    annots = read_annotations(folder / "Annotation.xml", "birdsong-recognition-dataset")
    pieces, on, off, labels, t, n_songs, sr = [], [], [], [], 0.0, 0, None
    while t < TARGET_S:
        annot = annots[n_songs % len(annots)]
        data, sr = soundfile.read(str(annot.notated_path), dtype="int16")
        pieces.append(data)
        on += list(np.asarray(annot.seq.onsets_s) + t)
        off += list(np.asarray(annot.seq.offsets_s) + t)
        labels += list(np.asarray(annot.seq.labels).astype(str))
        t += len(data) / sr
        n_songs += 1
    wav = out / "bird0-10min.wav"
    soundfile.write(str(wav), np.concatenate(pieces), sr)
    seq = crowsetta.Sequence.from_keyword(
        onsets_s=np.array(on), offsets_s=np.array(off), labels=np.array(labels)
    )
    annot = crowsetta.Annotation(annot_path=out / "bird0-10min.csv", notated_path=wav, seq=seq)
    write_annotations(annot, out / "bird0-10min.csv", "simple-seq")
    return wav, n_songs, t, len(labels)


def start_xvfb() -> subprocess.Popen | None:
    """Start Xvfb on a free display when there is no display; returns the process."""
    if os.environ.get("DISPLAY"):
        return None
    for n in range(90, 120):
        if not pathlib.Path(f"/tmp/.X11-unix/X{n}").exists():
            break
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["DISPLAY"] = f":{n}"
    os.environ.pop("QT_QPA_PLATFORM", None)
    time.sleep(1.0)
    return proc


def run(wav: pathlib.Path) -> dict:
    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    app = QApplication.instance()
    canvas = viewer.window._qt_viewer.canvas
    draws = [0]
    canvas._scene_canvas.events.draw.connect(lambda e: draws.__setitem__(0, draws[0] + 1))
    for _ in range(20):
        app.processEvents()

    def wait_frame(timeout: float = 30.0) -> None:
        start = draws[0]
        deadline = time.perf_counter() + timeout
        canvas._scene_canvas.update()
        while draws[0] == start and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)

    def open_once() -> tuple[list, float]:
        t0 = time.perf_counter()
        layers = viewer.open(str(wav), plugin="vocalpy-xai")
        wait_frame()
        return layers, time.perf_counter() - t0

    # first open in a fresh session pays napari's one-off costs (pint unit registry, numba
    # compilation of the shapes triangulation); the second is what each later file costs
    layers, cold_s = open_once()
    viewer.layers.clear()
    wait_frame()
    layers, open_s = open_once()
    from vocalpy_xai.napari.reader import audio_layers

    t0 = time.perf_counter()
    audio_layers(wav)
    reader_s = time.perf_counter() - t0
    image = next(la for la in layers if la._type_string == "image")
    shapes = next(la for la in layers if la._type_string == "shapes")
    shapes_at_open = len(shapes.data)
    from vocalpy_xai.napari.segments_layer import segments_from_layer
    from vocalpy_xai.napari.viewer import refresh_windows

    camera = viewer.scene.camera
    width_px = canvas.size[1]
    camera.zoom = width_px / 5.0
    y_mid = float(np.mean(shapes.metadata["vocalpy_xai"]["freq_span"]))
    camera.center = (y_mid, 2.5)
    wait_frame()
    wait_frame()

    def timed(centres) -> list[float]:
        times = []
        for c in centres:
            t = time.perf_counter()
            camera.center = (y_mid, float(c))
            wait_frame()
            times.append(time.perf_counter() - t)
        return times

    pan = timed(2.5 + 0.5 * np.arange(1, 41))
    duration = float(image.extent.world[1][1])
    jumps = timed(np.random.default_rng(0).uniform(5, duration - 5, 20))
    swaps, shown = [], []
    for c in np.random.default_rng(1).uniform(5, duration - 5, 20):
        camera.center = (y_mid, float(c))
        wait_frame()
        t = time.perf_counter()
        refresh_windows(viewer)  # what the debounce timer runs once the camera stops
        wait_frame()
        swaps.append(time.perf_counter() - t)
        shown.append(len(shapes.data))
    all_segments = segments_from_layer(shapes)
    level = getattr(image, "data_level", 0)
    result = {
        "open_s": open_s,
        "open_cold_s": cold_s,
        "reader_s": reader_s,
        "pan_frame_ms": {
            "median": 1e3 * float(np.median(pan)),
            "p95": 1e3 * float(np.percentile(pan, 95)),
            "max": 1e3 * float(np.max(pan)),
        },
        "jump_frame_ms": {
            "median": 1e3 * float(np.median(jumps)),
            "p95": 1e3 * float(np.percentile(jumps, 95)),
            "max": 1e3 * float(np.max(jumps)),
        },
        "swap_ms": {
            "median": 1e3 * float(np.median(swaps)),
            "p95": 1e3 * float(np.percentile(swaps, 95)),
            "max": 1e3 * float(np.max(swaps)),
        },
        "pyramid_levels": len(image.data) if image.multiscale else 1,
        "level_shown_when_panning": int(level),
        "shapes_at_open": shapes_at_open,
        "shapes_at_5s_zoom": {"median": float(np.median(shown)), "max": int(np.max(shown))},
        "layer_segments": len(all_segments),
        "layer_segments_onsets": all_segments.onsets_s.tolist(),
        "layer_segments_labels": np.asarray(all_segments.labels).astype(str).tolist(),
        "canvas_px": list(canvas.size),
    }
    viewer.close()
    return result


def check_segments(result: dict, csv: pathlib.Path) -> None:
    """The layer's segments (shown + hidden) are exactly the annotation's; drop the lists."""
    from vocalpy_xai.io import read_annotations

    seq = read_annotations(csv, "simple-seq")[0].seq
    onsets = np.asarray(result.pop("layer_segments_onsets"))
    labels = result.pop("layer_segments_labels")
    order = np.argsort(seq.onsets_s, kind="stable")
    assert np.array_equal(onsets, np.asarray(seq.onsets_s)[order]), "segments changed"
    assert labels == np.asarray(seq.labels)[order].astype(str).tolist(), "labels changed"


def markdown(r: dict) -> str:
    """``napari.md`` from the results."""
    lines = [
        "# napari plugin on a 10-minute recording",
        "",
        f"{r['recording']['duration_s']:.0f} s of real Bird0 song ({r['recording']['songs']} "
        f"songs concatenated, {r['recording']['segments']} annotated syllables), "
        f"{r['machine']}; Xvfb + Mesa software OpenGL (llvmpipe), canvas "
        f"{r['canvas_px'][1]}x{r['canvas_px'][0]} px.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| open (reader + layers + first frame), warm session | {r['open_s']:.2f} s |",
        f"| open, first file of a fresh napari session | {r['open_cold_s']:.2f} s |",
        f"| of which the reader (audio, lazy pyramid, annotation) | {r['reader_s']:.2f} s |",
        f"| pan, 0.5 s steps at a 5-s zoom: median / p95 / max frame | "
        f"{r['pan_frame_ms']['median']:.0f} / {r['pan_frame_ms']['p95']:.0f} / "
        f"{r['pan_frame_ms']['max']:.0f} ms |",
        f"| jump to a random place: median / p95 / max frame | "
        f"{r['jump_frame_ms']['median']:.0f} / {r['jump_frame_ms']['p95']:.0f} / "
        f"{r['jump_frame_ms']['max']:.0f} ms |",
        f"| segment swap after a jump (shapes of the new view + frame): median / p95 / max | "
        f"{r['swap_ms']['median']:.0f} / {r['swap_ms']['p95']:.0f} / "
        f"{r['swap_ms']['max']:.0f} ms |",
        f"| spectrogram pyramid levels | {r['pyramid_levels']} |",
        f"| annotated segments / rectangles drawn at open (whole recording in view) | "
        f"{r['recording']['segments']} / {r['shapes_at_open']} |",
        f"| rectangles drawn at a 5-s zoom: median / max | "
        f"{r['shapes_at_5s_zoom']['median']:.0f} / {r['shapes_at_5s_zoom']['max']} |",
        f"| segments of the layer (shown + hidden), all equal to the annotation read | "
        f"{r['layer_segments']} |",
        "",
        "Generated by `benchmarks/bench_napari.py`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    xvfb = start_xvfb()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-napari-"))
    try:
        wav, n_songs, duration, n_segments = make_recording(work)
        result = run(wav)
        check_segments(result, work / "bird0-10min.csv")
        result["recording"] = {"duration_s": duration, "songs": n_songs, "segments": n_segments}
        result["machine"] = machine()
        result["python"] = sys.version.split()[0]
        write_results("napari", result, markdown, RESULTS)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)


if __name__ == "__main__":
    # no options: --help describes the run instead of starting it
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
