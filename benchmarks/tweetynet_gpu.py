"""TweetyNet trained the way its authors train it, on a GPU, then scored here on CPU.

``tweetynet_baseline.py`` trains vak's TweetyNet under a 600-s CPU budget on this
project's 2-core machines: that reaches ~0.05 of one of vak's epochs, an undertrained
network.  The TweetyNet paper (Cohen et al. 2022, eLife 11:e63853) trains with vak on a
GPU, validates every ``val_step`` steps on a held-out set and stops early (``patience``
validations without a better validation frame accuracy), then evaluates the checkpoint
with the best validation accuracy, with vak's clean-up (majority vote within segments,
segments under 20 ms removed).  This script does exactly that, in two halves:

``train`` (on a machine with a GPU and vak installed)
    Bird0 files 0-94 decoded from FLAC (lossless copies of the wavs: the GPU machine
    receives at most 64 MiB), one vak ``prep`` in which files 0-61 (TRAIN, 601 s, the
    fixed split) go to split ``train`` and files 62-94 (the project's hyper-parameter
    files, never TEST) to split ``val`` -- vak draws splits at random, so its
    ``assign_samples_to_splits`` is wrapped to assign these fixed splits (the one
    adapter here).  Then ``vak train`` with the settings of ``tweetynet_baseline``
    (TweetyNet network, batch 8, windows of 176 frames, Adam 1e-3, standardised frames)
    plus the authors' validation schedule: ``val_step = 400``, ``patience = 4``,
    ``accelerator = "gpu"``.  A wall-clock cap (``--budget``) guards the lent
    machine's time; the JSON says whether early stopping or the cap ended training.
    Writes ``checkpoint.pt`` (best validation accuracy), ``labelmap.json``,
    ``FramesStandardizer`` and ``train.json`` to ``--out``.

``evaluate`` (here, CPU)
    vak ``prep`` of TEST (files 95-134), then ``vak eval`` (with clean-up) and
    ``vak predict`` (with clean-up) of that checkpoint, through the same code and
    configs as ``tweetynet_baseline.run_tweetynet`` (the checkpoint is first copied to CPU
    tensors: vak's ``torch.load`` has no ``map_location``), then scores the predictions as
    ``bench_esn.score_tweetynet`` scores every model; writes
    ``benchmarks/results/esn_tweetynet_gpu.json`` and ``esn_tweetynet_gpu_predict.csv``.

Commands::

    # here: the carried inputs (ignored by git; 24 MB of FLAC + 7 MB of wheels)
    .venv/bin/python -c "import soundfile as sf; [sf.write(f'.twgpu/flac/{i}.flac', \
        *sf.read(f'../shared/data/bengalese_finch_koumura_bird0/Wave/{i}.wav', dtype='int16')) \
        for i in range(95)]"; cp ../shared/data/bengalese_finch_koumura_bird0/Annotation.xml .twgpu/
    .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl \
        vak==1.0.4.post1 crowsetta==5.1.2 evfuncs==0.3.5.post1 pandera==0.35.0 pydantic==2.14.4 \
        pydantic_core==2.50.5 annotated-types typing-inspection typeguard soundfile==0.14.0 cffi \
        pycparser tomlkit dask==2026.8.0 partd locket pynndescent umap-learn appdirs importlib_metadata
    # GPU machine (its python has torch, lightning, pandas, numpy, ...): install the wheels
    # into /tmp/site, PYTHONPATH=/tmp/site, then
    python3 benchmarks/tweetynet_gpu.py train --flac .twgpu/flac \
        --annotation .twgpu/Annotation.xml --out $OUT --budget 420
    # here
    .venv/bin/python benchmarks/tweetynet_gpu.py evaluate --results DIR --work-dir /tmp/twgpu
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tweetynet_baseline as tb  # noqa: E402
import vak_baseline  # noqa: E402

VAL_FILES = tuple(range(62, 95))
VAL_STEP = 400
RESULT = "esn_tweetynet_gpu.json"
PREDICTIONS = "esn_tweetynet_gpu_predict.csv"
PATIENCE = 4


def _decode_flac(flac_dir: pathlib.Path, annotation: pathlib.Path, dst: pathlib.Path) -> None:
    """``dst/Wave/<n>.wav`` (int16, as the originals) + ``dst/Annotation.xml``."""
    import soundfile

    wave = dst / "Wave"
    wave.mkdir(parents=True, exist_ok=True)
    for flac in sorted(flac_dir.glob("*.flac")):
        data, sr = soundfile.read(flac, dtype="int16")
        soundfile.write(wave / f"{flac.stem}.wav", data, sr, subtype="PCM_16")
    shutil.copy(annotation, dst / "Annotation.xml")


def _fixed_splits(train: list[str], val: list[str]):
    """Context manager: vak prep assigns ``train`` / ``val`` by file name, not at random."""
    import contextlib

    import vak.prep.frame_classification.frame_classification as fcp

    @contextlib.contextmanager
    def ctx():
        orig = fcp.assign_samples_to_splits

        def fixed(purpose, dataset_df, *args, **kwargs):
            names = dataset_df["audio_path"].map(lambda p: pathlib.Path(p).name)
            unknown = sorted(set(names) - set(train) - set(val))
            if unknown:
                raise RuntimeError(f"files in neither TRAIN nor VAL: {unknown[:5]}")
            df = dataset_df.copy()
            df["split"] = ["train" if n in train else "val" for n in names]
            return df

        fcp.assign_samples_to_splits = fixed
        try:
            yield
        finally:
            fcp.assign_samples_to_splits = orig

    return ctx()


def train(flac: pathlib.Path, annotation: pathlib.Path, out: pathlib.Path, budget_s: float) -> dict:
    import tomlkit
    import torch

    work = pathlib.Path("/tmp/twgpu")
    src = work / "bird0"
    t0 = time.perf_counter()
    _decode_flac(flac, annotation, src)
    # TEST (95-134) never travels: TRAIN is tb.fixed_split's prefix, recomputed the same way
    import soundfile

    split = {"train": []}
    total = 0.0
    for i in range(VAL_FILES[0]):
        split["train"].append(f"{i}.wav")
        total += soundfile.info(str(src / "Wave" / f"{i}.wav")).duration
    if (
        total < tb.TRAIN_MIN_S
        or total - soundfile.info(str(src / "Wave" / f"{VAL_FILES[0] - 1}.wav")).duration
        >= tb.TRAIN_MIN_S
    ):
        raise RuntimeError(f"files 0-61 are not the shortest prefix with >= 600 s ({total:.1f} s)")
    val = [f"{i}.wav" for i in VAL_FILES]
    labelset = vak_baseline._infer_labelset(src / "Annotation.xml", "birdsong-recognition-dataset")
    sdir = work / "data" / "trainval"
    tb._split_folder(src, split["train"] + val, sdir)
    cfg = tb._prep_config(sdir, work / "prep", work / "configs" / "prep.toml", labelset, "train")
    with _fixed_splits(split["train"], val):
        dataset_path, prep_wall = vak_baseline.run_vak_prep(cfg, dask_scheduler="threads")
    import pandas as pd

    meta = json.loads((dataset_path / "metadata.json").read_text())
    df = pd.read_csv(dataset_path / meta["dataset_csv_filename"])
    counts = df.groupby("split")["audio_path"].count().to_dict()
    if counts != {"train": len(split["train"]), "val": len(val)}:
        raise RuntimeError(f"unexpected splits in {dataset_path}: {counts}")

    results_root = work / "results"
    results_root.mkdir(parents=True, exist_ok=True)
    train_cfg = tb._write_train_config(cfg, work / "configs" / "train.toml", results_root)
    doc = tomlkit.parse(train_cfg.read_text())
    t = doc["vak"]["train"]
    t["val_step"] = VAL_STEP
    t["ckpt_step"] = VAL_STEP
    t["patience"] = PATIENCE
    t["num_epochs"] = 50  # the authors'; early stopping or the wall cap ends training first
    t["num_workers"] = 4
    t["trainer"]["accelerator"] = "gpu" if torch.cuda.is_available() else "cpu"
    train_cfg.write_text(tomlkit.dumps(doc))

    # no CPU budget: the authors' early stopping ends training, or the wall-clock cap
    info = tb._run_child(
        "train",
        {
            "config": str(train_cfg),
            "cpu_budget_s": None,
            "wall_budget_s": budget_s,
            "max_steps": None,
            "seed": 0,
            "torch_threads": None,
        },
        work / "logs",
    )
    res = sorted(results_root.glob("results_*"))[-1]
    ckpts = res / "TweetyNet" / "checkpoints"
    best = ckpts / "max-val-acc-checkpoint.pt"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(best if best.exists() else ckpts / "checkpoint.pt", out / "checkpoint.pt")
    shutil.copy(res / "labelmap.json", out / "labelmap.json")
    shutil.copy(res / "FramesStandardizer", out / "FramesStandardizer")
    shutil.copy(work / "logs" / "train.log", out / "train.log")
    val_curve = _val_curve((work / "logs" / "train.log").read_text())
    info.update(
        device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        checkpoint="max-val-acc" if best.exists() else "last",
        val_files="62..94 (33)",
        val_step=VAL_STEP,
        patience=PATIENCE,
        wall_budget_s=budget_s,
        prep_wall_s=prep_wall,
        total_wall_s=time.perf_counter() - t0,
        val_curve=val_curve,
        torch=torch.__version__,
    )
    (out / "train.json").write_text(json.dumps(info, indent=2, default=str))
    return info


def _val_curve(log: str) -> list[dict]:
    """(step, val_acc) at each validation, from lightning's checkpoint messages in the log."""
    import re

    curve = []
    for m in re.finditer(r"global step (\d+): 'val_acc' (?:reached ([\d.]+)|was not in top)", log):
        curve.append(
            {
                "step": int(m.group(1)),
                "best_so_far": m.group(2) is not None,
                "val_acc": float(m.group(2)) if m.group(2) else None,
            }
        )
    return curve


