"""Adapter: let a torchvision whose C++ ops cannot load still import.

Why this exists
---------------
On machines with the CPU build of torch, the only torchvision wheel that pip can
reach may be a CUDA build. Its C++ extension then fails to load, and
``torchvision/_meta_registrations.py`` raises
``RuntimeError: operator torchvision::nms does not exist`` at import time.
``import vak`` and ``import cabrnet`` both import torchvision and fail with it.

What it does
------------
:func:`install` puts a finder on :data:`sys.meta_path` that waits for the first
``import torchvision``. It then imports torchvision normally. Only if that import
fails with the "operator torchvision::... does not exist" error does it declare
the missing op schemas with :mod:`torch.library` and import torchvision again;
the pure-Python parts (``torchvision.models``, ``transforms``) work, the C++
kernels (``nms``, ``roi_align``...) stay unavailable and raise if called.
On a machine whose torchvision imports cleanly it changes nothing.

How it is loaded
----------------
``scripts/install.sh`` writes ``vocalpy_xai_torchvision.pth`` into site-packages,
so the finder is in place before anything (``import vak``, ``import cabrnet``)
imports torchvision. :mod:`vocalpy_xai` also calls :func:`install` itself.
This module imports only the standard library until torchvision is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys
import threading

#: op schemas declared when torchvision's extension failed to load, taken from
#: ``torchvision/csrc/ops/*.cpp``. Only the schemas are declared; the kernels are not.
TORCHVISION_OP_SCHEMAS: dict[str, str] = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "roi_align": (
        "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor"
    ),
    "_roi_align_backward": (
        "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
        "int sampling_ratio, bool aligned) -> Tensor"
    ),
    "ps_roi_align": (
        "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)"
    ),
    "_ps_roi_align_backward": (
        "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
        "float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, "
        "SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor"
    ),
    "ps_roi_pool": (
        "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width) -> (Tensor, Tensor)"
    ),
    "_ps_roi_pool_backward": (
        "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
        "float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, "
        "SymInt channels, SymInt height, SymInt width) -> Tensor"
    ),
    "roi_pool": (
        "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
        "SymInt pooled_width) -> (Tensor, Tensor)"
    ),
    "_roi_pool_backward": (
        "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
        "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
        "SymInt height, SymInt width) -> Tensor"
    ),
    "deform_conv2d": (
        "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
        "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
        "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor"
    ),
    "_deform_conv2d_backward": (
        "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
        "Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, "
        "SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, "
        "SymInt offset_groups, bool use_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)"
    ),
}

_MISSING_OP = re.compile(r"operator torchvision::\w+ does not exist")

#: set to the tuple of op names this adapter declared, or ``()`` if it did nothing
patched: tuple[str, ...] | None = None
_library = None  # keeps the torch.library.Library alive
_lock = threading.Lock()


def _purge_submodules() -> None:
    for name in list(sys.modules):
        if name.startswith("torchvision."):
            del sys.modules[name]


def _declare_missing_ops() -> tuple[str, ...]:
    global _library
    import torch

    declared = []
    _library = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in TORCHVISION_OP_SCHEMAS.items():
        if hasattr(torch.ops.torchvision, name):
            continue
        try:
            _library.define(schema)
        except RuntimeError:  # already defined by a partially loaded extension
            continue
        declared.append(name)
    return tuple(declared)


class _RetryingLoader(importlib.abc.Loader):
    """Wraps torchvision's own loader; retries once after declaring the missing ops."""

    def __init__(self, real: importlib.abc.Loader):
        self.real = real

    def create_module(self, spec):
        return self.real.create_module(spec)

    def exec_module(self, module) -> None:
        global patched
        try:
            self.real.exec_module(module)
            patched = ()
        except RuntimeError as err:
            if not _MISSING_OP.search(str(err)):
                raise
            _purge_submodules()
            with _lock:
                patched = _declare_missing_ops()
            self.real.exec_module(module)
        finally:
            module.__loader__ = self.real
            if module.__spec__ is not None:
                module.__spec__.loader = self.real


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that routes the first ``import torchvision`` through the adapter."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision":
            return None
        uninstall()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _RetryingLoader(spec.loader)
        return spec


def install() -> None:
    """Put the torchvision finder on ``sys.meta_path`` (idempotent, cheap)."""
    if "torchvision" in sys.modules:
        return
    if not any(isinstance(f, _TorchvisionFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionFinder())


def uninstall() -> None:
    """Remove the finder from ``sys.meta_path``."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _TorchvisionFinder)]


install()
