"""Section 6 of the analysis plan: adjustment for confounding by inverse probability of
treatment weighting (IPTW), covariate balance, effective sample sizes and the E-value.

Clinic arms are not randomised; sicker patients are often given more treatment. The
propensity of being in the comparator arm is modelled by logistic regression, episodes are
weighted by stabilised ATE weights, and the weighted ANCOVA gives the adjusted effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "IptwResult",
    "balance_table",
    "compare_iptw",
    "e_value",
    "propensity_weights",
    "standardized_mean_differences",
]

#: Continuous covariates of the propensity model, in the plan's order.
PS_CONTINUOUS: tuple[str, ...] = ("age", "symptom_weeks", "nprs_baseline", "odi_baseline")
#: Categorical covariates of the propensity model (one 0/1 column per level present).
PS_CATEGORICAL: tuple[str, ...] = ("sex", "condition", "site_id")
#: |SMD| below this is called balanced.
BALANCE_THRESHOLD = 0.1
#: Minimum episodes per arm for the propensity model.
MIN_PER_ARM = 10
# R's glm.control() defaults.
_IRLS_EPSILON = 1e-8
_IRLS_MAXIT = 25


def indicator_columns(
    frame: pd.DataFrame, *, continuous: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """Covariates as numeric columns: each continuous one as is, each level of a categorical
    one (levels present in ``frame``, sorted) as a 0/1 column named ``"<column>=<level>"``.

    Parameters
    ----------
    frame
        One row per episode.
    continuous, categorical
        Column names.

    Returns
    -------
    pandas.DataFrame
        Float columns in the order: continuous, then each categorical's levels.

    Raises
    ------
    RequestError
        A column that is not in ``frame`` (the message lists those that are).

    Notes
    -----
    Missing values of a continuous column stay NaN; a missing categorical value becomes
    its own level ``"<column>=nan"``. Drop incomplete rows first.
    """
    missing = [c for c in [*continuous, *categorical] if c not in frame.columns]
    if missing:
        raise RequestError(
            f"covariates: column(s) {', '.join(missing)} not found; the frame has "
            f"{', '.join(map(str, frame.columns))}. Name existing columns."
        )
    parts: dict[str, NDArray[np.float64]] = {
        name: frame[name].to_numpy(dtype=np.float64) for name in continuous
    }
    for name in categorical:
        values = frame[name].astype(str).to_numpy()
        for level in sorted(set(values.tolist())):
            parts[f"{name}={level}"] = (values == level).astype(np.float64)
    return pd.DataFrame(parts, index=frame.index)


def standardized_mean_differences(
    covariates: pd.DataFrame, treated: ArrayLike, weights: ArrayLike | None = None
) -> pd.Series:
    """Standardised mean difference of every covariate column, comparator minus reference.

    Parameters
    ----------
    covariates
        Numeric columns (0/1 columns for categorical levels), one row per episode.
    treated
        1 for comparator episodes, 0 for reference ones.
    weights
        Episode weights for the means (``None``: all 1, the "before" balance).

    Returns
    -------
    pandas.Series
        SMD per column (index: the column names).

    Notes
    -----
    ``SMD = (mean_w,c - mean_w,r) / sqrt((s2_c + s2_r) / 2)``, with weighted means and the
    *unweighted* sample variances of each arm (``n - 1`` denominator, binary columns too),
    so that before and after share one denominator. A column constant in both arms has SMD
    0 when its means agree (they then must). No missing values are allowed.

    Raises
    ------
    RequestError
        Lengths that differ, ``treated`` not 0/1, missing values, fewer than two rows in
        an arm.
    """
    t, x = _check_arms_and_covariates(covariates, treated, "standardized_mean_differences")
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != t.shape or not np.isfinite(w).all() or (w < 0).any():
        raise RequestError(
            "standardized_mean_differences: weights must be finite, >= 0 and one per row; "
            f"got {w.shape[0]} weights for {t.shape[0]} rows."
        )
    c, r = t == 1.0, t == 0.0
    mean_c = (w[c] @ x[c]) / w[c].sum()
    mean_r = (w[r] @ x[r]) / w[r].sum()
    pooled = np.sqrt((x[c].var(axis=0, ddof=1) + x[r].var(axis=0, ddof=1)) / 2.0)
    diff = mean_c - mean_r
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1.0), 0.0)
    return pd.Series(smd, index=covariates.columns, dtype=np.float64)


def _check_arms_and_covariates(
    covariates: pd.DataFrame, treated: ArrayLike, where: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(treated, dtype=np.float64)
    x = covariates.to_numpy(dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise RequestError(
            f"{where}: treated must hold one 0/1 value per covariate row; got {t.shape[0]} "
            f"values for {x.shape[0]} rows."
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise RequestError(f"{where}: treated must be 0 (reference) or 1 (comparator).")
    if not np.isfinite(x).all():
        raise RequestError(
            f"{where}: the covariates have missing or infinite values; drop incomplete rows."
        )
    counts = (int((t == 0).sum()), int((t == 1).sum()))
    if min(counts) < 2:
        raise RequestError(
            f"{where}: each arm needs at least 2 rows; got {counts[0]} reference and "
            f"{counts[1]} comparator rows."
        )
    return t, x


def propensity_weights(
    covariates: pd.DataFrame, treated: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool, tuple[str, ...]]:
    """Propensity scores by logistic regression and stabilised ATE weights.

    Parameters
    ----------
    covariates
        Numeric columns as from :func:`indicator_columns` (all levels of a categorical may
        be given: the first level of each ``"<column>=..."`` group is dropped as reference).
    treated
        1 for comparator episodes, 0 for reference ones.

    Returns
    -------
    ps : numpy.ndarray
        Propensity of being a comparator episode.
    weights : numpy.ndarray
        ``p / ps`` for comparator episodes and ``(1 - p) / (1 - ps)`` for reference ones,
        ``p`` the share of comparator episodes.
    converged : bool
        Whether the logistic regression (IRLS) converged.
    messages : tuple of str
        Problems met: non-convergence, a singular design, fitted propensities of 0 or 1.

    Raises
    ------
    RequestError
        Lengths that differ, ``treated`` not 0/1, missing values, fewer than two rows in
        an arm.

    Notes
    -----
    ``logit(ps) = b0 + X b`` fitted by maximum likelihood with the iteratively reweighted
    least squares of R's ``glm(family = binomial)``: start at ``mu = (t + 0.5) / 2``, stop
    when ``|dev - dev_old| / (|dev| + 0.1) < 1e-8`` or after 25 iterations (R's
    ``glm.control()``), so the weights agree with R's to rounding even when the likelihood
    is flat (a rare level nearly separating the arms). The tests check it against
    statsmodels' GLM.
    """
    t, _ = _check_arms_and_covariates(covariates, treated, "propensity_weights")
    design = _drop_reference_levels(covariates)
    exog = np.column_stack([np.ones(len(t)), design.to_numpy(dtype=np.float64)])
    ps, converged, messages = _logistic_irls(t, exog)
    share = float(t.mean())
    weights = np.where(t == 1.0, share / ps, (1.0 - share) / (1.0 - ps))
    return ps, weights, converged, messages


def _logistic_irls(
    t: NDArray[np.float64], exog: NDArray[np.float64]
) -> tuple[NDArray[np.float64], bool, tuple[str, ...]]:
    """Fitted probabilities of a logistic regression by R's IRLS (``glm.fit``)."""
    mu = (t + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    dev_old = _binomial_deviance(t, mu)
    messages: list[str] = []
    converged = False
    for _ in range(_IRLS_MAXIT):  # iterations of the fit, not a loop over rows
        mu_eta = _logit_mu_eta(eta)
        w = mu_eta * mu_eta / (mu * (1.0 - mu))
        z = eta + (t - mu) / mu_eta
        xw = exog * w[:, None]
        try:
            beta = np.linalg.solve(exog.T @ xw, xw.T @ z)
        except np.linalg.LinAlgError:
            messages.append("the propensity design is singular (a covariate level is aliased)")
            break
        eta = exog @ beta
        mu = _logit_linkinv(eta)
        dev = _binomial_deviance(t, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < _IRLS_EPSILON:
            converged = True
            break
        dev_old = dev
    else:
        messages.append(f"the logistic regression did not converge in {_IRLS_MAXIT} iterations")
    eps = 10.0 * np.finfo(np.float64).eps
    if ((mu < eps) | (mu > 1.0 - eps)).any():
        messages.append(
            "fitted propensities of 0 or 1 occurred (a covariate separates the arms); the "
            "weights of those episodes are extreme"
        )
    return mu, converged, tuple(messages)


_EPS = float(np.finfo(np.float64).eps)
_ETA_LIMIT = 30.0  # R's THRESH / MTHRESH in family.c


def _logit_linkinv(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse logit clamped away from 0 and 1 as R's ``binomial()$linkinv``."""
    e = np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))
    e = np.where(eta < -_ETA_LIMIT, _EPS, np.where(eta > _ETA_LIMIT, 1.0 / _EPS, e))
    return np.asarray(e / (1.0 + e), dtype=np.float64)


def _logit_mu_eta(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """d mu / d eta as R's ``binomial()$mu.eta`` (at least machine epsilon)."""
    e = np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))
    d = np.where(np.abs(eta) > _ETA_LIMIT, _EPS, e / (1.0 + e) ** 2)
    return np.asarray(np.maximum(d, _EPS), dtype=np.float64)


