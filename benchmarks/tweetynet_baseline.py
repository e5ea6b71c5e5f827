"""Baseline: vak 1.0.4's TweetyNet trained, evaluated and run on the fixed Bird0 split.

The TweetyNet half of the benchmark ESNDecoder vs TweetyNet (``bench_esn.py``)::

    import tweetynet_baseline                      # with benchmarks/ on sys.path
    r = tweetynet_baseline.run_tweetynet(work_dir, cpu_budget_s=600, seed=0)
    r["predict_csv"]                               # crowsetta 'generic-seq' csv of TEST

or, as a script (vak's dask pools spawn: keep the ``__main__`` guard)::

    .venv/bin/python benchmarks/tweetynet_baseline.py --work-dir /tmp/tw --cpu-budget 600

Everything goes through vak's own code (``vak.cli.prep``/``train``/``eval``/``predict``
on TOML configs), each step in a child process of this file (``--_worker``) so that
its CPU time, wall time and peak RSS are those of that step alone (``os.wait4``).

Fixed split
-----------
Files sorted by number; TRAIN = the shortest prefix ``0, 1, 2, ...`` with >= 600 s of
audio (``soundfile.info`` durations; on Bird0: files 0-61, 601.0 s); TEST = files
95-134 (476.7 s).  vak's prep draws splits at random, so each split is prepped as its
own dataset: a folder ``<work>/data/<split>/Wave`` of symlinks to the split's wavs
next to ``Annotation.xml`` filtered to the split's ``<Sequence>`` elements (crowsetta's
``birdsong-recognition-dataset`` reads ``Wave/<WaveFileName>`` beside the xml for the
sampling rate; vak maps annotations to audio by that name).  TRAIN is prepped with a
``[vak.train]`` table and ``train_dur = -1`` (every file in split ``train``,
see ``vak_baseline.py``), TEST with a ``[vak.eval]`` table (vak then puts every file
in split ``test``, no random split).  The split column of both ``dataset.csv`` files
is checked.  Both use the labelset of the full Annotation.xml ('0'-'8'), so both
labelmaps are the same (checked).

vak settings (vak's Bengalese finch configs)
--------------------------------------------
Spectrograms (vak's test configs for TweetyNet, ``tests/data_for_tests/configs``):
``fft_size 512, step_size 64, freq_cutoffs [500, 10000], thresh 6.25,
transform_type 'log_spect'`` (2 ms frames, 152 frequency bins).  TweetyNet as in vak's
tutorial config ``doc/toml/gy6or6_train.toml``: window_size 176, batch_size 8, Adam
lr 0.001, hidden_size 256, the default convolutional layers (32 and 64 filters 5x5,
pooling (8, 1) twice), one bidirectional LSTM layer; ``standardize_frames = true``.
Post-processing for eval and predict (vak's clean-up, ``post_tfm_kwargs``): ``majority_vote =
true, min_segment_dur = 0.02`` -- the clean-up of the TweetyNet paper's Bengalese finch results
(Cohen et al. 2022, eLife: majority vote within segments, segments under 20 ms removed).

Training budget
---------------
vak's train sets ``max_steps = num_epochs * len(train_loader)`` (one epoch is one
window per frame: ~37,500 steps of 8 windows here) and passes no other Trainer
option, so the train worker wraps two functions of ``vak.train.frame_classification``
before calling ``vak.cli.train.train``: ``get_trainer`` (``max_steps`` capped at
``max_steps`` when one is given) and ``get_train_callbacks`` (adds a callback that
measures the CPU time of each step and stops training, ``trainer.should_stop``, when
the process's CPU time (``RUSAGE_SELF``: import, standardizer fit and steps so far)
plus one more step plus a reserve for saving would pass ``cpu_budget_s``).  The count of
steps therefore follows from measured step cost; it is returned (``steps``).

Threads: train, eval and predict run with ``torch.set_num_threads(1)`` and
``OMP_NUM_THREADS=1`` (``torch_threads``).  On this shared 2-core machine two torch
threads cost 0.32 CPU s per step when the machine was quiet but 0.6-1.6 CPU s per step
when another job was running (OpenMP threads spin while waiting), against a steady
0.27 CPU s per step (and less wall time) on one thread: one thread gives TweetyNet the
most steps per CPU second and numbers that do not depend on the neighbours.
vak prep runs its dask bags on dask's ``"threads"`` scheduler (``prep_dask_scheduler``);
vak's default, a spawned process pool, pays the start-up of fresh interpreters importing
vak in each of prep's four dask phases (116 s for the 40 TEST files here on a busy machine,
against 4-7 s on threads), which would make vak look slower than it needs to be.

No validation split: TRAIN is all training data, so ``val_step`` is left unset (vak
raises if ``val_step`` is set and the dataset has no ``val`` split).  ``patience`` is
set (4) because vak 1.0.4 + lightning 2.6 crash without it; with no validation it never
triggers.  Lightning's ``EarlyStopping`` then checks ``val_acc`` at the end of the
training epoch and raises because it was never logged, so the wrapped callback list
makes vak's ``EarlyStopping`` non-strict (``strict=False``: skip the check when the
metric is missing).  The model evaluated is the checkpoint vak's ``ModelCheckpoint``
saves when training stops (``checkpoint.pt``; there is no ``max-val-acc`` checkpoint
without validation).

vak eval's metrics (``vak_eval``) are vak's ``avg_val_*_epoch`` columns without the
prefix and suffix: ``acc`` (frame accuracy), ``levenshtein`` (mean edit distance per
file), ``character_error_rate`` (vak 1.x's name for the segment error rate: edit distance
/ length of the true sequence, mean over files; also returned as ``segment_error_rate``),
``loss``, and the ``*_tfm`` values after post-processing.  vak's true label sequences
come from runs of frame labels, so touching syllables of the same label count once
(see the data README); ``bench_esn.py`` scores ``predict_csv`` against Annotation.xml
itself.  vak bug worked around in the eval worker: on CPU, vak's ``validation_step``
post-processes ``class_preds.cpu().numpy()`` in place (same memory as ``class_preds``),
so ``acc`` silently equalled ``acc_tfm``; the worker makes vak post-process a copy.

Annotation speed
----------------
``vak predict`` reads the spectrograms that ``vak prep`` made, so going from audio
files to annotations with vak costs prep (spectrograms) + predict;
``annotation_x_realtime`` = TEST audio seconds / (TEST prep wall + predict wall), and
``predict_x_realtime`` uses predict alone (the ``predict_with_frame_classification_model``
call: loading the checkpoint and spectrograms, the network, post-processing and writing
the csv; not interpreter start-up or ``import vak``).  ``peak_rss_mb`` is the peak RSS of
the predict process; ``prep_test_peak_rss_mb`` that of the TEST prep (with its dask workers).

Predicted annotations
---------------------
``predict_csv``: crowsetta ``generic-seq`` csv written by vak, columns
``label, onset_s, offset_s, notated_path, annot_path, sequence, annotation`` (one row per
predicted segment; ``notated_path`` is the wav file name, e.g. ``95.wav``).  A file in
which every frame is predicted 'unlabeled' has no rows (vak skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import vak_baseline  # noqa: E402

DEFAULT_DATA_DIR = vak_baseline.DEFAULT_DATA_DIR
TRAIN_MIN_S = 600.0
TEST_FILES = tuple(range(95, 135))

SPECT_PARAMS = {
    "fft_size": 512,
    "step_size": 64,
    "freq_cutoffs": (500, 10000),
    "thresh": 6.25,
    "transform_type": "log_spect",
}
WINDOW_SIZE = 176
BATCH_SIZE = 8
LR = 0.001
NETWORK = {
    "conv1_filters": 32,
    "conv1_kernel_size": [5, 5],
    "conv2_filters": 64,
    "conv2_kernel_size": [5, 5],
    "pool1_size": [8, 1],
    "pool1_stride": [8, 1],
    "pool2_size": [8, 1],
    "pool2_stride": [8, 1],
    "hidden_size": 256,
    "num_layers": 1,
}
PATIENCE = 4
POST_TFM = {"majority_vote": True, "min_segment_dur": 0.02}
#: CPU seconds kept for what the train process does after the last step (saving)
SAVE_RESERVE_S = 3.0


# --------------------------------------------------------------------------------------
# split and data folders
# --------------------------------------------------------------------------------------
def _wav_number(path: pathlib.Path) -> int:
    m = re.fullmatch(r"(\d+)\.wav", path.name)
    if m is None:
        raise ValueError(f"not a numbered wav: {path}")
    return int(m.group(1))


def fixed_split(data_dir: str | pathlib.Path = DEFAULT_DATA_DIR) -> dict:
    """TRAIN = shortest prefix of files 0, 1, ... with >= 600 s; TEST = files 95-134."""
    import soundfile

    wavs = sorted((pathlib.Path(data_dir) / "Wave").glob("*.wav"), key=_wav_number)
    numbers = [_wav_number(w) for w in wavs]
    if numbers != list(range(len(wavs))):
        raise ValueError(f"expected Wave/0.wav ... {len(wavs) - 1}.wav without gaps")
    dur = {w.name: soundfile.info(str(w)).duration for w in wavs}
    train, total = [], 0.0
    for w in wavs:
        train.append(w.name)
        total += dur[w.name]
        if total >= TRAIN_MIN_S:
            break
    else:
        raise ValueError(f"less than {TRAIN_MIN_S} s of audio in {data_dir}")
    test = [f"{i}.wav" for i in TEST_FILES]
    if set(train) & set(test):
        raise ValueError("TRAIN prefix overlaps TEST files 95-134")
    return {
        "train": train,
        "test": test,
        "train_dur_s": total,
        "test_dur_s": sum(dur[n] for n in test),
    }


def _split_folder(data_dir: pathlib.Path, names: list[str], dst: pathlib.Path) -> pathlib.Path:
    """``dst/Wave/<name>`` symlinks + ``dst/Annotation.xml`` with only those files' sequences."""
    wave = dst / "Wave"
    wave.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = wave / name
        if not link.exists():
            link.symlink_to((data_dir / "Wave" / name).resolve())
    tree = ET.parse(data_dir / "Annotation.xml")
    root = tree.getroot()
    keep = set(names)
    for seq in list(root.findall("Sequence")):
        if seq.findtext("WaveFileName") not in keep:
            root.remove(seq)
    kept = root.findall("Sequence")
    if {s.findtext("WaveFileName") for s in kept} != keep:
        raise ValueError("some files of the split have no annotation in Annotation.xml")
    num = root.find("NumSequence")
    if num is not None:
        num.text = str(len(kept))
    annot = dst / "Annotation.xml"
    tree.write(annot, encoding="UTF-8", xml_declaration=True)
    return annot


