"""Making-Data-Count charts and the rare-event charts: drawing only.

The numbers are those of :class:`dnoutcomes.qi.mdc.MDCChart`,
:class:`dnoutcomes.qi.rare.GChart` and :class:`dnoutcomes.qi.rare.BernoulliCusum`. MDC
colours: grey for common cause, blue for improvement, orange for concern, purple for a
special cause without a direction of improvement. Artists carry a ``gid``: ``values``,
``centre``, ``lcl``, ``ucl``, ``target``, ``highlight``, ``phase_change``,
``point_<type>`` (one marker set per point type), ``variation_icon``, ``assurance_icon``;
``h`` and ``statistic`` / ``signal`` on the CUSUM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import MUTED, OKABE_ITO, new_axes, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MDC_COLOURS", "plot_cusum", "plot_g_chart", "plot_mdc_chart"]

#: Colours of the MDC point types and icons.
MDC_COLOURS: dict[str, str] = {
    "common_cause": MUTED,
    "improvement": OKABE_ITO["blue"],
    "concern": OKABE_ITO["orange"],
    "neutral": OKABE_ITO["reddish_purple"],
    "consistent_pass": OKABE_ITO["blue"],
    "consistent_fail": OKABE_ITO["orange"],
    "inconsistent": MUTED,
}

_ICON_LETTERS = {
    "common_cause": "~",
    "improvement_high": "H↑",
    "improvement_low": "L↓",
    "concern_high": "H↑",
    "concern_low": "L↓",
    "neutral_high": "H",
    "neutral_low": "L",
    "consistent_pass": "P",
    "consistent_fail": "F",
    "inconsistent": "?",
}

_MDC_COLUMNS = ("period", "value", "phase", "centre", "lcl", "ucl", "point_type", "highlight")


def _colour(point_type: str) -> str:
    return MDC_COLOURS.get(point_type.split("_")[0], MDC_COLOURS.get(point_type, MUTED))


def _period_text(period: Any) -> str:
    if isinstance(period, pd.Period):
        return str(period)
    if isinstance(period, pd.Timestamp | np.datetime64):
        return pd.Timestamp(period).strftime("%Y-%m")
    return str(period)


def _by_phase(values: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y with a NaN gap between phases, so limit lines break at a change."""
    xs: list[float] = []
    ys: list[float] = []
    for i, v in enumerate(values):
        if i and phase[i] != phase[i - 1]:
            xs.append(i - 0.5)
            ys.append(np.nan)
        xs.append(float(i))
        ys.append(float(v))
    return np.asarray(xs), np.asarray(ys)


def _badge(ax: Axes, x: float, icon: str | None, gid: str, title: str) -> None:
    if icon is None:
        return
    colour = _colour(icon)
    ax.text(
        x,
        1.02,
        _ICON_LETTERS.get(icon, "?"),
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=9,
        fontweight="bold",
        color="white",
        bbox={"boxstyle": "circle,pad=0.35", "facecolor": colour, "edgecolor": colour},
        gid=gid,
        label=f"{title}: {icon.replace('_', ' ')}",
    )


def plot_mdc_chart(chart: Any, *, ax: Axes | None = None, max_ticks: int = 12) -> Axes:
    """Draw a Making-Data-Count chart: points coloured by type, limits per phase, the
    target, the report period shaded, annotations and the two icons.

    Parameters
    ----------
    chart
        A :class:`~dnoutcomes.qi.mdc.MDCChart`.
    ax
        Axes to draw on; a new wide figure when None.
    max_ticks
        At most this many period labels.

    Returns
    -------
    matplotlib.axes.Axes
        With the gids listed in the module docstring; the icons are two round badges above
        the top-right corner (text artists ``variation_icon`` and ``assurance_icon``).

    Examples
    --------
    >>> from dnoutcomes.qi.mdc import mdc_chart
    >>> c = mdc_chart([9.0, 11.0] * 10 + [30.0], target=2.0)
    >>> ax = plot_mdc_chart(c)
    >>> sorted(t.get_gid() for t in ax.texts if t.get_gid())
    ['assurance_icon', 'variation_icon']
    """
    frame = tidy_frame(chart, attributes=("frame",), required=_MDC_COLUMNS, figure="MDC chart")
    label = str(attribute(chart, "label", "value"))
    target = attribute(chart, "target", None)
    percent = bool((frame.get("chart", pd.Series(dtype=object)) == "p").any())
    scale = 100.0 if percent else 1.0
    x = np.arange(len(frame), dtype=float)
    y = frame["value"].to_numpy(dtype=float) * scale
    phase = frame["phase"].astype(str).to_numpy()
    with plot_style():
        fig, ax = new_axes(ax, size="wide")
        shade = frame["highlight"].to_numpy(dtype=bool)
        if shade.any():
            idx = np.flatnonzero(shade)
            ax.axvspan(idx[0] - 0.5, idx[-1] + 0.5, color="#EEEEEE", zorder=0, gid="highlight")
        for col, style in (("ucl", ":"), ("lcl", ":"), ("centre", "-")):
            xs, ys = _by_phase(frame[col].to_numpy(dtype=float) * scale, phase)
            ax.plot(xs, ys, color="black" if col == "centre" else MUTED, linestyle=style, lw=1.0)
            ax.lines[-1].set_gid(col)
        if target is not None:
            ax.axhline(float(target) * scale, color=OKABE_ITO["vermillion"], ls="--", lw=1.0)
            ax.lines[-1].set_gid("target")
        ax.plot(x, y, color=MUTED, linewidth=1.0)
        ax.lines[-1].set_gid("values")
        types = frame["point_type"].astype(str).to_numpy()
        for kind in dict.fromkeys(types):
            if kind == "no_data":
                continue
            mask = types == kind
            ax.plot(x[mask], y[mask], ls="none", marker="o", ms=5, color=_colour(kind))
            ax.lines[-1].set_gid(f"point_{kind}")
        for i in np.flatnonzero(phase[1:] != phase[:-1]) + 1:
            ax.axvline(i - 0.5, color="black", lw=0.8, ls="--", gid="phase_change")
            ax.text(
                i - 0.4, 1.0, phase[i], transform=ax.get_xaxis_transform(), fontsize=7, va="top"
            )
        if "annotation" in frame.columns:
            for k, text in enumerate(frame["annotation"].astype(str)):
                if text:
                    ax.annotate(
                        text,
                        (x[k], y[k]),
                        xytext=(0, 18),
                        textcoords="offset points",
                        fontsize=7,
                        ha="center",
                        arrowprops={"arrowstyle": "-", "color": MUTED},
                    )
        _badge(ax, 0.93, attribute(chart, "variation_icon", None), "variation_icon", "Variation")
        _badge(ax, 0.99, attribute(chart, "assurance_icon", None), "assurance_icon", "Assurance")
        periods = [_period_text(p) for p in frame["period"]]
        step = max(1, int(np.ceil(len(periods) / max(max_ticks, 1))))
        ax.set_xticks(x[::step], periods[::step], rotation=45, ha="right")
        ax.set_xlim(-0.5, len(frame) - 0.5)
        if percent:
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        ax.set_ylabel(label[:1].upper() + label[1:])
    return ax


