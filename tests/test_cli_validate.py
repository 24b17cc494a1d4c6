"""``dnoutcomes validate``: text and JSON reports, exit codes 0 / 1 / 2, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from loader_data import small_export, write_export

from dnoutcomes.cli import main


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_clinic_a_is_valid_and_counted(
    clinic_a_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run([str(clinic_a_path)], capsys)
    assert code == 0
    assert (
        "Valid: 600 patients, 600 episodes, 3,819 sessions, 10,818 outcome rows, "
        "698 adverse events." in out
    )
    assert "contraindicated_needling (204)" in out
    assert "  sessions             3,819     3,819         0" in out


def test_clinic_a_json_document(clinic_a_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run([str(clinic_a_path), "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["valid"] is True
    assert {k: v["loaded"] for k, v in doc["tables"].items()} == {
        "patients": 600,
        "episodes": 600,
        "sessions": 3819,
        "outcomes": 10818,
        "adverse_events": 698,
    }
    for counts in doc["tables"].values():
        assert counts["read"] == counts["loaded"] + counts["rejected"]
    assert doc["problems"] == []
    assert len(doc["warnings"]) == 204
    assert set(doc["warnings"][0]) >= {"table", "line", "column", "rule", "message"}


def _broken(tmp_path: Path) -> Path:
    tables = small_export()
    tables["patients"].loc[2, "sex"] = "f"
    tables["outcomes"].loc[0, "value"] = "11"
    tables["outcomes"].loc[1, "value"] = "101"
    return write_export(tables, tmp_path, "csv")


def test_invalid_text_groups_problems_by_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run([str(_broken(tmp_path)), "--examples", "1"], capsys)
    assert code == 1
    assert err == ""
    assert "Invalid: 3 problems; nothing was loaded (strict mode)." in out
    assert "  out_of_range (2)\n    outcomes.csv line 2, column value:" in out
    assert "    … and 1 more (see --json)" in out
    assert "  unknown_category (1)" in out


def test_invalid_json_strict_and_quarantine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(_broken(tmp_path))
    code, out, _ = _run([path, "--json"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False
    assert doc["tables"]["patients"] == {
        "read": 3,
        "loaded": 0,
        "rejected": 3,
        "rows_with_problems": 1,
    }
    assert [(p["table"], p["line"], p["column"], p["rule"]) for p in doc["problems"]] == [
        ("patients", 4, "sex", "unknown_category"),
        ("outcomes", 2, "value", "out_of_range"),
        ("outcomes", 3, "value", "out_of_range"),
    ]
    code, out, _ = _run([path, "--json", "--quarantine"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False
    # P3 and everything that hangs on it: E3, S5-S6, E3's 4 outcomes, AE2
    assert doc["tables"]["patients"] == {
        "read": 3,
        "loaded": 2,
        "rejected": 1,
        "rows_with_problems": 1,
    }
    assert doc["tables"]["outcomes"]["rejected"] == 6
    assert doc["tables"]["adverse_events"]["rejected"] == 1
    rules = {p["rule"] for p in doc["problems"]}
    assert rules == {"unknown_category", "out_of_range", "rejected_parent"}


@pytest.mark.parametrize("as_json", [False, True])
def test_unreadable_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    path = write_export(small_export(), tmp_path, "csv")
    (path / "sessions.csv").write_bytes("session_id\nS1é\n".encode("latin-1"))
    code, out, err = _run([str(path)] + (["--json"] if as_json else []), capsys)
    assert code == 2
    if as_json:
        doc = json.loads(out)
        assert doc["valid"] is False and doc["problems"][0]["rule"] == "unreadable"
        assert "line 2 is not UTF-8" in doc["problems"][0]["message"]
    else:
        assert "cannot read the input" in err and "line 2 is not UTF-8" in err
        assert "Traceback" not in err


def test_missing_path_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2
    assert "PATH" in capsys.readouterr().err


def test_console_entry_point_has_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("")  # an empty file and nothing else
    proc = subprocess.run(
        [sys.executable, "-m", "dnoutcomes.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "cannot read the input" in proc.stderr
