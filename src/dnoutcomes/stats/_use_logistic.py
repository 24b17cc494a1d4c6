"""Medication use as a 0/1 outcome: logistic regression on the arm and the baseline use,
on a tidy frame or a dataset (re-exported by :mod:`dnoutcomes.stats.medication`)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, wald_table
from dnoutcomes.stats.results import ResultMixin, jsonable, shared_ids, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["UseResult", "compare_medication_use", "fit_use_logistic"]


@table_alias("coefficients")
@dataclass(frozen=True, repr=False)
class UseResult(ResultMixin):
    """Logistic regression of use at a timepoint on the arm and baseline use.

    Attributes
    ----------
    coefficients
        ``term`` (``intercept``, ``arm``, ``baseline``), ``estimate`` (log odds),
        ``std_error``, ``statistic`` (Wald z), ``df`` (NaN: normal reference),
        ``p_value``, ``conf_low``, ``conf_high``.
    odds_ratio, conf_low, conf_high, p_value
        exp(β_arm) with its Wald interval and p.
    prop_reference, prop_comparator
        Share of analysed episodes using at the timepoint, per arm.
    converged
        Whether the fit converged (if not, ``notes`` says so and the numbers are
        unreliable).
    """

    measure: str
    timepoint: str
    reference: str
    comparator: str
    conf_level: float
    coefficients: pd.DataFrame
    odds_ratio: float
    conf_low: float
    conf_high: float
    p_value: float
    prop_reference: float
    prop_comparator: float
    n_reference: int
    n_comparator: int
    converged: bool
    baseline_in_model: bool
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"{self.measure} at {self.timepoint}: logistic regression on arm and baseline use, "
            f"{self.comparator} vs {self.reference} (n = {self.n})"
        )

    def __str__(self) -> str:
        return super().__str__() + (
            f"\nOdds ratio {self.odds_ratio:.3g} ({self.conf_low:.3g} to "
            f"{self.conf_high:.3g}); using at {self.timepoint}: {self.reference} "
            f"{self.prop_reference:.1%}, {self.comparator} {self.prop_comparator:.1%}."
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``medication`` entry for this measure."""
        return jsonable(
            {
                "measure": self.measure,
                "n": self.n,
                "odds_ratio": self.odds_ratio,
                "ci_low": self.conf_low,
                "ci_high": self.conf_high,
                "p": self.p_value,
                "prop_reference": self.prop_reference,
                "prop_comparator": self.prop_comparator,
                "timepoint": self.timepoint,
                "converged": self.converged,
            }
        )


