"""Case-mix-adjusted benchmarking of therapists and sites (analysis plan, section 10).

Each unit's episodes are compared with what a case-mix model
(:func:`dnoutcomes.qi.casemix.fit_casemix`) expects for those same patients:

* improvement model: the unit's mean of observed − expected improvement, with a
  t-interval (``mean ± t(n − 1) × SD/√n``, the unit's own SD); 0 means "as expected";
* responder model: the same mean (observed share − expected share), and the ratio of
  observed to expected responders ``ΣO / ΣE`` with a normal interval
  ``ΣO/ΣE ± z √V / ΣE``, ``V = Σ p̂(1 − p̂)``; 1 means "as expected".

Beside them, two funnel plots with Spiegelhalter's overdispersion correction
(:mod:`dnoutcomes.qi.overdispersion`): the adjusted indicator (mean O − E, or O/E) and the
raw one (mean improvement around the overall mean, or the share of responders), so the
reader sees what adjustment changed.

Small numbers: a unit with fewer than ``min_cell`` episodes is *suppressed* — its row is
kept with ``suppressed`` True and every figure withheld (NaN/NA, ``n`` included), and it is
left out of both funnels. For the responder model a unit is also suppressed when its
responders or non-responders number from 1 to ``min_cell − 1`` (either could be worked back
from the ratio and its expected count), as :func:`dnoutcomes.qi.suppress_counts` hides such
counts everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.casemix import CaseMixModel, DateLike, _in_window, casemix_frame
from dnoutcomes.qi.cells import is_small
from dnoutcomes.qi.overdispersion import (
    OverdispersedFunnel,
    Overdispersion,
    mean_funnel,
    proportion_funnel,
    ratio_funnel,
)
from dnoutcomes.qi.suppress import DEFAULT_THRESHOLD
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from dnoutcomes.dataset import Dataset

__all__ = ["BENCHMARK_COLUMNS", "BenchmarkResult", "BenchmarkUnit", "benchmark"]

#: What a unit is.
BenchmarkUnit = Literal["therapist_id", "site_id"]

#: The columns of :attr:`BenchmarkResult.frame`, in this order.
BENCHMARK_COLUMNS: tuple[str, ...] = (
    "unit",
    "n",
    "observed",
    "expected",
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "conf_low",
    "conf_high",
    "observed_events",
    "expected_events",
    "oe_ratio",
    "oe_conf_low",
    "oe_conf_high",
    "suppressed",
)

_UNIT_WORD = {"therapist_id": "therapist", "site_id": "site"}


@dataclass(frozen=True, repr=False)
class BenchmarkResult(ResultMixin):
    """Observed against expected per therapist or site, and the two funnels.

    Attributes
    ----------
    frame
        One row per unit (sorted by ``unit``), columns :data:`BENCHMARK_COLUMNS`:
        ``unit`` (str), ``n`` (Int64 episodes; NA when suppressed), ``observed`` and
        ``expected`` (mean observed and expected value: points of improvement, or shares
        of responders), ``estimate`` (mean O − E), ``std_error``, ``statistic`` (t),
        ``df`` (n − 1), ``p_value``, ``conf_low``, ``conf_high`` (t-interval);
        ``observed_events``, ``expected_events``, ``oe_ratio``, ``oe_conf_low``,
        ``oe_conf_high`` (responder model only, else NaN); ``suppressed`` (bool).
    adjusted, raw
        :class:`~dnoutcomes.qi.overdispersion.OverdispersedFunnel` of the adjusted and the
        unadjusted indicator (units not suppressed); ``None`` when no unit is left.
    measure, timepoint, outcome, by, period, min_cell, conf_level
        What was compared (``period`` as ISO dates, ``None`` = open).
    model_window
        The case-mix model's reference window.
    episodes_used
        Ids of the episodes with an observed and an expected value in the period.
    notes
        Who was left out and why.
    """

    frame: pd.DataFrame
    adjusted: OverdispersedFunnel | None
    raw: OverdispersedFunnel | None
    measure: str
    timepoint: str
    outcome: str
    by: str
    period: tuple[str | None, str | None]
    min_cell: int
    conf_level: float
    model_window: tuple[str | None, str | None]
    episodes_used: tuple[str, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def unit_label(self) -> str:
        """``"therapist"`` or ``"site"``."""
        return _UNIT_WORD.get(self.by, self.by)

    @property
    def title(self) -> str:  # type: ignore[override]
        what = "improvement" if self.outcome == "improvement" else "responders"
        return (
            f"Case-mix adjusted benchmarking: {self.measure} {what} at {self.timepoint}, "
            f"observed − expected per {self.unit_label}"
        )

    def flagged(self, *, adjusted: bool = True, outer: bool = True) -> tuple[str, ...]:
        """Units beyond the outer (99.8 %) — or, with ``outer=False``, the inner (95 %) —
        limits of the adjusted (default) or raw funnel."""
        funnel = self.adjusted if adjusted else self.raw
        if funnel is None:
            return ()
        column = "outside_outer" if outer else "outside_inner"
        return tuple(funnel.frame.loc[funnel.frame[column], "unit"].astype(str))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what was compared, ``units`` (records of the frame; suppressed rows
        have ``null`` figures) and the two funnels (``adjusted``, ``raw``)."""
        return {
            "measure": self.measure,
            "timepoint": self.timepoint,
            "outcome": self.outcome,
            "by": self.by,
            "period": list(self.period),
            "model_window": list(self.model_window),
            "min_cell": self.min_cell,
            "conf_level": self.conf_level,
            "units": jsonable(self.frame.to_dict(orient="records")),
            "adjusted": None if self.adjusted is None else self.adjusted.to_dict(),
            "raw": None if self.raw is None else self.raw.to_dict(),
            "notes": list(self.notes),
        }

    def plot(self, ax: Any = None) -> Figure:
        """Draw the adjusted and the raw funnel side by side (see
        :func:`dnoutcomes.plots.benchmark.plot_benchmark`)."""
        from dnoutcomes.plots.benchmark import plot_benchmark

        return plot_benchmark(self, axes=ax)

    def plot_adjusted(self, ax: Axes | None = None) -> Axes:
        """Draw the adjusted funnel alone."""
        from dnoutcomes.plots.benchmark import plot_overdispersed_funnel

        if self.adjusted is None:
            raise InsufficientDataError("benchmark: no unit is left to draw (all suppressed).")
        return plot_overdispersed_funnel(self.adjusted, ax=ax)


