"""Faithfulness of explanations: attribution maps, deletion / insertion curves, pointing game.

Model-agnostic: everything here reads a trained :class:`~vocalpy_xai.protonet.AudioProtoNet`
through its *input grid*, the time-frequency array the network really reads:

- BirdNET backbone: BirdNET's own two-channel mel spectrogram of a 3-s chunk
  ``(2, 96 mel rows, 511 frames)`` (row 0 the highest band), fed to the backbone by
  :meth:`~vocalpy_xai.protonet.birdnet_backbone.BirdNETTrunk.from_spectrogram`;
- CNN backbone: the dB spectrogram window ``(1, F, T)``; gradients are taken on the
  network's 3-channel encoding of it (dB, time delta, frequency ramp) and collapsed over
  channels, as cabrnet collapses an image's colour channels.

Attribution methods (:data:`METHODS`), each a map ``(R, T)`` on that grid of the evidence
for one class (or, ``kind="prototype"``, for one prototype):

- ``"linear"``: the prototype similarity maps weighted by the last layer (the class's
  evidence over feature cells, :func:`~vocalpy_xai.protonet.quality.relevance_cells`),
  interpolated linearly onto the grid from the cells' true positions (for BirdNET its
  :class:`~vocalpy_xai.protonet.birdnet_backbone.BirdNETGeometry`); what the activation
  datasets carried before this module;
- ``"cubic"``: the same cell map resized by cabrnet's
  :func:`~cabrnet.core.visualization.upsampling.cubic_upsampling` (ProtoPNet's default);
- ``"saliency"``, ``"smoothgrad"``, ``"prp"``: cabrnet's
  :mod:`~cabrnet.core.visualization.gradients` functions (captum Saliency, NoiseTunnel,
  LRP with cabrnet's prototype relevance propagation rules), with cabrnet's
  post-processing (absolute value, channel mean, Gaussian blur of ``sigma`` cells). PRP
  needs a backbone ``torch.fx`` can trace: the CNN, not BirdNET's graph executor;
- ``"gradxinput"``, ``"integrated_gradients"``, ``"occlusion"`` (:data:`BASELINE_METHODS`,
  not in cabrnet; captum's, with cabrnet's post-processing): gradient x (input - removed
  input), integrated gradients from the removed input, occlusion of one backbone cell;
  see :func:`_baseline_maps`. Occlusion is near-tautological for the deletion test
  (:data:`TAUTOLOGICAL`). ``"gradxinput"`` is the default (:data:`DEFAULT_METHOD`,
  chosen by the figures in ``docs/protonet.md``);
- ``"randgrad"``: cabrnet's random attribution (uniform noise, same post-processing), the
  baseline every method must beat.

Evaluations:

- :func:`perturbation_curves`: deletion and insertion curves (Petsiuk et al. 2018, RISE):
  the most relevant ``k`` % of the grid's time-frequency cells (both BirdNET channels
  together) are removed from the input (deletion) or restored on an empty input
  (insertion), ``k = 0, 5, ..., 100``; the score is the softmax probability of the
  class. *Removing* a cell sets it to its row's background level by default
  (:func:`removal_baseline`, ``"noise"``: the 20th percentile of the row over the
  input's frames): what the band holds where nothing sings, so removing a call leaves
  the recording's noise, where the input's minimum (``"floor"``) would leave a hole
  quieter than any recording and a blur (``"blur"``) would keep the call's energy in
  place. The area under each curve (trapezoid over the fraction of cells) is compared
  chunk by chunk with randgrad's: deletion is faithful when its AUC is lower, insertion
  when higher;
- :func:`pointing_game`: cabrnet's pointing game
  (:func:`~cabrnet.core.evaluation.relevance_analysis.pg_mask_relevance`, the share of the
  top ``x`` % attributed cells inside a mask, and
  :func:`~cabrnet.core.evaluation.relevance_analysis.pg_energy_relevance`, the share of
  the attribution inside it) against masks such as :func:`syllable_energy_mask`.

cabrnet's ``local_perturbation_analysis`` perturbs colour, contrast, hue, blur and shape of
an image patch; those perturbations have no spectrogram meaning, and the deletion and
insertion curves measure the same thing (does the score fall when the attributed part
changes) with removals that do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn

from .errors import SpectrogramInputError

#: attribution methods, cheapest first; ``"randgrad"`` is the random baseline
METHODS: tuple[str, ...] = (
    "linear",
    "cubic",
    "saliency",
    "gradxinput",
    "gradxinput_sigma2",
    "smoothgrad",
    "integrated_gradients",
    "integrated_gradients_sigma2",
    "occlusion",
    "prp",
    "randgrad",
)
#: methods computed by captum against the removal baseline (not in cabrnet)
BASELINE_METHODS: tuple[str, ...] = ("gradxinput", "integrated_gradients", "occlusion")
#: named variants: a method with other post-processing (``attribution_maps``' ``sigma``
#: and ``polarity``), measured and chosen like the others
VARIANTS: dict[str, dict] = {
    "gradxinput_sigma2": {"method": "gradxinput", "sigma": 2},
    "integrated_gradients_sigma2": {"method": "integrated_gradients", "sigma": 2},
}
#: methods that rank cells by the very drop the deletion test measures (reported, not chosen)
TAUTOLOGICAL: tuple[str, ...] = ("occlusion",)
#: integrated gradients: points on the path from the removal baseline to the input
IG_STEPS = 16
RANDOM_METHOD = "randgrad"
#: the method activation datasets carry by default (chosen by the figures, docs/protonet.md)
DEFAULT_METHOD = "gradxinput_sigma2"
#: what the gradient methods keep of an attribution (``attribution_maps(polarity=...)``)
POLARITIES: tuple[str, ...] = ("absolute", "positive", "signed")
#: each method's own polarity: cabrnet's absolute value, the positive part for BASELINE_METHODS
DEFAULT_POLARITY: dict[str, str] = dict.fromkeys(BASELINE_METHODS, "positive")
#: curve steps: 5 % of the cells each
STEPS = 20
#: cabrnet's default blur (sigma, in grid cells) of gradient maps
GAUSSIAN_SIGMA = 5
#: forward passes per batch when scoring edited grids
SCORE_BATCH = 32
#: what a removed cell becomes (:func:`removal_baseline`)
REMOVALS: tuple[str, ...] = ("noise", "floor", "blur")
DEFAULT_REMOVAL = "noise"
#: what each removal means, for reports
REMOVAL_TEXT = {
    "noise": "a removed cell is set to its row's background level (20th percentile of the row "
    "over the input's frames, per channel); insertion starts from the all-background input",
    "floor": "a removed cell is set to the input's floor (per-channel minimum); insertion "
    "starts from an all-floor input",
    "blur": "a removed cell is set to the input blurred (Gaussian, 2 rows x 8 frames); "
    "insertion starts from the blurred input",
}
#: percentile over frames taken as a row's background level (removal and syllable masks)
NOISE_PERCENTILE = 20
#: blur of the ``"blur"`` removal (rows, frames)
BLUR_SIGMA = (2.0, 8.0)


class _Canvas:
    """The ``img`` cabrnet's visualisation functions resize to: only its size is read."""

    def __init__(self, height: int, width: int):
        self.height, self.width = int(height), int(width)