# --------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------
def _model_table():
    import tomlkit

    net = tomlkit.table()
    for k, v in NETWORK.items():
        net.add(k, v)
    opt = tomlkit.table()
    opt.add("lr", LR)
    tweety = tomlkit.table()
    tweety.add("network", net)
    tweety.add("optimizer", opt)
    model = tomlkit.table()
    model.add("TweetyNet", tweety)
    return model


def _trainer_table():
    import tomlkit

    t = tomlkit.table()
    t.add("accelerator", "cpu")
    t.add("devices", 1)
    return t


def _prep_config(split_dir, output_dir, config_path, labelset, purpose) -> pathlib.Path:
    """vak_baseline's prep config; for ``purpose='eval'`` the [vak.train] table becomes
    a [vak.eval] placeholder (vak prep reads only its name: split 'test', no random split)."""
    import tomlkit

    path = vak_baseline.write_vak_prep_config(
        wav_dir=split_dir / "Wave",
        annot_file=split_dir / "Annotation.xml",
        output_dir=output_dir,
        config_path=config_path,
        fft_size=SPECT_PARAMS["fft_size"],
        step_size=SPECT_PARAMS["step_size"],
        freq_cutoffs=SPECT_PARAMS["freq_cutoffs"],
        transform_type=SPECT_PARAMS["transform_type"],
        thresh=SPECT_PARAMS["thresh"],
        train_dur=-1 if purpose == "train" else None,
        labelset=labelset,
        window_size=WINDOW_SIZE,
        batch_size=BATCH_SIZE,
    )
    if purpose == "eval":
        doc = tomlkit.parse(path.read_text())
        del doc["vak"]["train"]
        ev = tomlkit.table()
        ev.add("output_dir", str(pathlib.Path(output_dir).resolve() / "eval"))
        ev.add("model", _model_table())
        doc["vak"].add("eval", ev)
        path.write_text(tomlkit.dumps(doc))
    return path


