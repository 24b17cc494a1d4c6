"""The Report object: lookups, per-row formats, and the shortcuts to its renderings."""

from __future__ import annotations

import pandas as pd
import pytest

from dnoutcomes.report.model import HIDDEN, Paragraph, Report, Section, Table
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import Provenance


def _report() -> Report:
    period = parse_period("2025-07")
    headline = Table(
        key="headline",
        title="Headline",
        frame=pd.DataFrame({"indicator": ["Episodes", "Share"], "now": [40, 55.5]}),
        formats={"now": "f1"},
        row_formats=("int", "pct"),
    )
    table1 = Table(
        key="table1",
        title="Table 1",
        frame=pd.DataFrame({"value": [12, 3.5], "spread": [40.0, 1.2]}),
        formats={"value": "f1", "spread": "f1"},
        row_formats=("int", None),
        row_format_columns=("value",),
    )
    return Report(
        title="R",
        period=period,
        previous=period.previous(),
        period_note="",
        site=None,
        reference="dn_only",
        comparator="dn_manual_exercise",
        min_cell=11,
        sections=(
            Section("a", "A", (Paragraph("x"), headline)),
            Section("b", "B", (table1,)),
        ),
        spc={},
        provenance=Provenance("0.1.0", "2025-08-01T00:00:00+00:00"),
    )


def test_lookups() -> None:
    report = _report()
    assert [t.key for t in report.tables()] == ["headline", "table1"]
    assert report.section("b").tables[0].key == "table1"
    assert report.section("a").paragraphs == (Paragraph("x"),)
    assert report.table("headline").header("now") == "now"
    with pytest.raises(KeyError):
        report.section("zzz")
    with pytest.raises(KeyError):
        report.table("zzz")


def test_cell_formats_by_row_and_column() -> None:
    report = _report()
    headline, table1 = report.table("headline"), report.table("table1")
    assert headline.cell_format(0, "now") == "int"
    assert headline.cell_format(1, "now") == "pct"
    assert table1.cell_format(0, "value") == "int"
    assert table1.cell_format(0, "spread") == "f1"  # the row format is for "value" only
    assert table1.cell_format(1, "value") == "f1"


def test_shortcuts_render_the_same_as_the_renderers() -> None:
    from dnoutcomes.report.render_html import render_html
    from dnoutcomes.report.render_json import report_document

    report = _report()
    assert report.to_html() == render_html(report)
    assert report.to_dict() == report_document(report)
    assert '<td class="num">55.5 %</td>' in report.to_html()
    assert HIDDEN == "[c]"


def test_notebook_view_is_an_iframe_holding_the_page() -> None:
    import html

    report = _report()
    view = report._repr_html_()
    assert view.startswith('<iframe title="R" srcdoc="')
    assert html.escape(report.to_html()) in view
    assert "<table" not in view  # the page is escaped inside srcdoc, not spilled out