class _GridModel(nn.Module):
    """Adapter giving cabrnet's attribution functions the ``similarities(x)`` they call.

    ``x`` is one input grid (1, channels, R, T) (see the module docstring). ``target``:
    ``"class"``: the class logits as (1, C, 1, 1) maps (attributions of the decision,
    taken at location (0, 0)); ``"prototype"``: the prototype similarity maps
    (1, P, H, W) (blackbox: class activation maps), taken at their maximum as cabrnet does.
    """

    def __init__(self, model, target: str = "class"):
        super().__init__()
        self.net = model.network_
        self.birdnet = model.params.uses_birdnet
        self.blackbox = model.params.arch == "blackbox"
        self.prototree = model.params.arch == "prototree"
        self.target = target

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.birdnet:  # the spectrogram through BirdNET, then the net from its feature map
            return self.net.extractor.convnet.from_spectrogram(x)
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(self._features(x))
        out = out[0] if isinstance(out, tuple) else out
        return torch.log(out.clamp_min(1e-12)) if self.prototree else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """What captum's LRP propagates through: the similarity maps of cabrnet's LRP model."""
        return self.similarities(x)

    def similarities(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "lrp_ready", False):  # cabrnet's LRP model returns similarity maps
            return self.net(self._features(x))
        if self.target == "class":
            return self.logits(x)[:, :, None, None]
        feats = self._features(x)
        if self.blackbox:
            return self.net.cam(feats)
        if self.birdnet:
            feats = self.net.extractor(feats)
            return self.net.classifier.similarities(feats)
        return self.net.similarities(feats)


