"""The ``vocalpy-xai`` command line.

Verbs::

    vocalpy-xai demo [--out DIR] [--data DIR]
    vocalpy-xai manifest annotations ANNOT_FILE --format FMT [--audio-dir DIR] -o manifest.csv
    vocalpy-xai manifest folder FOLDER --format FMT [--unannotated error|skip|keep] -o manifest.csv
    vocalpy-xai manifest table LABELS.csv --audio-column C --label-column C -o manifest.csv
    vocalpy-xai build-store MANIFEST.csv STORE.zarr [--samplerate HZ] [--on-error skip|raise] ...
    vocalpy-xai annotate FILE|FOLDER|MANIFEST --model NAME@VERSION|DIR --out DIR [--format FMT]
                         [--workers N | --scheduler ADDRESS]      (one annotation per file)
    vocalpy-xai classify FILE|FOLDER|MANIFEST --model NAME@VERSION|DIR --out DIR  (species CSVs)
    vocalpy-xai info STORE.zarr
    vocalpy-xai report STORE.zarr --out DIR
    vocalpy-xai prep|train|eval|predict CONFIG.toml   (vak configs; vak's models go to vak)
    vocalpy-xai models list|register|promote|compare|verify|delete ...   (model registry)
    vocalpy-xai review init|find|apply|versions|diff|retrain ...         (disagreement loop)
    vocalpy-xai analyse STORE.zarr --out DIR                             (UMAP, song syntax)
    vocalpy-xai serve [--registry DIR] [--data-root DIR] [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from .errors import VocalpyXaiError


def _cmd_demo(args) -> int:
    from .demo import run_demo

    index = run_demo(args.out, args.data, progress=not args.quiet, stages=args.stages)
    print(f"report: {index}")
    return 0


def _cmd_manifest(args) -> int:
    from .io import Manifest

    if args.kind == "folder" or (args.kind == "annotations" and pathlib.Path(args.source).is_dir()):
        if not args.format:
            raise ValueError("--format is needed: the crowsetta format of the annotation files")
        manifest = Manifest.from_folder(args.source, args.format, unannotated=args.unannotated)
    elif args.kind == "annotations":
        manifest = Manifest.from_annotation_file(args.source, args.format, args.audio_dir)
    else:
        manifest = Manifest.from_label_table(args.source, args.audio_column, args.label_column)
    out = pathlib.Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    manifest.write(out)
    print(f"{manifest} -> {out}")
    return 0


def _cmd_build(args) -> int:
    from .store import SpectrogramParams, build_store

    params = SpectrogramParams(
        samplerate=args.samplerate,
        n_fft=args.n_fft,
        hop_length=args.hop_length,
        fmin=args.fmin,
        fmax=args.fmax,
    )
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        report = build_store(
            args.manifest,
            args.store,
            params,
            on_error=args.on_error,
            client=client,
            num_workers=args.workers,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    finally:
        if client is not None:
            client.close()
    print(report.summary())
    return 1 if (report.failures and args.strict) else 0


def _cmd_batch(args) -> int:
    from . import batch

    common = dict(
        registry=args.registry,
        scheduler=args.scheduler,
        num_workers=args.workers,
        progress=not args.quiet,
    )
    if args.command == "annotate":
        report = batch.annotate_files(
            args.source, args.model, args.out, annot_format=args.format, **common
        )
        where = f"annotations in {args.out} (manifest: {pathlib.Path(args.out) / 'manifest.csv'})"
    else:
        report = batch.classify_files(
            args.source, args.model, args.out, overwrite=args.overwrite, **common
        )
        where = f"scores: {report.outputs['chunks']}, {report.outputs['recordings']}"
    print(report.summary())
    print(where)
    return 1 if (report.failures and args.strict) else 0


def _cmd_info(args) -> int:
    from .store import open_store

    ds = open_store(args.store)
    print(ds)
    return 0


def _cmd_report(args) -> int:
    from .report import Report, plot_durations, plot_label_counts, plot_spectrogram
    from .store import open_store

    ds = open_store(args.store)
    report = Report(args.out, title=f"Spectrogram store {args.store}")
    sec = report.section("Store")
    for clip in range(min(args.clips, ds.sizes["clip"])):
        sec.figure(
            plot_spectrogram(ds, clip, title=str(ds["source_path"].values[clip])), f"clip{clip}.png"
        )
    sec.figure(plot_label_counts(ds), "label-counts.png", "Label counts")
    sec.figure(plot_durations(ds), "durations.png", "Durations")
    print(f"report: {report.write()}")
    return 0


def _cmd_vak(args) -> int:
    from .vak import run

    verb = getattr(run, args.command)
    if args.command == "train":
        verb(args.config, progress=not args.quiet)
    else:
        verb(args.config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vocalpy-xai", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run the end-to-end demo on the bundled example data")
    p.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    p.add_argument("--data", default=None, help="example data folder (default examples/data)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--stages",
        nargs="+",
        default=None,
        help="run only these stages (stores, data_report, esn, loop, prototypes) and what they need",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("manifest", help="write a manifest CSV describing a data set")
    p.add_argument(
        "kind",
        choices=["annotations", "folder", "table"],
        help="from an annotation file, a folder of audio + annotation files, or a clip-label table",
    )
    p.add_argument("source", help="annotation file, folder, or label table")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", help="crowsetta annotation format (kind=annotations)")
    p.add_argument("--audio-dir", help="folder of the audio files (kind=annotations)")
    p.add_argument(
        "--unannotated",
        choices=["error", "skip", "keep"],
        default="error",
        help="(folder) audio without annotation: an error listing them (default), left out, or kept",
    )
    p.add_argument("--audio-column", default="audio_path", help="(kind=table)")
    p.add_argument("--label-column", default="label", help="(kind=table)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_manifest)

    p = sub.add_parser("build-store", help="build a zarr spectrogram store from a manifest")
    p.add_argument("manifest")
    p.add_argument("store")
    p.add_argument("--samplerate", type=int, default=None)
    p.add_argument("--n-fft", type=int, default=512)
    p.add_argument("--hop-length", type=int, default=64)
    p.add_argument("--fmin", type=float, default=0.0)
    p.add_argument("--fmax", type=float, default=None)
    p.add_argument(
        "--on-error",
        choices=["skip", "raise"],
        default="skip",
        help="skip bad files and list them (default), or refuse before writing",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 if any file was skipped")
    p.add_argument("--workers", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--scheduler", help="address of a dask.distributed scheduler")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_build)

    for verb, text in (
        ("annotate", "annotate audio files with an ESN model: one annotation file per audio file"),
        ("classify", "species scores of audio files (BirdNET-backbone AudioProtoNet): CSVs"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("source", help="audio file, folder (recursive) or manifest CSV")
        p.add_argument(
            "--model", required=True, help="saved model folder, or NAME[@VERSION] of the registry"
        )
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--registry", default=None, help="registry root (for NAME@VERSION)")
        if verb == "annotate":
            p.add_argument(
                "--format", default="simple-seq", help="crowsetta seq format (default simple-seq)"
            )
        else:
            p.add_argument("--overwrite", action="store_true", help="replace existing CSVs")
        p.add_argument("--scheduler", help="address of a dask.distributed scheduler")
        p.add_argument(
            "--workers", type=int, default=1, help="local cluster worker processes (default 1)"
        )
        p.add_argument("--strict", action="store_true", help="exit 1 if any file was bad")
        p.add_argument("--quiet", action="store_true")
        p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("info", help="describe a store")
    p.add_argument("store")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("report", help="HTML report of a store")
    p.add_argument("store")
    p.add_argument("--out", required=True)
    p.add_argument("--clips", type=int, default=3, help="spectrograms to draw")
    p.set_defaults(func=_cmd_report)

    for verb, text in (
        ("prep", "vak prep (unchanged)"),
        ("train", "train the model of a vak config (ESNDecoder or vak's own)"),
        ("eval", "evaluate a trained model from a vak config"),
        ("predict", "annotate with a trained model from a vak config"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("config", help="vak TOML config")
        p.add_argument("--quiet", action="store_true")
        p.set_defaults(func=_cmd_vak)
    from .analysis import cli as analysis_cli
    from .registry import cli as registry_cli
    from .review import cli as review_cli
    from .serve import cli as serve_cli

    for module in (registry_cli, review_cli, analysis_cli, serve_cli):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vocalpy-xai`` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (VocalpyXaiError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"vocalpy-xai {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
