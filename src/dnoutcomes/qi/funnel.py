"""Funnel plots: each unit's share (a therapist's responders) against its number of cases,
with limits around the overall share that narrow as the number of cases grows.

Which binomial limits, and why
------------------------------
The limits are *exact binomial* limits, interpolated into a smooth curve as Spiegelhalter
(2005, appendix A.1.1) describes: for ``n`` cases and overall share ``θ``, let ``r`` be the
``p``-quantile of Binomial(n, θ) (the smallest ``r`` with ``F(r) >= p``) and
``α = (F(r) − p) / (F(r) − F(r − 1))``; the lower limit is ``(r − α) / n``. The upper
limit is one minus the lower limit of the complementary count (``n − X``, share
``1 − θ``), with ``p = (1 − level) / 2`` on each side (0.025 for the 95 % limits, 0.001 for
the 99.8 % limits).

Why exact and not the normal approximation ``θ ± z √(θ(1 − θ)/n)``: a therapist sees tens
of low-back-pain episodes, not thousands, and responder shares sit far from 50 %; there the
normal limits are too narrow on one side, too wide on the other, and run below 0 or above
1. Why interpolated: exact quantiles are steps, which draw a jagged funnel; the
interpolation joins the steps without moving any decision. Why the complement for the
upper side: then, on *both* sides, a unit with ``x`` of ``n`` lies outside the limits
exactly when the one-sided exact binomial tail probability of ``x`` (``P(X <= x)`` below,
``P(X >= x)`` above) is less than ``p`` — the decision an exact test would make, which the
tests check for every count. (Applying ``(r − α)/n`` to the upper quantile directly, as
some tools do, flags counts whose upper tail is up to one case too heavy.)

References
----------
Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
2005;24:1185–1202.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.charts import Labels
from dnoutcomes.qi.runs import _as_float
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FunnelChart", "funnel_chart", "funnel_limits"]

#: The curve holds every whole number of cases up to this many …
CURVE_WHOLE = 400
#: … and beyond it this many log-spaced whole numbers up to the largest unit's.
CURVE_LOG_POINTS = 200


def curve_sizes(sizes: np.ndarray) -> np.ndarray:
    """The numbers of cases at which the funnel curve is drawn.

    Every whole number from 1 to the largest of ``sizes`` (at least 2) while that is at
    most :data:`CURVE_WHOLE`; beyond it, every whole number up to ``CURVE_WHOLE``, then
    :data:`CURVE_LOG_POINTS` log-spaced whole numbers up to the largest, and every unit's
    own number of cases (so each plotted unit sits on a computed point of the curve). A
    network site with 100,000 episodes then needs a few hundred binomial evaluations, not
    100,000; the limits change smoothly with ``n`` there (steps of under 1/``n``), so the
    curve drawn through these points is indistinguishable at any plotted size.
    """
    top = max(int(sizes.max()), 2)
    if top <= CURVE_WHOLE:
        return np.arange(1, top + 1)
    spaced = np.round(np.geomspace(CURVE_WHOLE, top, CURVE_LOG_POINTS)).astype(np.int64)
    whole = np.arange(1, CURVE_WHOLE + 1)
    return np.unique(np.concatenate([whole, spaced, sizes.astype(np.int64), [top]]))


def _lower_limit(n: np.ndarray, target: float, p: float) -> np.ndarray:
    """Spiegelhalter's interpolated exact lower limit at tail probability ``p``."""
    r = stats.binom.ppf(p, n, target)
    f_r = stats.binom.cdf(r, n, target)
    f_before = stats.binom.cdf(r - 1, n, target)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(f_r > f_before, (f_r - p) / (f_r - f_before), 0.0)
        limit = (r - alpha) / n
    return np.asarray(np.clip(limit, 0.0, 1.0), dtype=float)


