"""Tests of dnoutcomes.cli._progress: slow steps are announced on stderr, quick ones are not."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from dnoutcomes.cli import main
from dnoutcomes.cli._progress import Progress


def test_quick_step_prints_nothing() -> None:
    out = io.StringIO()
    with Progress("analyze", after=0.5, stream=out).step("loading x"):
        pass
    assert out.getvalue() == ""


def test_slow_step_is_announced_then_timed() -> None:
    out = io.StringIO()
    began = time.perf_counter()
    with Progress("analyze", after=0.05, stream=out).step("loading x"):
        time.sleep(0.3)
    elapsed = time.perf_counter() - began
    lines = out.getvalue().splitlines()
    assert lines[0] == "dnoutcomes analyze: loading x…"
    prefix = "dnoutcomes analyze: loading x: done in "
    assert len(lines) == 2 and lines[1].startswith(prefix) and lines[1].endswith(" s")
    assert 0.3 <= float(lines[1][len(prefix) : -2]) <= elapsed + 0.05


def test_failed_slow_step_does_not_claim_done() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError), Progress("validate", after=0.02, stream=out).step("x"):
        time.sleep(0.1)
        raise ValueError("bad data")
    assert out.getvalue() == "dnoutcomes validate: x…\n"


def test_validate_announces_a_slow_check(
    clinic_a_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # any check slower than `after` is announced; 0 s makes every check "slow"
    import dnoutcomes.cli.validate as command

    monkeypatch.setattr(command, "Progress", lambda name: Progress(name, after=0.0))
    assert main(["validate", str(clinic_a_path)]) == 0
    out, err = capsys.readouterr()
    assert "Valid" in out
    assert err.splitlines()[0] == f"dnoutcomes validate: checking {clinic_a_path}…"
    assert err.splitlines()[1].startswith(f"dnoutcomes validate: checking {clinic_a_path}: done")
