"""``dnoutcomes report``: files written, progress on stderr, exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from test_report_build import write_export

from dnoutcomes.cli import main

RUN_TIME = "2025-10-06T08:00:00Z"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clinic")
    write_export(folder)
    return folder


@pytest.mark.slow
def test_writes_all_outputs_and_is_reproducible(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "report",
        str(export),
        "--out",
        str(tmp_path / "a.html"),
        "--period",
        "2025-Q3",
        "--data",
        str(tmp_path / "a.json"),
        "--xlsx",
        str(tmp_path / "a.xlsx"),
        "--run-time",
        RUN_TIME,
    ]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "Report of 2025-Q3 (2025-07-01 to 2025-09-30, all sites) written to" in out
    assert "Period asked for: 2025-Q3." in out
    for step in (
        "loading",
        "building the headline figures",
        "building the control charts",
        "writing",
        "done",
    ):
        assert f"dnoutcomes report: {step}" in err
    assert "Traceback" not in err
    document = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert document["period"]["label"] == "2025-Q3"
    assert document["provenance"]["run_time"] == "2025-10-06T08:00:00+00:00"
    assert set(document["spc"]) == {"i_chart", "p_chart", "u_chart"}
    book = load_workbook(tmp_path / "a.xlsx")
    assert book.sheetnames[0] == "about" and "headline" in book.sheetnames
    # Same inputs and run time: the same bytes.
    args[3] = str(tmp_path / "b.html")
    assert main(args[:6] + ["--run-time", RUN_TIME]) == 0
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "a.json", "a.xlsx", "b.html"]


@pytest.mark.slow
def test_default_period_is_said_on_the_terminal(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "report",
            str(export),
            "--out",
            str(tmp_path / "r.html"),
            "--site",
            "north",
            "--run-time",
            RUN_TIME,
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "last complete quarter with discharges in the data: 2025-Q2" in out
    assert "site north" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--site", "west"], "unknown site 'west'"),
        (["--period", "2023-Q1"], "no episode was discharged in 2023-Q1"),
        (["--period", "2025-Q7"], "expected a quarter such as 2025-Q3"),
        (["--from", "2025-07-01"], "both dates are needed"),
        (["--from", "2025-09-01", "--to", "2025-07-01"], "must not be after"),
        (["--run-time", "soon"], "--run-time: expected an ISO 8601"),
        (["--reference", "usual_care"], "unknown reference arm 'usual_care'"),
    ],
)
def test_request_errors_exit_2_without_traceback(
    export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    code = main(["report", str(export), "--out", str(tmp_path / "r.html"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_unreadable_dataset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot read the input" in err and "Traceback" not in err


def test_invalid_dataset_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_export(tmp_path / "bad")
    patients = tmp_path / "bad" / "patients.csv"
    text = patients.read_text(encoding="utf-8").splitlines()
    text[1] = text[1].replace(",female,", ",woman,", 1).replace(",male,", ",man,", 1)
    patients.write_text("\n".join(text) + "\n", encoding="utf-8")
    code = main(["report", str(tmp_path / "bad"), "--out", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_missing_output_folder_exits_2_before_any_work(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(export), "--out", str(tmp_path / "no" / "r.html")])
    err = capsys.readouterr().err
    assert code == 2
    assert "does not exist" in err
    assert "loading" not in err


@pytest.mark.slow
def test_quarantine_reports_the_rejected_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_export(tmp_path / "bad")
    patients = tmp_path / "bad" / "patients.csv"
    lines = patients.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace(",female,", ",woman,", 1).replace(",male,", ",man,", 1)
    patients.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(
        [
            "report",
            str(tmp_path / "bad"),
            "--out",
            str(tmp_path / "r.html"),
            "--period",
            "2025-Q3",
            "--quarantine",
            "--data",
            str(tmp_path / "r.json"),
            "--run-time",
            RUN_TIME,
        ]
    )
    assert code == 0
    document = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    rows = {r["table"]: r for r in document["tables"]["data_quality_rows"]["rows"]}
    # One patient rejected, and with it their episode's rows: shown as <11, never as 1.
    assert rows["patients"]["rejected"] == "<11"
    assert document["provenance"]["parameters"]["mode"] == "quarantine"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "rows were rejected (quarantine mode)" in html


@pytest.mark.slow
def test_byte_identical_across_processes_and_hash_seeds(export: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "12345"):
        out = tmp_path / f"r{seed}.html"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dnoutcomes.cli",
                "report",
                str(export),
                "--out",
                str(out),
                "--period",
                "2025-Q3",
                "--run-time",
                RUN_TIME,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
