"""``dnoutcomes tables``: writes table1/results/safety in each format; bad input exits 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import docx
import pytest

import dnoutcomes.cli as cli
from dnoutcomes.cli import tables


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dnoutcomes.sample import generate

    return generate(episodes=200, seed=3).write(tmp_path_factory.mktemp("sample") / "export")


@pytest.mark.slow
def test_writes_the_three_tables_as_docx(
    sample_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "docx"
    assert cli.main(["tables", str(sample_path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["results.docx", "safety.docx", "table1.docx"]
    assert f"wrote {out / 'table1.docx'}" in capsys.readouterr().out
    document = docx.Document(str(out / "table1.docx"))
    assert document.paragraphs[0].text.startswith("Table 1. Baseline characteristics")
    assert document.tables[0].rows[1].cells[0].text == "Characteristic"
    results = docx.Document(str(out / "results.docx")).tables[0]
    assert results.rows[1].cells[-1].text == "Holm p"


@pytest.mark.slow
def test_run_through_its_own_parser(sample_path: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    tables.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["tables", str(sample_path), "--out", str(tmp_path / "o"), "--format", "md", "--tests"]
    )
    assert args.run(args) == 0
    folder = tmp_path / "o"
    assert sorted(p.name for p in folder.iterdir()) == ["results.md", "safety.md", "table1.md"]
    text = (folder / "table1.md").read_text(encoding="utf-8")
    assert "p-value" in text.splitlines()[2]
    assert "| Age, years |" in text
    assert "Difference (95% CI)" in (folder / "results.md").read_text(encoding="utf-8")


def test_unknown_arm_is_a_usage_error(
    clinic_a_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    code = cli.main(["tables", str(clinic_a_path), "--out", str(out), "--comparator", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown comparator arm 'x'" in err and "Traceback" not in err
    assert not out.exists()


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tables", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "cannot read the input" in capsys.readouterr().err


def test_bad_format_is_refused_by_argparse(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["tables", str(tmp_path), "--out", str(tmp_path), "--format", "rtf"])
    assert exc.value.code == 2
