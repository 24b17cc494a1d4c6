"""Charts that cannot mislead (issue 13): a chart shows all its points at one unit
(month, else quarter) or none, and no shown point gives a small count back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.report._chart_unit import choose_unit, small_points, to_quarters

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample_spc() -> dict[str, object]:
    from test_report_build import load_quietly

    from dnoutcomes.report.build import build_report

    report = build_report(
        load_quietly(SAMPLE),
        period="2025-Q3",
        run_time="2026-01-01T00:00:00Z",
        figures=False,
        benchmark="raw",
    )
    return dict(report.to_dict()["spc"])


@pytest.mark.slow
def test_sample_p_chart_shows_every_point_without_gaps(sample_spc: dict[str, object]) -> None:
    """On main at f79030f 17 of the 21 months of the sample's P chart were withheld (the
    ones left were the low-response months)."""
    block = sample_spc["p_chart"]
    assert isinstance(block, dict) and "withheld" not in block
    unit = block["unit"]
    assert unit in ("month", "quarter")
    assert all(v is not None for v in block["values"])
    labels = pd.PeriodIndex(block["months"], freq="M" if unit == "month" else "Q")
    steps = np.diff(labels.asi8)
    assert (steps == 1).all()  # consecutive: no gap


@pytest.mark.slow
def test_no_shown_point_gives_a_small_count_back(sample_spc: dict[str, object]) -> None:
    """On main the U chart's values[i] × n[i] / 100 gave every month's adverse events."""
    for key in ("i_chart", "p_chart", "u_chart"):
        block = sample_spc[key]
        assert isinstance(block, dict)
        if "withheld" in block:
            continue
        n = np.array(block["n"], dtype=float)
        values = np.array(block["values"], dtype=float)
        recovered = {"i_chart": n, "p_chart": values * n, "u_chart": values * n / 100}[key]
        recovered = np.round(recovered[np.isfinite(recovered)])
        assert not ((recovered > 0) & (recovered < 11)).any(), key
        if key == "p_chart":
            rest = np.round(n - values * n)
            assert not ((rest > 0) & (rest < 11)).any()


def _frame(episodes: list[int], responders: list[int], months: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "month": months,
            "episodes": episodes,
            "improvement_sum": np.array(episodes, dtype=float) * 2,
            "responders": responders,
        }
    )


def test_month_when_every_month_is_large() -> None:
    frame = _frame([40, 30, 35], [15, 15, 12], ["2025-01", "2025-02", "2025-03"])
    unit, _, drawable = choose_unit(frame, 11, ("i_chart", "p_chart"))
    assert unit == "month" and all(drawable.values())


def test_quarter_when_months_are_small_and_none_when_quarters_are() -> None:
    months = [f"2025-{m:02d}" for m in range(1, 7)]
    frame = _frame([12, 13, 14, 12, 13, 14], [3, 8, 2, 4, 3, 5], months)
    unit, at_unit, drawable = choose_unit(frame, 11, ("i_chart", "p_chart"))
    assert unit == "quarter" and at_unit["month"].tolist() == ["2025-Q1", "2025-Q2"]
    assert drawable == {"i_chart": True, "p_chart": True}
    tiny = _frame([3, 1, 2, 12, 13, 14], [1, 0, 1, 4, 3, 5], months)
    unit, _, drawable = choose_unit(tiny, 11, ("i_chart", "p_chart"))
    assert unit == "quarter" and drawable == {"i_chart": False, "p_chart": False}


def test_small_points_p_chart_checks_non_responders() -> None:
    frame = _frame([30], [25], ["2025-01"])
    assert small_points(frame, 11)["p_chart"].tolist() == [True]
    assert to_quarters(frame)["episodes"].tolist() == [30]


@pytest.mark.slow
def test_funnel_target_withheld_when_a_therapist_is_hidden() -> None:
    """On main the funnel's target × all episodes − the shown therapists' responders gave a
    hidden therapist's responders back."""
    from test_report_build import load_quietly

    from dnoutcomes.report.build import build_report

    report = build_report(
        load_quietly(SAMPLE),
        period="2025-Q3",
        run_time="2026-01-01T00:00:00Z",
        figures=False,
        benchmark="raw",
    )
    frame = report.table("funnel").frame
    hidden = frame[["n", "events", "share"]].astype(str)
    any_hidden = hidden.apply(lambda c: c.str.startswith("<") | (c == "[c]")).to_numpy().any()
    text = " ".join(p.text for p in report.section("funnel").paragraphs)
    target = report.to_dict()["results"]["funnel"]["target"]
    if any_hidden:
        assert target is None and "Overall share" not in text
        assert "Outside the 99.8 % limits:" not in text
    else:
        assert target is not None


@pytest.mark.slow
@pytest.mark.parametrize(("period", "site"), [("2025-Q3", None), ("2025-10", "south")])
def test_no_chart_shows_some_points_and_a_centre(period: str, site: str | None) -> None:
    """On main at f79030f the I chart hid one small month and printed the others and the
    centre line: the hidden month's mean was 24 × centre − Σ(shown means). A chart now
    shows every point of its unit, or no point, no centre and no limits at all."""
    from test_report_build import load_quietly

    from dnoutcomes.report.build import build_report

    report = build_report(
        load_quietly(SAMPLE),
        period=period,
        site=site,
        run_time="2026-01-01T00:00:00Z",
        figures=False,
        benchmark="raw",
    )
    spc = report.to_dict()["spc"]
    seen = 0
    for key in ("i_chart", "p_chart", "u_chart"):
        block = spc[key]
        assert isinstance(block, dict)
        if "withheld" in block:
            assert not {"values", "centre", "center", "ucl", "lcl", "n"} & set(block), key
            continue
        seen += 1
        values = np.asarray(block["values"], dtype=float)
        assert np.isfinite(values).all(), key  # no point hidden among shown ones
        if key == "i_chart":
            centre = next(block[k] for k in ("centre", "center", "cl") if k in block)
            # the centre is the mean of the points shown: it determines nothing hidden
            assert np.isclose(np.mean(values), np.asarray(centre, dtype=float).ravel()[0])
    if site is None:
        assert seen == 3  # the whole sample has every chart at some unit
