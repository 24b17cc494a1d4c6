"""Improvement by arm: box plot with every episode's point and the MCID line, and the
cumulative responder curves (share of each arm reaching at least each level)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import (
    MUTED,
    _lookup_measure,
    arm_colour,
    arm_label_n,
    measure_label,
    measure_unit,
    new_axes,
    plot_style,
    timepoint_label,
    wrap_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["jitter_offsets", "plot_improvement", "plot_responder_curves"]

_GOLDEN = 0.6180339887498949


def jitter_offsets(n: int, width: float = 0.5) -> np.ndarray:
    """Return ``n`` horizontal offsets spread evenly in ``[-width/2, width/2)``, no randomness.

    Parameters
    ----------
    n
        How many points.
    width
        The spread.

    Returns
    -------
    numpy.ndarray
        Offsets from the golden-ratio sequence ``(i × 0.618…) mod 1 − 0.5`` scaled by
        ``width``: the same on every run, and never two points on top of each other.

    Examples
    --------
    >>> jitter_offsets(3, 1.0).round(3).tolist()
    [-0.5, 0.118, -0.264]
    """
    return ((np.arange(n) * _GOLDEN) % 1.0 - 0.5) * width


def _mcid(measure: str, registry: Any | None) -> float | None:
    value = getattr(_lookup_measure(measure, registry), "mcid_points", None)
    return None if value is None else float(value)


def plot_improvement(
    pairs: Any,
    *,
    measure: str | None = None,
    timepoint: str | None = None,
    arms: tuple[str, ...] | None = None,
    mcid: float | None = None,
    registry: Any | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw each arm's improvement as a box plot over every episode's point, with the MCID.

    Parameters
    ----------
    pairs
        One row per episode with ``arm`` and ``improvement`` (baseline minus later value
        for lower-is-better measures; as :func:`dnoutcomes.cohort.outcome_pairs` gives it);
        rows with a missing improvement are not drawn. Also accepted: an object with such
        a frame as ``pairs``.
    measure, timepoint
        For the labels (default the frame's ``measure`` / ``timepoint`` attribute or
        columns, else NPRS at discharge).
    arms
        The arms to draw, left to right (default: in the order they appear).
    mcid
        Where the dashed MCID line goes; default the registry's MCID in points; no line
        when the measure has none.
    registry
        The measure registry.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Arm ``i`` is centred at x = i: one ``Line2D`` of points per arm (gid
        ``points:<arm>``) whose y values are the arm's improvements, a box (matplotlib's
        quartiles and 1.5 IQR whiskers, no fliers since every point is drawn), a dashed line
        at y = ``mcid`` (gid ``mcid``) and a solid line at 0; tick labels are the arms in
        words with their n.

    Raises
    ------
    RequestError
        When a column is missing, the frame is empty or an arm has no improvement.

    Notes
    -----
    The box's quartiles are matplotlib's (linear interpolation), drawn as a visual summary
    beside the points; the numbers reported elsewhere come from the analysis results.
    Points are spread sideways by a fixed golden-ratio sequence, not at random.

    Examples
    --------
    >>> from dnoutcomes.cohort import outcome_pairs
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> pairs = outcome_pairs(dataset, measure="nprs")
    >>> ax = plot_improvement(pairs, arms=("dn_only", "dn_manual_exercise"))
    >>> drawn = {line.get_gid(): len(line.get_ydata()) for line in ax.lines}
    >>> drawn["points:dn_only"], drawn["points:dn_manual_exercise"]  # one point per episode
    (69, 113)
    """
    frame = tidy_frame(
        pairs,
        attributes=("pairs", "to_frame"),
        required=("arm", "improvement"),
        figure="improvement plot",
    )
    measure = str(measure or _column_or_attr(pairs, frame, "measure") or "nprs")
    timepoint = str(timepoint or _column_or_attr(pairs, frame, "timepoint") or "discharge")
    data = frame.loc[frame["improvement"].notna(), ["arm", "improvement"]]
    order = list(arms) if arms else [str(a) for a in pd.unique(data["arm"].astype(str))]
    values = [
        data.loc[data["arm"].astype(str) == arm, "improvement"].to_numpy(dtype=float)
        for arm in order
    ]
    empty = [arm for arm, v in zip(order, values, strict=True) if v.size == 0]
    if empty:
        raise RequestError(
            f"improvement plot: no episode of {', '.join(empty)} has an improvement; expected "
            f"at least one per arm; got arms {', '.join(order)}. Choose arms with data."
        )
    mcid = _mcid(measure, registry) if mcid is None else mcid
    with plot_style():
        fig, ax = new_axes(ax)
        ax.axhline(0.0, color="#BBBBBB", linewidth=0.8, zorder=0)
        for i, (arm, v) in enumerate(zip(order, values, strict=True)):
            ax.plot(
                i + jitter_offsets(v.size, 0.5),
                v,
                marker="o",
                markersize=3,
                linestyle="none",
                alpha=0.45,
                color=arm_colour(arm),
                gid=f"points:{arm}",
            )
        ax.boxplot(
            values,
            positions=np.arange(len(order), dtype=float),
            widths=0.6,
            showfliers=False,
            medianprops={"color": "black", "linewidth": 1.6},
            boxprops={"linewidth": 1.1},
            whiskerprops={"linewidth": 1.1},
            capprops={"linewidth": 1.1},
            patch_artist=False,
            zorder=3,
        )
        ax.set_xticks(
            np.arange(len(order), dtype=float),
            [wrap_label(arm_label_n(arm, v.size)) for arm, v in zip(order, values, strict=True)],
        )
        ax.set_xlim(-0.6, len(order) - 0.4)
        if mcid is not None:
            ax.axhline(mcid, color=MUTED, linestyle="--", linewidth=1.2, gid="mcid")
            ax.annotate(
                f"MCID {mcid:g} {measure_unit(measure, registry)}".rstrip(),
                xy=(1.0, mcid),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=9,
                color="#444444",
            )
        ax.set_ylabel(
            measure_label(measure, registry, prefix="Improvement in ", short=True)
            + "\n(higher = better)"
        )
        ax.set_title(
            f"Improvement from baseline to {timepoint_label(timepoint).lower()}",
            fontsize=11,
        )
    return ax