def _binomial_deviance(t: NDArray[np.float64], mu: NDArray[np.float64]) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(t == 1.0, np.log(mu), np.log1p(-mu))
    return float(-2.0 * ll.sum())


def _drop_reference_levels(covariates: pd.DataFrame) -> pd.DataFrame:
    seen: set[str] = set()
    keep: list[str] = []
    for name in covariates.columns:
        prefix = name.split("=", 1)[0] if "=" in name else None
        if prefix is None:
            keep.append(name)
        elif prefix in seen:
            keep.append(name)
        else:
            seen.add(prefix)
    return covariates[keep]


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
        raise RequestError(f"e_value: the ratio must be positive; got {ratio!r}.")
    estimate = one(ratio)
    if conf_low is None or conf_high is None:
        return estimate, math.nan
    if conf_low <= 1.0 <= conf_high:
        return estimate, 1.0
    nearer = conf_low if ratio > 1.0 else conf_high
    return estimate, one(nearer)


def balance_table(covariates: pd.DataFrame, treated: ArrayLike, weights: ArrayLike) -> pd.DataFrame:
    """Balance before and after weighting.

    Returns
    -------
    pandas.DataFrame
        ``covariate`` (str), ``smd_before``, ``smd_after`` (float), ``balanced_after``
        (bool: ``|smd_after| < 0.1``).
    """
    before = standardized_mean_differences(covariates, treated)
    after = standardized_mean_differences(covariates, treated, weights)
    return pd.DataFrame(
        {
            "covariate": list(covariates.columns),
            "smd_before": before.to_numpy(),
            "smd_after": after.to_numpy(),
            "balanced_after": (after.abs() < BALANCE_THRESHOLD).to_numpy(),
        }
    )


