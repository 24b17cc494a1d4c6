"""Headline figures against an independent computation from clinic_a's CSV files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dnoutcomes.report.headline import headline_figures


@pytest.fixture(scope="module")
def clinic_a(clinic_a_dataset: Any) -> Any:
    return clinic_a_dataset


def _raw(clinic_a_path: Path, start: str, end: str) -> dict[str, float]:
    """The six figures straight from the CSVs, for episodes discharged in [start, end]."""
    episodes = pd.read_csv(clinic_a_path / "episodes.csv", parse_dates=["end_date"])
    chosen = episodes[episodes["end_date"].between(start, end)]["episode_id"]
    sessions = pd.read_csv(clinic_a_path / "sessions.csv")
    sessions = sessions[sessions["episode_id"].isin(chosen)]
    visits = sessions.groupby("episode_id").size().reindex(chosen, fill_value=0)
    outcomes = pd.read_csv(clinic_a_path / "outcomes.csv")
    outcomes = outcomes[outcomes["episode_id"].isin(chosen)]
    wide = outcomes.pivot_table(
        index="episode_id", columns=["measure", "timepoint"], values="value", aggfunc="first"
    )
    nprs = wide[[("nprs", "baseline"), ("nprs", "discharge")]].dropna()
    improvement = nprs[("nprs", "baseline")] - nprs[("nprs", "discharge")]
    complete = (
        wide[
            [("nprs", "baseline"), ("nprs", "discharge"), ("odi", "baseline"), ("odi", "discharge")]
        ]
        .notna()
        .all(axis=1)
    )
    events = pd.read_csv(clinic_a_path / "adverse_events.csv")
    dn = sessions[sessions["dn_performed"].astype(str).str.lower() == "true"]
    return {
        "episodes": len(chosen),
        "median_visits": float(visits.median()),
        "pairs": len(nprs),
        "responders": int((improvement >= 2).sum()),
        "mean_improvement": float(improvement.mean()),
        "dn_sessions": len(dn),
        "events": int(events["session_id"].isin(dn["session_id"]).sum()),
        "complete": int(complete.reindex(chosen, fill_value=False).sum()),
    }


@pytest.mark.parametrize(
    ("start", "end"), [("2025-07-01", "2025-09-30"), ("2024-01-01", "2024-12-31")]
)
def test_headline_matches_the_csv_files(
    clinic_a: Any, clinic_a_path: Path, start: str, end: str
) -> None:
    expected = _raw(clinic_a_path, start, end)
    ends = clinic_a.episodes["end_date"]
    ids = clinic_a.episodes.loc[(ends >= start) & (ends <= end), "episode_id"]
    got = headline_figures(clinic_a, ids)
    assert got.episodes == expected["episodes"]
    assert got.median_visits == expected["median_visits"]
    assert got.nprs_pairs == expected["pairs"]
    assert got.nprs_responders == expected["responders"]
    assert got.mean_nprs_improvement == pytest.approx(expected["mean_improvement"], rel=1e-12)
    assert got.dn_sessions == expected["dn_sessions"]
    assert got.adverse_events == expected["events"]
    assert got.complete_outcomes == expected["complete"]
    assert got.ae_rate_per_100 == pytest.approx(100 * expected["events"] / expected["dn_sessions"])
    assert got.responder_share == pytest.approx(expected["responders"] / expected["pairs"])


def test_not_recorded_and_empty(clinic_a: Any) -> None:
    import dataclasses

    without = dataclasses.replace(clinic_a, adverse_events=None)
    got = headline_figures(without, clinic_a.episodes["episode_id"].head(20))
    assert got.adverse_events is None and got.ae_rate_per_100 is None
    assert got.to_dict()["ae_rate_per_100"] is None
    empty = headline_figures(clinic_a, pd.Series([], dtype="string"))
    assert empty.episodes == 0
    assert empty.to_dict()["median_visits"] is None
    assert empty.to_dict()["responder_share"] is None
