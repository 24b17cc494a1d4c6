"""Section 1 of the analysis plan: ANCOVA of an outcome at a later timepoint on the arm,
adjusted for the baseline value (and optional user covariates).

:func:`fit_ancova` works on any tidy frame (one row per episode); :func:`compare_ancova`
builds that frame from a :class:`~dnoutcomes.dataset.Dataset`; :func:`compare_outcomes`
runs several measure/timepoint pairs and applies Holm's correction to the secondary ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from dnoutcomes.cohort import get_measure, outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "DEFAULT_OUTCOMES",
    "AncovaResult",
    "OutcomesResult",
    "PairsResult",
    "compare_ancova",
    "compare_outcomes",
    "compare_pairs",
    "design_matrix",
    "fit_ancova",
]

#: The outcomes of one report: the first is primary, the rest secondary (Holm-adjusted).
DEFAULT_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("nprs", "discharge"),
    ("odi", "discharge"),
    ("nprs", "followup_12w"),
    ("lumbar_flexion_deg", "discharge"),
    ("ppt_kg_cm2", "discharge"),
)

#: Fewest analysed episodes per arm for a model to be fitted.
MIN_PER_ARM = 2


def _check_conf_level(conf_level: float) -> None:
    if not 0 < conf_level < 1:
        raise RequestError(
            f"conf_level must lie strictly between 0 and 1; got {conf_level!r}. "
            "Use e.g. 0.95 for 95 % intervals."
        )


def design_matrix(
    frame: pd.DataFrame, *, columns: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Turn covariate columns into numeric model columns.

    Parameters
    ----------
    frame
        The analysed rows.
    columns
        Column names. Numeric and boolean columns enter as they are, and so do text
        columns whose every value is a number (extra export columns arrive as text);
        categorical and other text columns enter as 0/1 indicators of every level but the
        first (categories in their declared order, text levels sorted), named
        ``"<column>=<level>"``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The float model columns (same index as ``frame``) and a map from each model column
        to the covariate it came from.

    Raises
    ------
    RequestError
        For a column holding lists (such as ``contraindications``).
    """
    parts: list[pd.DataFrame] = []
    origin: dict[str, str] = {}
    for column in columns:
        series = frame[column]
        if series.map(lambda v: isinstance(v, tuple | list)).any():
            raise RequestError(
                f"covariate {column!r} holds lists (e.g. contraindications); expected one "
                "value per episode. Derive a 0/1 or numeric column from it first."
            )
        if not isinstance(series.dtype, pd.CategoricalDtype) and not (
            pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)
        ):
            # extra export columns arrive as text: numbers stay numbers
            numbers = pd.to_numeric(series, errors="coerce")
            if numbers.notna().sum() == series.notna().sum() and series.notna().any():
                series = numbers
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            parts.append(series.astype(float).to_frame(column))
            origin[column] = column
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [lv for lv in series.cat.categories if (series == lv).any()]
        else:
            levels = sorted(series.dropna().astype(str).unique())
            series = series.astype(str)
        dummies = pd.DataFrame(
            {f"{column}={lv}": (series == lv).astype(float) for lv in levels[1:]},
            index=frame.index,
        )
        parts.append(dummies)
        origin.update(dict.fromkeys(dummies.columns, column))
    if not parts:
        return pd.DataFrame(index=frame.index), origin
    return pd.concat(parts, axis=1), origin


