"""Atomic output: the target holds the old or the whole new content, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.report import _atomic
from dnoutcomes.report._atomic import write_atomic


def test_writes_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_atomic(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_atomic.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new content")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_missing_folder_is_a_request_error(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "r.html", "x")


def test_target_that_is_a_folder_is_a_request_error(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(RequestError, match="could not be written"):
        write_atomic(tmp_path / "out", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_permissions_follow_umask(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    write_atomic(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644 & ~umask
