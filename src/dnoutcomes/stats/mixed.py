"""Section 2 of the analysis plan: the linear mixed model of the NPRS trajectory.

``nprs ~ arm * weeks + (1 | episode_id)`` fitted by REML on two arms' episodes
(:func:`compare_trajectories`), with the model-based means per arm and week. The REML
engines on arrays (``"fast"``, the profiled random-intercept fit, and ``"statsmodels"``,
MixedLM as the cross-check) live in the private ``_reml`` module; :func:`fit_random_intercept`,
:class:`RandomInterceptFit` and :data:`Engine` are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.cohort._codes import (
    comparison_rows,
    join_comparison,
    measure_mask,
    timepoint_mask,
)
from dnoutcomes.contract.specs import TIMEPOINTS
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, linear_combinations, wald_table
from dnoutcomes.stats._observed import check_min_n, observed_means
from dnoutcomes.stats._reml import Engine, RandomInterceptFit, fit_random_intercept

# The engine's internals stay importable from here for the tests that check them.
from dnoutcomes.stats._reml import _profile as _profile
from dnoutcomes.stats._reml import _profile_slope as _profile_slope
from dnoutcomes.stats._reml import _suffstats as _suffstats
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = [
    "Engine",
    "RandomInterceptFit",
    "TrajectoryResult",
    "compare_trajectories",
    "fit_random_intercept",
    "observed_means",
]

# doctest.testmod(mixed) also runs the examples of the re-exported engine function.
__test__ = {"fit_random_intercept": fit_random_intercept}

#: Timepoints whose values make up a trajectory (follow-ups come after care has ended).
TRAJECTORY_TIMEPOINTS: tuple[str, ...] = ("baseline", "session", "discharge")

#: Fixed-effect names, in the order of the design matrix columns.
FIXED_TERMS: tuple[str, ...] = ("intercept", "arm", "weeks", "arm_x_weeks")


@table_alias("fixed")
@dataclass(frozen=True, repr=False, eq=False)
class TrajectoryResult(ResultMixin):
    """The mixed model of a measure's trajectory over the weeks of care.

    Attributes
    ----------
    reference, comparator, measure
        What was compared.
    fixed
        One row per fixed effect (``intercept``, ``arm``, ``weeks``, ``arm_x_weeks``):
        ``term`` (str), ``estimate``, ``std_error``, ``statistic`` (Wald z), ``df`` (NaN:
        normal reference distribution), ``p_value``, ``conf_low``, ``conf_high`` (floats).
    means
        Model-based mean per arm and week: ``arm`` (str), ``weeks`` (float), ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high`` (floats; normal intervals).
    observed
        Observed mean per arm and whole week of the rows in the fit (see
        :func:`observed_means`): ``arm`` (str), ``weeks`` (int), ``n`` (int, values),
        ``estimate``, ``sd``, ``std_error``, ``conf_low``, ``conf_high`` (floats; t-intervals,
        NaN when ``n < 2``); arm-weeks with fewer than ``min_n`` values are left out.
    sd_episode, sd_residual
        Standard deviations of the episode intercepts and of the residuals.
    n_obs, n_episodes
        Rows and episodes in the fit; ``n`` equals ``n_episodes``.
    converged
        Whether the REML optimiser converged (when False, ``notes`` says why).
    engine
        ``"fast"`` or ``"statsmodels"``.
    episodes_used
        The episode ids in the fit.
    notes
        Who was left out and why; what the optimiser reported.
    """

    reference: str
    comparator: str
    measure: str
    fixed: pd.DataFrame
    means: pd.DataFrame
    observed: pd.DataFrame
    sd_episode: float
    sd_residual: float
    n_obs: int
    n_episodes: int
    n: int
    converged: bool
    engine: str
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    timepoints: tuple[str, ...] = TRAJECTORY_TIMEPOINTS

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Mixed model of {self.measure} over weeks (REML, random intercept per episode): "
            f"{self.comparator} vs {self.reference}; {self.n_obs} observations, "
            f"{self.n_episodes} episodes; SD episode {self.sd_episode:.3g}, "
            f"SD residual {self.sd_residual:.3g}"
        )

    def __str__(self) -> str:
        means = self.means.copy()
        for column in ("estimate", "std_error", "conf_low", "conf_high"):
            means[column] = means[column].map(lambda v: f"{v:.2f}")
        return (
            super().__str__()
            + f"\n\nModel-based mean {self.measure} by arm and week "
            + f"({100 * self.conf_level:g} % CI):\n"
            + means.to_string(index=False)
        )

    def plot(self, ax: Axes | None = None, *, observed: bool = True, **kwargs: Any) -> Axes:
        """Draw the model's mean per arm over the weeks with 95 % bands.

        With ``observed=True`` (default) the observed means per week (``self.observed``) are
        drawn as points with error bars. Hands off to
        :func:`dnoutcomes.plots.plot_trajectories`; other keyword arguments go to it.
        """
        from dnoutcomes.plots.trajectories import plot_trajectories

        return plot_trajectories(
            self, ax=ax, observed=self.observed if observed else None, **kwargs
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``lmm`` section (plus ``converged``, ``engine``, the model-based
        ``means`` per arm and week and the ``observed_means`` per arm and whole week)."""
        fixed = {
            str(term): {"estimate": est, "se": se}
            for term, est, se in zip(
                self._frame["term"], self._frame["estimate"], self._frame["std_error"], strict=True
            )
        }
        out: dict[str, Any] = jsonable(
            {
                "measure": self.measure,
                "timepoints": list(self.timepoints),
                "n_obs": self.n_obs,
                "n_episodes": self.n_episodes,
                "fixed": fixed,
                "sd_episode": self.sd_episode,
                "sd_residual": self.sd_residual,
                "converged": self.converged,
                "engine": self.engine,
                "means": [
                    {"arm": a, "weeks": w, "estimate": e, "se": se, "ci_low": lo, "ci_high": hi}
                    for a, w, e, se, lo, hi in zip(
                        self.means["arm"],
                        self.means["weeks"],
                        self.means["estimate"],
                        self.means["std_error"],
                        self.means["conf_low"],
                        self.means["conf_high"],
                        strict=True,
                    )
                ],
                "observed_means": [
                    {
                        "arm": a,
                        "weeks": w,
                        "n": n,
                        "estimate": e,
                        "sd": sd,
                        "se": se,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                    for a, w, n, e, sd, se, lo, hi in zip(
                        *(self.observed[c] for c in self.observed.columns), strict=True
                    )
                ],
            }
        )
        return out


def compare_trajectories(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoints: Sequence[str] = TRAJECTORY_TIMEPOINTS,
    engine: Engine = "fast",
    weeks: Sequence[float] | None = None,
    conf_level: float = 0.95,
    min_n: int = 5,
) -> TrajectoryResult:
    """Fit ``measure ~ arm * weeks + (1 | episode_id)`` by REML on two arms' episodes.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms compared; ``arm`` is 1 for the comparator.
    measure
        A registered measure (default NPRS).
    timepoints
        The timepoints whose rows enter (default ``baseline``, ``session`` and
        ``discharge``; follow-ups may be added, e.g. for a trial whose outcomes are
        follow-up visits).
    engine
        ``"fast"`` (default; profiled REML, see :func:`fit_random_intercept`) or
        ``"statsmodels"`` (MixedLM).
    weeks
        Weeks since the episode start at which the model-based means are reported;
        ``None``: 0, 2, 4, 6 and 8 for the default timepoints, otherwise five evenly spaced
        weeks from 0 to the latest observed week (no mean beyond the data).
    conf_level
        Level of the intervals, in (0, 1).
    min_n
        Observed means of arm-weeks with fewer values than this are left out of
        ``observed`` (they are too noisy to draw); a whole number >= 1.

    Returns
    -------
    TrajectoryResult
        ``fixed`` (term, estimate, std_error, statistic, df, p_value, conf_low, conf_high),
        ``means`` (arm, weeks, estimate, std_error, conf_low, conf_high), ``observed`` (arm,
        weeks, n, estimate, sd, std_error, conf_low, conf_high), the two SDs,
        ``n_obs``, ``n_episodes``, ``converged``.

    Raises
    ------
    RequestError
        Unknown arm, measure or engine; ``conf_level`` outside (0, 1); non-finite ``weeks``;
        ``min_n`` not a whole number >= 1.
    InsufficientDataError
        Fewer than 2 episodes with a value in either arm, or no more rows than episodes
        (nothing to separate the two variances).

    Notes
    -----
    Rows: the measure's values at ``baseline``, ``session`` and ``discharge`` of the episodes
    of the two arms; ``weeks = (assessed_on - start_date)`` in days / 7. Follow-up values are
    not part of the trajectory. Rows with a missing value or date are left out, and so are
    episodes without any row (counted in ``notes``). The model-based mean of arm ``a`` at
    week ``t`` is ``L beta`` with ``L = (1, a, t, a t)``, standard error
    ``sqrt(L Cov(beta) L')`` and a normal (Wald) interval; fixed-effect p-values are Wald z
    tests (lme4 reports none; statsmodels reports these).

    Observed means use the same rows: each value's week is rounded to the nearest whole
    week (``floor(weeks + 0.5)``), and per arm and week ``n``, the mean, the sample SD, the
    standard error ``SD / sqrt(n)`` and the t-interval ``mean -/+ t(n - 1) SE`` are given
    (NaN interval when ``n < 2``, noted); see :func:`observed_means`.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_trajectories(dataset).to_dict()
    >>> result["n_obs"], result["n_episodes"]
    (1331, 214)
    """
    if engine not in ("fast", "statsmodels"):
        raise RequestError(
            f"compare_trajectories: engine must be 'fast' or 'statsmodels'; got {engine!r}. "
            "Use 'fast' (profiled REML, the default) or 'statsmodels' (MixedLM)."
        )
    check_conf_level(conf_level, where="compare_trajectories")
    min_n = check_min_n(min_n, where="compare_trajectories")
    timepoints = tuple(timepoints)
    unknown = [t for t in timepoints if t not in TIMEPOINTS]
    if unknown or not timepoints:
        raise RequestError(
            f"compare_trajectories: timepoints {unknown or list(timepoints)!r} are not "
            f"contract timepoints; expected some of {', '.join(TIMEPOINTS)}."
        )
    weeks_at = np.asarray((0.0,) if weeks is None else weeks, dtype=np.float64)
    if weeks_at.ndim != 1 or not np.isfinite(weeks_at).all():
        raise RequestError(
            f"compare_trajectories: weeks must be a sequence of finite numbers; got {weeks!r}. "
            "Pass weeks after the episode start, e.g. weeks=(0, 2, 4, 6, 8)."
        )
    get_measure(dataset, measure)
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    rows = trajectory_rows(dataset, episodes, measure, timepoints, reference, comparator)
    if weeks is None:
        if timepoints == TRAJECTORY_TIMEPOINTS:
            weeks_at = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
        else:
            last = float(rows["weeks"].max()) if len(rows) else 0.0
            weeks_at = np.round(np.linspace(0.0, max(last, 0.0), 5), 1)
    where = ", ".join(timepoints)
    notes: list[str] = []
    with_rows = np.bincount(rows["at"].to_numpy(), minlength=len(episodes)) > 0
    for arm in (reference, comparator):
        has_rows = with_rows[(episodes["arm"] == arm).to_numpy()]
        missing = int((~has_rows).sum())
        n_arm = int(has_rows.sum())
        if missing:
            notes.append(
                f"{missing} {arm} episodes have no {measure} at {where} and were left out."
            )
        if n_arm < 2:
            raise InsufficientDataError(
                f"mixed model of {measure}: arm {arm!r} has {n_arm} episodes with a "
                f"{measure} value at {where}; the model needs at "
                "least 2 per arm. Compare arms with more episodes."
            )
    seen = pd.unique(rows["at"].to_numpy())  # in order of first appearance
    n_episodes = len(seen)
    if len(rows) <= n_episodes:
        raise InsufficientDataError(
            f"mixed model of {measure}: {len(rows)} values from {n_episodes} episodes; the "
            "model needs repeated values within episodes (more values than episodes)."
        )
    treated = rows["treated"].to_numpy(dtype=np.float64)
    wk = rows["weeks"].to_numpy(dtype=np.float64)
    y = rows["value"].to_numpy(dtype=np.float64)
    at = rows["at"].to_numpy()
    # the columns the observed means read: the dates and the integer arm are let go
    # before the fit (0.1 GiB at a million episodes)
    rows = rows[["arm", "weeks", "value"]]
    design = np.column_stack([np.ones_like(wk), treated, wk, treated * wk])
    fit = fit_random_intercept(y, design, at, engine=engine)
    del design, treated, wk, y, at  # the design (0.1 GiB at a million episodes) is done with
    notes.extend(f"Mixed model: {m}." for m in fit.messages)
    if not fit.converged:
        notes.append("Mixed model: the fit did NOT converge; treat its estimates with caution.")
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    fixed = wald_table(FIXED_TERMS, fit.coef, fit.std_errors, z)
    means = _model_means(fit, reference, comparator, weeks_at, z)
    observed, observed_notes = observed_means(
        rows, arms=(reference, comparator), conf_level=conf_level, min_n=min_n
    )
    notes.extend(observed_notes)
    return TrajectoryResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        fixed=fixed,
        means=means,
        observed=observed,
        sd_episode=fit.sd_group,
        sd_residual=fit.sd_residual,
        n_obs=fit.n_obs,
        n_episodes=fit.n_groups,
        n=fit.n_groups,
        converged=fit.converged,
        engine=fit.engine,
        conf_level=conf_level,
        episodes_used=id_tuple(pd.Index(episodes["episode_id"].take(seen))),
        notes=tuple(notes),
        timepoints=timepoints,
    )


