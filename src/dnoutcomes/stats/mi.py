"""Multiple imputation of missing outcomes and covariates, pooled by Rubin's rules, for the
ANCOVA, the responder analysis and IPTW; complete cases and MI side by side.

The engine lives in private modules, one per reason to change: ``_mice`` (chained
equations: predictive mean matching and logistic imputation), ``_rubin`` (Rubin's rules
with the Barnard–Rubin df), ``_mi_frame`` (the per-episode frame and the per-imputation
ANCOVA) and ``_tipping`` (the delta-adjustment tipping-point analysis). Import the names
from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from dnoutcomes.cohort import get_measure, improvement_of
from dnoutcomes.errors import RequestError
from dnoutcomes.stats._ancova_fit import compare_ancova
from dnoutcomes.stats._balance import indicator_columns
from dnoutcomes.stats._inference import check_conf_level, check_threshold
from dnoutcomes.stats._mi_frame import (
    ancova_sets,
    filled,
    impute_episodes,
    mi_frame,
    ols_arm,
)
from dnoutcomes.stats._mice import (
    DEFAULT_M,
    DEFAULT_MAXIT,
    Imputations,
    crossprod,
    impute_chained,
    matvec,
)
from dnoutcomes.stats._propensity import propensity_weights
from dnoutcomes.stats._rubin import barnard_rubin_df, pool_rubin
from dnoutcomes.stats._tipping import TippingPointResult, tipping_point
from dnoutcomes.stats.iptw import PS_CATEGORICAL, PS_CONTINUOUS, compare_iptw
from dnoutcomes.stats.responders import compare_responders
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, jsonable, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "Imputations",
    "MiResult",
    "TippingPointResult",
    "barnard_rubin_df",
    "compare_ancova_mi",
    "compare_iptw_mi",
    "compare_responders_mi",
    "impute_chained",
    "mi_frame",
    "pool_rubin",
    "tipping_point",
]

#: Columns of :attr:`MiResult.table`.
ESTIMATE_COLUMNS = ("method", *TIDY_COLUMNS, "fmi", "riv", "m", "n")

Analysis = Literal["ancova", "responders", "iptw"]


@table_alias("estimates")
@dataclass(frozen=True, repr=False, eq=False)
class MiResult(ResultMixin):
    """One analysis on complete cases and under multiple imputation.

    Attributes
    ----------
    analysis
        ``"ancova"``, ``"responders"`` or ``"iptw"``.
    measure, timepoint, reference, comparator, covariates, auxiliaries, conf_level
        What was analysed.
    estimates
        Two rows, ``method`` = ``complete_case`` then ``multiple_imputation``, with
        ``term`` (``arm``: adjusted mean difference; ``risk_difference``; ``iptw``),
        ``estimate``, ``std_error``, ``statistic``, ``df``, ``p_value``, ``conf_low``,
        ``conf_high``, ``fmi`` and ``riv`` (NaN for complete cases), ``m`` (imputations;
        NA for complete cases) and ``n`` (episodes analysed).
    pooled
        Every pooled term of the MI analysis with Rubin's quantities (see
        :func:`pool_rubin`).
    imputed
        ``variable``, ``method``, ``n_missing``, ``share_missing`` of the imputation model.
    m, maxit, seed
        Imputations, iterations and the seed (rerunning with it gives the same numbers).
    """

    analysis: Analysis
    measure: str
    timepoint: str
    reference: str
    comparator: str
    covariates: tuple[str, ...]
    auxiliaries: tuple[str, ...]
    conf_level: float
    estimates: pd.DataFrame
    pooled: pd.DataFrame
    imputed: pd.DataFrame
    m: int
    maxit: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        what = {
            "ancova": "ANCOVA",
            "responders": "risk difference of responding",
            "iptw": "IPTW",
        }[self.analysis]
        return (
            f"{what} of {self.measure} at {self.timepoint}, {self.comparator} minus "
            f"{self.reference}: complete cases and multiple imputation (m = {self.m})"
        )

    def to_dict(self) -> dict[str, Any]:
        """``complete_case`` and ``multiple_imputation`` entries plus the imputation
        settings and counts."""
        rows = self._frame.set_index("method")
        out: dict[str, Any] = {
            "analysis": self.analysis,
            "measure": self.measure,
            "timepoint": self.timepoint,
            "m": self.m,
            "maxit": self.maxit,
            "seed": self.seed,
            "imputed": dict(
                zip(self.imputed["variable"], self.imputed["n_missing"].astype(int), strict=True)
            ),
        }
        for method in ("complete_case", "multiple_imputation"):
            row = rows.loc[method]
            out[method] = {
                "n": row["n"],
                "estimate": row["estimate"],
                "se": row["std_error"],
                "df": row["df"],
                "ci_low": row["conf_low"],
                "ci_high": row["conf_high"],
                "p": row["p_value"],
                "fmi": row["fmi"],
                "riv": row["riv"],
            }
        return jsonable(out)


def _row(frame: pd.DataFrame, term: str) -> pd.Series:
    """The row of ``frame`` whose ``term`` is ``term``."""
    row: pd.Series = frame.loc[frame["term"] == term].iloc[0]
    return row


def _estimates(
    cc: pd.Series, n_cc: int, pooled: pd.Series, n_mi: int, m: int, term: str
) -> pd.DataFrame:
    rows = [
        {"method": "complete_case", **{c: cc.get(c, math.nan) for c in TIDY_COLUMNS[1:]}},
        {"method": "multiple_imputation", **{c: pooled[c] for c in TIDY_COLUMNS[1:]}},
    ]
    frame = pd.DataFrame(rows)
    frame.insert(1, "term", term)
    frame["fmi"] = [math.nan, float(pooled["fmi"])]
    frame["riv"] = [math.nan, float(pooled["riv"])]
    frame["m"] = pd.array([pd.NA, m], dtype="Int64")
    frame["n"] = [n_cc, n_mi]
    for column in TIDY_COLUMNS[1:]:
        frame[column] = frame[column].astype(float)
    return frame[list(ESTIMATE_COLUMNS)]


def _notes(imp: Imputations) -> list[str]:
    summary = imp.summary()
    imputed = summary[summary["n_missing"] > 0]
    counts = ", ".join(
        f"{row.variable} {row.n_missing} ({row.method})" for row in imputed.itertuples()
    )
    return [
        f"Multiple imputation by chained equations: m = {imp.m} imputed data sets, "
        f"{imp.maxit} iterations, {imp.donors} donors for predictive mean matching, "
        f"seed {imp.seed}.",
        f"Imputed values per variable of {len(imp.data)} episodes: {counts or 'none'}.",
    ]


def _frame_for(
    dataset: Dataset,
    reference: str,
    comparator: str,
    measure: str,
    timepoint: str,
    covariates: Sequence[str],
    auxiliaries: Sequence[str],
) -> pd.DataFrame:
    return mi_frame(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        covariates=covariates,
        auxiliaries=auxiliaries,
    )


def compare_ancova_mi(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    auxiliaries: Sequence[str] = (),
    m: int = DEFAULT_M,
    maxit: int = DEFAULT_MAXIT,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
) -> MiResult:
    """ANCOVA ``value ~ arm + baseline + covariates`` on complete cases and pooled over m
    imputed data sets.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; the effect is comparator minus reference.
    measure, timepoint
        The outcome.
    covariates
        Adjustment columns (they also enter every imputation model).
    auxiliaries
        Other measures whose baseline and ``timepoint`` values enter the imputation models
        only (e.g. ``["odi"]``).
    m, maxit, rng
        Imputations, iterations per chain, seed (see :func:`impute_chained`).
    conf_level
        Level of the intervals.

    Returns
    -------
    MiResult
        The complete-case row is :func:`~dnoutcomes.stats.ancova.compare_ancova`'s arm
        coefficient; the MI row pools the arm coefficient and its classical variance from
        each imputed set with ``dfcom = n − p``.

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint, covariate or auxiliary; an incomplete categorical
        covariate of more than two levels.
    InsufficientDataError
        Fewer than 2 observed outcomes in an arm, or a design that is not of full rank.

    Notes
    -----
    The imputation population is every episode of the two arms (whatever is missing);
    the imputation models contain the arm, the baseline, the outcome, the covariates and
    the auxiliaries. The per-set estimate is the OLS arm coefficient, its variance
    σ̂²[(XᵀX)⁻¹]₁₁; pooling by :func:`pool_rubin`.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> import warnings
    >>> with warnings.catch_warnings():  # the sample's data-quality warnings
    ...     warnings.simplefilter("ignore")
    ...     dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_ancova_mi(dataset, auxiliaries=["odi"], m=5, rng=7)
    >>> result.table["method"].tolist()
    ['complete_case', 'multiple_imputation']
    """
    check_conf_level(conf_level, where="compare_ancova_mi")
    covariates = tuple([covariates] if isinstance(covariates, str) else covariates)
    auxiliaries = tuple([auxiliaries] if isinstance(auxiliaries, str) else auxiliaries)
    label = f"ANCOVA of {measure} at {timepoint} under multiple imputation"
    frame = _frame_for(dataset, reference, comparator, measure, timepoint, covariates, auxiliaries)
    cc = compare_ancova(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        covariates=covariates,
        conf_level=conf_level,
    )
    imp = impute_episodes(frame, m=m, maxit=maxit, rng=rng, label=label)
    coefs: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    variances: list[np.ndarray[Any, np.dtype[np.float64]]] = []
    terms: list[str] = []
    dfcom = math.nan
    for x, y, names in ancova_sets(imp, covariates):
        beta, var, dfcom = ols_arm(x, y, label=label)
        terms = names
        coefs.append(beta)
        variances.append(var)
    pooled = pool_rubin(
        np.array(coefs), np.array(variances), dfcom=dfcom, terms=terms, conf_level=conf_level
    )
    arm = _row(pooled, "arm")
    cc_row = _row(cc.table, "arm")
    return MiResult(
        analysis="ancova",
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
        covariates=covariates,
        auxiliaries=auxiliaries,
        conf_level=conf_level,
        estimates=_estimates(cc_row, cc.n, arm, len(frame), imp.m, "arm"),
        pooled=pooled,
        imputed=imp.summary(),
        m=imp.m,
        maxit=imp.maxit,
        seed=imp.seed,
        notes=tuple([*(f"Complete cases: {n}" for n in cc.notes), *_notes(imp)]),
    )


def compare_responders_mi(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    definition: Literal["points", "percent"] = "points",
    threshold: float | None = None,
    covariates: Sequence[str] = (),
    auxiliaries: Sequence[str] = (),
    m: int = DEFAULT_M,
    maxit: int = DEFAULT_MAXIT,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
) -> MiResult:
    """Risk difference of responding on complete cases and pooled over m imputed sets.

    Parameters
    ----------
    dataset, reference, comparator, measure, timepoint
        As :func:`~dnoutcomes.stats.responders.compare_responders`.
    definition, threshold
        ``"points"`` (improvement ≥ MCID points) or ``"percent"`` (improvement ≥ MCID % of
        baseline); ``threshold`` overrides the registry's MCID.
    covariates, auxiliaries
        Extra variables of the imputation models (not of the analysis).
    m, maxit, rng, conf_level
        As :func:`compare_ancova_mi`.

    Returns
    -------
    MiResult
        ``term`` = ``risk_difference``; the complete-case row is that of
        :func:`~dnoutcomes.stats.responders.compare_responders`.

    Raises
    ------
    RequestError
        As :func:`compare_ancova_mi`; a definition other than points or percent.
    InsufficientDataError
        As :func:`compare_ancova_mi`.

    Notes
    -----
    The continuous outcome (and baseline) is imputed, never the responder indicator, so
    the imputations keep the outcome's information. Pooling is on the risk-difference
    scale: each set gives RD = p₁ − p₀ and its Wald variance p₁(1 − p₁)/n₁ +
    p₀(1 − p₀)/n₀, pooled by Rubin's rules with ``dfcom = ∞`` (the normal-theory
    analysis), so df = (m − 1)/λ². With ``"percent"``, episodes whose baseline is 0 are
    left out of each set.
    """
    check_conf_level(conf_level, where="compare_responders_mi")
    check_threshold(threshold, where=f"responders of {measure}")
    if definition not in ("points", "percent"):
        raise RequestError(
            f"responders under multiple imputation: definition {definition!r} is not "
            "supported; expected 'points' or 'percent' (the imputed outcome is continuous)."
        )
    spec = get_measure(dataset, measure)
    key = "mcid_points" if definition == "points" else "mcid_percent"
    cut = threshold if threshold is not None else getattr(spec, key, None)
    if cut is None:
        raise RequestError(f"responders of {measure}: the measure has no {key}; pass threshold=.")
    covariates = tuple([covariates] if isinstance(covariates, str) else covariates)
    auxiliaries = tuple([auxiliaries] if isinstance(auxiliaries, str) else auxiliaries)
    label = f"responders of {measure} at {timepoint} under multiple imputation"
    frame = _frame_for(dataset, reference, comparator, measure, timepoint, covariates, auxiliaries)
    cc = compare_responders(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        definition=definition,
        threshold=threshold,
        conf_level=conf_level,
    )
    imp = impute_episodes(frame, m=m, maxit=maxit, rng=rng, label=label)
    rd, var = np.empty(imp.m), np.empty(imp.m)
    for i in range(imp.m):
        base = filled(imp, "baseline", i)
        gain = improvement_of(spec, base, filled(imp, "value", i))
        if definition == "points":
            usable = np.ones(base.size, dtype=bool)
            responder = gain >= float(cut)
        else:
            usable = base != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                responder = (100.0 * gain / np.abs(base)) >= float(cut)
        t = filled(imp, "treated", i) == 1
        p1 = responder[usable & t].mean()
        p0 = responder[usable & ~t].mean()
        n1, n0 = int((usable & t).sum()), int((usable & ~t).sum())
        rd[i] = p1 - p0
        var[i] = p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0
    pooled = pool_rubin(rd, var, dfcom=math.inf, terms=["risk_difference"], conf_level=conf_level)
    cc_row = _row(cc.frame, "risk_difference")
    return MiResult(
        analysis="responders",
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
        covariates=covariates,
        auxiliaries=auxiliaries,
        conf_level=conf_level,
        estimates=_estimates(cc_row, cc.n, pooled.iloc[0], len(frame), imp.m, "risk_difference"),
        pooled=pooled,
        imputed=imp.summary(),
        m=imp.m,
        maxit=imp.maxit,
        seed=imp.seed,
        notes=tuple(
            [
                f"Responder: improvement >= {float(cut):g}"
                f"{' points' if definition == 'points' else ' % of baseline'}.",
                *(f"Complete cases: {n}" for n in cc.notes),
                *_notes(imp),
            ]
        ),
    )


def compare_iptw_mi(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    auxiliaries: Sequence[str] = (),
    m: int = DEFAULT_M,
    maxit: int = DEFAULT_MAXIT,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
) -> MiResult:
    """IPTW of NPRS at discharge on complete cases and pooled over m imputed sets.

    Parameters
    ----------
    dataset, reference, comparator, conf_level
        As :func:`~dnoutcomes.stats.iptw.compare_iptw`.
    auxiliaries
        Measures besides ODI (always included: its baseline is a propensity covariate)
        whose baseline and discharge values enter the imputation models.
    m, maxit, rng
        As :func:`compare_ancova_mi`.

    Returns
    -------
    MiResult
        ``term`` = ``iptw``; the complete-case row is ``compare_iptw``'s IPTW row.

    Raises
    ------
    RequestError, InsufficientDataError
        As :func:`compare_ancova_mi`.

    Notes
    -----
    Within each imputed set (the propensity covariates age, sex, condition, symptom weeks,
    baseline NPRS, baseline ODI and site, the discharge NPRS and ODI all in the
    imputation models): the propensity model and stabilised ATE weights of
    :func:`~dnoutcomes.stats.iptw.propensity_weights`, the weighted OLS
    ``nprs_discharge ~ arm + nprs_baseline`` and the HC0 sandwich variance of the arm
    coefficient (as ``compare_iptw``); pooled with ``dfcom = ∞`` (normal-theory
    inference), the "within" approach of Granger et al. (2019).
    """
    check_conf_level(conf_level, where="compare_iptw_mi")
    auxiliaries = tuple([auxiliaries] if isinstance(auxiliaries, str) else auxiliaries)
    label = "IPTW of nprs at discharge under multiple imputation"
    covariates = tuple(c for c in (*PS_CONTINUOUS, *PS_CATEGORICAL) if not c.endswith("baseline"))
    aux = tuple(dict.fromkeys(("odi", *auxiliaries)))
    frame = _frame_for(dataset, reference, comparator, "nprs", "discharge", covariates, aux)
    cc = compare_iptw(dataset, reference=reference, comparator=comparator, conf_level=conf_level)
    imp = impute_episodes(frame, m=m, maxit=maxit, rng=rng, label=label)
    est, var = np.empty(imp.m), np.empty(imp.m)
    messages: set[str] = set()
    for i in range(imp.m):
        completed = imp.complete(i).assign(nprs_baseline=lambda d: d["baseline"])
        t = completed["treated"].to_numpy(dtype=np.float64)
        ps_cols = indicator_columns(completed, continuous=PS_CONTINUOUS, categorical=PS_CATEGORICAL)
        _, weights, converged, msgs = propensity_weights(ps_cols, t)
        messages.update(msgs)
        if not converged:
            messages.add("the logistic regression did not converge in some imputed sets")
        y = completed["value"].to_numpy(dtype=np.float64)
        x = np.column_stack([np.ones_like(y), t, completed["baseline"].to_numpy(np.float64)])
        est[i], var[i] = _weighted_arm(x, y, weights)
    pooled = pool_rubin(est, var, dfcom=math.inf, terms=["iptw"], conf_level=conf_level)
    cc_row = _row(cc.table, "iptw")
    return MiResult(
        analysis="iptw",
        measure="nprs",
        timepoint="discharge",
        reference=reference,
        comparator=comparator,
        covariates=covariates,
        auxiliaries=aux,
        conf_level=conf_level,
        estimates=_estimates(cc_row, cc.n, pooled.iloc[0], len(frame), imp.m, "iptw"),
        pooled=pooled,
        imputed=imp.summary(),
        m=imp.m,
        maxit=imp.maxit,
        seed=imp.seed,
        notes=tuple(
            [
                *(f"Complete cases: {n}" for n in cc.notes),
                *(f"Propensity model (imputed sets): {msg}." for msg in sorted(messages)),
                *_notes(imp),
            ]
        ),
    )


def _weighted_arm(
    x: np.ndarray[Any, np.dtype[np.float64]],
    y: np.ndarray[Any, np.dtype[np.float64]],
    w: np.ndarray[Any, np.dtype[np.float64]],
) -> tuple[float, float]:
    """Weighted OLS arm coefficient (column 1) and its HC0 sandwich variance."""
    xw = x * w[:, None]
    bread = np.linalg.inv(crossprod(x, xw))
    beta = bread @ crossprod(xw, y[:, None])[:, 0]
    scores = xw * (y - matvec(x, beta))[:, None]
    cov = bread @ crossprod(scores) @ bread
    return float(beta[1]), float(cov[1, 1])
