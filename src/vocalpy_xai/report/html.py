"""An HTML report made of sections of text, tables and PNG figures.

Each stage of a run (data sets, models, explanations...) adds its own section, so the same
report grows as the workflow does::

    report = Report("demo-output/report", title="vocalpy-xai demo")
    section = report.section("Bird0 store")
    section.text("20 songs ...")
    section.figure(fig, "bird0-spectrograms.png", caption="...")
    section.table(df, caption="...")
    report.write()  # index.html beside the PNGs
"""

from __future__ import annotations

import datetime
import html
import pathlib

import attrs
import jinja2
import pandas as pd

from .plots import save

TEMPLATE = jinja2.Template(
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
 h1 { border-bottom: 2px solid #444; } h2 { margin-top: 2em; border-bottom: 1px solid #aaa; }
 figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
 figcaption { font-size: 0.9em; color: #555; }
 table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
 th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
 th { background: #f0f0f0; } nav a { margin-right: 1em; }
 .note { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="note">Written {{ created }} by vocalpy-xai {{ version }}.</p>
<nav>{% for s in sections %}<a href="#s{{ loop.index }}">{{ s.title }}</a>{% endfor %}</nav>
{% for s in sections %}
<h2 id="s{{ loop.index }}">{{ s.title }}</h2>
{% for kind, item in s.items %}
 {% if kind == "text" %}<p>{{ item }}</p>
 {% elif kind == "html" %}{{ item }}
 {% elif kind == "figure" %}<figure><img src="{{ item[0] }}" alt="{{ item[1] }}">
  <figcaption>{{ item[1] }}</figcaption></figure>
 {% elif kind == "table" %}{% if item[2] %}<details><summary>{{ item[0] }}</summary>{{ item[1] }}</details>{% else %}<p class="note">{{ item[0] }}</p>{{ item[1] }}{% endif %}
 {% endif %}
{% endfor %}
{% endfor %}
</body></html>
""",
    autoescape=True,
)


@attrs.define
class Section:
    """One titled part of a :class:`Report`."""

    title: str
    out_dir: pathlib.Path
    items: list = attrs.field(factory=list)

    def text(self, text: str) -> Section:
        """A paragraph (escaped)."""
        self.items.append(("text", text))
        return self

    def raw_html(self, markup: str) -> Section:
        """Trusted HTML (e.g. an <audio> element made by vocalpy-xai)."""
        self.items.append(("html", jinja2.utils.markupsafe.Markup(markup)))
        return self

    def figure(self, fig, name: str, caption: str = "") -> pathlib.Path:
        """Save ``fig`` as ``name`` (PNG) in the report folder and show it here."""
        path = save(fig, self.out_dir / name)
        self.items.append(("figure", (name, caption)))
        return path

    def table(
        self,
        df: pd.DataFrame,
        caption: str = "",
        float_format: str = "{:.3g}",
        folded: bool = False,
        links: dict[str, str] | None = None,
    ) -> Section:
        """A table with readable headers (:func:`readable_header`; a plain 0, 1, 2...
        index is left out).

        ``folded``: shown closed under its caption (HTML ``<details>``), for long tables.
        ``links``: ``{column: url column}``: each cell of ``column`` links to the URL in the
        other column (which is then not shown).
        """
        df = df.copy()
        links = links or {}
        if links:  # the table is written unescaped: escape every other text cell here
            for column in df.columns:
                if column not in links and not pd.api.types.is_numeric_dtype(df[column]):
                    df[column] = [html.escape(str(v)) for v in df[column]]
            for column, url in links.items():
                df[column] = [
                    f'<a href="{html.escape(str(u), quote=True)}">{html.escape(str(v))}</a>'
                    if isinstance(u, str) and u
                    else html.escape(str(v))
                    for v, u in zip(df[column], df[url], strict=True)
                ]
            df = df.drop(columns=[u for u in links.values() if u not in links])
        plain = isinstance(df.index, pd.RangeIndex)
        df = df.rename(columns=lambda c: readable_header(str(c)))
        if not plain and df.index.name:
            df.index.name = readable_header(str(df.index.name))
        markup = df.to_html(
            float_format=float_format.format, border=0, escape=not links, index=not plain
        )
        self.items.append(("table", (caption, jinja2.utils.markupsafe.Markup(markup), folded)))
        return self


#: units written as suffixes of column names, and how a header shows them
_UNITS = {"_s": "(s)", "_ms": "(ms)", "_hz": "(Hz)", "_khz": "(kHz)", "_db": "(dB)"}


def readable_header(name: str) -> str:
    """``"onset_s"`` -> ``"onset (s)"``, ``"human_label"`` -> ``"human label"``."""
    for suffix, unit in _UNITS.items():
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} {unit}"
    return name.replace("_", " ")


class Report:
    """An HTML report folder: ``index.html`` plus its PNG figures.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Folder of the report (created).
    title : str
        Title of the page.
    """

    def __init__(self, out_dir: str | pathlib.Path, title: str = "vocalpy-xai report"):
        self.out_dir = pathlib.Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        """Add (or return the existing) section with this title."""
        for s in self.sections:
            if s.title == title:
                return s
        s = Section(title, self.out_dir)
        self.sections.append(s)
        return s

    def write(self) -> pathlib.Path:
        """Write ``index.html`` atomically and return its path."""
        from .. import __version__

        page = TEMPLATE.render(
            title=self.title,
            sections=self.sections,
            version=__version__,
            created=datetime.datetime.now().isoformat(timespec="seconds"),
        )
        from ..io.atomic import write_text

        return write_text(self.out_dir / "index.html", page)
