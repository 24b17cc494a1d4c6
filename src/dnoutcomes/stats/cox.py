"""Time to response (section 4 data) by Cox proportional hazards and restricted mean time
(section 10 of the analysis plan).

Array-level pieces: :func:`cox_efron` (the fit, as R's ``coxph(ties = "efron")``),
:func:`cox_zph` (the Schoenfeld-residual test of proportional hazards, as
``survival::cox.zph`` with ``transform = "km"``) and :func:`rmst` (area under the
Kaplan–Meier curve to a horizon, its SE as ``print(survfit(...), rmean = tau)``).
:func:`compare_cox` runs them on a dataset's response times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from dnoutcomes.cohort import get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, z_critical
from dnoutcomes.stats._km import kaplan_meier
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable, table_alias
from dnoutcomes.stats.survival import response_times

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["CoxFit", "CoxResult", "compare_cox", "cox_efron", "cox_zph", "rmst"]

_MAX_ITER = 30


@dataclass(frozen=True)
class CoxFit:
    """Coefficients of a Cox model (Efron ties) and what :func:`cox_zph` needs."""

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    loglik: float
    loglik_null: float
    iterations: int
    converged: bool


def _risk_sets(
    time: NDArray[np.float64],
    event: NDArray[np.float64],
    x: NDArray[np.float64],
    beta: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:
    """Efron terms at each death: one row per death (tied deaths share a time and count
    k = 0..d-1 within it); risk-set sums of r, r x, r x x' minus the fraction k/d of the
    tied deaths' sums."""
    order = np.argsort(time, kind="stable")
    t, d, xs = time[order], event[order], x[order]
    r = np.exp(xs @ beta)
    uniq, first = np.unique(t, return_index=True)
    idx = np.searchsorted(uniq, t)
    # risk set at each distinct time: everyone with time >= t (reverse cumulative sums)
    s0 = np.cumsum(r[::-1])[::-1][first]
    s1 = np.cumsum((r[:, None] * xs)[::-1], axis=0)[::-1][first]
    xx = xs[:, :, None] * xs[:, None, :]
    s2 = np.cumsum((r[:, None, None] * xx)[::-1], axis=0)[::-1][first]
    nd = np.bincount(idx, weights=d, minlength=len(uniq))
    d0 = np.bincount(idx, weights=d * r, minlength=len(uniq))
    d1 = np.zeros_like(s1)
    np.add.at(d1, idx, (d * r)[:, None] * xs)
    d2 = np.zeros_like(s2)
    np.add.at(d2, idx, (d * r)[:, None, None] * xx)
    has = nd > 0
    steps = nd[has].astype(np.int64)
    which = np.repeat(np.flatnonzero(has), steps)
    k = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
    frac = k / np.repeat(steps, steps)
    a0 = s0[which] - frac * d0[which]
    a1 = s1[which] - frac[:, None] * d1[which]
    a2 = s2[which] - frac[:, None, None] * d2[which]
    return {"a0": a0, "a1": a1, "a2": a2, "time": uniq[which], "which": which.astype(np.float64)}