def evaluate(results: pathlib.Path, work_dir: pathlib.Path) -> dict:
    """vak eval + predict of TEST with the GPU-trained checkpoint (CPU, one thread)."""

    work = work_dir.resolve()
    data_dir = tb.DEFAULT_DATA_DIR
    split = tb.fixed_split(data_dir)
    labelset = vak_baseline._infer_labelset(
        data_dir / "Annotation.xml", "birdsong-recognition-dataset"
    )
    logs = work / "logs"
    sdir = work / "data" / "test"
    tb._split_folder(data_dir, split["test"], sdir)
    cfg = tb._prep_config(
        sdir, work / "prep_test", work / "configs" / "prep_test.toml", labelset, "eval"
    )
    r = tb._run_child("prep_test", {"config": str(cfg), "dask_scheduler": "threads"}, logs)
    ds = pathlib.Path(r["dataset_path"])
    tb._check_split_column(ds, "test", split["test"])
    prep_wall = r["wall_s"]
    lm = json.loads((ds / "labelmap.json").read_text())
    if lm != json.loads((results / "labelmap.json").read_text()):
        raise RuntimeError("the GPU run's labelmap differs from TEST's")
    # the checkpoint holds CUDA tensors and vak's torch.load has no map_location: a CPU copy
    import torch

    ckpt = torch.load(results / "checkpoint.pt", map_location="cpu", weights_only=False)
    cpu_ckpt = work / "checkpoint.cpu.pt"
    torch.save(ckpt, cpu_ckpt)
    paths = {
        "checkpoint_path": cpu_ckpt,
        "labelmap_path": results / "labelmap.json",
        "frames_standardizer_path": results / "FramesStandardizer",
    }
    eval_dir = work / "eval"
    eval_cfg = tb._write_infer_config(cfg, work / "configs" / "eval.toml", "eval", paths, eval_dir)
    tb._run_child("eval", {"config": str(eval_cfg), "torch_threads": 1}, logs)
    metrics = tb.vak_eval_metrics(
        sorted(eval_dir.glob("eval_*.csv"), key=lambda p: p.stat().st_mtime)[-1]
    )
    pred_dir = work / "predict"
    csv_name = "TEST.TweetyNet.annot.csv"
    pred_cfg = tb._write_infer_config(
        cfg,
        work / "configs" / "predict.toml",
        "predict",
        paths,
        pred_dir,
        annot_csv_filename=csv_name,
    )
    r = tb._run_child("predict", {"config": str(pred_cfg), "torch_threads": 1}, logs)
    trained = json.loads((results / "train.json").read_text())
    if trained.get("stopped_by") == "max_steps" and trained["steps"] < trained["max_steps"]:
        trained["stopped_by"] = "early_stopping"  # runs before that label existed
    out = {
        "trained_on": trained.get("device"),
        "train": trained,
        "steps": trained.get("steps"),
        "batches_per_epoch": trained.get("batches_per_epoch"),
        "epochs": trained["steps"] / trained["batches_per_epoch"]
        if trained.get("batches_per_epoch")
        else None,
        "stopped_by": trained.get("stopped_by"),
        "train_wall_s": trained.get("fit_wall_s"),
        "vak_eval": metrics,
        "frame_accuracy": metrics.get("acc_tfm", metrics.get("acc")),
        "post_tfm": tb.POST_TFM,
        "predict_csv": str(pred_dir / csv_name),
        "predict_wall_s": r["predict_wall_s"],
        "test_audio_s": split["test_dur_s"],
        "prep_test_wall_s": prep_wall,
        "annotation_x_realtime": split["test_dur_s"] / (prep_wall + r["predict_wall_s"]),
        "peak_rss_mb": r["child_peak_rss_mb"],
    }
    # scored as bench_esn scores the ESN and the CPU TweetyNet (our SER, F1 at 10 ms, 1-ms grid)
    import bench_esn
    from results_io import RESULTS, write_json  # here, not on the GPU machine

    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pred_dir / csv_name, RESULTS / PREDICTIONS)
    out.update(bench_esn.score_tweetynet(RESULTS / PREDICTIONS))
    out["predict_csv"] = f"benchmarks/results/{PREDICTIONS}"
    (work / "tweetynet_gpu.json").write_text(json.dumps(out, indent=2, default=str))
    write_json(pathlib.Path(RESULT).stem, out, RESULTS, newline=True, default=str)
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--flac", type=pathlib.Path, required=True)
    t.add_argument("--annotation", type=pathlib.Path, required=True)
    t.add_argument("--out", type=pathlib.Path, required=True)
    t.add_argument("--budget", type=float, default=420.0, help="seconds of training at most")
    e = sub.add_parser("evaluate")
    e.add_argument("--results", type=pathlib.Path, required=True)
    e.add_argument("--work-dir", type=pathlib.Path, required=True)
    a = p.parse_args(argv)
    if a.cmd == "train":
        r = train(a.flac, a.annotation, a.out, a.budget)
    else:
        r = evaluate(a.results, a.work_dir)
    print(
        json.dumps(
            {k: v for k, v in r.items() if k not in ("val_curve", "train")}, indent=2, default=str
        )
    )
    return r


if __name__ == "__main__":
    main()