def funnel_limits(n: ArrayLike, *, target: float, level: float = 0.95) -> pd.DataFrame:
    """Exact binomial funnel limits around a target share for given numbers of cases.

    Parameters
    ----------
    n
        Numbers of cases (whole numbers of at least 1).
    target
        The share the units are compared with (the overall share), from 0 to 1.
    level
        Two-sided coverage: 0.95 or 0.998 for the usual "2 and 3 sigma" funnels.

    Returns
    -------
    pandas.DataFrame
        One row per ``n``: ``n`` (int), ``lower``, ``upper`` (float, shares from 0 to 1).

    Raises
    ------
    RequestError
        For ``target`` outside [0, 1], ``level`` outside (0, 1), or an ``n`` that is not a
        whole number of at least 1.

    Notes
    -----
    With ``p = (1 − level)/2``: ``lower = (r − α)/n`` where ``r`` is the ``p``-quantile of
    Binomial(n, target) and ``α = (F(r) − p)/(F(r) − F(r − 1))``;
    ``upper = 1 − lower`` computed for Binomial(n, 1 − target). Both are clipped to
    [0, 1]. A unit with ``x`` of ``n`` is below ``lower`` exactly when
    ``P(X <= x) < p``, and above ``upper`` exactly when ``P(X >= x) < p``. At a target of
    0 or 1 both limits equal the target.

    Examples
    --------
    >>> funnel_limits([10], target=0.5).round(6).to_dict("records")
    [{'n': 10, 'lower': 0.132444, 'upper': 0.867556}]
    """
    if not 0.0 <= target <= 1.0:
        raise RequestError(
            f"funnel limits: target must be a share from 0 to 1; got {target!r}. Pass the "
            "overall proportion, not a percentage."
        )
    if not 0.0 < level < 1.0:
        raise RequestError(
            f"funnel limits: level must be between 0 and 1; got {level!r}. Use 0.95 or 0.998."
        )
    sizes = _as_float(n, "n")
    if np.any(~np.isfinite(sizes) | (sizes < 1) | (sizes != np.round(sizes))):
        raise RequestError(
            "funnel limits: n must be whole numbers of at least 1; got "
            f"{sizes[~np.isfinite(sizes) | (sizes < 1) | (sizes != np.round(sizes))][:3]}. "
            "Leave out units without cases."
        )
    p = (1.0 - level) / 2.0
    if target in (0.0, 1.0):
        lower = np.full(sizes.shape, target)
        upper = lower.copy()
    else:
        lower = _lower_limit(sizes, target, p)
        upper = 1.0 - _lower_limit(sizes, 1.0 - target, p)
    return pd.DataFrame({"n": sizes.astype(int), "lower": lower, "upper": upper})


@dataclass(frozen=True, repr=False)
class FunnelChart(ResultMixin):
    """Units' shares against their numbers of cases, with inner and outer funnel limits.

    Attributes
    ----------
    frame
        One row per unit: ``unit`` (label), ``events`` (int), ``n`` (int), ``share``
        (float, ``events / n``), ``lower_inner``, ``upper_inner``, ``lower_outer``,
        ``upper_outer`` (float, the limits at the unit's ``n``), ``outside_inner``,
        ``outside_outer`` (bool, strictly beyond the limits), ``position`` (str:
        ``"above outer"``, ``"above inner"``, ``"within"``, ``"below inner"``,
        ``"below outer"``).
    curve
        The funnel to draw: one row per whole ``n`` from 1 to the largest unit's ``n``
        (at least 2) up to 400 cases; beyond that every whole ``n`` to 400, 200
        log-spaced whole ``n`` up to the largest and each unit's ``n`` (see
        :func:`curve_sizes`): ``n``, ``lower_inner``, ``upper_inner``, ``lower_outer``,
        ``upper_outer``. The limits are exact at every row.
    target
        The overall share ``Σ events / Σ n``, or the target given.
    inner_level, outer_level
        Coverage of the limits (default 0.95 and 0.998).
    label, unit_label
        What the share is (``"responders"``) and what a unit is (``"therapist"``).
    notes
        Sentences on what was left out.
    """

    frame: pd.DataFrame
    curve: pd.DataFrame
    target: float
    inner_level: float = 0.95
    outer_level: float = 0.998
    label: str = "share"
    unit_label: str = "unit"
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Funnel plot: {self.label} per {self.unit_label} "
            f"({self.inner_level:.1%} and {self.outer_level:.1%} limits)"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``target``, ``inner_level``, ``outer_level`` and ``units`` (records of
        the frame)."""
        frame = self.frame.assign(unit=self.frame["unit"].astype(str))
        return {
            "target": self.target,
            "inner_level": self.inner_level,
            "outer_level": self.outer_level,
            "units": jsonable(frame.to_dict(orient="records")),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the funnel (see :func:`dnoutcomes.plots.control.plot_funnel`)."""
        from dnoutcomes.plots.control import plot_funnel

        return plot_funnel(self, ax=ax)


