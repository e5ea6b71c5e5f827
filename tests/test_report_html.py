"""Report tables: readable headers, folded long tables, links to each recording."""

from __future__ import annotations

import re

import pandas as pd

from vocalpy_xai.report import Report
from vocalpy_xai.report.html import readable_header


def test_credits_table_folded_with_links(tmp_path, example_xc10):
    labels = pd.read_csv(example_xc10 / "labels.csv")
    credits = pd.DataFrame(
        {
            "common_name": labels["common_name"] + " <i>",  # text is escaped, not markup
            "xc_id": [f"XC{x}" for x in labels["xc_id"]],
            "recordist": labels["recordist"],
            "url": labels["xc_url"],
            "duration_s": labels["duration_s"],
        }
    )
    report = Report(tmp_path, "credits")
    report.section("Data").table(
        credits, caption="Attribution", folded=True, links={"xc_id": "url"}
    )
    page = report.write().read_text()
    folded = re.search(r"<details><summary>Attribution</summary>(.*?)</details>", page, re.S)
    assert folded is not None
    table = folded.group(1)
    headers = re.findall(r"<th>([^<]*)</th>", table)
    assert headers == ["common name", "xc id", "recordist", "duration (s)"]  # no index, no url
    links = re.findall(r'<a href="([^"]+)">(XC\d+)</a>', table)
    assert len(links) == len(labels)
    assert all(url == f"https://xeno-canto.org/{xc[2:]}" for url, xc in links)
    assert "&lt;i&gt;" in table and "<i>" not in table


def test_readable_header():
    assert readable_header("onset_s") == "onset (s)"
    assert readable_header("f0_hz") == "f0 (Hz)"
    assert readable_header("human_label") == "human label"
    assert readable_header("s") == "s"
