"""The per-site control charts of a report of every site (table ``spc_sites``, the
``spc_by_site`` block of ``--data``, the "Site …:" sentences) give no count of people
away.

What they publish is not a count of patients, episodes or events: months outside the
limits (names), the longest run and the number of crossings of the centre line and their
limits (numbers of months). But months are bounded by episodes: a site's run statistics
bound its months with data, so its episodes, from below (8 episodes in 8 months: the
crossings' limit says 6 or 7 months); naming a month outside the limits says the site had
episodes there, and how a few of them fared. So a site whose charts describe fewer than
``min_cell`` episodes is not charted, a month outside the limits is named only when its
point describes ``min_cell`` or more episodes (and, for the P chart, responders and
non-responders), and the reason a site's charts could not be computed has its counts
through the threshold.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.qi.indicators import qi_charts
from dnoutcomes.report._chart_unit import chart_frame
from dnoutcomes.report.build import build_report
from dnoutcomes.report.render_json import render_json

pytestmark = pytest.mark.slow

MIN_CELL = 11


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four sites over two years; ``one`` keeps a single episode, ``eight`` eight episodes
    in eight different months."""
    from dnoutcomes.sample import generate

    whole = tmp_path_factory.mktemp("whole")
    generate(episodes=2400, seed=3, sites=4, months=24, start="2024-01-01").write(whole, force=True)
    raw = {p.stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in whole.glob("*.csv")}
    site_of = raw["patients"].set_index("patient_id")["site_id"]
    episodes = raw["episodes"].assign(
        site_id=raw["episodes"]["patient_id"].map(site_of),
        month=raw["episodes"]["end_date"].str[:7],
    )
    sites = sorted(episodes["site_id"].unique())
    one, eight = sites[-1], sites[-2]
    keep = set(episodes.loc[~episodes["site_id"].isin([one, eight]), "episode_id"])
    keep |= set(episodes.loc[episodes["site_id"] == one, "episode_id"].head(1))
    spread = episodes.loc[episodes["site_id"] == eight].drop_duplicates("month").head(8)
    keep |= set(spread["episode_id"])
    folder = tmp_path_factory.mktemp("cut")
    kept = raw["episodes"][raw["episodes"]["episode_id"].isin(keep)]
    kept.to_csv(folder / "episodes.csv", index=False)
    raw["patients"][raw["patients"]["patient_id"].isin(kept["patient_id"])].to_csv(
        folder / "patients.csv", index=False
    )
    sessions = raw["sessions"][raw["sessions"]["episode_id"].isin(keep)]
    sessions.to_csv(folder / "sessions.csv", index=False)
    raw["outcomes"][raw["outcomes"]["episode_id"].isin(keep)].to_csv(
        folder / "outcomes.csv", index=False
    )
    events = raw["adverse_events"]
    events[events["session_id"].isin(sessions["session_id"])].to_csv(
        folder / "adverse_events.csv", index=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dnoutcomes.load(folder)
        report = build_report(
            data, period="2025-Q4", min_cell=MIN_CELL, run_time="2026-01-01", figures=False
        )
    return {
        "data": data,
        "report": report,
        "document": json.loads(render_json(report)),
        "html": report.to_html(),
        "one": one,
        "eight": eight,
    }


def _rows(built: dict[str, Any]) -> list[dict[str, Any]]:
    return built["document"]["tables"]["spc_sites"]["rows"]


def test_a_site_of_fewer_than_min_cell_episodes_is_not_charted(built: dict[str, Any]) -> None:
    eight = built["eight"]
    assert eight not in {row["site_id"] for row in _rows(built)}
    assert eight not in built["document"]["results"]["spc_by_site"]
    words = " ".join(p.text for p in built["report"].section("control_charts").paragraphs)
    assert f"Site {eight}: not charted" in words
    # the other sites keep their rows
    assert {row["site_id"] for row in _rows(built)} >= {
        s for s in built["data"].episodes["site_id"].unique() if s not in (eight, built["one"])
    }


def test_the_reason_a_site_cannot_be_charted_hides_its_counts(built: dict[str, Any]) -> None:
    # one episode: "… need at least 2 months with an episode …; got 1." before the fix
    words = " ".join(p.text for p in built["report"].section("control_charts").paragraphs)
    assert f"site {built['one']} could not be computed" in words
    assert "got 1." not in built["html"]
    assert f"got <{MIN_CELL}." in words


def test_no_month_of_a_small_point_is_named(built: dict[str, Any]) -> None:
    data, document = built["data"], built["document"]
    first, last = chart_window_of(built)
    named_any = 0
    for site, charts in document["results"]["spc_by_site"].items():
        frame = chart_frame(qi_charts(data, site=site, start=first, end=last)).set_index("month")
        for key, block in charts.items():
            for month in block["outside_limits"]:
                named_any += 1
                assert frame.loc[month, "episodes"] >= MIN_CELL, (site, key, month)
                if key == "p_chart":
                    responders = frame.loc[month, "responders"]
                    assert responders >= MIN_CELL, (site, key, month)
                    assert frame.loc[month, "episodes"] - responders >= MIN_CELL
    rows = _rows(built)
    html = built["html"]
    for row in rows:
        for month in str(row["outside_limits"]).split(" (+")[0].split(", "):
            if month != "none":
                assert month in html
    assert named_any or any("not named" in str(r["outside_limits"]) for r in rows)


def chart_window_of(built: dict[str, Any]) -> tuple[str, str]:
    """The report's chart window (its first and last month), as the report gives it."""
    import re

    words = " ".join(p.text for p in built["report"].section("control_charts").paragraphs)
    found = re.search(r"Every arm, (\d{4}-\d{2}) to (\d{4}-\d{2})", words)
    assert found is not None
    return found.group(1), found.group(2)