@dataclass(frozen=True, repr=False)
class AncovaResult(ResultMixin):
    """An ANCOVA of one measure at one timepoint.

    Attributes
    ----------
    coefficients
        Every model term: ``term`` (``intercept``, ``arm``, ``baseline``, then covariate
        columns), ``estimate``, ``std_error``, ``statistic`` (t), ``df``, ``p_value``,
        ``conf_low``, ``conf_high``.
    adjusted_means
        ``arm``, ``role`` (reference / comparator), ``n``, ``estimate``, ``std_error``,
        ``conf_low``, ``conf_high``: the model's mean of each arm at the mean baseline (and
        mean covariates) of the analysed episodes.
    estimate, std_error, statistic, df, p_value, conf_low, conf_high
        The arm coefficient: adjusted mean difference, comparator minus reference.
    hedges_g, hedges_g_conf_low, hedges_g_conf_high
        The adjusted difference over the pooled SD of the outcome, with the small-sample
        correction J = 1 − 3 / (4 (n₀ + n₁) − 9); the interval is the coefficient's
        interval on the same scale.
    """

    measure: str
    timepoint: str
    reference: str
    comparator: str
    covariates: tuple[str, ...]
    conf_level: float
    coefficients: pd.DataFrame
    adjusted_means: pd.DataFrame
    estimate: float
    std_error: float
    statistic: float
    df: float
    p_value: float
    conf_low: float
    conf_high: float
    hedges_g: float
    hedges_g_conf_low: float
    hedges_g_conf_high: float
    pooled_sd: float
    n: int
    n_reference: int
    n_comparator: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.coefficients

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"ANCOVA: {self.measure} at {self.timepoint}, {self.comparator} minus "
            f"{self.reference} adjusted for baseline"
            + (f" and {', '.join(self.covariates)}" if self.covariates else "")
            + f" (n = {self.n})"
        )

    def __str__(self) -> str:
        means = ", ".join(
            f"{arm} {est:.3g}"
            for arm, est in zip(
                self.adjusted_means["arm"], self.adjusted_means["estimate"], strict=True
            )
        )
        extra = (
            f"\nAdjusted means: {means}. Hedges' g {self.hedges_g:.3g} "
            f"({self.hedges_g_conf_low:.3g} to {self.hedges_g_conf_high:.3g})."
        )
        return super().__str__() + extra

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``ancova`` entry for this outcome (plus ``hedges_g`` and counts)."""
        means = self.adjusted_means.set_index("role")["estimate"]
        return jsonable(
            {
                "measure": self.measure,
                "timepoint": self.timepoint,
                "n": self.n,
                "estimate": self.estimate,
                "se": self.std_error,
                "ci_low": self.conf_low,
                "ci_high": self.conf_high,
                "p": self.p_value,
                "adjusted_mean_reference": means["reference"],
                "adjusted_mean_comparator": means["comparator"],
                "n_reference": self.n_reference,
                "n_comparator": self.n_comparator,
                "hedges_g": self.hedges_g,
                "covariates": list(self.covariates),
            }
        )


def fit_ancova(
    frame: pd.DataFrame,
    *,
    outcome: str = "value",
    baseline: str = "baseline",
    treated: str = "treated",
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
    measure: str = "outcome",
    timepoint: str = "later",
    reference: str = "reference",
    comparator: str = "comparator",
    id_column: str = "episode_id",
) -> AncovaResult:
    """Fit ``outcome ~ treated + baseline (+ covariates)`` by OLS on a tidy frame.

    Parameters
    ----------
    frame
        One row per episode.
    outcome, baseline
        Numeric columns: the later value and the baseline value.
    treated
        0/1 column, 1 = comparator.
    covariates
        Further columns to adjust for (numeric, boolean or categorical; see
        :func:`design_matrix`).
    conf_level
        Confidence level of the t-intervals.
    measure, timepoint, reference, comparator
        Labels recorded on the result.
    id_column
        Column holding the row ids reported as ``episodes_used`` (row positions when absent).

    Returns
    -------
    AncovaResult

    Raises
    ------
    RequestError
        For a column that is not in ``frame`` or a ``conf_level`` outside (0, 1).
    InsufficientDataError
        When an arm has fewer than 2 complete rows, the residual degrees of freedom are not
        positive, or the covariates are collinear with the arm and baseline.

    Notes
    -----
    Rows missing the outcome, the baseline or any covariate are left out (complete cases);
    the number is stated in ``notes``. With X the design matrix and β̂ = (XᵀX)⁻¹Xᵀy,
    σ̂² = RSS / (n − p) and Var(β̂) = σ̂²(XᵀX)⁻¹; intervals use the t distribution with
    n − p df. Adjusted means are x̄ᵀβ̂ with the arm set to 0 and 1 and every other column at
    its mean over the analysed rows. Hedges' g = J · β̂_arm / s_p, s_p the pooled SD of the
    outcome within arms (n − 1 denominators), J = 1 − 3 / (4 (n₀ + n₁) − 9).
    """
    _check_conf_level(conf_level)
    needed = [outcome, baseline, treated, *covariates]
    missing_cols = [c for c in needed if c not in frame.columns]
    if missing_cols:
        raise RequestError(
            f"ANCOVA: column(s) {', '.join(missing_cols)} not found; the frame has "
            f"{', '.join(map(str, frame.columns))}. Name existing columns as covariates."
        )
    complete = frame[needed].notna().all(axis=1)
    data = frame.loc[complete]
    n_dropped_cov = int((frame[[outcome, baseline]].notna().all(axis=1) & ~complete).sum())
    treat = data[treated].astype(int).to_numpy()
    n1 = int(treat.sum())
    n0 = int(len(treat) - n1)
    label = f"ANCOVA of {measure} at {timepoint}"
    if min(n0, n1) < MIN_PER_ARM:
        raise InsufficientDataError(
            f"{label}: {reference} has {n0} and {comparator} has {n1} episodes with both a "
            f"baseline and a {timepoint} value; needs at least {MIN_PER_ARM} per arm. "
            "Compare arms with more data or choose another timepoint."
        )
    covs, _ = design_matrix(data, columns=covariates)
    exog = pd.concat(
        [
            pd.Series(1.0, index=data.index, name="intercept"),
            data[treated].astype(float).rename("arm"),
            data[baseline].astype(float).rename("baseline"),
            covs,
        ],
        axis=1,
    )
    n, p = exog.shape
    if n - p < 1:
        raise InsufficientDataError(
            f"{label}: {n} complete episodes for {p} model parameters; needs at least "
            f"{p + 1}. Use fewer covariates."
        )
    x = exog.to_numpy(dtype=float)
    constant = [c for c in exog.columns[1:] if exog[c].nunique() == 1]
    if constant:
        raise InsufficientDataError(
            f"{label}: {', '.join(constant)} take(s) one value for all {n} analysed "
            "episodes, so the model cannot separate them from the intercept; needs "
            "variation. Drop a constant covariate, or analyse more episodes."
        )
    y = data[outcome].astype(float).to_numpy()
    if y.min() == y.max():
        raise InsufficientDataError(
            f"{label}: every one of the {n} analysed episodes has {measure} = {y[0]:g} at "
            f"{timepoint}; a difference needs outcomes that vary."
        )
    if np.linalg.matrix_rank(x) < p:
        raise InsufficientDataError(
            f"{label}: the model columns {', '.join(exog.columns)} are collinear in the "
            f"{n} analysed episodes (a covariate is constant or duplicates another). "
            "Drop that covariate."
        )
    fit = sm.OLS(y, x).fit()
    params = np.asarray(fit.params)
    cov = np.asarray(fit.cov_params())
    se = np.sqrt(np.diag(cov))
    df_resid = float(fit.df_resid)
    tcrit = float(sps.t.ppf(0.5 + conf_level / 2, df_resid))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = params / se  # se = 0 only for a perfect fit: t is then inf or NaN
    pvals = 2 * sps.t.sf(np.abs(tstat), df_resid)
    coefficients = pd.DataFrame(
        {
            "term": list(exog.columns),
            "estimate": params,
            "std_error": se,
            "statistic": tstat,
            "df": df_resid,
            "p_value": pvals,
            "conf_low": params - tcrit * se,
            "conf_high": params + tcrit * se,
        },
        columns=list(TIDY_COLUMNS),
    )
    xbar = x.mean(axis=0)
    grid = np.vstack([xbar, xbar])
    grid[:, 1] = [0.0, 1.0]
    mean_est = grid @ params
    mean_se = np.sqrt(np.einsum("ij,jk,ik->i", grid, cov, grid))
    adjusted_means = pd.DataFrame(
        {
            "arm": [reference, comparator],
            "role": ["reference", "comparator"],
            "n": [n0, n1],
            "estimate": mean_est,
            "std_error": mean_se,
            "conf_low": mean_est - tcrit * mean_se,
            "conf_high": mean_est + tcrit * mean_se,
        }
    )
    var0 = float(np.var(y[treat == 0], ddof=1))
    var1 = float(np.var(y[treat == 1], ddof=1))
    pooled_sd = float(np.sqrt(((n0 - 1) * var0 + (n1 - 1) * var1) / (n0 + n1 - 2)))
    j = 1 - 3 / (4 * (n0 + n1) - 9)
    arm_row = coefficients.iloc[1]
    scale = j / pooled_sd if pooled_sd > 0 else float("nan")
    notes: list[str] = []
    n_incomplete = int(len(frame) - n - n_dropped_cov)
    if n_incomplete:
        notes.append(
            f"{n_incomplete} episodes without both a baseline and a {timepoint} {measure} "
            "were left out."
        )
    if n_dropped_cov:
        notes.append(f"{n_dropped_cov} episodes with a missing covariate were left out.")
    if pooled_sd == 0:
        notes.append("The outcome does not vary within arms: Hedges' g is undefined.")
    ids = (
        data[id_column].astype(str).tolist()
        if id_column in data.columns
        else [str(i) for i in data.index]
    )
    return AncovaResult(
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
        covariates=tuple(covariates),
        conf_level=conf_level,
        coefficients=coefficients,
        adjusted_means=adjusted_means,
        estimate=float(arm_row["estimate"]),
        std_error=float(arm_row["std_error"]),
        statistic=float(arm_row["statistic"]),
        df=df_resid,
        p_value=float(arm_row["p_value"]),
        conf_low=float(arm_row["conf_low"]),
        conf_high=float(arm_row["conf_high"]),
        hedges_g=float(arm_row["estimate"]) * scale,
        hedges_g_conf_low=float(arm_row["conf_low"]) * scale,
        hedges_g_conf_high=float(arm_row["conf_high"]) * scale,
        pooled_sd=pooled_sd,
        n=int(n),
        n_reference=n0,
        n_comparator=n1,
        episodes_used=tuple(ids),
        notes=tuple(notes),
    )


def compare_ancova(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
) -> AncovaResult:
    """ANCOVA of ``measure`` at ``timepoint`` between two arms (analysis plan, section 1).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; the effect is comparator minus reference.
    measure
        A registered measure.
    timepoint
        ``"discharge"`` or a follow-up timepoint.
    covariates
        Extra adjustment columns of the episode or patient tables (``"age"``, ``"sex"``,
        ``"site_id"``, or an extra column of the export).
    conf_level
        Confidence level.

    Returns
    -------
    AncovaResult
        See :func:`fit_ancova`; ``episodes_used`` are the analysed episode ids.

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint or covariate.
    InsufficientDataError
        The measure has no values at the timepoint in the two arms, or an arm has fewer
        than 2 complete episodes.

    Notes
    -----
    Complete cases: episodes of the two arms with a baseline and a ``timepoint`` value (and
    every covariate); the others are counted in ``notes``.
    """
    _check_conf_level(conf_level)
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    if pairs["value"].notna().sum() == 0:
        raise InsufficientDataError(
            f"ANCOVA of {measure} at {timepoint}: none of the {len(pairs)} episodes of "
            f"{reference} and {comparator} has any {measure} value at {timepoint}; needs at "
            "least 2 per arm. Choose a measure and timepoint the export records."
        )
    unknown = [c for c in covariates if c not in pairs.columns]
    if unknown:
        raise RequestError(
            f"ANCOVA covariates: {', '.join(unknown)} not found; expected columns of the "
            f"episodes or patients tables: {', '.join(map(str, pairs.columns))}."
        )
    result = fit_ancova(
        pairs,
        outcome="value",
        baseline="baseline",
        treated="treated",
        covariates=covariates,
        conf_level=conf_level,
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
    )
    return result


@dataclass(frozen=True, repr=False)
class OutcomesResult(ResultMixin):
    """ANCOVAs of several outcomes of one report, Holm-adjusted across the secondary ones.

    Attributes
    ----------
    results
        One :class:`AncovaResult` per outcome analysed, in the order requested.
    frame
        One row per outcome: ``measure``, ``timepoint``, ``role`` (primary / secondary),
        ``n``, ``estimate``, ``std_error``, ``statistic``, ``df``, ``p_value``, ``p_holm``
        (Holm-adjusted p among the secondary outcomes; equal to ``p_value`` for the
        primary), ``conf_low``, ``conf_high``, ``adjusted_mean_reference``,
        ``adjusted_mean_comparator``, ``hedges_g``.
    """

    reference: str
    comparator: str
    results: tuple[AncovaResult, ...]
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"ANCOVA by outcome: {self.comparator} minus {self.reference}"

    def to_dict(self) -> list[dict[str, Any]]:
        """The plan's ``ancova`` list (one entry per outcome, with ``p_holm``)."""
        out = []
        for result, p_holm, role in zip(
            self.results, self.frame["p_holm"], self.frame["role"], strict=True
        ):
            entry = result.to_dict()
            entry["p_holm"] = jsonable(p_holm)
            entry["role"] = role
            out.append(entry)
        return out


