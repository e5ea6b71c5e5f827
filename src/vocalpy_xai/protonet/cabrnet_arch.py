"""The frequency-aware ProtoPNet as cabrnet classes (built by name from a cabrnet config).

:class:`AudioProtoPNetClassifier` is cabrnet's :class:`ProtoPNetClassifier` (same prototypes,
similarity layer, last layer, class mapping) with another pooling:

1. distances between every prototype and every feature cell: (N, P, H rows, W columns);
2. minimum over **time** only (columns): (N, P, H), converted to similarities with the
   similarity layer's own ``distances_to_similarities``;
3. a weighted sum over **frequency** rows with per-prototype weights
   ``softmax(freq_logits[p])`` (learnt): each prototype is tied to a band.

The "minimum distances" it returns for cabrnet's ProtoPNet loss (clustering and separation
costs) are the same band-weighted combination of the per-row time-minimum distances.

:class:`AudioProtoPNet` is cabrnet's :class:`ProtoPNet` (loss, training epochs, last-layer
fine-tuning, projection), whose projection looks for each prototype's nearest training patch
with similarities weighted by the prototype's band (weight / max weight), so a prototype is
pushed onto a patch inside its own band.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from ._cabrnet import ProtoPNet, ProtoPNetClassifier


class AudioProtoPNetClassifier(ProtoPNetClassifier):
    """ProtoPNet classifier pooling similarity over time, then over frequency with learnt weights.

    Parameters
    ----------
    similarity_config : dict
        cabrnet similarity layer configuration (e.g. ``{"name": "ProtoPNetSimilarity"}``).
    num_classes, num_features, num_proto_per_class : int
        As for :class:`cabrnet.archs.protopnet.decision.ProtoPNetClassifier`.
    num_freq_rows : int
        Rows (frequency bands) of the feature map; fixed by the input's frequency bins.
    **kwargs
        Passed to ProtoPNetClassifier (``proto_init_mode``, ``incorrect_class_penalty``).
    """

    def __init__(
        self,
        similarity_config: dict[str, Any],
        num_classes: int,
        num_features: int,
        num_proto_per_class: int,
        num_freq_rows: int,
        **kwargs,
    ) -> None:
        super().__init__(
            similarity_config=similarity_config,
            num_classes=num_classes,
            num_features=num_features,
            num_proto_per_class=num_proto_per_class,
            **kwargs,
        )
        self.num_freq_rows = int(num_freq_rows)
        self.freq_logits = nn.Parameter(torch.zeros(self.num_prototypes, self.num_freq_rows))
        self.band_weighted_similarities = False

    def freq_weights(self) -> Tensor:
        """Per-prototype weights of the frequency rows, (P, H), each row summing to 1."""
        return torch.softmax(self.freq_logits, dim=1)

    def _check_rows(self, features: Tensor) -> None:
        if features.shape[2] != self.num_freq_rows:
            raise ValueError(
                f"feature map has {features.shape[2]} frequency rows, this classifier was built "
                f"for {self.num_freq_rows} (another number of frequency bins)"
            )

    def similarities(self, features: Tensor, **kwargs) -> Tensor:
        """Similarity maps (N, P, H, W); weighted by each prototype's band during projection."""
        self._check_rows(features)
        sims = self.similarity_layer.similarities(features, self.prototypes, **kwargs)
        if self.band_weighted_similarities:
            w = self.freq_weights()
            sims = sims * (w / w.max(dim=1, keepdim=True).values)[None, :, :, None]
        return sims

    def pooled(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """Band-weighted similarity scores (N, P) and distances (N, P)."""
        self._check_rows(features)
        distances = self.distances(features)  # (N, P, H, W)
        row_min = distances.min(dim=3).values  # pooled over time only: (N, P, H)
        w = self.freq_weights()[None]  # (1, P, H)
        sims = self.similarity_layer.distances_to_similarities(row_min)
        return (sims * w).sum(dim=2), (row_min * w).sum(dim=2)

    def forward(self, features: Tensor, **kwargs) -> tuple[Tensor, Tensor]:
        """Logits (N, C) and band-weighted minimum distances (N, P) for cabrnet's loss."""
        scores, distances = self.pooled(features)
        return self.last_layer(scores), distances


class AudioProtoPNet(ProtoPNet):
    """cabrnet ProtoPNet whose projection respects each prototype's frequency band."""

    def project(self, *args, **kwargs) -> list[dict]:
        self.classifier.band_weighted_similarities = True
        try:
            return super().project(*args, **kwargs)
        finally:
            self.classifier.band_weighted_similarities = False