@dataclass(frozen=True, repr=False, eq=False)
class IptwResult(ResultMixin):
    """The IPTW-adjusted effect beside the naive one, with balance and the E-value.

    Attributes
    ----------
    reference, comparator, measure, timepoint
        What was compared (the NPRS-at-discharge ANCOVA set with a baseline ODI).
    estimates
        Two rows, ``term`` ``"naive"`` (unweighted ANCOVA, classical SE, t interval) and
        ``"iptw"`` (weighted ANCOVA, HC0 robust SE, normal interval); columns ``term``,
        ``estimate``, ``std_error``, ``statistic``, ``df`` (NaN for the normal one),
        ``p_value``, ``conf_low``, ``conf_high``.
    balance
        ``covariate``, ``smd_before``, ``smd_after``, ``balanced_after``.
    weights
        One row per analysed episode: ``episode_id``, ``arm``, ``treated`` (0/1),
        ``propensity``, ``weight``.
    ess_reference, ess_comparator
        Effective sample sizes ``(sum w)^2 / sum w^2`` per arm.
    e_value, e_value_ci
        E-values of the adjusted estimate and of its interval limit nearer the null.
    sd_outcome
        Pooled within-arm SD of the outcome used to turn the difference into ``d``.
    ps_converged
        Whether the propensity model converged.
    """

    reference: str
    comparator: str
    measure: str
    timepoint: str
    estimates: pd.DataFrame
    balance: pd.DataFrame
    weights: pd.DataFrame
    n: int
    ess_reference: float
    ess_comparator: float
    e_value: float
    e_value_ci: float
    sd_outcome: float
    ps_converged: bool
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.estimates

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"IPTW-adjusted {self.measure} at {self.timepoint}: {self.comparator} minus "
            f"{self.reference}, n = {self.n}; effective sample sizes "
            f"{self.ess_reference:.1f} / {self.ess_comparator:.1f}; "
            f"max |SMD| {self.balance['smd_before'].abs().max():.3f} before, "
            f"{self.balance['smd_after'].abs().max():.3f} after; "
            f"E-value {self.e_value:.2f} (interval {self.e_value_ci:.2f})"
        )

    def __str__(self) -> str:
        balance = self.balance.assign(
            smd_before=self.balance["smd_before"].map(lambda v: f"{v:+.3f}"),
            smd_after=self.balance["smd_after"].map(lambda v: f"{v:+.3f}"),
        )
        return (
            super().__str__()
            + "\n\nBalance (standardised mean differences, |SMD| < 0.1 is balanced):\n"
            + balance.to_string(index=False)
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``iptw`` section, plus the naive estimate and the E-values."""
        adjusted = self.estimates.loc[self.estimates["term"] == "iptw"].iloc[0]
        naive = self.estimates.loc[self.estimates["term"] == "naive"].iloc[0]
        keys = self.balance["covariate"]
        out: dict[str, Any] = jsonable(
            {
                "n": self.n,
                "estimate": adjusted["estimate"],
                "se": adjusted["std_error"],
                "ci_low": adjusted["conf_low"],
                "ci_high": adjusted["conf_high"],
                "ess_reference": self.ess_reference,
                "ess_comparator": self.ess_comparator,
                "smd_before": dict(zip(keys, self.balance["smd_before"], strict=True)),
                "smd_after": dict(zip(keys, self.balance["smd_after"], strict=True)),
                "max_abs_smd_before": self.balance["smd_before"].abs().max(),
                "max_abs_smd_after": self.balance["smd_after"].abs().max(),
                "naive_estimate": naive["estimate"],
                "naive_se": naive["std_error"],
                "naive_ci_low": naive["conf_low"],
                "naive_ci_high": naive["conf_high"],
                "e_value": self.e_value,
                "e_value_ci": self.e_value_ci,
                "converged": self.ps_converged,
            }
        )
        return out


def _ancova_rows(
    y: NDArray[np.float64],
    design: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    conf_level: float,
) -> dict[str, float]:
    """Arm coefficient (column 1) of (weighted) least squares: classical SE and t interval
    without weights; HC0 sandwich SE and normal interval with weights."""
    n, p = design.shape
    w = np.ones(n) if weights is None else weights
    xw = design * w[:, None]
    bread = np.linalg.inv(design.T @ xw)
    beta = bread @ (xw.T @ y)
    resid = y - design @ beta
    if weights is None:
        sigma2 = float(resid @ resid) / (n - p)
        se = math.sqrt(sigma2 * bread[1, 1])
        df = float(n - p)
        crit = float(stats.t.ppf(0.5 + conf_level / 2.0, df))
        p_value = float(2.0 * stats.t.sf(abs(beta[1] / se), df))
    else:
        scores = xw * resid[:, None]
        cov = bread @ (scores.T @ scores) @ bread
        se = math.sqrt(cov[1, 1])
        df = math.nan
        crit = float(stats.norm.ppf(0.5 + conf_level / 2.0))
        p_value = float(2.0 * stats.norm.sf(abs(beta[1] / se)))
    est = float(beta[1])
    return {
        "estimate": est,
        "std_error": se,
        "statistic": est / se,
        "df": df,
        "p_value": p_value,
        "conf_low": est - crit * se,
        "conf_high": est + crit * se,
    }


def compare_iptw(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    conf_level: float = 0.95,
) -> IptwResult:
    """Adjust the NPRS-at-discharge comparison for confounding by IPTW.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms compared; the estimate is "comparator minus reference".
    conf_level
        Level of the intervals, in (0, 1).

    Returns
    -------
    IptwResult
        ``estimates`` (naive and IPTW rows), ``balance``, ``weights``, effective sample
        sizes, E-values.

    Raises
    ------
    RequestError
        An unknown arm, or ``conf_level`` outside (0, 1).
    InsufficientDataError
        Fewer than 10 analysed episodes in an arm.

    Notes
    -----
    Analysis set: comparison episodes with a baseline and a discharge NPRS and a baseline
    ODI, and no missing propensity covariate (others are counted in ``notes``).

    * Propensity: logistic regression of the comparator indicator on age (``90+`` as 90),
      sex, condition, symptom weeks, baseline NPRS, baseline ODI and site (levels present in
      the analysis set; the first in sorted order is the reference).
    * Weights ``w = p / ps`` (comparator) and ``(1 - p) / (1 - ps)`` (reference),
      ``p`` the comparator share; ``ESS = (sum w)^2 / sum w^2`` per arm.
    * Weighted OLS ``nprs_discharge ~ arm + nprs_baseline``; arm coefficient with the HC0
      sandwich SE ``(X'WX)^-1 X'W diag(e^2) W X (X'WX)^-1`` and a normal interval (as R's
      ``sandwich::vcovHC(type = "HC0")``). The naive row is the same model unweighted.
    * SMDs: see :func:`standardized_mean_differences`.
    * E-value: ``d = estimate / s`` with ``s`` the pooled within-arm SD of discharge NPRS
      (``n - 1`` denominators); ``RR = exp(0.91 d)``, the interval limits likewise; then
      :func:`e_value`.
    """
    if not 0.0 < conf_level < 1.0:
        raise RequestError(f"compare_iptw: conf_level must be between 0 and 1; got {conf_level!r}.")
    pairs = outcome_pairs(
        dataset, measure="nprs", timepoint="discharge", reference=reference, comparator=comparator
    )
    odi = outcome_pairs(
        dataset, measure="odi", timepoint="discharge", reference=reference, comparator=comparator
    )
    frame = pairs.assign(
        nprs_baseline=pairs["baseline"],
        nprs_discharge=pairs["value"],
        odi_baseline=odi["baseline"].to_numpy(),
    )
    needed = ["nprs_baseline", "nprs_discharge", *PS_CONTINUOUS, *PS_CATEGORICAL]
    complete = frame[list(dict.fromkeys(needed))].notna().all(axis=1)
    notes: list[str] = []
    for arm in (reference, comparator):
        in_arm = frame["arm"] == arm
        left = int((in_arm & ~complete).sum())
        if left:
            notes.append(
                f"{left} {arm} episodes without a baseline and discharge NPRS, a baseline "
                "ODI or a propensity covariate were left out."
            )
        if int((in_arm & complete).sum()) < MIN_PER_ARM:
            raise InsufficientDataError(
                f"IPTW: arm {arm!r} has {int((in_arm & complete).sum())} episodes with a "
                "baseline and discharge NPRS and a baseline ODI; the propensity model needs "
                f"at least {MIN_PER_ARM} per arm."
            )
    data = frame.loc[complete].reset_index(drop=True)
    treated = data["treated"].to_numpy(dtype=np.float64)
    covariates = indicator_columns(data, continuous=PS_CONTINUOUS, categorical=PS_CATEGORICAL)
    ps, weights, converged, messages = propensity_weights(covariates, treated)
    levels = [c for c in covariates.columns if "=" in c]
    per_arm = covariates[levels].groupby(treated).sum()
    one_arm = [c for c in levels if (per_arm[c] == 0).any()]
    if one_arm:
        notes.append(
            "Propensity model: "
            + ", ".join(f"{c} ({int(per_arm[c].sum())} episodes)" for c in one_arm)
            + " occur in one arm only, so the model separates them from the other arm "
            "(propensities near 0 or 1, as R's glm gives them; their weights stay bounded "
            "by the stabilisation)."
        )
    notes.extend(f"Propensity model: {m}." for m in messages)
    if not converged:
        notes.append("Propensity model: the logistic regression did NOT converge.")
    y = data["nprs_discharge"].to_numpy(dtype=np.float64)
    design = np.column_stack(
        [np.ones_like(y), treated, data["nprs_baseline"].to_numpy(dtype=np.float64)]
    )
    naive = _ancova_rows(y, design, None, conf_level)
    adjusted = _ancova_rows(y, design, weights, conf_level)
    rows = [{"term": "naive", **naive}, {"term": "iptw", **adjusted}]
    estimates = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    c, r = treated == 1.0, treated == 0.0
    sd_outcome = math.sqrt((y[c].var(ddof=1) + y[r].var(ddof=1)) / 2.0)
    scale = 0.91 / sd_outcome
    ev, ev_ci = e_value(
        math.exp(scale * adjusted["estimate"]),
        math.exp(scale * adjusted["conf_low"]),
        math.exp(scale * adjusted["conf_high"]),
    )
    return IptwResult(
        reference=reference,
        comparator=comparator,
        measure="nprs",
        timepoint="discharge",
        estimates=estimates,
        balance=balance_table(covariates, treated, weights),
        weights=pd.DataFrame(
            {
                "episode_id": data["episode_id"].astype(str).to_numpy(),
                "arm": data["arm"].astype(str).to_numpy(),
                "treated": data["treated"].to_numpy(dtype=np.int64),
                "propensity": ps,
                "weight": weights,
            }
        ),
        n=len(data),
        ess_reference=_ess(weights[r]),
        ess_comparator=_ess(weights[c]),
        e_value=ev,
        e_value_ci=ev_ci,
        sd_outcome=sd_outcome,
        ps_converged=converged,
        conf_level=conf_level,
        episodes_used=tuple(data["episode_id"].astype(str)),
        notes=tuple(notes),
    )


def _ess(w: NDArray[np.float64]) -> float:
    return float(w.sum() ** 2 / (w * w).sum())
