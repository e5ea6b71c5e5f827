"""docs/tutorial_own_bird.md runs as written: every ```bash block, in order, on the bundled data.

The blocks are read from the page, so the tutorial cannot drift from the program. They run
in a fresh folder holding a link to the repository's ``examples/``, one command at a time:
``vocalpy-xai ...`` lines through :func:`vocalpy_xai.cli.main` in this process (their
arguments split and glob-expanded as bash would; one interpreter start instead of fifteen),
everything else (``python``, ``cp``, ``sed``, ``cat > ... <<'EOF'``) with
``bash -euo pipefail``, this interpreter's ``bin`` folder first on ``PATH``. ``shell`` blocks
(activating the environment, opening napari) and ``text`` blocks (output) are not run.
"""

from __future__ import annotations

import glob
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest

from vocalpy_xai import cli

REPO = pathlib.Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial_own_bird.md"


def bash_blocks(markdown: str) -> list[str]:
    """The bodies of the page's fenced ```bash blocks, in order."""
    return re.findall(r"^```bash\n(.*?)^```$", markdown, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """One shell command per line; a here-document stays with its command."""
    lines, out, i = block.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        heredoc = re.search(r"<<\s*'?(\w+)'?", line)
        if heredoc:
            end = lines.index(heredoc.group(1), i + 1)
            out.append("\n".join(lines[i : end + 1]))
            i = end + 1
            continue
        if line.strip():
            out.append(line)
        i += 1
    return out


def run(command: str, cwd: pathlib.Path, env: dict, capsys) -> str:
    """Run one tutorial command; returns what it printed. Fails with its output."""
    words = shlex.split(command) if "\n" not in command else []
    if words[:1] == ["vocalpy-xai"] and not set("|;&>$`") & set(command):
        args = []
        for w in words[1:]:
            matches = sorted(glob.glob(w, root_dir=cwd)) if set("*?[") & set(w) else []
            args += matches or [w]
        old = os.getcwd()
        os.chdir(cwd)
        try:
            rc = cli.main(args)
        finally:
            os.chdir(old)
        printed = capsys.readouterr()
        assert rc == 0, f"{command}\n{printed.out[-2000:]}{printed.err[-2000:]}"
        return printed.out
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout


@pytest.mark.distributed
def test_tutorial_commands_run(tmp_path, capsys):
    blocks = bash_blocks(TUTORIAL.read_text())
    script = "\n".join(blocks)
    for verb in ("manifest folder", "build-store", "train", "annotate", "review find"):
        assert f"vocalpy-xai {verb}" in script
    (tmp_path / "examples").symlink_to(REPO / "examples")
    bindir = str(pathlib.Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    printed = [run(c, tmp_path, env, capsys) for b in blocks for c in commands(b)]
    assert len(printed) >= 15
    work = tmp_path / "work"
    # annotations of all 20 songs, one file each, paired in a manifest
    assert len(list((work / "model-annotations").glob("*.wav.csv"))) == 20
    assert len(pd.read_csv(work / "model-annotations" / "manifest.csv")) == 20
    review = pd.read_csv(work / "review.csv")
    assert len(review) == 50 and review["rank"].tolist() == list(range(1, 51))
    # version 2 was trained on the 6 hand-annotated songs + the 2 reviewed ones
    assert len(pd.read_csv(work / "train.csv")) == 6
    assert len(pd.read_csv(work / "train-v2.csv")) == 8
    assert "my-bird v2 (production)" in printed[-1]
