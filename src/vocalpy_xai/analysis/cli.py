"""``vocalpy-xai analyse STORE --out DIR``: embeddings, clusters and syntax of a store.

Wire into :mod:`vocalpy_xai.cli` with ``add_parser(sub)``.
"""

from __future__ import annotations

import argparse
import json


def cmd_analyse(args: argparse.Namespace) -> int:
    from ..review.cli import parse_clips
    from ..store import open_store
    from .summary import analyse_store

    ds = open_store(args.store)
    clips = parse_clips(args.clips, ds.sizes["clip"])
    result = analyse_store(ds, args.out, clips, max_syllables=args.max_syllables, seed=args.seed)
    print(json.dumps(result["clusters"], indent=2))
    print(f"figures and tables: {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``analyse`` verb to the CLI's sub-parsers."""
    p = sub.add_parser("analyse", help="syllable embedding (UMAP), clusters, song syntax")
    p.add_argument("store")
    p.add_argument("--out", required=True)
    p.add_argument("--clips", default="all")
    p.add_argument("--max-syllables", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_analyse)
    return p
