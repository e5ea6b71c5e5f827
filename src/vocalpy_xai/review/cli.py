"""``vocalpy-xai review ...``: the re-annotation loop from the command line.

Wire into :mod:`vocalpy_xai.cli` with ``add_parser(sub)``::

    vocalpy-xai review init ANNOT_FILE --format FMT --root VERSIONS_DIR [--audio-dir DIR]
    vocalpy-xai review find STORE -o review.csv [--clips 0-61] [--k 5] [--seeds 2]
                            [--units 400] [--top N] [--model NAME[@VERSION] --registry ROOT]
    vocalpy-xai review apply VERSIONS_DIR CORRECTIONS.csv [--parent N] [--note TEXT]
    vocalpy-xai review versions VERSIONS_DIR
    vocalpy-xai review diff VERSIONS_DIR A B
    vocalpy-xai review retrain VERSIONS_DIR STORE_OUT --name NAME [--version N]
                               [--train-clips 0-61] [--test-clips 95-134] [--samplerate HZ]
    vocalpy-xai review report MODEL STORE --train-clips 0-61 --test-clips 95-134 --out DIR
                              [--fractions 0.25,0.5,0.75,1] [--worst 8] [--registry ROOT]
    vocalpy-xai review loop STORE --train-clips 0-13 --test-clips 14-19 --out DIR
                            [--noise 0.05] [--review-share 0.1] [--k 3] [--units 300]
"""

from __future__ import annotations

import argparse

import numpy as np


def parse_clips(spec: str | None, n: int) -> np.ndarray:
    """``"0-61,70,80-90"`` (inclusive ranges) or ``"all"``/None to clip indices below ``n``."""
    if spec in (None, "", "all"):
        return np.arange(n)
    out: list[int] = []
    for part in spec.split(","):
        a, _, b = part.strip().partition("-")
        out += list(range(int(a), int(b or a) + 1))
    clips = np.array(sorted(set(out)), dtype=int)
    if clips.size and (clips.min() < 0 or clips.max() >= n):
        raise ValueError(f"clip indices {spec!r} outside 0-{n - 1}")
    return clips


def cmd_init(args: argparse.Namespace) -> int:
    from ..io import Manifest
    from .versions import AnnotationVersions

    manifest = Manifest.from_annotation_file(args.annotations, args.format, args.audio_dir)
    versions = AnnotationVersions.create(args.root, manifest)
    print(f"{versions.root}: version 1 = {args.annotations} ({len(manifest)} files)")
    return 0


