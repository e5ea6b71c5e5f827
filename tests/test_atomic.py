"""Atomic writes (vocalpy_xai.io.atomic): a failed write leaves the old file and no debris."""

from __future__ import annotations

import json

import pytest

from vocalpy_xai.io.atomic import atomic_file, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "metrics.json"
    write_text(target, json.dumps({"ser": 0.02}))
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_file(target) as tmp:
            tmp.write_text('{"ser": 0.')  # half written
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"ser": 0.02}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_the_temporary_file_keeps_the_name_and_overwrite_is_a_choice(tmp_path):
    target = tmp_path / "sub" / "crop.png"
    with atomic_file(target) as tmp:
        assert tmp.name == "crop.png" and tmp.parent != target.parent
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    with pytest.raises(FileExistsError, match="crop.png"):
        with atomic_file(target, overwrite=False) as tmp:
            tmp.write_bytes(b"other")
    assert target.read_bytes() == b"png"
