"""The report's summary page: the indicators with their Making-Data-Count icons, targets
from the protocol's ``[casemix.targets]``, withheld when a point would give a small count
away.

The monthly series are rebuilt here from the outcomes table with pandas (improvement from
baseline to discharge, by month of the discharge assessment) and charted with
:func:`dnoutcomes.qi.mdc.mdc_chart`, whose rules and icons are checked on constructed
series in ``test_qi_mdc.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_report_benchmarking import PERIOD, RUN_TIME, dataset  # noqa: F401 (fixture)

from dnoutcomes.protocol import CaseMixSpec, default_protocol
from dnoutcomes.qi.mdc import mdc_chart
from dnoutcomes.qi.mdc_rules import ICON_TEXT
from dnoutcomes.report.build import build_report
from dnoutcomes.report.model import Report
from dnoutcomes.report.summary import NO_TARGET

pytestmark = pytest.mark.slow

# the chart window: 24 months up to the period, from the first discharge (2024-01)
MONTHS = [str(m) for m in pd.period_range("2024-01", "2025-09", freq="M")]
TARGETS = (("mean_improvement", 1.0), ("responders", 0.9))


@pytest.fixture(scope="module")
def report(dataset: Any) -> Report:  # noqa: F811
    protocol = replace(default_protocol(), casemix=CaseMixSpec(targets=TARGETS))
    return build_report(dataset, period=PERIOD, run_time=RUN_TIME, figures=False, protocol=protocol)


def _monthly(data: Any) -> pd.DataFrame:
    out = data.outcomes
    nprs = out[out["measure"] == "nprs"]
    base = nprs[nprs["timepoint"] == "baseline"].groupby("episode_id")["value"].first()
    dis = nprs[nprs["timepoint"] == "discharge"].groupby("episode_id")
    frame = pd.DataFrame({"discharge": dis["value"].first(), "on": dis["assessed_on"].first()})
    frame["improvement"] = base.reindex(frame.index) - frame["discharge"]
    frame = frame.dropna(subset=["improvement"])
    frame["month"] = pd.to_datetime(frame["on"]).dt.to_period("M").astype(str)
    g = frame.groupby("month")
    table = pd.DataFrame(
        {
            "episodes": g.size(),
            "mean": g["improvement"].mean(),
            "responders": g["improvement"].apply(lambda s: int((s >= 2).sum())),
        }
    )
    return table.reindex(MONTHS)


def _rows(report: Report) -> dict[str, dict[str, Any]]:
    frame = report.table("summary").frame
    return {str(r["indicator"]): r for r in frame.to_dict(orient="records")}


def test_summary_is_the_first_section_and_page(report: Report) -> None:
    assert report.sections[0].key == "summary"
    html = report.to_html()
    assert '<section id="summary" class="summary-page">' in html
    assert html.index('href="#summary"') < html.index('href="#headline"')


def test_icons_and_limits_match_the_series_rebuilt_by_hand(report: Report, dataset: Any) -> None:  # noqa: F811
    hand = _monthly(dataset)
    assert (hand["episodes"] >= 11).all()  # every month is shown: the chart is monthly
    rows = _rows(report)
    assert report.to_dict()["results"]["summary"]["unit"] == "month"
    highlight = ("2025-07", "2025-09")
    mean = mdc_chart(hand["mean"].to_numpy(), periods=MONTHS, target=1.0, highlight=highlight)
    row = rows["Mean NPRS improvement (points)"]
    assert row["period"] == "2025-09"
    assert row["value"] == pytest.approx(hand["mean"].iloc[-1], rel=1e-9)
    assert row["lcl"] == pytest.approx(mean.latest["lcl"], rel=1e-9)
    assert row["ucl"] == pytest.approx(mean.latest["ucl"], rel=1e-9)
    assert row["variation"] == ICON_TEXT[mean.variation_icon]
    assert mean.assurance_icon is not None
    assert row["assurance"] == ICON_TEXT[mean.assurance_icon]
    share = mdc_chart(
        hand["responders"].to_numpy(), n=hand["episodes"].to_numpy(), periods=MONTHS, target=0.9
    )
    row = rows["NPRS responders (% of episodes)"]
    assert row["target"] == pytest.approx(90.0)  # the protocol's share, shown in %
    assert row["value"] == pytest.approx(
        100 * hand["responders"].iloc[-1] / hand["episodes"].iloc[-1], rel=1e-9
    )
    assert row["ucl"] == pytest.approx(100 * share.latest["ucl"], rel=1e-9)
    assert row["variation"] == ICON_TEXT[share.variation_icon]
    assert share.assurance_icon == "consistent_fail"  # 90 % is far above the process
    assert row["assurance"] == ICON_TEXT["consistent_fail"]
    chart = report.to_dict()["results"]["summary"]["charts"]["mean_improvement"]
    assert [p["period"] for p in chart["points"] if p["highlight"]] == list(
        pd.period_range("2025-07", "2025-09", freq="M").astype(str)
    )


def test_no_target_says_so(report: Report) -> None:
    row = _rows(report)["Adverse events per 100 dry-needling sessions"]
    assert row["target"] == NO_TARGET
    assert row["assurance"].startswith(NO_TARGET)
    lead = report.section("summary").paragraphs[0].text
    assert "No target is set for Adverse events per 100 dry-needling sessions" in lead


def test_default_protocol_has_no_targets(dataset: Any) -> None:  # noqa: F811
    plain = build_report(dataset, period=PERIOD, run_time=RUN_TIME, figures=False)
    rows = _rows(plain)
    assert all(r["target"] == NO_TARGET for r in rows.values())
    assert all(r["assurance"].startswith(NO_TARGET) for r in rows.values())


def test_small_points_withhold_the_indicator_and_its_icons(dataset: Any) -> None:  # noqa: F811
    big = build_report(dataset, period=PERIOD, run_time=RUN_TIME, min_cell=2000)
    rows = _rows(big)
    for row in rows.values():
        assert row["variation"].startswith("withheld: some quarters describe fewer than 2000")
        assert np.isnan(row["value"]) and row["period"] == ""
    assert big.section("summary").figures == ()
    assert big.to_dict()["results"]["summary"]["charts"] == {}


def test_figures_are_drawn_with_their_icons(dataset: Any) -> None:  # noqa: F811
    drawn = build_report(dataset, period=PERIOD, run_time=RUN_TIME)
    keys = [f.key for f in drawn.section("summary").figures]
    assert keys == ["summary_mean_improvement", "summary_responders", "summary_adverse_events"]
    assert all("<svg" in f.svg for f in drawn.section("summary").figures)


def test_protocol_phases_recompute_the_limits(dataset: Any) -> None:  # noqa: F811
    phases = (("2019-01", "before the data"), ("2025-01", "new exercise programme"))
    protocol = replace(default_protocol(), casemix=CaseMixSpec(phases=phases))
    report = build_report(
        dataset, period=PERIOD, run_time=RUN_TIME, figures=False, protocol=protocol
    )
    hand = _monthly(dataset)
    chart = mdc_chart(hand["mean"].to_numpy(), periods=MONTHS, phases=[phases[1]])
    row = _rows(report)["Mean NPRS improvement (points)"]
    # 9 months in the new phase: a run chart (median as centre, no limits)
    assert chart.latest["chart"] == "run" and np.isnan(row["ucl"]) and np.isnan(row["lcl"])
    assert row["assurance"] == NO_TARGET
    assert row["centre"] == pytest.approx(float(np.median(hand["mean"].iloc[-9:])), rel=1e-12)
    saved = report.to_dict()["results"]["summary"]["charts"]["mean_improvement"]
    assert saved["phases"] == [["baseline", "2024-01"], ["new exercise programme", "2025-01"]]
    lead = report.section("summary").paragraphs[0].text
    assert "Phases (limits recomputed from each): from 2025-01, new exercise programme." in lead
    assert "The phase “before the data” (2019-01) starts outside the charts' window." in lead


def test_withheld_with_the_control_charts(report: Report) -> None:
    from dnoutcomes.report.summary import WITHHELD_ACROSS, withhold_summary

    assert report.to_dict()["results"]["summary"]["charts"]  # drawn before
    sections, extra = withhold_summary(list(report.sections), dict(report.extra), 11)
    summary = next(s for s in sections if s.key == "summary")
    assert summary.figures == ()
    table = summary.tables[0].frame
    assert (table["variation"] == "withheld").all() and (table["assurance"] == "withheld").all()
    assert table[["value", "centre", "lcl", "ucl"]].isna().all().all()
    assert table["target"].tolist() == report.table("summary").frame["target"].tolist()
    assert WITHHELD_ACROSS.format(min_cell=11) in [p.text for p in summary.paragraphs]
    assert extra["summary"]["charts"] == {}
    assert all(r["value"] is None for r in extra["summary"]["rows"])
    assert [s.key for s in sections] == [s.key for s in report.sections]
    assert report.to_dict()["results"]["summary"]["charts"]  # the input is not changed
