"""The :class:`Report` object: every number, table, sentence and figure of a report.

:func:`dnoutcomes.report.build.build_report` makes it; the renderers
(:mod:`~dnoutcomes.report.render_html`, :mod:`~dnoutcomes.report.render_xlsx`,
:mod:`~dnoutcomes.report.render_json`) only lay it out. Everything inside has already been
through small-cell suppression: a count below the threshold is the text ``"<11"`` and a
figure that would reveal one is the text :data:`HIDDEN` (``"[c]"``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from dnoutcomes.qi.suppress import SECONDARY_MARK
from dnoutcomes.report.period import Period
from dnoutcomes.report.provenance import Provenance

__all__ = [
    "HIDDEN",
    "Block",
    "CellFormat",
    "Figure",
    "Paragraph",
    "Report",
    "Section",
    "Table",
]

#: The value of a figure hidden because it would reveal a small count: the mark of
#: :func:`dnoutcomes.qi.suppress_counts` (the Office for National Statistics' "[c]").
HIDDEN = SECONDARY_MARK

#: How a column's numbers are written for people: ``int`` (thousands separated), ``pct``
#: (a 0–100 number with one decimal and ``%``), ``f0``/``f1``/``f2``/``f3`` (fixed
#: decimals), ``p`` (p-value), ``text`` (as is).
CellFormat = Literal["int", "pct", "f0", "f1", "f2", "f3", "p", "text"]


@dataclass(frozen=True)
class Paragraph:
    """A sentence or paragraph of plain text (never HTML)."""

    text: str
    kind: Literal["paragraph"] = "paragraph"
    emphasis: bool = False


@dataclass(frozen=True, eq=False)
class Table:
    """A table of the report.

    Parameters
    ----------
    key
        Identifier: snake_case, unique in the report; the sheet name of the workbook and
        the key of the JSON document.
    title
        Caption for people.
    frame
        The cells, already suppressed: numbers stay numbers, a small count is ``"<11"``
        and a hidden figure is :data:`HIDDEN`.
    formats
        Column → :data:`CellFormat`; columns not named are written as they are.
    labels
        Column → header for people; columns not named show their key.
    note
        A sentence under the table (definitions, who was left out).
    row_formats
        One format per row (or ``None``) for tables whose rows hold different kinds of
        number (the headline figures); it wins over ``formats`` for that row's numbers.
    row_format_columns
        The columns ``row_formats`` applies to; empty for every column.
    html_rows
        Show at most this many rows in the HTML page (a listing that can run long); the
        workbook and the JSON document always hold every row. ``None``: every row.
    """

    key: str
    title: str
    frame: pd.DataFrame
    formats: Mapping[str, CellFormat] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    note: str = ""
    row_formats: tuple[CellFormat | None, ...] = ()
    row_format_columns: tuple[str, ...] = ()
    html_rows: int | None = None
    kind: Literal["table"] = "table"

    def header(self, column: str) -> str:
        """The header of ``column`` for people."""
        return self.labels.get(column, column)

    def cell_format(self, row: int, column: str) -> CellFormat | None:
        """The format of one cell: the row's format when set, else the column's."""
        applies = not self.row_format_columns or column in self.row_format_columns
        if applies and row < len(self.row_formats) and self.row_formats[row] is not None:
            return self.row_formats[row]
        return self.formats.get(column)


@dataclass(frozen=True, eq=False)
class Figure:
    """A figure of the report.

    Parameters
    ----------
    key
        Identifier, unique in the report.
    title
        Caption.
    svg
        The figure as an inline SVG document (no XML declaration, no external reference).
    alt
        A text description for screen readers.
    data
        The numbers drawn, as a tidy frame (already suppressed); in the JSON document.
    """

    key: str
    title: str
    svg: str
    alt: str
    data: pd.DataFrame | None = None
    kind: Literal["figure"] = "figure"


Block = Paragraph | Table | Figure


@dataclass(frozen=True)
class Section:
    """One section of the report: a title and its blocks, in reading order."""

    key: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def tables(self) -> tuple[Table, ...]:
        """The section's tables, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Table))

    @property
    def figures(self) -> tuple[Figure, ...]:
        """The section's figures, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Figure))

    @property
    def paragraphs(self) -> tuple[Paragraph, ...]:
        """The section's paragraphs, in order."""
        return tuple(b for b in self.blocks if isinstance(b, Paragraph))


@dataclass(frozen=True, eq=False)
class Report:
    """A built quality-improvement report.

    Parameters
    ----------
    title
        The report's title.
    period, previous
        The period reported and the one it is compared with.
    period_note
        How the period was chosen, in words (says so when it is the default).
    site
        The site reported on, or ``None`` for all sites.
    reference, comparator
        The arms compared.
    min_cell
        The suppression threshold.
    sections
        The sections, in reading order.
    spc
        The ``spc`` block of the JSON document: ``i_chart``, ``p_chart``, ``u_chart``.
    extra
        Further numbers for the JSON document, keyed by section (plain JSON values).
    provenance
        Package version, input digests, parameters and run time.
    omitted
        Sections left out, with the reason (kept out of the HTML, listed in the JSON).
    restricted
        Listings that name episodes (needling despite a contraindication, serious
        events): never part of the HTML, workbook or JSON; written only by
        :func:`~dnoutcomes.report.restricted.write_restricted` (``--restricted FILE``).
    """

    title: str
    period: Period
    previous: Period
    period_note: str
    site: str | None
    reference: str
    comparator: str
    min_cell: int
    sections: tuple[Section, ...]
    spc: Mapping[str, Any]
    provenance: Provenance
    extra: Mapping[str, Any] = field(default_factory=dict)
    omitted: tuple[tuple[str, str], ...] = ()
    restricted: tuple[Table, ...] = ()

    def to_html(self) -> str:
        """The report as one self-contained HTML document (see
        :func:`~dnoutcomes.report.render_html.render_html`)."""
        from dnoutcomes.report.render_html import render_html

        return render_html(self)

    def _repr_html_(self) -> str:
        """The report in a notebook: the page inside an iframe, so that its styles and its
        Content-Security-Policy stay inside it."""
        import html

        return (
            f'<iframe title="{html.escape(self.title)}" srcdoc="{html.escape(self.to_html())}" '
            'style="width:100%;height:720px;border:1px solid #ccc"></iframe>'
        )

    def to_dict(self) -> dict[str, Any]:
        """The numbers behind every table and chart as plain JSON values (see
        :func:`~dnoutcomes.report.render_json.report_document`)."""
        from dnoutcomes.report.render_json import report_document

        return report_document(self)

    def section(self, key: str) -> Section:
        """The section called ``key``.

        Raises
        ------
        KeyError
            When the report has no such section.
        """
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    def tables(self) -> Iterator[Table]:
        """Every table of the report, in reading order."""
        for section in self.sections:
            yield from section.tables

    def figures(self) -> Iterator[Figure]:
        """Every figure of the report, in reading order."""
        for section in self.sections:
            yield from section.figures

    def table(self, key: str) -> Table:
        """The table called ``key``.

        Raises
        ------
        KeyError
            When the report has no such table.
        """
        for table in self.tables():
            if table.key == key:
                return table
        raise KeyError(key)
