"""A local model registry: versioned, hashed copies of saved model folders.

Layout of a registry root (default ``~/.vocalpy-xai/models``, or ``$VOCALPY_XAI_REGISTRY``)::

    <root>/<name>/aliases.json          {"production": 3, ...}
    <root>/<name>/v0003/registry.json   the version's manifest (below)
    <root>/<name>/v0003/model/          the model folder, byte for byte, read-only

A version's manifest records the family, registration time, source folder, the SHA-256 and
size of every file, and a summary read from the model's ``config.json``: label map
(``class_names``), spectrogram parameters, training-data hash and ``metrics.json``.
Versions are numbered 1, 2, ...; a number is never reused, even after a deletion, and a
version is never overwritten: it is copied into a temporary folder and renamed into place
in one step. Loading checks every file against its recorded hash first.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import attrs

from ..io.atomic import write_text
from .errors import IntegrityError, RegistryError
from .families import family_of, load_model_dir, read_config
from .hashing import compare_tree, hash_tree

#: environment variable naming the default registry root
ROOT_ENV = "VOCALPY_XAI_REGISTRY"
MANIFEST_FILE = "registry.json"
ALIASES_FILE = "aliases.json"
MODEL_SUBDIR = "model"
LATEST = "latest"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_VERSION_RE = re.compile(r"^v?(\d+)$")


def default_root() -> pathlib.Path:
    """``$VOCALPY_XAI_REGISTRY``, else ``~/.vocalpy-xai/models``."""
    env = os.environ.get(ROOT_ENV)
    return pathlib.Path(env) if env else pathlib.Path.home() / ".vocalpy-xai" / "models"


def _check_name(name: str, what: str = "model name") -> str:
    name = str(name)
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise RegistryError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' "
            "(at most 100 characters, starting with a letter or digit)"
        )
    return name


@attrs.define(frozen=True)
class ModelVersion:
    """One registered version of a model.

    Attributes
    ----------
    name, version : str, int
        The model and its version number.
    family : str
        Model family (``config.json``'s ``family`` or ``kind``).
    path : pathlib.Path
        The model folder inside the registry (load it with :meth:`Registry.load`).
    created : str
        Registration time (ISO 8601, local time).
    aliases : tuple of str
        Aliases pointing at this version.
    manifest : dict
        The full recorded manifest (files, hashes, summary, metrics).
    """

    name: str
    version: int
    family: str
    path: pathlib.Path
    created: str
    aliases: tuple[str, ...]
    manifest: dict

    @property
    def metrics(self) -> dict:
        return self.manifest.get("metrics", {})

    @property
    def data_sha256(self) -> str | None:
        return self.manifest.get("summary", {}).get("training_data_sha256")

    @property
    def class_names(self) -> list[str] | None:
        return self.manifest.get("summary", {}).get("class_names")

    def __str__(self) -> str:
        alias = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name} v{self.version}{alias} [{self.family}] {self.created}"


def _summary(config: dict) -> dict:
    """What a manifest records of a model config: label map, spectrograms, data hash."""
    training = config.get("training") or {}
    pipeline = config.get("pipeline") or {}
    return {
        "class_names": config.get("class_names") or config.get("classes"),
        "spectrogram": pipeline.get("spect_params", config.get("spect_params")),
        "samplerate": config.get("samplerate", pipeline.get("samplerate")),
        "training_data_sha256": training.get("data_sha256") or config.get("data_sha256"),
        "training_created": training.get("created"),
        "format_version": config.get("format_version"),
    }


class Registry:
    """A folder of registered models, each with numbered, immutable versions and aliases.

    Parameters
    ----------
    root : path, optional
        Registry folder (created if missing); default :func:`default_root`.

    Examples
    --------
    >>> reg = Registry("models-registry")
    >>> v = reg.register("models/esn-bird0", "bird0-esn")
    >>> reg.promote("bird0-esn", v.version, "production")
    >>> model = reg.load("bird0-esn", "production")
    """

    def __init__(self, root: str | os.PathLike | None = None, create: bool = True):
        self.root = pathlib.Path(root) if root is not None else default_root()
        if not create and not self.root.is_dir():
            raise RegistryError(
                f"{self.root}: no such registry folder (check the path; "
                "`vocalpy-xai models register` creates one)"
            )
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"Registry({str(self.root)!r})"

    # ------------------------------------------------------------------ paths and locks
    def _model_dir(self, name: str) -> pathlib.Path:
        return self.root / _check_name(name)

    def _version_dir(self, name: str, version: int) -> pathlib.Path:
        return self._model_dir(name) / f"v{int(version):04d}"

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """An exclusive lock on one model's versions and aliases (POSIX ``flock``)."""
        d = self._model_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        with open(d / ".lock", "a+") as f:
            try:
                import fcntl

                fcntl.flock(f, fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock
                pass
            yield

    def _versions(self, name: str) -> list[int]:
        d = self._model_dir(name)
        if not d.is_dir():
            return []
        out = []
        for p in d.iterdir():
            m = re.fullmatch(r"v(\d+)", p.name)
            if m and (p / MANIFEST_FILE).is_file():
                out.append(int(m.group(1)))
        return sorted(out)

    def _write_json(self, path: pathlib.Path, obj: Any) -> None:
        write_text(path, json.dumps(obj, indent=2, default=str))

    def _read_json(self, path: pathlib.Path, default: Any = None) -> Any:
        """A registry JSON file; missing: ``default`` (None: an error), corrupt: an error."""
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            if default is None:
                raise RegistryError(f"{path}: missing") from None
            return default
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise RegistryError(f"{path}: corrupt registry file ({err})") from err

    # ------------------------------------------------------------------ queries
    def models(self) -> list[str]:
        """Names of the registered models (with at least one version)."""
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and _NAME_RE.match(p.name) and self._versions(p.name)
        )

    def aliases(self, name: str) -> dict[str, int]:
        """Alias to version number of one model."""
        return dict(self._read_json(self._model_dir(name) / ALIASES_FILE, {}))

    def resolve(self, name: str, ref: int | str = LATEST) -> int:
        """The version number that ``ref`` (a number, ``"v3"``, an alias or ``"latest"``) names."""
        versions = self._versions(name)
        if not versions:
            known = ", ".join(self.models()) or "none"
            raise RegistryError(f"no model named {name!r} in {self.root} (registered: {known})")
        if isinstance(ref, int) or _VERSION_RE.match(str(ref)):
            v = int(ref) if isinstance(ref, int) else int(_VERSION_RE.match(str(ref)).group(1))
            if v not in versions:
                raise RegistryError(
                    f"{name} has no version {v} (versions: {', '.join(map(str, versions))})"
                )
            return v
        if ref == LATEST:
            return versions[-1]
        aliases = self.aliases(name)
        if ref not in aliases:
            raise RegistryError(
                f"{name} has no alias {ref!r} (aliases: {', '.join(aliases) or 'none'}; "
                f"versions: {', '.join(map(str, versions))})"
            )
        if aliases[ref] not in versions:
            raise RegistryError(f"{name}: alias {ref!r} points at deleted version {aliases[ref]}")
        return int(aliases[ref])

    def get(self, name: str, ref: int | str = LATEST) -> ModelVersion:
        """The record of one version (no integrity check; see :meth:`verify`)."""
        v = self.resolve(name, ref)
        d = self._version_dir(name, v)
        try:
            manifest = self._read_json(d / MANIFEST_FILE)
        except RegistryError as err:
            raise IntegrityError(d, [str(err)]) from err
        if not isinstance(manifest, dict) or not {"family", "created", "files"} <= set(manifest):
            raise IntegrityError(
                d,
                [
                    f"{d / MANIFEST_FILE}: corrupt registry file (not a version manifest with "
                    "'family', 'created' and 'files')"
                ],
            )
        aliases = tuple(sorted(a for a, x in self.aliases(name).items() if x == v))
        return ModelVersion(
            name=name,
            version=v,
            family=manifest["family"],
            path=d / MODEL_SUBDIR,
            created=manifest["created"],
            aliases=aliases,
            manifest=manifest,
        )

    def list(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of one model, or of all models, oldest first."""
        names = [name] if name is not None else self.models()
        return [self.get(n, v) for n in names for v in self._versions(n)]

    def compare(self, name: str, refs: list[int | str] | None = None):
        """A table of the versions of one model: one row per version, scalar metrics as columns.

        Parameters
        ----------
        name : str
            The model.
        refs : list, optional
            Versions or aliases to compare; default all.

        Returns
        -------
        table : pandas.DataFrame
            Indexed by version; columns ``family``, ``created``, ``aliases``,
            ``data_sha256`` (first 12 characters) and every numeric or text metric
            (nested keys joined with ``.``).
        """
        import pandas as pd

        versions = [self.resolve(name, r) for r in refs] if refs else self._versions(name)
        rows = []
        for v in versions:
            rec = self.get(name, v)
            flat = pd.json_normalize(rec.metrics, sep=".").to_dict("records")
            metrics = {
                k: val
                for k, val in (flat[0] if flat else {}).items()
                if isinstance(val, (int, float, str, bool)) or val is None
            }
            rows.append(
                {
                    "version": v,
                    "family": rec.family,
                    "created": rec.created,
                    "aliases": ",".join(rec.aliases),
                    "data_sha256": (rec.data_sha256 or "")[:12],
                    **metrics,
                }
            )
        return pd.DataFrame(rows).set_index("version")

    # ------------------------------------------------------------------ changes
    def register(
        self,
        source: str | os.PathLike | Any,
        name: str,
        metrics: dict | None = None,
        note: str = "",
        alias: str | None = None,
    ) -> ModelVersion:
        """Copy a saved model folder (or a model with ``save(path)``) in as a new version.

        Parameters
        ----------
        source : path or model
            A saved model folder with a ``config.json`` naming its family, or a trained
            model object with a ``save(path)`` method (saved into the registry directly).
        name : str
            Model name (letters, digits, ``.``, ``_``, ``-``).
        metrics : dict, optional
            Metrics to record, merged over the folder's ``metrics.json``.
        note : str
            Free text kept in the manifest.
        alias : str, optional
            Point this alias (e.g. ``"production"``) at the new version.

        Returns
        -------
        ModelVersion
        """
        name = _check_name(name)
        mdir = self._model_dir(name)
        mdir.mkdir(parents=True, exist_ok=True)
        tmp = mdir / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        try:
            if isinstance(source, (str, os.PathLike)):
                src = pathlib.Path(source)
                config = read_config(src)
                shutil.copytree(src, tmp / MODEL_SUBDIR, symlinks=True)
                source_desc = str(src.resolve())
            elif hasattr(source, "save"):
                source.save(tmp / MODEL_SUBDIR)
                config = read_config(tmp / MODEL_SUBDIR)
                source_desc = f"<{type(source).__name__} object>"
            else:
                raise TypeError(f"cannot register a {type(source).__name__}: give a folder")
            family = family_of(config)
            files = hash_tree(tmp / MODEL_SUBDIR)
            recorded = self._read_json(tmp / MODEL_SUBDIR / "metrics.json", {})
            manifest = {
                "name": name,
                "family": family,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "source": source_desc,
                "note": note,
                "summary": _summary(config),
                "metrics": {**(recorded if isinstance(recorded, dict) else {}), **(metrics or {})},
                "files": files,
            }
            for p in (tmp / MODEL_SUBDIR).rglob("*"):
                if p.is_file():
                    p.chmod(0o444)  # registered files are read-only
            with self._lock(name):
                last = int(self._read_json(mdir / ".last_version", 0))
                version = max([last, *self._versions(name)]) + 1
                manifest["version"] = version
                self._write_json(tmp / MANIFEST_FILE, manifest)
                os.rename(tmp, self._version_dir(name, version))  # atomic; never overwrites
                self._write_json(mdir / ".last_version", version)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        if alias is not None:
            self.promote(name, version, alias)
        return self.get(name, version)

    def promote(self, name: str, ref: int | str, alias: str = "production") -> ModelVersion:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        alias = _check_name(alias, "alias")
        if _VERSION_RE.match(alias) or alias == LATEST:
            raise RegistryError(f"{alias!r} cannot be an alias (it reads as a version reference)")
        v = self.resolve(name, ref)
        with self._lock(name):
            aliases = self.aliases(name)
            aliases[alias] = v
            self._write_json(self._model_dir(name) / ALIASES_FILE, aliases)
        return self.get(name, v)

    def unalias(self, name: str, alias: str) -> None:
        """Remove an alias."""
        with self._lock(name):
            aliases = self.aliases(name)
            if alias not in aliases:
                raise RegistryError(f"{name} has no alias {alias!r}")
            del aliases[alias]
            self._write_json(self._model_dir(name) / ALIASES_FILE, aliases)

    def delete(self, name: str, ref: int | str, force: bool = False) -> int:
        """Delete one version; refused while an alias points at it unless ``force``.

        With ``force`` the aliases pointing at it are removed too. The number is not reused.
        """
        v = self.resolve(name, ref)
        with self._lock(name):
            aliases = self.aliases(name)
            pointing = [a for a, x in aliases.items() if x == v]
            if pointing and not force:
                raise RegistryError(
                    f"{name} v{v} is aliased as {', '.join(pointing)}; promote another version "
                    "first or delete with force=True"
                )
            for a in pointing:
                del aliases[a]
            self._write_json(self._model_dir(name) / ALIASES_FILE, aliases)
            d = self._version_dir(name, v)
            gone = d.with_name(f".deleted-{d.name}-{uuid.uuid4().hex[:8]}")
            os.rename(d, gone)  # the version disappears in one step
        shutil.rmtree(gone, ignore_errors=True)
        return v

    # ------------------------------------------------------------------ integrity and loading
    def verify(self, name: str, ref: int | str = LATEST) -> ModelVersion:
        """Check every file of a version against its recorded SHA-256.

        Raises
        ------
        IntegrityError
            A file is missing, was added, or changed since registration.
        """
        rec = self.get(name, ref)
        problems = compare_tree(rec.path, rec.manifest["files"])
        if problems:
            raise IntegrityError(rec.path.parent, problems)
        return rec

    def load(self, name: str, ref: int | str = LATEST, verify: bool = True) -> Any:
        """Load a version (a number, ``"v3"``, an alias or ``"latest"``) after checking it.

        Returns the model its family's loader makes (e.g. an
        :class:`~vocalpy_xai.models.ESNDecoder`), with ``registry_version_`` set to the
        :class:`ModelVersion`.
        """
        rec = self.verify(name, ref) if verify else self.get(name, ref)
        model = load_model_dir(rec.path, rec.family)
        with contextlib.suppress(AttributeError):
            model.registry_version_ = rec
        return model
