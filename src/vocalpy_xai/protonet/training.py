"""Training loops: cabrnet's ProtoPNet/ProtoTree phases, and the black-box twin's plain loop.

Prototype variants follow cabrnet's own schedule, driven epoch by epoch here so that a
wall-clock budget can stop it:

1. warm-up (``warmup_epochs``): backbone frozen, add-on + prototypes (+ frequency weights)
   trained (cabrnet :class:`OptimizerManager` periods and freezing);
2. joint training: everything but the last layer, ``model.train_epoch`` (cabrnet's loss:
   cross-entropy + clustering + separation + L1 of the last layer);
3. projection: ``model.project`` pushes each prototype onto its nearest training patch of
   its class (:class:`~vocalpy_xai.protonet.cabrnet_arch.AudioProtoPNet`: inside its band);
4. last-layer fine-tuning (ProtoPNet variants), cabrnet's ``_train_epoch`` with the last-layer
   optimizer only, as ``ProtoPNet.train_epoch`` does after a projection.

The black-box twin gets the same epochs, batches, augmentation and budget, one Adam optimizer.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from ._cabrnet import OptimizerManager, quiet_cabrnet
from .params import ProtoNetParams

DEVICE = "cpu"
#: epochs at which cabrnet's ProtoPNet.train_epoch would project by itself: never (done here)
NEVER = 10**9


@contextlib.contextmanager
def torch_threads(n: int):
    """``torch.set_num_threads(n)`` inside the block, the previous value restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def backbone_frozen(params: ProtoNetParams) -> bool:
    """A pretrained BirdNET backbone that is not fine-tuned (the CNN always trains)."""
    return params.uses_birdnet and not params.finetune_backbone


def optimizer_config(params: ProtoNetParams, arch: str) -> dict:
    """cabrnet OptimizerManager configuration (parameter groups, optimizers, periods)."""
    prototypes = ["classifier.prototypes"]
    if arch == "audio":
        prototypes.append("classifier.freq_logits")
    groups = {
        "backbone": "extractor.convnet",
        "add_on": "extractor.add_on",
        "prototypes": prototypes,
    }
    optimizers = {
        "warmup_optimizer": {
            "type": "Adam",
            "groups": {
                "add_on": {"lr": params.lr_prototypes},
                "prototypes": {"lr": params.lr_prototypes},
            },
        },
        "joint_optimizer": {
            "type": "Adam",
            "groups": {
                "backbone": {"lr": params.lr},
                "add_on": {"lr": params.lr_prototypes},
                "prototypes": {"lr": params.lr_prototypes},
            },
        },
    }
    frozen = backbone_frozen(params)
    if frozen:  # a pretrained backbone kept as it is: never in an optimizer, never unfrozen
        del optimizers["joint_optimizer"]["groups"]["backbone"]
    if not params.add_on:  # prototypes read the backbone's channels directly
        del groups["add_on"]
        for opt in ("warmup_optimizer", "joint_optimizer"):
            del optimizers[opt]["groups"]["add_on"]
    if arch in ("audio", "plain"):
        groups["last_layer"] = "classifier.last_layer"
        optimizers["last_layer_optimizer"] = {
            "type": "Adam",
            "groups": {"last_layer": {"lr": params.lr_last_layer}},
        }
    warmup = min(params.warmup_epochs, params.epochs)
    periods = {}
    if warmup:
        periods["warmup"] = {
            "num_epochs": warmup,
            "optimizers": "warmup_optimizer",
            "freeze": ["backbone"],
        }
    if params.epochs > warmup:
        periods["joint"] = {"num_epochs": params.epochs - warmup, "optimizers": "joint_optimizer"}
        if frozen:
            periods["joint"]["freeze"] = ["backbone"]
    return {
        "param_groups": groups,
        "optimizers": optimizers,
        "num_epochs": params.epochs,
        "periods": periods,
    }


