"""The periodic quality-improvement report: build (data → :class:`Report`), then render it
as one self-contained HTML file, an Excel workbook of its tables, or a JSON document of the
numbers behind every table and chart."""

from __future__ import annotations

__all__: list[str] = []