def trajectory_rows(
    dataset: Dataset,
    episodes: pd.DataFrame,
    measure: str,
    timepoints: Sequence[str],
    reference: str,
    comparator: str,
) -> pd.DataFrame:
    """The rows of the mixed model: the measure's values at ``timepoints`` of the compared
    episodes (``episodes`` from :func:`~dnoutcomes.cohort.comparison_episodes`) with
    ``arm``, ``treated``, ``weeks`` and ``at`` (the episode's position in ``episodes``, the
    group label); rows without a value or a week left out. Also used by the network's
    summaries (:mod:`dnoutcomes.network._trajectory`)."""
    # on integer episode codes, no text merge; ``at``: the row's comparison episode, which
    # also serves as the group label (first appearance gives the same groups, in the same
    # order, as the episode ids)
    keep = measure_mask(dataset, measure) & timepoint_mask(dataset, timepoints)
    rows = join_comparison(
        dataset,
        "outcomes",
        keep,
        ["assessed_on", "value"],
        episodes,
        ["arm", "treated", "start_date"],
        reference,
        comparator,
    )
    rows["at"] = comparison_rows(dataset, "outcomes", keep, reference, comparator)[1]
    weeks_col = (rows["assessed_on"] - rows["start_date"]).dt.total_seconds() / 86400.0 / 7.0
    rows = rows.assign(weeks=weeks_col.astype(float))
    del weeks_col
    complete = (rows["value"].notna() & rows["weeks"].notna()).to_numpy()
    if not complete.all():  # the usual case keeps every row: no copy of the frame
        rows = rows.loc[complete]
    return rows


def _model_means(
    fit: RandomInterceptFit,
    reference: str,
    comparator: str,
    weeks: NDArray[np.float64],
    z: float,
) -> pd.DataFrame:
    arm_flag = np.repeat([0.0, 1.0], len(weeks))
    wk = np.tile(weeks, 2)
    contrast = np.column_stack([np.ones_like(wk), arm_flag, wk, arm_flag * wk])
    estimate, std_error = linear_combinations(contrast, fit.coef, fit.cov)
    return pd.DataFrame(
        {
            "arm": np.repeat([reference, comparator], len(weeks)),
            "weeks": wk,
            "estimate": estimate,
            "std_error": std_error,
            "conf_low": estimate - z * std_error,
            "conf_high": estimate + z * std_error,
        }
    )
