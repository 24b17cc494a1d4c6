"""Case-mix models: how much each episode would be expected to improve, given who the
patient is (analysis plan, section 10, "Case-mix expected values").

A therapist who sees older, chronic, sciatic patients will have a lower raw share of
responders than one who sees acute strains, whatever the quality of care. Outcome systems
used for benchmarking (FOTO's risk-adjusted measures, the NHS's PROMs case-mix adjustment)
therefore compare each clinician's *observed* outcomes with the outcomes *expected* for
her patients, from a model fitted over all clinicians. This module fits that model:

* ``outcome="improvement"``: ordinary least squares of the improvement in the measure
  (baseline − later for lower-is-better measures) on the case-mix variables; the expected
  value of an episode is its fitted value. (With the baseline score among the covariates
  this is the same model as one of the later value: only the sign of the baseline
  coefficient and of the residuals changes.)
* ``outcome="responder"``: logistic regression of responder status (improvement ≥ the
  measure's MCID); the expected value is the fitted probability.

The model is fitted on a declared *reference window* (episodes whose ``end_date`` falls in
it) and can then be applied to any period (:func:`dnoutcomes.qi.benchmark.benchmark`).

Case-mix variables
------------------
``covariates`` names, each one of:

* ``"age"``, ``"symptom_weeks"`` — numbers (linear terms);
* ``"sex"``, ``"condition"``, ``"chronicity"`` — categories (one indicator per level but
  the reference level: the first in the fitting data's order, categories' own order for
  ordered ones);
* ``"baseline"`` — the baseline value of the measure itself; ``"baseline:<measure>"`` the
  baseline value of another measure (``"baseline:odi"``);
* ``"contraindications"`` — 1 when the patient has any recorded contraindication, else 0;
* any other column of the episodes or patients table (extra columns): a number when it is
  numeric or boolean, else a category.

Episodes missing any covariate, or at a category level the fitting data never saw, get no
expected value and are left out (counted in ``notes``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import stats

from dnoutcomes._encode import encode_shared
from dnoutcomes.cohort import get_measure, improvement_of
from dnoutcomes.cohort._codes import episode_codes, episode_values
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi._casemix_design import (
    _calibration,
    _column_of,
    _Design,
    _design,
    c_statistic,
)
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "DEFAULT_COVARIATES",
    "CaseMixModel",
    "CaseMixOutcome",
    "DateLike",
    "c_statistic",
    "casemix_frame",
    "fit_casemix",
]

#: What the case-mix model predicts.
CaseMixOutcome = Literal["improvement", "responder"]
#: A date given by the caller: ``"2025-07-01"``, a date or a Timestamp.
DateLike = str | dt.date | pd.Timestamp

#: The case-mix variables used when none are declared.
DEFAULT_COVARIATES: tuple[str, ...] = (
    "age",
    "sex",
    "condition",
    "chronicity",
    "symptom_weeks",
    "contraindications",
    "baseline",
)

_LATER_TIMEPOINTS = ("discharge", "followup_4w", "followup_12w", "followup_26w", "followup_52w")


def _values_at(dataset: Dataset, measure: str, timepoint: str) -> np.ndarray:
    """Each episode's (row of ``dataset.episodes``) first non-missing value of ``measure``
    at ``timepoint``, NaN when none: read off the per-episode wide table shared with the
    analyses and QI charts (:func:`dnoutcomes.cohort._codes.episode_values`), the same
    numbers as ``groupby("episode_id").first()`` without scanning the outcome rows."""
    wide = episode_values(dataset, measure, timepoint)
    return np.asarray(wide[episode_codes(dataset, "episodes")], dtype=float)


def _any_listed(lists: pd.Series) -> np.ndarray:
    """1.0 where an entry is a non-empty tuple or list, 0.0 where empty, NaN otherwise:
    decided once per distinct entry (a handful of combinations) and spread back by their
    codes, not once per row in Python."""
    values = lists.to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # a list cannot be hashed: look it up as a tuple
        as_tuples = [tuple(v) if isinstance(v, list) else v for v in values]
        codes, uniques = pd.factorize(pd.Series(as_tuples, dtype=object).to_numpy())
    flags = np.array(
        [float(len(v) > 0) if isinstance(v, tuple) else np.nan for v in uniques] + [np.nan]
    )
    return flags[codes]


def _with_patients(episodes: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    """``episodes.merge(patients[cols], on="patient_id", how="left", validate="m:1")``,
    ``cols`` the patients' columns the episodes lack (and ``patient_id``).

    The usual case — patients' ids unique, every episode's patient among them — is a
    positional join: the two id columns are encoded together once
    (:func:`dnoutcomes._encode.encode_shared`, no text hashed for a sorted export) and the
    patients' rows taken in episode order, the same frame (columns, dtypes, values, a
    fresh ``RangeIndex``) as the merge without hashing a million text keys. Anything else
    (a duplicate patient id, an episode whose patient is missing) goes to the merge itself,
    for its own result or error."""
    cols = [c for c in patients.columns if c not in episodes.columns or c == "patient_id"]
    (own, wanted), ids = encode_shared([patients["patient_id"], episodes["patient_id"]])
    if len(own) and own.min() >= 0 and not (np.bincount(own) > 1).any():
        lookup = np.full(len(ids) + 1, -1, dtype=np.intp)  # the last entry: code -1
        lookup[own] = np.arange(len(own))
        rows = lookup[wanted]
        if len(rows) == 0 or rows.min() >= 0:
            left = episodes.reset_index(drop=True)
            right = patients[[c for c in cols if c != "patient_id"]].take(rows)
            return pd.concat([left, right.reset_index(drop=True)], axis=1)
    return episodes.merge(patients[cols], on="patient_id", how="left", validate="m:1")


def casemix_frame(
    dataset: Dataset,
    *,
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = DEFAULT_COVARIATES,
) -> pd.DataFrame:
    """Every episode (all arms) with its case-mix variables, baseline and later value.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    measure
        A registered measure with an MCID in points (default ``"nprs"``).
    timepoint
        The later timepoint (``"discharge"`` or a follow-up).
    covariates
        Case-mix variables (see the module docstring); ``"baseline:<m>"`` adds the column
        ``baseline_<m>``.

    Returns
    -------
    pandas.DataFrame
        One row per episode: the episodes table's columns, the patients' (``age``, ``sex``,
        ``condition``, ``symptom_weeks``, ``chronicity``, ``contraindications`` and extra
        ones), ``contraindicated`` (float 0/1), ``baseline`` and ``value`` (float, the
        measure at baseline and at ``timepoint``), ``improvement`` (float, positive =
        better), ``responder`` (float 1/0, improvement ≥ MCID; NaN when improvement is
        missing), ``baseline_<m>`` for each ``baseline:<m>`` asked for.

    Raises
    ------
    RequestError
        For an unknown measure, a measure without an MCID in points, or a timepoint that
        is not a later one.
    """
    spec = get_measure(dataset, measure)
    mcid = getattr(spec, "mcid_points", None)
    if mcid is None or not np.isfinite(mcid):
        raise RequestError(
            f"case mix: measure {measure!r} has no MCID in points, so responders cannot be "
            "counted; expected a measure with one (nprs, odi, rmdq). Choose another measure."
        )
    if timepoint not in _LATER_TIMEPOINTS:
        raise RequestError(
            f"case mix: timepoint {timepoint!r} is not a later timepoint; expected one of "
            f"{', '.join(_LATER_TIMEPOINTS)}."
        )
    episodes = dataset.episodes
    patients = dataset.patients
    frame = _with_patients(episodes, patients)
    if "contraindications" in frame.columns:
        frame["contraindicated"] = _any_listed(frame["contraindications"])
    frame["baseline"] = _values_at(dataset, measure, "baseline")
    frame["value"] = _values_at(dataset, measure, timepoint)
    frame["improvement"] = improvement_of(spec, frame["baseline"], frame["value"])
    frame["responder"] = (frame["improvement"] >= float(mcid)).astype(float)
    frame.loc[frame["improvement"].isna(), "responder"] = np.nan
    for name in covariates:
        if name.startswith("baseline:"):
            other = name.split(":", 1)[1]
            get_measure(dataset, other)
            frame[_column_of(name)] = _values_at(dataset, other, "baseline")
    return frame


def _to_timestamp(value: DateLike | None, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise RequestError(
            f"case mix: {what} must be a date such as '2025-01-01'; got {value!r}."
        ) from None


def _in_window(
    frame: pd.DataFrame, window: tuple[DateLike | None, DateLike | None] | None
) -> tuple[pd.Series, tuple[str | None, str | None]]:
    if window is None:
        return pd.Series(True, index=frame.index), (None, None)
    if len(window) != 2:
        raise RequestError(
            f"case mix: window must be (start, end); got {window!r}. Use None for open ends."
        )
    start, end = _to_timestamp(window[0], "window start"), _to_timestamp(window[1], "window end")
    if start is not None and end is not None and start > end:
        raise RequestError(f"case mix: window start {start.date()} is after end {end.date()}.")
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["end_date"] >= start
    if end is not None:
        keep &= frame["end_date"] <= end
    text = (
        None if start is None else str(start.date()),
        None if end is None else str(end.date()),
    )
    return keep.fillna(False), text


@table_alias("coefficients")
@dataclass(frozen=True, repr=False)
class CaseMixModel(ResultMixin):
    """A fitted case-mix model: coefficients, calibration and fit, and how to apply it.

    Attributes
    ----------
    coefficients
        One row per term (``(intercept)``, numeric covariates, ``column[level]`` for
        category levels): ``term, estimate, std_error, statistic, df, p_value, conf_low,
        conf_high`` (t statistics and df for OLS; z and df NaN for the logistic model).
    calibration
        Observed against expected by decile of the expected value, on the fitting data:
        ``decile`` (1–10), ``n``, ``mean_expected``, ``mean_observed`` (floats).
    fit
        ``n`` (episodes fitted), ``r_squared`` and ``sigma`` (residual SD) for OLS;
        ``c_statistic`` and ``brier`` for the logistic model; NaN where not applicable.
    measure, timepoint, outcome, covariates, window, conf_level, mcid
        What was fitted: ``window`` as ISO dates (``None`` = open end).
    design
        The fixed mapping from covariates to columns (numeric columns, category levels).
    episodes_used
        Ids of the fitting episodes.
    notes
        Who was left out and why.
    """

    coefficients: pd.DataFrame
    calibration: pd.DataFrame
    fit: Mapping[str, float]
    measure: str
    timepoint: str
    outcome: CaseMixOutcome
    covariates: tuple[str, ...]
    window: tuple[str | None, str | None]
    conf_level: float
    mcid: float
    design: _Design = field(repr=False)
    episodes_used: tuple[str, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        kind = "linear (OLS)" if self.outcome == "improvement" else "logistic"
        what = f"{self.measure} {self.outcome} at {self.timepoint}"
        return f"Case-mix model, {kind}: {what} (n = {int(self.fit['n'])})"

    def expected(self, frame: pd.DataFrame) -> pd.Series:
        """Expected value of each row of ``frame`` (a :func:`casemix_frame`).

        Returns
        -------
        pandas.Series
            Expected improvement (OLS) or probability of response (logistic), aligned
            with ``frame``; NaN where a covariate is missing or a category level was not
            seen when fitting.
        """
        x, ok = self.design.matrix(frame)
        beta = self._frame["estimate"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            eta = x @ beta
        if self.outcome == "responder":
            eta = 1.0 / (1.0 + np.exp(-eta))
        return pd.Series(np.where(ok, eta, np.nan), index=frame.index, name="expected")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what was fitted, ``fit``, ``coefficients`` and ``calibration``
        (records)."""
        return {
            "measure": self.measure,
            "timepoint": self.timepoint,
            "outcome": self.outcome,
            "covariates": list(self.covariates),
            "window": list(self.window),
            "conf_level": self.conf_level,
            "fit": jsonable(dict(self.fit)),
            "coefficients": jsonable(self._frame.to_dict(orient="records")),
            "calibration": jsonable(self.calibration.to_dict(orient="records")),
        }


