"""Kaplan–Meier time to response by arm, with the medians marked and numbers at risk below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import (
    arm_colour,
    arm_label,
    measure_name,
    new_axes,
    new_figure,
    plot_style,
)
from dnoutcomes.plots.forest import format_p

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["numbers_at_risk", "plot_time_to_response"]


def numbers_at_risk(curves: pd.DataFrame, times: Sequence[float] | np.ndarray) -> pd.DataFrame:
    """Read the number still at risk at given times off Kaplan–Meier tables.

    Parameters
    ----------
    curves
        Kaplan–Meier tables with ``arm``, ``time`` (every distinct event or censoring time)
        and ``n_risk`` (at risk just before ``time``).
    times
        The times to read at (the x ticks).

    Returns
    -------
    pandas.DataFrame
        One row per arm (in the order of ``curves``), one column per time: the ``n_risk``
        of the first row with ``time`` ≥ the tick, 0 after the last row — the count R's
        ``summary(survfit, times=)`` shows.

    Notes
    -----
    This is a look-up in the result's table, not an estimate.

    Examples
    --------
    >>> import pandas as pd
    >>> km = pd.DataFrame({"arm": "dn_only", "time": [2.0, 5.0, 9.0], "n_risk": [10, 7, 3]})
    >>> numbers_at_risk(km, [0, 5, 6, 10]).loc["dn_only"].tolist()
    [10, 7, 3, 0]
    """
    ticks = np.asarray(times, dtype=float)
    rows = {}
    for arm in pd.unique(curves["arm"].astype(str)):
        table = curves.loc[curves["arm"].astype(str) == arm].sort_values("time")
        t = table["time"].to_numpy(dtype=float)
        at = np.r_[table["n_risk"].to_numpy(dtype=np.int64), 0]
        rows[str(arm)] = at[np.searchsorted(t, ticks, side="left")]
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(ticks))


def plot_time_to_response(
    result: Any,
    *,
    medians: pd.DataFrame | None = None,
    risk_times: Sequence[float] | None = None,
    registry: Any | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the cumulative share responding over days by arm (1 − Kaplan–Meier), with the
    medians marked and the numbers at risk in a table under the axis.

    Parameters
    ----------
    result
        The time-to-response result (its ``curves``, ``frame`` of medians, ``measure``,
        ``threshold`` and log-rank numbers), or the ``curves`` frame: ``arm``, ``time``,
        ``n_risk``, ``n_censor``, ``survival``, ``conf_low``, ``conf_high``.
    medians
        When ``result`` is a frame: ``arm``, ``median`` (days; NaN when not reached).
    risk_times
        Times at which to show the numbers at risk (default the x ticks).
    registry
        The measure registry, for the measure's name.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The main axes: per arm a step ``Line2D`` labelled with the arm in words, its n and
        median, through (0, 0) and (``time``, 100 × (1 − ``survival``)); a band from
        100 × (1 − ``conf_high``) to 100 × (1 − ``conf_low``); censoring ticks (gid
        ``censored:<arm>``); a dotted drop line at each reached median (gid
        ``median:<arm>``). The numbers at risk are ``Text`` objects (gid ``at_risk``) in an
        axes with gid ``risk_table`` under the x-axis, one row per arm, one column per
        tick: a second row of the new figure, or an inset under ``ax`` when one is given.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    Nothing is estimated: the curve, its pointwise log-transformed interval and the medians
    are the result's; the numbers at risk are read from its ``n_risk`` column
    (:func:`numbers_at_risk`). An arm whose median is not reached has no drop line and
    says "median not reached".

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_time_to_response
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_time_to_response(compare_time_to_response(dataset))
    >>> [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    ['Dry needling alone (n = 77; median 20 days)',
     'Dry needling + manual & exercise therapy (n = 137; median 13 days)']
    """
    curves = tidy_frame(
        result,
        attributes=("curves",),
        required=("arm", "time", "n_risk", "survival", "conf_low", "conf_high"),
        figure="Kaplan-Meier plot",
    )
    if medians is None:
        medians = attribute(result, "frame")
    median_of: dict[str, float] = {}
    n_of: dict[str, int] = {}
    if isinstance(medians, pd.DataFrame) and "median" in medians.columns:
        median_of = dict(
            zip(medians["arm"].astype(str), medians["median"].astype(float), strict=True)
        )
        if "n" in medians.columns:
            n_of = dict(zip(medians["arm"].astype(str), medians["n"].astype(int), strict=True))
    measure = str(attribute(result, "measure") or "nprs")
    threshold = attribute(result, "threshold")
    arms = [str(a) for a in pd.unique(curves["arm"].astype(str))]
    with plot_style():
        table_ax = None
        if ax is None:
            # our own figure: the table gets its own row, so the layout keeps it clear of
            # the x label at any size
            fig, (ax, table_ax) = new_figure(
                nrows=2,
                size=(6.4, 4.4 + 0.25 * len(arms)),
                height_ratios=[4.0, 0.3 * (len(arms) + 1)],
            )
        else:
            fig, ax = new_axes(ax)
        for arm in arms:
            table = curves.loc[curves["arm"].astype(str) == arm].sort_values("time")
            _arm_curve(ax, table, arm, median_of.get(arm, np.nan), n_of.get(arm))
        ax.axhline(50.0, color="#CCCCCC", linewidth=0.8, zorder=0)
        ax.set_ylim(0, 100)
        ax.set_xlim(left=0)
        ax.set_ylabel("Responded (%)")
        name = measure_name(measure, registry, short=True)
        rule = f"improvement \u2265 {float(threshold):g} points" if threshold is not None else ""
        ax.set_xlabel(f"Days since the start of care (response: {name} {rule})".rstrip())
        chisq, p = attribute(result, "logrank_chisq"), attribute(result, "logrank_p")
        title = "Time to response (Kaplan\u2013Meier, 95% CI)"
        if chisq is not None and p is not None:
            title += f"; log-rank \u03c7\u00b2 = {float(chisq):.2f}, {format_p(float(p))}"
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            title=title,
            alignment="left",
            borderaxespad=0.2,
        )
        ticks = (
            np.asarray(risk_times, dtype=float)
            if risk_times is not None
            else np.array([t for t in ax.get_xticks() if 0 <= t <= ax.get_xlim()[1]])
        )
        ax.set_xticks(ticks)
        _risk_table(ax, curves, arms, ticks, table_ax)
    return ax


