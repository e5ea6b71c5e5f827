"""``vocalpy-xai models ...``: the registry from the command line.

Wire into :mod:`vocalpy_xai.cli` with ``add_parser(sub)`` (``sub`` being the verbs'
``add_subparsers`` object)::

    vocalpy-xai models list [NAME] [--registry ROOT]
    vocalpy-xai models register MODEL_DIR NAME [--alias production] [--note TEXT]
    vocalpy-xai models promote NAME VERSION [--alias production]
    vocalpy-xai models compare NAME [VERSION ...]
    vocalpy-xai models verify NAME [VERSION]
    vocalpy-xai models delete NAME VERSION [--force]
"""

from __future__ import annotations

import argparse

from .store import Registry


def _registry(args: argparse.Namespace) -> Registry:
    """The registry of ``--registry``; only ``register`` may create a folder it names."""
    create = args.registry is None or getattr(args, "func", None) is cmd_register
    return Registry(args.registry, create=create)


def cmd_list(args: argparse.Namespace) -> int:
    """Print every version (of one model, or of all)."""
    reg = _registry(args)
    records = reg.list(args.name)
    if not records:
        print(f"no models in {reg.root}")
    for rec in records:
        print(rec)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """Register a saved model folder as a new version."""
    rec = _registry(args).register(args.model_dir, args.name, note=args.note, alias=args.alias)
    print(f"registered {rec}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Point an alias at a version."""
    rec = _registry(args).promote(args.name, args.version, args.alias)
    print(f"{args.alias} -> {rec}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Print the metrics table of some or all versions."""
    table = _registry(args).compare(args.name, args.versions or None)
    print(table.to_string())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a version's files against their hashes."""
    rec = _registry(args).verify(args.name, args.version)
    print(f"ok: {rec} ({len(rec.manifest['files'])} files match their SHA-256)")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """Delete a version."""
    v = _registry(args).delete(args.name, args.version, force=args.force)
    print(f"deleted {args.name} v{v}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``models`` verb (and its sub-verbs) to the CLI's sub-parsers."""
    p = sub.add_parser("models", help="model registry: list, register, promote, compare, delete")
    verbs = p.add_subparsers(dest="models_command", required=True)

    def common(q):
        q.add_argument(
            "--registry", default=None, help="registry root (default ~/.vocalpy-xai/models)"
        )

    q = verbs.add_parser("list", help="list versions")
    q.add_argument("name", nargs="?")
    common(q)
    q.set_defaults(func=cmd_list)
    q = verbs.add_parser("register", help="register a saved model folder")
    q.add_argument("model_dir")
    q.add_argument("name")
    q.add_argument("--alias", default=None)
    q.add_argument("--note", default="")
    common(q)
    q.set_defaults(func=cmd_register)
    q = verbs.add_parser("promote", help="point an alias at a version")
    q.add_argument("name")
    q.add_argument("version")
    q.add_argument("--alias", default="production")
    common(q)
    q.set_defaults(func=cmd_promote)
    q = verbs.add_parser("compare", help="metrics table of versions")
    q.add_argument("name")
    q.add_argument("versions", nargs="*")
    common(q)
    q.set_defaults(func=cmd_compare)
    q = verbs.add_parser("verify", help="check a version's file hashes")
    q.add_argument("name")
    q.add_argument("version", nargs="?", default="latest")
    common(q)
    q.set_defaults(func=cmd_verify)
    q = verbs.add_parser("delete", help="delete a version")
    q.add_argument("name")
    q.add_argument("version")
    q.add_argument("--force", action="store_true", help="also remove aliases pointing at it")
    common(q)
    q.set_defaults(func=cmd_delete)
    return p
