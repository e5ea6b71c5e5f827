"""A small spectrogram CNN, registered in torchvision's model registry so cabrnet can name it.

cabrnet builds its feature extractor from a torchvision model name
(``torchvision.models.get_model``) and probes it with a (1, 3, 224, 224) input. This
backbone takes the 3-channel encoding of :mod:`vocalpy_xai.protonet.inputs` (spectrogram,
its time derivative, a frequency-position ramp) and keeps a frequency axis in its feature
map: every block but the last is conv 3x3 - batch norm - ReLU - 2x2 max-pooling, so a
feature cell covers ``stride x stride`` input bins and frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from . import _cabrnet  # noqa: F401  (torchvision importable before registering)

#: name of the backbone in torchvision's registry (what cabrnet's config names)
BACKBONE_NAME = "vocalpy_xai_spectrogram_cnn"
#: the layer cabrnet extracts features from
SOURCE_LAYER = "features"
#: channels of the input encoding
IN_CHANNELS = 3


class SpectrogramCNN(nn.Module):
    """Conv blocks over (freq, time) that keep both axes.

    Parameters
    ----------
    channels : sequence of int
        Output channels of each block.
    in_channels : int
        Input channels (3 for cabrnet).
    """

    def __init__(self, channels: Sequence[int] = (16, 32, 64, 64), in_channels: int = IN_CHANNELS):
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i, c in enumerate(channels):
            layers += [
                nn.Conv2d(prev, c, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2))
            prev = c
        self.features = nn.Sequential(*layers)

    def forward(self, x):
        return self.features(x)


def receptive_field(n_blocks: int) -> int:
    """Receptive field (frames = bins) of one feature cell of a backbone with ``n_blocks``."""
    r, jump = 1, 1
    for i in range(n_blocks):
        r += 2 * jump  # conv 3x3
        if i < n_blocks - 1:
            r += jump  # max-pool 2
            jump *= 2
    return r


def spectrogram_cnn(*, weights=None, channels: Sequence[int] = (16, 32, 64, 64), **kwargs):
    """torchvision-style builder of :class:`SpectrogramCNN` (no pretrained weights)."""
    if weights not in (None, "", "None"):
        raise ValueError(f"{BACKBONE_NAME} has no pretrained weights (got {weights!r})")
    return SpectrogramCNN(channels=channels, **kwargs)


def register() -> None:
    """Register the backbone in torchvision's registry (idempotent)."""
    from torchvision.models import _api, list_models

    if BACKBONE_NAME not in list_models():
        _api.register_model(name=BACKBONE_NAME)(spectrogram_cnn)


register()
