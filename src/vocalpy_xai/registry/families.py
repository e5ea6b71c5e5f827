"""Model families the registry can load: a family name maps to a loader of model folders.

A saved model folder names its family in ``config.json`` (key ``family``, or ``kind``).
:class:`~vocalpy_xai.models.ESNDecoder` and :class:`~vocalpy_xai.protonet.AudioProtoNet`
(either backbone) are built in; a new family is one :func:`register_family` call: its
loader, and its task (``"annotate"``: ``model.annotate(audio) -> SegmentTable``;
``"classify"``: :func:`vocalpy_xai.protonet.evidence.classify_recording`), which is how the
server and napari's Predict dock run it.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable
from typing import Any

from .errors import RegistryError

#: the config file of a saved model folder
CONFIG_FILE = "config.json"

#: what a family's models do with a recording
TASKS = ("annotate", "classify")

_LOADERS: dict[str, Callable[[pathlib.Path], Any]] = {}
_TASKS: dict[str, str] = {}


def register_family(
    name: str, loader: Callable[[pathlib.Path], Any], task: str = "annotate"
) -> None:
    """Register ``loader(path) -> model`` for model folders whose config names ``name``.

    Parameters
    ----------
    name : str
        The family name written in ``config.json`` (``family`` or ``kind``).
    loader : callable
        Takes the model folder, returns the loaded model.
    task : {"annotate", "classify"}
        ``"annotate"``: the model has ``annotate(audio_path) -> SegmentTable``;
        ``"classify"``: a classifier of recordings (species scores per chunk with their
        evidence, :func:`vocalpy_xai.protonet.evidence.classify_recording`).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    _LOADERS[str(name)] = loader
    _TASKS[str(name)] = task


def family_task(family: str) -> str:
    """``"annotate"`` or ``"classify"``: what models of ``family`` do with a recording."""
    _builtin()
    if family not in _TASKS:
        raise RegistryError(
            f"unknown model family '{family}'. Known families: {', '.join(sorted(_LOADERS))}"
        )
    return _TASKS[family]


def families() -> list[str]:
    """Names of the families that can be loaded."""
    _builtin()
    return sorted(_LOADERS)


def read_config(path: str | pathlib.Path) -> dict:
    """The ``config.json`` of a model folder, or a :class:`RegistryError` saying what is wrong."""
    path = pathlib.Path(path)
    cfg = path / CONFIG_FILE
    if not path.is_dir():
        raise RegistryError(f"{path}: not a model folder (no such directory)")
    if not cfg.is_file():
        raise RegistryError(f"{path}: not a saved model folder (no {CONFIG_FILE})")
    try:
        config = json.loads(cfg.read_text())
    except (OSError, ValueError) as err:
        raise RegistryError(f"{cfg}: unreadable model config ({err})") from err
    if not isinstance(config, dict):
        raise RegistryError(f"{cfg}: model config is not a JSON object")
    return config


def family_of(config: dict) -> str:
    """The family a model config names (``family``, else ``kind``)."""
    family = config.get("family") or config.get("kind")
    if not family:
        raise RegistryError("model config names no family (keys 'family' or 'kind')")
    return str(family)


def load_model_dir(path: str | pathlib.Path, family: str | None = None) -> Any:
    """Load a model folder with its family's loader."""
    _builtin()
    path = pathlib.Path(path)
    family = family or family_of(read_config(path))
    if family not in _LOADERS:
        raise RegistryError(
            f"{path}: no loader for model family '{family}'. Known families: "
            f"{', '.join(sorted(_LOADERS))} (add one with register_family)"
        )
    return _LOADERS[family](path)


def _load_audio_protonet(path: pathlib.Path) -> Any:
    """AudioProtoNet's loader; torch and cabrnet are imported only when one is loaded."""
    from ..protonet import AudioProtoNet

    return AudioProtoNet.load(path)


def _builtin() -> None:
    if "ESNDecoder" not in _LOADERS:
        from ..models.esn_decoder import ESNDecoder

        register_family("ESNDecoder", ESNDecoder.load, "annotate")
    if "AudioProtoNet" not in _LOADERS:
        register_family("AudioProtoNet", _load_audio_protonet, "classify")
