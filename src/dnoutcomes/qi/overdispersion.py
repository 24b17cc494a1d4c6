"""Funnel plots with Spiegelhalter's (2005) correction for overdispersion.

A plain funnel assumes that every unit (therapist, site) has the same true performance and
differs from the others only by chance. Between real clinicians the spread is usually wider
than chance alone — *overdispersion* — and a plain funnel then flags too many units.
Spiegelhalter (2005, section 5) estimates the extra spread from the units themselves and
widens the limits by it, after dampening the most extreme units so that they cannot hide
themselves by inflating the estimate.

The calculation (analysis plan, section 10, "Funnel with overdispersion")
-------------------------------------------------------------------------
Each unit ``i`` of ``k`` has an indicator ``y_i``, its standard error ``s_i`` under the
null hypothesis that it performs like the target ``y₀``, and a *precision* (what the
funnel's x axis shows: cases, or expected events):

1. ``z_i = (y_i − y₀) / s_i``;
2. winsorise: ``z`` below its 10th percentile is set to the 10th percentile, above its
   90th to the 90th (percentiles by linear interpolation, NumPy's and R's default,
   type 7);
3. ``φ = Σ z_w² / k`` (the overdispersion factor; 1 when the units vary by chance only);
4. *additive* (random-effects) model: with ``w_i = 1 / s_i²``,
   ``τ² = max(0, (k φ − (k − 1)) / (Σ w − Σ w² / Σ w))`` and limits
   ``y₀ ± z_α √(s² + τ²)``; a unit's z-score is ``(y_i − y₀) / √(s_i² + τ²)``;
5. *multiplicative* model: limits ``y₀ ± z_α √φ s`` when ``φ > 1`` (else the plain ones);
   a unit's z-score is ``z_i / √φ``.

where ``z_α`` is the standard normal quantile ``Φ⁻¹(1 − (1 − level)/2)``.

Three indicators are provided:

* :func:`proportion_funnel` — a share (responders / episodes) on the arcsine square-root
  scale: ``y = asin √p``, ``s = 1 / (2 √n)``, ``y₀ = asin √p̄``; limits are transformed
  back with ``p = sin²(y)`` (``y`` clipped to ``[0, π/2]``);
* :func:`mean_funnel` — a mean per unit (here the mean of observed − expected
  improvement): ``s = SD / √n`` with one SD for all units, ``y₀ = 0`` by default;
* :func:`ratio_funnel` — an observed / expected ratio (responders ΣO / ΣE): ``y = O/E``,
  ``y₀ = 1``, ``s = √V / E`` where ``V = Σ p̂ (1 − p̂)`` over the unit's episodes (the null
  variance of ``O``), drawn against ``E``.

References
----------
Spiegelhalter DJ. Funnel plots for comparing institutional performance. Stat Med
2005;24:1185–1202.

Spiegelhalter DJ. Handling over-dispersion of performance indicators. Qual Saf Health
Care 2005;14:347–351.
"""

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

__all__ = [
    "Indicator",
    "Overdispersion",
    "OverdispersedFunnel",
    "mean_funnel",
    "overdispersion",
    "proportion_funnel",
    "ratio_funnel",
]

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


def proportion_funnel(
    events: ArrayLike,
    n: ArrayLike,
    *,
    units: Labels = None,
    target: float | None = None,
    overdispersion: Overdispersion = "additive",
    inner_level: float = 0.95,
    outer_level: float = 0.998,
    label: str = "share",
    unit_label: str = "unit",
) -> OverdispersedFunnel:
    """Funnel of shares on the arcsine scale, with overdispersion-corrected limits.

    Parameters
    ----------
    events, n
        Events (responders) and cases (episodes) per unit; units with no case are left
        out (and said so in ``notes``).
    units
        Labels of the units; default ``1, 2, …``.
    target
        The share to compare with; default the overall share ``Σ events / Σ n``.
    overdispersion
        ``"additive"`` (default, random effects), ``"multiplicative"`` or ``"none"``.
    inner_level, outer_level
        Coverage of the two funnels; default 0.95 and 0.998.
    label, unit_label
        Words for titles.

    Returns
    -------
    OverdispersedFunnel
        ``indicator="proportion"``; ``value`` is the share, ``y = asin √share``,
        ``s = 1/(2√n)``, limits back-transformed with ``sin²``.

    Raises
    ------
    RequestError
        For counts that are negative, fractional or with ``events > n``, or bad levels.
    InsufficientDataError
        When no unit has a case.

    Examples
    --------
    >>> f = proportion_funnel([12, 30, 5, 20], [20, 40, 25, 41])
    >>> round(f.phi, 3), round(f.tau2, 5), f.flagged
    (3.155, 0.02619, ())
    """
    _check_levels(inner_level, outer_level, overdispersion)
    e = np.nan_to_num(_as_float(events, "events"))
    size = np.nan_to_num(_as_float(n, "n"))
    labels = _labels(units, e.size)
    if e.shape != size.shape:
        raise RequestError(
            f"funnel: events and n must have one value per unit each; got {e.size} and {size.size}."
        )
    bad = (e < 0) | (e > size) | (e != np.round(e)) | (size != np.round(size))
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
        raise InsufficientDataError(f"funnel: no {unit_label} has a case; nothing to plot.")
    e, size = e[keep], size[keep]
    labels = [lab for lab, k in zip(labels, keep, strict=True) if k]
    p0 = float(e.sum() / size.sum()) if target is None else float(target)
    share = e / size
    return _build(
        indicator="proportion",
        labels=labels,
        precision=size,
        n=size,
        value=share,
        y=np.arcsin(np.sqrt(share)),
        s=1.0 / (2.0 * np.sqrt(size)),
        y0=float(np.arcsin(np.sqrt(p0))),
        target=p0,
        s_of_precision=lambda g: 1.0 / (2.0 * np.sqrt(g)),
        back=_back_arcsine,
        method=overdispersion,
        inner_level=inner_level,
        outer_level=outer_level,
        label=label,
        unit_label=unit_label,
        precision_label="cases",
        adjusted=False,
        notes=notes,
    )


