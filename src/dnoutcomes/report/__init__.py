"""The periodic quality-improvement report: build (data → :class:`Report`), then render it
as one self-contained HTML file, an Excel workbook of its tables, or a JSON document of the
numbers behind every table and chart.

>>> from dnoutcomes.report import build_report, write_html  # doctest: +SKIP
>>> report = build_report(dataset, period="2025-Q3", run_time="2025-10-01T09:00Z")
... # doctest: +SKIP
>>> write_html(report, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from dnoutcomes.report.build import build_report
from dnoutcomes.report.model import Figure, Paragraph, Report, Section, Table
from dnoutcomes.report.period import Period, default_period, parse_period, period_from_dates
from dnoutcomes.report.render_html import render_html, write_html
from dnoutcomes.report.render_json import render_json, report_document, write_json
from dnoutcomes.report.render_xlsx import render_xlsx, write_xlsx

__all__ = [
    "Figure",
    "Paragraph",
    "Period",
    "Report",
    "Section",
    "Table",
    "build_report",
    "default_period",
    "parse_period",
    "period_from_dates",
    "render_html",
    "render_json",
    "render_xlsx",
    "report_document",
    "write_html",
    "write_json",
    "write_xlsx",
]
