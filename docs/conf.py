"""Sphinx configuration for the vocalpy-xai documentation.

Build with ``nox -s docs`` or ``sphinx-build -W -b html docs docs/_build/html``
(warnings are errors). The API pages import the real package: nothing is mocked,
so the docs build in an environment made by ``scripts/install.sh``.
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Document the checkout being built, even if another copy is installed.
sys.path.insert(0, str(ROOT / "src"))

import vocalpy_xai  # noqa: E402

project = "vocalpy-xai"
author = "vocalpy-xai developers"
copyright = "2026, vocalpy-xai developers"
release = vocalpy_xai.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST (Markdown)
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc + napoleon (numpy-style docstrings)
autodoc_mock_imports: list[str] = []
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

# numpy-style type descriptions such as "path or xarray.Dataset" make the python domain
# look up the bare word "path", which matches every attribute named ``path`` (e.g.
# ``AudioRecord.path`` and ``BuildReport.path``): Sphinx warns "more than one target
# found" and links the first. Those words are prose, not references; don't fail on them.
suppress_warnings = ["ref.python"]

# HTML
html_theme = "furo"
html_title = f"vocalpy-xai {release}"
