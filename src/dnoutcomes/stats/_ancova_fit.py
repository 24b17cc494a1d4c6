"""One ANCOVA: the result type, the fit on a tidy frame and the two-arm comparison on a
dataset (re-exported by :mod:`dnoutcomes.stats.ancova`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.cohort import BASELINE_PREFIX, check_covariates, outcome_pairs, with_covariates
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._ols import design_matrix, fit_ols
from dnoutcomes.stats.results import ResultMixin, jsonable, shared_ids, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = ["MIN_PER_ARM", "AncovaResult", "compare_ancova", "fit_ancova"]

#: Fewest analysed episodes per arm for a model to be fitted.
MIN_PER_ARM = 2


@table_alias("coefficients")
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

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw each arm's adjusted mean with its 95 % CI.

        Hands off to :func:`dnoutcomes.plots.plot_adjusted_means`; keyword arguments go to it.
        """
        from dnoutcomes.plots.forest import plot_adjusted_means

        return plot_adjusted_means(self, ax=ax, **kwargs)

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


def _as_names(covariates: Sequence[str]) -> tuple[str, ...]:
    """The covariate names as a tuple; one name given as a plain string is one covariate
    (iterating ``"age"`` would ask for the columns ``a``, ``g`` and ``e``)."""
    return (covariates,) if isinstance(covariates, str) else tuple(covariates)


def _enterable(
    data: pd.DataFrame,
    treated: str,
    baseline: str,
    covariates: tuple[str, ...],
    notes: list[str],
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The model columns of the covariates that can enter the model, and their names.

    A covariate whose columns take one value in every analysed row, or that is collinear
    with the arm, the baseline and the covariates before it, cannot be estimated: it is
    left out and ``notes`` says so (it is then not listed as adjusted for).
    """
    covs, origin = design_matrix(data, columns=covariates)
    base = np.column_stack(
        [np.ones(len(data)), data[treated].to_numpy(dtype=float), data[baseline].to_numpy(float)]
    )
    kept_cols: list[str] = []
    kept: list[str] = []
    n = len(data)
    for name in covariates:
        cols = [c for c, o in origin.items() if o == name]
        values = covs[cols].to_numpy(dtype=float) if cols else np.empty((n, 0))
        if not cols or np.all(values == values[:1], axis=0).all():
            notes.append(
                f"Covariate {name!r} was not adjusted for: it takes one value in all {n} "
                "analysed episodes."
            )
            continue
        trial = np.column_stack([base, covs[kept_cols].to_numpy(dtype=float), values])
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            notes.append(
                f"Covariate {name!r} was not adjusted for: it is collinear with the arm, "
                f"the baseline or the covariates before it in the {n} analysed episodes."
            )
            continue
        kept_cols.extend(cols)
        kept.append(name)
    return covs[kept_cols], tuple(kept)


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
    check_conf_level(conf_level)
    covariates = _as_names(covariates)
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
    notes: list[str] = []
    covs, covariates = _enterable(data, treated, baseline, covariates, notes)
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
    constant = [c for c in ("baseline",) if exog[c].nunique() == 1]
    if constant:
        raise InsufficientDataError(
            f"{label}: the baseline takes one value for all {n} analysed "
            "episodes, so the model cannot separate it from the intercept; needs "
            "variation. Analyse more episodes."
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
            f"{n} analysed episodes (the baseline duplicates the arm). Analyse more episodes."
        )
    ols = fit_ols(x, y, terms=list(exog.columns), conf_level=conf_level)
    coefficients, df_resid, tcrit = ols.coefficients, ols.df_resid, ols.tcrit
    xbar = x.mean(axis=0)
    grid = np.vstack([xbar, xbar])
    grid[:, 1] = [0.0, 1.0]
    mean_est, mean_se = ols.predict(grid)
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
    arm_row = coefficients.iloc[1]
    scale = hedges_scale(n0, n1, pooled_sd)
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
        episodes_used=shared_ids(ids),
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
        ``"site_id"``, or an extra column of the export); a single name may be given as a
        string.
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

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_ancova(dataset)
    >>> result.n, round(result.estimate, 2)
    (182, -0.53)
    """
    check_conf_level(conf_level)
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    if pairs["value"].notna().sum() == 0:
        raise InsufficientDataError(
            f"ANCOVA of {measure} at {timepoint}: none of the {len(pairs)} episodes of "
            f"{reference} and {comparator} has any {measure} value at {timepoint}; needs at "
            "least 2 per arm. Choose a measure and timepoint the export records."
        )
    names = check_covariates(dataset, covariates, where="ANCOVA")
    # the outcome's own baseline is always in the model
    names = tuple(c for c in names if c != f"{BASELINE_PREFIX}{measure}")
    pairs = with_covariates(pairs, dataset, names)
    result = fit_ancova(
        pairs,
        outcome="value",
        baseline="baseline",
        treated="treated",
        covariates=names,
        conf_level=conf_level,
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
    )
    return result


def hedges_scale(n0: int, n1: int, pooled_sd: float) -> float:
    """The factor turning an arm difference into Hedges' g: the small-sample correction
    ``J = 1 − 3 / (4 (n0 + n1) − 9)`` over the pooled within-arm SD (NaN when that SD is 0)."""
    j = 1 - 3 / (4 * (n0 + n1) - 9)
    return j / pooled_sd if pooled_sd > 0 else float("nan")
