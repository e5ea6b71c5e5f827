"""Baseline: vak 1.0.4's own dataset preparation and training-window reading.

This module measures what a zarr spectrogram store has to beat:

1. the wall time of ``vak prep`` (frame-classification dataset, spectrograms
   made by vak from the audio) for a directory of wav files, and
2. the time to draw random training batches of fixed-size windows from the
   prepared dataset *through vak's own dataset class*,
   :class:`vak.datapipes.frame_classification.TrainDatapipe`, the class that
   ``vak train`` wraps in a ``torch.utils.data.DataLoader``.

Nothing here re-implements vak's file reading: windows come from
``TrainDatapipe.__getitem__`` and are collated with torch's ``default_collate``
(what ``DataLoader`` uses).

Run on the full Bengalese finch Bird0 data (135 wav files)::

    .venv/bin/python benchmarks/vak_baseline.py --dataloader --standardize
    .venv/bin/python benchmarks/vak_baseline.py --dask-scheduler default --dask-scheduler threads
    .venv/bin/python benchmarks/vak_baseline.py --dataset PATH   # reuse a prepped dataset

(run it as a script file: vak's dask process pool uses ``spawn``.)

How the data is split
---------------------
``vak prep`` decides its "purpose" from the other table in the config
(here ``[vak.train]``).  In vak 1.0.4, purpose ``train`` with *no* split
durations crashes (``UnboundLocalError: split_name`` in
``vak/prep/frame_classification/assign_samples_to_splits.py``), so the config
sets ``train_dur = -1`` ("use the whole remaining dataset") and no val/test
durations: vak's splitter then puts every file in the ``train`` split.

Where vak writes
----------------
vak never writes into ``data_dir``: it makes a new directory
``<output_dir>/<data_dir.name>-vak-frame-classification-dataset-generated-<time>``
and writes the spectrogram ``.spect.npz`` files, the converted annotation csv,
the logs and the split directories there.  The ``birdsong-recognition-dataset``
annotation must sit next to a ``Wave/`` directory holding the audio (crowsetta
reads the sampling rate of each wav to turn sample positions into seconds).

What vak stores (fft_size=512, step_size=64, no transform, no cutoffs)
----------------------------------------------------------------------
``train/<name>.wav.spect.npz`` (uncompressed ``np.savez``) with ``s`` float64
(257, n_frames), ``f`` (0..16000 Hz, 257 bins), ``t`` and ``audio_path``;
``train/<name>.wav.spect.multi-frame-labels.npy`` (int8, one label per frame);
``train/sample_ids.npy`` / ``inds_in_sample.npy`` (int, one entry per frame of
the split, used to locate windows).  ``s`` is matplotlib ``mlab.specgram``'s
linear one-sided PSD (Hann window, no detrend, ``/fs/sum(w**2)``, non-DC/Nyquist
bins doubled), frames ``n = (len(x) - 448) // 64``, frame centre
``t_i = (256 + 64 i) / 32000`` s.  ``TrainDatapipe.__getitem__`` loads the
*whole* npz and labels of every file a window touches, then slices.

pandas >= 3
-----------
vak 1.0.4's prep breaks with pandas 3's string dtype (see
:func:`_vak_pandas_compat`); :func:`run_vak_prep` switches pandas'
``future.infer_string`` off while vak runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_DATA_DIR = pathlib.Path("/work/shared/data/bengalese_finch_koumura_bird0")


def _import_vak():
    # ``import vak`` needs the torchvision adapter installed as a .pth in the venv
    # (see /work/shared/STACK.md); importing it here keeps module import cheap.
    import vak

    return vak


def _infer_labelset(annot_file: pathlib.Path, annot_format: str) -> list[str]:
    """Unique labels in an annotation file, read with crowsetta."""
    import crowsetta

    if annot_format == "birdsong-recognition-dataset":
        # labels only: parse the XML without touching the audio files
        birdsongrec = crowsetta.formats.seq.BirdsongRec.from_file(annot_file)
        labels = {str(syl.label) for seq in birdsongrec.sequences for syl in seq.syls}
    else:
        scribe = crowsetta.Transcriber(format=annot_format)
        annots = scribe.from_file(annot_file).to_annot()
        if not isinstance(annots, list):
            annots = [annots]
        labels = {str(lbl) for annot in annots for lbl in annot.seq.labels}
    return sorted(labels)


def write_vak_prep_config(
    wav_dir: str | pathlib.Path,
    annot_file: str | pathlib.Path,
    output_dir: str | pathlib.Path,
    config_path: str | pathlib.Path,
    fft_size: int = 512,
    step_size: int = 64,
    freq_cutoffs: Sequence[float] | None = None,
    train_dur: float | None = -1,
    val_dur: float | None = None,
    test_dur: float | None = None,
    transform_type: str | None = None,
    thresh: float | None = None,
    labelset: Sequence[str] | None = None,
    annot_format: str = "birdsong-recognition-dataset",
    audio_format: str = "wav",
    window_size: int = 500,
    batch_size: int = 64,
    num_workers: int = 0,
    audio_dask_bag_kwargs: dict | None = None,
) -> pathlib.Path:
    """Write a vak 1.x TOML config (``[vak.prep]`` + ``[vak.train]``) for ``vak prep``.

    Every key used is in ``vak/config/valid-version-1.2.toml``.

    Parameters
    ----------
    wav_dir : directory with the audio files (vak's ``data_dir``; only read).
    annot_file : single annotation file for all audio files.
    output_dir : directory in which vak creates the dataset directory; created if missing.
    config_path : where to write the TOML file.  ``vak prep`` rewrites it to
        add ``[vak.train.dataset] path``, so write a fresh one per prep run.
    fft_size, step_size : ``[vak.prep.spect_params]`` (samples).
    freq_cutoffs : optional ``(low_hz, high_hz)``; vak then band-pass filters the
        audio (5th-order Butterworth) and keeps only bins with low <= f < high.
    train_dur, val_dur, test_dur : split durations in seconds.  The default,
        ``train_dur=-1`` and nothing else, puts **all** files in ``train``
        (``train`` with no durations at all crashes vak 1.0.4, see module doc).
    transform_type, thresh : optional vak spectrogram transform
        (``'log_spect'`` or ``'log_spect_plus_one'``) and threshold.
        Default ``None``: vak stores the linear PSD from matplotlib's specgram.
    labelset : labels to keep; default: every label found in ``annot_file``.
        (vak skips files whose annotation has labels outside ``labelset``.)
    window_size, batch_size, num_workers : written to ``[vak.train]`` so the same
        file could be used for ``vak train``; ``vak prep`` ignores them.
    audio_dask_bag_kwargs : e.g. ``{"npartitions": 20}``; passed to
        ``dask.bag.from_sequence`` when vak makes spectrograms.

    Returns
    -------
    pathlib.Path to the written config.
    """
    import tomlkit

    wav_dir = pathlib.Path(wav_dir).expanduser().resolve()
    annot_file = pathlib.Path(annot_file).expanduser().resolve()
    output_dir = pathlib.Path(output_dir).expanduser().resolve()
    config_path = pathlib.Path(config_path).expanduser().resolve()
    if not wav_dir.is_dir():
        raise NotADirectoryError(f"wav_dir not found: {wav_dir}")
    if not annot_file.is_file():
        raise FileNotFoundError(f"annot_file not found: {annot_file}")
    output_dir.mkdir(parents=True, exist_ok=True)
    config_path.parent.mkdir(parents=True, exist_ok=True)

    if labelset is None:
        labelset = _infer_labelset(annot_file, annot_format)
    labelset = [str(lbl) for lbl in labelset]

    prep = tomlkit.table()
    prep.add("data_dir", str(wav_dir))
    prep.add("output_dir", str(output_dir))
    # vak's config validator spells this 'frame classification' (space, not underscore)
    prep.add("dataset_type", "frame classification")
    prep.add("input_type", "spect")
    prep.add("audio_format", audio_format)
    prep.add("annot_format", annot_format)
    prep.add("annot_file", str(annot_file))
    # a list, so multi-character labels survive (a string is split into characters)
    prep.add("labelset", labelset)
    if audio_dask_bag_kwargs:
        prep.add("audio_dask_bag_kwargs", dict(audio_dask_bag_kwargs))
    for key, dur in (("train_dur", train_dur), ("val_dur", val_dur), ("test_dur", test_dur)):
        if dur is not None:
            prep.add(key, dur if dur == -1 else float(dur))

    spect_params = tomlkit.table()
    spect_params.add("fft_size", int(fft_size))
    spect_params.add("step_size", int(step_size))
    if freq_cutoffs is not None:
        low, high = freq_cutoffs
        spect_params.add("freq_cutoffs", [float(low), float(high)])
    if thresh is not None:
        spect_params.add("thresh", float(thresh))
    if transform_type is not None:
        spect_params.add("transform_type", transform_type)
    prep.add("spect_params", spect_params)

    train = tomlkit.table()
    train.add("root_results_dir", str(output_dir / "results"))
    train.add("batch_size", int(batch_size))
    train.add("num_epochs", 1)
    train.add("num_workers", int(num_workers))
    train.add("standardize_frames", True)
    train.add("shuffle", True)
    train.add("patience", 4)  # vak 1.0.4 + lightning 2.6 crash without it (STACK.md)
    dataset = tomlkit.table()
    dataset.add("params", {"window_size": int(window_size)})
    train.add("dataset", dataset)
    model = tomlkit.table()
    model.add("TweetyNet", tomlkit.table())
    train.add("model", model)

    vak_table = tomlkit.table()
    vak_table.add("prep", prep)
    vak_table.add("train", train)
    doc = tomlkit.document()
    doc.add(tomlkit.comment("written by benchmarks/vak_baseline.py"))
    doc.add("vak", vak_table)
    config_path.write_text(tomlkit.dumps(doc))
    return config_path


def _dataset_path_from_config(config_path: pathlib.Path) -> pathlib.Path:
    import tomlkit

    doc = tomlkit.parse(config_path.read_text())
    for purpose in ("train", "learncurve", "eval", "predict"):
        table = doc["vak"].get(purpose)
        if table is not None and "dataset" in table and "path" in table["dataset"]:
            return pathlib.Path(str(table["dataset"]["path"]))
    raise RuntimeError(f"vak prep did not write a dataset path into {config_path}")


@contextlib.contextmanager
def _vak_pandas_compat():
    """Make pandas >= 3 build object-dtype string columns while vak runs.

    vak 1.0.4 assumes ``DataFrame[col].values`` is a numpy array (it calls
    ``.tolist()`` on numpy arrays, then ``list.remove``); with pandas 3's default
    string dtype it gets an ``ArrowStringArray`` and ``vak prep`` fails in
    ``vak.common.annotation._map_using_notated_path`` with
    ``AttributeError: 'ArrowStringArray' object has no attribute 'remove'``.
    Turning off pandas' ``future.infer_string`` restores the pandas-2 behaviour.
    """
    import pandas as pd

    with warnings.catch_warnings():
        # pandas 3 flags the option as deprecated
        warnings.simplefilter("ignore")
        try:
            pd.get_option("future.infer_string")
        except (KeyError, pd.errors.OptionError):  # option gone (pandas 4)
            ctx = contextlib.nullcontext()
        else:
            ctx = pd.option_context("future.infer_string", False)
        with ctx:
            yield


def run_vak_prep(
    config_path: str | pathlib.Path,
    subprocess: bool = False,
    dask_scheduler: str | None = None,
) -> tuple[pathlib.Path, float]:
    """Run vak's prep on ``config_path``; return (dataset path, wall seconds).

    By default calls ``vak.cli.prep.prep(config_path)`` in this process (what
    the ``vak prep`` CLI calls); vak is imported before the clock starts.  With
    ``subprocess=True`` runs ``vak.cli.prep.prep`` in a fresh interpreter, and the
    time then includes interpreter start-up and ``import vak`` (a few seconds).
    With pandas >= 3, pandas' ``future.infer_string`` is switched off while vak
    runs (vak 1.0.4 bug, see :func:`_vak_pandas_compat`).
    vak parallelises spectrogram making and split writing with ``dask.bag``,
    whose default scheduler is a *spawned* process pool (one process per core):
    call this from an importable script guarded by ``if __name__ == "__main__":``
    (not from stdin/``python -c``), or pass ``dask_scheduler`` (``"threads"``,
    ``"synchronous"``, ``"processes"``) to override dask's choice (in-process only).
    """
    config_path = pathlib.Path(config_path).resolve()
    if subprocess:
        import subprocess as sp

        t0 = time.perf_counter()
        code = (
            "import sys, warnings, pandas as pd\n"
            "warnings.simplefilter('ignore')\n"
            "try:\n    pd.set_option('future.infer_string', False)\n"
            "except Exception:\n    pass\n"
            "import vak.cli.prep\n"
            "vak.cli.prep.prep(sys.argv[1])\n"
        )
        sp.run([sys.executable, "-c", code, str(config_path)], check=True)
        wall = time.perf_counter() - t0
    else:
        import dask

        _import_vak()
        from vak.cli.prep import prep as vak_cli_prep

        sched = (
            dask.config.set(scheduler=dask_scheduler)
            if dask_scheduler is not None
            else contextlib.nullcontext()
        )
        t0 = time.perf_counter()
        with _vak_pandas_compat(), sched:
            vak_cli_prep(config_path)
        wall = time.perf_counter() - t0
    return _dataset_path_from_config(config_path), wall


class VakWindowBatchReader:
    """Draws batches of random windows through vak's ``TrainDatapipe``.

    ``reader(n, rng)`` -> ``(frames, labels)`` with ``frames`` float32 of shape
    ``(n, n_freq_bins, window_size)`` and ``labels`` int64 of shape
    ``(n, window_size)``.  Window start indices are drawn from the datapipe's
    ``window_inds`` without replacement (as ``DataLoader(shuffle=True)`` does
    within an epoch); each item is ``datapipe[i]`` (vak loads the whole
    ``.spect.npz`` and ``.multi-frame-labels.npy`` of every file the window
    touches, slices the window, converts to tensors and adds a channel axis),
    and items are collated with ``torch.utils.data.default_collate``.
    """

    def __init__(
        self,
        dataset_path: str | pathlib.Path,
        window_size: int = 500,
        split: str = "train",
        standardize: bool = False,
    ):
        _import_vak()
        from vak.datapipes.frame_classification import TrainDatapipe
        from vak.transforms import FramesStandardizer

        self.dataset_path = pathlib.Path(dataset_path)
        self.window_size = int(window_size)
        self.split = split
        # ``vak train`` defaults to standardize_frames=True: it fits a per-frequency
        # mean/std on the train split (one pass over the data, not counted here)
        # and applies it to every window.
        self.frames_standardizer = (
            FramesStandardizer.fit_dataset_path(self.dataset_path, split=split)
            if standardize
            else None
        )
        self.datapipe = TrainDatapipe.from_dataset_path(
            dataset_path=self.dataset_path,
            window_size=self.window_size,
            split=split,
            frames_standardizer=self.frames_standardizer,
        )

    def __len__(self) -> int:
        return len(self.datapipe)

    def draw_indices(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(self.datapipe), size=n, replace=False)

    def batch(self, n: int, rng: np.random.Generator) -> dict[str, Any]:
        """The collated torch batch, as vak's training loop receives it."""
        from torch.utils.data import default_collate

        items = [self.datapipe[int(i)] for i in self.draw_indices(n, rng)]
        return default_collate(items)

    def __call__(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        batch = self.batch(n, rng)
        frames = batch["frames"]  # (n, 1, freq, window)
        return frames[:, 0].numpy(), batch["multi_frame_labels"].numpy()


def vak_window_batch_reader(
    dataset_path: str | pathlib.Path,
    window_size: int = 500,
    split: str = "train",
    standardize: bool = False,
) -> VakWindowBatchReader:
    """Return a callable ``reader(n, rng) -> (frames (n, freq, window), labels (n, window))``."""
    return VakWindowBatchReader(dataset_path, window_size, split, standardize)


def _summary(times: list[float], **extra) -> dict:
    return {
        "median_s": statistics.median(times),
        "mean_s": statistics.fmean(times),
        "min_s": min(times),
        "max_s": max(times),
        "n_batches": len(times),
        "times_s": times,
        **extra,
    }


def time_vak_batches(
    dataset_path: str | pathlib.Path,
    n_batches: int = 20,
    batch_size: int = 64,
    window_size: int = 500,
    seed: int = 0,
    split: str = "train",
    n_warmup: int = 2,
    standardize: bool = False,
    reader: VakWindowBatchReader | None = None,
) -> dict:
    """Seconds per batch of ``batch_size`` random windows read through vak's TrainDatapipe.

    ``n_warmup`` batches are drawn first and not timed (imports, OS page cache).
    Returns median/mean/min/max seconds per batch, the per-batch times, shapes
    and the number of windows in the split.
    """
    if reader is None:
        reader = vak_window_batch_reader(dataset_path, window_size, split, standardize)
    rng = np.random.default_rng(seed)
    for _ in range(n_warmup):
        frames, labels = reader(batch_size, rng)
    times = []
    for _ in range(n_batches):
        t0 = time.perf_counter()
        frames, labels = reader(batch_size, rng)
        times.append(time.perf_counter() - t0)
    return _summary(
        times,
        batch_size=batch_size,
        window_size=window_size,
        frames_shape=tuple(frames.shape),
        frames_dtype=str(frames.dtype),
        labels_shape=tuple(labels.shape),
        n_windows=len(reader),
        standardize=standardize,
    )


def time_vak_dataloader(
    dataset_path: str | pathlib.Path,
    n_batches: int = 20,
    batch_size: int = 64,
    window_size: int = 500,
    seed: int = 0,
    split: str = "train",
    n_warmup: int = 2,
    num_workers: int = 0,
    standardize: bool = False,
) -> dict:
    """Same as :func:`time_vak_batches` but through the exact loader ``vak train`` builds:
    ``torch.utils.data.DataLoader(TrainDatapipe, shuffle=True, batch_size, num_workers)``.
    """
    import torch

    reader = vak_window_batch_reader(dataset_path, window_size, split, standardize)
    gen = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset=reader.datapipe,
        shuffle=True,
        batch_size=batch_size,
        num_workers=num_workers,
        generator=gen,
    )
    it = iter(loader)
    for _ in range(n_warmup):
        next(it)
    times = []
    for _ in range(n_batches):
        t0 = time.perf_counter()
        batch = next(it)
        times.append(time.perf_counter() - t0)
    return _summary(
        times,
        batch_size=batch_size,
        window_size=window_size,
        frames_shape=tuple(batch["frames"].shape),
        num_workers=num_workers,
    )


def dataset_disk_usage(dataset_path: str | pathlib.Path) -> dict:
    """Bytes on disk of a vak dataset directory, total and per file kind."""
    dataset_path = pathlib.Path(dataset_path)
    by_kind: dict[str, int] = {}
    counts: dict[str, int] = {}
    total = 0
    for p in dataset_path.rglob("*"):
        if not p.is_file():
            continue
        size = p.stat().st_size
        total += size
        name = p.name
        if name.endswith(".spect.npz"):
            kind = ".spect.npz"
        elif name.endswith(".multi-frame-labels.npy"):
            kind = ".multi-frame-labels.npy"
        elif name.endswith(".npy"):
            kind = "index .npy"
        else:
            kind = "other"
        by_kind[kind] = by_kind.get(kind, 0) + size
        counts[kind] = counts.get(kind, 0) + 1
    return {"total_bytes": total, "bytes_by_kind": by_kind, "files_by_kind": counts}


def describe_dataset(dataset_path: str | pathlib.Path, split: str = "train") -> dict:
    """A few facts about a prepped dataset: labelmap, frame_dur, spectrogram shape/dtype."""
    dataset_path = pathlib.Path(dataset_path)
    meta = json.loads((dataset_path / "metadata.json").read_text())
    labelmap = json.loads((dataset_path / "labelmap.json").read_text())
    split_dir = dataset_path / split
    spect_files = sorted(split_dir.glob("*.spect.npz"))
    sample_ids = np.load(split_dir / "sample_ids.npy")
    with np.load(spect_files[0]) as npz:
        s, f, t = npz["s"], npz["f"], npz["t"]
    return {
        "metadata": meta,
        "labelmap": labelmap,
        "n_files": len(spect_files),
        "n_frames_total": int(sample_ids.shape[0]),
        "example_file": spect_files[0].name,
        "spect_shape": tuple(s.shape),
        "spect_dtype": str(s.dtype),
        "freq_bins_hz": (float(f[0]), float(f[-1]), int(f.shape[0])),
        "t0_s": float(t[0]),
        "dt_s": float(t[1] - t[0]),
    }


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir",
        type=pathlib.Path,
        default=DEFAULT_DATA_DIR,
        help="directory holding Wave/*.wav and Annotation.xml",
    )
    parser.add_argument(
        "--workdir",
        type=pathlib.Path,
        default=None,
        help="where the config and vak dataset go (default: a new temp dir)",
    )
    parser.add_argument(
        "--dataset",
        type=pathlib.Path,
        default=None,
        help="skip prep and time reads on this existing vak dataset",
    )
    parser.add_argument(
        "--dask-scheduler",
        action="append",
        choices=["default", "threads", "synchronous", "processes"],
        help="run vak prep once per value given (default: once, dask's default, "
        "i.e. a spawned process pool, which is what `vak prep` does)",
    )
    parser.add_argument("--freq-cutoffs", type=float, nargs=2, default=None)
    parser.add_argument("--transform-type", default=None)
    parser.add_argument("--thresh", type=float, default=None)
    parser.add_argument("--n-batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--window-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dataloader",
        action="store_true",
        help="also time torch DataLoader(shuffle=True, num_workers=0), as vak train does",
    )
    parser.add_argument(
        "--standardize",
        action="store_true",
        help="also time with vak's FramesStandardizer (vak train's default)",
    )
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write results here")
    args = parser.parse_args(argv)

    _import_vak()
    results: dict[str, Any] = {}
    if args.dataset is None:
        workdir = args.workdir or pathlib.Path(tempfile.mkdtemp(prefix="vak_baseline_"))
        workdir.mkdir(parents=True, exist_ok=True)
        wav_dir = args.data_dir / "Wave"
        n_wavs = len(list(wav_dir.glob("*.wav")))
        results["prep"] = []
        dataset_path = None
        for i, sched in enumerate(args.dask_scheduler or ["default"]):
            config_path = write_vak_prep_config(
                wav_dir=wav_dir,
                annot_file=args.data_dir / "Annotation.xml",
                output_dir=workdir / f"vak_dataset_{i}_{sched}",
                config_path=workdir / f"vak_prep_{i}_{sched}.toml",
                freq_cutoffs=args.freq_cutoffs,
                transform_type=args.transform_type,
                thresh=args.thresh,
                window_size=args.window_size,
                batch_size=args.batch_size,
            )
            path, prep_s = run_vak_prep(
                config_path, dask_scheduler=None if sched == "default" else sched
            )
            dataset_path = dataset_path or path
            results["prep"].append(
                {
                    "n_wav_files": n_wavs,
                    "dask_scheduler": sched,
                    "wall_s": prep_s,
                    "dataset_path": str(path),
                }
            )
            print(
                f"vak prep (dask scheduler: {sched}): {n_wavs} files in {prep_s:.1f} s -> {path}",
                flush=True,
            )
    else:
        dataset_path = args.dataset
    results["dataset_path"] = str(dataset_path)

    usage = dataset_disk_usage(dataset_path)
    results["disk"] = usage
    print(
        f"dataset on disk: {usage['total_bytes'] / 2**20:.1f} MiB "
        + ", ".join(
            f"{k}: {v / 2**20:.1f} MiB ({usage['files_by_kind'][k]} files)"
            for k, v in usage["bytes_by_kind"].items()
        )
    )
    info = describe_dataset(dataset_path)
    results["dataset"] = info
    print(
        f"dataset: {info['n_files']} files, {info['n_frames_total']} frames, "
        f"spect {info['spect_shape']} {info['spect_dtype']}, "
        f"freq {info['freq_bins_hz']}, t0 {info['t0_s']:.6f} s, dt {info['dt_s']:.6f} s, "
        f"labelmap {info['labelmap']}"
    )

    reader = vak_window_batch_reader(dataset_path, args.window_size)
    r = time_vak_batches(
        dataset_path, args.n_batches, args.batch_size, args.window_size, args.seed, reader=reader
    )
    results["read_datapipe"] = r
    print(
        f"TrainDatapipe, {args.batch_size} random windows of {args.window_size} frames: "
        f"median {r['median_s'] * 1e3:.1f} ms/batch, mean {r['mean_s'] * 1e3:.1f} ms "
        f"(min {r['min_s'] * 1e3:.1f}, max {r['max_s'] * 1e3:.1f}); "
        f"batch {r['frames_shape']} {r['frames_dtype']}, {r['n_windows']} windows",
        flush=True,
    )
    if args.standardize:
        rs = time_vak_batches(
            dataset_path,
            args.n_batches,
            args.batch_size,
            args.window_size,
            args.seed,
            standardize=True,
        )
        results["read_datapipe_standardized"] = rs
        print(
            f"  with FramesStandardizer: median {rs['median_s'] * 1e3:.1f} ms/batch, "
            f"mean {rs['mean_s'] * 1e3:.1f} ms",
            flush=True,
        )
    if args.dataloader:
        rd = time_vak_dataloader(
            dataset_path, args.n_batches, args.batch_size, args.window_size, args.seed
        )
        results["read_dataloader"] = rd
        print(
            f"DataLoader(shuffle=True, num_workers=0): median {rd['median_s'] * 1e3:.1f} ms/batch, "
            f"mean {rd['mean_s'] * 1e3:.1f} ms",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
