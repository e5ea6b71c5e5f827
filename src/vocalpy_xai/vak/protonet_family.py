"""vak registration of the AudioProtoNet model family (prototype networks, on cabrnet).

Importing this module registers, with vak's own registries,

- the family :class:`AudioProtoNetModel` (``@vak.models.model_family``), and
- the model ``AudioProtoNet`` (``@vak.models.model(family=AudioProtoNetModel)``),

so that vak's config parser accepts ``[vak.train.model.AudioProtoNet]`` tables. vak's own
``train``/``eval``/``predict`` only dispatch its built-in families; ``vocalpy-xai train``
(:mod:`vocalpy_xai.vak.run`, :mod:`vocalpy_xai.vak.protonet_run`) dispatches this one, with
cabrnet's training schedule (warm-up, joint training, projection, last-layer tuning), not
Lightning's loop.

The model's sub-tables hold the fields of :class:`~vocalpy_xai.protonet.ProtoNetParams`
(:data:`vocalpy_xai.vak.protonet_run.TABLE_KEYS`): ``network`` the architecture, ``optimizer`` the learning rates and
training budget, ``loss`` cabrnet's ProtoPNet loss coefficients.
"""

from __future__ import annotations

import torch
import vak

from ..protonet.networks import build_network
from ..protonet.params import ProtoNetParams
from .base import TrainedOutsideLightning
from .protonet_run import TABLE_KEYS


class ProtoNetNetwork(torch.nn.Module):
    """The cabrnet network of an AudioProtoNet variant (class logits from encoded windows).

    Parameters
    ----------
    num_classes, num_freq_rows : int
        Classes, and rows of the backbone's feature map (input bins // stride).
    arch, backbone, birdnet_layer, finetune_backbone, add_on, prototypes_per_class, \
    prototypes_per_band, tree_depth, channels, prototype_dim, time_centre, last_layer, seed
        The architecture fields of :class:`~vocalpy_xai.protonet.ProtoNetParams`.
    """

    def __init__(
        self,
        num_classes: int = 2,
        num_freq_rows: int = 1,
        arch: str | None = None,
        backbone: str = "cnn",
        birdnet_layer: str = "post_bn",
        finetune_backbone: bool = False,
        add_on: bool = True,
        prototypes_per_class: int = 5,
        prototypes_per_band: int = 3,
        tree_depth: int | None = None,
        channels: tuple[int, ...] = (16, 32, 64, 64),
        prototype_dim: int = 64,
        time_centre: float = 1.0,
        last_layer: str = "own",
        seed: int = 0,
    ):
        super().__init__()
        self.params = ProtoNetParams(
            arch=arch,
            backbone=backbone,
            birdnet_layer=birdnet_layer,
            finetune_backbone=finetune_backbone,
            add_on=add_on,
            prototypes_per_class=prototypes_per_class,
            prototypes_per_band=prototypes_per_band,
            tree_depth=tree_depth,
            channels=channels,
            prototype_dim=prototype_dim,
            time_centre=time_centre,
            last_layer=last_layer,
            seed=seed,
        )
        self.net, self.cabrnet_config = build_network(self.params, num_classes, num_freq_rows)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (batch, classes) of encoded windows (batch, 3, freq, time)."""
        out = self.net(x)
        return out[0] if isinstance(out, tuple) else out


class PrototypeLoss(torch.nn.Module):
    """Names cabrnet's ProtoPNet loss (cross-entropy, clustering, separation, L1; ``banded``:
    cross-entropy and orthogonality, plus clustering and separation with ``cluster_costs``); the coefficients are ``[...model.AudioProtoNet.loss]``.
    Training calls the model's own loss."""

    def __init__(
        self,
        clustering: float = 0.8,
        separation: float = -0.08,
        cluster_costs: bool = False,
        l1: float = 1e-4,
        orthogonality: float = 0.01,
    ):
        super().__init__()
        self.coefs = {
            "clustering": clustering,
            "separation": separation,
            "cluster_costs": cluster_costs,
            "l1": l1,
            "orthogonality": orthogonality,
        }

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, y)


@vak.models.model_family
class AudioProtoNetModel(TrainedOutsideLightning):
    """vak model family of prototype networks for spectrogram windows (syllables).

    Holds a :class:`ProtoNetNetwork`; ``forward`` gives class logits. Training, evaluation
    and prediction go through :mod:`vocalpy_xai.vak.protonet_run`.
    """

    @classmethod
    def from_config(cls, config: dict):
        """Network from a config's tables (weights come from a trained model)."""
        return cls(network=ProtoNetNetwork(**config.get("network", {})), loss=PrototypeLoss())


_DEFAULTS = ProtoNetParams().to_dict()


@vak.models.model(family=AudioProtoNetModel)
class AudioProtoNet:
    """AudioProtoNet, as named in ``[vak.train.model.AudioProtoNet]`` tables.

    network: architecture (``arch``, ``prototypes_per_class``, ``channels``...);
    optimizer: learning rates and budget (``lr``, ``epochs``, ``max_seconds``...);
    loss: ``clustering``, ``separation``, ``l1``.
    """

    network = ProtoNetNetwork
    loss = PrototypeLoss
    optimizer = torch.optim.Adam
    metrics = {"acc": vak.metrics.Accuracy}
    default_config = {
        # no "arch": its default depends on the backbone (ProtoNetParams)
        "network": {k: _DEFAULTS[k] for k in TABLE_KEYS["network"] if k != "arch"},
        "optimizer": {"lr": _DEFAULTS["lr"]},
        "loss": {k: _DEFAULTS[k] for k in TABLE_KEYS["loss"]},
        "metrics": {},
    }
