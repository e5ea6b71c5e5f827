"""AudioProtoNet: a case-based (prototype) classifier, built on cabrnet: what both backbones share.

:class:`AudioProtoNet` holds what does not depend on the backbone (prediction, explanation
datasets, prototype provenance, adding classes, saving and loading). ``AudioProtoNet(params)``
returns the subclass of its backbone: :class:`~vocalpy_xai.protonet.spectrogram_model.SpectrogramProtoNet`
(a CNN trained from scratch on dB spectrogram windows) or
:class:`~vocalpy_xai.protonet.birdnet_model.BirdNETProtoNet` (3-s audio chunks through BirdNET
V2.4); :meth:`AudioProtoNet.load` does the same from a saved directory.
"""

from __future__ import annotations

import abc
import os
import pathlib
import time
from collections.abc import Sequence

import numpy as np
import torch

from . import inputs
from .errors import NotFittedError, SpectrogramInputError
from .params import ProtoNetParams
from .training import torch_threads

#: files of a saved model directory
CONFIG_FILE, WEIGHTS_FILE = "config.json", "weights.pt"
FORMAT_VERSION = 1
#: config keys :meth:`AudioProtoNet.load` reads
REQUIRED_KEYS = (
    "params", "class_names", "freq_hz", "frame_s", "window_frames", "scale", "prototypes",
    "training",
)  # fmt: skip
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


