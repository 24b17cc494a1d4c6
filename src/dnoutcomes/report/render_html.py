"""Render a :class:`~dnoutcomes.report.model.Report` as one self-contained HTML file.

Everything is inside the file: CSS inline, figures as inline SVG, no script, no font, no
image fetched from anywhere. A Content-Security-Policy meta tag
(``default-src 'none'; img-src data:; style-src 'unsafe-inline'``) makes any request to
another host impossible even if something slipped in, so the report renders the same
offline, in an email attachment or printed.
"""

from __future__ import annotations

import math
import numbers
import os
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from dnoutcomes.qi.cells import small_mark
from dnoutcomes.report._atomic import write_atomic
from dnoutcomes.report.model import HIDDEN, CellFormat, Report, Table

__all__ = ["CSP", "format_cell", "render_html", "write_html"]

#: The Content-Security-Policy of the report: nothing may be fetched, inline styles and
#: ``data:`` images only.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

#: How a missing (not estimable, not recorded) number is shown.
MISSING = "n/a"

#: How a hidden figure (it would reveal a small count) is shown.
HIDDEN_MARK = HIDDEN


def format_cell(value: Any, fmt: CellFormat | None) -> str:
    """Write one table cell for people.

    Parameters
    ----------
    value
        A number, a text (``"<11"``, :data:`~dnoutcomes.report.model.HIDDEN`, a label),
        ``None`` or NaN.
    fmt
        The column's format (see :data:`~dnoutcomes.report.model.CellFormat`); ``None``
        writes numbers with up to three significant decimals.

    Returns
    -------
    str
        ``n/a`` for a missing number, the text itself for a text (``<11``, ``[c]``, a
        label).
    """
    if value is None:
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return MISSING
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if fmt == "int":
        return f"{number:,.0f}"
    if fmt == "pct":
        return f"{number:.1f} %"
    if fmt == "p":
        return "<0.001" if number < 0.001 else f"{number:.3f}"
    if fmt in ("f0", "f1", "f2", "f3"):
        text = f"{number:.{int(fmt[1])}f}"
    elif fmt == "text":
        return str(value)
    elif number.is_integer():
        text = f"{number:.0f}"
    else:
        text = f"{number:.3g}" if abs(number) < 1 else f"{number:.2f}"
    if float(text) == 0:
        text = text.lstrip("-")
    return text.replace("-", "−")


def _is_numeric_cell(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith("<") or value == HIDDEN
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _table_rows(table: Table) -> list[list[dict[str, Any]]]:
    rows = []
    columns = list(table.frame.columns)
    frame = table.frame if table.html_rows is None else table.frame.head(table.html_rows)
    for i, record in enumerate(frame.itertuples(index=False, name=None)):
        cells = []
        for column, value in zip(columns, record, strict=True):
            cells.append(
                {
                    "text": format_cell(value, table.cell_format(i, column)),
                    "numeric": _is_numeric_cell(value),
                }
            )
        rows.append(cells)
    return rows


def _rows_left_out(table: Table) -> int:
    if table.html_rows is None:
        return 0
    return max(len(table.frame) - table.html_rows, 0)


def _has_hidden(table: Table) -> bool:
    values = table.frame.to_numpy().ravel().tolist()
    return any(v == HIDDEN for v in values if isinstance(v, str))


def _has_small(table: Table, marker: str) -> bool:
    values = table.frame.to_numpy().ravel().tolist()
    return any(v == marker for v in values if isinstance(v, str))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dnoutcomes.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["table_rows"] = _table_rows
    env.globals["has_hidden"] = _has_hidden
    env.globals["rows_left_out"] = _rows_left_out
    env.globals["has_small"] = _has_small
    env.globals["inline_svg"] = lambda svg: Markup(svg)  # built by figure_to_svg only
    return env


def render_html(report: Report) -> str:
    """Lay the report out as one HTML document.

    Parameters
    ----------
    report
        A built report.

    Returns
    -------
    str
        The HTML text. The same report gives the same text: nothing in it depends on the
        clock or on the machine (the run time is the report's own parameter).

    Notes
    -----
    Text from the data (site, therapist and arm labels) is HTML-escaped. Sections appear
    in the report's order with a table of contents; print styles keep tables and figures
    whole on a page and hide the contents list.
    """
    template = _environment().get_template("report.html.j2")
    small = small_mark(report.min_cell)
    return template.render(report=report, csp=CSP, small=small, hidden_mark=HIDDEN_MARK)


def write_html(report: Report, path: str | os.PathLike[str]) -> None:
    """Render ``report`` and write it to ``path`` atomically (UTF-8).

    Parameters
    ----------
    report
        A built report.
    path
        The HTML file to write; its folder must exist.

    Returns
    -------
    None

    Raises
    ------
    RequestError
        When the file cannot be written (see :func:`~dnoutcomes.report._atomic.write_atomic`).
    """
    write_atomic(path, render_html(report))