def compare_outcomes(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    outcomes: Sequence[tuple[str, str]] | None = None,
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
) -> OutcomesResult:
    """ANCOVA for several measure/timepoint pairs with Holm's correction.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    outcomes
        ``(measure, timepoint)`` pairs; the first is the primary outcome. ``None`` uses
        :data:`DEFAULT_OUTCOMES` and skips the secondary ones the data do not record (each
        skip is stated in ``notes``); the primary outcome, and pairs given explicitly, must
        be analysable.
    covariates
        Extra adjustment columns for every model.
    conf_level
        Confidence level.

    Returns
    -------
    OutcomesResult

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint or covariate; an empty ``outcomes``.
    InsufficientDataError
        The primary outcome, or an explicitly requested one, without enough data.

    Notes
    -----
    Holm's step-down adjustment is applied to the p-values of the secondary outcomes (all
    but the first analysed); the primary keeps its unadjusted p.
    """
    explicit = outcomes is not None
    wanted = tuple(outcomes) if outcomes is not None else DEFAULT_OUTCOMES
    if not wanted:
        raise RequestError("compare_outcomes: no outcomes requested; give at least one pair.")
    results: list[AncovaResult] = []
    notes: list[str] = []
    for measure, timepoint in wanted:
        get_measure(dataset, measure)
        try:
            results.append(
                compare_ancova(
                    dataset,
                    reference=reference,
                    comparator=comparator,
                    measure=measure,
                    timepoint=timepoint,
                    covariates=covariates,
                    conf_level=conf_level,
                )
            )
        except InsufficientDataError as exc:
            if explicit or not results and (measure, timepoint) == wanted[0]:
                raise  # an outcome asked for by name, or the primary outcome
            notes.append(f"{measure} at {timepoint} not analysed: {exc}")
    if not results:
        raise InsufficientDataError(
            "ANCOVA: none of the default outcomes ("
            + ", ".join(f"{m} at {t}" for m, t in wanted)
            + ") has enough data; needs at least 2 complete episodes per arm."
        )
    frame = pd.DataFrame(
        {
            "measure": [r.measure for r in results],
            "timepoint": [r.timepoint for r in results],
            "role": ["primary"] + ["secondary"] * (len(results) - 1),
            "n": [r.n for r in results],
            "estimate": [r.estimate for r in results],
            "std_error": [r.std_error for r in results],
            "statistic": [r.statistic for r in results],
            "df": [r.df for r in results],
            "p_value": [r.p_value for r in results],
            "conf_low": [r.conf_low for r in results],
            "conf_high": [r.conf_high for r in results],
            "adjusted_mean_reference": [
                float(r.adjusted_means["estimate"].iloc[0]) for r in results
            ],
            "adjusted_mean_comparator": [
                float(r.adjusted_means["estimate"].iloc[1]) for r in results
            ],
            "hedges_g": [r.hedges_g for r in results],
        }
    )
    p_holm = frame["p_value"].to_numpy(dtype=float).copy()
    if len(results) > 1:
        p_holm[1:] = multipletests(p_holm[1:], method="holm")[1]
    frame.insert(int(list(frame.columns).index("p_value")) + 1, "p_holm", p_holm)
    used = sorted({e for r in results for e in r.episodes_used})
    notes.extend(notes_ for r in results for notes_ in r.notes)
    return OutcomesResult(
        reference=reference,
        comparator=comparator,
        results=tuple(results),
        frame=frame,
        n=len(used),
        episodes_used=tuple(used),
        notes=tuple(notes),
    )


