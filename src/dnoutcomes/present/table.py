"""A frozen, format-independent table: numbers in a tidy body, formatting at render.

A :class:`Table` holds what a manuscript table is made of — a body frame of numbers, the
columns to show (each a header label, an optional spanning header, and how its cells are
written from the body), row labels with indents and row groups, footnotes and a caption —
and renders the same content to Markdown, HTML, LaTeX (booktabs) and Word (python-docx).

Build one with :func:`dnoutcomes.present.table_one.table_one`,
:func:`dnoutcomes.present.result_tables.results_table` or
:func:`dnoutcomes.present.result_tables.safety_table`, or by hand.
"""

from __future__ import annotations

import html
import math
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dnoutcomes.errors import RequestError

__all__ = ["Column", "Table", "format_cell"]

_MINUS = "\u2212"


class _CellFormatter(string.Formatter):
    """``str.format`` with two additions: ``p`` formats a p-value, NaN gives an empty cell."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise _Missing
        if format_spec == "p":
            p = float(value)
            return "<0.001" if p < 0.001 else f"{p:.3f}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return super().format_field(value, format_spec).replace("-", _MINUS)
        return super().format_field(value, format_spec)


class _Missing(Exception):
    """A field of the template is missing: the cell is left empty."""


_FORMATTER = _CellFormatter()


def format_cell(template: str, row: Mapping[str, Any]) -> str:
    """Write one cell from a template and a body row.

    Parameters
    ----------
    template
        A :meth:`str.format` template naming body columns, e.g. ``"{mean:.1f} ({sd:.1f})"``;
        the extra spec ``p`` writes a p-value (``<0.001`` below 0.001, else three decimals).
    row
        The body row (column name → value).

    Returns
    -------
    str
        The text; empty when any field named is missing (NaN/None). Negative numbers use
        the minus sign (U+2212).

    Examples
    --------
    >>> format_cell("{est:.2f} ({lo:.2f} to {hi:.2f})", {"est": -0.5, "lo": -1.0, "hi": 0.1})
    '−0.50 (−1.00 to 0.10)'
    >>> format_cell("{p:p}", {"p": 0.0002}), format_cell("{p:p}", {"p": float("nan")})
    ('<0.001', '')
    """
    try:
        return _FORMATTER.vformat(template, (), row)
    except _Missing:
        return ""
    except KeyError as exc:
        raise RequestError(
            f"table cell template {template!r}: the body has no column {exc.args[0]!r}; "
            f"expected one of {sorted(row)}. Fix the Column's template."
        ) from None


@dataclass(frozen=True)
class Column:
    """One displayed column: its header, spanning header and how its cells are written.

    Attributes
    ----------
    label
        The header text.
    template
        How a cell is written from the body row (see :func:`format_cell`): one template, or
        a mapping from the row's ``kind`` (a body column) to a template; a kind missing from
        the mapping gives an empty cell.
    spanner
        A header written above this column and its neighbours with the same spanner
        (``""`` for none).
    align
        ``"left"`` or ``"right"``.
    """

    label: str
    template: str | Mapping[str, str]
    spanner: str = ""
    align: str = "right"

    def cell(self, row: Mapping[str, Any]) -> str:
        """The cell's text for one body row."""
        if isinstance(self.template, str):
            return format_cell(self.template, row)
        template = self.template.get(str(row.get("kind", "")), "")
        return format_cell(template, row) if template else ""