class AudioProtoNet(abc.ABC):
    """Prototype network for spectrogram windows or BirdNET chunks, on cabrnet's ProtoPNet.

    ``AudioProtoNet(params)`` builds the subclass of ``params.backbone``
    (:class:`~vocalpy_xai.protonet.spectrogram_model.SpectrogramProtoNet` or
    :class:`~vocalpy_xai.protonet.birdnet_model.BirdNETProtoNet`).

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

    def __new__(cls, params: ProtoNetParams | None = None):
        if cls is AudioProtoNet:
            cls = backbone_class(params or ProtoNetParams())
        return super().__new__(cls)

    def __init__(self, params: ProtoNetParams | None = None):
        self.params = params or ProtoNetParams()
        self.network_ = None

    # ------------------------------------------------------------------ geometry
    @property
    def stride(self) -> int:
        return self.params.stride

    @property
    def geometry_(self):
        """BirdNET backbone: cells, spectrogram and display grid in s and Hz (else None)."""
        return None

    @property
    def num_prototypes_(self) -> int:
        if self.params.arch == "blackbox":
            return len(self.class_names_)
        return int(self.network_.num_prototypes)

    def _check_fitted(self) -> None:
        if self.network_ is None:
            raise NotFittedError("this AudioProtoNet is not trained: call fit() or load()")

    # ------------------------------------------------------------------ training
    @abc.abstractmethod
    def fit(self, X, y, class_names: Sequence[str], *args, **kwargs) -> AudioProtoNet:
        """Train (see the backbone's subclass for the inputs it reads)."""

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
                box = self.cell_box(h, w, n_freq, n_time)
                box["t0_s"] += start
                box["t1_s"] += start
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

    @abc.abstractmethod
    def cell_box(
        self, row: int, col: int, n_freq: int | None = None, n_time: int | None = None
    ) -> dict[str, float]:
        """Where feature cell (``row``, ``col``) lies on the input: its box in s and Hz.

        Parameters
        ----------
        row, col : int
            The cell's row (frequency) and column (time) on the backbone's feature map
            (the last two axes of the ``maps`` of :meth:`explain_parts`).
        n_freq, n_time : int, optional
            Bins and frames of the input window (CNN backbone, whose cells at the window's
            edges are cut by it; default the training windows' size); ignored for BirdNET
            (3-s chunks, one geometry).

        Returns
        -------
        dict
            ``t0_s``, ``t1_s`` (from the input's start) and ``f0_hz``, ``f1_hz``.
        """

    def backbone_features(self, X, progress: bool = False) -> np.ndarray:
        """BirdNET backbone only (:class:`~vocalpy_xai.protonet.birdnet_model.BirdNETProtoNet`)."""
        raise SpectrogramInputError("backbone_features() is for the BirdNET backbone")

    def explain_recording(self, samples: np.ndarray, samplerate: int, *args, **kwargs):
        """BirdNET backbone only (:class:`~vocalpy_xai.protonet.birdnet_model.BirdNETProtoNet`)."""
        raise SpectrogramInputError(
            "explain_recording() is for the BirdNET backbone; cut windows for a CNN model"
        )

    # ------------------------------------------------------------------ inference
    @abc.abstractmethod
    def _prepare(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        """Inputs checked against the model (backbone subclasses)."""

    @abc.abstractmethod
    def _encode(self, X: np.ndarray) -> torch.Tensor:
        """The network's input tensor of prepared inputs (backbone subclasses)."""

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
                    if arch == "banded":  # zero outside each prototype's band
                        maps = clf.similarities(feats)
                    else:
                        maps = clf.similarity_layer.similarities(feats, clf.prototypes)
                    if arch in ("audio", "banded"):
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

    def explain_parts(self, X, freq_hz=None, frame_s=None) -> dict[str, np.ndarray]:
        """What a decision is made of: logits, probabilities, similarity maps and scores.

        Parameters
        ----------
        X : array-like
            What the model reads (checked as :meth:`predict_proba` checks it): spectrogram
            windows (N, F, T) or a DataArray with coordinates (CNN backbone); 3-s chunks of
            48-kHz audio (N, 144000) or their BirdNET feature maps (BirdNET backbone).
        freq_hz, frame_s : optional
            The windows' grid, checked against the model's (CNN backbone).

        Returns
        -------
        dict of numpy.ndarray
            ``logits`` and ``proba`` (N, C); ``maps`` (N, P, H, W): each prototype's
            similarity over the backbone's feature cells (blackbox: class activation
            maps; :meth:`cell_box` places a cell in s and Hz); ``scores`` (N, P): the pooled
            similarities the last layer reads (blackbox: the class logits without bias).
        """
        return self._parts(self._prepare(X, freq_hz, frame_s))

    def predict_proba(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        """Class probabilities (N, C) of windows (N, F, T) (or a DataArray with coordinates).

        ``freq_hz`` / ``frame_s`` (or the coordinates of a DataArray), when given, are checked
        against the model's: spectrograms at another sample rate are refused.
        """
        return self.explain_parts(X, freq_hz, frame_s)["proba"]

    def predict(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        """Class index (N,) of each window."""
        return self.predict_proba(X, freq_hz, frame_s).argmax(axis=1)

    def freq_weights(self) -> np.ndarray | None:
        """Per-prototype weights of the frequency rows (P, H) of an ``audio`` model, else None."""
        self._check_fitted()
        if self.params.arch not in ("audio", "banded"):
            return None
        with torch.no_grad():
            return self.network_.classifier.freq_weights().numpy()

    def last_layer(self) -> np.ndarray | None:
        """(C, P) weights from prototype scores to class logits (ProtoPNet variants), else None."""
        if self.params.arch in ("audio", "plain", "banded"):
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

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, metrics: dict | None = None) -> pathlib.Path:
        """Save a model directory atomically (temp dir, then rename); never overwrites.

        Holds ``config.json`` (family, format version, parameters, classes, spectrogram
        grid, cabrnet configuration, prototype provenance, training record), ``weights.pt``
        (a torch state dict, loaded with ``weights_only=True``), ``metrics.json`` and
        ``checksums.json``: the model-folder contract of every family
        (:mod:`vocalpy_xai.models.folder`).
        """
        from ..models.folder import save_model_folder
        from ._cabrnet import cabrnet_version

        self._check_fitted()
        config = {
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
        config.update(self._config_extras())
        state = self._state_to_save()
        return save_model_folder(
            path,
            "AudioProtoNet",
            FORMAT_VERSION,
            config,
            {WEIGHTS_FILE: lambda file: torch.save(state, file)},
            metrics,
        )

    def _config_extras(self) -> dict:
        """Backbone-specific entries of ``config.json``."""
        return {}

    def _state_to_save(self) -> dict:
        return self.network_.state_dict()

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True) -> AudioProtoNet:
        """Load a model saved by :meth:`save`, after checking its folder.

        Family, format version and the config's keys are checked, and every file against
        the SHA-256 recorded at save time (``verify``); unreadable weights or weights that do
        not fit the network are refused. Each problem is a
        :class:`~vocalpy_xai.errors.ModelFolderError` naming the file.
        """
        from ..errors import ModelFolderError
        from ..models.folder import open_model_folder

        path = pathlib.Path(path)
        config = open_model_folder(
            path, "AudioProtoNet", FORMAT_VERSION, required=REQUIRED_KEYS, verify=verify
        )
        try:
            params = ProtoNetParams.from_dict(config["params"])
        except (TypeError, ValueError, KeyError) as err:
            raise ModelFolderError(path / CONFIG_FILE, f"invalid 'params' ({err})") from err
        model = backbone_class(params)(params)
        model.class_names_ = list(config["class_names"])
        model.freq_hz_ = np.asarray(config["freq_hz"], dtype=float)
        model.frame_s_ = float(config["frame_s"])
        model.window_frames_ = int(config["window_frames"])
        model.scale_ = float(config["scale"])
        weights = path / WEIGHTS_FILE
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises RuntimeError, pickle/zip errors, EOFError
            raise ModelFolderError(weights, f"unreadable torch weights ({err})") from err
        try:
            net = model._load_network(path, config, state)
        except RuntimeError as err:  # load_state_dict: missing/unexpected keys, shapes
            raise ModelFolderError(weights, f"weights do not fit the network ({err})") from err
        net.eval()
        model.network_ = net
        model.prototypes_ = config["prototypes"]
        model.training_ = config["training"]
        model.path_ = path
        return model

    @abc.abstractmethod
    def _load_network(self, path: pathlib.Path, config: dict, state: dict):
        """The network of a saved model, its weights loaded (backbone subclasses)."""


def backbone_class(params: ProtoNetParams) -> type[AudioProtoNet]:
    """The AudioProtoNet subclass of ``params.backbone``."""
    if params.uses_birdnet:
        from .birdnet_model import BirdNETProtoNet

        return BirdNETProtoNet
    from .spectrogram_model import SpectrogramProtoNet

    return SpectrogramProtoNet