@dataclass(frozen=True, repr=False)
class PairsResult(ResultMixin):
    """The ANCOVA of one outcome for every pair of arms (the plan's three-arm overview).

    Attributes
    ----------
    results
        One :class:`AncovaResult` per pair analysed.
    frame
        One row per pair: ``reference``, ``comparator``, ``n``, ``estimate``,
        ``std_error``, ``statistic``, ``df``, ``p_value``, ``conf_low``, ``conf_high``.
    """

    measure: str
    timepoint: str
    results: tuple[AncovaResult, ...]
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"ANCOVA of {self.measure} at {self.timepoint} for each pair of arms"

    def to_dict(self) -> list[dict[str, Any]]:
        """One plan-style ``ancova`` entry per pair, with ``reference`` and ``comparator``."""
        return [
            {"reference": r.reference, "comparator": r.comparator, **r.to_dict()}
            for r in self.results
        ]


#: The order arms take in a pairwise overview (others follow alphabetically).
STANDARD_ARMS: tuple[str, ...] = ("dn_only", "dn_manual_exercise", "manual_exercise")


def compare_pairs(
    dataset: Dataset,
    *,
    arms: Sequence[str] | None = None,
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
) -> PairsResult:
    """ANCOVA of one outcome for every pair of arms.

    Parameters
    ----------
    dataset
        A loaded dataset.
    arms
        The arms to pair, in order (each pair reads later arm minus earlier arm). ``None``:
        every arm in the data except ``other``, standard arms first (``dn_only``,
        ``dn_manual_exercise``, ``manual_exercise``), then the rest alphabetically.
    measure, timepoint, covariates, conf_level
        As for :func:`compare_ancova`.

    Returns
    -------
    PairsResult

    Raises
    ------
    RequestError
        Fewer than two arms, an unknown arm, measure, timepoint or covariate.
    InsufficientDataError
        When no pair can be analysed (pairs that cannot are otherwise skipped with a note).

    Notes
    -----
    Each pair is its own comparison set (complete cases of those two arms), so a pair's
    numbers equal :func:`compare_ancova` for that pair. No multiplicity adjustment is made.
    """
    if arms is None:
        present = [a for a in dataset.episodes["arm"].dropna().astype(str).unique()]
        present = [a for a in present if a != "other"]
        chosen = [a for a in STANDARD_ARMS if a in present]
        chosen += sorted(a for a in present if a not in STANDARD_ARMS)
    else:
        chosen = list(dict.fromkeys(arms))
    if len(chosen) < 2:
        raise RequestError(
            f"pairwise comparison: needs at least two arms; got {chosen}. Name two or more "
            "arms present in the data."
        )
    results: list[AncovaResult] = []
    notes: list[str] = []
    for i, reference in enumerate(chosen):
        for comparator in chosen[i + 1 :]:
            try:
                results.append(
                    compare_ancova(
                        dataset,
                        reference=reference,
                        comparator=comparator,
                        measure=measure,
                        timepoint=timepoint,
                        covariates=covariates,
                        conf_level=conf_level,
                    )
                )
            except InsufficientDataError as exc:
                notes.append(f"{comparator} vs {reference} not analysed: {exc}")
    if not results:
        raise InsufficientDataError(
            f"pairwise ANCOVA of {measure} at {timepoint}: no pair of {', '.join(chosen)} "
            "has at least 2 complete episodes per arm."
        )
    frame = pd.DataFrame(
        {
            "reference": [r.reference for r in results],
            "comparator": [r.comparator for r in results],
            "n": [r.n for r in results],
            "estimate": [r.estimate for r in results],
            "std_error": [r.std_error for r in results],
            "statistic": [r.statistic for r in results],
            "df": [r.df for r in results],
            "p_value": [r.p_value for r in results],
            "conf_low": [r.conf_low for r in results],
            "conf_high": [r.conf_high for r in results],
        }
    )
    used = sorted({e for r in results for e in r.episodes_used})
    return PairsResult(
        measure=measure,
        timepoint=timepoint,
        results=tuple(results),
        frame=frame,
        n=len(used),
        episodes_used=tuple(used),
        notes=tuple(notes),
    )
