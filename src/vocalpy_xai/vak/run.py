"""Run vak TOML configs: vak's built-in families go to vak unchanged, ESNDecoder and
AudioProtoNet (:mod:`vocalpy_xai.vak.protonet_run`) to us.

``vocalpy-xai train|eval|predict|prep CONFIG.toml``. A user takes the config they would
write for TweetyNet and swaps the model table::

    [vak.train]
    root_results_dir = "results"
    [vak.train.dataset]
    path = "bird0.zarr"                  # a vocalpy-xai store (or a vak-prepped dataset for vak)
    splits_path = "bird0.splits.csv"     # optional: columns clip, split
    [vak.train.model.ESNDecoder.network]
    units = 800
    [vak.train.model.ESNDecoder.optimizer]
    ridge = 1e-4
    [vak.train.trainer]
    accelerator = "cpu"

Every table is checked against a schema before anything runs (:mod:`vocalpy_xai.vak.schema`):
an unknown key or model names the valid choices, a wrong type or range names the key.
"""

from __future__ import annotations

import json
import pathlib
import time

import attrs
import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..models.esn_decoder import ESNDecoder, ESNParams
from ..models.features import BandFeatures
from ..models.postprocess import PostprocessParams
from . import schema

TABLES = ("prep", "train", "eval", "predict")
VAK_FAMILIES = ("FrameClassificationModel", "ParametricUMAPModel")


def _fields(cls) -> list[str]:
    return [f.name for f in attrs.fields(cls) if not f.name.endswith("_")]


def check_config(toml_path: str | pathlib.Path, table: str) -> dict:
    """Check a whole vak config against its schema (:mod:`vocalpy_xai.vak.schema`).

    Types, ranges, required keys and unknown keys of every table, before anything runs.

    Returns
    -------
    raw : dict
        The ``[vak.<table>]`` table as a dict.

    Raises
    ------
    ConfigError
        Naming the config file, the table, the key, what was expected and what was found.
    """
    return schema.check_config(toml_path, table)


def model_family(raw: dict) -> str | None:
    """Family name of the config's model (None if the table names no model)."""
    import vak

    if "model" not in raw:
        return None
    return vak.models.registry.MODEL_FAMILY_FROM_NAME[next(iter(raw["model"]))]


def esn_from_tables(tables: dict) -> ESNDecoder:
    """An untrained ESNDecoder from the ``[...model.ESNDecoder.*]`` tables."""
    net = dict(tables.get("network", {}))
    pick = {k: net.pop(k) for k in list(net) if k in _fields(BandFeatures)}
    post = {k: net.pop(k) for k in list(net) if k in _fields(PostprocessParams)}
    params = ESNParams(**net, **tables.get("optimizer", {}), **tables.get("loss", {}))
    return ESNDecoder(params, BandFeatures(**pick), PostprocessParams(**post))


def read_splits(path: str | pathlib.Path | None, n_clips: int) -> np.ndarray:
    """Split per clip from a CSV with columns ``clip, split``; default: all ``train``.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, lacks a column, or names a clip the store lacks.
    """
    if path is None:
        return np.full(n_clips, "train")
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise ConfigError(f"{path}: cannot read the splits file ({err})") from err
    if not {"clip", "split"} <= set(table.columns):
        raise ConfigError(
            f"{path}: a splits file needs columns 'clip' and 'split' "
            f"(found: {', '.join(map(str, table.columns))})"
        )
    clips = pd.to_numeric(table["clip"], errors="coerce")
    bad = table["clip"][clips.isna() | (clips % 1 != 0) | (clips < 0) | (clips >= n_clips)]
    if len(bad):
        raise ConfigError(
            f"{path}: clip {bad.iloc[0]!r} (row {bad.index[0] + 2}) is not a clip of the store "
            f"(0-{n_clips - 1})"
        )
    out = np.full(n_clips, "", dtype="<U5")
    out[clips.to_numpy(int)] = table["split"].astype(str).to_numpy()
    return out


def write_splits(path: str | pathlib.Path, split: np.ndarray) -> pathlib.Path:
    """Write a split array (one entry per clip) as a ``clip, split`` CSV."""
    path = pathlib.Path(path)
    pd.DataFrame({"clip": np.arange(len(split)), "split": split}).to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------- verbs
def train(toml_path: str | pathlib.Path, progress: bool = True) -> pathlib.Path | None:
    """Train the config's model; returns the saved model directory (vak: None)."""
    raw = check_config(toml_path, "train")
    if model_family(raw) in VAK_FAMILIES:
        import vak.cli.train

        vak.cli.train.train(toml_path)
        return None
    if model_family(raw) == "AudioProtoNetModel":
        from . import protonet_run

        return protonet_run.train(toml_path, raw, _resolve, read_splits, ConfigError, progress)
    from ..review.report import predict_clips, score_predictions
    from ..store import open_store

    dataset = raw["dataset"]
    data_path = _resolve(toml_path, dataset["path"])
    model = esn_from_tables(raw["model"]["ESNDecoder"])
    if _kind(data_path) == "vak":  # a vak-prepped dataset: its own 'train' split
        model.fit(data_path, split="train", progress=progress)
        metrics = {"train": _train_figures(model)}
    else:
        ds = open_store(data_path)
        split = read_splits(_resolve(toml_path, dataset.get("splits_path")), ds.sizes["clip"])
        train_clips = np.flatnonzero(split == "train")
        if train_clips.size == 0:
            raise ConfigError(f"{toml_path}: the splits give no 'train' clip")
        model.fit(ds, train_clips, progress=progress)
        metrics = {"train": _train_figures(model)}
        val = np.flatnonzero(split == "val")
        if val.size:
            metrics["val"] = score_predictions(model, predict_clips(model, ds, val))
    root = _resolve(toml_path, raw["root_results_dir"])
    out = root / f"results_{time.strftime('%y%m%d_%H%M%S')}" / "ESNDecoder"
    path = model.save(out, metrics=metrics)
    print(f"ESNDecoder saved to {path}")
    return path


