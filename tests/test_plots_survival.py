"""The Kaplan-Meier plot draws 1 - S(t) of the result, medians, and the numbers at risk."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from dnoutcomes.plots.survival import numbers_at_risk, plot_time_to_response

# Two small arms, times in days; event 1 = responded, 0 = censored.
TIMES = {
    "dn_only": ([5, 8, 8, 12, 20, 20, 30], [1, 1, 0, 1, 0, 1, 0]),
    "dn_manual_exercise": ([3, 4, 9, 9, 15], [1, 1, 1, 0, 1]),
}


def _km(time: list[int], event: list[int]) -> pd.DataFrame:
    """Product-limit table written out longhand (independent of the package)."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event)
    rows = []
    surv = 1.0
    for u in np.unique(t):
        at_risk = int((t >= u).sum())
        d = int(((t == u) & (e == 1)).sum())
        c = int(((t == u) & (e == 0)).sum())
        surv *= 1 - d / at_risk
        rows.append((u, at_risk, d, c, surv))
    frame = pd.DataFrame(rows, columns=["time", "n_risk", "n_event", "n_censor", "survival"])
    frame["conf_low"] = frame["survival"] * 0.8
    frame["conf_high"] = np.minimum(frame["survival"] * 1.2, 1.0)
    return frame


@pytest.fixture
def result() -> SimpleNamespace:
    curves = pd.concat([_km(*TIMES[arm]).assign(arm=arm) for arm in TIMES], ignore_index=True)
    frame = pd.DataFrame({"arm": list(TIMES), "n": [7, 5], "median": [20.0, 9.0]})
    return SimpleNamespace(
        curves=curves,
        frame=frame,
        measure="nprs",
        threshold=2.0,
        logrank_chisq=1.234,
        logrank_p=0.2666,
    )


def test_curves_are_one_minus_survival_in_percent(result: SimpleNamespace) -> None:
    ax = plot_time_to_response(result, risk_times=[0, 10, 20, 30])
    lines = {ln.get_label(): ln for ln in ax.lines}
    ref = lines["Dry needling alone (n = 7; median 20 days)"]
    table = result.curves.loc[result.curves["arm"] == "dn_only"]
    np.testing.assert_array_equal(ref.get_xdata(), np.r_[0.0, table["time"]])
    np.testing.assert_allclose(ref.get_ydata(), 100 * (1 - np.r_[1.0, table["survival"]]))
    assert ref.get_drawstyle() == "steps-post"
    assert "Dry needling + manual & exercise therapy (n = 5; median 9 days)" in lines
    assert ax.get_ylim() == (0.0, 100.0)
    assert ax.get_ylabel() == "Responded (%)"
    assert "NPRS improvement \u2265 2 points" in ax.get_xlabel()
    title = ax.get_legend().get_title().get_text()
    assert title.endswith("log-rank \u03c7\u00b2 = 1.23, p = 0.267")


def test_medians_are_marked_and_censoring_ticked(result: SimpleNamespace) -> None:
    ax = plot_time_to_response(result, risk_times=[0, 10, 20, 30])
    gid = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
    assert list(gid["median:dn_only"].get_xdata()) == [20.0, 20.0]
    assert list(gid["median:dn_only"].get_ydata()) == [0.0, 50.0]
    assert list(gid["median:dn_manual_exercise"].get_xdata()) == [9.0, 9.0]
    assert list(gid["censored:dn_only"].get_xdata()) == [8.0, 20.0, 30.0]


def test_numbers_at_risk_are_written_under_the_axis(result: SimpleNamespace) -> None:
    ax = plot_time_to_response(result, risk_times=[0, 10, 20, 30])
    fig = ax.get_figure(root=True)
    (table_ax,) = [a for a in [*fig.axes, *ax.child_axes] if a.get_gid() == "risk_table"]
    texts = [t for t in table_ax.findobj(Text) if t.get_gid() == "at_risk"]
    got = sorted((t.get_position()[1], t.get_position()[0], t.get_text()) for t in texts)
    # counted by hand from TIMES: still under observation at t (time >= t)
    expected_ref = {0: "7", 10: "4", 20: "3", 30: "1"}
    expected_cmp = {0: "5", 10: "1", 20: "0", 30: "0"}
    assert got == sorted(
        [(1.0, float(t), n) for t, n in expected_ref.items()]
        + [(0.0, float(t), n) for t, n in expected_cmp.items()]
    )
    # the table sits below the main axes
    fig.canvas.draw()
    assert table_ax.get_window_extent().y1 < ax.get_window_extent().y0


def test_numbers_at_risk_match_a_direct_count(result: SimpleNamespace) -> None:
    ticks = [0.0, 4.0, 8.0, 8.5, 100.0]
    table = numbers_at_risk(result.curves, ticks)
    for arm, (time, _) in TIMES.items():
        direct = [int((np.asarray(time) >= t).sum()) for t in ticks]
        assert table.loc[arm].to_list() == direct


def test_median_not_reached_is_said(result: SimpleNamespace) -> None:
    result.frame.loc[0, "median"] = np.nan
    ax = plot_time_to_response(result, risk_times=[0, 10])
    assert "Dry needling alone (n = 7; median not reached)" in [ln.get_label() for ln in ax.lines]
    assert "median:dn_only" not in [ln.get_gid() for ln in ax.lines]


def test_on_given_axes_the_table_is_an_inset_below(result: SimpleNamespace) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    assert plot_time_to_response(result, risk_times=[0, 10], ax=ax) is ax
    (table_ax,) = [a for a in ax.child_axes if a.get_gid() == "risk_table"]
    fig.canvas.draw()
    assert table_ax.get_window_extent().y1 < ax.get_window_extent().y0
    assert len(fig.axes) == 1


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import survival as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
