"""The schema of vak TOML configs, checked with pydantic before anything runs.

One machinery for every table: each ``[vak.<verb>]`` table of a config is validated by one
pydantic model (strict types, ranges, required keys, unknown keys forbidden in every
sub-table), built from

- vak's own list of valid keys, ``vak/config/valid-version-1.2.toml``, for the tables that
  are vak's (``[vak.<verb>]``, ``.dataset``, ``.trainer``, ``[vak.prep.spect_params]``):
  the type of each key is the type of its example value there (with a few keys that vak
  types more loosely, :data:`VAK_TYPES`);
- the attrs classes of the models vocalpy-xai runs itself, for their model sub-tables:
  :class:`~vocalpy_xai.models.ESNParams`, :class:`~vocalpy_xai.models.BandFeatures`,
  :class:`~vocalpy_xai.models.PostprocessParams` (``ESNDecoder``) and
  :class:`~vocalpy_xai.protonet.ProtoNetParams` (``AudioProtoNet``), with the ranges of
  :data:`RANGES`.

A model vak runs itself (``TweetyNet``, ...) goes to vak with its model table unchanged
(vak checks it); its other tables are still checked here, so a misspelt dataset key
(``split_path``) is an error rather than a key silently ignored.

Every problem is reported at once in one :class:`~vocalpy_xai.errors.ConfigError`, one line
each, naming the file, the table, the key, what was expected and what was found, with a
did-you-mean for unknown keys.
"""

from __future__ import annotations

import difflib
import functools
import pathlib
import types
import typing
from typing import Annotated, Any, Literal

import attrs
import pydantic

from ..errors import ConfigError

#: the verbs whose tables vocalpy-xai reads
VERBS: tuple[str, ...] = ("prep", "train", "eval", "predict", "learncurve")

#: vak keys whose example value in valid-version-1.2.toml is narrower than what vak accepts
VAK_TYPES: dict[str, Any] = {
    "train_dur": float,
    "val_dur": float,
    "test_dur": float,
    "train_set_durs": list[float],
    "freq_cutoffs": list[float],
    "thresh": float,
    "labelset": str | list[str],
    "devices": int | list[int] | str,
    "params": dict,
    "post_tfm_kwargs": dict,
    "audio_dask_bag_kwargs": dict,
}

_POS = {"gt": 0}
_NONNEG = {"ge": 0}
_UNIT = {"gt": 0, "le": 1}
#: ranges of the model keys (pydantic ``Field`` constraints), by key
RANGES: dict[str, dict] = {
    # ESNParams
    "units": _POS,
    "leak_rate": _UNIT,
    "spectral_radius": _NONNEG,
    "input_scaling": _POS,
    "rc_connectivity": _UNIT,
    "input_connectivity": _UNIT,
    "ridge": _NONNEG,
    "onset_weight": _NONNEG,
    # BandFeatures, PostprocessParams
    "fmin": _NONNEG,
    "fmax": _POS,
    "n_bands": _POS,
    "stride": _POS,
    "min_segment_s": _NONNEG,
    "min_split_s": _NONNEG,
    # ProtoNetParams
    "prototypes_per_class": _POS,
    "tree_depth": _POS,
    "prototype_dim": _POS,
    "epochs": _POS,
    "warmup_epochs": _NONNEG,
    "last_layer_epochs": _NONNEG,
    "max_seconds": _POS,
    "batch_size": _POS,
    "lr": _POS,
    "lr_prototypes": _POS,
    "lr_last_layer": _POS,
    "time_shift": _NONNEG,
    "num_threads": _POS,
    "channels": _POS,
    # dataset params
    "window_s": _POS,
    "chunk_overlap_s": _NONNEG,
    # seeds
    "seed": _NONNEG,
}

_STRICT = pydantic.ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=False)


