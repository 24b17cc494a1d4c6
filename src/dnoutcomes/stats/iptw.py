"""Section 6 of the analysis plan: adjustment for confounding by inverse probability of
treatment weighting (IPTW), covariate balance, effective sample sizes and the E-value.

Clinic arms are not randomised; sicker patients are often given more treatment. The
propensity of being in the comparator arm is modelled by logistic regression, episodes are
weighted by stabilised ATE weights, and the weighted ANCOVA gives the adjusted effect.

This module holds the analysis and its result; the pieces analysts reuse live in private
modules, one per reason to change, and are re-exported here: ``_propensity`` (the logistic
model and the weights), ``_balance`` (covariate columns, SMDs, the balance table) and
``_evalue`` (the E-value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.stats._balance import BALANCE_THRESHOLD as BALANCE_THRESHOLD
from dnoutcomes.stats._balance import balance_table, indicator_columns
from dnoutcomes.stats._balance import (
    standardized_mean_differences as standardized_mean_differences,
)
from dnoutcomes.stats._evalue import e_value
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._propensity import propensity_weights
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = [
    "IptwResult",
    "balance_table",
    "compare_iptw",
    "e_value",
    "propensity_weights",
    "standardized_mean_differences",
]

# doctest.testmod(iptw) also runs the examples of the re-exported functions.
__test__ = {"e_value": e_value}

#: Continuous covariates of the propensity model, in the plan's order.
PS_CONTINUOUS: tuple[str, ...] = ("age", "symptom_weeks", "nprs_baseline", "odi_baseline")
#: Categorical covariates of the propensity model (one 0/1 column per level present).
PS_CATEGORICAL: tuple[str, ...] = ("sex", "condition", "site_id")
#: Minimum episodes per arm for the propensity model.
MIN_PER_ARM = 10


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

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the Love plot of |SMD| before and after weighting.

        Hands off to :func:`dnoutcomes.plots.plot_balance`; keyword arguments go to it.
        """
        from dnoutcomes.plots.balance import plot_balance

        return plot_balance(self, ax=ax, **kwargs)

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

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_iptw(dataset).to_dict()
    >>> result["n"], round(result["estimate"], 2)
    (178, -0.79)
    """
    check_conf_level(conf_level, where="compare_iptw")
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
    if np.ptp(y) == 0.0:
        raise InsufficientDataError(
            f"IPTW: every one of the {len(y)} analysed episodes has nprs = {y[0]:g} at "
            "discharge; a weighted difference (and its E-value) needs outcomes that vary."
        )
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
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
    )


def _ess(w: NDArray[np.float64]) -> float:
    return float(w.sum() ** 2 / (w * w).sum())
