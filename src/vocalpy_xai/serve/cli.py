"""``vocalpy-xai serve``: run the annotation service (uvicorn), on loopback by default.

Wire into :mod:`vocalpy_xai.cli` with ``add_parser(sub)``::

    vocalpy-xai serve [--registry ROOT] [--data-root DIR] [--host 127.0.0.1] [--port 8000]
                      [--max-upload-mb 50] [--max-duration-s 900]
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from .limits import DEFAULT_MAX_DURATION_S

LOOPBACK = "127.0.0.1"


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the service; warns when it listens beyond loopback."""
    import uvicorn

    from .app import create_app

    try:
        public = not ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        public = args.host != "localhost"
    if public:
        print(
            f"warning: listening on {args.host}, reachable from other machines; the service "
            "has no authentication",
            file=sys.stderr,
        )
    app = create_app(
        args.registry,
        args.data_root,
        int(args.max_upload_mb * 2**20),
        args.max_duration_s if args.max_duration_s > 0 else None,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``serve`` verb to the CLI's sub-parsers."""
    p = sub.add_parser("serve", help="HTTP annotation service over the model registry")
    p.add_argument("--registry", default=None, help="registry root (default ~/.vocalpy-xai/models)")
    p.add_argument("--data-root", default=None, help="folder whose files may be annotated by path")
    p.add_argument("--host", default=LOOPBACK, help="default 127.0.0.1 (loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=50.0)
    p.add_argument(
        "--max-duration-s",
        type=float,
        default=DEFAULT_MAX_DURATION_S,
        help="longest audio annotated, uploaded or by path (413 above it; 0: no limit)",
    )
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=cmd_serve)
    return p