# ------------------------------------------------------------------------------ building
def _field_type(annotation, name: str):
    """The pydantic type of an attrs field: tuples become lists (TOML arrays), choices Literal."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item, *_rest) = typing.get_args(annotation)
        item = Annotated[item, pydantic.Field(**RANGES.get(name, {}))]
        return Annotated[list[item], pydantic.Field(min_length=1)], False
    return annotation, True


def _choices() -> dict[str, tuple[str, ...]]:
    from ..protonet.params import ARCHS, BACKBONES, BIRDNET_LAYERS

    return {"arch": ARCHS, "backbone": BACKBONES, "birdnet_layer": BIRDNET_LAYERS}


def table_model(
    name: str, fields: dict[str, Any], required: tuple[str, ...] = ()
) -> type[pydantic.BaseModel]:
    """A strict pydantic model of one TOML table: ``{key: type}`` (a model for a sub-table).

    Every key is optional (None: absent) unless named in ``required``; a key's range comes
    from :data:`RANGES`.
    """
    spec = {}
    choices = _choices()
    for key, typ in fields.items():
        ranged = True
        if key in choices:
            typ = Literal[choices[key]]
        elif not (isinstance(typ, type) and issubclass(typ, pydantic.BaseModel)):
            typ, ranged = _field_type(typ, key)
        field = pydantic.Field(**(RANGES.get(key, {}) if ranged else {}))
        if key in required:
            spec[key] = (Annotated[typ, field], ...)
        else:
            spec[key] = (Annotated[typ, field] | None, None)
    return pydantic.create_model(name, __config__=_STRICT, **spec)


def _attrs_types(cls, keys=None) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name]
        for f in attrs.fields(cls)
        if not f.name.endswith("_") and (keys is None or f.name in keys)
    }


def _example_type(key: str, value: Any):
    if key in VAK_TYPES:
        return VAK_TYPES[key]
    for typ in (bool, int, float, str, list):
        if isinstance(value, typ):
            return typ
    return dict


@functools.cache
def vak_valid() -> dict:
    """vak's valid keys and example values, ``valid-version-1.2.toml`` as a dict."""
    import vak.config.validators

    return vak.config.validators.VALID_DICT.unwrap()


def _vak_fields(example: dict) -> dict[str, Any]:
    """Key types of one of vak's tables (an inline table, e.g. ``params``, is a dict)."""
    return {k: _example_type(k, v) for k, v in example.items()}


@functools.cache
def model_tables() -> dict[str, dict[str, type[pydantic.BaseModel]]]:
    """Model sub-table schemas (network, optimizer, loss, metrics) of the models we run."""
    from ..models.esn_decoder import ESNParams
    from ..models.features import BandFeatures
    from ..models.postprocess import PostprocessParams
    from ..protonet.params import ProtoNetParams
    from .protonet_run import TABLE_KEYS

    esn = _attrs_types(ESNParams)
    moved = ("ridge", "onset_weight")
    network = {k: v for k, v in esn.items() if k not in moved}
    network |= _attrs_types(BandFeatures) | _attrs_types(PostprocessParams)
    proto = _attrs_types(ProtoNetParams)
    return {
        "ESNDecoder": {
            "network": table_model("ESNDecoder.network", network),
            "optimizer": table_model("ESNDecoder.optimizer", {"ridge": esn["ridge"]}),
            "loss": table_model("ESNDecoder.loss", {"onset_weight": esn["onset_weight"]}),
            "metrics": table_model("ESNDecoder.metrics", {}),
        },
        "AudioProtoNet": {
            sub: table_model(f"AudioProtoNet.{sub}", {k: proto[k] for k in keys})
            for sub, keys in TABLE_KEYS.items()
        },
    }


#: types of the ``[vak.<verb>.dataset.params]`` keys of the models we run
PARAM_TYPES: dict[str, Any] = {"window_s": float, "labels": list[str], "chunk_overlap_s": float}


def _dataset_params(model: str) -> dict[str, Any]:
    from .protonet_run import DATASET_PARAMS

    names = DATASET_PARAMS if model == "AudioProtoNet" else ()
    return {k: PARAM_TYPES[k] for k in names}


