"""The effects forest: adjusted differences of several outcomes, one shared axis per unit,
"favours …" labels on each side and the estimates printed beside each row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._forest_common import POINT, draw_favours, favours, fmt, format_p
from dnoutcomes.plots._style import (
    MUTED,
    _lookup_measure,
    arm_label,
    measure_name,
    measure_unit,
    new_figure,
    plot_style,
    timepoint_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_effects"]


def _first(frame: pd.DataFrame, column: str) -> str | None:
    if column in frame.columns and len(frame):
        value = frame[column].iloc[0]
        return None if pd.isna(value) else str(value)
    return None


def _panels(frame: pd.DataFrame, registry: Any | None) -> list[tuple[str, str, list[int]]]:
    """(unit, direction, row positions) per panel, in the order units first appear."""
    out: dict[tuple[str, str], list[int]] = {}
    for i, measure in enumerate(frame["measure"].astype(str)):
        entry = _lookup_measure(measure, registry)
        key = (measure_unit(measure, registry), str(getattr(entry, "direction", "") or ""))
        out.setdefault(key, []).append(i)
    return [(unit, direction, rows) for (unit, direction), rows in out.items()]


def plot_effects(
    effects: Any,
    *,
    reference: str | None = None,
    comparator: str | None = None,
    registry: Any | None = None,
    size: tuple[float, float] | None = None,
) -> Figure:
    """Draw the adjusted differences of several outcomes: one shared axis per unit.

    Parameters
    ----------
    effects
        A frame (or a result whose ``to_frame()`` gives one) with one row per outcome and the
        columns ``measure``, ``timepoint``, ``estimate``, ``conf_low``, ``conf_high``; used
        when present: ``p_value``, ``p_holm`` (Holm-adjusted p), ``n``, ``reference``,
        ``comparator``, ``role`` (the primary outcome is said to be primary instead of
        showing a Holm p).
    reference, comparator
        The arms compared, for the title and the "favours" labels (default: the frame's
        columns, else the result's attributes).
    registry
        The measure registry giving names, units and directions.
    size
        The figure size in inches (default: 9 wide, taller with more rows); see
        :func:`dnoutcomes.plots._export.figure_size` for journal columns.

    Returns
    -------
    matplotlib.figure.Figure
        One axes (panel) per unit — outcomes in the same unit and with the same direction
        share it, in the frame's order —, titled with the unit. In a panel, row ``i`` of
        ``k`` (from the top) is at y = ``k - 1 - i``: one ``Line2D`` of square points at
        the estimates, one ``LineCollection`` of whiskers from ``conf_low`` to
        ``conf_high``, a dashed line at 0, the outcome and timepoint (and n) as tick
        labels, and a text at the right "estimate (low to high); p; Holm p". Under each
        panel, "← favours …" at the left and "favours … →" at the right (texts with gid
        ``favours``) when the measures' direction is known.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    The estimate is comparator minus reference. For a measure where lower is better (NPRS,
    ODI) a negative difference favours the comparator; where higher is better (range of
    motion) a positive one does. Outcomes of one unit but opposite directions get separate
    panels, so the labels under a panel hold for all its rows. Each panel's x-range covers
    its intervals and 0, with a margin.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_outcomes
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> fig = plot_effects(compare_outcomes(dataset))
    >>> [ax.get_title(loc="left") for ax in fig.axes]
    ['Difference in points', 'Difference in degrees', 'Difference in kg/cm²']
    """
    frame = tidy_frame(
        effects,
        attributes=("to_frame", "effects"),
        required=("measure", "timepoint", "estimate", "conf_low", "conf_high"),
        figure="effects forest plot",
    )
    reference = reference or _first(frame, "reference") or attribute(effects, "reference")
    comparator = comparator or _first(frame, "comparator") or attribute(effects, "comparator")
    panels = _panels(frame, registry)
    heights = [len(rows) + 1.6 for _, _, rows in panels]
    figsize = size or (9.0, 0.6 + 0.38 * sum(heights))
    with plot_style():
        fig, axes = new_figure(
            nrows=len(panels),
            ncols=1,
            size=figsize,
            squeeze=False,
            gridspec_kw={"height_ratios": heights},
        )
        for ax, (unit, _direction, rows) in zip(axes[:, 0], panels, strict=True):
            _panel(ax, frame.iloc[rows], unit=unit, registry=registry)
            labels = favours(
                str(frame["measure"].iloc[rows[0]]),
                registry,
                str(reference) if reference else None,
                str(comparator) if comparator else None,
            )
            if labels is not None:
                draw_favours(ax, labels)
        if reference and comparator:
            fig.suptitle(
                f"{arm_label(str(comparator))} minus {arm_label(str(reference))}",
                x=0.02,
                ha="left",
                fontsize=12,
            )
    return fig


def _row_label(row: Any, registry: Any | None) -> str:
    name = measure_name(str(row["measure"]), registry, short=True)
    text = f"{name}, {timepoint_label(str(row['timepoint'])).lower()}"
    n = row.get("n")
    return f"{text} (n = {int(n)})" if n is not None and pd.notna(n) else text


def _row_note(row: Any) -> str:
    est, low, high = float(row["estimate"]), float(row["conf_low"]), float(row["conf_high"])
    parts = [f"{fmt(est)} ({fmt(low)} to {fmt(high)})" if np.isfinite(est) else ""]
    if "p_value" in row:
        parts.append(format_p(float(row["p_value"])))
    if row.get("role") == "primary":
        parts.append("primary outcome")
    elif "p_holm" in row and pd.notna(row["p_holm"]):
        parts.append(format_p(float(row["p_holm"])).replace("p", "Holm p", 1))
    return "; ".join(p for p in parts if p)


def _panel(ax: Axes, rows: pd.DataFrame, *, unit: str, registry: Any | None) -> None:
    k = len(rows)
    y = np.arange(k - 1, -1, -1, dtype=float)
    est = rows["estimate"].to_numpy(dtype=float)
    low = rows["conf_low"].to_numpy(dtype=float)
    high = rows["conf_high"].to_numpy(dtype=float)
    ax.axvline(0.0, color=MUTED, linewidth=1, linestyle="--", zorder=0)
    ax.hlines(y, low, high, color=POINT, linewidth=1.8)
    ax.plot(est, y, marker="s", linestyle="none", color=POINT, markersize=7)
    left = float(np.nanmin(np.r_[low, est, 0.0]))
    right = float(np.nanmax(np.r_[high, est, 0.0]))
    pad = 0.12 * max(right - left, 1e-9)
    ax.set_xlim(left - pad, right + pad)
    ax.set_ylim(-0.6, k - 0.4)
    records = rows.to_dict(orient="records")
    ax.set_yticks(y, [_row_label(r, registry) for r in records])
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.tick_params(axis="x", labelsize=9)
    ax.spines["left"].set_visible(False)
    for yi, record in zip(y, records, strict=True):
        ax.annotate(
            _row_note(record),
            xy=(1.02, yi),
            xycoords=("axes fraction", "data"),
            va="center",
            fontsize=9,
            gid="estimate",
        )
    ax.set_title(f"Difference in {unit}" if unit else "Difference", loc="left", fontsize=10)
