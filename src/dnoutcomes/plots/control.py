"""Control charts with their signals marked, and the funnel plot: drawing only.

The numbers drawn are those of :class:`dnoutcomes.qi.ControlChart` and
:class:`dnoutcomes.qi.FunnelChart` (or their frames); nothing is computed here. Every
artist carries a ``gid`` (``"values"``, ``"centre"``, ``"ucl"``, ``"lcl"``, ``"outside"``,
``"run_signal"``; ``"funnel_inner_upper"``… for the funnel) so tests and callers can find
what was drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import MUTED, OKABE_ITO, new_axes, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_control_chart", "plot_funnel"]

#: Colours: the series, the limits, and the two kinds of signal.
VALUE_COLOUR = OKABE_ITO["blue"]
LIMIT_COLOUR = MUTED
OUTSIDE_COLOUR = OKABE_ITO["vermillion"]
RUN_COLOUR = OKABE_ITO["orange"]

_CHART_COLUMNS = ("period", "value", "centre", "lcl", "ucl", "outside_limits")


def _period_text(period: Any) -> str:
    if isinstance(period, pd.Period):
        return str(period)
    if isinstance(period, pd.Timestamp | np.datetime64):
        return pd.Timestamp(period).strftime("%Y-%m")
    return str(period)


def plot_control_chart(
    chart: Any,
    *,
    ax: Axes | None = None,
    percent: bool | None = None,
    max_ticks: int = 12,
) -> Axes:
    """Draw a control chart: the series, centre line, limits and its signals.

    Parameters
    ----------
    chart
        A :class:`~dnoutcomes.qi.ControlChart`, or its frame with the columns ``period``,
        ``value``, ``centre``, ``lcl``, ``ucl``, ``outside_limits``.
    ax
        Axes to draw on; a new wide figure when None.
    percent
        Show the y-axis as percentages (a proportion of 0.25 reads 25 %). Default: True for
        a P chart, False otherwise.
    max_ticks
        At most this many period labels on the x-axis (every k-th period is labelled).

    Returns
    -------
    matplotlib.axes.Axes
        With a ``values`` line (one point per period, gaps where a period has no data), a
        ``centre`` line and ``ucl`` / ``lcl`` step lines (steps follow limits that change
        with the subgroup size), ``outside`` markers on the points beyond a limit, and, when
        the runs rules signal a shift, the centre line drawn dashed in orange (gid
        ``run_signal``) with the runs figures written under the axis.

    Raises
    ------
    RequestError
        When a column is missing.

    Notes
    -----
    The y-label is the chart's ``label``; for a U chart it says the rate's unit.

    Examples
    --------
    >>> from dnoutcomes.qi import i_chart
    >>> chart = i_chart([5, 6, 5, 7, 6, 5, 6, 14], label="mean NPRS improvement")
    >>> ax = plot_control_chart(chart)
    >>> [line.get_gid() for line in ax.lines]
    ['ucl', 'lcl', 'centre', 'values', 'outside']
    """
    frame = tidy_frame(
        chart, attributes=("frame", "to_frame"), required=_CHART_COLUMNS, figure="control chart"
    )
    kind = attribute(chart, "chart", None)
    label = str(attribute(chart, "label", "value"))
    signals = attribute(chart, "signals", None)
    if percent is None:
        percent = kind == "p"
    scale = 100.0 if percent else 1.0
    x = np.arange(len(frame), dtype=float)
    value = frame["value"].to_numpy(dtype=float) * scale
    centre = frame["centre"].to_numpy(dtype=float) * scale
    lcl = frame["lcl"].to_numpy(dtype=float) * scale
    ucl = frame["ucl"].to_numpy(dtype=float) * scale
    outside = frame["outside_limits"].to_numpy(dtype=bool)
    runs_signal = bool(getattr(signals, "runs_signal", False))
    with plot_style():
        fig, ax = new_axes(ax, size="wide")
        ax.step(x, ucl, where="mid", color=LIMIT_COLOUR, linewidth=1.0, label="Control limits")
        ax.lines[-1].set_gid("ucl")
        ax.step(x, lcl, where="mid", color=LIMIT_COLOUR, linewidth=1.0, label="_lcl")
        ax.lines[-1].set_gid("lcl")
        ax.step(
            x,
            centre,
            where="mid",
            color=RUN_COLOUR if runs_signal else "black",
            linestyle="--" if runs_signal else "-",
            linewidth=1.2,
            label="Centre line (shift signalled)" if runs_signal else "Centre line",
        )
        ax.lines[-1].set_gid("run_signal" if runs_signal else "centre")
        ax.plot(x, value, color=VALUE_COLOUR, marker="o", markersize=4, linewidth=1.2)
        ax.lines[-1].set_gid("values")
        ax.lines[-1].set_label(label[:1].upper() + label[1:])
        if outside.any():
            ax.plot(
                x[outside],
                value[outside],
                linestyle="none",
                marker="o",
                markersize=8,
                markerfacecolor=OUTSIDE_COLOUR,
                markeredgecolor=OUTSIDE_COLOUR,
                label="Outside the limits",
            )
            ax.lines[-1].set_gid("outside")
        periods = [_period_text(p) for p in frame["period"]]
        step = max(1, int(np.ceil(len(periods) / max(max_ticks, 1))))
        ticks = x[::step]
        ax.set_xticks(ticks, periods[::step], rotation=45, ha="right")
        ax.set_xlim(-0.5, len(frame) - 0.5)
        if percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        ax.set_ylabel(label[:1].upper() + label[1:])
        if signals is not None and getattr(signals, "longest_run", None) is not None:
            text = (
                f"Longest run {signals.longest_run} (limit {signals.longest_run_limit}); "
                f"crossings {signals.crossings} (at least {signals.crossings_limit})"
            )
            if runs_signal:
                text += ": shift signalled"
            ax.annotate(
                text,
                xy=(0.0, 0.0),
                xycoords="axes fraction",
                xytext=(0, -52),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=8,
                color=RUN_COLOUR if runs_signal else MUTED,
            )
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, borderaxespad=0.2)
    return ax


_FUNNEL_UNITS = ("unit", "n", "share", "outside_inner", "outside_outer")
_FUNNEL_CURVE = ("n", "lower_inner", "upper_inner", "lower_outer", "upper_outer")


def plot_funnel(
    funnel: Any,
    *,
    ax: Axes | None = None,
    label_units: bool = True,
) -> Axes:
    """Draw a funnel plot: each unit's share against its cases, inside two funnels.

    Parameters
    ----------
    funnel
        A :class:`~dnoutcomes.qi.FunnelChart` (its ``frame``, ``curve``, ``target``,
        ``inner_level``, ``outer_level``).
    ax
        Axes to draw on; a new square figure when None.
    label_units
        Write each unit's label beside its point (therapist ids).

    Returns
    -------
    matplotlib.axes.Axes
        A ``target`` line at the overall share; ``funnel_inner_lower`` /
        ``funnel_inner_upper`` (dashed) and ``funnel_outer_lower`` / ``funnel_outer_upper``
        (solid) limit lines over the curve's ``n``; ``units`` points (x = cases, y = share
        in %), with units beyond the inner limits marked orange (``outside_inner``) and
        beyond the outer ones vermillion (``outside_outer``).

    Raises
    ------
    RequestError
        When the funnel has no ``curve`` or a column is missing.

    Examples
    --------
    >>> from dnoutcomes.qi import funnel_chart
    >>> funnel = funnel_chart([12, 30, 5], [20, 40, 25], units=["T1", "T2", "T3"])
    >>> ax = plot_funnel(funnel)
    >>> [line.get_gid() for line in ax.lines][-3:]  # T1 within, T2 beyond 95 %, T3 beyond 99.8 %
    ['units', 'outside_inner', 'outside_outer']
    """
    frame = tidy_frame(funnel, attributes=("frame",), required=_FUNNEL_UNITS, figure="funnel")
    curve = attribute(funnel, "curve", None)
    if not isinstance(curve, pd.DataFrame) or any(c not in curve.columns for c in _FUNNEL_CURVE):
        raise RequestError(
            "funnel plot: expected a FunnelChart with a curve frame (columns "
            f"{', '.join(_FUNNEL_CURVE)}); got {type(funnel).__name__}. Pass the result of "
            "dnoutcomes.qi.funnel_chart()."
        )
    target = float(attribute(funnel, "target", np.nan))
    inner = float(attribute(funnel, "inner_level", 0.95))
    outer = float(attribute(funnel, "outer_level", 0.998))
    label = str(attribute(funnel, "label", "share"))
    unit_label = str(attribute(funnel, "unit_label", "unit"))
    n = curve["n"].to_numpy(dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size="square")
        ax.axhline(100 * target, color="black", linewidth=1.0, label=f"Overall {100 * target:.0f}%")
        ax.lines[-1].set_gid("target")
        for level, which, style in ((inner, "inner", "--"), (outer, "outer", "-")):
            for side in ("lower", "upper"):
                ax.plot(
                    n,
                    100 * curve[f"{side}_{which}"].to_numpy(dtype=float),
                    color=LIMIT_COLOUR,
                    linestyle=style,
                    linewidth=1.0,
                    label=f"{level:.1%} limits".replace(".0%", "%") if side == "upper" else "_",
                )
                ax.lines[-1].set_gid(f"funnel_{which}_{side}")
        x = frame["n"].to_numpy(dtype=float)
        y = 100 * frame["share"].to_numpy(dtype=float)
        out_outer = frame["outside_outer"].to_numpy(dtype=bool)
        out_inner = frame["outside_inner"].to_numpy(dtype=bool) & ~out_outer
        within = ~(out_outer | out_inner)
        for mask, colour, gid, text in (
            (within, VALUE_COLOUR, "units", f"{unit_label.capitalize()}s"),
            (out_inner, RUN_COLOUR, "outside_inner", f"Beyond {inner:.1%}".replace(".0%", "%")),
            (out_outer, OUTSIDE_COLOUR, "outside_outer", f"Beyond {outer:.1%}"),
        ):
            if mask.any():
                ax.plot(x[mask], y[mask], linestyle="none", marker="o", color=colour, label=text)
                ax.lines[-1].set_gid(gid)
        if label_units:
            for xi, yi, unit in zip(x, y, frame["unit"].astype(str), strict=True):
                ax.annotate(unit, (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7)
        ax.set_xlim(0, float(max(n.max(), x.max() if x.size else 1)) * 1.05)
        ax.set_ylim(0, 100)
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        ax.set_xlabel(f"Episodes per {unit_label}")
        ax.set_ylabel(label[:1].upper() + label[1:] + " (%)")
        ax.legend(loc="lower right", fontsize=8)
    return ax