def mean_funnel(
    means: ArrayLike,
    n: ArrayLike,
    *,
    sd: float,
    units: Labels = None,
    target: float = 0.0,
    overdispersion: Overdispersion = "additive",
    inner_level: float = 0.95,
    outer_level: float = 0.998,
    label: str = "mean",
    unit_label: str = "unit",
    adjusted: bool = False,
) -> OverdispersedFunnel:
    """Funnel of means per unit (mean observed − expected), ``s = sd / √n``.

    Parameters
    ----------
    means
        The units' means.
    n
        Cases per unit (at least 1).
    sd
        The standard deviation of one case's value (pooled over all units).
    units
        Labels; default ``1, 2, …``.
    target
        The centre line (0: "as expected").
    overdispersion, inner_level, outer_level, label, unit_label
        As :func:`proportion_funnel`.
    adjusted
        Whether the means are adjusted for case mix (titles only).

    Returns
    -------
    OverdispersedFunnel
        ``indicator="mean"``; ``y = value = mean``, ``s = sd/√n``.

    Raises
    ------
    RequestError
        For ``sd`` not positive, means that are not finite, or ``n`` below 1.

    Examples
    --------
    >>> f = mean_funnel([0.4, -0.9, 0.1, 0.0], [30, 25, 40, 35], sd=2.0)
    >>> round(f.tau2, 4), f.frame["position"].tolist()
    (0.0134, ['within', 'below inner', 'within', 'within'])
    """
    _check_levels(inner_level, outer_level, overdispersion)
    m = _as_float(means, "means")
    size = _as_float(n, "n")
    labels = _labels(units, m.size)
    if not np.isfinite(sd) or sd <= 0:
        raise RequestError(f"funnel: sd must be a positive number; got {sd!r}.")
    if m.shape != size.shape or np.any(~np.isfinite(m)) or np.any(~(size >= 1)):
        raise RequestError(
            "funnel: means and n must have one finite value per unit and n >= 1; leave out "
            "units without cases."
        )
    return _build(
        indicator="mean",
        labels=labels,
        precision=size,
        n=size,
        value=m,
        y=m,
        s=sd / np.sqrt(size),
        y0=float(target),
        target=float(target),
        s_of_precision=lambda g: sd / np.sqrt(g),
        back=_identity,
        method=overdispersion,
        inner_level=inner_level,
        outer_level=outer_level,
        label=label,
        unit_label=unit_label,
        precision_label="cases",
        adjusted=adjusted,
        notes=[],
    )


def ratio_funnel(
    observed: ArrayLike,
    expected: ArrayLike,
    variance: ArrayLike,
    *,
    n: ArrayLike | None = None,
    units: Labels = None,
    overdispersion: Overdispersion = "additive",
    inner_level: float = 0.95,
    outer_level: float = 0.998,
    label: str = "observed / expected",
    unit_label: str = "unit",
) -> OverdispersedFunnel:
    """Funnel of observed / expected ratios (indirectly standardised responders).

    Parameters
    ----------
    observed
        Observed events per unit (ΣO).
    expected
        Expected events per unit (ΣE, sum of the model's probabilities; positive).
    variance
        Null variance of the observed count per unit, ``Σ p̂ (1 − p̂)`` (positive).
    n
        Cases per unit, carried to the frame.
    units, overdispersion, inner_level, outer_level, label, unit_label
        As :func:`proportion_funnel`.

    Returns
    -------
    OverdispersedFunnel
        ``indicator="ratio"``, ``precision = E``; ``y = value = O/E``, ``s = √V / E``,
        target 1. The curve uses ``s(E) = √(c / E)`` with ``c = ΣV / ΣE`` over all units
        (the average ``1 − p̂``), so it is drawn smooth; each unit's own limits and flag
        use its own ``s``.

    Raises
    ------
    RequestError
        For expected or variance not positive, or lengths that differ.

    Examples
    --------
    >>> f = ratio_funnel([10, 30, 12], [14.0, 25.0, 12.5], [8.0, 14.0, 7.0])
    >>> [round(v, 3) for v in f.frame["value"]]
    [0.714, 1.2, 0.96]
    """
    _check_levels(inner_level, outer_level, overdispersion)
    o = _as_float(observed, "observed")
    e = _as_float(expected, "expected")
    v = _as_float(variance, "variance")
    labels = _labels(units, o.size)
    if not (o.shape == e.shape == v.shape) or np.any(~(e > 0)) or np.any(~(v > 0)):
        raise RequestError(
            "funnel: observed, expected and variance need one value per unit, with expected "
            "and variance positive."
        )
    size = np.full(o.size, np.nan) if n is None else _as_float(n, "n")
    c = float(v.sum() / e.sum())
    return _build(
        indicator="ratio",
        labels=labels,
        precision=e,
        n=size,
        value=o / e,
        y=o / e,
        s=np.sqrt(v) / e,
        y0=1.0,
        target=1.0,
        s_of_precision=lambda g: np.sqrt(c / g),
        back=_identity,
        method=overdispersion,
        inner_level=inner_level,
        outer_level=outer_level,
        label=label,
        unit_label=unit_label,
        precision_label="expected responders",
        adjusted=True,
        notes=[],
    )
