"""vocalpy-xai: explainable models and human-in-the-loop annotation for birdsong."""

import _vocalpy_xai_torchvision

_vocalpy_xai_torchvision.install()

__version__ = "0.1.0"
