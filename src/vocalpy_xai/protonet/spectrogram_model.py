"""AudioProtoNet on a spectrogram CNN trained from scratch: dB windows in, prototypes in s and Hz."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from . import grid, inputs
from .errors import SpectrogramInputError
from .model import PREDICT_BATCH, AudioProtoNet, _check_labels, normalize_sources
from .networks import build_network
from .training import torch_threads, train_blackbox, train_prototype_net


class SpectrogramProtoNet(AudioProtoNet):
    """AudioProtoNet whose backbone is a small CNN (``ProtoNetParams(backbone="cnn")``).

    Reads float32 (N, F, T) dB spectrogram windows with their frequencies (Hz) and frame
    step (s); built with ``AudioProtoNet(params)``. ``spect_params_``: how those
    spectrograms were computed (a :class:`~vocalpy_xai.store.SpectrogramParams` dict, or
    None when not given to :meth:`fit`); recorded in ``config.json`` so that the model can
    classify audio (:func:`vocalpy_xai.protonet.evidence.classify_recording`).
    """

    spect_params_: dict | None = None

    @property
    def num_freq_rows_(self) -> int:
        return len(self.freq_hz_) // self.stride

    def fit(
        self,
        X,
        y,
        class_names: Sequence[str],
        freq_hz=None,
        frame_s: float | None = None,
        sources: Sequence[dict] | None = None,
        progress: bool = True,
        spect_params=None,
    ) -> SpectrogramProtoNet:
        """Train on dB spectrogram windows.

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
        spect_params : SpectrogramParams or dict, optional
            How the windows' spectrograms were computed (a store's
            ``attrs["spectrogram_params"]``); needed to classify audio later.
        """
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
        if spect_params is not None:
            as_dict = getattr(spect_params, "to_dict", None)
            self.spect_params_ = dict(as_dict() if as_dict else spect_params)
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
            elif p.arch == "banded":
                history, projection = self._fit_banded(net, X, y, train_set, progress)
            else:
                proj_set = inputs.WindowDataset(X, y, freq_hz, self.scale_, 0)
                history, projection = train_prototype_net(net, p, train_set, proj_set, progress)
        self.network_ = net
        pruned = None
        if p.arch == "banded" and p.prune_purity > 0:
            from .pruning import prune_impure

            pruned = prune_impure(self, X, y, p.prune_purity)
            history += [{**h, "active": int(pruned["active"].sum())} for h in pruned["history"]]
        self.prototypes_ = self._provenance(projection, sources, n_freq, n_time)
        self._record_training(t0, cpu0, history, y, n_time)
        if pruned is not None:  # each prototype's purity before pruning
            self.training_["pruning_purity"] = pruned["purity"].round(4).tolist()
        return self

    def _fit_banded(self, net, X, y, train_set, progress: bool):
        """AudioProtoPNet's recipe: the backbone trained as a black box, then frozen, then
        the banded head (:func:`~vocalpy_xai.protonet.banded.train_banded`) on its maps."""
        from .banded import train_banded
        from .networks import BirdNETBlackBoxNet

        twin = BirdNETBlackBoxNet(net.extractor, len(self.class_names_))
        history = train_blackbox(twin, self.params, train_set, progress)
        for row in history:
            row["phase"] = "backbone"
        net.extractor.requires_grad_(False)
        net.eval()
        self.network_ = net
        feats = self.backbone_features(X)  # maps of the unshifted windows, computed once
        more, projection = train_banded(net, self.params, feats, y, progress)
        return history + more, projection

    def backbone_features(self, X) -> np.ndarray:
        """The frozen CNN's feature maps (N, C, F', T') of dB windows (N, F, T).

        What a ``banded`` head reads (the backbone is frozen after its black-box training),
        as :meth:`~vocalpy_xai.protonet.birdnet_model.BirdNETProtoNet.backbone_features` for
        BirdNET: :func:`~vocalpy_xai.protonet.extend.add_class` computes them once.
        """
        X = np.asarray(X, dtype=np.float32)
        extractor = self.network_.extractor
        with torch.no_grad(), torch_threads(self.params.num_threads):
            return np.concatenate(
                [
                    extractor(self._encode(X[lo : lo + PREDICT_BATCH])).numpy()
                    for lo in range(0, len(X), PREDICT_BATCH)
                ]
            )

    def _build(self, num_classes: int):
        return build_network(self.params, num_classes, self.num_freq_rows_)

    def cell_box(
        self, row: int, col: int, n_freq: int | None = None, n_time: int | None = None
    ) -> dict[str, float]:
        n_freq = len(self.freq_hz_) if n_freq is None else n_freq
        n_time = self.window_frames_ if n_time is None else n_time
        f_lo, f_hi = grid.cell_span(row, self.stride, n_freq)
        t_lo, t_hi = grid.cell_span(col, self.stride, n_time)
        return {
            "t0_s": t_lo * self.frame_s_,
            "t1_s": t_hi * self.frame_s_,
            "f0_hz": float(self.freq_hz_[f_lo]),
            "f1_hz": float(self.freq_hz_[f_hi]),
        }

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

    def _encode(self, X: np.ndarray) -> torch.Tensor:
        return inputs.encode(X, self.freq_hz_, self.scale_)

    def _config_extras(self) -> dict:
        return {"spect_params": self.spect_params_} if self.spect_params_ else {}

    def _load_network(self, path, config: dict, state: dict):
        self.spect_params_ = config.get("spect_params")
        net, self.cabrnet_config_ = self._build(len(self.class_names_))
        net.load_state_dict(state)
        return net
