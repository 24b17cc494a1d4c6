"""Control-chart blocks as they leave the package: the months whose point would give a
small count away are withheld (value and month-by-month limits), small counts are written
``<11``; the centre, limits and signals are still computed on every month.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.qi.cells import is_small, small_mark

__all__ = ["mask_chart", "masked_months", "masked_shares", "spc_block"]


def masked_months(n: pd.Series, min_cell: int) -> np.ndarray:
    """Months whose point describes fewer episodes than the threshold (1 to
    ``min_cell - 1``): their value and limits are withheld.

    Parameters
    ----------
    n
        Episodes behind each month's point.
    min_cell
        The threshold.

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per month.

    Notes
    -----
    A chart point is a monthly mean or share, not a count: it is withheld when the month's
    own number of episodes is small (a share of 3 of 7 patients, and the varying limits of a
    P chart, would give the 7 away). A share is withheld also when its responders or
    non-responders are few: see :func:`masked_shares`.
    """
    total = pd.to_numeric(n, errors="coerce").to_numpy(dtype=float)
    return np.asarray(is_small(total, min_cell))


def masked_shares(episodes: pd.Series, responders: pd.Series, min_cell: int) -> np.ndarray:
    """Months whose share of responders would give a small count away: fewer than
    ``min_cell`` episodes, or 1 to ``min_cell - 1`` responders or non-responders.

    Parameters
    ----------
    episodes, responders
        Episodes and responders behind each month's point.
    min_cell
        The threshold.

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per month.

    Notes
    -----
    A share is "a percentage of" its responders and, with the month's episodes shown in the
    table, of its non-responders too (the complement in a two-cell row): the plan's
    small-numbers rule withholds it when either count is small, as the monthly table does.
    """
    n = pd.to_numeric(episodes, errors="coerce").to_numpy(dtype=float)
    r = pd.to_numeric(responders, errors="coerce").to_numpy(dtype=float)

    def small(x: np.ndarray) -> np.ndarray:
        return np.asarray(is_small(x, min_cell))

    return masked_months(episodes, min_cell) | small(r) | small(n - r)


def mask_chart(chart: Any, mask: np.ndarray) -> Any:
    """A copy of the chart without the masked months' value (and their limits, when the
    limits vary by month), for drawing."""
    frame = chart.frame.copy()
    varying = frame["ucl"].nunique(dropna=True) > 1
    for column in ("value", "lcl", "ucl") if varying else ("value",):
        frame.loc[mask, column] = np.nan
    frame.loc[mask, "outside_limits"] = False
    return dataclasses.replace(chart, frame=frame)


def spc_block(chart: Any, *, counts: pd.Series, mask: np.ndarray, min_cell: int) -> dict[str, Any]:
    """A chart's ``spc`` block with small counts written ``<min_cell`` and masked months'
    value, and limits when they vary by month, ``None``.

    Parameters
    ----------
    chart
        A :class:`~dnoutcomes.qi.charts.ControlChart`.
    counts
        The count of people or events behind each month (episodes; events for a U chart),
        checked against the threshold.
    mask
        Months whose value (and limits, when they vary by month) are withheld (see
        :func:`masked_months`).
    min_cell
        The threshold.

    Returns
    -------
    dict
        ``months``, ``values``, ``n``, ``centre``, ``lcl``, ``ucl``, ``signals``.
    """
    block: dict[str, Any] = dict(chart.to_dict())
    block["n"] = list(block["n"])
    c = pd.to_numeric(counts, errors="coerce").to_numpy(dtype=float)
    small_count = is_small(c, min_cell)
    block["n"] = [
        small_mark(min_cell) if small else value
        for value, small in zip(block["n"], small_count, strict=True)
    ]
    if mask.any():
        block["values"] = [None if m else v for v, m in zip(block["values"], mask, strict=True)]
        for key in ("lcl", "ucl"):
            limit = block[key]
            if isinstance(limit, list):  # limits that vary with n would give n away
                block[key] = [None if m else v for v, m in zip(limit, mask, strict=True)]
    return block