#: keys each verb needs, for the models we run (vak checks its own models' needs)
REQUIRED: dict[str, tuple[str, ...]] = {
    "train": ("root_results_dir", "dataset"),
    "eval": ("checkpoint_path", "output_dir", "dataset"),
    "predict": ("checkpoint_path", "dataset"),
}


@functools.cache
def verb_model(verb: str, model: str | None, required: bool) -> type[pydantic.BaseModel]:
    """The schema of one ``[vak.<verb>]`` table for a model (None: no model table)."""
    valid = vak_valid()[verb]
    ours = model in model_tables()
    fields = _vak_fields(valid)
    for sub, example in valid.items():
        if not isinstance(example, dict) or sub == "model":
            continue
        sub_fields = _vak_fields(example)
        sub_required: tuple[str, ...] = ()
        if sub == "dataset" and ours:
            params = _dataset_params(model)
            sub_fields = {"path": str, "splits_path": str}
            if params:
                sub_fields["params"] = table_model(f"{model}.dataset.params", params)
            sub_required = ("path",) if required else ()
        fields[sub] = table_model(f"{verb}.{sub}", sub_fields, sub_required)
    if "model" in valid:
        if ours:
            subs = model_tables()[model]
            fields["model"] = table_model(
                f"{verb}.model", {model: table_model(f"{verb}.model.{model}", subs)}
            )
        else:
            fields["model"] = dict  # vak's own models: vak checks their tables
    req = REQUIRED.get(verb, ()) if (required and ours) else ()
    return table_model(f"vak.{verb}", fields, req)


# ------------------------------------------------------------------------------ messages
def _describe(info: pydantic.fields.FieldInfo | None) -> str:
    """What a key expects, in words: ``an integer > 0``, ``true or false``, ..."""
    if info is None:
        return "a value"
    return _words(info.annotation, info.metadata)


def _words(annotation, metadata=()) -> str:
    if typing.get_origin(annotation) is Annotated:
        inner, *more = typing.get_args(annotation)
        return _words(inner, [*metadata, *more])
    bounds = []
    flat = [x for m in metadata for x in getattr(m, "metadata", [m])]
    for m in flat:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    return f"{_type_words(annotation)} {' and '.join(bounds)}".strip()


