"""The boundary to the model registry: :func:`register_model`.

A model registry is being built elsewhere in vocalpy-xai; until it lands, registering a model
records it in a local models folder: ``$VOCALPY_XAI_MODELS`` or
``~/.local/share/vocalpy-xai/models``, whose ``index.json`` lists every registered model
directory (replaced atomically).
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
import time


def models_dir() -> pathlib.Path:
    """The local models folder."""
    env = os.environ.get("VOCALPY_XAI_MODELS")
    if env:
        return pathlib.Path(env)
    return pathlib.Path.home() / ".local" / "share" / "vocalpy-xai" / "models"


def registered_models() -> list[dict]:
    """Entries of the local index (newest last); models whose folder vanished are skipped."""
    index = models_dir() / "index.json"
    if not index.is_file():
        return []
    entries = json.loads(index.read_text()).get("models", [])
    return [e for e in entries if pathlib.Path(e["path"]).is_dir()]


def register_model(model_dir: str | os.PathLike) -> dict:
    """Record a saved model directory in the local models folder.

    Parameters
    ----------
    model_dir : path-like
        A folder written by :meth:`vocalpy_xai.models.ESNDecoder.save`.

    Returns
    -------
    entry : dict
        ``name``, ``path``, ``family``, ``classes``, ``registered`` (ISO time).
    """
    model_dir = pathlib.Path(model_dir).resolve()
    config_file = model_dir / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{model_dir}: not a saved model (no config.json)")
    config = json.loads(config_file.read_text())
    entry = {
        "name": model_dir.name,
        "path": str(model_dir),
        "family": config.get("family"),
        "classes": config.get("class_names"),
        "registered": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    entries = [e for e in registered_models() if e["path"] != entry["path"]] + [entry]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".index.", suffix=".json")
    with os.fdopen(fd, "w") as fp:
        json.dump({"models": entries}, fp, indent=2)
    os.replace(tmp, folder / "index.json")
    return entry
