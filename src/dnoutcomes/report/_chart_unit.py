"""Charts that cannot mislead: every control chart of the report shows all of its points,
at the finest unit (month, else quarter) where no point gives a small count away, or is
not drawn at all, with the reason.

Withholding single points would select them by value (a P chart that hides the months
whose responders *or non-responders* are few keeps exactly the low-response months), so a
chart is all or nothing. One unit serves the whole section (the charts and the table
behind them), so that a quarter's figure and its months' figures are never published side
by side (their difference would be a hidden month). A signal is then named only for a
point the reader can see.

A point is *small* when it would reveal a count from 1 to ``min_cell - 1``:

* I chart (mean improvement): the unit's episodes;
* P chart (share of responders): the unit's episodes, responders or non-responders;
* U chart (adverse events per 100 DN sessions): the unit's adverse events (the rate times
  the sessions shown gives them back).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.qi.cells import is_small

__all__ = ["UNITS", "chart_frame", "choose_unit", "rebuild", "small_points", "to_quarters"]

#: The units tried, finest first.
UNITS: tuple[str, ...] = ("month", "quarter")


def chart_frame(qi: Any) -> pd.DataFrame:
    """One row per month of the window: ``month``, ``episodes``, ``improvement_sum``,
    ``responders``, and, with adverse events recorded, ``dn_sessions`` and
    ``adverse_events``."""
    monthly = qi.monthly
    frame = pd.DataFrame(
        {
            "month": monthly["month"].astype(str).to_numpy(),
            "episodes": monthly["episodes"].astype("int64").to_numpy(),
            "improvement_sum": (
                monthly["mean_improvement"].fillna(0) * monthly["episodes"]
            ).to_numpy(),
            "responders": monthly["responders"].astype("int64").to_numpy(),
        }
    )
    if qi.adverse_events is not None:
        ae = qi.adverse_events.assign(month=qi.adverse_events["month"].astype(str))
        frame = frame.merge(
            ae[["month", "dn_sessions", "adverse_events"]], on="month", how="outer"
        ).sort_values("month")
        for column in ("episodes", "responders", "dn_sessions", "adverse_events"):
            frame[column] = frame[column].fillna(0).astype("int64")
        frame["improvement_sum"] = frame["improvement_sum"].fillna(0.0)
    return frame.reset_index(drop=True)


def to_quarters(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the months of each calendar quarter (``2025-07`` → ``2025-Q3``).

    Examples
    --------
    >>> f = pd.DataFrame({"month": ["2025-06", "2025-07", "2025-08"], "episodes": [1, 2, 3],
    ...                   "improvement_sum": [1.0, 2.0, 3.0], "responders": [0, 1, 1]})
    >>> to_quarters(f)[["month", "episodes"]].to_numpy().tolist()
    [['2025-Q2', 1], ['2025-Q3', 5]]
    """
    months = pd.PeriodIndex(frame["month"], freq="M")
    label = pd.Series([f"{p.year}-Q{p.quarter}" for p in months], index=frame.index, name="month")
    summed = frame.drop(columns="month").groupby(label.to_numpy(), sort=True).sum()
    return summed.rename_axis("month").reset_index()


def small_points(frame: pd.DataFrame, min_cell: int) -> dict[str, np.ndarray]:
    """Per chart, the points that would give a count from 1 to ``min_cell - 1`` away."""

    def small(values: pd.Series) -> np.ndarray:
        x = values.to_numpy(dtype=float)
        return np.asarray(is_small(x, min_cell))

    out = {
        "i_chart": small(frame["episodes"]),
        "p_chart": small(frame["episodes"])
        | small(frame["responders"])
        | small(frame["episodes"] - frame["responders"]),
    }
    if "adverse_events" in frame:
        out["u_chart"] = small(frame["adverse_events"])
    return out


def choose_unit(
    frame: pd.DataFrame, min_cell: int, charts: tuple[str, ...]
) -> tuple[str, pd.DataFrame, dict[str, bool]]:
    """The finest unit at which every chart in ``charts`` can show every point; when none,
    the coarsest, with the charts that still cannot.

    Returns
    -------
    (unit, frame at that unit, {chart: drawable})
    """
    unit, at_unit, drawable = "month", frame, {}
    for unit in UNITS:
        at_unit = frame if unit == "month" else to_quarters(frame)
        small = small_points(at_unit, min_cell)
        drawable = {key: not small[key].any() for key in charts if key in small}
        if all(drawable.values()):
            break
    return unit, at_unit, drawable


def rebuild(key: str, chart: Any, frame: pd.DataFrame) -> Any:
    """The chart ``key`` recomputed at the frame's unit (same label and rules)."""
    from dnoutcomes.qi.charts import i_chart, p_chart, u_chart

    periods = frame["month"].tolist()
    episodes = frame["episodes"].to_numpy(dtype=float)
    if key == "i_chart":
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(episodes > 0, frame["improvement_sum"] / episodes, np.nan)
        return i_chart(mean, periods=periods, n=episodes, label=chart.label)
    if key == "p_chart":
        return p_chart(frame["responders"], frame["episodes"], periods=periods, label=chart.label)
    return u_chart(
        frame["adverse_events"], frame["dn_sessions"], per=100.0, periods=periods, label=chart.label
    )
