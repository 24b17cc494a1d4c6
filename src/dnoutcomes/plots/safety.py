"""Adverse events per 100 dry-needling sessions, by type and arm, with exact intervals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import arm_colour, arm_label, new_axes, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_safety"]

NOT_RECORDED = "Adverse events not recorded in this dataset"


def plot_safety(
    safety: Any,
    *,
    by: str = "type",
    ax: Axes | None = None,
) -> Axes:
    """Draw adverse-event rates per 100 DN sessions with their exact 95 % CIs, by arm.

    Parameters
    ----------
    safety
        The safety result (its frame by type, ``by_type``, or by severity, ``by_severity``),
        or such a frame with the columns ``arm``, ``by`` (the category), ``rate_per_100``,
        ``conf_low``, ``conf_high``; used when present: ``events``, ``dn_sessions``. A
        result whose ``recorded`` attribute is False (no adverse_events table) draws the
        words "Adverse events not recorded", never a zero.
    by
        ``"type"`` or ``"severity"``: the category on the y-axis.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One ``Line2D`` of points per arm (label = the arm in words with its DN sessions),
        one point per category where the rate exists, whiskers from ``conf_low`` to
        ``conf_high``; categories top to bottom in the frame's order.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    An arm with no DN sessions has no rate (null): it gets no points, and its legend entry
    says "no DN sessions". Arms are dodged vertically within a category.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_safety
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_safety(compare_safety(dataset), by="severity")
    >>> [line.get_label() for line in ax.lines]
    ['Dry needling alone (501 DN sessions)',
     'Dry needling + manual & exercise therapy (732 DN sessions)']
    """
    with plot_style():
        if attribute(safety, "recorded", True) is False:
            fig, ax = new_axes(ax)
            ax.set_axis_off()
            ax.text(0.5, 0.5, NOT_RECORDED, ha="center", va="center", fontsize=12)
            return ax
        frame = tidy_frame(
            safety,
            attributes=(f"by_{by}", "to_frame"),
            required=("arm", by, "rate_per_100", "conf_low", "conf_high"),
            figure="adverse-event rate plot",
        )
        categories = [str(c) for c in pd.unique(frame[by].astype(str))]
        arms = [str(a) for a in pd.unique(frame["arm"].astype(str))]
        k = len(categories)
        base = {c: float(k - 1 - i) for i, c in enumerate(categories)}
        offsets = np.linspace(0.18, -0.18, len(arms)) if len(arms) > 1 else np.zeros(1)
        fig, ax = new_axes(ax, size=(6.4, 1.4 + 0.4 * k))
        for arm, offset in zip(arms, offsets, strict=True):
            rows = frame.loc[frame["arm"].astype(str) == arm]
            rate = rows["rate_per_100"].to_numpy(dtype=float)
            y = rows[by].astype(str).map(base).to_numpy(dtype=float) + offset
            label = arm_label(arm)
            if "dn_sessions" in rows.columns:
                sessions = rows["dn_sessions"].dropna()
                if len(sessions) and float(sessions.max()) == 0:
                    label += " (no DN sessions)"
                elif len(sessions):
                    label += f" ({int(sessions.max())} DN sessions)"
            has = np.isfinite(rate)
            colour = arm_colour(arm)
            ax.hlines(
                y[has],
                rows["conf_low"].to_numpy(dtype=float)[has],
                rows["conf_high"].to_numpy(dtype=float)[has],
                color=colour,
                linewidth=1.4,
            )
            ax.plot(
                rate[has],
                y[has],
                marker="o",
                linestyle="none",
                color=colour,
                label=label,
                clip_on=False,
            )
        ax.set_yticks(list(base.values()), [c.replace("_", " ").capitalize() for c in base])
        ax.set_ylim(-0.6, k - 0.4)
        ax.set_xlim(left=0)
        ax.set_xlabel("Adverse events per 100 DN sessions (exact 95% CI)")
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.2)
    return ax
