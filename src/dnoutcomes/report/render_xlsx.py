"""Render a report's tables as an Excel workbook (``dnoutcomes report --xlsx``), one sheet
per table, for teams who work in spreadsheets."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.report._atomic import write_atomic
from dnoutcomes.report.model import HIDDEN, CellFormat, Report, Table

__all__ = ["render_xlsx", "sheet_name", "write_xlsx"]

_NUMBER_FORMATS: dict[str, str] = {
    "int": "#,##0",
    "pct": '0.0" %"',
    "f0": "0",
    "f1": "0.0",
    "f2": "0.00",
    "f3": "0.000",
    "p": "0.000",
}

_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(key: str, used: set[str]) -> str:
    """A legal, unique sheet name for a table key (at most 31 characters, no ``[]:*?/\\``).

    Parameters
    ----------
    key
        The table key.
    used
        Names already taken (lower-cased, as Excel compares them); the new name is added.

    Returns
    -------
    str
    """
    base = _BAD_SHEET_CHARS.sub("_", key)[:31] or "table"
    name = base
    number = 2
    while name.lower() in used:
        suffix = f"_{number}"
        name = base[: 31 - len(suffix)] + suffix
        number += 1
    used.add(name.lower())
    return name


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date()
    if isinstance(value, bool | int | float | str | dt.date):
        return value
    return str(value)


def _write_table(ws: Any, table: Table, min_cell: int) -> None:
    from openpyxl.styles import Alignment, Font

    ws.cell(row=1, column=1, value=table.title).font = Font(bold=True, size=12)
    columns = [str(c) for c in table.frame.columns]
    for j, column in enumerate(columns, start=1):
        cell = ws.cell(row=3, column=j, value=table.header(column))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        width = max(len(table.header(column)), 8)
        ws.column_dimensions[cell.column_letter].width = min(max(width + 2, 10), 48)
    for i, row in enumerate(table.frame.itertuples(index=False, name=None)):
        for j, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            cell = ws.cell(row=i + 4, column=j, value=_cell(value))
            fmt: CellFormat | None = table.cell_format(i, column)
            if fmt in _NUMBER_FORMATS and isinstance(cell.value, int | float):
                cell.number_format = _NUMBER_FORMATS[fmt]
            if isinstance(value, str) and (value.startswith("<") or value == HIDDEN):
                cell.alignment = Alignment(horizontal="right")
    last = len(table.frame) + 5
    notes = [table.note] if table.note else []
    notes.append(
        f'Counts below {min_cell} are shown as "<{min_cell}"; "{HIDDEN}" marks a figure '
        "from which one could be worked back."
    )
    for k, note in enumerate(notes):
        ws.cell(row=last + k, column=1, value=note).font = Font(italic=True)
    ws.freeze_panes = "A4"


def render_xlsx(report: Report) -> bytes:
    """Lay the report's tables out as an ``.xlsx`` workbook.

    Parameters
    ----------
    report
        A built report.

    Returns
    -------
    bytes
        The workbook. Its first sheet, ``about``, names the report, the period, the site,
        the suppression threshold and the provenance; then one sheet per table in
        reading order (the table's key as sheet name), numbers kept as numbers with a
        display format, ``<11`` and ``[c]`` as text.

    Notes
    -----
    The workbook's creation and modification times are the report's run time.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    about = book.active
    about.title = "about"
    run_time = dt.datetime.fromisoformat(report.provenance.run_time).replace(tzinfo=None)
    book.properties.created = run_time
    book.properties.modified = run_time
    book.properties.creator = f"dnoutcomes {report.provenance.package_version}"
    lines: list[tuple[str, Any]] = [
        ("Report", report.title),
        ("Period", f"{report.period.label} ({report.period.start} to {report.period.end})"),
        ("Compared with", report.previous.label),
        ("Site", report.site or "all sites"),
        ("Reference arm", report.reference),
        ("Comparator arm", report.comparator),
        ("Suppression threshold", report.min_cell),
        ("Run time", report.provenance.run_time),
        ("dnoutcomes version", report.provenance.package_version),
    ]
    lines.extend((f"SHA-256 {f.file}", f.sha256) for f in report.provenance.inputs)
    about.cell(row=1, column=1, value=report.title).font = Font(bold=True, size=13)
    for i, (name, value) in enumerate(lines, start=3):
        about.cell(row=i, column=1, value=name).font = Font(bold=True)
        about.cell(row=i, column=2, value=value)
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 70
    used = {"about"}
    for table in report.tables():
        ws = book.create_sheet(sheet_name(table.key, used))
        _write_table(ws, table, report.min_cell)
    stream = io.BytesIO()
    book.save(stream)
    return stream.getvalue()


def write_xlsx(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the workbook to ``path`` atomically.

    Parameters
    ----------
    report
        A built report.
    path
        The ``.xlsx`` file to write; its folder must exist.

    Returns
    -------
    None

    Raises
    ------
    RequestError
        When the file cannot be written.
    """
    write_atomic(path, render_xlsx(report))