def fit_casemix(
    dataset: Dataset | pd.DataFrame,
    *,
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    outcome: CaseMixOutcome = "improvement",
    window: tuple[DateLike | None, DateLike | None] | None = None,
    conf_level: float = 0.95,
    mcid: float | None = None,
) -> CaseMixModel:
    """Fit the case-mix model on the reference window.

    Parameters
    ----------
    dataset
        A loaded Dataset, or a frame from :func:`casemix_frame` (then ``mcid`` must be
        given for ``notes``; responders are read from its ``responder`` column).
    measure, timepoint
        The outcome measure and the later timepoint (``[casemix]`` of the protocol).
    covariates
        Case-mix variables (see the module docstring); default
        :data:`DEFAULT_COVARIATES`.
    outcome
        ``"improvement"`` (OLS) or ``"responder"`` (logistic).
    window
        ``(start, end)`` dates: fit on episodes whose ``end_date`` is in ``[start, end]``
        (either may be ``None``); default all episodes.
    conf_level
        Coverage of the coefficients' intervals.
    mcid
        The responder threshold, only when a frame is passed (recorded on the model).

    Returns
    -------
    CaseMixModel
        ``coefficients``, ``calibration``, ``fit``, and :meth:`CaseMixModel.expected`.

    Raises
    ------
    RequestError
        For an unknown covariate, measure or timepoint, an unreadable window, or an
        ``outcome`` that is neither option.
    InsufficientDataError
        When fewer episodes than terms + 2 have the outcome and every covariate, or (for
        the logistic model) when everyone or no one responded.

    Notes
    -----
    OLS: estimates, SEs and t-intervals as R's ``lm``; ``r_squared`` and ``sigma`` (the
    residual SD, ``√(RSS/(n − p))``). Logistic: maximum likelihood (IRLS, as R's ``glm``),
    Wald z intervals; ``c_statistic`` by the rank (Mann–Whitney) formula; ``brier`` the
    mean squared difference of responder status and probability. Calibration groups the
    fitting episodes by tenths of their expected value (ties broken by row order).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> model = fit_casemix(dataset, covariates=("age", "chronicity", "baseline"))
    >>> model.table["term"].tolist()
    ['(intercept)', 'age', 'chronicity[subacute]', 'chronicity[chronic]', 'baseline']
    >>> int(model.fit["n"])
    256
    """
    if outcome not in ("improvement", "responder"):
        raise RequestError(
            f"case mix: outcome must be 'improvement' or 'responder'; got {outcome!r}."
        )
    if not 0 < conf_level < 1:
        raise RequestError(f"case mix: conf_level must be between 0 and 1; got {conf_level!r}.")
    covariates = tuple(covariates)
    if isinstance(dataset, pd.DataFrame):
        frame = dataset
        threshold = float("nan") if mcid is None else float(mcid)
    else:
        frame = casemix_frame(dataset, measure=measure, timepoint=timepoint, covariates=covariates)
        threshold = float(get_measure(dataset, measure).mcid_points)  # type: ignore[arg-type]
    return _fit_frame(
        frame,
        measure=measure,
        timepoint=timepoint,
        covariates=covariates,
        outcome=outcome,
        window=window,
        conf_level=conf_level,
        threshold=threshold,
    )[0]


