"""Excel workbook: one sheet per table, numbers as numbers, suppression as text."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from dnoutcomes.report.model import HIDDEN, Report, Section, Table
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import InputFile, Provenance
from dnoutcomes.report.render_xlsx import render_xlsx, sheet_name, write_xlsx


def _report() -> Report:
    period = parse_period("2025-Q3")
    caseload = Table(
        key="caseload_site",
        title="Episodes by site",
        frame=pd.DataFrame(
            {"site_id": ["north", "south"], "episodes": [40, "<11"], "pct": [88.9, HIDDEN]}
        ),
        formats={"episodes": "int", "pct": "pct"},
        labels={"site_id": "Site", "episodes": "Episodes", "pct": "% of episodes"},
        note="Discharged in the period.",
    )
    long_key = Table(key="x" * 40, title="Long", frame=pd.DataFrame({"a": [1.5]}))
    return Report(
        title="QI report",
        period=period,
        previous=period.previous(),
        period_note="",
        site="north",
        reference="dn_only",
        comparator="dn_manual_exercise",
        min_cell=11,
        sections=(Section("caseload", "Caseload", (caseload, long_key)),),
        spc={},
        provenance=Provenance(
            "0.1.0",
            "2025-10-01T09:00:00+00:00",
            (InputFile("patients", "patients.csv", 3, "ab" * 32),),
        ),
    )


def test_sheets_cells_and_formats(tmp_path: Path) -> None:
    write_xlsx(_report(), tmp_path / "t.xlsx")
    book = load_workbook(tmp_path / "t.xlsx")
    assert book.sheetnames == ["about", "caseload_site", "x" * 31]
    ws = book["caseload_site"]
    assert ws["A1"].value == "Episodes by site"
    assert [c.value for c in ws[3]] == ["Site", "Episodes", "% of episodes"]
    assert [c.value for c in ws[4]] == ["north", 40, 88.9]
    assert [c.value for c in ws[5]] == ["south", "<11", "[c]"]
    # suppressed cells are text with a comment; numbers are numbers, with the legend below
    assert ws["B5"].data_type == "s" and ws["C5"].data_type == "s"
    assert ws["B5"].comment.text == "Suppressed: a count from 1 to 10."
    assert "could be worked back" in ws["C5"].comment.text
    assert ws["B4"].data_type == "n" and ws["B4"].comment is None
    assert ws["A8"].value.startswith('Counts below 11 are shown as "<11"')
    assert ws["C4"].number_format == '0.0" %"'
    assert ws["A7"].value == "Discharged in the period."
    about = book["about"]
    values = {row[0].value: row[1].value for row in about.iter_rows(min_row=3) if row[0].value}
    assert values["Site"] == "north"
    assert values["SHA-256 patients.csv"] == "ab" * 32
    assert book.properties.created.isoformat().startswith("2025-10-01T09:00")


def test_render_returns_a_workbook() -> None:
    data = render_xlsx(_report())
    assert data[:2] == b"PK"
    assert load_workbook(io.BytesIO(data)).sheetnames[0] == "about"


def test_sheet_names_unique_and_legal() -> None:
    used: set[str] = set()
    assert sheet_name("a/b:c", used) == "a_b_c"
    assert sheet_name("A_B_C", used) == "A_B_C_2"
    assert len(sheet_name("y" * 50, used)) == 31