def cmd_find(args: argparse.Namespace) -> int:
    from ..models import ESNParams
    from ..store import open_store
    from .finder import find_disagreements
    from .predictions import cross_val_predictions, predictions_of
    from .review_list import write_review_list

    ds = open_store(args.store)
    clips = parse_clips(args.clips, ds.sizes["clip"])
    if args.model:
        from ..registry import Registry

        name, _, ref = args.model.partition("@")
        model = Registry(args.registry).load(name, ref or "latest")
        pred = predictions_of([model], ds, clips)
    else:
        pred = cross_val_predictions(
            ds, clips, k=args.k, seeds=range(args.seeds), params=ESNParams(units=args.units)
        )
    review = find_disagreements(ds, pred, clips)
    path = write_review_list(review, args.output, top=args.top, overwrite=args.overwrite)
    flagged = int(review["flag"].sum())
    print(f"{len(review)} segments scored, {flagged} flagged (>= 2/3 frames disagree) -> {path}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from .versions import AnnotationVersions

    versions = AnnotationVersions(args.root)
    v = versions.apply(args.corrections, parent=args.parent, note=args.note)
    print(f"version {v}: {versions.info(v)['n_changes']} change(s) from version {args.parent}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from .versions import AnnotationVersions

    print(AnnotationVersions(args.root).list().to_string())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from .versions import AnnotationVersions

    diff = AnnotationVersions(args.root).diff(args.a, args.b)
    print(diff.to_string(index=False) if len(diff) else "no differences")
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from ..models import ESNParams
    from ..registry import Registry
    from ..store import SpectrogramParams, open_store
    from .loop import build_version_store, retrain
    from .versions import AnnotationVersions

    versions = AnnotationVersions(args.root)
    version = versions.latest() if args.version in (None, "latest") else int(args.version)
    store = build_version_store(
        versions, version, args.store_out, SpectrogramParams(samplerate=args.samplerate)
    )
    ds = open_store(store)
    n = ds.sizes["clip"]
    test = parse_clips(args.test_clips, n) if args.test_clips else None
    train = parse_clips(args.train_clips, n)
    if test is not None and args.train_clips in (None, "all"):
        train = np.setdiff1d(train, test)
    _, metrics = retrain(
        ds,
        train,
        test_clips=test,
        params=ESNParams(units=args.units),
        registry=Registry(args.registry),
        name=args.name,
        note=f"annotation version {version} of {versions.root}",
    )
    print(f"{args.name}: trained on version {version}; {metrics}")
    return 0


def _model_arg(model: str, registry: str | None):
    """A saved model folder, or ``NAME[@VERSION]`` of the registry (integrity checked)."""
    import pathlib

    if pathlib.Path(model).is_dir():
        return model
    from ..registry import Registry

    name, _, ref = model.partition("@")
    return Registry(registry).load(name, ref or "latest")


def _fractions(spec: str) -> tuple[float, ...]:
    if spec.strip().lower() in ("", "none", "0"):
        return ()
    return tuple(float(x) for x in spec.split(","))


def cmd_report(args: argparse.Namespace) -> int:
    from ..store import open_store
    from .report import run_report

    ds = open_store(args.store)
    n = ds.sizes["clip"]
    test = parse_clips(args.test_clips, n)
    train = parse_clips(args.train_clips, n)
    if args.train_clips in (None, "all"):
        train = np.setdiff1d(train, test)
    rr = run_report(
        _model_arg(args.model, args.registry),
        ds,
        train,
        test,
        args.out,
        learning_curve=_fractions(args.fractions),
        n_worst=args.worst,
        seed=args.seed,
    )
    print(
        f"{rr.index}: TEST syllable error rate {rr.metrics['syllable_error_rate']:.2%}, "
        f"{len(rr.learning_curve)} learning-curve point(s), {len(rr.worst)} worst error(s)"
    )
    return 0


def cmd_loop(args: argparse.Namespace) -> int:
    from ..models import ESNParams
    from ..store import open_store
    from .loop import run_loop_once

    ds = open_store(args.store)
    n = ds.sizes["clip"]
    test = parse_clips(args.test_clips, n)
    train = parse_clips(args.train_clips, n)
    if args.train_clips in (None, "all"):
        train = np.setdiff1d(train, test)
    r = run_loop_once(
        ds,
        train,
        test,
        args.out,
        registry_root=args.registry,
        noise=args.noise,
        review_share=args.review_share,
        k=args.k,
        params=ESNParams(units=args.units, seed=args.seed),
        name=args.name,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    s, m = r["noise"], r["metrics"]
    print(
        f"{s['injected_in_reviewed']}/{s['n_injected']} relabelled syllables in the top "
        f"{s['n_reviewed']} rows; wrong TRAIN labels {s['wrong_labels_before']} -> "
        f"{s['wrong_labels_after']}; TEST SER {m['before']['syllable_error_rate']:.2%} -> "
        f"{m['after']['syllable_error_rate']:.2%}; report {r['report']}"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``review`` verb (and its sub-verbs) to the CLI's sub-parsers."""
    p = sub.add_parser("review", help="find doubtful labels, apply corrections, retrain")
    verbs = p.add_subparsers(dest="review_command", required=True)

    q = verbs.add_parser("init", help="start annotation versions from an annotation file")
    q.add_argument("annotations")
    q.add_argument("--format", required=True, help="crowsetta format")
    q.add_argument("--root", required=True, help="versions folder to create")
    q.add_argument("--audio-dir", default=None)
    q.set_defaults(func=cmd_init)

    q = verbs.add_parser("find", help="rank segments where models disagree with their labels")
    q.add_argument("store")
    q.add_argument("-o", "--output", required=True, help="review list CSV")
    q.add_argument("--clips", default="all", help="e.g. 0-61 (default all)")
    q.add_argument("--k", type=int, default=5, help="cross-validation folds (by file)")
    q.add_argument("--seeds", type=int, default=1, help="repetitions (ensemble size)")
    q.add_argument("--units", type=int, default=400)
    q.add_argument("--top", type=int, default=None, help="keep the first N rows")
    q.add_argument("--model", default=None, help="NAME[@VERSION] from the registry (no CV)")
    q.add_argument("--registry", default=None)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_find)

    q = verbs.add_parser("apply", help="corrections table -> new annotation version")
    q.add_argument("root")
    q.add_argument("corrections")
    q.add_argument("--parent", default="latest")
    q.add_argument("--note", default="")
    q.set_defaults(func=cmd_apply)

    q = verbs.add_parser("versions", help="list annotation versions")
    q.add_argument("root")
    q.set_defaults(func=cmd_versions)

    q = verbs.add_parser("diff", help="segments that differ between two versions")
    q.add_argument("root")
    q.add_argument("a")
    q.add_argument("b")
    q.set_defaults(func=cmd_diff)

    q = verbs.add_parser("retrain", help="store of a version -> ESN -> registry")
    q.add_argument("root")
    q.add_argument("store_out")
    q.add_argument("--name", required=True, help="registry model name")
    q.add_argument("--version", default="latest")
    q.add_argument("--train-clips", default="all")
    q.add_argument("--test-clips", default=None)
    q.add_argument("--samplerate", type=int, default=32000)
    q.add_argument("--units", type=int, default=400)
    q.add_argument("--registry", default=None)
    q.set_defaults(func=cmd_retrain)

    q = verbs.add_parser(
        "report", help="HTML report of a model run: metrics, learning curve, worst errors"
    )
    q.add_argument("model", help="saved model folder, or NAME[@VERSION] with --registry")
    q.add_argument("store")
    q.add_argument("--train-clips", default="all", help="TRAIN clips (default: all but TEST)")
    q.add_argument("--test-clips", required=True, help="e.g. 14-19")
    q.add_argument("--out", required=True, help="report folder")
    q.add_argument(
        "--fractions", default="0.25,0.5,0.75,1", help="learning-curve shares of TRAIN, or none"
    )
    q.add_argument("--worst", type=int, default=8, help="worst TEST syllables to show")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--registry", default=None)
    q.set_defaults(func=cmd_report)

    q = verbs.add_parser(
        "loop", help="the loop once: inject label noise, find, fix (simulated), retrain"
    )
    q.add_argument("store")
    q.add_argument("--train-clips", default="all", help="TRAIN clips (default: all but TEST)")
    q.add_argument("--test-clips", required=True)
    q.add_argument("--out", required=True, help="run folder")
    q.add_argument("--noise", type=float, default=0.05, help="share of TRAIN syllables relabelled")
    q.add_argument("--review-share", type=float, default=0.10)
    q.add_argument("--k", type=int, default=3, help="cross-validation folds (by file)")
    q.add_argument("--units", type=int, default=300)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--name", default="esn-loop", help="registry model name")
    q.add_argument("--registry", default=None, help="default: OUT/registry")
    q.add_argument("--overwrite", action="store_true", help="replace a previous run in OUT")
    q.set_defaults(func=cmd_loop)
    return p
