"""HTML rendering: self-contained, escaped, suppression marks explained, deterministic."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest

from dnoutcomes.report.model import HIDDEN, Figure, Paragraph, Report, Section, Table
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import InputFile, Provenance
from dnoutcomes.report.render_html import CSP, format_cell, render_html, write_html


def _report(site: str | None = "north") -> Report:
    import matplotlib.pyplot as plt

    from dnoutcomes.report._svg import figure_to_svg

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [2, 1, 3])
    table = Table(
        key="caseload_site",
        title="Episodes by site",
        frame=pd.DataFrame(
            {"site_id": ["<b>north</b>", "south"], "episodes": [40, "<11"], "pct": [88.9, HIDDEN]}
        ),
        formats={"episodes": "int", "pct": "pct"},
        labels={"site_id": "Site", "episodes": "Episodes", "pct": "% of episodes"},
        note="Episodes discharged in the period.",
    )
    period = parse_period("2025-Q3")
    return Report(
        title="Dry needling quality-improvement report",
        period=period,
        previous=period.previous(),
        period_note="Period asked for: 2025-Q3.",
        site=site,
        reference="dn_only",
        comparator="dn_manual_exercise",
        min_cell=11,
        sections=(
            Section(
                key="caseload",
                title="Caseload",
                blocks=(Paragraph("Two sites & one <script>."), table),
            ),
            Section(
                key="charts",
                title="Control charts",
                blocks=(
                    Figure(
                        key="i_chart",
                        title="I chart",
                        svg=figure_to_svg(fig, key="i"),
                        alt="An I chart",
                    ),
                ),
            ),
        ),
        spc={},
        provenance=Provenance(
            package_version="0.1.0",
            run_time="2025-10-01T09:00:00+00:00",
            inputs=(InputFile("patients", "patients.csv", 3, "ab" * 32),),
            parameters=(("min_cell", "11"),),
        ),
    )


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (1234.0, "int", "1,234"),
        (12.345, "pct", "12.3 %"),
        (-0.61, "f1", "−0.6"),
        (-0.01, "f1", "0.0"),
        (0.0004, "p", "<0.001"),
        (0.0431, "p", "0.043"),
        (float("nan"), "f1", "n/a"),
        (None, "f1", "n/a"),
        ("<11", "int", "<11"),
        (HIDDEN, "pct", "[c]"),
        (float("inf"), "f1", "∞"),
        (3.0, None, "3"),
        (2.345678, None, "2.35"),
    ],
)
def test_format_cell(value: object, fmt: str | None, expected: str) -> None:
    assert format_cell(value, fmt) == expected  # type: ignore[arg-type]


def test_html_is_self_contained_and_escaped() -> None:
    html = render_html(_report())
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in html
    assert "<script" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;north&lt;/b&gt;" in html
    # No reference to any other host: every src/href is internal (#…) or data:.
    for attr in re.findall(r'\b(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("#", "data:")), attr
    assert "@import" not in html and "url(http" not in html
    assert "<svg" in html and 'id="fig-i"' in html


def test_sections_tables_and_suppression_marks() -> None:
    html = render_html(_report())
    assert '<section id="caseload">' in html and '<section id="charts">' in html
    assert '<a href="#caseload">Caseload</a>' in html
    assert "<caption>Episodes by site</caption>" in html
    assert '<td class="num">40</td><td class="num">88.9 %</td>' in html
    assert '<td class="num">&lt;11</td><td class="num">[c]</td>' in html
    assert "&lt;11: fewer than 11." in html
    assert "[c]: hidden so that a count below 11 cannot be worked back." in html
    assert "site north" in html
    assert "all sites" in render_html(_report(site=None))


def test_same_report_same_bytes(tmp_path: Path) -> None:
    write_html(_report(), tmp_path / "a.html")
    write_html(_report(), tmp_path / "b.html")
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()


def test_print_styles_present() -> None:
    html = render_html(_report())
    assert "@media print" in html and "break-inside: avoid" in html


def test_period_dates_in_header() -> None:
    html = render_html(_report())
    assert f"Episodes discharged {dt.date(2025, 7, 1).isoformat()} to 2025-09-30 (2025-Q3)" in html
    assert "compared with 2025-Q2" in html


def test_long_listing_is_cut_in_the_page_only() -> None:
    import dataclasses

    from dnoutcomes.report.render_json import report_document

    report = _report(site=None)
    listing = Table(
        key="listing",
        title="Listing",
        frame=pd.DataFrame({"episode_id": [f"E{i}" for i in range(5)]}),
        html_rows=2,
    )
    report = dataclasses.replace(report, sections=(Section("l", "L", (listing,)),))
    html = render_html(report)
    assert "<td>E1</td>" in html and "<td>E2</td>" not in html
    assert "The first 2 of 5 rows; every row is in the workbook (--xlsx)" in html
    assert len(report_document(report)["tables"]["listing"]["rows"]) == 5
