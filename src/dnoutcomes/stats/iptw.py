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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dnoutcomes.cohort import BASELINE_PREFIX, check_covariates, outcome_pairs, with_covariates
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.protocol import DEFAULT_WEIGHTING_COVARIATES, Estimand
from dnoutcomes.stats._balance import BALANCE_THRESHOLD as BALANCE_THRESHOLD
from dnoutcomes.stats._balance import balance_table, indicator_columns
from dnoutcomes.stats._balance import (
    standardized_mean_differences as standardized_mean_differences,
)
from dnoutcomes.stats._evalue import e_value
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._propensity import propensity_weights
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = [
    "IptwResult",
    "balance_table",
    "compare_iptw",
    "e_value",
    "estimand_weights",
    "propensity_weights",
    "standardized_mean_differences",
]

# doctest.testmod(iptw) also runs the examples of the re-exported functions.
__test__ = {"e_value": e_value}

#: The estimands of the weighting.
ESTIMANDS: tuple[str, ...] = ("ate", "att", "ato")
#: Minimum episodes per arm for the propensity model.
MIN_PER_ARM = 10
#: The default propensity model's columns in the per-episode frame
#: (:data:`~dnoutcomes.protocol.DEFAULT_WEIGHTING_COVARIATES`, baselines as ``<m>_baseline``).
PS_CONTINUOUS: tuple[str, ...] = ("age", "symptom_weeks", "nprs_baseline", "odi_baseline")
PS_CATEGORICAL: tuple[str, ...] = ("sex", "condition", "site_id")


