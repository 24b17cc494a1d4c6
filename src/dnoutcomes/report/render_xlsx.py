"""Render a report's tables as an Excel workbook (``dnoutcomes report --xlsx``), one sheet
per table, for teams who work in spreadsheets."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.report._atomic import write_atomic
from dnoutcomes.report.model import HIDDEN, CellFormat, Report, Table

__all__ = ["FORMULA_STARTS", "put", "render_xlsx", "sheet_name", "write_xlsx"]

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


#: A text cell starting with one of these would be read as a formula by a spreadsheet.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@")


def put(ws: Any, row: int, column: int, value: Any) -> Any:
    """Write one cell; text is always text: a string starting with ``= + - @`` is stored as
    a string cell with Excel's quote prefix (shown as typed, never evaluated).

    Parameters
    ----------
    ws
        The worksheet.
    row, column
        1-based position.
    value
        The value (converted as the report's cells are).

    Returns
    -------
    openpyxl.cell.Cell
    """
    value = _cell(value)
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.value = value
        cell.data_type = "s"
        cell.quotePrefix = True
    else:
        cell.value = value
    return cell


def _deterministic(data: bytes, run_time: dt.datetime) -> bytes:
    """Rewrite the workbook's zip with every entry dated ``run_time`` and the document's
    modification time set to it (openpyxl stamps both with the clock)."""
    stamp = run_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    when = (
        max(run_time.year, 1980),
        run_time.month,
        run_time.day,
        run_time.hour,
        run_time.minute,
        run_time.second,
    )
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode("ascii") + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=when)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, content)
    return out.getvalue()


def _suppressed_comment(value: str, min_cell: int) -> Any:
    """The note on a suppressed cell (text, never a number a formula could add up)."""
    from openpyxl.comments import Comment

    if value == HIDDEN:
        text = (
            f"Suppressed: a count below {min_cell} could be worked back from this figure "
            "(complementary suppression)."
        )
    else:
        text = f"Suppressed: a count from 1 to {min_cell - 1}."
    return Comment(text, "dnoutcomes", width=220, height=60)


def _write_table(ws: Any, table: Table, min_cell: int) -> None:
    from openpyxl.styles import Alignment, Font

    put(ws, 1, 1, table.title).font = Font(bold=True, size=12)
    columns = [str(c) for c in table.frame.columns]
    for j, column in enumerate(columns, start=1):
        cell = put(ws, 3, j, table.header(column))
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        width = max(len(table.header(column)), 8)
        ws.column_dimensions[cell.column_letter].width = min(max(width + 2, 10), 48)
    for i, row in enumerate(table.frame.itertuples(index=False, name=None)):
        for j, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            cell = put(ws, i + 4, j, value)
            fmt: CellFormat | None = table.cell_format(i, column)
            if fmt in _NUMBER_FORMATS and isinstance(cell.value, int | float):
                cell.number_format = _NUMBER_FORMATS[fmt]
            if isinstance(value, str) and (value.startswith("<") or value == HIDDEN):
                cell.alignment = Alignment(horizontal="right")
                cell.comment = _suppressed_comment(value, min_cell)
    last = len(table.frame) + 5
    notes = [table.note] if table.note else []
    notes.append(
        f'Counts below {min_cell} are shown as "<{min_cell}"; "{HIDDEN}" marks a figure '
        "from which one could be worked back."
    )
    for k, note in enumerate(notes):
        put(ws, last + k, 1, note).font = Font(italic=True)
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
        display format, ``<11`` and ``[c]`` as text cells (so no sum or formula counts
        them) with a comment saying what each means, and the legend under the table.

    Notes
    -----
    The workbook's creation and modification times, and the date of every entry of its
    zip, are the report's run time: the same inputs and ``--run-time`` give the same bytes.
    Every text cell is text: one starting with ``= + - @`` (a file name such as
    ``=HYPERLINK(…).xlsx``) is stored with a quote prefix, never as a formula.
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
    put(about, 1, 1, report.title).font = Font(bold=True, size=13)
    for i, (name, value) in enumerate(lines, start=3):
        put(about, i, 1, name).font = Font(bold=True)
        put(about, i, 2, value)
    about.column_dimensions["A"].width = 28
    about.column_dimensions["B"].width = 70
    used = {"about"}
    for table in report.tables():
        ws = book.create_sheet(sheet_name(table.key, used))
        _write_table(ws, table, report.min_cell)
    stream = io.BytesIO()
    book.save(stream)
    return _deterministic(stream.getvalue(), run_time)


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
