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
        return len(self.freq_hz_) // self.stride

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
        freq_hz,
        frame_s: float,
        sources: Sequence[dict] | None = None,
        progress: bool = True,
    ) -> AudioProtoNet:
        """Train on spectrogram windows.

        Parameters
        ----------
        X : numpy.ndarray or xarray.DataArray
            float32 (N, F, T) dB spectrogram windows, all of one length.
        y : array-like of int
            Class index of each window (N,).
        class_names : sequence of str
            Names of the classes (index ``k`` is ``class_names[k]``); each needs a window.
        freq_hz : array-like
            Frequencies (Hz) of the F bins.
        frame_s : float
            Frame step (hop) in seconds.
        sources : sequence of dict, optional
            Per window: ``clip`` (id), ``source_path``, ``start_s`` (window start in the
            recording). Recorded with each prototype after projection.
        progress : bool
            Show a progress bar.
        """
        t0, cpu0 = time.perf_counter(), time.process_time()
        X, given_freq, given_step = inputs.as_windows(X)
        y = np.asarray(y)
        freq_hz = np.asarray(freq_hz, dtype=float)
        names = [str(c) for c in class_names]
        n, n_freq, n_time = X.shape
        if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
            raise SpectrogramInputError(
                f"y must be {n} integer class indices, got {y.dtype} {y.shape}"
            )
        if len(names) < 2:
            raise SpectrogramInputError(f"need at least 2 classes, got {names}")
        if y.min() < 0 or y.max() >= len(names):
            raise SpectrogramInputError(f"class indices must lie in [0, {len(names) - 1}]")
        missing = [names[k] for k in range(len(names)) if not np.any(y == k)]
        if missing:
            raise SpectrogramInputError(f"no training window of class(es) {missing}")
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
        self.training_ = {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - cpu0,
            "epochs": sum(1 for h in history if h["phase"] == "train"),
            "history": history,
            "n_windows": int(n),
            "class_counts": {names[k]: int(np.sum(y == k)) for k in range(len(names))},
            "window_frames": int(n_time),
            "num_threads": p.num_threads,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return self

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
                f_lo, f_hi = grid.cell_span(h, self.stride, n_freq)
                t_lo, t_hi = grid.cell_span(w, self.stride, n_time)
                src = sources[i]
                start = src["start_s"] if np.isfinite(src["start_s"]) else 0.0
                row.update(
                    window=i,
                    row=h,
                    col=w,
                    source_clip=src["clip"],
                    source_path=src["source_path"],
                    start_s=src["start_s"],
                    t0_s=start + t_lo * self.frame_s_,
                    t1_s=start + t_hi * self.frame_s_,
                    f0_hz=float(self.freq_hz_[f_lo]),
                    f1_hz=float(self.freq_hz_[f_hi]),
                    similarity=float(info["score"]),
                )
            out.append(row)
        return out

    # ------------------------------------------------------------------ inference
    def _prepare(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        self._check_fitted()
        X, given_freq, given_step = inputs.as_windows(X)
        if freq_hz is not None:
            given_freq = np.asarray(freq_hz, dtype=float)
        if frame_s is not None:
            given_step = float(frame_s)
        inputs.check_grid(
            X, self.freq_hz_, self.frame_s_, self.window_frames_, given_freq, given_step
        )
        return X

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
                x = inputs.encode(X[lo : lo + PREDICT_BATCH], self.freq_hz_, self.scale_)
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
    ):
        """Activation dataset of windows: every prototype's similarity map in s and Hz.

        See :func:`vocalpy_xai.protonet.activations.activation_dataset` for the format.
        """
        from .activations import activation_dataset

        X = self._prepare(X, freq_hz, frame_s)
        return activation_dataset(self, X, self._parts(X), clip_ids, top_k, sources)

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
            torch.save(self.network_.state_dict(), tmp / WEIGHTS_FILE)
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
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
            (tmp / METRICS_FILE).write_text(json.dumps(metrics or {}, indent=2))
        return path

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
        net, model.cabrnet_config_ = build_network(
            model.params, len(model.class_names_), model.num_freq_rows_
        )
        net.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        net.eval()
        model.network_ = net
        model.prototypes_ = config["prototypes"]
        model.training_ = config["training"]
        model.path_ = path
        return model
