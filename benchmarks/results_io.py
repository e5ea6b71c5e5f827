"""What a benchmark does at its end: name its machine and write its results as JSON and Markdown.

Shared by the ``bench_*.py`` scripts (not itself a benchmark: ``nox -s benchmarks`` runs the
``bench_*.py`` files only).
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
from collections.abc import Callable

#: where results go (``VOCALPY_XAI_BENCH_RESULTS`` overrides)
RESULTS = pathlib.Path(
    os.environ.get("VOCALPY_XAI_BENCH_RESULTS", pathlib.Path(__file__).resolve().parent / "results")
)


def machine() -> str:
    """``"<architecture>, <n> cores"``."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def loadavg() -> list[float]:
    """The 1, 5 and 15-minute load averages, rounded to 2 decimals."""
    return [round(v, 2) for v in os.getloadavg()]


def write_results(
    name: str, r: dict, markdown: Callable[[dict], str], results: pathlib.Path = RESULTS
) -> None:
    """Write ``r`` to ``results/<name>.json`` and ``markdown(r)`` to ``<name>.md``; print the latter."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(r, indent=2))
    md = markdown(r)
    (results / f"{name}.md").write_text(md)
    print(md)