def _loader(dataset, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def train_prototype_net(
    net,
    params: ProtoNetParams,
    train_set,
    projection_set,
    progress: bool = True,
) -> tuple[list[dict], list[dict]]:
    """Train a cabrnet ProtoPNet / AudioProtoPNet / ProtoTree; returns (history, projection)."""
    from tqdm.auto import tqdm

    arch = params.arch
    loaders = {
        "train_set": _loader(train_set, params.batch_size, True, params.seed),
        "projection_set": _loader(projection_set, 64, False, params.seed),
    }
    if arch in ("audio", "plain"):
        net.loss_coefficients.update(
            {
                "clustering": params.clustering,
                "separability": params.separation,
                "regularization": params.l1,
            }
        )
        net.projection_config.update({"start_epoch": NEVER, "frequency": 1, "num_ft_epochs": 0})
    history = []
    t0 = time.perf_counter()
    with quiet_cabrnet():
        mngr = OptimizerManager.build_from_config(optimizer_config(params, arch), net)
        bar = tqdm(
            range(params.epochs), desc=f"{arch} protonet", unit="epoch", disable=not progress
        )
        for epoch in bar:
            if params.max_seconds is not None and time.perf_counter() - t0 > params.max_seconds:
                break
            mngr.freeze(epoch=epoch)
            info = net.train_epoch(
                dataloaders=loaders, optimizer_mngr=mngr, device=DEVICE, epoch_idx=epoch
            )
            history.append(_row("train", epoch, info))
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['accuracy']:.2f}")
        projection = net.project(dataloader=loaders["projection_set"], device=DEVICE)
        if arch in ("audio", "plain") and params.last_layer_epochs:
            mngr.freeze_non_associated_groups("last_layer_optimizer")
            for k in range(params.last_layer_epochs):
                info = net._train_epoch(
                    dataloaders=loaders,
                    optimizer_mngr=mngr.optimizers["last_layer_optimizer"],
                    device=DEVICE,
                    epoch_idx=len(history),
                )
                history.append(_row("last_layer", k, info))
        for p in net.parameters():
            p.requires_grad_(True)
        if backbone_frozen(params):
            net.extractor.convnet.requires_grad_(False)
    net.eval()
    return history, projection


def train_blackbox(net, params: ProtoNetParams, train_set, progress: bool = True) -> list[dict]:
    """Train the black-box twin: same epochs, batches, budget and learning rates; cross-entropy."""
    from tqdm.auto import tqdm

    loader = _loader(train_set, params.batch_size, True, params.seed)
    # the learning rates of the prototype nets: backbone ``lr``, the layer after it ``lr_prototypes``
    groups = [{"params": net.head.parameters(), "lr": params.lr_prototypes}]
    if not backbone_frozen(params):
        groups.append({"params": net.extractor.convnet.parameters(), "lr": params.lr})
    optimizer = torch.optim.Adam(groups)
    history = []
    t0 = time.perf_counter()
    bar = tqdm(range(params.epochs), desc="blackbox", unit="epoch", disable=not progress)
    for epoch in bar:
        if params.max_seconds is not None and time.perf_counter() - t0 > params.max_seconds:
            break
        net.train()
        total = correct = 0
        loss_sum = 0.0
        for xs, ys in loader:
            optimizer.zero_grad()
            logits = net(xs)
            loss = torch.nn.functional.cross_entropy(logits, ys)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(ys)
            correct += int((logits.argmax(1) == ys).sum())
            total += len(ys)
        history.append(
            {
                "phase": "train",
                "epoch": epoch,
                "loss": loss_sum / total,
                "accuracy": correct / total,
            }
        )
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", acc=f"{history[-1]['accuracy']:.2f}")
    net.eval()
    return history


def _row(phase: str, epoch: int, info: dict) -> dict:
    row = {"phase": phase, "epoch": epoch}
    for key, value in info.items():
        name = key.split("/", 1)[-1]
        if np.isscalar(value):
            row[name] = float(value)
    return row