def _write_train_config(prepped: pathlib.Path, dst: pathlib.Path, results_root: pathlib.Path):
    import tomlkit

    doc = tomlkit.parse(prepped.read_text())
    t = doc["vak"]["train"]
    t["root_results_dir"] = str(results_root)
    t["batch_size"] = BATCH_SIZE
    # vak: max_steps = num_epochs * len(train_loader); one epoch is far more than the budget
    t["num_epochs"] = 1
    t["num_workers"] = 0
    t["standardize_frames"] = True
    t["shuffle"] = True
    t["patience"] = PATIENCE  # no val split: no val_step (vak raises if set without 'val')
    for key in ("val_step", "ckpt_step"):
        if key in t:
            del t[key]
    t["model"] = _model_table()
    t["trainer"] = _trainer_table()
    dst.write_text(tomlkit.dumps(doc))
    return dst


def _write_infer_config(prepped, dst, kind, results, out_dir, annot_csv_filename=None):
    """[vak.eval] or [vak.predict] on the prepped TEST dataset (split 'test')."""
    import tomlkit

    doc = tomlkit.parse(prepped.read_text())
    dataset_path = str(doc["vak"]["eval"]["dataset"]["path"])
    del doc["vak"]["eval"]
    t = tomlkit.table()
    t.add("checkpoint_path", str(results["checkpoint_path"]))
    t.add("labelmap_path", str(results["labelmap_path"]))
    t.add("frames_standardizer_path", str(results["frames_standardizer_path"]))
    t.add("output_dir", str(out_dir))
    t.add("batch_size", 1)
    t.add("num_workers", 0)
    params = {"window_size": WINDOW_SIZE}
    if kind == "eval":
        t.add("post_tfm_kwargs", dict(POST_TFM))
    else:
        t.add("annot_csv_filename", annot_csv_filename)
        t.add("majority_vote", POST_TFM["majority_vote"])
        t.add("min_segment_dur", POST_TFM["min_segment_dur"])
        t.add("save_net_outputs", False)
        params["split"] = "test"  # predict's default split is 'predict'
    ds = tomlkit.table()
    ds.add("path", dataset_path)
    ds.add("params", params)
    t.add("dataset", ds)
    t.add("model", _model_table())
    t.add("trainer", _trainer_table())
    doc["vak"].add(kind, t)
    pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
    dst.write_text(tomlkit.dumps(doc))
    return dst