def _type_words(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is Annotated:
        return _words(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_words(a) for a in args)
    if origin is list:
        return f"a list of ({_words(args[0])})"
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return "a table"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a table",
        list: "a list",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _found(value: Any) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _message(path: pathlib.Path, verb: str, root, err: dict) -> str:
    """One line for one pydantic error: file, table, key, expected, found, did-you-mean."""
    model, table, loc = root, ["vak", verb], list(err["loc"])
    while loc:
        item = loc[0]
        fields = model.model_fields
        sub = fields.get(item) if isinstance(item, str) else None
        ann = _unwrap(sub.annotation) if sub is not None else None
        if (
            len(loc) > 1
            and isinstance(ann, type)
            and issubclass(ann, pydantic.BaseModel)
            and err["type"] != "model_type"
        ):
            model, table = ann, [*table, item]
            loc = loc[1:]
            continue
        break
    where = f"{path} [{'.'.join(table)}]"
    key = loc[0] if loc else table[-1]
    index = "".join(f"[{i}]" for i in loc[1:])
    info = model.model_fields.get(key) if isinstance(key, str) else None
    if err["type"] == "extra_forbidden":
        valid = sorted(model.model_fields)
        close = difflib.get_close_matches(str(key), valid, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return (
            f"{where}: unknown key '{key}'.{hint} "
            f"Valid keys: {', '.join(valid) if valid else 'none'}"
        )
    if err["type"] == "missing":
        return f"{where}: missing required key '{key}' ({_describe(info)})"
    expected = _describe(info)
    if index and info is not None:
        inner = typing.get_args(_unwrap(info.annotation))
        expected = _words(inner[0]) if inner else expected
    return f"{where}: key '{key}{index}' expects {expected}, got {_found(err['input'])}"


def _unwrap(annotation):
    """The model class of ``Model | None`` / ``Annotated[Model, ...]``, else the annotation."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


# ------------------------------------------------------------------------------ checking
def read_toml(path: str | pathlib.Path) -> dict:
    """A TOML file as a dict; a missing file or a syntax error is a ConfigError naming it."""
    import tomlkit

    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        return tomlkit.parse(path.read_text()).unwrap()
    except (tomlkit.exceptions.TOMLKitError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err


def unknown(kind: str, key: str, valid, where: str) -> ConfigError:
    """A ConfigError for an unknown name, with the closest valid one and the choices."""
    close = difflib.get_close_matches(key, list(valid), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(
        f"{where}: unknown {kind} '{key}'.{hint} Valid {kind}s: {', '.join(sorted(valid))}"
    )


def model_name(path: pathlib.Path, verb: str, table: dict) -> str | None:
    """The one model a ``[vak.<verb>.model]`` table names (checked against vak's registry)."""
    import vak

    from . import families  # noqa: F401  (registers ESNDecoder and AudioProtoNet)

    if "model" not in table:
        return None
    models = table["model"]
    where = f"{path} [vak.{verb}.model]"
    if not isinstance(models, dict) or len(models) != 1:
        raise ConfigError(f"{where}: name exactly one model, as a table [vak.{verb}.model.NAME]")
    name = next(iter(models))
    if name not in vak.models.registry.MODEL_NAMES:
        raise unknown("model", name, vak.models.registry.MODEL_NAMES, where)
    subs = models[name]
    if name in model_tables() and isinstance(subs, dict):
        for sub in subs:  # a misspelt sub-table is named as such
            if sub not in model_tables()[name]:
                raise unknown(
                    "model table", sub, model_tables()[name], f"{path} [vak.{verb}.model.{name}]"
                )
    return name


def check_document(path: str | pathlib.Path, doc: dict, verb: str) -> dict:
    """Validate every ``[vak.*]`` table of a parsed config; required keys for ``verb``.

    Returns
    -------
    table : dict
        The ``[vak.<verb>]`` table.

    Raises
    ------
    ConfigError
        Every problem, one line each, naming the file, table and key.
    """
    path = pathlib.Path(path)
    if not isinstance(doc.get("vak"), dict):
        raise ConfigError(f"{path}: no [vak] table")
    tables = doc["vak"]
    valid_tables = list(vak_valid())
    extra = [k for k in doc if k != "vak"]
    if extra:
        raise unknown("table", extra[0], ["vak"], f"{path}")
    for name in tables:
        if name not in valid_tables:
            raise unknown("table", name, valid_tables, f"{path} [vak]")
    if verb not in tables:
        raise ConfigError(f"{path}: no [vak.{verb}] table (found: {', '.join(tables)})")
    problems = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            problems.append(f"{path} [vak]: key '{name}' expects a table, got {_found(table)}")
            continue
        model = model_name(path, name, table)
        schema = verb_model(name, model, name == verb)
        try:
            schema.model_validate(table)
        except pydantic.ValidationError as err:
            problems += [_message(path, name, schema, e) for e in err.errors()]
    if problems:
        raise ConfigError("\n".join(problems) if len(problems) == 1 else _many(path, problems))
    return tables[verb]


def _many(path, problems: list[str]) -> str:
    return f"{path}: {len(problems)} problems:\n  " + "\n  ".join(problems)


def check_config(toml_path: str | pathlib.Path, verb: str) -> dict:
    """Read a vak TOML config and validate it (:func:`check_document`) before anything runs."""
    return check_document(toml_path, read_toml(toml_path), verb)


__all__ = ["check_config", "check_document", "read_toml", "table_model", "verb_model"]
