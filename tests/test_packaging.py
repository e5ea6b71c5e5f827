"""Packaging: the GUI and the server are extras, and the README's install still installs them."""

from __future__ import annotations

import pathlib
import re
import tomllib

REPO = pathlib.Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_gui_and_server_are_extras_that_the_install_script_installs():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    hard = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    gui_and_server = {"napari", "npe2", "pyside6-essentials", "fastapi", "uvicorn"}
    assert not hard & gui_and_server  # no Qt binding (nor napari, FastAPI) forced on users
    assert not {n for n in hard if re.match(r"py(side|qt)\d", n)}
    in_extras = {_name(r) for key in ("napari", "qt", "serve") for r in extras[key]}
    assert gui_and_server <= in_extras
    assert extras["all"] == ["vocalpy-xai[napari,qt,serve]"]
    # the README installs through scripts/install.sh, which always adds "all"
    assert "scripts/install.sh" in (REPO / "README.md").read_text()
    assert '-e "$here[all,$extras]"' in (REPO / "scripts" / "install.sh").read_text()
