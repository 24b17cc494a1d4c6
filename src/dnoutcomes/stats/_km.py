"""Kaplan–Meier estimates, their quantiles and the log-rank test on arrays, written in NumPy
to reproduce R's ``survfit`` (``conf.type = "log"``, its quantile rules) and ``survdiff``
(re-exported by :mod:`dnoutcomes.stats.survival`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._inference import z_critical

__all__ = ["LogrankResult", "kaplan_meier", "km_quantile", "logrank_test"]

#: R's default tolerance in ``quantile.survfit``: sqrt(.Machine$double.eps).
_TOL = math.sqrt(np.finfo(float).eps)


def _clean(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if t.shape != e.shape or t.ndim != 1:
        raise RequestError(
            f"time and event must be 1-d and of equal length; got shapes {t.shape} and {e.shape}."
        )
    keep = ~(np.isnan(t) | np.isnan(e))
    t, e = t[keep], e[keep]
    if np.any(t < 0) or not np.all(np.isin(e, (0.0, 1.0))):
        raise RequestError(
            "time must be >= 0 and event 0 (censored) or 1 (event); check the inputs."
        )
    return t, e


def kaplan_meier(time: ArrayLike, event: ArrayLike, *, conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan–Meier estimate with Greenwood standard errors and log-transformed limits.

    Parameters
    ----------
    time
        Follow-up times (≥ 0).
    event
        1 = event at ``time``, 0 = censored at ``time``. Pairs with a missing value are
        dropped (as R does).
    conf_level
        Confidence level of the pointwise limits.

    Returns
    -------
    pandas.DataFrame
        One row per distinct time (events and censorings, ascending): ``time``,
        ``n_risk``, ``n_event``, ``n_censor`` (int); ``survival`` (the product-limit
        estimate S(t)); ``std_error`` (Greenwood's SE of −log S, R's ``std.err``);
        ``conf_low``, ``conf_high`` (S·exp(∓z·SE), the upper clipped at 1; NaN where
        S = 0).

    Raises
    ------
    RequestError
        For arrays of different lengths, a negative time, an event other than 0/1, or a
        ``conf_level`` outside (0, 1).

    Notes
    -----
    S(t) = Π_{tᵢ ≤ t} (1 − dᵢ/nᵢ); Var(−log S) = Σ dᵢ / (nᵢ (nᵢ − dᵢ)). These are R's
    ``survfit(Surv(time, event) ~ 1)`` with its default ``conf.type = "log"``.

    Examples
    --------
    >>> km = kaplan_meier([9, 1, 1, 6, 6, 8, 10], [1, 1, 0, 1, 1, 0, 0])
    >>> km["survival"].round(4).tolist()
    [0.8571, 0.5143, 0.5143, 0.2571, 0.2571]
    """
    z = z_critical(conf_level)
    t, e = _clean(time, event)
    times, inverse = np.unique(t, return_inverse=True)
    n_event = np.bincount(inverse, weights=e, minlength=len(times))
    n_total = np.bincount(inverse, minlength=len(times)).astype(float)
    n_risk = n_total[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - n_event / n_risk)
        var = np.cumsum(n_event / (n_risk * (n_risk - n_event)))
        se = np.sqrt(var)
        positive = surv > 0
        low = np.where(positive, np.exp(np.log(surv) - z * se), np.nan)
        high = np.where(positive, np.minimum(np.exp(np.log(surv) + z * se), 1.0), np.nan)
    return pd.DataFrame(
        {
            "time": times,
            "n_risk": n_risk.astype(np.int64),
            "n_event": n_event.astype(np.int64),
            "n_censor": (n_total - n_event).astype(np.int64),
            "survival": surv,
            "std_error": se,
            "conf_low": low,
            "conf_high": high,
        }
    )


def _approx_constant_right(xs: np.ndarray, ys: np.ndarray, v: float) -> float:
    """R's ``approx(xs, ys, v, method = "constant", f = 1)`` (NaN outside the range)."""
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    if len(xs) == 0 or v < xs[0] or v > xs[-1]:
        return math.nan
    # xs[j] is the first node >= v: the node itself on a tie, else (f = 1) the right end
    j = int(np.searchsorted(xs, v, side="left"))
    return float(ys[j])


def _findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = _TOL) -> float:
    """R survival's ``findq``: where the CDF ``y`` over times ``x`` first reaches ``p``,
    with the midpoint rule for a flat exactly at ``p``."""
    finite = y[~np.isnan(y)]
    if len(finite) == 0 or finite.max() < p:
        return math.nan
    if p == 0:
        return float(x[0])
    xmax = x[-1]
    # drop duplicated y values (R's duplicated(): NaN counts as a value too)
    keys = np.where(np.isnan(y), np.inf, y)
    _, first = np.unique(keys, return_index=True)
    keep = np.zeros(len(y), dtype=bool)
    keep[first] = True
    x, y = x[keep], y[keep]
    n = len(y)
    idx = np.arange(n, dtype=float)
    ok = ~np.isnan(y)
    i1 = _approx_constant_right(y[ok] + tol, idx[ok], p)
    i2 = _approx_constant_right(y[ok] - tol, idx[ok], p)
    x1 = x[int(i1)] if not math.isnan(i1) else math.nan
    x2 = x[int(i2)] if not math.isnan(i2) else math.nan
    quant = (x1 + x2) / 2
    if not math.isnan(y[-1]) and abs(p - y[-1]) < tol:
        quant = (x1 + xmax) / 2
    return float(quant)


