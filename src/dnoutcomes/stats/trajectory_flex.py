"""Trajectories over visits with random slopes and flexible (natural-spline) time, and the
arm contrast at chosen weeks, emmeans-style (section 10 of the analysis plan, extending
section 2).

Model-based means and contrasts are given only within the observed follow-up: weeks past
the 95th percentile of the episodes' last observed week are left out unless
``extrapolate=True``, and then marked in an ``extrapolated`` column.

:func:`fit_random_slopes` works on arrays (a profiled REML vectorised over episodes, or
statsmodels' ``MixedLM``);
:func:`compare_trajectory_flex` builds them from a dataset.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, wald_table, z_critical
from dnoutcomes.stats._reml_slopes import fit_slopes_reml
from dnoutcomes.stats._splines import NaturalSpline, natural_spline
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "RandomSlopesFit",
    "TimeShape",
    "TrajectoryFlexResult",
    "compare_trajectory_flex",
    "fit_random_slopes",
]

#: ``"linear"``: weeks; ``"spline"``: R's ``ns(weeks, df)``.
TimeShape = Literal["linear", "spline"]
#: ``"fast"``: vectorised profiled REML; ``"statsmodels"``: MixedLM.
Engine = Literal["fast", "statsmodels"]
_TIMEPOINTS = ("baseline", "session", "discharge")
#: Follow-up beyond this quantile of the episodes' last observed week is extrapolation.
FOLLOWUP_QUANTILE = 0.95


@dataclass(frozen=True)
class RandomSlopesFit:
    """A linear mixed model with a random intercept and slope per group (REML)."""

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    cov_re: NDArray[np.float64]
    sd_residual: float
    n_obs: int
    n_groups: int
    converged: bool
    messages: tuple[str, ...]


def fit_random_slopes(
    y: ArrayLike,
    design: ArrayLike,
    slope: ArrayLike,
    groups: ArrayLike,
    *,
    engine: Engine = "fast",
) -> RandomSlopesFit:
    """Fit ``y = X beta + b0_g + b1_g slope + e`` by REML (``(1 + slope | group)``).

    Parameters
    ----------
    y
        Outcome per row.
    design
        Fixed-effects design (n x p, with its intercept column).
    slope
        The variable with a random slope (weeks).
    groups
        Group id per row (episode).
    engine
        ``"fast"`` (default; profiled REML vectorised over groups, see
        :func:`~dnoutcomes.stats._reml_slopes.fit_slopes_reml`) or ``"statsmodels"``
        (``MixedLM``; it loops over groups in Python, so it is slow on many episodes).

    Returns
    -------
    RandomSlopesFit
        ``coef``, ``cov`` (fixed effects, ``(X'V^-1 X)^-1`` as lme4's ``vcov``),
        ``cov_re`` (2 x 2 covariance of the random intercept and slope), ``sd_residual``,
        sizes, ``converged`` and the optimiser's warnings as ``messages``.

    Notes
    -----
    The model of ``lme4::lmer(y ~ X + (1 + slope | group), REML = TRUE)``. The fast engine
    profiles out beta and the residual variance and optimises the relative Cholesky factor
    of the random-effects covariance (as lme4 does); statsmodels' engine is
    ``MixedLM(..., exog_re=[1, slope]).fit(reml=True)`` (L-BFGS, then other optimisers if it
    fails), its warnings kept as messages rather than raised, and its fixed-effect covariance
    replaced by ``(X'V^-1 X)^-1`` at its estimates.
    """
    if engine not in ("fast", "statsmodels"):
        raise RequestError(
            f"fit_random_slopes: engine must be 'fast' or 'statsmodels'; got {engine!r}."
        )
    yv = np.asarray(y, dtype=np.float64)
    x = np.asarray(design, dtype=np.float64)
    s = np.asarray(slope, dtype=np.float64)
    g = np.asarray(groups)
    if engine == "fast":
        fast = fit_slopes_reml(yv, x, s, g)
        return RandomSlopesFit(
            coef=fast.coef,
            cov=fast.cov,
            cov_re=fast.cov_re,
            sd_residual=math.sqrt(fast.scale),
            n_obs=len(yv),
            n_groups=len(np.unique(g)),
            converged=fast.converged,
            messages=(),
        )
    from statsmodels.regression.mixed_linear_model import MixedLM

    exog_re = np.column_stack([np.ones_like(s), s])
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = MixedLM(yv, x, groups=g, exog_re=exog_re)
        result = model.fit(reml=True, method=["lbfgs", "bfgs", "cg"])
    messages.extend(sorted({str(w.message).splitlines()[0] for w in caught}))
    cov_re = np.asarray(result.cov_re, dtype=np.float64)
    return RandomSlopesFit(
        coef=np.asarray(result.fe_params, dtype=np.float64),
        cov=_gls_cov(x, exog_re, g, cov_re, float(result.scale)),
        cov_re=cov_re,
        sd_residual=float(math.sqrt(result.scale)),
        n_obs=len(yv),
        n_groups=len(np.unique(g)),
        converged=bool(result.converged),
        messages=tuple(messages),
    )


def _gls_cov(
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    groups: NDArray[Any],
    cov_re: NDArray[np.float64],
    scale: float,
) -> NDArray[np.float64]:
    """``(X' V^-1 X)^-1`` at the estimated variance parameters, as lme4's ``vcov`` (the
    fixed-effect block of statsmodels' joint inverse Hessian differs from it slightly).

    Per group, ``V = Z G Z' + s2 I``; by Woodbury ``X'V^-1 X = (X'X - sum X'Z M^-1 Z'X) / s2``
    with ``M = s2 G^-1 + Z'Z``, summed over groups without a loop over rows.
    """
    codes, uniques = pd.factorize(pd.Series(groups))
    k, p, q = len(uniques), x.shape[1], z.shape[1]
    ztz = np.zeros((k, q, q))
    np.add.at(ztz, codes, z[:, :, None] * z[:, None, :])
    xtz = np.zeros((k, p, q))
    np.add.at(xtz, codes, x[:, :, None] * z[:, None, :])
    m = scale * np.linalg.inv(cov_re)[None] + ztz
    correction = np.einsum("gpi,gij,gqj->pq", xtz, np.linalg.inv(m), xtz)
    info = (x.T @ x - correction) / scale
    out: NDArray[np.float64] = np.linalg.inv(info)
    return out


@table_alias("contrasts")
@dataclass(frozen=True, repr=False, eq=False)
class TrajectoryFlexResult(ResultMixin):
    """Random-slopes trajectory model with linear or spline time.

    Attributes
    ----------
    fixed
        Tidy fixed effects (Wald z; ``df`` NaN).
    contrasts
        Arm contrast (comparator minus reference) per week: ``term`` (``"arm@<weeks>"``),
        tidy columns, ``weeks``, ``extrapolated``.
    means
        Model-based mean per arm and week: ``arm``, ``weeks``, ``estimate``, ``std_error``,
        ``conf_low``, ``conf_high``, ``extrapolated``.
    random
        ``sd_intercept``, ``sd_slope``, ``corr``, ``sd_residual``.
    followup_limit
        The 95th percentile of the episodes' last observed week.
    """

    reference: str
    comparator: str
    measure: str
    time: str
    spline_df: int
    knots: tuple[float, ...]
    fixed: pd.DataFrame
    contrasts: pd.DataFrame
    means: pd.DataFrame
    random: dict[str, float]
    followup_limit: float
    n_obs: int
    n_episodes: int
    converged: bool
    engine: str
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        shape = (
            "linear time" if self.time == "linear" else f"natural spline time ({self.spline_df} df)"
        )
        return (
            f"{self.measure} trajectory, random intercept and slope per episode, {shape}: "
            f"{self.comparator} minus {self.reference}; {self.n_obs} values from "
            f"{self.n_episodes} episodes; follow-up to week {self.followup_limit:.1f}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Fixed effects, random-effect SDs and the contrasts."""
        out: dict[str, Any] = jsonable(
            {
                "measure": self.measure,
                "time": self.time,
                "n_obs": self.n_obs,
                "n_episodes": self.n_episodes,
                "followup_limit": self.followup_limit,
                "fixed": {
                    r.term: {"estimate": r.estimate, "se": r.std_error}
                    for r in self.fixed.itertuples()
                },
                **self.random,
                "contrasts": [
                    {
                        "weeks": r.weeks,
                        "estimate": r.estimate,
                        "se": r.std_error,
                        "ci_low": r.conf_low,
                        "ci_high": r.conf_high,
                        "extrapolated": r.extrapolated,
                    }
                    for r in self._frame.itertuples()
                ],
            }
        )
        return out


def trajectory_rows(
    dataset: Dataset, *, reference: str, comparator: str, measure: str
) -> pd.DataFrame:
    """Rows of section 2: ``episode_id``, ``arm``, ``treated``, ``weeks``, ``value`` for the
    measure at baseline, session and discharge (missing values and dates dropped)."""
    get_measure(dataset, measure)
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    out = dataset.outcomes
    rows = out.loc[
        (out["measure"] == measure) & out["timepoint"].isin(_TIMEPOINTS),
        ["episode_id", "assessed_on", "value"],
    ].merge(episodes[["episode_id", "arm", "treated", "start_date"]], on="episode_id")
    weeks = (rows["assessed_on"] - rows["start_date"]).dt.total_seconds() / 86400.0 / 7.0
    rows = rows.assign(weeks=weeks.astype(float))
    rows = rows.loc[rows["value"].notna() & rows["weeks"].notna()]
    return rows[["episode_id", "arm", "treated", "weeks", "value"]].reset_index(drop=True)


def _design(treated: NDArray[np.float64], basis: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.ones_like(treated), treated, basis, treated[:, None] * basis])


def compare_trajectory_flex(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    time: TimeShape = "spline",
    spline_df: int = 3,
    weeks: Sequence[float] = (0.0, 2.0, 4.0, 6.0, 8.0),
    extrapolate: bool = False,
    engine: Engine = "fast",
    conf_level: float = 0.95,
) -> TrajectoryFlexResult:
    """Random intercept and slope per episode, time linear or a natural spline, arm x time;
    the arm contrast and the model-based means at chosen weeks.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure
        A registered measure (default NPRS).
    time
        ``"spline"`` (default; R's ``ns(weeks, df = spline_df)``) or ``"linear"``.
    spline_df
        Columns of the spline basis (3: two interior knots at the terciles of weeks).
    weeks
        Weeks at which contrasts and means are reported.
    extrapolate
        Also report weeks past the 95th percentile of follow-up (marked ``extrapolated``);
        by default they are left out (and named in the notes).
    engine
        ``"fast"`` (default) or ``"statsmodels"``; see :func:`fit_random_slopes`.
    conf_level
        Level of the normal intervals.

    Returns
    -------
    TrajectoryFlexResult

    Raises
    ------
    RequestError
        Unknown arm, measure or time shape, non-finite weeks, bad ``conf_level`` or
        ``spline_df``.
    InsufficientDataError
        Fewer than 2 episodes per arm, or no more values than episodes.

    Notes
    -----
    Rows as in section 2 (baseline, session and discharge values; weeks = days since the
    episode start / 7). Model ``y = b0 + b1 arm + f(weeks) + arm f(weeks) + u0 + u1 weeks +
    e``, f linear or ``ns``, ``(u0, u1)`` bivariate normal per episode (unstructured), REML
    (:func:`fit_random_slopes`). The mean of arm a at week t is ``L beta`` with L the design
    row of (a, t); the contrast is the difference of the two rows (emmeans-style), SE
    ``sqrt(L Cov L')``, Wald z interval. The follow-up limit is the 95th percentile (R's
    type 7) of each episode's last observed week.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=200, seed=1).to_dataset()
    >>> result = compare_trajectory_flex(dataset, time="linear", weeks=[0, 4])
    >>> result.table["weeks"].tolist()
    [0.0, 4.0]
    """
    check_conf_level(conf_level, where="compare_trajectory_flex")
    if time not in ("linear", "spline"):
        raise RequestError(
            f"compare_trajectory_flex: time must be 'linear' or 'spline'; got {time!r}."
        )
    if not (isinstance(spline_df, int) and 1 <= spline_df <= 10):
        raise RequestError(
            f"compare_trajectory_flex: spline_df must be a whole number from 1 to 10; got "
            f"{spline_df!r}."
        )
    at = np.asarray(weeks, dtype=np.float64)
    if at.ndim != 1 or not np.isfinite(at).all() or len(at) == 0:
        raise RequestError(f"compare_trajectory_flex: weeks must be finite numbers; got {weeks!r}.")
    rows = trajectory_rows(dataset, reference=reference, comparator=comparator, measure=measure)
    for arm in (reference, comparator):
        n_arm = rows.loc[rows["arm"] == arm, "episode_id"].nunique()
        if n_arm < 2:
            raise InsufficientDataError(
                f"compare_trajectory_flex: arm {arm!r} has {n_arm} episodes with {measure} "
                "values at baseline, session or discharge; needs at least 2."
            )
    n_episodes = rows["episode_id"].nunique()
    if len(rows) <= n_episodes:
        raise InsufficientDataError(
            f"compare_trajectory_flex: {len(rows)} values from {n_episodes} episodes; random "
            "slopes need repeated values within episodes."
        )
    wk = rows["weeks"].to_numpy(dtype=np.float64)
    treated = rows["treated"].to_numpy(dtype=np.float64)
    spline: NaturalSpline | None = natural_spline(wk, spline_df) if time == "spline" else None

    def basis(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values[:, None] if spline is None else spline.basis(values)

    names = ["weeks"] if spline is None else [f"ns{j + 1}" for j in range(spline_df)]
    terms = ["intercept", "arm", *names, *[f"arm_x_{n}" for n in names]]
    fit = fit_random_slopes(
        rows["value"].to_numpy(dtype=np.float64),
        _design(treated, basis(wk)),
        wk,
        rows["episode_id"].astype(str).to_numpy(),
        engine=engine,
    )
    notes = [f"Mixed model: {m}." for m in fit.messages]
    if not fit.converged:
        notes.append("Mixed model: the fit did NOT converge; treat its estimates with caution.")
    z = z_critical(conf_level)
    fixed = wald_table(terms, fit.coef, np.sqrt(np.diag(fit.cov)), z)
    limit = float(np.quantile(rows.groupby("episode_id")["weeks"].max(), FOLLOWUP_QUANTILE))
    beyond = at > limit
    if beyond.any() and not extrapolate:
        notes.append(
            f"Weeks {', '.join(f'{w:g}' for w in at[beyond])} lie beyond the observed follow-up "
            f"(95th percentile of the last observed week: {limit:.1f}) and were left out; "
            "pass extrapolate=True to show them, marked."
        )
        at, beyond = at[~beyond], beyond[~beyond]
    rows_ref = _design(np.zeros(len(at)), basis(at))
    rows_cmp = _design(np.ones(len(at)), basis(at))
    contrasts = wald_table([f"arm@{w:g}" for w in at], *_combine(rows_cmp - rows_ref, fit), z)
    contrasts = contrasts.assign(weeks=at, extrapolated=beyond)
    means = []
    for arm, design in ((reference, rows_ref), (comparator, rows_cmp)):
        table = wald_table([arm] * len(at), *_combine(design, fit), z)
        means.append(
            table.rename(columns={"term": "arm"}).assign(weeks=at, extrapolated=beyond)[
                ["arm", "weeks", "estimate", "std_error", "conf_low", "conf_high", "extrapolated"]
            ]
        )
    sd = np.sqrt(np.diag(fit.cov_re))
    return TrajectoryFlexResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        time=time,
        spline_df=spline_df if spline is not None else 0,
        knots=spline.knots if spline is not None else (),
        fixed=fixed,
        contrasts=contrasts,
        means=pd.concat(means, ignore_index=True),
        random={
            "sd_intercept": float(sd[0]),
            "sd_slope": float(sd[1]),
            "corr": float(fit.cov_re[0, 1] / (sd[0] * sd[1])),
            "sd_residual": fit.sd_residual,
        },
        followup_limit=limit,
        n_obs=fit.n_obs,
        n_episodes=fit.n_groups,
        converged=fit.converged,
        engine=engine,
        conf_level=conf_level,
        episodes_used=id_tuple(pd.Index(rows["episode_id"].unique())),
        notes=tuple(notes),
    )


def _combine(
    design: NDArray[np.float64], fit: RandomSlopesFit
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    estimate = design @ fit.coef
    std_error = np.sqrt(np.einsum("ij,jk,ik->i", design, fit.cov, design))
    return estimate, std_error
