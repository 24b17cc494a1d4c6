"""Section 4 of the analysis plan: time to response, by Kaplan–Meier per arm and the
log-rank test, written in NumPy to reproduce R's ``survfit`` (``conf.type = "log"``, its
quantile rules) and ``survdiff``.

:func:`kaplan_meier`, :func:`km_quantile` and :func:`logrank_test` work on arrays (they
live in the private ``_km`` module and are re-exported here); :func:`response_times` builds
the per-episode times from a dataset and :func:`compare_time_to_response` runs the section.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.cohort._codes import (
    comparison_rows,
    comparison_values,
    measure_mask,
    timepoint_mask,
)
from dnoutcomes.contract.specs import TIMEPOINTS
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, check_threshold
from dnoutcomes.stats._km import LogrankResult, kaplan_meier, km_quantile, logrank_test
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.contract.measures import Measure
    from dnoutcomes.dataset import Dataset

__all__ = [
    "LogrankResult",
    "TimeToResponseResult",
    "compare_time_to_response",
    "kaplan_meier",
    "km_quantile",
    "logrank_test",
    "response_times",
]

# doctest.testmod(survival) also runs the examples of the re-exported array functions.
__test__ = {"kaplan_meier": kaplan_meier, "km_quantile": km_quantile}


#: Post-baseline timepoints of the plan's time-to-response analysis.
RESPONSE_TIMEPOINTS: tuple[str, ...] = ("session", "discharge")


def _check_response_timepoints(timepoints: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(timepoints)
    bad = [t for t in chosen if t not in TIMEPOINTS or t == "baseline"]
    if bad or not chosen:
        raise RequestError(
            f"time to response: timepoints {bad or list(chosen)!r} cannot be responses; "
            f"expected post-baseline timepoints among {', '.join(TIMEPOINTS[1:])}."
        )
    return chosen


def _response_threshold(spec: Measure, threshold: float | None) -> float:
    """The improvement that counts as a response: ``threshold``, else the MCID in points."""
    check_threshold(threshold, where=f"time to response of {spec.name}")
    cut = threshold if threshold is not None else spec.mcid_points
    if cut is None:
        raise RequestError(
            f"time to response of {spec.name}: the measure has no MCID in points; pass "
            "threshold= (the improvement that counts as a response)."
        )
    return float(cut)


def response_times(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    threshold: float | None = None,
    timepoints: Sequence[str] = RESPONSE_TIMEPOINTS,
) -> pd.DataFrame:
    """Days from the start of each episode to the first response, or to censoring.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure
        A registered measure with an MCID in points.
    threshold
        Improvement that counts as a response; default the measure's MCID in points.
    timepoints
        The post-baseline timepoints whose values can be a response (default ``session``
        and ``discharge``; follow-ups may be added).

    Returns
    -------
    pandas.DataFrame
        One row per comparison episode with a baseline value and at least one
        post-baseline value: ``episode_id``, ``arm``, ``treated``, ``time`` (days, float),
        ``event`` (int: 1 = responded at ``time``, 0 = censored at the last post-baseline
        value), ``n_values`` (post-baseline values seen).

    Raises
    ------
    RequestError
        Unknown arm or measure, a measure without an MCID in points and no threshold, or
        a threshold that is not a finite number above 0.

    Notes
    -----
    Post-baseline values are those at ``timepoints``; time = assessment date
    − episode start date, in days (a value dated before the start counts as day 0).
    Improvement is direction-aware. Episodes without a baseline value or without any
    post-baseline value are left out.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> times = response_times(dataset)
    >>> list(times.columns)
    ['episode_id', 'arm', 'treated', 'time', 'event', 'n_values']
    >>> len(times), int(times["event"].sum())
    (214, 168)
    """
    spec = get_measure(dataset, measure)
    cut = _response_threshold(spec, threshold)
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    timepoints = _check_response_timepoints(timepoints)
    # on integer episode codes (no text merges): ``at`` is each row's comparison episode
    in_measure = measure_mask(dataset, measure)
    at_baseline = in_measure & timepoint_mask(dataset, ("baseline",))
    _, base_at = comparison_rows(dataset, "outcomes", at_baseline, reference, comparator)
    has_base = np.bincount(base_at, minlength=len(episodes)) > 0  # a baseline row, any value
    base = comparison_values(dataset, measure, "baseline", reference, comparator)
    rows, at = comparison_rows(
        dataset, "outcomes", in_measure & timepoint_mask(dataset, timepoints), reference, comparator
    )
    rows, at = rows[has_base[at]], at[has_base[at]]
    out = dataset.outcomes
    later = pd.DataFrame(
        {
            "at": at,
            "assessed_on": out["assessed_on"].take(rows).reset_index(drop=True),
            "value": out["value"].to_numpy(dtype=np.float64, na_value=np.nan)[rows],
            "start_date": episodes["start_date"].take(at).reset_index(drop=True),
        }
    )
    later = later.assign(
        days=(later["assessed_on"] - later["start_date"]).dt.days.astype(float).clip(lower=0),
        base=base[at],
    )
    improvement = (
        later["base"] - later["value"]
        if getattr(spec, "direction", "lower") == "lower"
        else later["value"] - later["base"]
    )
    later = later.assign(
        responded=(improvement >= float(cut)).astype(int),
        response_day=later["days"].where(improvement >= float(cut)),
    )
    agg = later.groupby("at", sort=True).agg(  # in the order of the comparison frame
        event=("responded", "max"),
        first_response=("response_day", "min"),
        last_day=("days", "max"),
        n_values=("value", "size"),
    )
    agg["time"] = agg["first_response"].where(agg["event"] == 1, agg["last_day"])
    chosen = episodes[["episode_id", "arm", "treated"]].take(agg.index.to_numpy())
    result: pd.DataFrame = pd.concat(
        [
            chosen.reset_index(drop=True),
            agg[["time", "event", "n_values"]].reset_index(drop=True),
        ],
        axis=1,
    )
    result["event"] = result["event"].astype(np.int64)
    result["n_values"] = result["n_values"].astype(np.int64)
    return result


@dataclass(frozen=True, repr=False)
class TimeToResponseResult(ResultMixin):
    """Kaplan–Meier time to response per arm with the log-rank test.

    Attributes
    ----------
    frame
        One row per arm: ``arm``, ``role``, ``n``, ``events``, ``median`` (days),
        ``conf_low``, ``conf_high`` (the median's limits; NaN when not reached).
    curves
        The :func:`kaplan_meier` table of each arm with an ``arm`` column in front.
    times
        :func:`response_times`: the per-episode data analysed.
    logrank_chisq, logrank_df, logrank_p
        The log-rank test.
    """

    measure: str
    threshold: float
    reference: str
    comparator: str
    conf_level: float
    frame: pd.DataFrame
    curves: pd.DataFrame
    times: pd.DataFrame
    logrank_chisq: float
    logrank_df: int
    logrank_p: float
    n: int
    events: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Time to response ({self.measure} improvement >= {self.threshold:g}): "
            f"{self.comparator} vs {self.reference}, n = {self.n}, {self.events} responses"
        )

    def __str__(self) -> str:
        return super().__str__() + (
            f"\nLog-rank chi-square {self.logrank_chisq:.3g} on {self.logrank_df} df, "
            f"p = {self.logrank_p:.3g}."
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the Kaplan-Meier curves with medians and numbers at risk.

        Hands off to :func:`dnoutcomes.plots.plot_time_to_response`; keyword arguments go to it.
        """
        from dnoutcomes.plots.survival import plot_time_to_response

        return plot_time_to_response(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``time_to_response`` section."""
        rows = self.frame.set_index("role")

        def ci(role: str) -> list[Any]:
            return [rows.loc[role, "conf_low"], rows.loc[role, "conf_high"]]

        return jsonable(
            {
                "measure": self.measure,
                "mcid": self.threshold,
                "n": self.n,
                "events": self.events,
                "median_reference": rows.loc["reference", "median"],
                "median_comparator": rows.loc["comparator", "median"],
                "median_reference_ci": ci("reference"),
                "median_comparator_ci": ci("comparator"),
                "logrank_chisq": self.logrank_chisq,
                "logrank_p": self.logrank_p,
                "n_reference": rows.loc["reference", "n"],
                "n_comparator": rows.loc["comparator", "n"],
                "events_reference": rows.loc["reference", "events"],
                "events_comparator": rows.loc["comparator", "events"],
            }
        )


def compare_time_to_response(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    threshold: float | None = None,
    timepoints: Sequence[str] = RESPONSE_TIMEPOINTS,
    conf_level: float = 0.95,
) -> TimeToResponseResult:
    """Kaplan–Meier time to response per arm and the log-rank test (plan, section 4).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure
        The measure (default NPRS).
    threshold
        Improvement that counts as a response (default the MCID in points: 2 for NPRS).
    timepoints
        Post-baseline timepoints whose values can be a response (default ``session`` and
        ``discharge``).
    conf_level
        Confidence level of the median's interval.

    Returns
    -------
    TimeToResponseResult

    Raises
    ------
    RequestError
        Unknown arm or measure, no MCID, a threshold not above 0, bad ``conf_level``.
    InsufficientDataError
        An arm without any episode that has a baseline and a post-baseline value.

    Notes
    -----
    See :func:`response_times` for the data and :func:`kaplan_meier`,
    :func:`km_quantile` and :func:`logrank_test` for the estimates. Episodes without a
    baseline or a post-baseline value are left out (counted in ``notes``).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_time_to_response(dataset).to_dict()
    >>> result["n"], result["events"], result["median_reference"], result["median_comparator"]
    (214, 168, 20.0, 13.0)
    """
    check_conf_level(conf_level)
    data = response_times(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        threshold=threshold,
        timepoints=timepoints,
    )
    cut = _response_threshold(get_measure(dataset, measure), threshold)
    rows: list[dict[str, Any]] = []
    curves = []
    for role, arm in (("reference", reference), ("comparator", comparator)):
        sub = data.loc[data["arm"] == arm]
        if len(sub) == 0:
            raise InsufficientDataError(
                f"time to response of {measure}: {arm} has 0 episodes with a baseline and a "
                "later value; needs at least 1 per arm."
            )
        km = kaplan_meier(sub["time"], sub["event"], conf_level=conf_level)
        median, low, high = km_quantile(km, 0.5)
        rows.append(
            {
                "arm": arm,
                "role": role,
                "n": len(sub),
                "events": int(sub["event"].sum()),
                "median": median,
                "conf_low": low,
                "conf_high": high,
            }
        )
        curves.append(km.assign(arm=arm))
    test = logrank_test(data["time"], data["event"], data["treated"])
    n_all = len(comparison_episodes(dataset, reference=reference, comparator=comparator))
    notes = []
    if n_all > len(data):
        notes.append(
            f"{n_all - len(data)} episodes without a baseline or any later {measure} value "
            "were left out."
        )
    for row in rows:
        if math.isnan(row["median"]):
            notes.append(f"Median not reached in {row['arm']}.")
    curve_frame = pd.concat(curves, ignore_index=True)
    curve_frame = curve_frame[["arm", *[c for c in curve_frame.columns if c != "arm"]]]
    return TimeToResponseResult(
        measure=measure,
        threshold=cut,
        reference=reference,
        comparator=comparator,
        conf_level=conf_level,
        frame=pd.DataFrame(rows),
        curves=curve_frame,
        times=data,
        logrank_chisq=test.chisq,
        logrank_df=test.df,
        logrank_p=test.p_value,
        n=int(len(data)),
        events=int(data["event"].sum()),
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
    )
