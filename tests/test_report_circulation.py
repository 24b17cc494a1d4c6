"""Safe to circulate (issue 13): the report names no episode, session or patient (the
listings go to ``--restricted``), outputs never overwrite inputs or each other, every
xlsx text cell is text, and the workbook is byte-identical for the same inputs and run time."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from dnoutcomes.cli import main
from dnoutcomes.report.model import Report
from dnoutcomes.report.render_xlsx import render_xlsx

RUN_TIME = "2026-01-01T00:00:00Z"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _ids(folder: Path) -> set[str]:
    ids: set[str] = set()
    for table, column in (
        ("patients", "patient_id"),
        ("episodes", "episode_id"),
        ("sessions", "session_id"),
        ("adverse_events", "event_id"),
    ):
        ids |= set(pd.read_csv(folder / f"{table}.csv", dtype=str)[column].dropna())
    return ids


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_-]+", text))


def _xlsx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return "\n".join(book.read(n).decode("utf-8") for n in book.namelist())


@pytest.fixture(scope="module")
def clinic_a_run(clinic_a_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ca")
    args = [
        "report",
        str(clinic_a_path),
        "--out",
        str(out / "r.html"),
        "--data",
        str(out / "r.json"),
        "--xlsx",
        str(out / "r.xlsx"),
        "--restricted",
        str(out / "restricted.json"),
        "--run-time",
        RUN_TIME,
    ]
    assert main(args) == 0
    return out


@pytest.mark.slow
def test_report_names_no_identifier_and_restricted_does(
    clinic_a_run: Path, clinic_a_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _ids(clinic_a_path)
    html = (clinic_a_run / "r.html").read_text(encoding="utf-8")
    document = (clinic_a_run / "r.json").read_text(encoding="utf-8")
    book = _xlsx_text((clinic_a_run / "r.xlsx").read_bytes())
    for name, text in (("html", html), ("json", document), ("xlsx", book)):
        assert not (_tokens(text) & ids), name
    # On main at f79030f the page listed 7 episode ids after "listed for review".
    assert "listed for review" not in html
    assert "--restricted FILE" in html
    restricted = json.loads((clinic_a_run / "restricted.json").read_text(encoding="utf-8"))
    assert restricted["not_for_circulation"].startswith("NOT FOR CIRCULATION")
    rows = restricted["listings"]["safety_contraindicated"]["rows"]
    assert len(rows) == 7 and {r[0] for r in rows} <= ids


@pytest.mark.slow
def test_xlsx_is_byte_identical_and_file_name_formula_is_text(clinic_a_run: Path) -> None:
    from test_report_build import load_quietly

    from dnoutcomes.report.build import build_report

    data = load_quietly(SAMPLE)
    report: Report = build_report(data, period="2025-Q3", run_time=RUN_TIME, figures=False)
    first = render_xlsx(report)
    assert render_xlsx(report) == first
    # No clock inside: every zip entry and the document's modification time are the run
    # time (on main at f79030f both were the time of writing).
    with zipfile.ZipFile(io.BytesIO(first)) as book:
        assert {i.date_time for i in book.infolist()} == {(2026, 1, 1, 0, 0, 0)}
        core = book.read("docProps/core.xml").decode("utf-8")
    assert re.search(r"<dcterms:modified[^>]*>2026-01-01T00:00:00Z<", core)
    evil = '=HYPERLINK("http://x.invalid","click").xlsx'
    inputs = tuple(
        dataclasses.replace(f, file=f"{prefix}{evil}")
        for f, prefix in zip(report.provenance.inputs, ["", "+", "-", "@"] * 9, strict=False)
    )
    report = dataclasses.replace(
        report, provenance=dataclasses.replace(report.provenance, inputs=inputs)
    )
    data_xlsx = render_xlsx(report)
    assert "<f>" not in _xlsx_text(data_xlsx)
    about = load_workbook(io.BytesIO(data_xlsx))["about"]
    texts = [c.value for row in about.iter_rows() for c in row if isinstance(c.value, str)]
    assert sum(evil in t for t in texts) == len(inputs)


def _run(args: list[str]) -> int:
    return main(["report", *args, "--run-time", RUN_TIME])


@pytest.mark.parametrize(
    "outputs",
    [
        ["--out", "{src}/patients.csv"],
        ["--out", "{src}/episodes.parquet"],
        ["--out", "{src}/adverse_events.csv"],
        ["--out", "{tmp}/r.html", "--data", "{tmp}/r.html"],
        ["--out", "{tmp}/r.html", "--xlsx", "{tmp}/./r.html"],
        ["--out", "{tmp}/r.html", "--restricted", "{tmp}/r.html"],
        ["--out", "{tmp}"],
        ["--out", "{tmp}/missing/r.html"],
    ],
)
def test_outputs_that_would_destroy_inputs_are_refused(
    outputs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "export"
    shutil.copytree(SAMPLE, src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    args = [str(src), *[o.format(src=src, tmp=tmp_path) for o in outputs]]
    assert _run(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "loading" not in err  # refused before any work
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    assert not (tmp_path / "r.html").exists()


def test_input_workbook_is_refused_as_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = tmp_path / "export.xlsx"
    book.write_bytes(b"not really a workbook")
    assert _run([str(book), "--out", str(tmp_path / "r.html"), "--xlsx", str(book)]) == 2
    assert book.read_bytes() == b"not really a workbook"
    assert "is an input of this run" in capsys.readouterr().err


def test_unwritable_folder_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        assert _run([str(SAMPLE), "--out", str(locked / "r.html")]) == 2
        assert "cannot be written to" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