def funnel_chart(
    events: ArrayLike,
    n: ArrayLike,
    *,
    units: Labels = None,
    target: float | None = None,
    inner_level: float = 0.95,
    outer_level: float = 0.998,
    label: str = "share",
    unit_label: str = "unit",
) -> FunnelChart:
    """Funnel plot data: each unit's share with exact binomial limits around the target.

    Parameters
    ----------
    events
        Cases with the event per unit (responders per therapist).
    n
        Cases per unit; units with 0 cases are left out (and said so in ``notes``).
    units
        Labels of the units; default ``1, 2, …``.
    target
        The share to compare with; default the overall share ``Σ events / Σ n``.
    inner_level, outer_level
        Coverage of the two funnels; default 0.95 and 0.998.
    label, unit_label
        Words for titles: what the share is, what a unit is.

    Returns
    -------
    FunnelChart
        ``frame`` (one row per unit; columns in :class:`FunnelChart`), ``curve`` (the
        funnel on a grid of ``n``), ``target``.

    Raises
    ------
    InsufficientDataError
        When no unit has a case.
    RequestError
        For negative or fractional counts, ``events > n``, lengths that differ, or levels
        that are not ``0 < inner_level < outer_level < 1``.

    Notes
    -----
    Limits as :func:`funnel_limits`. ``position`` says where the share lies: beyond the
    outer limit (``"above outer"``, ``"below outer"``), beyond the inner one only, or
    ``"within"``. Missing counts are treated as 0.

    Examples
    --------
    Responders of three therapists:

    >>> chart = funnel_chart(
    ...     [12, 30, 5], [20, 40, 25], units=["T1", "T2", "T3"], unit_label="therapist"
    ... )
    >>> round(chart.target, 3)
    0.553
    >>> chart.frame[["unit", "n", "share", "position"]]
      unit   n  share     position
    0   T1  20   0.60       within
    1   T2  40   0.75  above inner
    2   T3  25   0.20  below outer
    """
    if not 0.0 < inner_level < outer_level < 1.0:
        raise RequestError(
            "funnel: levels must satisfy 0 < inner_level < outer_level < 1; got "
            f"{inner_level!r} and {outer_level!r}. Use 0.95 and 0.998."
        )
    e = np.nan_to_num(_as_float(events, "events"))
    size = np.nan_to_num(_as_float(n, "n"))
    if e.shape != size.shape:
        raise RequestError(
            f"funnel: events and n must have one value per unit each; got {e.size} and "
            f"{size.size}. Align the two series."
        )
    labels = list(range(1, e.size + 1)) if units is None else list(units)
    if len(labels) != e.size:
        raise RequestError(
            f"funnel: units must have one label per unit; got {len(labels)} labels for "
            f"{e.size} units."
        )
    bad = (e < 0) | (size < 0) | (e != np.round(e)) | (size != np.round(size)) | (e > size)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise RequestError(
            f"funnel: unit {labels[first]!r} has {e[first]:g} events of {size[first]:g}; "
            "expected whole numbers with 0 <= events <= n. Pass counts, not percentages."
        )
    keep = size > 0
    notes: list[str] = []
    if not keep.all():
        notes.append(f"{int((~keep).sum())} {unit_label}(s) without cases were left out.")
    if not keep.any():
        raise InsufficientDataError(
            f"funnel: no {unit_label} has a case; a funnel needs at least one. Check the "
            "period and filters."
        )
    e, size = e[keep], size[keep]
    labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
    centre = float(e.sum() / size.sum()) if target is None else float(target)
    inner = funnel_limits(size, target=centre, level=inner_level)
    outer = funnel_limits(size, target=centre, level=outer_level)
    share = e / size
    out_inner = (share < inner["lower"].to_numpy()) | (share > inner["upper"].to_numpy())
    out_outer = (share < outer["lower"].to_numpy()) | (share > outer["upper"].to_numpy())
    side = np.where(share > centre, "above", "below")
    position = np.where(
        out_outer,
        np.char.add(side.astype(str), " outer"),
        np.where(out_inner, np.char.add(side.astype(str), " inner"), "within"),
    )
    frame = pd.DataFrame(
        {
            "unit": pd.Series(labels, dtype=object),
            "events": e.astype(int),
            "n": size.astype(int),
            "share": share,
            "lower_inner": inner["lower"].to_numpy(),
            "upper_inner": inner["upper"].to_numpy(),
            "lower_outer": outer["lower"].to_numpy(),
            "upper_outer": outer["upper"].to_numpy(),
            "outside_inner": out_inner,
            "outside_outer": out_outer,
            "position": position.astype(object),
        }
    )
    grid = curve_sizes(size)
    grid_inner = funnel_limits(grid, target=centre, level=inner_level)
    grid_outer = funnel_limits(grid, target=centre, level=outer_level)
    curve = pd.DataFrame(
        {
            "n": grid,
            "lower_inner": grid_inner["lower"].to_numpy(),
            "upper_inner": grid_inner["upper"].to_numpy(),
            "lower_outer": grid_outer["lower"].to_numpy(),
            "upper_outer": grid_outer["upper"].to_numpy(),
        }
    )
    return FunnelChart(
        frame=frame,
        curve=curve,
        target=centre,
        inner_level=inner_level,
        outer_level=outer_level,
        label=label,
        unit_label=unit_label,
        notes=tuple(notes),
    )
