"""Benchmarking figures: the overdispersion-corrected funnel, and the adjusted and raw
funnels side by side. Drawing only: the numbers are those of
:class:`dnoutcomes.qi.overdispersion.OverdispersedFunnel` and
:class:`dnoutcomes.qi.benchmark.BenchmarkResult`.

Every artist carries a ``gid``: ``target``, ``funnel_inner_lower`` …
``funnel_outer_upper``, ``units``, ``outside_inner``, ``outside_outer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import MUTED, OKABE_ITO, new_axes, new_figure, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_benchmark", "plot_overdispersed_funnel"]

_UNITS = ("unit", "precision", "value", "outside_inner", "outside_outer")
_CURVE = ("precision", "lower_inner", "upper_inner", "lower_outer", "upper_outer")
_METHOD = {"additive": "additive τ²", "multiplicative": "multiplicative φ", "none": "none"}


def plot_overdispersed_funnel(
    funnel: Any, *, ax: Axes | None = None, label_units: bool = True
) -> Axes:
    """Draw an overdispersion-corrected funnel plot.

    Parameters
    ----------
    funnel
        An :class:`~dnoutcomes.qi.overdispersion.OverdispersedFunnel`.
    ax
        Axes to draw on; a new square figure when None.
    label_units
        Write each unit's label beside its point.

    Returns
    -------
    matplotlib.axes.Axes
        A ``target`` line; dashed inner (95 %) and solid outer (99.8 %) limit lines over
        the curve's precision; the units as points (``units`` within, ``outside_inner``
        orange, ``outside_outer`` vermillion). Shares are drawn in %. The title says
        adjusted or not and the overdispersion method with φ and τ².

    Raises
    ------
    RequestError
        When the funnel has no curve or a column is missing.

    Examples
    --------
    >>> from dnoutcomes.qi.overdispersion import proportion_funnel
    >>> ax = plot_overdispersed_funnel(proportion_funnel([12, 30, 5, 20], [20, 40, 25, 41]))
    >>> [line.get_gid() for line in ax.lines][:2]
    ['target', 'funnel_inner_lower']
    """
    frame = tidy_frame(funnel, attributes=("frame",), required=_UNITS, figure="funnel")
    curve = attribute(funnel, "curve", None)
    if not isinstance(curve, pd.DataFrame) or any(c not in curve.columns for c in _CURVE):
        raise RequestError(
            "funnel plot: expected an OverdispersedFunnel with a curve frame (columns "
            f"{', '.join(_CURVE)}); got {type(funnel).__name__}."
        )
    indicator = str(attribute(funnel, "indicator", "mean"))
    scale = 100.0 if indicator == "proportion" else 1.0
    target = float(attribute(funnel, "target", np.nan)) * scale
    inner = float(attribute(funnel, "inner_level", 0.95))
    outer = float(attribute(funnel, "outer_level", 0.998))
    label = str(attribute(funnel, "label", "indicator"))
    unit_label = str(attribute(funnel, "unit_label", "unit"))
    method = str(attribute(funnel, "method", "none"))
    adjusted = bool(attribute(funnel, "adjusted", False))
    phi = float(attribute(funnel, "phi", np.nan))
    tau2 = float(attribute(funnel, "tau2", np.nan))
    x_curve = curve["precision"].to_numpy(dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size="square")
        ax.axhline(target, color="black", linewidth=1.0, label="Target")
        ax.lines[-1].set_gid("target")
        for level, which, style in ((inner, "inner", "--"), (outer, "outer", "-")):
            for side in ("lower", "upper"):
                ax.plot(
                    x_curve,
                    scale * curve[f"{side}_{which}"].to_numpy(dtype=float),
                    color=MUTED,
                    linestyle=style,
                    linewidth=1.0,
                    label=f"{level:.1%} limits".replace(".0%", "%") if side == "upper" else "_",
                )
                ax.lines[-1].set_gid(f"funnel_{which}_{side}")
        x = frame["precision"].to_numpy(dtype=float)
        y = scale * frame["value"].to_numpy(dtype=float)
        out_outer = frame["outside_outer"].to_numpy(dtype=bool)
        out_inner = frame["outside_inner"].to_numpy(dtype=bool) & ~out_outer
        within = ~(out_outer | out_inner)
        for mask, colour, gid, text in (
            (within, OKABE_ITO["blue"], "units", f"{unit_label.capitalize()}s"),
            (out_inner, OKABE_ITO["orange"], "outside_inner", "Beyond inner limits"),
            (out_outer, OKABE_ITO["vermillion"], "outside_outer", "Beyond outer limits"),
        ):
            if mask.any():
                ax.plot(x[mask], y[mask], linestyle="none", marker="o", color=colour, label=text)
                ax.lines[-1].set_gid(gid)
        if label_units:
            for xi, yi, unit in zip(x, y, frame["unit"].astype(str), strict=True):
                ax.annotate(unit, (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7)
        ax.set_xlim(0, float(max(x_curve.max(), x.max() if x.size else 1)) * 1.02)
        if indicator == "proportion":
            from matplotlib.ticker import PercentFormatter

            ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        precision = str(attribute(funnel, "precision_label", "cases"))
        ax.set_xlabel(f"{precision.capitalize()} per {unit_label}")
        ax.set_ylabel(label[:1].upper() + label[1:])
        kind = "Case-mix adjusted" if adjusted else "Unadjusted"
        ax.set_title(
            f"{kind}\noverdispersion: {_METHOD.get(method, method)} "
            f"(φ = {phi:.2f}, τ² = {tau2:.3g})",
            fontsize=9,
        )
        ax.legend(loc="lower right", fontsize=7)
    return ax


def plot_benchmark(result: Any, *, axes: Any = None) -> Figure:
    """Draw the adjusted funnel (left) and the raw one (right) of a benchmark.

    Parameters
    ----------
    result
        A :class:`~dnoutcomes.qi.benchmark.BenchmarkResult` (its ``adjusted`` and ``raw``).
    axes
        Two axes to draw on; a new two-panel figure when None.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its axes carry the gids of :func:`plot_overdispersed_funnel`.

    Raises
    ------
    RequestError
        When the result has no funnels (every unit suppressed) or ``axes`` is not two axes.
    """
    adjusted = attribute(result, "adjusted", None)
    raw = attribute(result, "raw", None)
    if adjusted is None or raw is None:
        raise RequestError(
            "benchmark plot: no funnel to draw (every unit was suppressed); lower min_cell "
            "or widen the period."
        )
    with plot_style():
        if axes is None:
            fig, grid = new_figure(ncols=2, size=(10.4, 5.2))
            pair = list(np.ravel(grid))
        else:
            pair = list(np.ravel(axes))
            if len(pair) != 2:
                raise RequestError(f"benchmark plot: axes must be two axes; got {len(pair)}.")
            fig = pair[0].get_figure(root=True)
        plot_overdispersed_funnel(adjusted, ax=pair[0])
        plot_overdispersed_funnel(raw, ax=pair[1])
    return fig