def plot_responder_curves(
    responders: Any,
    *,
    measure: str | None = None,
    threshold: float | None = None,
    registry: Any | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the share of each arm reaching at least each level of improvement.

    Parameters
    ----------
    responders
        The responder result (its ``distribution``), or a frame with ``arm``,
        ``improvement`` (ascending levels), ``share`` (fraction 0–1 of the arm's episodes
        improving by at least that level) and optionally ``n``.
    measure
        For the x label (default the result's).
    threshold
        Where to mark the responder threshold. Default: the result's ``threshold`` when it
        is in points (no line for a percent or PGIC definition); for a frame, the
        registry's MCID in points.
    registry
        The measure registry.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One step ``Line2D`` per arm (drawstyle ``steps-pre``; x = levels, y = share in
        percent; label = the arm in words with its n) and a dashed vertical line at the
        threshold (gid ``mcid``).

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    Shares are drawn as the result holds them, times 100. Between two levels the share of
    "at least x" equals the share at the next level up, hence the ``steps-pre`` drawing.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_responders
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_responder_curves(compare_responders(dataset))
    >>> [line.get_label() for line in ax.lines[:2]]
    ['Dry needling alone (n = 69)', 'Dry needling + manual & exercise therapy (n = 113)']
    """
    frame = tidy_frame(
        responders,
        attributes=("distribution",),
        required=("arm", "improvement", "share"),
        figure="responder curves",
    )
    measure = str(measure or attribute(responders, "measure") or "nprs")
    if threshold is None:
        if isinstance(responders, pd.DataFrame):
            threshold = _mcid(measure, registry)
        elif attribute(responders, "definition", "points") == "points":
            # a percent or PGIC definition has no place on an axis of points
            threshold = attribute(responders, "threshold")
    arms = [str(a) for a in pd.unique(frame["arm"].astype(str))]
    with plot_style():
        fig, ax = new_axes(ax)
        for arm in arms:
            rows = frame.loc[frame["arm"].astype(str) == arm].sort_values("improvement")
            n = rows["n"].iloc[0] if "n" in rows.columns else None
            ax.plot(
                rows["improvement"].to_numpy(dtype=float),
                100.0 * rows["share"].to_numpy(dtype=float),
                drawstyle="steps-pre",
                color=arm_colour(arm),
                label=arm_label_n(arm, n),
            )
        if threshold is not None:
            ax.axvline(float(threshold), color=MUTED, linestyle="--", linewidth=1.2, gid="mcid")
            ax.annotate(
                f"MCID {float(threshold):g}",
                xy=(float(threshold), 100.0),
                xycoords="data",
                xytext=(4, -2),
                textcoords="offset points",
                va="top",
                fontsize=9,
                color="#444444",
            )
        ax.set_ylim(0, 102)
        ax.set_ylabel("Episodes improving at least this much (%)")
        ax.set_xlabel(measure_label(measure, registry, prefix="Improvement in ", short=True))
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.2)
    return ax


def _column_or_attr(source: Any, frame: pd.DataFrame, name: str) -> str | None:
    value = attribute(source, name)
    if value is None and name in frame.columns and len(frame):
        first = frame[name].iloc[0]
        value = None if pd.isna(first) else first
    return None if value is None else str(value)