def _unit_table(
    frame: pd.DataFrame, by: str, outcome: str, conf_level: float, min_cell: int
) -> pd.DataFrame:
    grouped = frame.groupby(by, sort=True, observed=True)
    diff = frame["observed"] - frame["expected"]
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "observed": grouped["observed"].mean(),
            "expected": grouped["expected"].mean(),
            "estimate": diff.groupby(frame[by], observed=True).mean(),
            "sd": diff.groupby(frame[by], observed=True).std(ddof=1),
        }
    )
    n = table["n"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = table["sd"].to_numpy() / np.sqrt(n)
        df = n - 1.0
        tstat = table["estimate"].to_numpy() / se
        crit = stats.t.ppf(0.5 + conf_level / 2, np.where(df > 0, df, np.nan))
        p_value = 2 * stats.t.sf(np.abs(tstat), np.where(df > 0, df, np.nan))
    table["std_error"] = se
    table["statistic"] = tstat
    table["df"] = df
    table["p_value"] = p_value
    table["conf_low"] = table["estimate"] - crit * se
    table["conf_high"] = table["estimate"] + crit * se
    if outcome == "responder":
        events = grouped["observed"].sum()
        expected = grouped["expected"].sum()
        variance = (
            (frame["expected"] * (1 - frame["expected"])).groupby(frame[by], observed=True).sum()
        )
        z = float(stats.norm.ppf(0.5 + conf_level / 2))
        table["observed_events"] = events.astype(float)
        table["expected_events"] = expected
        table["oe_ratio"] = events / expected
        table["oe_conf_low"] = (events - z * np.sqrt(variance)) / expected
        table["oe_conf_high"] = (events + z * np.sqrt(variance)) / expected
        table["variance"] = variance
        hide = (
            (table["n"] < min_cell)
            | is_small(events, min_cell)
            | is_small(table["n"] - events, min_cell)
        )
    else:
        for col in ("observed_events", "expected_events", "oe_ratio", "oe_conf_low"):
            table[col] = np.nan
        table["oe_conf_high"] = np.nan
        table["variance"] = np.nan
        hide = table["n"] < min_cell
    table["suppressed"] = hide.to_numpy(dtype=bool)
    table = table.rename_axis("unit").reset_index()
    table["unit"] = table["unit"].astype(str)
    return table


def benchmark(
    data: Dataset | pd.DataFrame,
    model: CaseMixModel,
    *,
    by: BenchmarkUnit = "therapist_id",
    period: tuple[DateLike | None, DateLike | None] | None = None,
    min_cell: int = DEFAULT_THRESHOLD,
    conf_level: float = 0.95,
    overdispersion: Overdispersion = "additive",
    inner_level: float = 0.95,
    outer_level: float = 0.998,
) -> BenchmarkResult:
    """Compare each therapist's (or site's) outcomes with those expected for her patients.

    Parameters
    ----------
    data
        A loaded Dataset, or a frame from :func:`dnoutcomes.qi.casemix.casemix_frame`
        (the same measure and timepoint as the model).
    model
        The fitted case-mix model (:func:`dnoutcomes.qi.casemix.fit_casemix`).
    by
        ``"therapist_id"`` (default) or ``"site_id"``.
    period
        ``(start, end)``: only episodes whose ``end_date`` falls in it (the report
        period); default all.
    min_cell
        Units with fewer episodes are suppressed (default 11, as everywhere).
    conf_level
        Coverage of each unit's interval.
    overdispersion
        Funnel limits: ``"additive"`` (default), ``"multiplicative"`` or ``"none"``.
    inner_level, outer_level
        Coverage of the two funnels (0.95, 0.998).

    Returns
    -------
    BenchmarkResult
        ``frame`` (one row per unit), ``adjusted`` and ``raw`` funnels, ``notes``.

    Raises
    ------
    RequestError
        For ``by`` that is not a column, a bad period, or ``min_cell`` below 1.
    InsufficientDataError
        When no episode in the period has both an observed and an expected value.

    Notes
    -----
    Observed ``O`` is the model's outcome (improvement, or responder 1/0), expected ``E``
    the model's prediction. The improvement funnels use ``s = SD/√n`` with the SD of
    O − E (adjusted) or of O (raw) over all episodes of the period; the raw funnel is
    centred on the overall mean improvement. The responder funnels are the O/E ratio
    (adjusted, against expected responders) and the share of responders on the arcsine
    scale (raw, against episodes).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.qi.casemix import fit_casemix
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> model = fit_casemix(dataset, covariates=("age", "chronicity", "baseline"))
    >>> result = benchmark(dataset, model)
    >>> result.frame[["unit", "n", "suppressed"]].head(3)
              unit   n  suppressed
    0  central_pt1  24       False
    1  central_pt2  25       False
    2  central_pt3  23       False
    """
    if min_cell < 1:
        raise RequestError(f"benchmark: min_cell must be at least 1; got {min_cell!r}.")
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        frame = casemix_frame(
            data, measure=model.measure, timepoint=model.timepoint, covariates=model.covariates
        )
    return _benchmark_frame(
        frame,
        model,
        by=by,
        period=period,
        min_cell=min_cell,
        conf_level=conf_level,
        overdispersion=overdispersion,
        inner_level=inner_level,
        outer_level=outer_level,
    )


def _benchmark_frame(
    frame: pd.DataFrame,
    model: CaseMixModel,
    *,
    by: str = "therapist_id",
    period: tuple[DateLike | None, DateLike | None] | None = None,
    min_cell: int = DEFAULT_THRESHOLD,
    conf_level: float = 0.95,
    overdispersion: Overdispersion = "additive",
    inner_level: float = 0.95,
    outer_level: float = 0.998,
    expected: pd.Series | None = None,
    ids: NDArray[np.object_] | None = None,
) -> BenchmarkResult:
    """:func:`benchmark` of a case-mix frame, for a caller comparing several units over the
    same rows (the report), who can hand over what does not depend on the unit:

    ``expected``
        ``model.expected(frame)``, computed once for every unit rather than once each
        (the same numbers: the same rows through the same model).
    ``ids``
        ``frame``'s episode ids as one object array of the (interned) strings of
        ``id_tuple(frame["episode_id"])``: each result's ``episodes_used`` is then a
        selection of them, the same strings, instead of a million ids converted again.
    """
    if min_cell < 1:
        raise RequestError(f"benchmark: min_cell must be at least 1; got {min_cell!r}.")
    if by not in frame.columns:
        raise RequestError(
            f"benchmark: by must name a column such as 'therapist_id' or 'site_id'; got {by!r}."
        )
    keep, period_text = _in_window(frame, period)
    rows = keep.to_numpy(dtype=bool)
    frame = frame.loc[keep]
    observed = frame[model.outcome].astype(float)
    if expected is None:
        expected = model.expected(frame)
    else:
        values = np.asarray(expected, dtype=float)[rows]
        expected = pd.Series(values, index=frame.index, name="expected")
    ok = np.isfinite(observed) & np.isfinite(expected) & frame[by].notna()
    notes: list[str] = []
    lost = int((np.isfinite(observed) & ~np.isfinite(expected)).sum())
    if lost:
        notes.append(
            f"{lost} episode(s) without an expected value (a case-mix variable missing or a "
            "category the model never saw) were left out."
        )
    if not ok.any():
        raise InsufficientDataError(
            "benchmark: no episode in the period has both an observed and an expected "
            f"{model.outcome}; check the period and the case-mix variables."
        )
    used = pd.DataFrame(
        {
            by: frame.loc[ok, by].astype(str),
            "observed": observed[ok],
            "expected": expected[ok],
        }
    )
    table = _unit_table(used, by, model.outcome, conf_level, min_cell)
    shown = table.loc[~table["suppressed"]]
    word = _UNIT_WORD.get(by, by)
    hidden = int(table["suppressed"].sum())
    if hidden:
        notes.append(
            f"{hidden} {word}(s) with fewer than {min_cell} episodes"
            + (" or responders or non-responders" if model.outcome == "responder" else "")
            + " are suppressed and left out of the funnels."
        )
    adjusted: OverdispersedFunnel | None = None
    raw: OverdispersedFunnel | None = None
    name = model.measure.upper() if len(model.measure) <= 5 else model.measure
    if len(shown):
        common: dict[str, Any] = {
            "units": shown["unit"].tolist(),
            "overdispersion": overdispersion,
            "inner_level": inner_level,
            "outer_level": outer_level,
            "unit_label": word,
        }
        if model.outcome == "improvement":
            sd_diff = float((used["observed"] - used["expected"]).std(ddof=1))
            sd_raw = float(used["observed"].std(ddof=1))
            adjusted = mean_funnel(
                shown["estimate"],
                shown["n"],
                sd=sd_diff,
                target=0.0,
                label=f"{name} improvement, observed − expected (points)",
                adjusted=True,
                **common,
            )
            raw = mean_funnel(
                shown["observed"],
                shown["n"],
                sd=sd_raw,
                target=float(used["observed"].mean()),
                label=f"mean {name} improvement (points)",
                **common,
            )
        else:
            adjusted = ratio_funnel(
                shown["observed_events"],
                shown["expected_events"],
                shown["variance"],
                n=shown["n"],
                label=f"{name} responders, observed / expected",
                **common,
            )
            raw = proportion_funnel(
                shown["observed_events"],
                shown["n"],
                target=float(used["observed"].mean()),
                label=f"{name} responders",
                **common,
            )
    out = table.drop(columns=["sd", "variance"])
    figures = [c for c in BENCHMARK_COLUMNS if c not in ("unit", "suppressed")]
    out.loc[out["suppressed"], figures] = np.nan
    out["n"] = out["n"].astype("Int64")
    out = out[list(BENCHMARK_COLUMNS)].reset_index(drop=True)
    if ids is not None:
        episodes_used = tuple(ids[rows][ok.to_numpy(dtype=bool)])
    elif "episode_id" in frame.columns:
        episodes_used = id_tuple(frame.loc[ok, "episode_id"])
    else:
        episodes_used = ()
    return BenchmarkResult(
        frame=out,
        adjusted=adjusted,
        raw=raw,
        measure=model.measure,
        timepoint=model.timepoint,
        outcome=model.outcome,
        by=by,
        period=period_text,
        min_cell=int(min_cell),
        conf_level=conf_level,
        model_window=model.window,
        episodes_used=episodes_used,
        notes=tuple(notes),
    )
