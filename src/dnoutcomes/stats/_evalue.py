"""The E-value of VanderWeele and Ding (re-exported by :mod:`dnoutcomes.stats.iptw`)."""

from __future__ import annotations

import math

from dnoutcomes.errors import RequestError

__all__ = ["e_value"]


def e_value(
    ratio: float, conf_low: float | None = None, conf_high: float | None = None
) -> tuple[float, float]:
    """E-value of a risk ratio and of the confidence limit nearer the null.

    Parameters
    ----------
    ratio
        The (approximate) risk ratio, > 0.
    conf_low, conf_high
        Its confidence limits (optional).

    Returns
    -------
    tuple of float
        ``(e_value_estimate, e_value_limit)``: the minimum strength of association (risk
        ratio scale) an unmeasured confounder would need with both treatment and outcome to
        explain the estimate away, and the same for the limit nearer 1 (1 when the interval
        includes 1; NaN when no limits are given).

    Notes
    -----
    For ``RR < 1`` take ``1 / RR`` first; ``E = RR + sqrt(RR (RR - 1))``.

    References
    ----------
    VanderWeele TJ, Ding P. Sensitivity analysis in observational research: introducing the
    E-value. Ann Intern Med 2017;167:268-274.

    Examples
    --------
    The paper's example, RR 3.9 (95 % CI 1.8 to 8.7):

    >>> estimate, limit = e_value(3.9, 1.8, 8.7)
    >>> round(estimate, 2), round(limit, 2)
    (7.26, 3.0)
    """

    def one(rr: float) -> float:
        rr = 1.0 / rr if rr < 1.0 else rr
        return rr + math.sqrt(rr * (rr - 1.0))

    if not ratio > 0:
        raise RequestError(
            f"e_value: the ratio must be positive; got {ratio!r}. Pass a risk, odds or hazard "
            "ratio (for a difference in means, exp(0.91 d))."
        )
    estimate = one(ratio)
    if conf_low is None or conf_high is None:
        return estimate, math.nan
    if conf_low <= 1.0 <= conf_high:
        return estimate, 1.0
    nearer = conf_low if ratio > 1.0 else conf_high
    return estimate, one(nearer)