def plot_g_chart(chart: Any, *, ax: Axes | None = None) -> Axes:
    """Draw a G chart: sessions between events, the mean and the limits.

    Parameters
    ----------
    chart
        A :class:`~dnoutcomes.qi.rare.GChart`.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes
        Lines ``values``, ``centre``, ``ucl``, ``lcl``; ``outside`` markers (vermillion
        "sooner", blue "later").
    """
    frame = tidy_frame(
        chart,
        attributes=("frame",),
        required=("g", "centre", "lcl", "ucl", "signal"),
        figure="G chart",
    )
    x = np.arange(1, len(frame) + 1, dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size="wide")
        for col, colour, style in (
            ("ucl", MUTED, ":"),
            ("lcl", MUTED, ":"),
            ("centre", "black", "-"),
        ):
            ax.plot(x, frame[col].to_numpy(dtype=float), color=colour, ls=style, lw=1.0)
            ax.lines[-1].set_gid(col)
        g = frame["g"].to_numpy(dtype=float)
        ax.plot(x, g, color=MUTED, marker="o", ms=4, lw=1.0)
        ax.lines[-1].set_gid("values")
        signal = frame["signal"].astype(str).to_numpy()
        for kind, colour in (("sooner", OKABE_ITO["vermillion"]), ("later", OKABE_ITO["blue"])):
            mask = signal == kind
            if mask.any():
                ax.plot(x[mask], g[mask], ls="none", marker="o", ms=8, color=colour)
                ax.lines[-1].set_gid(f"outside_{kind}")
        ax.set_xlabel("Event")
        ax.set_ylabel(str(attribute(chart, "label", "sessions between events")).capitalize())
    return ax


def plot_cusum(chart: Any, *, ax: Axes | None = None) -> Axes:
    """Draw a Bernoulli CUSUM: the statistic per session and the control limit ``h``.

    Parameters
    ----------
    chart
        A :class:`~dnoutcomes.qi.rare.BernoulliCusum`.
    ax
        Axes to draw on.

    Returns
    -------
    matplotlib.axes.Axes
        Lines ``statistic`` and ``h``; ``signal`` markers where the chart signalled.
    """
    frame = tidy_frame(
        chart, attributes=("frame",), required=("statistic", "h", "signal"), figure="CUSUM"
    )
    x = np.arange(1, len(frame) + 1, dtype=float)
    s = frame["statistic"].to_numpy(dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size="wide")
        ax.plot(x, s, color=OKABE_ITO["blue"], lw=1.0)
        ax.lines[-1].set_gid("statistic")
        ax.plot(x, frame["h"].to_numpy(dtype=float), color=OKABE_ITO["vermillion"], ls="--", lw=1.0)
        ax.lines[-1].set_gid("h")
        hit = frame["signal"].to_numpy(dtype=bool)
        if hit.any():
            ax.plot(x[hit], s[hit], ls="none", marker="o", color=OKABE_ITO["vermillion"])
            ax.lines[-1].set_gid("signal")
        ax.set_xlabel("DN session")
        ax.set_ylabel("CUSUM (log-likelihood ratio)")
    return ax