def fit_use_logistic(
    frame: pd.DataFrame,
    *,
    outcome: str = "value",
    baseline: str = "baseline",
    treated: str = "treated",
    conf_level: float = 0.95,
    measure: str = "use",
    timepoint: str = "later",
    reference: str = "reference",
    comparator: str = "comparator",
    id_column: str = "episode_id",
) -> UseResult:
    """Fit ``outcome ~ treated + baseline`` by logistic regression (maximum likelihood).

    Parameters
    ----------
    frame
        One row per episode; ``outcome`` and ``baseline`` hold 0/1, ``treated`` 0/1.
    outcome, baseline, treated
        Column names.
    conf_level
        Confidence level of the Wald interval.
    measure, timepoint, reference, comparator
        Labels recorded on the result.
    id_column
        Column with the ids reported as ``episodes_used``.

    Returns
    -------
    UseResult

    Raises
    ------
    RequestError
        Values other than 0/1, or a bad ``conf_level``.
    InsufficientDataError
        An arm without complete rows, or an outcome that is the same for every episode
        (no odds ratio exists).

    Notes
    -----
    Complete cases (outcome and baseline present). log odds(use) = β₀ + β₁·arm + β₂·baseline,
    fitted by IRLS (statsmodels GLM, binomial, logit link); OR = exp(β₁), interval
    exp(β₁ ± z·SE), p from the Wald z. When baseline use does not vary among the analysed
    episodes it cannot be estimated and is left out of the model (said in ``notes``). A fit
    that does not converge, or that meets (quasi-)separation, is reported in ``notes`` and
    ``converged``.
    """
    check_conf_level(conf_level)
    data = frame.loc[frame[[outcome, baseline, treated]].notna().all(axis=1)]
    values = pd.concat([data[outcome], data[baseline]])
    if not values.isin([0, 1]).all():
        raise RequestError(
            f"logistic regression of {measure}: use must be 0 or 1; got the values "
            f"{sorted(set(values.unique()) - {0, 1})[:5]}. Use a 0/1 measure."
        )
    treat = data[treated].astype(int).to_numpy()
    n1 = int(treat.sum())
    n0 = len(treat) - n1
    label = f"logistic regression of {measure} at {timepoint}"
    if min(n0, n1) < 1:
        raise InsufficientDataError(
            f"{label}: {reference} has {n0} and {comparator} has {n1} episodes with both "
            "values; needs at least 1 per arm."
        )
    y = data[outcome].astype(float).to_numpy()
    if y.min() == y.max():
        raise InsufficientDataError(
            f"{label}: every one of the {len(y)} analysed episodes has {measure} = "
            f"{y[0]:g} at {timepoint}; an odds ratio needs both users and non-users."
        )
    notes: list[str] = []
    base = data[baseline].astype(float).to_numpy()
    columns = {"intercept": np.ones(len(y)), "arm": treat.astype(float)}
    baseline_in_model = bool(base.min() != base.max())
    if baseline_in_model:
        columns["baseline"] = base
    else:
        notes.append(
            f"Baseline {measure} is {base[0]:g} for every analysed episode; the model omits it."
        )
    x = np.column_stack(list(columns.values()))
    converged = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.GLM(y, x, family=sm.families.Binomial()).fit()
        except Exception as exc:  # statsmodels raises on perfect separation
            raise InsufficientDataError(
                f"{label}: the model cannot be fitted ({exc}); with {len(y)} episodes the "
                "outcome is perfectly predicted by the arm or baseline use."
            ) from None
    converged = bool(getattr(fit, "converged", True))
    for w in caught:
        notes.append(f"Model warning: {w.message}")
        if "separation" in str(w.message).lower():
            converged = False
    if not converged:
        notes.append(
            f"The {label} did not converge (or met separation): its estimates are unreliable."
        )
    separating = [
        name
        for name, column in columns.items()
        if name != "intercept"
        and pd.Series(y).groupby(column).agg(lambda v: v.min() == v.max()).any()
    ]
    if separating:
        notes.append(
            f"Quasi-complete separation: within one level of {', '.join(separating)} every "
            f"episode has the same {measure} at {timepoint}, so that coefficient runs off to "
            "infinity and is not estimable (R's glm warns 'fitted probabilities numerically "
            "0 or 1'); the other coefficients remain estimable."
        )
    params = np.asarray(fit.params)
    se = np.asarray(fit.bse)
    z = float(sps.norm.ppf(0.5 + conf_level / 2))
    coefficients = wald_table(list(columns), params, se, z)
    arm = coefficients.iloc[1]
    with np.errstate(over="ignore"):  # a separating arm: the odds ratio is infinite
        odds = np.exp(arm[["estimate", "conf_low", "conf_high"]].to_numpy(dtype=float))
    n_dropped = len(frame) - len(data)
    if n_dropped:
        notes.insert(
            0,
            f"{n_dropped} episodes without both a baseline and a {timepoint} {measure} "
            "were left out.",
        )
    ids = (
        data[id_column].astype(str).tolist()
        if id_column in data.columns
        else [str(i) for i in data.index]
    )
    return UseResult(
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
        conf_level=conf_level,
        coefficients=coefficients,
        odds_ratio=float(odds[0]),
        conf_low=float(odds[1]),
        conf_high=float(odds[2]),
        p_value=float(arm["p_value"]),
        prop_reference=float(y[treat == 0].mean()),
        prop_comparator=float(y[treat == 1].mean()),
        n_reference=n0,
        n_comparator=n1,
        converged=converged,
        baseline_in_model=baseline_in_model,
        n=len(y),
        episodes_used=shared_ids(ids),
        notes=tuple(notes),
    )


def compare_medication_use(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "opioid_use",
    timepoint: str = "discharge",
    conf_level: float = 0.95,
) -> UseResult:
    """Logistic regression of medication use at ``timepoint`` (plan, section 5).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; the odds ratio is comparator over reference.
    measure
        A 0/1 measure (``opioid_use``, ``analgesic_use`` or a registered one).
    timepoint
        ``"discharge"`` or a follow-up timepoint.
    conf_level
        Confidence level.

    Returns
    -------
    UseResult

    Raises
    ------
    RequestError
        Unknown arm, measure or timepoint; values other than 0/1.
    InsufficientDataError
        No values at the timepoint, an empty arm, or no variation in use.

    Notes
    -----
    See :func:`fit_use_logistic`.
    """
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    if pairs["value"].notna().sum() == 0:
        raise InsufficientDataError(
            f"logistic regression of {measure} at {timepoint}: none of the {len(pairs)} "
            f"episodes of {reference} and {comparator} has a value; needs at least 1 per arm."
        )
    return fit_use_logistic(
        pairs,
        conf_level=conf_level,
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
    )
