"""The Making-Data-Count rules and icons for one phase of a chart (see
:mod:`dnoutcomes.qi.mdc` for the rule set, the icons and the references)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.runs import _as_float

__all__ = [
    "ICON_TEXT",
    "AssuranceIcon",
    "Direction",
    "VariationIcon",
    "assurance_icon",
    "mdc_points",
]

Direction = Literal["increase", "decrease", "neutral"]
VariationIcon = Literal[
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "neutral_high",
    "neutral_low",
]
AssuranceIcon = Literal["consistent_pass", "consistent_fail", "inconsistent"]

#: Plain words for each icon (the report's legend and docs/qi.md).
ICON_TEXT: dict[str, str] = {
    "common_cause": "Common cause variation: no signal",
    "improvement_high": "Special cause variation: improvement (higher)",
    "improvement_low": "Special cause variation: improvement (lower)",
    "concern_high": "Special cause variation: concern (higher)",
    "concern_low": "Special cause variation: concern (lower)",
    "neutral_high": "Special cause variation: higher (no direction of improvement)",
    "neutral_low": "Special cause variation: lower (no direction of improvement)",
    "consistent_pass": "The process will consistently meet the target",
    "consistent_fail": "The process will consistently miss the target",
    "inconsistent": "The process will hit and miss the target at random",
}


def _runs_of(signs: np.ndarray) -> np.ndarray:
    """Length of the run of equal non-zero values each element belongs to (0 for zeros)."""
    n = signs.size
    if n == 0:
        return np.zeros(0, dtype=int)
    change = np.concatenate(([True], signs[1:] != signs[:-1]))
    ids = np.cumsum(change) - 1
    lengths = np.bincount(ids)[ids]
    return np.where(signs != 0, lengths, 0)


def _point_types(side: np.ndarray, direction: Direction) -> np.ndarray:
    """'improvement_high'… from a side (+1 high, −1 low, 0 none)."""
    high = side > 0
    if direction == "neutral":
        kind = np.where(high, "neutral_high", "neutral_low")
    else:
        good = high if direction == "increase" else ~high
        kind = np.where(
            good,
            np.where(high, "improvement_high", "improvement_low"),
            np.where(high, "concern_high", "concern_low"),
        )
    return np.where(side != 0, kind, "common_cause").astype(object)


def mdc_points(
    values: ArrayLike,
    centre: ArrayLike,
    lcl: ArrayLike,
    ucl: ArrayLike,
    *,
    improvement: Direction = "increase",
    shift: int = 7,
    trend: int = 7,
) -> pd.DataFrame:
    """Apply the four MDC rules to one phase of a control chart.

    Parameters
    ----------
    values
        The points in time order (NaN: no data; skipped by every rule).
    centre, lcl, ucl
        The mean and process limits, one number or one per point.
    improvement
        ``"increase"`` (higher is better), ``"decrease"`` or ``"neutral"``.
    shift, trend
        Run lengths of the shift and trend rules (7 and 7, as MDC).

    Returns
    -------
    pandas.DataFrame
        One row per point: ``outside_limits``, ``close_to_limits`` (beyond the 2-sigma
        line), ``shift``, ``trend``, ``two_in_three``, ``special_cause`` (bool), ``side``
        (+1 high, −1 low, 0), ``point_type`` (``common_cause``, ``improvement_high``…,
        ``no_data`` for a missing value).

    Raises
    ------
    RequestError
        For lengths that differ, run lengths below 2, or an unknown direction.

    Examples
    --------
    >>> pts = mdc_points([5, 6, 5, 7, 6, 5, 12], 6, 2, 10, improvement="increase")
    >>> pts["point_type"].tolist()[-2:]
    ['common_cause', 'improvement_high']
    """
    if improvement not in ("increase", "decrease", "neutral"):
        raise RequestError(
            f"MDC: improvement must be 'increase', 'decrease' or 'neutral'; got {improvement!r}."
        )
    if shift < 2 or trend < 2:
        raise RequestError(f"MDC: shift and trend must be at least 2; got {shift}, {trend}.")
    y_all = _as_float(values, "values")
    n_all = y_all.size
    arrays = []
    for name, arr in (("centre", centre), ("lcl", lcl), ("ucl", ucl)):
        a = _as_float(arr, name)
        if a.size == 1:
            a = np.full(n_all, float(a[0]))
        if a.size != n_all:
            raise RequestError(
                f"MDC: {name} must be one number or one per point; got {a.size} for {n_all}."
            )
        arrays.append(a)
    keep = np.isfinite(y_all)
    y, c, lo, hi = y_all[keep], arrays[0][keep], arrays[1][keep], arrays[2][keep]
    with np.errstate(invalid="ignore"):
        above_side = np.sign(y - c)
        outside = (y > hi) | (y < lo)
        close = (
            np.where(above_side > 0, y > c + (2 / 3) * (hi - c), y < c - (2 / 3) * (c - lo))
            & np.isfinite(hi)
            & np.isfinite(lo)
        )
    outside = outside & np.isfinite(hi) & np.isfinite(lo)
    shift_flag = _runs_of(above_side) >= shift
    steps = np.sign(np.diff(y)) if y.size > 1 else np.zeros(0)
    step_runs = _runs_of(steps) >= trend - 1
    trend_flag = np.zeros(y.size, dtype=bool)
    trend_side = np.zeros(y.size)
    if steps.size:
        idx = np.flatnonzero(step_runs)
        trend_flag[idx] = True
        trend_flag[idx + 1] = True
        trend_side[idx + 1] = steps[idx]
        trend_side[idx] = np.where(trend_side[idx] == 0, steps[idx], trend_side[idx])
    two3 = np.zeros(y.size, dtype=bool)
    if y.size >= 3:
        windows = np.lib.stride_tricks.sliding_window_view
        same_side = np.abs(windows(above_side, 3).sum(axis=1)) == 3
        hit = same_side & (windows(close.astype(int), 3).sum(axis=1) >= 2)
        for offset in range(3):  # each window covers its start and the next two points
            two3[offset : offset + hit.size] |= hit
        two3 &= close
    side = np.where(
        outside | two3 | shift_flag,
        above_side,
        np.where(trend_flag, trend_side, 0.0),
    )
    special = outside | two3 | shift_flag | trend_flag
    types = _point_types(np.where(special, side, 0.0), improvement)
    frame = pd.DataFrame(
        {
            "outside_limits": np.zeros(n_all, dtype=bool),
            "close_to_limits": np.zeros(n_all, dtype=bool),
            "shift": np.zeros(n_all, dtype=bool),
            "trend": np.zeros(n_all, dtype=bool),
            "two_in_three": np.zeros(n_all, dtype=bool),
            "special_cause": np.zeros(n_all, dtype=bool),
            "side": np.zeros(n_all, dtype=int),
            "point_type": np.full(n_all, "no_data", dtype=object),
        }
    )
    rows = np.flatnonzero(keep)
    for col, arr in (
        ("outside_limits", outside),
        ("close_to_limits", close),
        ("shift", shift_flag),
        ("trend", trend_flag),
        ("two_in_three", two3),
        ("special_cause", special),
    ):
        frame.loc[rows, col] = arr.astype(bool)
    frame.loc[rows, "side"] = np.where(special, side, 0).astype(int)
    frame.loc[rows, "point_type"] = types
    return frame


def assurance_icon(
    target: float | None, lcl: float, ucl: float, *, improvement: Direction
) -> AssuranceIcon | None:
    """The assurance icon of a target against the latest process limits.

    Returns
    -------
    str or None
        ``"consistent_pass"``, ``"consistent_fail"``, ``"inconsistent"``; ``None`` without
        a target, with a neutral direction, or when the limits are not defined.

    Examples
    --------
    >>> assurance_icon(50, 60, 80, improvement="increase")  # target below the lower limit
    'consistent_pass'
    >>> assurance_icon(70, 60, 80, improvement="increase")
    'inconsistent'
    """
    if target is None or improvement == "neutral" or not (np.isfinite(lcl) and np.isfinite(ucl)):
        return None
    if target > ucl:
        return "consistent_fail" if improvement == "increase" else "consistent_pass"
    if target < lcl:
        return "consistent_pass" if improvement == "increase" else "consistent_fail"
    return "inconsistent"
