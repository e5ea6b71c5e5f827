"""What a benchmark does at its end: name its machine and write its results as JSON and Markdown.

Shared by the ``bench_*.py`` scripts (not itself a benchmark: ``nox -s benchmarks`` runs the
``bench_*.py`` files only). Files are written atomically (:mod:`vocalpy_xai.io.atomic`): a run
that fails half-way leaves the committed results as they were.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
from collections.abc import Callable
from typing import Any

from vocalpy_xai.io.atomic import write_text

HERE = pathlib.Path(__file__).resolve().parent
#: where results go (``VOCALPY_XAI_BENCH_RESULTS`` overrides)
RESULTS = pathlib.Path(os.environ.get("VOCALPY_XAI_BENCH_RESULTS", HERE / "results"))


def machine() -> str:
    """``"<architecture>, <n> cores"``."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def loadavg() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded to 2 decimals."""
    return [round(v, 2) for v in os.getloadavg()]


def commit() -> str:
    """The short hash of the benchmarks' checkout's ``HEAD`` (``""`` outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
        )
    except OSError:  # no git
        return ""
    return out.stdout.strip()


def run_line(r: dict, command: str | None = None) -> str:
    """The Markdown line naming a run: its machine, load average at start and seconds.

    ``r`` holds ``machine``, ``loadavg`` and ``seconds``; ``command``, if given, is appended
    as ``Command: `<command>`.``.
    """
    line = f"Machine: {r['machine']}; load average at start {r['loadavg']}; {r['seconds']:.0f} s."
    return line if command is None else f"{line} Command: `{command}`."


def read_results(name: str, results: pathlib.Path = RESULTS, required: bool = False) -> dict:
    """The ``results/<name>.json`` of an earlier run, for a run that adds to it.

    Parameters
    ----------
    name : str
        The result's name, without ``.json``.
    results : pathlib.Path
        The results folder.
    required : bool
        If the file is missing: False (default) gives ``{}``; True exits with a message
        naming the file.

    Returns
    -------
    dict
        The earlier results.
    """
    path = results / f"{name}.json"
    if not path.exists():
        if required:
            raise SystemExit(f"{path}: no earlier results to add to (run the full benchmark)")
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise SystemExit(f"{path}: not a JSON file ({err})") from err


def write_json(
    name: str, r: dict, results: pathlib.Path = RESULTS, *, newline: bool = False, **dumps: Any
) -> pathlib.Path:
    """Write ``r`` to ``results/<name>.json``.

    Parameters
    ----------
    name : str
        The result's name, without ``.json``.
    r : dict
        The results.
    results : pathlib.Path
        The results folder (created if missing).
    newline : bool
        End the file with a newline.
    **dumps
        :func:`json.dumps`'s keyword arguments: ``indent`` (2 unless given), ``default``
        (how to write values JSON has no type for: ``str``, ``float``), ...

    Returns
    -------
    pathlib.Path
        The file written.
    """
    text = json.dumps(r, **{"indent": 2, **dumps}) + ("\n" if newline else "")
    return write_text(results / f"{name}.json", text)


def write_results(
    name: str,
    r: dict,
    markdown: Callable[[dict], str],
    results: pathlib.Path = RESULTS,
    *,
    newline: bool = False,
    **dumps: Any,
) -> None:
    """Write ``r`` to ``results/<name>.json`` and ``markdown(r)`` to ``<name>.md``; print the latter.

    ``newline`` and ``dumps`` are :func:`write_json`'s.
    """
    write_json(name, r, results, newline=newline, **dumps)
    md = markdown(r)
    write_text(results / f"{name}.md", md)
    print(md)