# --------------------------------------------------------------------------------------
# child processes
# --------------------------------------------------------------------------------------
def _run_child(kind: str, args: dict, work_dir: pathlib.Path) -> dict:
    """Run ``--_worker kind`` in a child; return its json plus its own rusage (wait4)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    args_path = work_dir / f"{kind}.args.json"
    out_path = work_dir / f"{kind}.out.json"
    log_path = work_dir / f"{kind}.log"
    args = dict(args, out=str(out_path))
    args_path.write_text(json.dumps(args, default=str))
    if out_path.exists():
        out_path.unlink()
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--_worker", kind, str(args_path)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if args.get("torch_threads"):
        env["OMP_NUM_THREADS"] = str(args["torch_threads"])
    with open(log_path, "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"vak {kind} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    out = json.loads(out_path.read_text())
    out.update(
        child_wall_s=wall,
        child_cpu_s=ru.ru_utime + ru.ru_stime,
        # ru_maxrss of a child folds in the parent's pre-exec peak on Linux: use the
        # child's own VmHWM (its dask prep runs on threads, so it is the whole step)
        child_peak_rss_mb=out.get("vm_hwm_mb", ru.ru_maxrss / 1024),
        log=str(log_path),
    )
    return out


def _vm_hwm_mb() -> float:
    """This process's own peak RSS (VmHWM; reset at exec, unlike ``ru_maxrss``)."""
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def _cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _set_threads(a: dict) -> None:
    import torch

    if a.get("torch_threads"):
        torch.set_num_threads(int(a["torch_threads"]))


def _worker_prep(a: dict) -> dict:
    sched = a.get("dask_scheduler")
    dataset_path, wall = vak_baseline.run_vak_prep(
        a["config"], dask_scheduler=None if sched in (None, "default") else sched
    )
    return {"dataset_path": str(dataset_path), "wall_s": wall}


