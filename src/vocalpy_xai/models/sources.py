"""Training data for annotation models: a zarr spectrogram store or a vak-prepped dataset.

Both give the model the same view: per-clip dB spectrograms, frame labels, syllable onsets,
class names, the time of frame 0 and the frame step, and the *spectrogram pipeline* that
must be applied to new audio so that it matches what the model was trained on:

- a store (:func:`vocalpy_xai.store.build_store`): ``vocalpy.spectrogram`` with the store's
  :class:`~vocalpy_xai.store.SpectrogramParams`; frames centred, frame 0 at 0 s;
- a vak frame-classification dataset (``vak prep``): vak's own
  ``vak.prep.spectrogram_dataset.spect.spectrogram`` with the ``[vak.prep.spect_params]``
  of the config vak copied into the dataset folder; frame 0 at ``t[0]`` of vak's files
  (``n_fft / 2`` samples). vak stores power (or its log10): converted to dB here.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import StoreError
from ..store.dataset import ClipReader, open_store, store_params
from ..store.params import SpectrogramParams

#: dB floor for vak's linear power spectrograms
POWER_FLOOR = 1e-12


class StoreSource:
    """Training view of a spectrogram store."""

    kind = "store"

    def __init__(self, ds: xr.Dataset):
        if "frame_labels" not in ds:
            raise StoreError("training needs a store with frame labels (an annotated data set)")
        self.ds = ds
        self._reader = ClipReader(ds)
        self.class_names = [str(c) for c in ds["class"].values]
        self.freqs = ds["freq"].values
        params = store_params(ds)
        self.samplerate = int(ds.attrs["samplerate"])
        self.pipeline = {
            "kind": "store",
            "spect_params": {**params.to_dict(), "samplerate": self.samplerate},
        }
        self.frame_step = params.hop_length / self.samplerate
        self.time_offset = 0.0
        self.n_clips = ds.sizes["clip"]
        self.description = str(ds.encoding.get("store_path", ""))

    def spectrogram(self, clip: int) -> np.ndarray:
        return self._reader.spectrogram(clip)

    def frame_labels(self, clip: int) -> np.ndarray:
        return self._reader.frame_labels(clip)

    def onsets_s(self, clip: int) -> np.ndarray:
        return self._segment_times(clip, "segment_onset_s")

    def offsets_s(self, clip: int) -> np.ndarray:
        return self._segment_times(clip, "segment_offset_s")

    def _segment_times(self, clip: int, name: str) -> np.ndarray:
        store_clip = int(self.ds["clip"].values[clip])
        return self.ds[name].values[self.ds["segment_clip"].values == store_clip]

    def n_frames(self, clip: int) -> int:
        return self._reader.n_frames(clip)

    def data_hash(self, clips) -> str:
        ds = self.ds
        h = hashlib.sha256(ds.attrs["spectrogram_params"].encode())
        for c in clips:
            h.update(str(ds["audio_sha256"].values[c]).encode())
            sel = ds["segment_clip"].values == int(ds["clip"].values[c])
            for name in ("segment_onset_s", "segment_offset_s"):
                h.update(np.ascontiguousarray(ds[name].values[sel]).tobytes())
            h.update("|".join(ds["segment_label"].values[sel].astype(str)).encode())
        return h.hexdigest()


class VakDatasetSource:
    """Training view of a vak frame-classification dataset folder (made by ``vak prep``)."""

    kind = "vak"

    def __init__(self, path: str | os.PathLike, split: str | None = None):
        import tomlkit
        import vak

        self.path = pathlib.Path(path)
        meta = json.loads((self.path / "metadata.json").read_text())
        table = pd.read_csv(self.path / meta["dataset_csv_filename"])
        if split is not None:
            table = table[table["split"] == split].reset_index(drop=True)
        if "multi_frame_labels_path" not in table.columns:
            raise ValueError(f"{self.path}: not an annotated vak frame-classification dataset")
        self.table = table
        labelmap = json.loads((self.path / "labelmap.json").read_text())
        self.class_names = [name for name, _ in sorted(labelmap.items(), key=lambda kv: kv[1])]
        spect_params = vak.config.SpectParamsConfig()
        spect_params = {
            k: getattr(spect_params, k)
            for k in ("fft_size", "step_size", "freq_cutoffs", "thresh", "transform_type")
        }
        for toml in self.path.glob("*.toml"):
            doc = tomlkit.parse(toml.read_text()).unwrap()
            given = doc.get("vak", {}).get("prep", {}).get("spect_params", {})
            spect_params.update({k: v for k, v in given.items() if k in spect_params})
        first = np.load(self.path / table["frames_path"][0])
        self.freqs = np.asarray(first["f"])
        t = np.asarray(first["t"])
        self.frame_step = float(meta["frame_dur"])
        self.time_offset = float(t[0])
        import soundfile

        self.samplerate = int(soundfile.info(table["audio_path"][0]).samplerate)
        self.pipeline = {"kind": "vak", "spect_params": spect_params, "samplerate": self.samplerate}
        annot = pd.read_csv(self.path / pathlib.Path(table["annot_path"][0]).name)
        by_file = annot.groupby("notated_path")
        self._onsets = {pathlib.Path(p).name: g["onset_s"].to_numpy() for p, g in by_file}
        self._offsets = {pathlib.Path(p).name: g["offset_s"].to_numpy() for p, g in by_file}
        self.n_clips = len(table)
        self.description = str(self.path)

    def spectrogram(self, clip: int) -> np.ndarray:
        with np.load(self.path / self.table["frames_path"][clip]) as npz:
            return vak_to_db(npz["s"], self.pipeline["spect_params"].get("transform_type"))

    def frame_labels(self, clip: int) -> np.ndarray:
        return np.load(self.path / self.table["multi_frame_labels_path"][clip]).astype(np.int64)

    def onsets_s(self, clip: int) -> np.ndarray:
        return self._onsets.get(pathlib.Path(self.table["audio_path"][clip]).name, np.array([]))

    def offsets_s(self, clip: int) -> np.ndarray:
        return self._offsets.get(pathlib.Path(self.table["audio_path"][clip]).name, np.array([]))

    def n_frames(self, clip: int) -> int:
        return int(len(self.frame_labels(clip)))

    def data_hash(self, clips) -> str:
        h = hashlib.sha256(json.dumps(self.pipeline, sort_keys=True).encode())
        for c in clips:
            h.update(pathlib.Path(self.table["frames_path"][c]).name.encode())
            h.update(self.frame_labels(c).tobytes())
        return h.hexdigest()


def vak_to_db(s: np.ndarray, transform_type: str | None) -> np.ndarray:
    """vak's spectrogram values in dB (power -> 10 log10; log10 -> x10)."""
    s = np.asarray(s, dtype=np.float64)
    if transform_type in ("log_spect", "log_spect_plus_one"):
        return (10.0 * s).astype(np.float32)
    return (10.0 * np.log10(np.maximum(s, POWER_FLOOR))).astype(np.float32)


def open_source(data, split: str | None = None):
    """A :class:`StoreSource` or :class:`VakDatasetSource` for ``data``."""
    if isinstance(data, xr.Dataset):
        return StoreSource(data)
    path = pathlib.Path(data)
    if (path / "metadata.json").exists() and not (path / "zarr.json").exists():
        return VakDatasetSource(path, split)
    return StoreSource(open_store(path))


def spectrogram_of_audio(pipeline: dict, data: np.ndarray, samplerate: int):
    """Spectrogram (dB, (freq, time)) and frequencies of mono audio, as the model was trained."""
    if pipeline["kind"] == "store":
        import vocalpy

        params = SpectrogramParams.from_dict(pipeline["spect_params"])
        spect = params.compute(vocalpy.Sound(data=data[None, :], samplerate=samplerate))
        return spect, params.frequencies(samplerate)
    from vak.prep.spectrogram_dataset.spect import spectrogram

    p = pipeline["spect_params"]
    s, f, _ = spectrogram(
        data.astype(np.float64),
        samplerate,
        p["fft_size"],
        p["step_size"],
        p.get("thresh"),
        p.get("transform_type"),
        p.get("freq_cutoffs"),
    )
    return vak_to_db(s, p.get("transform_type")), np.asarray(f)
