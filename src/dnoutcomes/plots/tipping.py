"""The tipping-point figure of the delta-adjustment (MNAR) sensitivity analysis."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from dnoutcomes.plots._data import tidy_frame
from dnoutcomes.plots._style import MUTED, OKABE_ITO, new_axes, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_tipping_point"]


def plot_tipping_point(
    result: Any,
    *,
    xlabel: str | None = None,
    ylabel: str = "Pooled effect (95% CI)",
    ax: Axes | None = None,
) -> Axes:
    """Draw the pooled effect and its interval against the shift δ of the imputed outcomes.

    Parameters
    ----------
    result
        A tipping-point result (its ``grid`` frame, ``tipping_delta``, ``measure`` and the
        shifted arm), or a frame with ``delta``, ``estimate``, ``conf_low``, ``conf_high``.
    xlabel, ylabel
        Axis labels (the x label names the shifted arm by default).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One line (label ``"Pooled estimate"``, x = δ, y = the estimates), one shaded band
        between ``conf_low`` and ``conf_high``, a dashed horizontal line at 0 and, when
        the result has a finite ``tipping_delta``, a dotted vertical line there (label
        ``"Tipping point"``).

    Raises
    ------
    RequestError
        When no grid with those columns is found.

    Notes
    -----
    Drawing only: the numbers are the result's, unchanged.
    """
    frame = tidy_frame(
        result,
        attributes=("to_frame",),
        required=("delta", "estimate", "conf_low", "conf_high"),
        figure="tipping-point plot",
    ).sort_values("delta")
    delta = frame["delta"].to_numpy(dtype=float)
    tipping = float(getattr(result, "tipping_delta", math.nan))
    if xlabel is None:
        arm = getattr(result, "shifted", None)
        name = getattr(result, arm, None) if isinstance(arm, str) else None
        xlabel = f"Shift of the imputed outcomes of {name} (δ)" if name else "Shift δ"
    with plot_style():
        _, ax = new_axes(ax)
        ax.fill_between(
            delta,
            frame["conf_low"].to_numpy(dtype=float),
            frame["conf_high"].to_numpy(dtype=float),
            color=OKABE_ITO["sky_blue"],
            alpha=0.35,
            linewidth=0,
            label="Confidence interval",
        )
        ax.plot(
            delta,
            frame["estimate"].to_numpy(dtype=float),
            color=OKABE_ITO["blue"],
            label="Pooled estimate",
        )
        ax.axhline(0.0, color=MUTED, linestyle="--", linewidth=1)
        if np.isfinite(tipping):
            ax.axvline(
                tipping,
                color=OKABE_ITO["vermillion"],
                linestyle=":",
                linewidth=1.5,
                label="Tipping point",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", frameon=False)
    return ax
