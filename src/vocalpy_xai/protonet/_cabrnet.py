"""The one place that imports cabrnet, and keeps its import-time side effects contained.

cabrnet 1.2 imports ``onnxruntime`` at import time of every model class (through
``cabrnet.archs.custom_extractors.onnx_backbone``, its ONNX-backbone support), but the project
installs cabrnet with ``--no-deps`` and onnxruntime is not among the packages it pulls in.
When onnxruntime is missing, :func:`_import_without_onnxruntime` lends cabrnet a placeholder
module for the duration of its import only (removed from :data:`sys.modules` right after,
so nobody else mistakes it for the real package): everything but ONNX backbones works, and
an ONNX backbone raises an ImportError naming onnxruntime.

cabrnet 1.2 also calls ``warnings.filterwarnings("ignore")`` when
``cabrnet.archs.generic.conv_extractor`` is imported, which would silence every warning of
the whole process; it also logs freely through loguru. Importing it here, inside
:func:`warnings.catch_warnings`, restores the warning filters afterwards, and
:func:`quiet_cabrnet` mutes its loguru messages while our code drives it.
"""

from __future__ import annotations

import contextlib
import sys
import types
import warnings

from loguru import logger

import _vocalpy_xai_torchvision

_vocalpy_xai_torchvision.install()  # torchvision without its C++ ops (see STACK.md)


def _onnxruntime_placeholder() -> types.ModuleType:
    module = types.ModuleType("onnxruntime")
    module.__vocalpy_xai_placeholder__ = True

    def missing(*args, **kwargs):
        raise ImportError(
            "cabrnet's ONNX backbones need onnxruntime, which is not installed "
            "(pip install onnxruntime)"
        )

    module.InferenceSession = missing
    module.get_available_providers = lambda: []
    return module


def _import_without_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        sys.modules["onnxruntime"] = _onnxruntime_placeholder()
        try:
            import cabrnet.archs.custom_extractors  # noqa: F401
        finally:
            sys.modules.pop("onnxruntime", None)


with warnings.catch_warnings():
    import torchvision  # noqa: F401  (before cabrnet: registers the models registry)

    _import_without_onnxruntime()
    from cabrnet.archs.generic.conv_extractor import ConvExtractor
    from cabrnet.archs.generic.model import CaBRNet
    from cabrnet.archs.protopnet.decision import ProtoPNetClassifier
    from cabrnet.archs.protopnet.model import ProtoPNet
    from cabrnet.archs.prototree.model import ProtoTree
    from cabrnet.core.utils.optimizers import OptimizerManager


@contextlib.contextmanager
def quiet_cabrnet():
    """Mute cabrnet's loguru messages (period tables, scheduler notes) inside the block."""
    logger.disable("cabrnet")
    try:
        yield
    finally:
        logger.enable("cabrnet")


def cabrnet_version() -> str:
    from importlib.metadata import version

    return version("cabrnet")


__all__ = [
    "CaBRNet",
    "ConvExtractor",
    "OptimizerManager",
    "ProtoPNet",
    "ProtoPNetClassifier",
    "ProtoTree",
    "cabrnet_version",
    "quiet_cabrnet",
]
