"""AudioProtoNet as a vak model family: configs checked, trained, evaluated and run."""

from __future__ import annotations

import json

import attrs
import numpy as np
import pandas as pd
import pytest

from vocalpy_xai import cli
from vocalpy_xai.vak.run import ConfigError, check_config, write_splits

CONFIG = """
[vak.train]
root_results_dir = "results"

[vak.train.dataset]
path = "{store}"
splits_path = "splits.csv"
params = {{ window_s = 0.2 }}

[vak.train.model.AudioProtoNet.network]
arch = "audio"
prototypes_per_class = 2
channels = [8, 16, 16]
prototype_dim = 16
seed = 1

[vak.train.model.AudioProtoNet.optimizer]
epochs = 2
warmup_epochs = 1
last_layer_epochs = 1

[vak.train.trainer]
accelerator = "cpu"
"""


@pytest.fixture(scope="module")
def syllable_store(tmp_path_factory, example_bird0):
    from vocalpy_xai.clips import build_syllable_store

    path = tmp_path_factory.mktemp("protonet-vak") / "bird0-syllables.zarr"
    build_syllable_store(example_bird0 / "Annotation.xml", path, progress=False)
    return path


def _write(tmp_path, text, name="config.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_audio_protonet_is_registered_with_vak():
    import vak

    from vocalpy_xai.protonet import ProtoNetParams
    from vocalpy_xai.vak import families  # noqa: F401
    from vocalpy_xai.vak.protonet_run import TABLE_KEYS

    assert vak.models.registry.MODEL_FAMILY_FROM_NAME["AudioProtoNet"] == "AudioProtoNetModel"
    cfg = vak.config.model.ModelConfig.from_config_dict(
        {"AudioProtoNet": {"network": {"arch": "plain"}}}
    )
    assert cfg.name == "AudioProtoNet" and cfg.network == {"arch": "plain"}
    # every ProtoNetParams field has exactly one home among the model's sub-tables
    keys = [k for v in TABLE_KEYS.values() for k in v]
    assert sorted(keys) == sorted(f.name for f in attrs.fields(ProtoNetParams))


def test_unknown_keys_name_the_choices(tmp_path):
    base = CONFIG.format(store="x.zarr")
    with pytest.raises(
        ConfigError,
        match=r"AudioProtoNet.network\]: unknown key 'prototype_per_class'\. "
        r"Did you mean 'prototypes_per_class'\?",
    ):
        check_config(
            _write(tmp_path, base.replace("prototypes_per_class", "prototype_per_class")), "train"
        )
    with pytest.raises(
        ConfigError, match=r"AudioProtoNet.optimizer\]: unknown key 'epoch'.*epochs"
    ):
        check_config(_write(tmp_path, base.replace("\nepochs =", "\nepoch =")), "train")
    with pytest.raises(ConfigError, match=r"unknown model table 'optimiser'.*optimizer"):
        check_config(_write(tmp_path, base.replace(".optimizer]", ".optimiser]")), "train")
    with pytest.raises(ConfigError, match=r"dataset.params\]: unknown key 'window'.*window_s"):
        check_config(_write(tmp_path, base.replace("window_s =", "window =")), "train")
    with pytest.raises(ConfigError, match=r"unknown model 'AudioProtoNt'.*AudioProtoNet"):
        check_config(_write(tmp_path, base.replace("AudioProtoNet", "AudioProtoNt")), "train")


def test_train_eval_predict_from_configs(tmp_path, syllable_store):
    split = np.array(["train"] * 4 + ["val"] * 1 + [""] * 13 + ["test"] * 2)
    write_splits(tmp_path / "splits.csv", split)
    config = _write(tmp_path, CONFIG.format(store=syllable_store))
    assert cli.main(["train", str(config), "--quiet"]) == 0
    model_dir = next((tmp_path / "results").glob("results_*/AudioProtoNet"))
    conf = json.loads((model_dir / "config.json").read_text())
    assert conf["family"] == "AudioProtoNet" and conf["params"]["prototypes_per_class"] == 2
    assert conf["params"]["seed"] == 1 and conf["params"]["epochs"] == 2
    assert conf["window_frames"] == 101  # 0.2 s of 2-ms frames, odd
    saved = json.loads((model_dir / "metrics.json").read_text())
    assert saved["train"]["clips"] == [0, 1, 2, 3] and 0 <= saved["val"]["accuracy"] <= 1

    eval_cfg = _write(
        tmp_path,
        f"""
[vak.eval]
checkpoint_path = "{model_dir}"
output_dir = "eval"
[vak.eval.dataset]
path = "{syllable_store}"
splits_path = "splits.csv"
[vak.eval.model.AudioProtoNet]
[vak.eval.trainer]
accelerator = "cpu"
""",
        "eval.toml",
    )
    assert cli.main(["eval", str(eval_cfg)]) == 0
    report = json.loads(next((tmp_path / "eval").glob("eval_AudioProtoNet_*.json")).read_text())
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    cm = np.asarray(report["confusion_matrix"])
    assert cm.shape == (9, 9) and cm.sum() == report["n_windows"] > 50
    assert next((tmp_path / "eval").glob("confusion_AudioProtoNet_*.png")).stat().st_size > 1000

    pred_cfg = _write(
        tmp_path,
        f"""
[vak.predict]
checkpoint_path = "{model_dir}"
output_dir = "pred"
annot_csv_filename = "bird0.syllables.csv"
[vak.predict.dataset]
path = "{syllable_store}"
[vak.predict.model.AudioProtoNet]
[vak.predict.trainer]
accelerator = "cpu"
""",
        "predict.toml",
    )
    assert cli.main(["predict", str(pred_cfg)]) == 0
    table = pd.read_csv(tmp_path / "pred" / "bird0.syllables.csv", dtype={"label": str})
    assert len(table) == 900  # every annotated syllable of the 20 songs
    assert list(table.columns[:6]) == [
        "clip",
        "audio_path",
        "onset_s",
        "offset_s",
        "label",
        "predicted",
    ]
    probs = table[[f"p_{c}" for c in "012345678"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert set(table["predicted"].astype(str)) <= set("012345678")
