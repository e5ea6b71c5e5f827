"""Base class of the vak model families that vocalpy-xai trains itself."""

from __future__ import annotations

import lightning
import torch


class TrainedOutsideLightning(lightning.LightningModule):
    """Base of the vak families that vocalpy-xai trains itself (not Lightning's loop).

    Holds the network, loss and metrics that vak's model factory hands over;
    ``forward`` is the network's.
    """

    def __init__(self, network=None, loss=None, optimizer=None, metrics=None):
        super().__init__()
        self.network = network
        self.loss = loss
        self.metrics = metrics or {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)