class _FixedMaps(nn.Module):
    """Adapter for cabrnet's ``cubic_upsampling``: ``similarities`` returns given cell maps."""

    def __init__(self, maps: np.ndarray):
        super().__init__()
        self.maps = torch.from_numpy(np.asarray(maps, dtype=np.float32))

    def similarities(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps


# --------------------------------------------------------------------------- input grid
def input_grid(model, X) -> np.ndarray:
    """The grids (N, channels, R, T) the network reads: see the module docstring.

    BirdNET backbone: ``X`` are audio chunks (N, 144000); CNN: dB windows (N, F, T).
    """
    X = model._prepare(X)
    if model.params.uses_birdnet:
        if X.ndim != 2:
            raise SpectrogramInputError(
                "faithfulness measures of a BirdNET model need the audio chunks (N, 144000), "
                "not feature maps: cells are removed from BirdNET's spectrogram"
            )
        with torch.no_grad():
            return model.network_.extractor.convnet.frontend(torch.from_numpy(X)).numpy()
    return X[:, None].astype(np.float32)


def grid_scores(model, grids: np.ndarray, key: str = "proba") -> np.ndarray:
    """Class probabilities (``key="proba"``) or logits (``"logits"``) (N, C) of input grids.

    ``grids`` (N, channels, R, T), edited or not (:func:`input_grid`, :func:`edit_grids`).
    """
    if not model.params.uses_birdnet:
        return model._parts(grids[:, 0])[key]
    trunk = model.network_.extractor.convnet
    out = []
    with torch.no_grad():
        for lo in range(0, len(grids), SCORE_BATCH):
            feats = trunk.from_spectrogram(torch.from_numpy(grids[lo : lo + SCORE_BATCH]))
            out.append(model._parts(feats.numpy())[key])
    return np.concatenate(out)


def _network_input(model, grid: np.ndarray) -> torch.Tensor:
    """One grid (channels, R, T) as the tensor the adapter reads (CNN: its encoding)."""
    if model.params.uses_birdnet:
        return torch.from_numpy(np.ascontiguousarray(grid[None]))
    return model._encode(grid[:1])


# --------------------------------------------------------------------------- attribution
def attribution_maps(
    model,
    X,
    targets: Sequence[int] | np.ndarray,
    method: str = DEFAULT_METHOD,
    kind: str = "class",
    sigma: float | None = None,
    seed: int = 0,
    grids: np.ndarray | None = None,
    removal: str = DEFAULT_REMOVAL,
    polarity: str | None = None,
) -> np.ndarray:
    """Attribution of each input's ``targets`` on its input grid, (N, R, T) float32.

    Parameters
    ----------
    model : AudioProtoNet
        A trained model (CNN or BirdNET backbone).
    X : numpy.ndarray
        CNN: dB windows (N, F, T); BirdNET: audio chunks (N, 144000).
    targets : array-like of int
        (N,) a class per input (``kind="class"``) or a prototype (``kind="prototype"``;
        blackbox: a class activation map).
    method : str
        One of :data:`METHODS`; a name of :data:`VARIANTS` is its method with the
        variant's ``sigma`` / ``polarity`` (unless given here).
    kind : str
        ``"class"``: evidence for the class's logit; ``"prototype"``: for the prototype's
        similarity at its best cell (cabrnet's patch visualisation).
    sigma : float, optional
        Blur of the gradient methods and randgrad (cabrnet's ``gaussian_ksize``), in cells.
        Default: the variant's, else :data:`GAUSSIAN_SIGMA` (cabrnet's 5).
    seed : int
        Seed of smoothgrad's noise and of randgrad.
    grids : numpy.ndarray, optional
        :func:`input_grid` of ``X`` when already computed.
    removal : str
        The reference input of :data:`BASELINE_METHODS` (:func:`removal_baseline`): the
        input with every cell removed, as the deletion and insertion curves remove them.
    polarity : str, optional
        What the gradient methods keep of each channel's attribution before the channel
        mean and the blur (:data:`POLARITIES`): ``"absolute"`` (its magnitude),
        ``"positive"`` (evidence for the target only) or ``"signed"`` (both signs, so
        evidence against the target ranks last). Default: the method's own
        (:data:`DEFAULT_POLARITY`: cabrnet's absolute value for its methods, the positive
        part for :data:`BASELINE_METHODS`). Ignored by ``"linear"`` and ``"cubic"``.

    Returns
    -------
    numpy.ndarray
        (N, R, T): BirdNET rows are its 96 mel bands (row 0 the highest), CNN rows the
        window's frequency bins.
    """
    from cabrnet.core.visualization import gradients
    from cabrnet.core.visualization.upsampling import cubic_upsampling

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    variant = VARIANTS.get(method, {})
    method = variant.get("method", method)
    sigma = variant.get("sigma", GAUSSIAN_SIGMA) if sigma is None else sigma
    polarity = polarity or variant.get("polarity") or DEFAULT_POLARITY.get(method, "absolute")
    if kind not in ("class", "prototype"):
        raise ValueError(f"kind must be 'class' or 'prototype', got {kind!r}")
    if polarity not in POLARITIES:
        raise ValueError(f"polarity must be one of {POLARITIES}, got {polarity!r}")
    cabrnet_polarity = None if polarity == "signed" else polarity
    if method == "prp" and model.params.uses_birdnet:
        raise ValueError(
            "PRP needs a backbone torch.fx can trace; BirdNET's graph executor is not one"
        )
    X = model._prepare(X)
    grids = input_grid(model, X) if grids is None else grids
    targets = np.asarray(targets, dtype=int)
    if targets.shape != (len(grids),):
        raise SpectrogramInputError(f"{targets.shape[0]} targets for {len(grids)} inputs")
    n, _, rows, cols = grids.shape
    canvas = _Canvas(rows, cols)
    if method == "linear":
        return _linear_maps(model, X, targets, kind)
    if method == "cubic":
        cells = _cell_maps(model, X, targets, kind)
        return np.stack(
            [
                cubic_upsampling(
                    _FixedMaps(cells[i : i + 1, None]), canvas, torch.zeros(1), 0, "cpu"
                )
                for i in range(n)
            ]
        ).astype(np.float32)
    if method in BASELINE_METHODS:
        return _baseline_maps(model, grids, targets, method, kind, sigma, removal, cabrnet_polarity)
    if method == "prp" and kind == "class":
        # PRP explains prototypes: a class's map is that of its top prototype (the one
        # adding most to the class's logit), as cabrnet's pointing game analyses it
        targets, kind = _top_prototype_of_class(model, X, targets), "prototype"
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (cabrnet's randgrad draws from the global generator)
    adapter = _GridModel(model, "class" if kind == "class" else "prototype")
    if method == "prp":
        from cabrnet.core.visualization.prp_utils import get_cabrnet_lrp_composite_model

        adapter.net = get_cabrnet_lrp_composite_model(model.network_)
        adapter.lrp_ready = True
    location = (0, 0) if kind == "class" else "max"
    out = np.empty((n, rows, cols), dtype=np.float32)
    for i in range(n):
        x = _network_input(model, grids[i])
        common = {
            "img": canvas,
            "img_tensor": x,
            "gaussian_ksize": sigma,
            "polarity": cabrnet_polarity,
        }
        if method == "randgrad":
            out[i] = gradients.randgrad(**common)
            continue
        fn = {"saliency": gradients.saliency, "smoothgrad": gradients.smoothgrad}.get(
            method, gradients.prp
        )
        out[i] = fn(
            model=adapter,
            proto_idx=int(targets[i]),
            device="cpu",
            location=location,
            **common,
        )
    return out


def _occlusion_window(model) -> tuple[int, int]:
    """Rows and frames of one backbone cell on the input grid (the occlusion patch)."""
    if model.params.uses_birdnet:
        rows, frames = model.geometry_.grid.jump
        return max(1, round(rows)), max(1, round(frames))
    return model.stride, model.stride


def _same_input_runs(grids: np.ndarray) -> list[slice]:
    """Consecutive runs of identical grids (N, channels, R, T), in order.

    :func:`~vocalpy_xai.protonet.activations.prototype_attribution` repeats each input once
    per prototype drawn; a run is one input with several targets.
    """
    starts = [0] + [i for i in range(1, len(grids)) if not np.array_equal(grids[i], grids[i - 1])]
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], len(grids)], strict=True)]


