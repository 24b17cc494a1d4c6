"""Shewhart control charts with Anhøj's runs rules: I (XmR), MR, P and U charts.

Each chart function takes plain arrays or Series, so an analyst can chart any series of her
own, and returns a :class:`ControlChart`: a tidy frame with one row per period and the
signals found (points outside the limits, an unusually long run, too few crossings).

Common options
--------------
``periods``
    Labels of the points (months as ``"2025-07"``, :class:`pandas.Period` or dates); by
    default ``1, 2, …``.
``freeze``
    Compute the centre and limits from the first ``freeze`` points only (a baseline
    period), and judge later points against them.
``exclude``
    0-based positions of points left out of the centre, the limits and the runs rules (a
    known special cause); they are still drawn and still checked against the limits.

The calculations follow R's qicharts2 (Anhøj 2017), which the tests reproduce to 1e-9 on
Montgomery's textbook examples, with one deliberate difference for the I chart: the analysis
plan sets its limits at ``centre ± 2.66 × mean moving range`` with every moving range
kept, whereas qicharts2 uses ``3 / 1.128 = 2.6596`` and, when attached with
``library(qicharts2)``, first drops moving ranges above ``3.267 ×`` their mean (Nelson
1982). Both are available: ``mr_factor=3 / 1.128, screen_moving_ranges=True`` gives
qicharts2's limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.chart_result import ChartKind, ChartSignals, ControlChart, Labels, _finish
from dnoutcomes.qi.runs import _as_float

__all__ = [
    "D4",
    "PLAN_MR_FACTOR",
    "ChartKind",
    "ChartSignals",
    "ControlChart",
    "Labels",
    "i_chart",
    "mr_chart",
    "p_chart",
    "u_chart",
]

#: The analysis plan's I-chart constant: limits at centre ± 2.66 × mean moving range
#: (2.66 ≈ 3 / d2, d2 = 1.128 for ranges of two points).
PLAN_MR_FACTOR = 2.66

#: Upper limit of a moving range as a multiple of the mean moving range (D4 for n = 2).
D4 = 3.267


def i_chart(
    values: ArrayLike,
    *,
    periods: Labels = None,
    n: ArrayLike | None = None,
    freeze: int | None = None,
    exclude: Sequence[int] = (),
    mr_factor: float = PLAN_MR_FACTOR,
    screen_moving_ranges: bool = False,
    label: str = "value",
) -> ControlChart:
    """Individuals (XmR) chart of a series of single values, such as monthly means.

    Parameters
    ----------
    values
        One value per period, in time order; NaN for a period without data.
    periods
        Labels of the periods; default ``1, 2, …``.
    n
        Optional count behind each value (episodes in the month), carried to the frame and
        the JSON; not used in the calculation.
    freeze
        Number of leading points that form the baseline for the centre and limits;
        default all points.
    exclude
        0-based positions of points left out of the centre, limits and runs rules.
    mr_factor
        Multiplier of the mean moving range for the limits; default the plan's 2.66.
        qicharts2 uses ``3 / 1.128``.
    screen_moving_ranges
        Drop moving ranges of ``3.267 ×`` the mean moving range or more, then take the mean
        again (Nelson 1982; qicharts2's behaviour when attached). Default False, as the
        plan says.
    label
        What the values are, for titles and axis labels.

    Returns
    -------
    ControlChart
        ``chart="i"``; frame columns ``period, value, n, centre, lcl, ucl,
        outside_limits, baseline, included``.

    Raises
    ------
    InsufficientDataError
        When fewer than two baseline points have a value.
    RequestError
        For values that are not numbers, ``periods`` or ``n`` of the wrong length, or a
        ``freeze`` / ``exclude`` outside the series.

    Notes
    -----
    With ``B`` the baseline points that are included and have a value, in time order:
    centre ``= mean(y_B)``; moving ranges ``MR_j = |y_B[j] - y_B[j-1]|`` (a missing or
    excluded point is skipped, so the range is taken to the previous point with a value);
    ``MR̄ = mean(MR)``; ``lcl, ucl = centre ∓ mr_factor × MR̄``. The limits are not
    clipped (an improvement can be negative). qicharts2 drops the two ranges next to a
    missing value instead of bridging it; the two agree on series without gaps.

    Examples
    --------
    >>> chart = i_chart([1, 3, 2, 6, 4])
    >>> round(float(chart.frame["ucl"].iloc[0]), 3), chart.signals.outside_limits
    (9.185, ())
    """
    y = _as_float(values, "values")
    base, include = _masks(y.size, freeze, exclude)
    use = base & include & np.isfinite(y)
    if int(use.sum()) < 2:
        raise InsufficientDataError(
            f"I chart of {label}: the centre and limits need at least 2 baseline points with "
            f"a value; got {int(use.sum())} of {y.size}. Chart a longer series or set a "
            "larger freeze."
        )
    yb = y[use]
    centre = float(np.mean(yb))
    mr = np.abs(np.diff(yb))
    amr = float(np.mean(mr))
    method = f"limits = centre ± {mr_factor:.4g} × mean moving range"
    notes: list[str] = []
    if screen_moving_ranges:
        kept = mr[mr < D4 * amr]
        if kept.size < mr.size:
            notes.append(
                f"{mr.size - kept.size} moving range(s) of {D4} × the mean or more were left "
                "out of the limits (Nelson 1982)."
            )
        amr = float(np.mean(kept))
        method += f" (moving ranges of {D4} × their mean or more screened out)"
    half = mr_factor * amr
    sizes = np.full(y.size, np.nan) if n is None else _as_float(n, "n")
    return _finish(
        "i",
        y,
        sizes,
        np.full(y.size, centre),
        np.full(y.size, centre - half),
        np.full(y.size, centre + half),
        periods,
        base,
        include,
        label,
        method=method,
        notes=notes,
    )


def mr_chart(
    values: ArrayLike,
    *,
    periods: Labels = None,
    freeze: int | None = None,
    exclude: Sequence[int] = (),
    label: str = "value",
) -> ControlChart:
    """Moving-range chart, the companion of the I chart.

    Parameters
    ----------
    values
        The series of single values (not the ranges), in time order.
    periods
        Labels of the periods; default ``1, 2, …``.
    freeze
        Number of leading points that form the baseline for the centre line.
    exclude
        0-based positions of points left out of the centre line and the runs rules.
    label
        What the values are.

    Returns
    -------
    ControlChart
        ``chart="mr"``; ``value`` is ``|y_i - y_(i-1)|`` (NaN for the first point).

    Raises
    ------
    InsufficientDataError
        When no baseline moving range can be computed.
    RequestError
        For values that are not numbers, or ``periods``, ``freeze``, ``exclude`` that do
        not fit the series.

    Notes
    -----
    As qicharts2: ``MR_i = |y_i - y_(i-1)|`` over all points; centre ``= mean`` of the
    moving ranges at included baseline points (missing ones skipped); ``lcl = 0``,
    ``ucl = 3.267 × centre``. The runs rules are computed but never signal, because
    neighbouring moving ranges share a point and are not independent.

    Examples
    --------
    >>> chart = mr_chart([1, 3, 2, 6, 4])
    >>> chart.frame["value"].tolist()
    [nan, 2.0, 1.0, 4.0, 2.0]
    >>> float(chart.frame["centre"].iloc[0]), round(float(chart.frame["ucl"].iloc[0]), 3)
    (2.25, 7.351)
    """
    y = _as_float(values, "values")
    base, include = _masks(y.size, freeze, exclude)
    mr = np.concatenate(([np.nan], np.abs(np.diff(y)))) if y.size else y
    use = base & include & np.isfinite(mr)
    if not use.any():
        raise InsufficientDataError(
            f"moving-range chart of {label}: need at least 2 consecutive baseline values; got "
            f"{int(np.isfinite(y).sum())} values in {y.size} points. Chart a longer series."
        )
    centre = float(np.mean(mr[use]))
    return _finish(
        "mr",
        mr,
        np.full(y.size, np.nan),
        np.full(y.size, centre),
        np.zeros(y.size),
        np.full(y.size, D4 * centre),
        periods,
        base,
        include,
        f"moving range of {label}",
        method=f"lcl = 0, ucl = {D4} × mean moving range",
        runs_can_signal=False,
    )


def p_chart(
    events: ArrayLike,
    n: ArrayLike,
    *,
    periods: Labels = None,
    freeze: int | None = None,
    exclude: Sequence[int] = (),
    label: str = "proportion",
) -> ControlChart:
    """P chart of the share of subjects with an event per period (e.g. responders).

    Parameters
    ----------
    events
        Subjects with the event in each period (whole numbers, ``0 <= events <= n``).
    n
        Subjects in each period; 0 for a period without data.
    periods
        Labels of the periods; default ``1, 2, …``.
    freeze
        Number of leading points that form the baseline for the centre line.
    exclude
        0-based positions of points left out of the centre line and the runs rules.
    label
        What the proportion is, in words.

    Returns
    -------
    ControlChart
        ``chart="p"``; ``value = events / n`` (a proportion from 0 to 1; NaN when
        ``n = 0``), ``n`` the subgroup size.

    Raises
    ------
    InsufficientDataError
        When the baseline holds no subject.
    RequestError
        For negative counts, ``events > n``, arrays of different lengths, or ``periods``,
        ``freeze``, ``exclude`` that do not fit.

    Notes
    -----
    ``p̄ = Σ events / Σ n`` over the included baseline periods;
    ``lcl_i, ucl_i = p̄ ∓ 3 √(p̄ (1 − p̄) / n_i)``, clipped to [0, 1]. Limits vary with
    ``n_i``; a period with ``n_i = 0`` has no value and no limits. Missing counts are
    treated as a period without data.

    Examples
    --------
    >>> chart = p_chart([12, 8, 6, 20], [100, 80, 80, 110])
    >>> round(chart.to_dict()["centre"], 4), len(chart.to_dict()["ucl"])
    (0.1243, 4)
    """
    e, size = _counts_pair(events, n, "events", "n")
    if np.any(e > size):
        first = int(np.flatnonzero(e > size)[0])
        raise RequestError(
            f"P chart of {label}: events cannot exceed n; got {e[first]:g} events of "
            f"{size[first]:g} at position {first + 1}. Check that events and n are aligned."
        )
    base, include = _masks(e.size, freeze, exclude)
    use = base & include & (size > 0)
    total = float(size[use].sum())
    if total <= 0:
        raise InsufficientDataError(
            f"P chart of {label}: the baseline periods hold no subject (Σ n = 0). Chart a "
            "period with data."
        )
    centre = float(e[use].sum()) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(size > 0, e / size, np.nan)
        sd = np.where(size > 0, np.sqrt(centre * (1 - centre) / size), np.nan)
    return _finish(
        "p",
        value,
        size,
        np.full(e.size, centre),
        np.clip(centre - 3 * sd, 0, 1),
        np.clip(centre + 3 * sd, 0, 1),
        periods,
        base,
        include,
        label,
        method="limits = p̄ ± 3 √(p̄(1 − p̄)/n), clipped to [0, 1]",
    )


def u_chart(
    events: ArrayLike,
    exposure: ArrayLike,
    *,
    per: float = 100.0,
    periods: Labels = None,
    freeze: int | None = None,
    exclude: Sequence[int] = (),
    label: str = "rate",
) -> ControlChart:
    """U chart of a rate: events per ``per`` units of exposure (e.g. adverse events per
    100 dry-needling sessions).

    Parameters
    ----------
    events
        Events in each period (whole numbers, at least 0).
    exposure
        Units of exposure in each period (sessions); 0 for a period without exposure.
    per
        The rate's unit: events per ``per`` units of exposure. Default 100.
    periods
        Labels of the periods; default ``1, 2, …``.
    freeze
        Number of leading points that form the baseline for the centre line.
    exclude
        0-based positions of points left out of the centre line and the runs rules.
    label
        What the rate is, in words.

    Returns
    -------
    ControlChart
        ``chart="u"``; ``value = per × events / exposure`` (NaN when the exposure is 0),
        ``n`` the exposure.

    Raises
    ------
    InsufficientDataError
        When the baseline holds no exposure.
    RequestError
        For negative counts or exposure, arrays of different lengths, a ``per`` that is not
        positive, or ``periods``, ``freeze``, ``exclude`` that do not fit.

    Notes
    -----
    ``ū = Σ events / Σ exposure`` over the included baseline periods;
    ``lcl_i, ucl_i = ū ∓ 3 √(ū / exposure_i)``, the lower limit clipped at 0; centre,
    limits and values are then multiplied by ``per``. With ``exposure = 1`` everywhere it
    is the C chart of counts.

    Examples
    --------
    >>> chart = u_chart([3, 5, 2], [40, 55, 38])
    >>> round(chart.to_dict()["centre"], 4)  # adverse events per 100 sessions
    7.5188
    """
    if not np.isfinite(per) or per <= 0:
        raise RequestError(f"U chart: per must be a positive number; got {per!r}. Use 100.")
    e, size = _counts_pair(events, exposure, "events", "exposure", whole_n=False)
    base, include = _masks(e.size, freeze, exclude)
    use = base & include & (size > 0)
    total = float(size[use].sum())
    if total <= 0:
        raise InsufficientDataError(
            f"U chart of {label}: the baseline periods hold no exposure (Σ exposure = 0). "
            "Chart a period with data."
        )
    centre = float(e[use].sum()) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(size > 0, e / size, np.nan)
        sd = np.where(size > 0, np.sqrt(centre / size), np.nan)
    lcl = np.maximum(centre - 3 * sd, 0)
    return _finish(
        "u",
        value * per,
        size,
        np.full(e.size, centre * per),
        lcl * per,
        (centre + 3 * sd) * per,
        periods,
        base,
        include,
        label,
        per=per,
        method="limits = ū ± 3 √(ū/exposure), lower limit clipped at 0",
    )


# --- shared machinery -------------------------------------------------------------------


def _masks(size: int, freeze: int | None, exclude: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the baseline points and of the included points."""
    base = np.ones(size, dtype=bool)
    if freeze is not None:
        if int(freeze) != freeze or not 1 <= freeze <= size:
            raise RequestError(
                f"control chart: freeze must be a whole number from 1 to the number of points "
                f"({size}); got {freeze!r}. Give the number of baseline points."
            )
        base[int(freeze) :] = False
    include = np.ones(size, dtype=bool)
    positions = np.asarray(list(exclude), dtype=float)
    if positions.size:
        bad = (positions != np.round(positions)) | (positions < 0) | (positions >= size)
        if bad.any():
            raise RequestError(
                f"control chart: exclude holds 0-based positions from 0 to {size - 1}; got "
                f"{list(exclude)!r}. Give the positions of the points to leave out."
            )
        include[positions.astype(int)] = False
    return base, include


def _counts_pair(
    events: ArrayLike, n: ArrayLike, e_name: str, n_name: str, *, whole_n: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validated float arrays of counts and denominators (missing → 0 events of 0)."""
    e = _as_float(events, e_name)
    size = _as_float(n, n_name)
    if e.shape != size.shape:
        raise RequestError(
            f"control chart: {e_name} and {n_name} must have one value per period each; got "
            f"{e.size} and {size.size}. Align the two series."
        )
    missing = ~np.isfinite(e) | ~np.isfinite(size)
    e = np.where(missing, 0.0, e)
    size = np.where(missing, 0.0, size)
    for name, array, whole in ((e_name, e, True), (n_name, size, whole_n)):
        bad = (array < 0) | (whole & (array != np.round(array)))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            kind = "whole numbers of 0 or more" if whole else "numbers of 0 or more"
            raise RequestError(
                f"control chart: {name} must be {kind}; got {array[first]:g} at position "
                f"{first + 1}. Pass counts, not rates or percentages."
            )
    return e, size
