"""vak TOML configs: ESNDecoder registered with vak, trained, evaluated and run from a config."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vocalpy_xai import cli
from vocalpy_xai.vak.run import ConfigError, check_config, write_splits

CONFIG = """
[vak.train]
root_results_dir = "results"

[vak.train.dataset]
path = "{store}"
splits_path = "splits.csv"

[vak.train.model.ESNDecoder.network]
units = 200
seed = 3
stride = 4

[vak.train.model.ESNDecoder.optimizer]
ridge = 1e-4

[vak.train.trainer]
accelerator = "cpu"
"""


def test_esn_decoder_is_registered_with_vak():
    import vak

    from vocalpy_xai.vak import families  # noqa: F401

    assert "ESNDecoder" in vak.models.registry.MODEL_NAMES
    assert vak.models.registry.MODEL_FAMILY_FROM_NAME["ESNDecoder"] == "ESNDecoderModel"
    # vak's own config parser accepts the swapped model table
    cfg = vak.config.model.ModelConfig.from_config_dict({"ESNDecoder": {"network": {"units": 10}}})
    assert cfg.name == "ESNDecoder" and cfg.network == {"units": 10}


def test_torch_network_reproduces_the_trained_esn(small_store):
    import torch

    from vocalpy_xai.models import ESNDecoder, ESNParams
    from vocalpy_xai.store import open_store
    from vocalpy_xai.vak.families import ESNDecoderModel, ReservoirNetwork

    model = ESNDecoder(ESNParams(units=100, seed=2)).fit(small_store, [0, 1, 2], progress=False)
    ds = open_store(small_store)
    n = int(ds["n_frames"].values[5])
    spect = ds["spectrogram"].isel(clip=5, time=slice(0, n)).values
    want = model.predict_scores(spect, ds["freq"].values)
    x = model.features.transform(spect, ds["freq"].values)
    family = ESNDecoderModel(network=ReservoirNetwork.from_estimator(model))
    with torch.no_grad():
        got = family(torch.as_tensor(x[None], dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(got, want, atol=2e-3)
    assert (got[:, :-1].argmax(1) == want[:, :-1].argmax(1)).mean() > 0.999


def _write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_typos_name_the_key_and_the_choices(tmp_path, small_store):
    base = CONFIG.format(store=small_store)
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'root_result_dir'\. Did you mean "
        r"'root_results_dir'\? Valid keys: .*batch_size",
    ):
        check_config(_write(tmp_path, base.replace("root_results_dir", "root_result_dir")), "train")
    with pytest.raises(
        ConfigError,
        match=r"unknown model 'ESNDecodr'\. Did you mean 'ESNDecoder'"
        r".*TweetyNet",
    ):
        check_config(_write(tmp_path, base.replace("ESNDecoder", "ESNDecodr")), "train")
    with pytest.raises(ConfigError, match=r"ESNDecoder.network\]: unknown key 'unit'.*units"):
        check_config(_write(tmp_path, base.replace("units =", "unit =")), "train")


def test_train_eval_predict_from_configs(tmp_path, small_store):
    split = np.array(["train"] * 12 + ["val"] * 3 + ["test"] * 5)
    write_splits(tmp_path / "splits.csv", split)
    config = _write(tmp_path, CONFIG.format(store=small_store))
    assert cli.main(["train", str(config), "--quiet"]) == 0
    model_dir = next((tmp_path / "results").glob("results_*/ESNDecoder"))
    saved = json.loads((model_dir / "metrics.json").read_text())
    assert saved["val"]["frames"]["accuracy"] > 0.8
    conf = json.loads((model_dir / "config.json").read_text())
    assert conf["params"]["units"] == 200 and conf["training"]["clips"] == list(range(12))

    eval_cfg = _write(
        tmp_path,
        f"""
[vak.eval]
checkpoint_path = "{model_dir}"
output_dir = "eval"
[vak.eval.dataset]
path = "{small_store}"
splits_path = "splits.csv"
[vak.eval.model.ESNDecoder]
[vak.eval.trainer]
accelerator = "cpu"
""",
    )
    assert cli.main(["eval", str(eval_cfg)]) == 0
    report = json.loads(next((tmp_path / "eval").glob("eval_ESNDecoder_*.json")).read_text())
    assert 0 <= report["syllable_error_rate"] < 0.3
    assert next((tmp_path / "eval").glob("confusion_ESNDecoder_*.png")).stat().st_size > 1000

    pred_cfg = _write(
        tmp_path,
        f"""
[vak.predict]
checkpoint_path = "{model_dir}"
output_dir = "pred"
annot_csv_filename = "bird0.annot.csv"
[vak.predict.dataset]
path = "{small_store}"
[vak.predict.model.ESNDecoder]
[vak.predict.trainer]
accelerator = "cpu"
""",
    )
    assert cli.main(["predict", str(pred_cfg)]) == 0
    from vocalpy_xai.io import read_annotations

    annots = read_annotations(tmp_path / "pred" / "bird0.annot.csv", "generic-seq")
    assert len(annots) == 20 and all(len(a.seq.labels) > 5 for a in annots)


PREP = """
[vak.prep]
dataset_type = "frame classification"
input_type = "spect"
data_dir = "{wave}"
output_dir = "{out}"
audio_format = "wav"
annot_format = "birdsong-recognition-dataset"
annot_file = "{annot}"
labelset = "012345678"
train_dur = 100
test_dur = 30

[vak.prep.spect_params]
fft_size = 512
step_size = 64

[vak.train]
root_results_dir = "results"

[vak.train.model.ESNDecoder.network]
units = 200

[vak.train.trainer]
accelerator = "cpu"
"""


def test_esn_trains_on_a_vak_prepped_dataset(tmp_path, example_bird0):
    """vak prep (unchanged) makes the dataset; vocalpy-xai train fits the ESN on its train split."""
    import dask

    from vocalpy_xai.io import SegmentTable, read_annotations
    from vocalpy_xai.models import ESNDecoder

    (tmp_path / "prepped").mkdir()
    config = _write(
        tmp_path,
        PREP.format(
            wave=example_bird0 / "Wave",
            out=tmp_path / "prepped",
            annot=example_bird0 / "Annotation.xml",
        ),
    )
    with dask.config.set(scheduler="threads"):
        assert cli.main(["prep", str(config)]) == 0
    assert "path = " in config.read_text()  # vak wrote the dataset path into the config
    assert cli.main(["train", str(config), "--quiet"]) == 0
    model = ESNDecoder.load(next((tmp_path / "results").glob("results_*/ESNDecoder")))
    assert model.pipeline_["kind"] == "vak" and model.time_offset_ == pytest.approx(256 / 32000)
    # annotate a test-split song from its audio, through vak's own spectrogram function
    import pandas as pd

    dataset = next((tmp_path / "prepped").glob("*frame-classification-dataset*"))
    table = pd.read_csv(next(dataset.glob("*_prep_*.csv")))
    test_audio = table[table["split"] == "test"]["audio_path"].iloc[0]
    pred = model.annotate(test_audio)
    truth = {
        a.notated_path.name: SegmentTable.from_annotation(a)
        for a in read_annotations(example_bird0 / "Annotation.xml", "birdsong-recognition-dataset")
    }
    true = truth[pd.io.common.os.path.basename(test_audio)]
    from vocalpy_xai.metrics import boundary_scores, syllable_error_rate

    assert syllable_error_rate(true.labels, pred.labels) < 0.35
    assert boundary_scores(true, pred)["f1"] > 0.7  # the 8-ms frame offset is accounted for