@table_alias("estimates")
@dataclass(frozen=True, repr=False, eq=False)
class IptwResult(ResultMixin):
    """The IPTW-adjusted effect beside the naive one, with balance and the E-value.

    Attributes
    ----------
    reference, comparator, measure, timepoint
        What was compared.
    estimand
        ``"ate"``, ``"att"`` or ``"ato"`` (see :func:`estimand_weights`).
    covariates
        The covariates that entered the propensity model.
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
    estimand: Estimand
    covariates: tuple[str, ...]
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
    def title(self) -> str:  # type: ignore[override]
        return (
            f"IPTW-adjusted ({self.estimand.upper()}) {self.measure} at {self.timepoint}: "
            f"{self.comparator} minus "
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
        adjusted = self._frame.loc[self._frame["term"] == "iptw"].iloc[0]
        naive = self._frame.loc[self._frame["term"] == "naive"].iloc[0]
        keys = self.balance["covariate"]
        out: dict[str, Any] = jsonable(
            {
                "n": self.n,
                "measure": self.measure,
                "timepoint": self.timepoint,
                "estimand": self.estimand,
                "covariates": list(self.covariates),
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
    if not np.any(np.abs(resid) > 1e-12 * max(1.0, float(np.abs(y).max()))):
        raise InsufficientDataError(
            f"IPTW: the model fits all {n} analysed outcomes exactly (every residual is 0), "
            "so no standard error can be estimated; a comparison needs outcomes that vary "
            "beyond the arm and the baseline."
        )
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
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = DEFAULT_WEIGHTING_COVARIATES,
    estimand: Estimand = "ate",
    conf_level: float = 0.95,
) -> IptwResult:
    """Adjust a baseline-vs-timepoint comparison for confounding by propensity weights.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms compared; the estimate is "comparator minus reference".
    measure, timepoint
        The outcome (default NPRS at discharge, the analysis plan's section 6).
    covariates
        The propensity model's covariates (see :func:`dnoutcomes.cohort.check_covariates`:
        contract columns, extra columns, ``baseline:<measure>``); default the plan's age,
        sex, condition, symptom weeks, baseline NPRS, baseline ODI and site.
    estimand
        ``"ate"`` (stabilised inverse-probability weights), ``"att"`` (the comparator
        arm's patients: weight 1 for them, ``e / (1 - e)`` for reference ones) or
        ``"ato"`` (overlap weights: ``1 - e`` for comparator, ``e`` for reference
        episodes).
    conf_level
        Level of the intervals, in (0, 1).

    Returns
    -------
    IptwResult
        ``estimates`` (naive and weighted rows), ``balance``, ``weights``, effective sample
        sizes, E-values; ``covariates`` lists those that entered the propensity model.

    Raises
    ------
    RequestError
        An unknown arm, measure, timepoint, covariate or estimand, or ``conf_level``
        outside (0, 1).
    InsufficientDataError
        Fewer than 10 analysed episodes in an arm, an outcome that does not vary, or a
        weighted model that fits every outcome exactly.

    Notes
    -----
    Analysis set: comparison episodes with a baseline and a ``timepoint`` value of the
    measure and no missing propensity covariate (others are counted in ``notes``).

    * Propensity: logistic regression of the comparator indicator on the covariates
      (numeric ones as they are, ``90+`` ages as 90; categorical ones by level, levels
      present in the analysis set, the first in sorted order the reference). A covariate
      taking one value in the analysis set, or collinear with those before it, is left out
      and named in ``notes``.
    * Weights with ``e`` the propensity and ``p`` the comparator share: ATE ``p / e``
      (comparator) and ``(1 - p) / (1 - e)`` (reference); ATT ``1`` and ``e / (1 - e)``;
      ATO ``1 - e`` and ``e``. ``ESS = (sum w)^2 / sum w^2`` per arm.
    * Weighted OLS ``outcome ~ arm + baseline``; arm coefficient with the HC0 sandwich SE
      ``(X'WX)^-1 X'W diag(e^2) W X (X'WX)^-1`` and a normal interval (as R's
      ``sandwich::vcovHC(type = "HC0")``). The naive row is the same model unweighted.
    * SMDs: see :func:`standardized_mean_differences`; a baseline covariate is keyed
      ``<measure>_baseline`` (``nprs_baseline``).
    * E-value: ``d = estimate / s`` with ``s`` the pooled within-arm SD of the outcome
      (``n - 1`` denominators); ``RR = exp(0.91 d)``, the interval limits likewise; then
      :func:`e_value`.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_iptw(dataset).to_dict()
    >>> result["n"], round(result["estimate"], 2)
    (178, -0.79)
    >>> round(compare_iptw(dataset, estimand="ato").to_dict()["estimate"], 2)
    -0.91
    """
    check_conf_level(conf_level, where="compare_iptw")
    if estimand not in ESTIMANDS:
        raise RequestError(
            f"compare_iptw: estimand must be one of {', '.join(ESTIMANDS)}; got {estimand!r}. "
            "Use 'ate' (everyone), 'att' (the comparator arm's patients) or 'ato' (overlap)."
        )
    names = check_covariates(dataset, covariates, where="Weighting")
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    frame, continuous, categorical = _covariate_frame(pairs, dataset, names)
    needed = ["baseline", "value", *continuous, *categorical]
    complete = frame[list(dict.fromkeys(needed))].notna().all(axis=1)
    notes: list[str] = []
    for arm in (reference, comparator):
        in_arm = frame["arm"] == arm
        left = int((in_arm & ~complete).sum())
        if left:
            notes.append(
                f"{left} {arm} episodes without a baseline and {timepoint} {measure} or a "
                "propensity covariate were left out."
            )
        if int((in_arm & complete).sum()) < MIN_PER_ARM:
            raise InsufficientDataError(
                f"IPTW: arm {arm!r} has {int((in_arm & complete).sum())} episodes with a "
                f"baseline and {timepoint} {measure} and every propensity covariate; the "
                f"propensity model needs at least {MIN_PER_ARM} per arm."
            )
    # only the columns used below: the comparison frame's text columns (ids, sites,
    # contraindications) need no copy, and the frames are let go before the fit
    used = list(dict.fromkeys(["episode_id", "arm", "treated", *needed]))
    data = frame.loc[complete, used].reset_index(drop=True)
    del frame, pairs, complete
    treated = data["treated"].to_numpy(dtype=np.float64)
    covs = indicator_columns(data, continuous=continuous, categorical=categorical)
    covs, entered = _enterable(covs, continuous, categorical, notes)
    ps, _, converged, messages = propensity_weights(covs, treated)
    weights = estimand_weights(ps, treated, estimand)
    levels = [c for c in covs.columns if "=" in c]
    per_arm = covs[levels].groupby(treated).sum()
    one_arm = [c for c in levels if (per_arm[c] == 0).any()]
    if one_arm:
        notes.append(
            "Propensity model: "
            + ", ".join(f"{c} ({int(per_arm[c].sum())} episodes)" for c in one_arm)
            + " occur in one arm only, so the model separates them from the other arm "
            "(propensities near 0 or 1, as R's glm gives them)."
        )
    notes.extend(f"Propensity model: {m}." for m in messages)
    if not converged:
        notes.append("Propensity model: the logistic regression did NOT converge.")
    y = data["value"].to_numpy(dtype=np.float64)
    if np.ptp(y) == 0.0:
        raise InsufficientDataError(
            f"IPTW: every one of the {len(y)} analysed episodes has {measure} = {y[0]:g} at "
            f"{timepoint}; a weighted difference (and its E-value) needs outcomes that vary."
        )
    design = np.column_stack([np.ones_like(y), treated, data["baseline"].to_numpy(np.float64)])
    naive = _ancova_rows(y, design, None, conf_level)
    adjusted = _ancova_rows(y, design, weights, conf_level)
    rows = [{"term": "naive", **naive}, {"term": "iptw", **adjusted}]
    estimates = pd.DataFrame(rows, columns=list(TIDY_COLUMNS))
    c, r = treated == 1.0, treated == 0.0
    sd_outcome = math.sqrt((y[c].var(ddof=1) + y[r].var(ddof=1)) / 2.0)
    scale = 0.91 / sd_outcome if sd_outcome > 0 else math.nan
    ev, ev_ci = e_value(
        math.exp(scale * adjusted["estimate"]),
        math.exp(scale * adjusted["conf_low"]),
        math.exp(scale * adjusted["conf_high"]),
    )
    return IptwResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        estimand=estimand,
        covariates=entered,
        estimates=estimates,
        balance=balance_table(covs, treated, weights),
        weights=pd.DataFrame(
            {
                # the text as text, not a Python string per row first (the frame stores
                # the same ``str`` column either way)
                "episode_id": data["episode_id"].astype(str).array,
                "arm": data["arm"].astype(str).array,
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


def estimand_weights(
    ps: ArrayLike, treated: ArrayLike, estimand: Estimand = "ate"
) -> NDArray[np.float64]:
    """Propensity-score weights for an estimand (analysis plan, section 10).

    Parameters
    ----------
    ps
        Propensity of being a comparator episode, in (0, 1).
    treated
        1 for comparator episodes, 0 for reference ones.
    estimand
        ``"ate"``: ``p / e`` (comparator) and ``(1 - p) / (1 - e)`` (reference), ``p`` the
        comparator share (stabilised); ``"att"``: ``1`` and ``e / (1 - e)``; ``"ato"``
        (overlap weights): ``1 - e`` and ``e``.

    Returns
    -------
    numpy.ndarray
        One weight per episode.

    Examples
    --------
    >>> estimand_weights([0.25, 0.5], [1, 0], "ato").tolist()
    [0.75, 0.5]
    >>> estimand_weights([0.25, 0.5], [1, 0], "att").tolist()
    [1.0, 1.0]
    """
    e = np.asarray(ps, dtype=np.float64)
    t = np.asarray(treated, dtype=np.float64)
    if estimand == "att":
        return np.where(t == 1.0, 1.0, e / (1.0 - e))
    if estimand == "ato":
        return np.where(t == 1.0, 1.0 - e, e)
    share = float(t.mean())
    return np.where(t == 1.0, share / e, (1.0 - share) / (1.0 - e))


def _covariate_frame(
    pairs: pd.DataFrame, dataset: Dataset, names: Sequence[str]
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The comparison frame with one column per covariate (``baseline:<m>`` as
    ``<m>_baseline``, the balance table's key), split into continuous and categorical."""
    frame = with_covariates(pairs, dataset, names)
    renames: dict[str, str] = {}
    continuous: list[str] = []
    categorical: list[str] = []
    for name in names:
        column = name
        if name.startswith(BASELINE_PREFIX):
            column = f"{name[len(BASELINE_PREFIX) :]}_baseline"
            if column in frame.columns:  # an extra column of that name: keep the long one
                column = name
            else:
                renames[name] = column
        series = frame[name]
        if isinstance(series.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        ):
            numbers = pd.to_numeric(series, errors="coerce")
            text = isinstance(series.dtype, pd.CategoricalDtype)
            if text or numbers.notna().sum() != series.notna().sum() or series.isna().all():
                categorical.append(column)
                continue
            frame = frame.assign(**{name: numbers})
        continuous.append(column)
    return frame.rename(columns=renames), continuous, categorical


def _enterable(
    covs: pd.DataFrame, continuous: list[str], categorical: list[str], notes: list[str]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The propensity columns of the covariates that can enter, and their names: one taking
    a single value in the analysis set, or collinear with those before it, is left out."""
    n = len(covs)
    kept_cols: list[str] = []
    entered: list[str] = []
    for name in [*continuous, *categorical]:
        cols = (
            [name] if name in continuous else [c for c in covs.columns if c.split("=")[0] == name]
        )
        values = covs[cols].to_numpy(dtype=np.float64)
        if (
            values.shape[1] == 0
            or (values.shape[1] == 1 and np.ptp(values) == 0.0)
            or (name in categorical and values.shape[1] == 1)
        ):
            notes.append(
                f"Covariate {name!r} was not adjusted for: it takes one value in all {n} "
                "analysed episodes."
            )
            continue
        model = [c for c in cols[1:]] if name in categorical else cols
        trial = np.column_stack(
            [np.ones(n), covs[_model_columns(kept_cols)].to_numpy(np.float64), covs[model]]
        )
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            notes.append(
                f"Covariate {name!r} was not adjusted for: it is collinear with the covariates "
                f"before it in the {n} analysed episodes."
            )
            continue
        kept_cols.extend(cols)
        entered.append(name)
    return covs[kept_cols], tuple(entered)


def _model_columns(columns: list[str]) -> list[str]:
    """The columns a logistic model uses: each categorical's first level dropped."""
    seen: set[str] = set()
    out: list[str] = []
    for column in columns:
        if "=" in column:
            group = column.split("=")[0]
            if group not in seen:
                seen.add(group)
                continue
        out.append(column)
    return out


def _ess(w: NDArray[np.float64]) -> float:
    return float(w.sum() ** 2 / (w * w).sum())
