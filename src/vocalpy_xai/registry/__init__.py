"""A local registry of trained models: versions, hashes, aliases, comparison, loading.

>>> from vocalpy_xai.registry import Registry
>>> reg = Registry()                      # ~/.vocalpy-xai/models or $VOCALPY_XAI_REGISTRY
>>> reg.register("models/esn-bird0", "bird0-esn", alias="production")
>>> model = reg.load("bird0-esn", "production")
"""

from .errors import IntegrityError, RegistryError
from .families import families, family_task, load_model_dir, register_family
from .hashing import hash_tree, sha256_file
from .store import ModelVersion, Registry, default_root

__all__ = [
    "IntegrityError",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "default_root",
    "families",
    "family_task",
    "hash_tree",
    "load_model_dir",
    "register_family",
    "sha256_file",
]
