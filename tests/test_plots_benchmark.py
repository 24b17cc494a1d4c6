"""Benchmark and Making-Data-Count figures: what was drawn equals the result's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.benchmark import plot_benchmark, plot_overdispersed_funnel
from dnoutcomes.plots.mdc import plot_cusum, plot_g_chart, plot_mdc_chart
from dnoutcomes.qi.mdc import mdc_chart
from dnoutcomes.qi.overdispersion import mean_funnel, proportion_funnel
from dnoutcomes.qi.rare import bernoulli_cusum, g_chart

EVENTS = [12, 30, 5, 20, 41, 9, 33, 18, 25, 7, 52, 14]
CASES = [20, 40, 25, 41, 60, 30, 45, 22, 50, 12, 80, 35]


def _line(ax, gid: str):  # type: ignore[no-untyped-def]
    return next(line for line in ax.lines if line.get_gid() == gid)


def test_funnel_draws_the_result() -> None:
    f = proportion_funnel(EVENTS, CASES, units=[f"T{i}" for i in range(12)])
    ax = plot_overdispersed_funnel(f)
    upper = _line(ax, "funnel_outer_upper")
    np.testing.assert_allclose(upper.get_xdata(), f.curve["precision"])
    np.testing.assert_allclose(upper.get_ydata(), 100 * f.curve["upper_outer"])
    drawn = sum(
        len(line.get_xdata())
        for line in ax.lines
        if line.get_gid() in {"units", "outside_inner", "outside_outer"}
    )
    assert drawn == 12
    assert _line(ax, "target").get_ydata()[0] == pytest.approx(100 * f.target)
    assert "Unadjusted" in ax.get_title(loc="left")


def test_benchmark_draws_two_panels() -> None:
    class Result:
        adjusted = mean_funnel([0.4, -0.9, 0.1, 0.0], [30, 25, 40, 35], sd=2.0, adjusted=True)
        raw = proportion_funnel([12, 30, 5, 20], [20, 40, 25, 41])

    fig = plot_benchmark(Result())
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title(loc="left").startswith("Case-mix adjusted")

    class Empty:
        adjusted = None
        raw = None

    with pytest.raises(RequestError):
        plot_benchmark(Empty())


def test_mdc_chart_draws_points_by_type_phases_and_icons() -> None:
    periods = pd.period_range("2024-01", periods=28, freq="M")
    c = mdc_chart(
        [9.0, 11.0] * 7 + [14.0, 16.0] * 6 + [20.0, 21.0],
        periods=periods,
        phases={periods[14]: "new programme"},
        highlight=("2025-08", "2026-04"),
        annotations={"2025-03": "start"},
        target=9.0,
    )
    ax = plot_mdc_chart(c)
    improving = _line(ax, "point_improvement_high")
    assert len(improving.get_xdata()) == int((c.frame["point_type"] == "improvement_high").sum())
    assert sum(1 for line in ax.lines if line.get_gid() == "phase_change") == 1
    badges = {t.get_gid(): t.get_label() for t in ax.texts if t.get_gid()}
    assert badges["variation_icon"].endswith("improvement high")
    assert badges["assurance_icon"].endswith("consistent pass")
    ucl = _line(ax, "ucl").get_ydata()
    assert np.isnan(ucl).sum() == 1  # the limit line breaks at the phase change
    assert any(t.get_text() == "start" for t in ax.texts)


def test_rare_event_charts() -> None:
    g = g_chart([900, 1500, 400, 2200, 1100, 0])
    ax = plot_g_chart(g)
    np.testing.assert_allclose(_line(ax, "ucl").get_ydata(), g.frame["ucl"])
    assert len(_line(ax, "outside_sooner").get_xdata()) == 1
    c = bernoulli_cusum([0, 0, 1, 0, 1, 1, 0], p0=0.1, p1=0.3, h=2.0)
    ax = plot_cusum(c)
    np.testing.assert_allclose(_line(ax, "statistic").get_ydata(), c.frame["statistic"])
    assert len(_line(ax, "signal").get_xdata()) == 1


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.plots.benchmark as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_docstring_examples_run_mdc() -> None:
    import doctest

    import dnoutcomes.plots.mdc as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
