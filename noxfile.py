"""Nox sessions for vocalpy-xai.

    nox -s lint                 # ruff check + ruff format --check
    nox -s tests -- -x -k store # pytest, arguments after -- are passed through
    nox -s docs                 # sphinx-build -W (warnings are errors)
    nox -s benchmarks           # every benchmarks/bench_*.py -> benchmarks/results/
    nox -s demo                 # vocalpy-xai demo --out demo-output

Every session that needs the package installs it with ``scripts/install.sh``, the
same script the README uses: it pins the CPU torch wheel, installs cabrnet with
``--no-deps`` and writes the torchvision adapter's .pth file (docs/install.md).
Never ``session.install(".")`` here: pip would be free to pull a CUDA torch and
the cabrnet/vak conflict would come back.

Virtual environments are reused (``nox.options.reuse_venv``). The install script
is re-run only when one of its inputs (the script, pyproject.toml, the
constraints file, the extras) changed since the last install into that session's
environment; ``nox -s tests --reuse-venv=no`` rebuilds from scratch.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import shutil
import tomllib

import nox

ROOT = pathlib.Path(__file__).resolve().parent
PYTHON = "3.11"
LINT_PATHS = ("src", "tests", "benchmarks", "examples", "noxfile.py", "docs/conf.py")
INSTALL_INPUTS = ("scripts/install.sh", "pyproject.toml", "requirements/constraints.txt")
BENCH_RESULTS = ROOT / "benchmarks" / "results"
XVFB_SCREEN = "-screen 0 1280x1024x24"

nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests", "docs"]
nox.options.error_on_external_run = True


def _install_digest(extras: str) -> str:
    digest = hashlib.sha256(f"extras={extras}\n".encode())
    for name in INSTALL_INPUTS:
        digest.update(name.encode())
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def install_stack(session: nox.Session, extras: str) -> None:
    """Install vocalpy-xai and its stack into the session's venv via scripts/install.sh."""
    venv = pathlib.Path(session.virtualenv.location)
    stamp = venv / ".vocalpy-xai-install-stamp"
    digest = _install_digest(extras)
    if stamp.is_file() and stamp.read_text().strip() == digest:
        session.log(f"scripts/install.sh inputs unchanged since the last install into {venv}")
        return
    session.run(
        "bash",
        str(ROOT / "scripts" / "install.sh"),
        env={"VENV": str(venv), "EXTRAS": extras},
        external=True,
    )
    stamp.write_text(digest + "\n")


def _dev_requirement(name: str) -> str:
    """The requirement for ``name`` in pyproject's ``dev`` extra (so lint uses the same ruff)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    for requirement in extras.get("dev", []):
        if re.match(rf"{re.escape(name)}\b(?![-_.])", requirement, flags=re.IGNORECASE):
            return requirement
    return name


def _needs_xvfb_run(session: nox.Session) -> bool:
    """No display, no pytest-xvfb in the session, but xvfb-run available (as .ci/run does)."""
    if os.environ.get("DISPLAY") or shutil.which("xvfb-run") is None:
        return False
    probe = "import importlib.util; print(importlib.util.find_spec('pytest_xvfb') is None)"
    return session.run("python", "-c", probe, silent=True).strip() == "True"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check (only ruff is installed)."""
    session.install(_dev_requirement("ruff"))
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths, *session.posargs)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite: ``python -m pytest`` (posargs are passed through)."""
    install_stack(session, extras="test")
    command = ["python", "-m", "pytest", *session.posargs]
    if _needs_xvfb_run(session):
        # napari's canvas tests need an X display; pytest-xvfb would start one itself.
        session.run("xvfb-run", "-a", "-s", XVFB_SCREEN, *command, external=True)
    else:
        session.run(*command)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the Sphinx site with warnings as errors into docs/_build/html."""
    install_stack(session, extras="docs")
    # A fresh build every time: an incremental one would not repeat the warnings of
    # pages it does not re-read, and -W would pass on a stale environment.
    shutil.rmtree(ROOT / "docs" / "_build", ignore_errors=True)
    session.run("sphinx-build", "-W", "-b", "html", *session.posargs, "docs", "docs/_build/html")
    session.log(f"docs built: {ROOT / 'docs' / '_build' / 'html' / 'index.html'}")


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Run every benchmarks/bench_*.py; results and logs go to benchmarks/results/.

    ``nox -s benchmarks -- store`` runs only the files whose name contains "store".
    Each script runs from the repository root with ``VOCALPY_XAI_BENCH_RESULTS`` set
    to the results folder; its output is also saved as ``benchmarks/results/<name>.log``.
    """
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    if session.posargs:
        scripts = [s for s in scripts if any(word in s.stem for word in session.posargs)]
    if not scripts:
        session.error(
            "no benchmark to run: benchmarks/bench_*.py matched nothing"
            + (f" (filter: {' '.join(session.posargs)})" if session.posargs else "")
        )
    install_stack(session, extras="test")
    BENCH_RESULTS.mkdir(parents=True, exist_ok=True)
    env = {"VOCALPY_XAI_BENCH_RESULTS": str(BENCH_RESULTS), "PYTHONUNBUFFERED": "1"}
    for script in scripts:
        session.log(f"benchmark: {script.relative_to(ROOT)}")
        output = session.run("python", str(script), env=env, silent=True)
        print(output, end="" if output.endswith("\n") else "\n")
        (BENCH_RESULTS / f"{script.stem}.log").write_text(output)
    session.log(f"{len(scripts)} benchmark(s) run; results in {BENCH_RESULTS}")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The README's demo: ``vocalpy-xai demo --out demo-output``."""
    install_stack(session, extras="test")
    session.run("vocalpy-xai", "demo", "--out", "demo-output", *session.posargs)
    session.log(f"demo output in {os.path.join(ROOT, 'demo-output')}")