def _target_gradients(score, x: torch.Tensor, targets: np.ndarray) -> torch.Tensor:
    """(K, channels, R, T) the gradient of each target's score at one input ``x`` (1, ...).

    What captum's ``Saliency(score).attribute(x, target=t, abs=False)`` returns for each
    target ``t`` (the gradient of ``score(x)[0, t]``), from one forward pass: captum's runs
    the forward pass again for every target, here the graph is kept between the targets'
    backward passes (the same graph, so the same numbers).
    """
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        out = score(x)[0]
        last = len(targets) - 1
        return torch.cat(
            [
                torch.autograd.grad(out[int(t)], x, retain_graph=k < last)[0]
                for k, t in enumerate(targets)
            ]
        )


def _baseline_maps(
    model,
    grids: np.ndarray,
    targets: np.ndarray,
    method: str,
    kind: str,
    sigma: float,
    removal: str,
    polarity: str | None = "positive",
) -> np.ndarray:
    """Maps of :data:`BASELINE_METHODS`, each against the grid with every cell removed.

    The target is the class logit (``kind="class"``) or the prototype's best similarity;
    ``"gradxinput"``: its gradient times (input - reference) (Shrikumar et al. 2016, Ancona
    et al. 2018); ``"integrated_gradients"``: captum's (Sundararajan et al. 2017,
    :data:`IG_STEPS` points); ``"occlusion"``: captum's (Zeiler & Fergus 2014), the drop of
    the target when a patch of one backbone cell (:func:`_occlusion_window`, stride half
    a cell) is removed. Maps keep the positive part (evidence *for* the target: what
    deletion removes first) unless ``polarity`` (cabrnet's: ``"positive"``,
    ``"absolute"``, or ``None`` for the signed attribution) says otherwise, averaged over
    channels and blurred by cabrnet's ``post_process``. Occlusion is near-tautological for the deletion test: it ranks
    cells by the very drop that deletion measures, one patch at a time.

    Cost: an input repeated with several targets (consecutive identical grids, as
    :func:`~vocalpy_xai.protonet.activations.prototype_attribution` lays out the prototypes
    of a window or chunk) is encoded, and its reference computed, once; ``"gradxinput"``
    then needs one forward pass for all its targets and one backward pass per target
    (:func:`_target_gradients`). Inputs are not stacked into batches: on the CNN's
    L2-log similarity the float rounding of a batched ``cdist`` moves near-tied maxima,
    so batched maps would differ from one input's, and stacking BirdNET chunks saved
    only ~10 % (measured, 1 torch thread). Integrated gradients and occlusion stay
    captum's, one call per target.
    """
    from cabrnet.core.visualization.postprocess import post_process
    from captum.attr import IntegratedGradients, Occlusion

    adapter = _GridModel(model, "class" if kind == "class" else "prototype")
    adapter.eval()

    def score(x: torch.Tensor) -> torch.Tensor:  # (N, classes or prototypes)
        return adapter.similarities(x).amax(dim=(2, 3))

    n, _, rows, cols = grids.shape
    canvas = _Canvas(rows, cols)
    out = np.empty((n, rows, cols), dtype=np.float32)
    for run in _same_input_runs(grids):
        x = _network_input(model, grids[run.start])
        ref = _network_input(model, removal_baseline(grids[run.start], removal))
        if method == "gradxinput":
            attrs = _target_gradients(score, x, targets[run]) * (x - ref)
        elif method == "integrated_gradients":
            attrs = torch.cat(
                [
                    IntegratedGradients(score).attribute(
                        x,
                        baselines=ref,
                        target=int(t),
                        n_steps=IG_STEPS,
                        internal_batch_size=IG_STEPS,
                    )
                    for t in targets[run]
                ]
            )
        else:
            fr, ft = _occlusion_window(model)
            channels = x.shape[1]
            with torch.no_grad():
                attrs = torch.cat(
                    [
                        Occlusion(score).attribute(
                            x,
                            sliding_window_shapes=(channels, fr, ft),
                            strides=(channels, max(1, fr // 2), max(1, ft // 2)),
                            baselines=ref,
                            target=int(t),
                            perturbations_per_eval=SCORE_BATCH,
                        )
                        for t in targets[run]
                    ]
                )
        for i, attr in zip(range(run.start, run.stop), attrs.detach().numpy(), strict=True):
            out[i] = post_process(
                attr, canvas, x, resize=True, polarity=polarity, gaussian_ksize=sigma
            )
    return out


def _top_prototype_of_class(model, X: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(N,) the prototype adding most to each input's class logit (score x weight)."""
    weights = model.last_layer()
    if weights is None or model.params.arch == "blackbox":
        raise ValueError("PRP needs a ProtoPNet-style model (arch 'audio' or 'plain')")
    scores = model._parts(X)["scores"]
    return np.argmax(scores * weights[classes], axis=1)


def _cell_maps(model, X: np.ndarray, targets: np.ndarray, kind: str) -> np.ndarray:
    """(N, H, W) maps over feature cells: class evidence, or one prototype's similarity."""
    from .quality import relevance_cells

    if kind == "class":
        return relevance_cells(model, X, targets)
    maps = model._parts(X)["maps"]
    return maps[np.arange(len(X)), targets]


def _linear_maps(model, X: np.ndarray, targets: np.ndarray, kind: str) -> np.ndarray:
    """Cell maps interpolated linearly onto the input grid from the cells' positions."""
    from . import grid

    cells = _cell_maps(model, X, targets, kind)
    if model.params.uses_birdnet:
        geo = model.geometry_
        return np.einsum(
            "rh,nhw,tw->nrt", geo.spect_rows, cells, geo.cell_time, optimize=True
        ).astype(np.float32)
    return grid.upsample(cells, X.shape[1], X.shape[2], model.stride)


# ------------------------------------------------------------------- deletion / insertion
def removal_baseline(grid: np.ndarray, removal: str = DEFAULT_REMOVAL) -> np.ndarray:
    """What each cell of one grid (channels, R, T) becomes when it is removed.

    ``removal`` (:data:`REMOVALS`):

    - ``"noise"``: the row's background level, its 20th percentile over the grid's frames,
      per channel (the value the band has where nothing sings: removing a call leaves the
      recording's noise in its band);
    - ``"floor"``: each channel's minimum over the whole grid (quieter than the background
      of most rows: removed cells become holes the network never sees in a recording);
    - ``"blur"``: the grid blurred by a Gaussian of :data:`BLUR_SIGMA` cells (RISE's
      insertion start; a blurred call keeps its energy in place).
    """
    grid = np.asarray(grid)
    if removal == "noise":
        level = np.percentile(grid, NOISE_PERCENTILE, axis=-1, keepdims=True)
        return np.broadcast_to(level, grid.shape).astype(grid.dtype)
    if removal == "floor":
        level = grid.reshape(grid.shape[0], -1).min(axis=1)[:, None, None]
        return np.broadcast_to(level, grid.shape).astype(grid.dtype)
    if removal == "blur":
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(grid, sigma=(0, *BLUR_SIGMA)).astype(grid.dtype)
    raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")


def edit_grids(
    grid: np.ndarray,
    order: np.ndarray,
    counts: Sequence[int],
    mode: str,
    removal: str = DEFAULT_REMOVAL,
) -> np.ndarray:
    """Copies of one grid (channels, R, T) with cells removed or restored in ``order``.

    ``order``: flat (R*T) cell indices, most relevant first. ``counts``: cells per copy.
    ``mode="deletion"``: the first ``count`` cells removed (set to
    :func:`removal_baseline`, every channel together); ``"insertion"``: the removed
    grid with the first ``count`` cells restored.
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    channels = grid.shape[0]
    flat = grid.reshape(channels, -1)
    base = removal_baseline(grid, removal).reshape(channels, -1)
    out = np.empty((len(counts), *flat.shape), dtype=grid.dtype)
    for j, k in enumerate(counts):
        cells = order[:k]
        if mode == "deletion":
            out[j] = flat
            out[j][:, cells] = base[:, cells]
        else:
            out[j] = base
            out[j][:, cells] = flat[:, cells]
    return out.reshape(len(counts), *grid.shape)


def curve_auc(curve: np.ndarray, fractions: np.ndarray | None = None) -> np.ndarray:
    """Area under curves (..., K) over ``fractions`` (default K evenly spaced in [0, 1])."""
    curve = np.asarray(curve, dtype=float)
    if fractions is None:
        fractions = np.linspace(0.0, 1.0, curve.shape[-1])
    return np.trapezoid(curve, fractions, axis=-1)


def perturbation_curves(
    model,
    X,
    y,
    maps: dict[str, np.ndarray],
    steps: int = STEPS,
    grids: np.ndarray | None = None,
    removal: str = DEFAULT_REMOVAL,
) -> dict:
    """Deletion and insertion curves of several attributions, and their AUCs, per input.

    Parameters
    ----------
    model : AudioProtoNet
    X : numpy.ndarray
        Inputs (CNN: windows; BirdNET: audio chunks).
    y : array-like of int
        (N,) the class whose probability is followed (usually the true class).
    maps : dict of str to numpy.ndarray
        Attribution maps (N, R, T) on the input grid, by method name.
    steps : int
        Curve steps (20: 5 % of the cells each).
    grids : numpy.ndarray, optional
        :func:`input_grid` of ``X`` when already computed.
    removal : str
        What a removed cell becomes (:func:`removal_baseline`); the same for every method.

    Returns
    -------
    dict
        ``fractions`` (steps + 1,), ``intact`` (N,) and ``empty`` (N,) probabilities (the
        curves' shared ends), and per method ``{"deletion": (N, steps + 1), "insertion":
        (N, steps + 1), "deletion_auc": (N,), "insertion_auc": (N,)}``.
    """
    X = model._prepare(X)
    grids = input_grid(model, X) if grids is None else grids
    y = np.asarray(y, dtype=int)
    n = len(grids)
    if y.shape != (n,):
        raise SpectrogramInputError(f"{len(y)} labels for {n} inputs")
    n_cells = grids.shape[2] * grids.shape[3]
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * n_cells).astype(int)
    inner = counts[1:-1]
    intact = grid_scores(model, grids)[np.arange(n), y]
    empty_grids = np.stack(
        [edit_grids(g, np.arange(0), [0], "insertion", removal)[0] for g in grids]
    )
    empty = grid_scores(model, empty_grids)[np.arange(n), y]
    out: dict = {"fractions": fractions, "intact": intact, "empty": empty}
    for name, rel in maps.items():
        rel = np.asarray(rel).reshape(n, -1)
        if rel.shape[1] != n_cells:
            raise SpectrogramInputError(
                f"{name}: maps of {rel.shape[1]} cells for grids of {n_cells} cells"
            )
        dele = np.empty((n, steps + 1))
        ins = np.empty((n, steps + 1))
        dele[:, 0], dele[:, -1] = intact, empty
        ins[:, 0], ins[:, -1] = empty, intact
        for i in range(n):
            order = np.argsort(-rel[i], kind="stable")
            edited = np.concatenate(
                [
                    edit_grids(grids[i], order, inner, "deletion", removal),
                    edit_grids(grids[i], order, inner, "insertion", removal),
                ]
            )
            proba = grid_scores(model, edited)[:, y[i]]
            dele[i, 1:-1], ins[i, 1:-1] = proba[: len(inner)], proba[len(inner) :]
        out[name] = {
            "deletion": dele,
            "insertion": ins,
            "deletion_auc": curve_auc(dele, fractions),
            "insertion_auc": curve_auc(ins, fractions),
        }
    return out


def beats_random(curves: dict, method: str, random: str = RANDOM_METHOD) -> dict[str, float]:
    """Share of inputs where ``method``'s AUCs beat ``random``'s (deletion lower, insertion higher)."""
    m, r = curves[method], curves[random]
    return {
        "deletion_beats_random": float(np.mean(m["deletion_auc"] < r["deletion_auc"])),
        "insertion_beats_random": float(np.mean(m["insertion_auc"] > r["insertion_auc"])),
    }


# --------------------------------------------------------------------------- pointing game
def pointing_game(maps: np.ndarray, masks: np.ndarray, top: float = 0.10) -> dict[str, np.ndarray]:
    """cabrnet's pointing game on each map (N, R, T) against a boolean mask (N, R, T).

    Returns
    -------
    dict
        ``top_in_mask`` (N,): share of the ``top`` most attributed cells inside the mask
        (:func:`~cabrnet.core.evaluation.relevance_analysis.pg_mask_relevance`);
        ``energy_in_mask`` (N,): share of the (non-negative) attribution inside it
        (:func:`~cabrnet.core.evaluation.relevance_analysis.pg_energy_relevance`);
        ``mask_share`` (N,): the mask's share of the grid, what a map without information
        scores on both.
    """
    from cabrnet.core.evaluation.relevance_analysis import pg_energy_relevance, pg_mask_relevance

    maps = np.asarray(maps, dtype=float)
    masks = np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise SpectrogramInputError(f"maps {maps.shape} and masks {masks.shape} differ in shape")
    top_in, energy = np.empty(len(maps)), np.empty(len(maps))
    for i, (m, mask) in enumerate(zip(maps, masks, strict=True)):
        m = m - m.min()  # a constant offset counts for nothing
        seg = mask[..., None]  # cabrnet sums a segmentation image over its last axis
        top_in[i] = pg_mask_relevance(m, seg, top)
        energy[i] = pg_energy_relevance(m, seg)
    return {
        "top_in_mask": top_in,
        "energy_in_mask": energy,
        "mask_share": masks.reshape(len(masks), -1).mean(axis=1),
    }


def syllable_energy_mask(
    window: np.ndarray, in_syllable: np.ndarray, above_db: float = 6.0
) -> np.ndarray:
    """Where a window's syllables have energy: (F, T) bool.

    Parameters
    ----------
    window : numpy.ndarray
        A dB spectrogram window (F, T).
    in_syllable : numpy.ndarray
        (T,) bool: frames inside annotated syllables. Each run of consecutive frames is
        one syllable.
    above_db : float
        A bin belongs to a syllable when the syllable's mean level in it is at least this
        much above the bin's background (its 20th percentile over the window's frames).

    Returns
    -------
    numpy.ndarray
        True on (bin, frame) of a syllable's frames and energetic bins (time from the
        annotation, frequency from the sound).
    """
    window = np.asarray(window, dtype=float)
    in_syllable = np.asarray(in_syllable, dtype=bool)
    if in_syllable.shape != window.shape[1:]:
        raise SpectrogramInputError(
            f"{in_syllable.shape[0]} frame flags for a window of {window.shape[1]} frames"
        )
    background = np.percentile(window, NOISE_PERCENTILE, axis=1)
    mask = np.zeros(window.shape, dtype=bool)
    edges = np.flatnonzero(np.diff(np.r_[0, in_syllable.astype(int), 0]))
    for on, off in zip(edges[::2], edges[1::2], strict=True):
        level = window[:, on:off].mean(axis=1)
        mask[level - background >= above_db, on:off] = True
    return mask