def _worker_train(a: dict) -> dict:
    import lightning

    _set_threads(a)
    lightning.seed_everything(a["seed"], workers=True)
    import vak.cli.train
    import vak.train.frame_classification as fc

    budget = a["cpu_budget_s"]
    cap = a["max_steps"]
    info: dict[str, Any] = {"stopped_by": "max_steps"}

    class CpuBudget(lightning.pytorch.callbacks.Callback):
        """Stops training before the process's CPU time would pass ``budget``."""

        def on_train_start(self, trainer, pl_module):
            self.cpu0 = _cpu_self()
            self.wall0 = time.perf_counter()
            self.last = self.cpu0
            self.step_cpu: list[float] = []
            info["cpu_before_fit_s"] = self.cpu0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            now = _cpu_self()
            self.step_cpu.append(now - self.last)
            self.last = now
            wall_cap = a.get("wall_budget_s")
            if wall_cap is not None and time.perf_counter() - self.wall0 > wall_cap:
                trainer.should_stop = True
                info["stopped_by"] = "wall_budget"
            if budget is None or len(self.step_cpu) < 3:
                return
            recent = sorted(self.step_cpu[-20:])
            per_step = recent[len(recent) // 2]
            if now + per_step + SAVE_RESERVE_S > budget:
                trainer.should_stop = True
                info["stopped_by"] = "cpu_budget"

        def on_train_end(self, trainer, pl_module):
            steps = trainer.global_step
            if info["stopped_by"] == "max_steps" and steps < trainer.max_steps:
                info["stopped_by"] = "early_stopping"  # vak's EarlyStopping on val_acc
            cpu = _cpu_self() - self.cpu0
            info.update(
                steps=steps,
                fit_cpu_s=cpu,
                fit_wall_s=time.perf_counter() - self.wall0,
                cpu_per_step_s=cpu / max(steps, 1),
                median_step_cpu_s=sorted(self.step_cpu)[len(self.step_cpu) // 2]
                if self.step_cpu
                else None,
                batches_per_epoch=trainer.num_training_batches,
            )

    orig_callbacks = fc.get_train_callbacks
    orig_trainer = fc.get_trainer

    def get_train_callbacks(*args, **kwargs):
        cbs = orig_callbacks(*args, **kwargs)
        for cb in cbs:
            if isinstance(cb, lightning.pytorch.callbacks.EarlyStopping):
                cb.strict = False  # no val split: val_acc is never logged
        return cbs + [CpuBudget()]

    def get_trainer(*args, **kwargs):
        info["vak_max_steps"] = kwargs["max_steps"]
        if cap is not None:
            kwargs["max_steps"] = min(kwargs["max_steps"], int(cap))
        info["max_steps"] = kwargs["max_steps"]
        return orig_trainer(*args, **kwargs)

    fc.get_train_callbacks = get_train_callbacks
    fc.get_trainer = get_trainer
    t0 = time.perf_counter()
    with vak_baseline._vak_pandas_compat():
        vak.cli.train.train(a["config"])
    info["train_call_wall_s"] = time.perf_counter() - t0
    info["process_cpu_s"] = _cpu_self()
    return info


def _worker_eval(a: dict) -> dict:
    import numpy as np
    import vak.cli.eval
    import vak.transforms.frame_labels.functional as F

    # vak bug: ``FrameClassificationModel.validation_step`` post-processes
    # ``class_preds.cpu().numpy()``, which on CPU shares memory with ``class_preds``, and
    # ``postprocess`` edits its input in place, so the un-post-processed ``acc`` would
    # silently be the post-processed one.  Post-process a copy instead.
    orig_postprocess = F.postprocess

    def postprocess_copy(frame_labels, *args, **kwargs):
        return orig_postprocess(np.array(frame_labels, copy=True), *args, **kwargs)

    F.postprocess = postprocess_copy
    _set_threads(a)

    t0 = time.perf_counter()
    with vak_baseline._vak_pandas_compat():
        vak.cli.eval.eval(a["config"])
    return {"wall_s": time.perf_counter() - t0}


def _worker_predict(a: dict) -> dict:
    import vak.cli.predict
    import vak.predict.frame_classification as pfc

    _set_threads(a)
    timing: dict[str, float] = {}
    orig = pfc.predict_with_frame_classification_model

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        c0 = _cpu_self()
        try:
            return orig(*args, **kwargs)
        finally:
            timing["predict_wall_s"] = time.perf_counter() - t0
            timing["predict_cpu_s"] = _cpu_self() - c0

    pfc.predict_with_frame_classification_model = timed
    # vak.predict.predict imports the function by name from its module
    import vak.predict.predict_ as pp

    if hasattr(pp, "predict_with_frame_classification_model"):
        pp.predict_with_frame_classification_model = timed
    t0 = time.perf_counter()
    with vak_baseline._vak_pandas_compat():
        vak.cli.predict.predict(a["config"])
    timing["cli_wall_s"] = time.perf_counter() - t0
    timing["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timing


WORKERS = {
    "prep_train": _worker_prep,
    "prep_test": _worker_prep,
    "train": _worker_train,
    "eval": _worker_eval,
    "predict": _worker_predict,
}


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
def _check_split_column(dataset_path: pathlib.Path, split: str, names: list[str]) -> None:
    import pandas as pd

    meta = json.loads((dataset_path / "metadata.json").read_text())
    df = pd.read_csv(dataset_path / meta["dataset_csv_filename"])
    got = sorted(pathlib.Path(p).name for p in df["audio_path"])
    if set(df["split"]) != {split} or got != sorted(names):
        raise RuntimeError(
            f"vak dataset {dataset_path}: splits {set(df['split'])}, "
            f"{len(got)} files; expected all {len(names)} files in '{split}'"
        )


def vak_eval_metrics(csv_path: pathlib.Path) -> dict:
    """vak eval's csv as ``{metric: value}`` (``acc``, ``levenshtein``, ``*_tfm``, ...).

    vak writes ``avg_val_<metric>[_tfm]_epoch``; ``character_error_rate`` is vak 1.x's
    segment error rate (edit distance / length of the true label sequence, per file),
    also returned as ``segment_error_rate``.
    """
    import pandas as pd

    row = pd.read_csv(csv_path).iloc[0]
    metrics = {
        re.sub(r"^avg_(val_)?|_epoch$", "", k): float(row[k])
        for k in row.index
        if k.startswith("avg_")
    }
    for k in ("", "_tfm"):
        if f"character_error_rate{k}" in metrics:
            metrics[f"segment_error_rate{k}"] = metrics[f"character_error_rate{k}"]
    return metrics


def _train_results(results_root: pathlib.Path) -> dict:
    dirs = sorted(results_root.glob("results_*"))
    if not dirs:
        raise RuntimeError(f"vak train made no results directory in {results_root}")
    res = dirs[-1]
    ckpts = res / "TweetyNet" / "checkpoints"
    ckpt = ckpts / "checkpoint.pt"
    if not ckpt.exists():
        found = sorted(ckpts.glob("*.pt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise RuntimeError(f"vak train saved no checkpoint in {ckpts}")
        ckpt = found[-1]
    return {
        "results_path": res,
        "checkpoint_path": ckpt,
        "labelmap_path": res / "labelmap.json",
        "frames_standardizer_path": res / "FramesStandardizer",
    }


def run_tweetynet(
    work_dir: str | pathlib.Path,
    cpu_budget_s: float | None = 600,
    seed: int = 0,
    data_dir: str | pathlib.Path = DEFAULT_DATA_DIR,
    max_steps: int | None = None,
    reuse_prep: bool = False,
    torch_threads: int | None = 1,
    prep_dask_scheduler: str | None = "threads",
) -> dict:
    """Prep TRAIN/TEST, train TweetyNet under a CPU budget, ``vak eval`` and ``vak predict`` TEST.

    Parameters
    ----------
    work_dir : folder for split folders, configs, vak datasets, results and logs
        (created; an existing one is reused but each step runs again).
    cpu_budget_s : CPU seconds (user + system, all threads) for the whole ``vak train``
        process (start-up, standardizer fit, steps, saving).  ``None``: no budget
        (then ``max_steps`` must be given).
    seed : ``lightning.seed_everything`` in the train process (weights, window order).
    data_dir : folder with ``Wave/*.wav`` and ``Annotation.xml``.
    max_steps : optional cap on training steps (with or without a CPU budget).
    reuse_prep : reuse the TRAIN/TEST datasets (and their prep timings) that an earlier
        call made in ``work_dir`` (``prep.json``) instead of running ``vak prep`` again.
    torch_threads : torch intra-op threads (and ``OMP_NUM_THREADS``) for train, eval and
        predict; default 1 (see the module doc).  ``None``: torch's default (2 here).
    prep_dask_scheduler : dask scheduler for ``vak prep``: ``"threads"`` (default),
        ``"default"``/``None`` (vak's own: a spawned process pool), ``"synchronous"``.

    Returns
    -------
    dict with, among others: ``train_wall_s``, ``train_cpu_s`` (train process,
    ``RUSAGE_SELF`` + ``RUSAGE_CHILDREN`` deltas of this process), ``steps``,
    ``epochs`` (fraction of vak's epoch), ``cpu_budget_s``, ``vak_eval`` (vak's metrics on TEST:
    ``acc``, ``levenshtein``, ``segment_error_rate``, ``loss`` and the ``*_tfm``
    values after post-processing), ``frame_accuracy`` (``acc_tfm``), ``predict_wall_s``,
    ``test_audio_s``, ``annotation_x_realtime``, ``predict_x_realtime``, ``peak_rss_mb``
    (predict process), ``predict_csv`` (path, crowsetta 'generic-seq').
    """
    if cpu_budget_s is None and max_steps is None:
        raise ValueError("give cpu_budget_s or max_steps (one vak epoch is ~37,500 steps)")
    work = pathlib.Path(work_dir).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    data_dir = pathlib.Path(data_dir).resolve()
    logs = work / "logs"
    split = fixed_split(data_dir)
    labelset = vak_baseline._infer_labelset(
        data_dir / "Annotation.xml", "birdsong-recognition-dataset"
    )
    out: dict[str, Any] = {
        "cpu_budget_s": cpu_budget_s,
        "max_steps_cap": max_steps,
        "seed": seed,
        "torch_threads": torch_threads,
        "prep_dask_scheduler": prep_dask_scheduler,
        "train_files": f"{split['train'][0]}..{split['train'][-1]} ({len(split['train'])})",
        "train_audio_s": split["train_dur_s"],
        "test_files": f"{split['test'][0]}..{split['test'][-1]} ({len(split['test'])})",
        "test_audio_s": split["test_dur_s"],
        "labelset": labelset,
        "spect_params": dict(SPECT_PARAMS, freq_cutoffs=list(SPECT_PARAMS["freq_cutoffs"])),
        "tweetynet": dict(NETWORK, lr=LR, batch_size=BATCH_SIZE, window_size=WINDOW_SIZE),
        "post_tfm": POST_TFM,
        "work_dir": str(work),
    }

    # ---- prep ----------------------------------------------------------------------
    prep_json = work / "prep.json"
    if reuse_prep and prep_json.exists():
        saved = json.loads(prep_json.read_text())
        datasets = {
            k: (pathlib.Path(c), pathlib.Path(d)) for k, (c, d) in saved.pop("datasets").items()
        }
        out.update(saved)
        out["prep_reused"] = True
    else:
        datasets = {}
    for name, purpose in (("test", "eval"), ("train", "train")):
        if name in datasets:
            continue
        sdir = work / "data" / name
        _split_folder(data_dir, split[name], sdir)
        cfg = _prep_config(
            sdir, work / f"prep_{name}", work / "configs" / f"prep_{name}.toml", labelset, purpose
        )
        r = _run_child(
            f"prep_{name}", {"config": str(cfg), "dask_scheduler": prep_dask_scheduler}, logs
        )
        ds = pathlib.Path(r["dataset_path"])
        _check_split_column(ds, "test" if name == "test" else "train", split[name])
        datasets[name] = (cfg, ds)
        out[f"prep_{name}_wall_s"] = r["wall_s"]
        out[f"prep_{name}_peak_rss_mb"] = r["child_peak_rss_mb"]
        out[f"{name}_dataset"] = str(ds)
    prep_json.write_text(
        json.dumps(
            {
                "datasets": {k: [str(c), str(d)] for k, (c, d) in datasets.items()},
                **{
                    k: v
                    for k, v in out.items()
                    if k.startswith(("prep_", "train_dataset", "test_dataset"))
                },
            }
        )
    )
    lm_train = json.loads((datasets["train"][1] / "labelmap.json").read_text())
    lm_test = json.loads((datasets["test"][1] / "labelmap.json").read_text())
    if lm_train != lm_test:
        raise RuntimeError(f"TRAIN and TEST labelmaps differ: {lm_train} vs {lm_test}")

    # ---- train ---------------------------------------------------------------------
    results_root = work / "results"
    results_root.mkdir(exist_ok=True)  # vak train wants it to exist
    train_cfg = _write_train_config(
        datasets["train"][0], work / "configs" / "train.toml", results_root
    )
    ru_self0 = resource.getrusage(resource.RUSAGE_SELF)
    ru_child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = _run_child(
        "train",
        {
            "config": str(train_cfg),
            "cpu_budget_s": cpu_budget_s,
            "max_steps": max_steps,
            "seed": seed,
            "torch_threads": torch_threads,
        },
        logs,
    )
    ru_self1 = resource.getrusage(resource.RUSAGE_SELF)
    ru_child1 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def _cpu(a, b):
        return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)

    out.update(
        train_wall_s=r["child_wall_s"],
        train_cpu_s=_cpu(ru_self0, ru_self1) + _cpu(ru_child0, ru_child1),
        train_cpu_self_s=_cpu(ru_self0, ru_self1),
        train_cpu_children_s=_cpu(ru_child0, ru_child1),
        train_fit_wall_s=r.get("fit_wall_s"),
        train_fit_cpu_s=r.get("fit_cpu_s"),
        train_cpu_before_fit_s=r.get("cpu_before_fit_s"),
        steps=r.get("steps"),
        batches_per_epoch=r.get("batches_per_epoch"),
        epochs=(r["steps"] / r["batches_per_epoch"]) if r.get("batches_per_epoch") else None,
        cpu_per_step_s=r.get("cpu_per_step_s"),
        stopped_by=r.get("stopped_by"),
        train_peak_rss_mb=r["child_peak_rss_mb"],
    )
    results = _train_results(results_root)
    out["checkpoint_path"] = str(results["checkpoint_path"])
    out["train_results_path"] = str(results["results_path"])

    # ---- eval ----------------------------------------------------------------------
    eval_dir = work / "eval"
    eval_cfg = _write_infer_config(
        datasets["test"][0], work / "configs" / "eval.toml", "eval", results, eval_dir
    )
    before = set(eval_dir.glob("eval_*.csv")) if eval_dir.exists() else set()
    r = _run_child("eval", {"config": str(eval_cfg), "torch_threads": torch_threads}, logs)
    new = sorted(set(eval_dir.glob("eval_*.csv")) - before, key=lambda p: p.stat().st_mtime)
    if not new:
        raise RuntimeError(f"vak eval wrote no eval_*.csv in {eval_dir}")
    metrics = vak_eval_metrics(new[-1])
    out["vak_eval"] = metrics
    out["vak_eval_csv"] = str(new[-1])
    out["frame_accuracy"] = metrics.get("acc_tfm", metrics.get("acc"))
    out["eval_wall_s"] = r["wall_s"]

    # ---- predict -------------------------------------------------------------------
    pred_dir = work / "predict"
    csv_name = "TEST.TweetyNet.annot.csv"
    pred_cfg = _write_infer_config(
        datasets["test"][0],
        work / "configs" / "predict.toml",
        "predict",
        results,
        pred_dir,
        annot_csv_filename=csv_name,
    )
    r = _run_child("predict", {"config": str(pred_cfg), "torch_threads": torch_threads}, logs)
    predict_csv = pred_dir / csv_name
    if not predict_csv.exists():
        raise RuntimeError(f"vak predict wrote no {predict_csv}")
    out.update(
        predict_wall_s=r["predict_wall_s"],
        predict_cpu_s=r["predict_cpu_s"],
        predict_cli_wall_s=r["cli_wall_s"],
        predict_process_wall_s=r["child_wall_s"],
        peak_rss_mb=r["child_peak_rss_mb"],
        predict_x_realtime=split["test_dur_s"] / r["predict_wall_s"],
        annotation_x_realtime=split["test_dur_s"] / (out["prep_test_wall_s"] + r["predict_wall_s"]),
        predict_csv=str(predict_csv),
    )
    (work / "tweetynet_baseline.json").write_text(json.dumps(out, indent=2, default=str))
    return out


def _summary(r: dict) -> str:
    def f(x, fmt=".1f"):
        return "n/a" if x is None else format(x, fmt)

    e = r["vak_eval"]
    return "\n".join(
        [
            f"TweetyNet (vak) on Bird0: TRAIN {r['train_files']} {r['train_audio_s']:.1f} s, "
            f"TEST {r['test_files']} {r['test_audio_s']:.1f} s",
            f"train: {r['steps']} steps of {BATCH_SIZE} windows x {WINDOW_SIZE} frames "
            f"({f(r['epochs'], '.3f')} of vak's {r['batches_per_epoch']}-step epoch), "
            f"stopped by {r['stopped_by']}; CPU {r['train_cpu_s']:.1f} s "
            f"(budget {r['cpu_budget_s']}; {f(r['train_cpu_before_fit_s'])} s before fit, "
            f"{f(r['cpu_per_step_s'], '.3f')} s/step), wall {r['train_wall_s']:.1f} s",
            f"vak eval TEST: frame accuracy {f(e.get('acc'), '.4f')} "
            f"(post-processed {f(e.get('acc_tfm'), '.4f')}), "
            f"segment error rate {f(e.get('segment_error_rate'), '.4f')} "
            f"(post-processed {f(e.get('segment_error_rate_tfm'), '.4f')}), "
            f"levenshtein {f(e.get('levenshtein'))} (post-processed {f(e.get('levenshtein_tfm'))})",
            f"annotate TEST: prep {r['prep_test_wall_s']:.1f} s + predict {r['predict_wall_s']:.1f} s "
            f"-> {r['annotation_x_realtime']:.1f}x real time "
            f"(predict alone {r['predict_x_realtime']:.1f}x); peak RSS predict "
            f"{f(r['peak_rss_mb'], '.0f')} MB, TEST prep {f(r['prep_test_peak_rss_mb'], '.0f')} MB",
            f"predicted annotations: {r['predict_csv']}",
        ]
    )


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work-dir", type=pathlib.Path, required=True)
    p.add_argument("--cpu-budget", type=float, default=600.0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--reuse-prep", action="store_true", help="reuse datasets prepped in --work-dir")
    p.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    p.add_argument(
        "--prep-dask-scheduler",
        default="threads",
        choices=["threads", "default", "synchronous", "processes"],
    )
    a = p.parse_args(argv)
    r = run_tweetynet(
        a.work_dir,
        a.cpu_budget,
        a.seed,
        a.data_dir,
        a.max_steps,
        a.reuse_prep,
        a.torch_threads or None,
        a.prep_dask_scheduler,
    )
    print(_summary(r))
    return r


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--_worker":
        _args = json.loads(pathlib.Path(sys.argv[3]).read_text())
        _res = WORKERS[sys.argv[2]](_args)
        _res["vm_hwm_mb"] = _vm_hwm_mb()
        pathlib.Path(_args["out"]).write_text(json.dumps(_res, default=str))
    else:
        main()
