"""Making-Data-Count rules and icons on constructed series: each rule at its edge, each
variation icon and each assurance icon, phases, run charts, highlight and annotations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.charts import i_chart, p_chart
from dnoutcomes.qi.mdc import mdc_chart, mdc_summary
from dnoutcomes.qi.mdc_rules import assurance_icon, mdc_points
from dnoutcomes.qi.runs import anhoj_rules


def _pts(values: list[float], **kw: object) -> pd.DataFrame:
    return mdc_points(values, 0.0, -3.0, 3.0, **kw)  # type: ignore[arg-type]


# --- the four rules, with a fixed centre 0 and limits ±3 (2-sigma lines at ±2) -----------


def test_shift_needs_seven_on_one_side() -> None:
    assert not _pts([-1, 1, 1, 1, 1, 1, 1])["shift"].any()
    seven = _pts([-1] + [1] * 7)
    assert seven["shift"].tolist() == [False] + [True] * 7
    assert seven["point_type"].iloc[-1] == "improvement_high"
    # a point exactly on the mean breaks the run
    assert not _pts([1, 1, 1, 0, 1, 1, 1, 1])["shift"].any()
    # a missing value is skipped, not a break
    assert _pts([1, 1, 1, np.nan, 1, 1, 1, 1])["shift"].dropna().sum() == 7


def test_trend_needs_seven_rising_or_falling_points() -> None:
    rising = _pts([-1.5, -1.0, -0.5, 0.2, 0.6, 1.0, 1.4])
    assert rising["trend"].all() and not rising["shift"].any()
    # the trend's direction decides, even below the mean
    assert (rising["point_type"] == "improvement_high").all()
    assert not _pts([-1.0, -0.5, 0.2, 0.6, 1.0, 1.4])["trend"].any()
    assert _pts([-1.5, -1.0, -0.5, 0.2, 0.6, 1.0, 1.4], trend=6)["trend"].all()
    falling = _pts([1.4, 1.0, 0.6, 0.2, -0.5, -1.0, -1.5], improvement="increase")
    assert (falling["point_type"] == "concern_low").all()
    # an equal neighbour breaks a trend
    assert not _pts([-1.5, -1.0, -0.5, -0.5, 0.6, 1.0, 1.4, 1.5])["trend"].any()


def test_two_of_three_close_to_a_limit_on_one_side() -> None:
    pts = _pts([0.5, 2.5, 0.5, 2.2, -0.5])
    assert pts["two_in_three"].tolist() == [False, True, False, True, False]
    assert not _pts([2.5, -0.5, 2.2])["two_in_three"].any()  # not all on one side
    assert not _pts([2.5, 0.5, 1.9])["two_in_three"].any()  # only one beyond 2 sigma


def test_outside_limits_and_missing_points() -> None:
    pts = _pts([0.5, 3.5, np.nan, -0.2, -3.1], improvement="decrease")
    assert pts["outside_limits"].tolist() == [False, True, False, False, True]
    assert pts["point_type"].tolist() == [
        "common_cause",
        "concern_high",
        "no_data",
        "common_cause",
        "improvement_low",
    ]


# --- variation icons on whole charts ------------------------------------------------------

STABLE = [9.0, 11.0] * 10  # 20 points, mean 10, moving range 2, ends above the mean


@pytest.mark.parametrize(
    ("tail", "improvement", "icon"),
    [
        ([], "increase", "common_cause"),
        ([30.0], "increase", "improvement_high"),
        ([-20.0], "increase", "concern_low"),
        ([-20.0], "decrease", "improvement_low"),
        ([30.0], "decrease", "concern_high"),
        ([10.5] * 7, "increase", "improvement_high"),  # shift above
        ([9.5] * 7, "decrease", "improvement_low"),  # shift below
        ([9.2, 9.4, 9.6, 9.8, 10.0, 10.2, 10.4], "decrease", "concern_high"),  # rising trend
        ([15.0, 12.0, 15.0], "neutral", "neutral_high"),  # two of three near the limit
        ([5.0, 8.0, 5.0], "neutral", "neutral_low"),
    ],
)
def test_variation_icons(tail: list[float], improvement: str, icon: str) -> None:
    chart = mdc_chart(STABLE + tail, improvement=improvement)  # type: ignore[arg-type]
    assert chart.variation_icon == icon
    assert chart.frame["chart"].eq("i").all()


def test_rules_are_checked_on_the_limits_of_the_i_chart() -> None:
    values = STABLE + [15.0, 12.0, 15.0]
    chart = mdc_chart(values, improvement="neutral")
    ref = i_chart(values).frame
    np.testing.assert_allclose(chart.frame["ucl"], ref["ucl"], rtol=1e-12)
    upper2 = ref["centre"] + 2 / 3 * (ref["ucl"] - ref["centre"])
    np.testing.assert_allclose(chart.frame["upper_2sigma"], upper2, rtol=1e-12)
    last = chart.frame.iloc[-3:]
    assert (last["value"] < last["ucl"]).all()  # inside the limits: rule 4, not rule 1
    assert last["two_in_three"].tolist() == [True, False, True]


# --- assurance icons ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "improvement", "icon"),
    [
        (2.0, "increase", "consistent_pass"),
        (18.0, "increase", "consistent_fail"),
        (10.5, "increase", "inconsistent"),
        (2.0, "decrease", "consistent_fail"),
        (18.0, "decrease", "consistent_pass"),
        (10.5, "decrease", "inconsistent"),
        (10.5, "neutral", None),
        (None, "increase", None),
    ],
)
def test_assurance_icons(target: float | None, improvement: str, icon: str | None) -> None:
    chart = mdc_chart(STABLE, improvement=improvement, target=target)  # type: ignore[arg-type]
    assert chart.assurance_icon == icon
    # limits 10 ± 2.66 × 2 = 4.68 … 15.32
    assert chart.frame["lcl"].iloc[-1] == pytest.approx(10 - 5.32)


def test_assurance_uses_the_latest_limits_of_a_p_chart() -> None:
    events = [30, 28, 33, 31, 29, 30, 32, 27, 31, 30, 29, 33, 10]
    n = [50] * 12 + [20]
    chart = mdc_chart(events, n=n, target=0.3, improvement="increase")
    ref = p_chart(events, n).frame.iloc[-1]
    assert chart.frame["chart"].eq("p").all()
    assert chart.assurance_icon == assurance_icon(
        0.3, ref["lcl"], ref["ucl"], improvement="increase"
    )
    assert chart.frame["value"].iloc[-1] == pytest.approx(0.5)


# --- phases, run charts, highlight, annotations ------------------------------------------


def test_phases_recompute_the_limits() -> None:
    before = [9.0, 11.0] * 7
    after = [14.0, 16.0] * 7
    periods = pd.period_range("2024-01", periods=28, freq="M")
    chart = mdc_chart(
        before + after,
        periods=periods,
        phases={periods[14]: "new exercise programme"},
        annotations={"2025-03": "programme starts"},
        highlight=("2025-08", "2026-04"),
        target=9.0,
    )
    assert chart.phases == (("baseline", "2024-01"), ("new exercise programme", "2025-03"))
    first = i_chart(before).frame
    second = i_chart(after).frame
    np.testing.assert_allclose(chart.frame["ucl"].iloc[:14], first["ucl"], rtol=1e-12)
    np.testing.assert_allclose(chart.frame["centre"].iloc[14:], second["centre"], rtol=1e-12)
    assert chart.variation_icon == "common_cause"  # no shift within the new phase
    assert chart.assurance_icon == "consistent_pass"  # 9 below the new lower limit 9.68
    assert chart.frame.loc[chart.frame["annotation"] != "", "period"].tolist() == [periods[14]]
    assert chart.frame["highlight"].sum() == 9
    payload = chart.to_dict()
    assert payload["points"][0]["period"] == "2024-01" and payload["phases"][1][0].startswith("new")


def test_short_series_is_a_run_chart_with_anhoj_rules() -> None:
    values = [4.0, 5, 6, 5, 4, 6, 7, 8, 8, 9, 9]  # 11 points
    chart = mdc_chart(values, target=5.0)
    assert chart.frame["chart"].eq("run").all()
    assert chart.frame["centre"].iloc[0] == pytest.approx(np.median(values))
    assert chart.frame["ucl"].isna().all()
    assert chart.assurance_icon is None
    ref = anhoj_rules(values, np.median(values))
    assert chart.runs == ref
    assert any("run chart" in note for note in chart.notes)


def test_run_chart_flags_a_run_longer_than_anhoj_allows() -> None:
    values = [5.0, 4, 6, 3, 7, 7, 8, 9, 8, 9, 10]  # the last six above the median 7?
    chart = mdc_chart(values, kind="run")
    median = float(np.median(values))
    above = np.array(values) > median
    limit = anhoj_rules(values, median).longest_run_limit
    run = 0
    for a in above[::-1]:
        if not a:
            break
        run += 1
    expect = "improvement_high" if run > limit else "common_cause"  # type: ignore[operator]
    assert chart.variation_icon == expect


def test_summary_table() -> None:
    a = mdc_chart(STABLE + [30.0], target=2.0, label="mean NPRS improvement")
    b = mdc_chart(STABLE, improvement="decrease", target=18.0, label="adverse events")
    table = mdc_summary({"improvement": a, "safety": b})
    assert table["variation_icon"].tolist() == ["improvement_high", "common_cause"]
    assert table["assurance_icon"].tolist() == ["consistent_pass", "consistent_pass"]
    assert table["value"].tolist() == [30.0, 11.0]
    assert table["variation_text"].iloc[0].startswith("Special cause")


def test_errors() -> None:
    with pytest.raises(RequestError, match="improvement"):
        mdc_chart(STABLE, improvement="up")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="phase"):
        mdc_chart(STABLE, phases={99: "later"})
    with pytest.raises(RequestError, match="n"):
        mdc_chart(STABLE, kind="p")
    with pytest.raises(InsufficientDataError):
        mdc_chart([np.nan, np.nan])


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.mdc as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_docstring_examples_run_rules() -> None:
    import doctest

    import dnoutcomes.qi.mdc_rules as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
