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

import numpy as np
from numpy.typing import ArrayLike

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi._od_core import (
    Indicator,
    OverdispersedFunnel,
    Overdispersion,
    _back_arcsine,
    _build,
    _check_levels,
    _identity,
    _labels,
    overdispersion,
)
from dnoutcomes.qi.chart_result import Labels
from dnoutcomes.qi.runs import _as_float

__all__ = [
    "Indicator",
    "OverdispersedFunnel",
    "Overdispersion",
    "mean_funnel",
    "overdispersion",
    "proportion_funnel",
    "ratio_funnel",
]


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
