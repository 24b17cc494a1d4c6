"""The descriptive sections' pieces: headline frame, builder order, methods and provenance."""

from __future__ import annotations

from typing import Any

import numpy as np

from dnoutcomes.report._context import Context
from dnoutcomes.report.headline import Headline
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import InputFile, Provenance
from dnoutcomes.report.sections import (
    _headline_frame,
    _plain_number,
    all_builders,
    methods_section,
)


def _context(site: str | None = None) -> Context:
    period = parse_period("2025-Q3")
    none: Any = None
    return Context(
        none, none, none, none, period, period.previous(), site, "dn_only", "dn_manual_exercise", 11
    )


def test_headline_frame_counts_and_shares() -> None:
    now = Headline(40, 6.0, 30, 21, 2.5, 100, 25, 28)
    then = Headline(0, float("nan"), 0, 0, float("nan"), 0, None, 0)
    frame = _headline_frame((now, then))
    assert frame.loc["this_period", "responder_pct"] == 70.0
    assert frame.loc["this_period", "complete_pct"] == 70.0
    # One period without the adverse-events table: no rate for either period.
    assert np.isnan(frame.loc["this_period", "ae_rate"])
    assert frame["episodes"].dtype == np.int64
    assert np.isnan(frame.loc["previous_period", "responder_pct"])


def test_plain_numbers() -> None:
    assert _plain_number(np.float64(72.0), "int") == 72
    assert isinstance(_plain_number(np.float64(72.0), "int"), int)
    assert _plain_number(np.float64(2.5), "f1") == 2.5
    assert _plain_number("[c]", "int") == "[c]"


def test_builders_follow_the_issue_order() -> None:
    assert [key for key, _, _ in all_builders()] == [
        "headline",
        "data_quality",
        "flow",
        "caseload",
        "table1",
        "comparisons",
        "safety",
        "control_charts",
        "funnel",
    ]


def test_methods_and_provenance() -> None:
    provenance = Provenance(
        "0.1.0",
        "2025-10-01T09:00:00+00:00",
        (InputFile("patients", "patients.csv", 10, "a" * 64),),
        (("min_cell", "11"), ("site", "north")),
    )
    section = methods_section(_context("north"), provenance, [("funnel", "no therapist")])
    text = " ".join(p.text for p in section.paragraphs)
    assert (
        "2025-07-01 to 2025-09-30, compared with 2025-04-01 to 2025-06-30, at site north." in text
    )
    assert "Left out of this report: funnel (no therapist)." in text
    assert section.tables[0].frame.loc[0, "sha256"] == "a" * 64
    params = dict(section.tables[1].frame.itertuples(index=False, name=None))
    assert params["run time"] == "2025-10-01T09:00:00+00:00"
    assert params["dnoutcomes version"] == "0.1.0" and params["site"] == "north"
