"""Word rendering of a :class:`~dnoutcomes.present.table.Table` with python-docx."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dnoutcomes.report._atomic import write_atomic

if TYPE_CHECKING:
    from dnoutcomes.present.table import Table

__all__ = ["write_docx"]


def write_docx(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` to a new Word document at ``path`` (atomically)."""
    import docx
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = docx.Document()
    document.core_properties.title = table.caption
    caption = document.add_paragraph()
    caption.add_run(table.caption).bold = True
    headers = table.header_rows()
    rows, indents = table.cell_rows(), table.indents
    width = 1 + len(table.columns)
    n_rows = len(headers) + len(rows) + sum(1 for group, _ in table.groups() if group)
    grid = document.add_table(rows=n_rows, cols=width)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    right = [False, *(c.align == "right" for c in table.columns)]

    def put(r: int, c: int, text: str, *, bold: bool = False, indent: int = 0) -> None:
        cell = grid.cell(r, c)
        paragraph = cell.paragraphs[0]
        run = paragraph.add_run(text)
        run.bold = bold
        run.font.size = Pt(9)
        if right[c] and not bold:
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if indent:
            paragraph.paragraph_format.left_indent = Pt(10 * indent)

    r = 0
    for header in headers:
        c = 0
        for text, span in header:
            if span > 1:
                grid.cell(r, c).merge(grid.cell(r, c + span - 1))
            put(r, c, text, bold=True)
            c += span
        r += 1
    for group, members in table.groups():
        if group:
            grid.cell(r, 0).merge(grid.cell(r, width - 1))
            put(r, 0, group, bold=True)
            r += 1
        for i in members:
            for c, text in enumerate(rows[i]):
                put(r, c, text, indent=indents[i] if c == 0 else 0)
            r += 1
    for note in table.footnotes:
        run = document.add_paragraph().add_run(note)
        run.font.size = Pt(8)
    buffer = io.BytesIO()
    document.save(buffer)
    return write_atomic(path, buffer.getvalue())
