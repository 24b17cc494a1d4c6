"""Every subcommand is reachable from ``dnoutcomes`` and has its row in the README; the
``tables`` and ``import`` commands end bad input with a message and exit 1 or 2, never a
traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

import dnoutcomes.cli as cli

EXAMPLES = REPO / "data" / "examples"


def _commands() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return list(action.choices)  # type: ignore[arg-type]


def test_every_module_registers_its_subcommand() -> None:
    commands = _commands()
    assert len(commands) == len(cli.SUBCOMMANDS)
    assert {"tables", "import"} <= set(commands)
    assert "import_" not in commands  # the module's name is not the command's


def test_every_subcommand_has_a_readme_row() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `dnoutcomes ([a-z_]+)", readme, flags=re.M)
    missing = [c for c in _commands() if c not in rows]
    assert missing == []


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnoutcomes.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_help_lists_tables_and_import_in_a_fresh_process() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    assert "tables" in proc.stdout and "import" in proc.stdout
    sub = _run("import", "--help")
    assert sub.returncode == 0 and "redcap" in sub.stdout and "fhir" in sub.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ("import", 2, "required: SOURCE"),
        ("import dicom", 2, "invalid choice: 'dicom'"),
        (
            "import fhir {missing}/bundle.json --mapping {fhir}/mapping.toml --out {tmp}/o",
            2,
            "bundle.json",
        ),
        (
            "import fhir {fhir}/bundle.json --mapping {missing}/map.toml --out {tmp}/o",
            2,
            "map.toml",
        ),
        (
            "import redcap --dictionary {missing}/dict.csv --records {redcap}/records.csv "
            "--mapping {redcap}/mapping.toml --out {tmp}/o",
            2,
            "dict.csv",
        ),
        ("tables {missing} --out {tmp}/o", 2, "cannot read the input"),
        ("tables {sample} --out {tmp}/o --format rtf", 2, "invalid choice"),
        ("tables {sample} --out {file}", 2, "not a folder"),
    ],
)
def test_bad_input_is_a_message_and_an_exit_code(
    args: str, code: int, message: str, tmp_path: Path
) -> None:
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    places = {
        "missing": str(tmp_path / "missing"),
        "fhir": str(EXAMPLES / "fhir"),
        "redcap": str(EXAMPLES / "redcap"),
        "tmp": str(tmp_path),
        "sample": str(REPO / "data" / "sample"),
        "file": str(tmp_path / "file.txt"),
    }
    proc = _run(*args.format(**places).split())
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_tables_on_data_that_break_the_contract_exit_1(tmp_path: Path) -> None:
    from loader_data import small_export, write_export

    tables = small_export()
    tables["outcomes"].loc[0, "value"] = "15"  # NPRS runs 0 to 10
    export = write_export(tables, tmp_path / "export")
    proc = _run("tables", str(export), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "outcomes.csv" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_import_of_the_fhir_example_through_the_installed_command(tmp_path: Path) -> None:
    out = tmp_path / "contract"
    proc = _run("import", "fhir", str(EXAMPLES / "fhir" / "bundle.json"), "--mapping",
                str(EXAMPLES / "fhir" / "mapping.toml"), "--out", str(out))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"dnoutcomes import fhir: wrote {out}" in proc.stdout
    assert (out / "episodes.csv").is_file() and (out / "import-report.json").is_file()