@dataclass(frozen=True)
class Table:
    """A table for a manuscript: numbers in ``body``, formatting only at render.

    Attributes
    ----------
    body
        One row per table row, numbers unrounded, with at least the columns ``label`` (the
        row label), ``indent`` (0 for a variable, 1 for a level under it) and ``group`` (the
        row group, ``""`` for none; rows of one group are consecutive); any other columns
        are read by the columns' templates (and ``kind`` selects a template per row).
    columns
        The displayed columns after the row-label column, in order.
    caption
        The caption ("Table 1. Baseline characteristics").
    stub_label
        The header of the row-label column.
    footnotes
        Sentences written under the table.

    Examples
    --------
    >>> import pandas as pd
    >>> body = pd.DataFrame({"label": ["Age, years"], "indent": [0], "group": [""],
    ...                      "mean": [48.25], "sd": [11.5]})
    >>> table = Table(body, (Column("All (n = 10)", "{mean:.1f} ({sd:.1f})"),), "Table 1.")
    >>> table.cells().to_dict(orient="records")
    [{'Characteristic': 'Age, years', 'All (n = 10)': '48.2 (11.5)'}]
    >>> print(table.to_markdown().splitlines()[4])
    | Age, years | 48.2 (11.5) |
    """

    body: pd.DataFrame
    columns: tuple[Column, ...]
    caption: str
    stub_label: str = "Characteristic"
    footnotes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        missing = [c for c in ("label", "indent", "group") if c not in self.body.columns]
        if missing:
            raise RequestError(
                f"Table: the body frame has no column(s) {missing}; expected 'label', "
                f"'indent' and 'group'; got {list(self.body.columns)}. Add them."
            )
        object.__setattr__(self, "body", self.body.reset_index(drop=True).copy())
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "footnotes", tuple(str(n) for n in self.footnotes if n))

    # ---- what every renderer reads -------------------------------------------------
    def cells(self) -> pd.DataFrame:
        """The displayed text: one row per body row, the stub column first.

        Returns
        -------
        pandas.DataFrame
            Columns: ``stub_label`` then each column's ``label`` (all ``str``); the stub is
            the row label without indent. The header labels must be unique for this view;
            renderers use :meth:`cell_rows` instead.
        """
        rows = self.cell_rows()
        names = [self.stub_label, *(c.label for c in self.columns)]
        return (
            pd.DataFrame(rows, columns=names)
            if len(set(names)) == len(names)
            else (pd.DataFrame(rows))
        )

    def cell_rows(self) -> list[list[str]]:
        """The displayed text as a list of rows (stub first), in body order."""
        records = self.body.to_dict(orient="records")
        return [
            [str(record["label"]), *(column.cell(_str_keys(record)) for column in self.columns)]
            for record in records
        ]

    def header_rows(self) -> list[list[tuple[str, int]]]:
        """The header as rows of ``(text, span)``: the spanners row (if any), then labels."""
        labels = [(self.stub_label, 1), *((c.label, 1) for c in self.columns)]
        if not any(c.spanner for c in self.columns):
            return [labels]
        spans: list[tuple[str, int]] = [("", 1)]
        for column in self.columns:
            if spans and len(spans) > 1 and spans[-1][0] == column.spanner and column.spanner:
                spans[-1] = (column.spanner, spans[-1][1] + 1)
            else:
                spans.append((column.spanner, 1))
        return [spans, labels]

    def groups(self) -> list[tuple[str, list[int]]]:
        """Consecutive row groups: ``(group, [row positions])`` in body order."""
        out: list[tuple[str, list[int]]] = []
        for i, group in enumerate(self.body["group"].astype(str)):
            if out and out[-1][0] == group:
                out[-1][1].append(i)
            else:
                out.append((group, [i]))
        return out

    @property
    def indents(self) -> list[int]:
        """The indent level of each row."""
        return [int(v) for v in self.body["indent"].fillna(0)]

    # ---- renderers ---------------------------------------------------------------------
    def to_markdown(self) -> str:
        """Render as a GitHub-flavoured Markdown table (spanners prefixed to the labels).

        Returns
        -------
        str
            The caption in bold, the table (indented rows start with two no-break spaces
            per level, a row group is a bold row), and the footnotes below.
        """
        heads = [self.stub_label] + [
            f"{c.spanner}: {c.label}" if c.spanner else c.label for c in self.columns
        ]
        aligns = ["---"] + ["---:" if c.align == "right" else "---" for c in self.columns]
        lines = [f"**{_md(self.caption)}**", "", _md_row(heads), "|" + "|".join(aligns) + "|"]
        rows, indents = self.cell_rows(), self.indents
        width = len(heads)
        for group, members in self.groups():
            if group:
                lines.append(_md_row([f"**{group}**", *[""] * (width - 1)]))
            for i in members:
                stub = "\u00a0\u00a0" * indents[i] + rows[i][0]
                lines.append(_md_row([stub, *rows[i][1:]]))
        if self.footnotes:
            lines.append("")
            lines.extend(_md(note) + "  " for note in self.footnotes)
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        """Render as a standalone ``<table>`` (escaped; booktabs-like inline rules).

        Returns
        -------
        str
            ``<table class="dnoutcomes-table">`` with ``<caption>``, a ``<thead>`` (spanners
            as ``colspan`` cells), one ``<tbody>`` per row group and the footnotes in
            ``<tfoot>``.
        """
        width = 1 + len(self.columns)
        parts = [
            '<table class="dnoutcomes-table" style="border-collapse:collapse">',
            f"<caption>{html.escape(self.caption)}</caption>",
            "<thead>",
        ]
        for header in self.header_rows():
            cells = "".join(
                f'<th colspan="{span}">{html.escape(text)}</th>'
                if span > 1
                else f"<th>{html.escape(text)}</th>"
                for text, span in header
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</thead>")
        rows, indents = self.cell_rows(), self.indents
        aligns = ["left", *(c.align for c in self.columns)]
        for group, members in self.groups():
            parts.append("<tbody>")
            if group:
                parts.append(
                    f'<tr class="group"><th colspan="{width}" style="text-align:left">'
                    f"{html.escape(group)}</th></tr>"
                )
            for i in members:
                tds: list[str] = []
                for j, (text, align) in enumerate(zip(rows[i], aligns, strict=True)):
                    pad = f";padding-left:{1.5 * indents[i]:g}em" if j == 0 and indents[i] else ""
                    tds.append(f'<td style="text-align:{align}{pad}">{html.escape(text)}</td>')
                parts.append("<tr>" + "".join(tds) + "</tr>")
            parts.append("</tbody>")
        if self.footnotes:
            notes = "".join(
                f'<tr><td colspan="{width}">{html.escape(n)}</td></tr>' for n in self.footnotes
            )
            parts.append(f"<tfoot>{notes}</tfoot>")
        parts.append("</table>")
        return "\n".join(parts) + "\n"

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_latex(self, *, label: str | None = None) -> str:
        """Render as a LaTeX ``table`` with booktabs rules (needs ``\\usepackage{booktabs}``).

        Parameters
        ----------
        label
            A ``\\label{...}`` to add after the caption.

        Returns
        -------
        str
            The ``table`` environment: ``\\toprule``, spanners with ``\\cmidrule``, the
            header, ``\\midrule``, row groups as ``\\multicolumn`` rows, indented rows with
            ``\\quad``, ``\\bottomrule`` and the footnotes. Every text is escaped.
        """
        from dnoutcomes.present._latex import render_latex

        return render_latex(self, label=label)

    def to_docx(self, path: str | os.PathLike[str]) -> Path:
        """Write the table to a Word document (python-docx), atomically.

        Parameters
        ----------
        path
            The ``.docx`` file to write; its folder must exist.

        Returns
        -------
        pathlib.Path
            The path written. The document holds the caption, one Word table (a header row
            for the spanners when any, with merged cells, then the labels; row groups as
            merged rows) and the footnotes.
        """
        from dnoutcomes.present._docx import write_docx

        return write_docx(self, path)


def _str_keys(record: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in record.items()}


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_md(c) if not c.startswith("**") else c for c in cells) + " |"
