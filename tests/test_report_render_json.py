"""JSON document: strict JSON, suppression kept, spc block passed through unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dnoutcomes.report.model import HIDDEN, Figure, Report, Section, Table
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.provenance import InputFile, Provenance
from dnoutcomes.report.render_json import SCHEMA_VERSION, render_json, report_document, write_json

SPC = {
    "i_chart": {
        "months": ["2025-01", "2025-02"],
        "values": [1.5, 2.0],
        "n": [20, 25],
        "centre": 1.75,
        "lcl": 0.4,
        "ucl": 3.1,
        "signals": {
            "outside_limits": [],
            "longest_run": 1,
            "longest_run_limit": 4,
            "crossings": 1,
            "crossings_limit": 0,
        },
    }
}


def _report() -> Report:
    period = parse_period("2025-07")
    table = Table(
        key="headline",
        title="Headline",
        frame=pd.DataFrame(
            {
                "indicator": ["Episodes", "Responders"],
                "this_period": [40, HIDDEN],
                "previous_period": ["<11", float("nan")],
                "when": [pd.Timestamp("2025-07-31"), pd.NaT],
            }
        ),
    )
    return Report(
        title="QI report",
        period=period,
        previous=period.previous(),
        period_note="note",
        site=None,
        reference="dn_only",
        comparator="dn_manual_exercise",
        min_cell=11,
        sections=(
            Section(
                "headline",
                "Headline",
                (
                    table,
                    Figure("fig", "A figure", "<svg></svg>", "alt", pd.DataFrame({"x": [1.0]})),
                ),
            ),
        ),
        spc=SPC,
        provenance=Provenance(
            "0.1.0", "2025-08-01T00:00:00+00:00", (InputFile("p", "p.csv", 1, "0" * 64),)
        ),
        extra={"safety": {"rate": float("inf"), "n": 3}},
        omitted=(("funnel", "the funnel module is not available"),),
    )


def test_document_keys_and_values() -> None:
    doc = report_document(_report())
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["period"] == {
        "label": "2025-07",
        "kind": "month",
        "start": "2025-07-01",
        "end": "2025-07-31",
    }
    assert doc["previous_period"]["label"] == "2025-06"
    assert doc["site"] is None
    rows = doc["tables"]["headline"]["rows"]
    assert rows[0] == {
        "indicator": "Episodes",
        "this_period": 40,
        "previous_period": "<11",
        "when": "2025-07-31",
    }
    assert rows[1] == {
        "indicator": "Responders",
        "this_period": "[c]",
        "previous_period": None,
        "when": None,
    }
    assert doc["figures"]["fig"] == {
        "title": "A figure",
        "section": "headline",
        "data": [{"x": 1.0}],
    }
    assert doc["spc"] == SPC
    # Every whole number of a results block is a count unless declared otherwise: 3 is small.
    assert doc["results"]["safety"] == {"rate": None, "n": "<11"}
    assert doc["omitted"] == [{"section": "funnel", "reason": "the funnel module is not available"}]
    assert doc["provenance"]["inputs"][0]["sha256"] == "0" * 64


def test_text_is_strict_json_and_stable(tmp_path: Path) -> None:
    text = render_json(_report())
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["title"] == "QI report"
    write_json(_report(), tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == text
