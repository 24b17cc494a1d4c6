"""Section 4 of the analysis plan: time to response, by Kaplan–Meier per arm and the
log-rank test, written in NumPy to reproduce R's ``survfit`` (``conf.type = "log"``, its
quantile rules) and ``survdiff``.

:func:`kaplan_meier`, :func:`km_quantile` and :func:`logrank_test` work on arrays;
:func:`response_times` builds the per-episode times from a dataset and
:func:`compare_time_to_response` runs the section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from dnoutcomes._frames import isin
from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "LogrankResult",
    "TimeToResponseResult",
    "compare_time_to_response",
    "kaplan_meier",
    "km_quantile",
    "logrank_test",
    "response_times",
]

#: R's default tolerance in ``quantile.survfit``: sqrt(.Machine$double.eps).
_TOL = math.sqrt(np.finfo(float).eps)


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise RequestError(
            f"conf_level must lie strictly between 0 and 1; got {conf_level!r}. "
            "Use e.g. 0.95 for 95 % intervals."
        )
    return float(sps.norm.ppf(0.5 + conf_level / 2))


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
    z = _z(conf_level)
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
        raise RequestError(f"log-rank test: needs at least 2 groups; got {k}.")
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


def response_times(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    threshold: float | None = None,
) -> pd.DataFrame:
    """Days from the start of each episode to the first response, or to censoring.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure
        A registered measure with an MCID in points.
    threshold
        Improvement that counts as a response; default the measure's MCID in points.

    Returns
    -------
    pandas.DataFrame
        One row per comparison episode with a baseline value and at least one
        post-baseline value: ``episode_id``, ``arm``, ``treated``, ``time`` (days, float),
        ``event`` (int: 1 = responded at ``time``, 0 = censored at the last post-baseline
        value), ``n_values`` (post-baseline values seen).

    Raises
    ------
    RequestError
        Unknown arm or measure, or a measure without an MCID in points and no threshold.

    Notes
    -----
    Post-baseline values are those at ``session`` and ``discharge``; time = assessment date
    − episode start date, in days (a value dated before the start counts as day 0).
    Improvement is direction-aware. Episodes without a baseline value or without any
    post-baseline value are left out.
    """
    spec = get_measure(dataset, measure)
    cut = threshold if threshold is not None else getattr(spec, "mcid_points", None)
    if cut is None:
        raise RequestError(
            f"time to response of {measure}: the measure has no MCID in points; pass "
            "threshold= (the improvement that counts as a response)."
        )
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    out = dataset.outcomes
    rows = out.loc[
        (out["measure"] == measure) & isin(out["episode_id"], episodes["episode_id"]),
        ["episode_id", "timepoint", "assessed_on", "value"],
    ]
    tp = rows["timepoint"].astype(str)
    baseline = rows.loc[tp == "baseline"].groupby("episode_id")["value"].first()
    later = rows.loc[tp.isin(["session", "discharge"])]
    later = later.merge(
        episodes[["episode_id", "arm", "treated", "start_date"]], on="episode_id", how="inner"
    )
    later = later.loc[isin(later["episode_id"], baseline.index)]
    later = later.assign(
        days=(later["assessed_on"] - later["start_date"]).dt.days.astype(float).clip(lower=0),
        base=later["episode_id"].map(baseline).astype(float),
    )
    improvement = (
        later["base"] - later["value"]
        if getattr(spec, "direction", "lower") == "lower"
        else later["value"] - later["base"]
    )
    later = later.assign(
        responded=(improvement >= float(cut)).astype(int),
        response_day=later["days"].where(improvement >= float(cut)),
    )
    agg = later.groupby("episode_id", sort=False).agg(
        arm=("arm", "first"),
        treated=("treated", "first"),
        event=("responded", "max"),
        first_response=("response_day", "min"),
        last_day=("days", "max"),
        n_values=("value", "size"),
    )
    agg["time"] = agg["first_response"].where(agg["event"] == 1, agg["last_day"])
    agg = agg.reset_index()
    order = episodes[["episode_id"]].reset_index().merge(agg, on="episode_id")
    result: pd.DataFrame = order.sort_values("index")[
        ["episode_id", "arm", "treated", "time", "event", "n_values"]
    ].reset_index(drop=True)
    result["event"] = result["event"].astype(np.int64)
    result["n_values"] = result["n_values"].astype(np.int64)
    return result


@dataclass(frozen=True, repr=False)
class TimeToResponseResult(ResultMixin):
    """Kaplan–Meier time to response per arm with the log-rank test.

    Attributes
    ----------
    frame
        One row per arm: ``arm``, ``role``, ``n``, ``events``, ``median`` (days),
        ``conf_low``, ``conf_high`` (the median's limits; NaN when not reached).
    curves
        The :func:`kaplan_meier` table of each arm with an ``arm`` column in front.
    times
        :func:`response_times`: the per-episode data analysed.
    logrank_chisq, logrank_df, logrank_p
        The log-rank test.
    """

    measure: str
    threshold: float
    reference: str
    comparator: str
    conf_level: float
    frame: pd.DataFrame
    curves: pd.DataFrame
    times: pd.DataFrame
    logrank_chisq: float
    logrank_df: int
    logrank_p: float
    n: int
    events: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Time to response ({self.measure} improvement >= {self.threshold:g}): "
            f"{self.comparator} vs {self.reference}, n = {self.n}, {self.events} responses"
        )

    def __str__(self) -> str:
        return super().__str__() + (
            f"\nLog-rank chi-square {self.logrank_chisq:.3g} on {self.logrank_df} df, "
            f"p = {self.logrank_p:.3g}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``time_to_response`` section."""
        rows = self.frame.set_index("role")

        def ci(role: str) -> list[Any]:
            return [rows.loc[role, "conf_low"], rows.loc[role, "conf_high"]]

        return jsonable(
            {
                "measure": self.measure,
                "mcid": self.threshold,
                "n": self.n,
                "events": self.events,
                "median_reference": rows.loc["reference", "median"],
                "median_comparator": rows.loc["comparator", "median"],
                "median_reference_ci": ci("reference"),
                "median_comparator_ci": ci("comparator"),
                "logrank_chisq": self.logrank_chisq,
                "logrank_p": self.logrank_p,
                "n_reference": rows.loc["reference", "n"],
                "n_comparator": rows.loc["comparator", "n"],
                "events_reference": rows.loc["reference", "events"],
                "events_comparator": rows.loc["comparator", "events"],
            }
        )


def compare_time_to_response(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    threshold: float | None = None,
    conf_level: float = 0.95,
) -> TimeToResponseResult:
    """Kaplan–Meier time to response per arm and the log-rank test (plan, section 4).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure
        The measure (default NPRS).
    threshold
        Improvement that counts as a response (default the MCID in points: 2 for NPRS).
    conf_level
        Confidence level of the median's interval.

    Returns
    -------
    TimeToResponseResult

    Raises
    ------
    RequestError
        Unknown arm or measure, no MCID, bad ``conf_level``.
    InsufficientDataError
        An arm without any episode that has a baseline and a post-baseline value.

    Notes
    -----
    See :func:`response_times` for the data and :func:`kaplan_meier`,
    :func:`km_quantile` and :func:`logrank_test` for the estimates. Episodes without a
    baseline or a post-baseline value are left out (counted in ``notes``).
    """
    _z(conf_level)
    data = response_times(
        dataset, reference=reference, comparator=comparator, measure=measure, threshold=threshold
    )
    spec = get_measure(dataset, measure)
    cut = float(threshold if threshold is not None else spec.mcid_points)
    rows: list[dict[str, Any]] = []
    curves = []
    for role, arm in (("reference", reference), ("comparator", comparator)):
        sub = data.loc[data["arm"] == arm]
        if len(sub) == 0:
            raise InsufficientDataError(
                f"time to response of {measure}: {arm} has 0 episodes with a baseline and a "
                "later value; needs at least 1 per arm."
            )
        km = kaplan_meier(sub["time"], sub["event"], conf_level=conf_level)
        median, low, high = km_quantile(km, 0.5)
        rows.append(
            {
                "arm": arm,
                "role": role,
                "n": len(sub),
                "events": int(sub["event"].sum()),
                "median": median,
                "conf_low": low,
                "conf_high": high,
            }
        )
        curves.append(km.assign(arm=arm))
    test = logrank_test(data["time"], data["event"], data["treated"])
    n_all = len(comparison_episodes(dataset, reference=reference, comparator=comparator))
    notes = []
    if n_all > len(data):
        notes.append(
            f"{n_all - len(data)} episodes without a baseline or any later {measure} value "
            "were left out."
        )
    for row in rows:
        if math.isnan(row["median"]):
            notes.append(f"Median not reached in {row['arm']}.")
    curve_frame = pd.concat(curves, ignore_index=True)
    curve_frame = curve_frame[["arm", *[c for c in curve_frame.columns if c != "arm"]]]
    return TimeToResponseResult(
        measure=measure,
        threshold=cut,
        reference=reference,
        comparator=comparator,
        conf_level=conf_level,
        frame=pd.DataFrame(rows),
        curves=curve_frame,
        times=data,
        logrank_chisq=test.chisq,
        logrank_df=test.df,
        logrank_p=test.p_value,
        n=int(len(data)),
        events=int(data["event"].sum()),
        episodes_used=tuple(data["episode_id"].astype(str)),
        notes=tuple(notes),
    )
