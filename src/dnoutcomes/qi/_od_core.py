"""The machinery of :mod:`dnoutcomes.qi.overdispersion`: the overdispersion estimates, the
result type and the assembly of limits, z-scores and flags (see that module for the
formulas and references)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.chart_result import Labels
from dnoutcomes.qi.runs import _as_float
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Indicator", "OverdispersedFunnel", "Overdispersion", "overdispersion"]

#: How the limits allow for overdispersion.
Overdispersion = Literal["additive", "multiplicative", "none"]
#: The kind of indicator a funnel shows.
Indicator = Literal["proportion", "mean", "ratio"]

_GRID_POINTS = 200


@dataclass(frozen=True)
class _Spread:
    phi: float
    tau2: float
    z: np.ndarray  # raw z-scores
    z_winsorised: np.ndarray


def overdispersion(y: ArrayLike, s: ArrayLike, *, target: float) -> dict[str, float]:
    """Spiegelhalter's overdispersion estimates for units with indicators ``y`` and null
    standard errors ``s``.

    Parameters
    ----------
    y
        The units' indicators (on the scale where they are roughly normal).
    s
        Their standard errors under the null hypothesis (all positive).
    target
        The value the units are compared with, on the same scale.

    Returns
    -------
    dict
        ``phi`` (the overdispersion factor from winsorised z-scores), ``tau2`` (the
        additive between-unit variance, 0 when ``k φ <= k − 1``) and ``k``.

    Raises
    ------
    RequestError
        For arrays of different lengths or a standard error that is not positive.
    InsufficientDataError
        For fewer than 2 units.

    Notes
    -----
    See the module docstring: ``z = (y − target)/s`` winsorised at its 10th and 90th
    percentiles (type 7), ``φ = Σz²/k``, ``w = 1/s²``,
    ``τ² = max(0, (kφ − (k − 1)) / (Σw − Σw²/Σw))``.

    Examples
    --------
    >>> est = overdispersion([0.1, -0.3, 0.5, 0.0, 0.2], [0.1, 0.1, 0.2, 0.1, 0.1], target=0)
    >>> round(est["phi"], 4), round(est["tau2"], 5)
    (2.706, 0.02893)
    """
    spread = _spread(_as_float(y, "y"), _as_float(s, "s"), target)
    return {"phi": spread.phi, "tau2": spread.tau2, "k": float(spread.z.size)}


def _spread(y: np.ndarray, s: np.ndarray, target: float) -> _Spread:
    if y.shape != s.shape:
        raise RequestError(
            f"overdispersion: y and s must have one value per unit each; got {y.size} and "
            f"{s.size}. Align the two."
        )
    if np.any(~np.isfinite(s) | (s <= 0)) or np.any(~np.isfinite(y)):
        raise RequestError(
            "overdispersion: every unit needs a finite indicator and a positive standard "
            "error; leave out units without cases."
        )
    k = y.size
    if k < 2:
        raise InsufficientDataError(
            f"overdispersion: at least 2 units are needed to estimate it; got {k}. Use "
            "overdispersion='none'."
        )
    z = (y - target) / s
    low, high = np.percentile(z, [10.0, 90.0])
    zw = np.clip(z, low, high)
    phi = float(np.sum(zw**2) / k)
    w = 1.0 / s**2
    denom = float(w.sum() - np.sum(w**2) / w.sum())
    tau2 = max(0.0, (k * phi - (k - 1)) / denom) if denom > 0 else 0.0
    return _Spread(phi=phi, tau2=tau2, z=z, z_winsorised=zw)


@dataclass(frozen=True, repr=False)
class OverdispersedFunnel(ResultMixin):
    """A funnel plot with limits widened for overdispersion.

    Attributes
    ----------
    frame
        One row per unit: ``unit``, ``precision`` (the x axis: cases, or expected events
        for a ratio), ``n`` (cases), ``value`` (the indicator on its natural scale: a share
        from 0 to 1, a mean, a ratio), ``y`` (on the transformed scale: ``asin √p`` for a
        share, else ``value``), ``s`` (null standard error on that scale), ``z`` (the
        unit's z-score allowing for overdispersion), ``z_raw`` (without),
        ``lower_inner``, ``upper_inner``, ``lower_outer``, ``upper_outer`` (limits at the
        unit's precision, natural scale), ``outside_inner``, ``outside_outer`` (bool),
        ``position`` (``"above outer"``, ``"above inner"``, ``"within"``,
        ``"below inner"``, ``"below outer"``).
    curve
        The limits to draw on a grid of precision from the smallest to the largest unit's:
        ``precision``, ``lower_inner``, ``upper_inner``, ``lower_outer``, ``upper_outer``.
    target
        The centre line on the natural scale (overall share, 0 for O − E, 1 for O/E).
    indicator
        ``"proportion"``, ``"mean"`` or ``"ratio"``.
    method
        ``"additive"``, ``"multiplicative"`` or ``"none"``.
    phi, tau2
        The overdispersion factor and the additive between-unit variance (on the
        transformed scale); ``phi`` is estimated whatever the method.
    inner_level, outer_level
        Coverage of the two funnels (0.95 and 0.998).
    label, unit_label, precision_label
        Words for titles and axes.
    adjusted
        True when the indicator is adjusted for case mix (for titles).
    notes
        Sentences on what was done and left out.
    """

    frame: pd.DataFrame
    curve: pd.DataFrame
    target: float
    indicator: Indicator
    method: Overdispersion
    phi: float
    tau2: float
    inner_level: float = 0.95
    outer_level: float = 0.998
    label: str = "indicator"
    unit_label: str = "unit"
    precision_label: str = "cases"
    adjusted: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        how = {"additive": "additive", "multiplicative": "multiplicative", "none": "no"}
        kind = "case-mix adjusted" if self.adjusted else "unadjusted"
        return (
            f"Funnel plot ({kind}): {self.label} per {self.unit_label}, "
            f"{how[self.method]} overdispersion correction"
        )

    @property
    def flagged(self) -> tuple[str, ...]:
        """Units beyond the outer (99.8 %) limits, as text."""
        return tuple(self.frame.loc[self.frame["outside_outer"], "unit"].astype(str))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``indicator``, ``method``, ``target``, ``phi``, ``tau2``, the levels,
        ``adjusted`` and ``units`` (records of the frame)."""
        frame = self.frame.assign(unit=self.frame["unit"].astype(str))
        return {
            "indicator": self.indicator,
            "method": self.method,
            "adjusted": self.adjusted,
            "target": self.target,
            "phi": self.phi,
            "tau2": self.tau2,
            "inner_level": self.inner_level,
            "outer_level": self.outer_level,
            "units": jsonable(frame.to_dict(orient="records")),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the funnel (see :func:`dnoutcomes.plots.benchmark.plot_overdispersed_funnel`)."""
        from dnoutcomes.plots.benchmark import plot_overdispersed_funnel

        return plot_overdispersed_funnel(self, ax=ax)


def _check_levels(inner: float, outer: float, method: str) -> None:
    if not 0.0 < inner < outer < 1.0:
        raise RequestError(
            "funnel: levels must satisfy 0 < inner_level < outer_level < 1; got "
            f"{inner!r} and {outer!r}. Use 0.95 and 0.998."
        )
    if method not in ("additive", "multiplicative", "none"):
        raise RequestError(
            f"funnel: overdispersion must be 'additive', 'multiplicative' or 'none'; got "
            f"{method!r}."
        )


def _labels(units: Labels, size: int) -> list[Any]:
    labels = list(range(1, size + 1)) if units is None else list(units)
    if len(labels) != size:
        raise RequestError(
            f"funnel: units must have one label per unit; got {len(labels)} labels for "
            f"{size} units."
        )
    return labels


def _build(
    *,
    indicator: Indicator,
    labels: list[Any],
    precision: np.ndarray,
    n: np.ndarray,
    value: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
    y0: float,
    target: float,
    s_of_precision: Any,
    back: Any,
    method: Overdispersion,
    inner_level: float,
    outer_level: float,
    label: str,
    unit_label: str,
    precision_label: str,
    adjusted: bool,
    notes: list[str],
) -> OverdispersedFunnel:
    """Limits, z-scores and flags on the transformed scale, then back to the natural one."""
    k = y.size
    if k >= 2:
        spread = _spread(y, s, y0)
        phi, tau2 = spread.phi, spread.tau2
    else:
        phi, tau2 = 1.0, 0.0
        if method != "none":
            notes.append("One unit only: overdispersion cannot be estimated; plain limits.")

    def widen(se: np.ndarray) -> np.ndarray:
        if method == "additive":
            return np.asarray(np.sqrt(se**2 + tau2))
        if method == "multiplicative" and phi > 1.0:
            return np.asarray(se * np.sqrt(phi))
        return se

    z_raw = (y - y0) / s
    z = (y - y0) / widen(s)
    z_in = float(stats.norm.ppf(1 - (1 - inner_level) / 2))
    z_out = float(stats.norm.ppf(1 - (1 - outer_level) / 2))
    out_inner = np.abs(z) > z_in
    out_outer = np.abs(z) > z_out
    side = np.where(y > y0, "above", "below")
    position = np.where(
        out_outer,
        np.char.add(side.astype(str), " outer"),
        np.where(out_inner, np.char.add(side.astype(str), " inner"), "within"),
    )
    width = widen(s)
    frame = pd.DataFrame(
        {
            "unit": pd.Series(labels, dtype=object),
            "precision": precision,
            "n": n,
            "value": value,
            "y": y,
            "s": s,
            "z": z,
            "z_raw": z_raw,
            "lower_inner": back(y0 - z_in * width),
            "upper_inner": back(y0 + z_in * width),
            "lower_outer": back(y0 - z_out * width),
            "upper_outer": back(y0 + z_out * width),
            "outside_inner": out_inner,
            "outside_outer": out_outer,
            "position": position.astype(object),
        }
    )
    lo = max(float(precision.min()) * 0.5, 1e-9)
    hi = float(precision.max()) * 1.1
    grid = np.linspace(lo, hi, _GRID_POINTS)
    gw = widen(np.asarray(s_of_precision(grid), dtype=float))
    curve = pd.DataFrame(
        {
            "precision": grid,
            "lower_inner": back(y0 - z_in * gw),
            "upper_inner": back(y0 + z_in * gw),
            "lower_outer": back(y0 - z_out * gw),
            "upper_outer": back(y0 + z_out * gw),
        }
    )
    if method == "multiplicative" and phi <= 1.0:
        notes.append(f"φ = {phi:.3g} is not above 1: the limits are not widened.")
    if method == "additive" and tau2 == 0.0:
        notes.append(f"τ² = 0 (φ = {phi:.3g}): no more spread than chance; plain limits.")
    return OverdispersedFunnel(
        frame=frame,
        curve=curve,
        target=target,
        indicator=indicator,
        method=method,
        phi=phi,
        tau2=tau2,
        inner_level=inner_level,
        outer_level=outer_level,
        label=label,
        unit_label=unit_label,
        precision_label=precision_label,
        adjusted=adjusted,
        notes=tuple(notes),
    )


def _back_arcsine(y: np.ndarray) -> np.ndarray:
    return np.asarray(np.sin(np.clip(y, 0.0, np.pi / 2)) ** 2)


def _identity(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=float)