def km_quantile(km: pd.DataFrame, prob: float = 0.5) -> tuple[float, float, float]:
    """A quantile of the failure distribution with its confidence limits, as R does.

    Parameters
    ----------
    km
        A frame from :func:`kaplan_meier`.
    prob
        The probability of failure (0.5 = the median time).

    Returns
    -------
    (quantile, conf_low, conf_high)
        NaN where the curve (or a limit) never reaches ``1 - prob``.

    Notes
    -----
    R's ``quantile.survfit``: the quantile is the first time the curve S drops to
    ``1 - prob`` or below; when S equals ``1 - prob`` (within √ε) over an interval, the
    midpoint of that interval (to the last time of follow-up for a final flat). The lower
    limit applies the same rule to the lower confidence curve, the upper limit to the
    upper curve.

    Examples
    --------
    The flat at S = 6/7 between days 1 and 6 gives the midpoint, as R does:

    >>> km = kaplan_meier([9, 1, 1, 6, 6, 8, 10], [1, 1, 0, 1, 1, 0, 0])
    >>> km_quantile(km, 1 / 7)
    (3.5, 1.0, nan)
    """
    x = np.concatenate([[0.0], km["time"].to_numpy(dtype=float)])

    def q(curve: str) -> float:
        y = np.concatenate([[0.0], 1 - km[curve].to_numpy(dtype=float)])
        return _findq(x, y, prob)

    return q("survival"), q("conf_low"), q("conf_high")


@dataclass(frozen=True)
class LogrankResult:
    """Log-rank test of equal survival in two or more groups (R's ``survdiff``, rho = 0).

    Attributes
    ----------
    table
        ``group``, ``n``, ``observed``, ``expected`` per group.
    chisq, df, p_value
        The test statistic, its degrees of freedom (groups − 1) and p.
    """

    table: pd.DataFrame
    chisq: float
    df: int
    p_value: float


def logrank_test(time: ArrayLike, event: ArrayLike, group: ArrayLike) -> LogrankResult:
    """The log-rank test, as R's ``survdiff(Surv(time, event) ~ group)``.

    Parameters
    ----------
    time, event
        As for :func:`kaplan_meier`.
    group
        Group label per observation (two or more distinct labels).

    Returns
    -------
    LogrankResult

    Raises
    ------
    RequestError
        Fewer than two groups.

    Notes
    -----
    At each distinct event time with nᵢ at risk and dᵢ events, group g expects
    dᵢ·n_gi/nᵢ events; with O − E over groups and the hypergeometric covariance
    V_gh = Σ dᵢ (nᵢ − dᵢ)/(nᵢ − 1) · n_gi/nᵢ (δ_gh − n_hi/nᵢ),
    χ² = (O − E)ᵀ V⁻ (O − E) on (groups − 1) df, using all groups but the last.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    g = np.asarray(group)
    keep = ~(np.isnan(t) | np.isnan(e))
    t, e, g = t[keep], e[keep], g[keep]
    labels, gidx = np.unique(g, return_inverse=True)
    k = len(labels)
    if k < 2:
        raise RequestError(
            f"log-rank test: needs at least 2 groups; got {k}. Give times from two or more arms."
        )
    times, tidx = np.unique(t, return_inverse=True)
    m = len(times)
    # per time × group: events and number leaving the risk set
    d = np.zeros((m, k))
    np.add.at(d, (tidx, gidx), e)
    out = np.zeros((m, k))
    np.add.at(out, (tidx, gidx), 1.0)
    n_risk = out[::-1].cumsum(axis=0)[::-1]
    n_all = n_risk.sum(axis=1)
    d_all = d.sum(axis=1)
    share = n_risk / n_all[:, None]
    expected = (d_all[:, None] * share).sum(axis=0)
    observed = d.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_all > 1, d_all * (n_all - d_all) / (n_all - 1), 0.0)
    cov = np.einsum("i,ig,gh->gh", factor, share, np.eye(k)) - np.einsum(
        "i,ig,ih->gh", factor, share, share
    )
    diff = (observed - expected)[:-1]
    v = cov[:-1, :-1]
    chisq = float(diff @ np.linalg.pinv(v) @ diff)
    df = int(np.linalg.matrix_rank(v))
    table = pd.DataFrame(
        {
            "group": labels,
            "n": np.bincount(gidx, minlength=k).astype(np.int64),
            "observed": observed,
            "expected": expected,
        }
    )
    return LogrankResult(
        table=table, chisq=chisq, df=df, p_value=float(sps.chi2.sf(chisq, df)) if df else math.nan
    )
