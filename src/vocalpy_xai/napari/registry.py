"""The plugin's bridge to the model registry (:class:`vocalpy_xai.registry.Registry`).

The *Train* panel registers every trained model as a new, numbered, integrity-checked
version (:func:`register_model`); the *Predict* panel lists the registered versions and
aliases (:func:`model_choices`) and loads them through :meth:`Registry.load
<vocalpy_xai.registry.Registry.load>` (:func:`load_model`), which checks every file against
its recorded hash first. The panels' registry folder is :func:`find_registry`:
``$VOCALPY_XAI_REGISTRY``, else ``~/.vocalpy-xai/models``
(:func:`~vocalpy_xai.registry.default_root`) when it holds models, else a registry found
beside the files open in the viewer (the demo keeps its models in ``<out>/loop/registry``).
"""

from __future__ import annotations

import os
import pathlib
import re
from typing import Any

import attrs

from ..registry import ModelVersion, Registry, RegistryError, default_root
from ..registry.store import MANIFEST_FILE, ROOT_ENV

__all__ = [
    "ModelChoice",
    "check_model_name",
    "default_model_name",
    "default_root",
    "find_registry",
    "holds_models",
    "load_model",
    "model_choices",
    "register_model",
]


#: where a registry is looked for beside an open file: these folders of its ancestors
NEARBY = ("registry", "loop/registry")
#: how many ancestor folders of an open file are searched
NEARBY_DEPTH = 3


def holds_models(root: str | os.PathLike) -> bool:
    """True when ``root`` is a registry with at least one registered version."""
    root = pathlib.Path(root)
    return root.is_dir() and any(root.glob(f"*/v*/{MANIFEST_FILE}"))


def find_registry(open_paths: list[str | os.PathLike] = ()) -> pathlib.Path:
    """The registry the Predict panel starts with.

    ``$VOCALPY_XAI_REGISTRY`` if set; else the user's registry
    (:func:`~vocalpy_xai.registry.default_root`) if it holds models; else the first registry
    holding models in :data:`NEARBY` of the folders (up to :data:`NEARBY_DEPTH` levels up)
    of ``open_paths`` (the recordings and stores open in the viewer); else the user's
    registry.
    """
    if os.environ.get(ROOT_ENV):
        return default_root()
    if holds_models(default_root()):
        return default_root()
    for path in open_paths:
        folder = pathlib.Path(path).resolve().parent
        for base in [folder, *folder.parents][:NEARBY_DEPTH]:
            for rel in NEARBY:
                if holds_models(base / rel):
                    return base / rel
    return default_root()


def default_model_name(store: str | os.PathLike) -> str:
    """``esn-<store stem>``, with characters a model name may not hold replaced by ``-``."""
    stem = pathlib.Path(str(store).rstrip("/\\")).stem if str(store).strip() else "model"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "model"
    return f"esn-{stem}"[:100]


def check_model_name(name: str) -> str:
    """``name`` if the registry accepts it, else a :class:`RegistryError` saying why."""
    from ..registry.store import _check_name

    return _check_name(name)


def register_model(
    model_dir: str | os.PathLike,
    name: str,
    root: str | os.PathLike | None = None,
    metrics: dict | None = None,
    note: str = "",
) -> ModelVersion:
    """Register a saved model folder as a new version of ``name``.

    Parameters
    ----------
    model_dir : path-like
        A folder written by :meth:`vocalpy_xai.models.ESNDecoder.save`.
    name : str
        Model name in the registry (e.g. ``esn-bird0``).
    root : path-like, optional
        Registry root (default :func:`~vocalpy_xai.registry.default_root`).
    metrics, note
        Passed to :meth:`Registry.register <vocalpy_xai.registry.Registry.register>`.

    Returns
    -------
    ModelVersion
        The new version (its number in ``.version``); versions are never overwritten.
    """
    return Registry(root).register(model_dir, name, metrics=metrics, note=note)


@attrs.define(frozen=True)
class ModelChoice:
    """A registered model as the Predict panel lists it: ``name@version`` or ``name@alias``."""

    name: str
    ref: str
    version: int
    text: str


def model_choices(root: str | os.PathLike | None = None) -> list[ModelChoice]:
    """Every registered version (newest first within a model), then every alias.

    A missing root gives an empty list (and is not created).
    """
    root = pathlib.Path(root) if root else default_root()
    if not root.is_dir():
        return []
    reg = Registry(root)
    out: list[ModelChoice] = []
    for name in reg.models():
        try:
            versions = reg.list(name)
            aliases = reg.aliases(name)
        except (RegistryError, OSError, ValueError):  # a damaged model folder: skip it
            continue
        for rec in reversed(versions):
            tag = f"  ({', '.join(rec.aliases)})" if rec.aliases else ""
            out.append(
                ModelChoice(name, str(rec.version), rec.version, f"{name}@{rec.version}{tag}")
            )
        for alias, v in sorted(aliases.items()):
            out.append(ModelChoice(name, alias, int(v), f"{name}@{alias}  (v{v})"))
    return out


def load_model(name: str, ref: str | int = "latest", root: str | os.PathLike | None = None) -> Any:
    """Load a registered version after checking its files (:meth:`Registry.load`).

    Raises
    ------
    IntegrityError
        A registered file was changed, removed or added since registration.
    RegistryError
        No such model, version or alias.
    """
    root = pathlib.Path(root) if root else default_root()
    if not root.is_dir():
        raise RegistryError(f"{root}: no model registry here")
    return Registry(root).load(name, ref)
