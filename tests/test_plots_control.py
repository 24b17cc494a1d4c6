"""Control-chart and funnel figures: what was drawn equals the numbers of the result."""

from __future__ import annotations

import matplotlib.lines
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.control import plot_control_chart, plot_funnel
from dnoutcomes.qi import ControlChart, funnel_chart, i_chart, p_chart


def _line(ax: plt.Axes, gid: str) -> matplotlib.lines.Line2D:
    found = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, got {len(found)}"
    return found[0]


def _shift_chart() -> ControlChart:
    months = pd.period_range("2024-01", periods=24, freq="M")
    values = np.r_[np.tile([1.0, 1.4, 1.2], 4), np.tile([2.6, 3.0, 2.8], 4)]
    values[5] = 9.0  # one month far above the limits
    return i_chart(values, periods=months, label="mean NPRS improvement")


def test_i_chart_draws_points_limits_and_signals() -> None:
    chart = _shift_chart()
    ax = plot_control_chart(chart)
    frame = chart.frame
    values = _line(ax, "values")
    np.testing.assert_allclose(values.get_xdata(), np.arange(24))
    np.testing.assert_allclose(values.get_ydata(), frame["value"])
    np.testing.assert_allclose(_line(ax, "ucl").get_ydata(), frame["ucl"])
    np.testing.assert_allclose(_line(ax, "lcl").get_ydata(), frame["lcl"])
    outside = _line(ax, "outside")
    flagged = np.flatnonzero(frame["outside_limits"].to_numpy())
    np.testing.assert_allclose(outside.get_xdata(), flagged)
    assert list(flagged) == [5]
    # 12 low months then 12 high: the runs rules signal, so the centre line is the signal line
    assert chart.signals.runs_signal
    centre = _line(ax, "run_signal")
    assert centre.get_linestyle() == "--"
    np.testing.assert_allclose(centre.get_ydata(), frame["centre"])
    assert not [line for line in ax.get_lines() if line.get_gid() == "centre"]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "2024-01" and len(labels) <= 12
    assert ax.get_ylabel() == "Mean NPRS improvement"
    assert any("shift signalled" in t.get_text() for t in ax.texts)
    assert not any(
        "shift signalled" in t.get_text()
        for t in plot_control_chart(i_chart([1, 3, 2, 6, 4])).texts
    )


def test_p_chart_in_percent_with_varying_limits_and_no_signal() -> None:
    chart = p_chart([5, 6, 4, 5, 6], [10, 12, 8, 10, 12], label="responders")
    ax = plot_control_chart(chart)
    np.testing.assert_allclose(_line(ax, "values").get_ydata(), 100 * chart.frame["value"])
    np.testing.assert_allclose(_line(ax, "ucl").get_ydata(), 100 * chart.frame["ucl"])
    assert _line(ax, "centre").get_linestyle() == "-"
    assert not [line for line in ax.get_lines() if line.get_gid() == "outside"]
    assert ax.get_ylabel() == "Responders"
    assert ax.get_yticklabels()[-1].get_text().endswith("%")


def test_draws_on_given_axes_and_from_a_frame() -> None:
    chart = i_chart([1, 3, 2, 6, 4])
    fig, ax = plt.subplots()
    out = plot_control_chart(chart.frame, ax=ax)
    assert out is ax
    assert len(_line(ax, "values").get_xdata()) == 5
    with pytest.raises(RequestError, match="control chart"):
        plot_control_chart(chart.frame.drop(columns=["ucl"]))
    assert chart.plot() is not None  # the result hands off to this module


def test_funnel_draws_curve_and_units() -> None:
    funnel = funnel_chart(
        [1, 35, 20, 64], [40, 50, 50, 160], units=["low", "high", "mid", "big"], label="responders"
    )
    ax = plot_funnel(funnel)
    curve = funnel.curve
    for which in ("inner", "outer"):
        for side in ("lower", "upper"):
            line = _line(ax, f"funnel_{which}_{side}")
            np.testing.assert_allclose(line.get_xdata(), curve["n"])
            np.testing.assert_allclose(line.get_ydata(), 100 * curve[f"{side}_{which}"])
    np.testing.assert_allclose(_line(ax, "target").get_ydata(), [40.0, 40.0])
    within = _line(ax, "units")
    np.testing.assert_allclose(within.get_xdata(), [50, 160])
    outer = _line(ax, "outside_outer")
    np.testing.assert_allclose(sorted(outer.get_xdata()), [40, 50])
    assert sorted(t.get_text() for t in ax.texts) == ["big", "high", "low", "mid"]
    assert ax.get_xlabel() == "Episodes per unit"
    assert funnel.plot() is not None
    with pytest.raises(RequestError, match="curve"):
        plot_funnel(funnel.frame)


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import control as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