def _kind(path: pathlib.Path) -> str:
    """'vak' for a vak-prepped dataset folder, 'store' otherwise."""
    return (
        "vak"
        if (path / "metadata.json").exists() and not (path / "zarr.json").exists()
        else "store"
    )


def _train_figures(model: ESNDecoder) -> dict:
    return {"seconds": model.training_["seconds"], "cpu_seconds": model.training_["cpu_seconds"]}


def eval(toml_path: str | pathlib.Path) -> dict | None:
    """Evaluate a trained model on the ``test`` split; writes metrics JSON and a confusion PNG."""
    raw = check_config(toml_path, "eval")
    if model_family(raw) in VAK_FAMILIES:
        import vak.cli.eval

        vak.cli.eval.eval(toml_path)
        return None
    if model_family(raw) == "AudioProtoNetModel":
        from . import protonet_run

        return protonet_run.evaluate(toml_path, raw, _resolve, read_splits, ConfigError)
    from ..metrics import plot_confusion_matrix
    from ..report.plots import save
    from ..review.report import predict_clips, score_predictions
    from ..store import open_store

    model = ESNDecoder.load(_resolve(toml_path, raw["checkpoint_path"]))
    dataset = raw["dataset"]
    ds = open_store(_resolve(toml_path, dataset["path"]))
    split = read_splits(_resolve(toml_path, dataset.get("splits_path")), ds.sizes["clip"])
    test = np.flatnonzero(split == "test")
    if test.size == 0:
        raise ConfigError(f"{toml_path}: the splits give no 'test' clip")
    metrics = score_predictions(model, predict_clips(model, ds, test))
    out = _resolve(toml_path, raw["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%y%m%d_%H%M%S")
    (out / f"eval_ESNDecoder_{stamp}.json").write_text(json.dumps(metrics, indent=2))
    if "frames" in metrics:
        cm = np.asarray(metrics["frames"]["confusion_matrix"])
        fig = plot_confusion_matrix(cm, model.class_names_, title="ESNDecoder, frames (test)")
        save(fig, out / f"confusion_ESNDecoder_{stamp}.png")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, list | dict)}))
    return metrics


def predict(toml_path: str | pathlib.Path) -> pathlib.Path | None:
    """Annotate every clip of the dataset; writes a generic-seq CSV of crowsetta annotations."""
    raw = check_config(toml_path, "predict")
    if model_family(raw) in VAK_FAMILIES:
        import vak.cli.predict

        vak.cli.predict.predict(toml_path)
        return None
    if model_family(raw) == "AudioProtoNetModel":
        from . import protonet_run

        return protonet_run.predict(toml_path, raw, _resolve, ConfigError)
    from ..io.annotations import write_annotations
    from ..store import ClipReader, open_store

    model = ESNDecoder.load(_resolve(toml_path, raw["checkpoint_path"]))
    ds = open_store(_resolve(toml_path, raw["dataset"]["path"]))
    reader = ClipReader(ds)
    annots = []
    for c in range(ds.sizes["clip"]):
        seg = model.predict(reader.spectrogram(c), ds["freq"].values).segments
        annots.append(seg.to_annotation(str(ds["source_path"].values[c])))
    out = _resolve(toml_path, raw.get("output_dir", "."))
    name = raw.get("annot_csv_filename", f"predict_ESNDecoder_{time.strftime('%y%m%d_%H%M%S')}.csv")
    path = write_annotations(annots, out / name, "generic-seq")
    print(f"annotations: {path}")
    return path


def prep(toml_path: str | pathlib.Path) -> None:
    """``vak prep`` (vak's own dataset preparation), with pandas 3 made to suit vak 1.0.4.

    vak 1.0.4's prep assumes pandas string columns are numpy object arrays and fails with
    pandas >= 3's Arrow strings (``'ArrowStringArray' object has no attribute 'remove'``);
    pandas' ``future.infer_string`` option is switched off while vak runs.
    """
    check_config(toml_path, "prep")
    import warnings

    import vak.cli.prep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            context = pd.option_context("future.infer_string", False)
        except (KeyError, pd.errors.OptionError):  # pandas without the option
            import contextlib

            context = contextlib.nullcontext()
    with context:
        vak.cli.prep.prep(toml_path)


def _resolve(toml_path, value) -> pathlib.Path | None:
    if value is None:
        return None
    p = pathlib.Path(str(value)).expanduser()
    return p if p.is_absolute() else pathlib.Path(toml_path).resolve().parent / p