def _arm_curve(ax: Axes, table: pd.DataFrame, arm: str, median: float, n: int | None) -> None:
    colour = arm_colour(arm)
    t = np.r_[0.0, table["time"].to_numpy(dtype=float)]
    responded = 100.0 * (1.0 - np.r_[1.0, table["survival"].to_numpy(dtype=float)])
    low = 100.0 * (1.0 - np.r_[1.0, table["conf_high"].to_numpy(dtype=float)])
    high = 100.0 * (1.0 - np.r_[1.0, table["conf_low"].to_numpy(dtype=float)])
    ax.fill_between(t, low, high, step="post", color=colour, alpha=0.15, linewidth=0)
    median_text = f"median {median:g} days" if np.isfinite(median) else "median not reached"
    n_text = f"n = {n}; " if n is not None else ""
    ax.step(
        t, responded, where="post", color=colour, label=f"{arm_label(arm)} ({n_text}{median_text})"
    )
    if "n_censor" in table.columns:
        censored = table["n_censor"].to_numpy() > 0
        ax.plot(
            t[1:][censored],
            responded[1:][censored],
            marker="|",
            markersize=7,
            linestyle="none",
            color=colour,
            gid=f"censored:{arm}",
        )
    if np.isfinite(median):
        ax.plot(
            [median, median],
            [0.0, 50.0],
            linestyle=":",
            linewidth=1.3,
            color=colour,
            gid=f"median:{arm}",
        )


def _risk_table(
    ax: Axes, curves: pd.DataFrame, arms: list[str], ticks: np.ndarray, table_ax: Axes | None
) -> None:
    at_risk = numbers_at_risk(curves, ticks)
    if table_ax is None:
        height = 0.08 * (len(arms) + 1)
        table_ax = ax.inset_axes((0.0, -0.25 - height, 1.0, height))
    table_ax.set_xlim(ax.get_xlim())
    table_ax.set_axis_off()
    table_ax.set_ylim(-0.5, len(arms) + 0.5)
    table_ax.text(
        0.0,
        len(arms),
        "Number at risk (rows in the legend's order)",
        transform=table_ax.get_yaxis_transform(),
        ha="left",
        va="center",
        fontsize=9,
        fontweight="bold",
    )
    for i, arm in enumerate(arms):
        y = len(arms) - 1 - i
        for tick, count in zip(ticks, at_risk.loc[arm], strict=True):
            table_ax.text(
                tick,
                y,
                str(int(count)),
                ha="center",
                va="center",
                fontsize=9,
                color=arm_colour(arm),
                gid="at_risk",
            )
    table_ax.set_gid("risk_table")