def _fit_frame(
    frame: pd.DataFrame,
    *,
    measure: str,
    timepoint: str,
    covariates: tuple[str, ...],
    outcome: CaseMixOutcome,
    window: tuple[DateLike | None, DateLike | None] | None,
    conf_level: float,
    threshold: float,
    ids: NDArray[np.object_] | None = None,
) -> tuple[CaseMixModel, NDArray[np.bool_]]:
    """:func:`fit_casemix` of a case-mix frame, and which of its rows were fitted.

    For a caller that reads the fitting rows again (the report counts the category levels
    fitted): the rows come back as a mask, rather than looked up again by their ids. With
    ``ids`` (``frame``'s episode ids as an object array of the interned strings of
    ``id_tuple(frame["episode_id"])``), ``episodes_used`` is a selection of them, the same
    strings, instead of the fitted rows' ids converted again.
    """
    keep, window_text = _in_window(frame, window)
    notes: list[str] = []
    # only the columns the model reads, taken with the window's rows in one copy (not every
    # column of a million episodes); every covariate's column must be there, else the
    # whole frame goes to _design for its error naming the columns there are
    wanted = list(dict.fromkeys([outcome, *map(_column_of, covariates), "episode_id"]))
    if all(_column_of(name) in frame.columns for name in covariates):
        inside = frame.loc[keep, [c for c in wanted if c in frame.columns]]
    else:
        inside = frame.loc[keep]
    y_all = inside[outcome].astype(float).to_numpy()
    design = _design(inside.loc[np.isfinite(y_all)], covariates)
    x, ok = design.matrix(inside)
    use = ok & np.isfinite(y_all)
    missing_y = int((~np.isfinite(y_all)).sum())
    if missing_y:
        what = "an improvement" if outcome == "improvement" else "a responder status"
        notes.append(f"{missing_y} episode(s) in the window without {what} were left out.")
    missing_x = int((np.isfinite(y_all) & ~ok).sum())
    if missing_x:
        notes.append(f"{missing_x} episode(s) missing a case-mix variable were left out.")
    x, y = x[use], y_all[use]
    if y.size:
        design = design.without_aliased(x)
        if design.aliased:
            x = design.matrix(inside.loc[use])[0]
            notes.append(
                f"Left out of the model because the fitting data cannot identify them (no "
                f"variation, or the same as other terms): {', '.join(design.aliased)}."
            )
    p = x.shape[1]
    if y.size < p + 2:
        raise InsufficientDataError(
            f"case mix: the model has {p} terms but only {y.size} episodes in the window have "
            f"the {outcome} and every covariate; expected at least {p + 2}. Widen the window "
            "or declare fewer covariates."
        )
    level = conf_level
    if outcome == "improvement":
        res = sm.OLS(y, x).fit()
        df = float(res.df_resid)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        fitted = res.fittedvalues
        fit = {
            "n": float(y.size),
            "r_squared": float(res.rsquared),
            "sigma": float(np.sqrt(res.scale)),
            "c_statistic": float("nan"),
            "brier": float("nan"),
        }
    else:
        if y.min() == y.max():
            raise InsufficientDataError(
                "case mix: every episode in the window has the same responder status; a "
                "logistic model needs both. Widen the window."
            )
        res = sm.GLM(y, x, family=sm.families.Binomial()).fit()
        df = float("nan")
        crit = float(stats.norm.ppf(0.5 + level / 2))
        fitted = res.fittedvalues
        extreme = [
            term
            for term, b, se in zip(design.terms, res.params, res.bse, strict=True)
            if abs(b) > 10 or se > 100
        ]
        if extreme:
            notes.append(
                "The logistic model shows (quasi-)separation: every episode of "
                f"{', '.join(extreme)} has the same responder status, so its coefficient is "
                "not identified (huge estimate and SE); expected values are still usable, "
                "but consider merging rare categories."
            )
        fit = {
            "n": float(y.size),
            "r_squared": float("nan"),
            "sigma": float("nan"),
            "c_statistic": c_statistic(y, fitted),
            "brier": float(np.mean((y - fitted) ** 2)),
        }
    fitted_rows = np.zeros(len(frame), dtype=bool)
    fitted_rows[np.flatnonzero(keep.to_numpy(dtype=bool))[use]] = True
    if "episode_id" not in inside.columns:
        episodes_used: tuple[str, ...] = ()
    elif ids is not None:
        episodes_used = tuple(ids[fitted_rows])
    else:
        episodes_used = id_tuple(inside.loc[use, "episode_id"])
    est = np.asarray(res.params, dtype=float)
    se = np.asarray(res.bse, dtype=float)
    coefficients = pd.DataFrame(
        {
            "term": list(design.terms),
            "estimate": est,
            "std_error": se,
            "statistic": est / se,
            "df": df,
            "p_value": np.asarray(res.pvalues, dtype=float),
            "conf_low": est - crit * se,
            "conf_high": est + crit * se,
        }
    )[list(TIDY_COLUMNS)]
    return CaseMixModel(
        coefficients=coefficients,
        calibration=_calibration(y, np.asarray(fitted, dtype=float)),
        fit=MappingProxyType(fit),
        measure=measure,
        timepoint=timepoint,
        outcome=outcome,
        covariates=covariates,
        window=window_text,
        conf_level=conf_level,
        mcid=threshold,
        design=design,
        episodes_used=episodes_used,
        notes=tuple(notes),
    ), fitted_rows
