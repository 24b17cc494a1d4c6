"""The safety section: rates per arm against a count from the CSV files, "not recorded"
without the adverse-events table."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_report_build import load_quietly, write_export

from dnoutcomes.report._context import Context
from dnoutcomes.report.build import subset_dataset
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.safety import safety_section
from dnoutcomes.stats import analyze


def _context(data: Any) -> Context:
    period = parse_period("2025-Q3")
    ends = data.episodes["end_date"]
    current = subset_dataset(data, data.episodes.loc[period.contains(ends), "episode_id"])
    return Context(
        data,
        data,
        current,
        current,
        period,
        period.previous(),
        None,
        "dn_only",
        "dn_manual_exercise",
        11,
        analysis=analyze(current, require_primary=False),
    )


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    folder = tmp_path_factory.mktemp("clinic")
    write_export(folder)
    return folder, load_quietly(folder)


def test_rates_per_arm_against_the_csv_files(clinic: tuple[Path, Any]) -> None:
    folder, data = clinic
    section = safety_section(_context(data)).section
    rates = section.tables[0].frame.set_index("arm")
    episodes = pd.read_csv(folder / "episodes.csv", parse_dates=["end_date"])
    q3 = episodes[episodes["end_date"].between("2025-07-01", "2025-09-30")]
    sessions = pd.read_csv(folder / "sessions.csv")
    events = pd.read_csv(folder / "adverse_events.csv")
    for arm in ("dn_only", "dn_manual_exercise"):
        ids = q3.loc[q3["arm"] == arm, "episode_id"]
        dn = sessions[sessions["episode_id"].isin(ids) & sessions["dn_performed"]]
        count = int(events["session_id"].isin(dn["session_id"]).sum())
        assert rates.loc[arm, "dn_sessions"] == len(dn)
        if count >= 11:
            assert rates.loc[arm, "events"] == count
            assert rates.loc[arm, "rate_per_100"] == pytest.approx(100 * count / len(dn))
        else:
            assert rates.loc[arm, "events"] == "<11"
            assert rates.loc[arm, "rate_per_100"] == "[c]"
    words = " ".join(p.text for p in section.paragraphs)
    assert "No serious event" in words


def test_not_recorded_without_the_table(clinic: tuple[Path, Any]) -> None:
    _, data = clinic
    outcome = safety_section(_context(dataclasses.replace(data, adverse_events=None)))
    assert outcome.section is not None and outcome.section.tables == ()
    assert "Adverse events: not recorded." in outcome.section.paragraphs[0].text
    assert "0" not in outcome.section.paragraphs[0].text
    assert outcome.extra == {"safety": "not recorded"}