def _loglik_score_info(
    time: NDArray[np.float64],
    event: NDArray[np.float64],
    x: NDArray[np.float64],
    beta: NDArray[np.float64],
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    rs = _risk_sets(time, event, x, beta)
    a0, a1, a2 = rs["a0"], rs["a1"], rs["a2"]
    dead = event == 1.0
    loglik = float((x[dead] @ beta).sum() - np.log(a0).sum())
    mean = a1 / a0[:, None]
    score = x[dead].sum(axis=0) - mean.sum(axis=0)
    info = (a2 / a0[:, None, None]).sum(axis=0) - np.einsum("ij,ik->jk", mean, mean)
    return loglik, score, info


def _check_surv(
    time: ArrayLike, event: ArrayLike, where: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    if t.ndim != 1 or t.shape != e.shape:
        raise RequestError(
            f"{where}: time and event must be 1-d of one length; got {t.shape}, {e.shape}."
        )
    if not (np.isfinite(t).all() and np.isin(e, (0.0, 1.0)).all()) or (t < 0).any():
        raise RequestError(
            f"{where}: time must be finite and >= 0 and event 0 or 1 with no missing values; "
            "drop incomplete rows first."
        )
    return t, e


def cox_efron(time: ArrayLike, event: ArrayLike, covariates: ArrayLike) -> CoxFit:
    """Fit a Cox proportional-hazards model with Efron's handling of ties.

    Parameters
    ----------
    time, event
        Follow-up time (>= 0) and 1 = event / 0 = censored, one per row.
    covariates
        n x p matrix (or a length-n vector for one covariate), no intercept.

    Returns
    -------
    CoxFit
        ``coef``, ``cov`` (inverse information at ``coef``), ``loglik``, ``loglik_null``,
        ``iterations``, ``converged``.

    Raises
    ------
    RequestError
        Bad shapes or values.
    InsufficientDataError
        No events.

    Notes
    -----
    Newton–Raphson from 0 on Efron's (1977) partial likelihood: at a time with ``d`` tied
    deaths the ``k``-th (``k = 0..d-1``) risk-set sum is ``S0 - (k/d) D0`` (``D0`` the sum
    of ``exp(x beta)`` over the tied deaths), likewise for the first and second moments.
    Iterates until the step is below 1e-12 (at most 30 steps), as ``coxph`` does to its
    ``eps = 1e-9`` on the log-likelihood and beyond.

    Examples
    --------
    >>> fit = cox_efron([1, 2, 2, 3, 4, 5], [1, 1, 1, 0, 1, 1], [0, 1, 0, 1, 0, 1])
    >>> round(float(fit.coef[0]), 4)
    -1.3411
    """
    t, e = _check_surv(time, event, "cox_efron")
    x = np.asarray(covariates, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    if x.shape[0] != t.shape[0] or not np.isfinite(x).all():
        raise RequestError("cox_efron: covariates need one finite row per time.")
    if e.sum() == 0:
        raise InsufficientDataError("cox_efron: no events; a hazard ratio needs at least one.")
    beta = np.zeros(x.shape[1])
    loglik0, score, info = _loglik_score_info(t, e, x, beta)
    loglik, converged, it = loglik0, False, 0
    for it in range(1, _MAX_ITER + 1):  # Newton iterations, not rows
        step = np.linalg.solve(info, score)
        beta = beta + step
        loglik, score, info = _loglik_score_info(t, e, x, beta)
        if np.abs(step).max() < 1e-12 or (
            it > 1 and abs(step).max() < 1e-9 * (1.0 + np.abs(beta).max())
        ):
            converged = bool(np.isfinite(beta).all())
            break
    return CoxFit(
        coef=beta,
        cov=np.asarray(np.linalg.inv(info), dtype=np.float64),
        loglik=loglik,
        loglik_null=loglik0,
        iterations=it,
        converged=converged,
    )


def cox_zph(
    time: ArrayLike, event: ArrayLike, covariates: ArrayLike, fit: CoxFit
) -> tuple[float, int, float]:
    """Score test of proportional hazards against a coefficient varying with g(t), as
    ``survival::cox.zph(fit, transform = "km")`` (its GLOBAL row).

    Parameters
    ----------
    time, event, covariates
        As given to :func:`cox_efron`.
    fit
        The fit from :func:`cox_efron`.

    Returns
    -------
    (float, int, float)
        Chi-square, df (the number of covariates), p-value.

    Notes
    -----
    ``g(t) = 1 - S(t-)``, S the Kaplan–Meier estimate of all rows (left-continuous),
    centred at its mean over the deaths. With the Efron terms of the fit, the Schoenfeld
    sums ``U = sum_deaths g (x - xbar)`` and the information
    ``I = sum_deaths [[V, g V], [g V, g^2 V]]`` (V the risk-set covariance of x), the
    statistic is ``u' I^-1 u`` with ``u = (0, U)`` (Grambsch & Therneau 1994; the score
    test of ``survival`` >= 3.0).
    """
    t, e = _check_surv(time, event, "cox_zph")
    x = np.asarray(covariates, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    p = x.shape[1]
    km = kaplan_meier(t, e)
    km_time = km["time"].to_numpy(dtype=np.float64)
    surv = np.concatenate([[1.0], km["survival"].to_numpy(dtype=np.float64)])
    # left-continuous S(t-): the number of KM times strictly below t
    g_all = 1.0 - surv[np.searchsorted(km_time, t, side="left")]
    g_all = g_all - g_all[e == 1.0].mean()
    rs = _risk_sets(t, e, x, fit.coef)
    a0, a1, a2 = rs["a0"], rs["a1"], rs["a2"]
    order = np.argsort(t, kind="stable")
    dead_sorted = order[e[order] == 1.0]  # deaths in time order, as rows of rs
    g = g_all[dead_sorted]
    mean = a1 / a0[:, None]
    resid = x[dead_sorted] - mean
    var = a2 / a0[:, None, None] - mean[:, :, None] * mean[:, None, :]
    u = np.concatenate([np.zeros(p), (g[:, None] * resid).sum(axis=0)])
    i11 = var.sum(axis=0)
    i12 = (g[:, None, None] * var).sum(axis=0)
    i22 = ((g * g)[:, None, None] * var).sum(axis=0)
    imat = np.block([[i11, i12], [i12, i22]])
    chisq = float(u @ np.linalg.solve(imat, u))
    return chisq, p, float(sps.chi2.sf(chisq, p))


def rmst(time: ArrayLike, event: ArrayLike, tau: float) -> tuple[float, float]:
    """Restricted mean time to ``tau``: the area under the Kaplan–Meier curve and its SE.

    Parameters
    ----------
    time, event
        As for :func:`cox_efron`.
    tau
        The horizon (> 0).

    Returns
    -------
    (float, float)
        RMST and its standard error.

    Notes
    -----
    ``RMST = int_0^tau S(t) dt``; ``Var = sum_{t_i <= tau} A_i^2 d_i / (n_i (n_i - d_i))``
    with ``A_i = int_{t_i}^tau S(t) dt`` (terms with ``n_i = d_i`` are 0), as R's
    ``survival:::survmean`` (``print(survfit(...), rmean = tau)``, column ``se(rmean)``;
    Royston & Parmar 2013).

    Examples
    --------
    >>> area, se = rmst([2, 4, 6, 8], [1, 1, 0, 1], tau=5)
    >>> area
    4.0
    """
    t, e = _check_surv(time, event, "rmst")
    if not (math.isfinite(tau) and tau > 0):
        raise RequestError(f"rmst: tau must be a finite number above 0; got {tau!r}.")
    km = kaplan_meier(t, e)
    keep = km["time"].to_numpy(dtype=np.float64) <= tau
    times = km["time"].to_numpy(dtype=np.float64)[keep]
    surv = km["survival"].to_numpy(dtype=np.float64)[keep]
    n_risk = km["n_risk"].to_numpy(dtype=np.float64)[keep]
    n_event = km["n_event"].to_numpy(dtype=np.float64)[keep]
    grid = np.concatenate([[0.0], times, [tau]])
    heights = np.concatenate([[1.0], surv])
    rect = np.diff(grid) * heights
    area_after = np.cumsum(rect[::-1])[::-1][1:]  # A_i: area from t_i to tau
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(n_risk > n_event, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return float(rect.sum()), float(math.sqrt((area_after**2 * h).sum()))


@table_alias("estimates")
@dataclass(frozen=True, repr=False, eq=False)
class CoxResult(ResultMixin):
    """Hazard ratio (comparator over reference) and restricted mean time to response.

    Attributes
    ----------
    estimates
        Tidy rows: ``log_hazard_ratio`` (Wald z), ``hazard_ratio`` (exp of the log-HR row;
        SE by the delta method, interval the exponentiated limits), ``rmst_reference``,
        ``rmst_comparator``, ``rmst_difference`` (comparator minus reference, normal).
    zph_chisq, zph_df, zph_p
        The Schoenfeld-residual test of proportional hazards.
    tau
        The RMST horizon (days).
    """

    reference: str
    comparator: str
    measure: str
    threshold: float
    tau: float
    estimates: pd.DataFrame
    zph_chisq: float
    zph_df: int
    zph_p: float
    n: int
    events: int
    converged: bool
    conf_level: float
    ties: str
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        rows = self._frame.set_index("term")["estimate"]
        hr = float(rows["hazard_ratio"])
        return (
            f"Cox model of time to {self.measure} response ({self.ties} ties): hazard ratio "
            f"{self.comparator} / {self.reference} = {hr:.3f}, n = {self.n}, {self.events} "
            f"responses; PH test p = {self.zph_p:.3f}; RMST to {self.tau:g} days"
        )

    def to_dict(self) -> dict[str, Any]:
        """Estimates keyed by term, the PH test and the horizon."""
        rows = self._frame.set_index("term")
        out: dict[str, Any] = jsonable(
            {
                "n": self.n,
                "events": self.events,
                "tau": self.tau,
                "zph_chisq": self.zph_chisq,
                "zph_p": self.zph_p,
                **{
                    term: {
                        "estimate": rows.loc[term, "estimate"],
                        "se": rows.loc[term, "std_error"],
                        "ci_low": rows.loc[term, "conf_low"],
                        "ci_high": rows.loc[term, "conf_high"],
                        "p": rows.loc[term, "p_value"],
                    }
                    for term in rows.index
                },
            }
        )
        return out


def compare_cox(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    threshold: float | None = None,
    tau: float | None = None,
    timepoints: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> CoxResult:
    """Hazard ratio of response and restricted mean time to response, comparator vs
    reference.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; the hazard ratio is comparator over reference (above 1: faster response).
    measure, threshold
        As for :func:`~dnoutcomes.stats.survival.response_times`.
    tau
        RMST horizon in days; default the smaller of the two arms' largest follow-up times
        (the largest horizon at which both curves are defined).
    timepoints
        The later timepoints at which a response can be seen (default: those of
        :func:`~dnoutcomes.stats.survival.response_times`).
    conf_level
        Level of the intervals.

    Returns
    -------
    CoxResult

    Raises
    ------
    RequestError
        Bad arms, measure, threshold, ``conf_level`` or ``tau``.
    InsufficientDataError
        An arm without episodes or without events.

    Notes
    -----
    Data: :func:`~dnoutcomes.stats.survival.response_times` (section 4). Model
    ``h(t) = h0(t) exp(beta arm)`` with Efron ties (:func:`cox_efron`), Wald interval
    ``exp(beta -/+ z SE)``; PH test :func:`cox_zph`; RMST per arm :func:`rmst`, their
    difference with SE ``sqrt(se_c^2 + se_r^2)`` (independent arms) and a normal interval.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_cox(dataset, tau=30)
    >>> result.n
    214
    """
    check_conf_level(conf_level, where="compare_cox")
    spec = get_measure(dataset, measure)
    data = response_times(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        threshold=threshold,
        **({} if timepoints is None else {"timepoints": timepoints}),
    )
    t = data["time"].to_numpy(dtype=np.float64)
    e = data["event"].to_numpy(dtype=np.float64)
    arm = data["treated"].to_numpy(dtype=np.float64)
    for flag, name in ((0.0, reference), (1.0, comparator)):
        if e[arm == flag].sum() == 0:
            raise InsufficientDataError(
                f"Cox model of {measure}: arm {name!r} has {int((arm == flag).sum())} episodes "
                "with a baseline and a later value and no response; a hazard ratio needs "
                "events in both arms."
            )
    horizon = float(min(t[arm == 0].max(), t[arm == 1].max())) if tau is None else float(tau)
    if not (math.isfinite(horizon) and horizon > 0):
        raise RequestError(f"compare_cox: tau must be a number of days above 0; got {tau!r}.")
    notes: list[str] = []
    if tau is not None and tau > min(t[arm == 0].max(), t[arm == 1].max()):
        notes.append(
            f"tau = {tau:g} days lies beyond the last follow-up of an arm; its curve is "
            "carried flat to tau."
        )
    fit = cox_efron(t, e, arm)
    if not fit.converged:
        notes.append("Cox model: Newton–Raphson did NOT converge.")
    chisq, df, p_zph = cox_zph(t, e, arm, fit)
    z = z_critical(conf_level)
    beta, se = float(fit.coef[0]), float(math.sqrt(fit.cov[0, 0]))
    r_ref, se_ref = rmst(t[arm == 0], e[arm == 0], horizon)
    r_cmp, se_cmp = rmst(t[arm == 1], e[arm == 1], horizon)
    diff, se_diff = r_cmp - r_ref, math.sqrt(se_ref**2 + se_cmp**2)
    rows = [
        ("log_hazard_ratio", beta, se, beta - z * se, beta + z * se),
        (
            "hazard_ratio",
            math.exp(beta),
            math.exp(beta) * se,
            math.exp(beta - z * se),
            math.exp(beta + z * se),
        ),
        ("rmst_reference", r_ref, se_ref, r_ref - z * se_ref, r_ref + z * se_ref),
        ("rmst_comparator", r_cmp, se_cmp, r_cmp - z * se_cmp, r_cmp + z * se_cmp),
        ("rmst_difference", diff, se_diff, diff - z * se_diff, diff + z * se_diff),
    ]
    frame = pd.DataFrame(rows, columns=["term", "estimate", "std_error", "conf_low", "conf_high"])
    stat = np.array([beta / se, beta / se, r_ref / se_ref, r_cmp / se_cmp, diff / se_diff])
    frame["statistic"] = stat
    frame["df"] = np.nan
    frame["p_value"] = 2.0 * sps.norm.sf(np.abs(stat))
    frame.loc[
        frame["term"].isin(["rmst_reference", "rmst_comparator"]), ["statistic", "p_value"]
    ] = np.nan
    n_all = len(data)
    return CoxResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        threshold=float(threshold if threshold is not None else spec.mcid_points or math.nan),
        tau=horizon,
        estimates=frame[list(TIDY_COLUMNS)],
        zph_chisq=chisq,
        zph_df=df,
        zph_p=p_zph,
        n=n_all,
        events=int(e.sum()),
        converged=fit.converged,
        conf_level=conf_level,
        ties="efron",
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
    )
