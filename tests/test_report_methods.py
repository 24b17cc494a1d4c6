"""The methods and provenance section."""

from __future__ import annotations

from typing import Any

from dnoutcomes.report._context import Context
from dnoutcomes.report.methods import methods_section
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import InputFile, Provenance


def _context(site: str | None = None) -> Context:
    period = parse_period("2025-Q3")
    none: Any = None
    return Context(
        none, none, none, none, period, period.previous(), site, "dn_only", "dn_manual_exercise", 11
    )


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
