"""Control charts as NHS England's "Making Data Count" (MDC) reads them: variation and
assurance icons, phases with their own limits, annotations, a highlighted report period,
and run charts for short series.

The MDC rule set implemented
----------------------------
Within each phase, on the points that have a value, a point is *special cause* when it is

1. **outside the limits** (strictly beyond the upper or lower process limit);
2. part of a **shift**: a run of ``shift`` (default 7) or more consecutive points on the
   same side of the mean (a point exactly on the mean breaks the run);
3. part of a **trend**: ``trend`` (default 7) or more consecutive points each higher than
   the one before (or each lower); an equal neighbour breaks the trend;
4. one of **two out of three** consecutive points *close to a limit* — beyond the
   2-sigma line, ``centre ± ⅔ (limit − centre)`` — with all three on the same side of the
   mean.

These are the four rules of NHS England and NHS Improvement's *Making Data Count* guides
(2019, "Strengthening your decisions"; 2021 update) and of the NHS-R Community's
``NHSRplotthedots`` R package that implements them (7 points for shifts and trends; the
brief of some local tools uses 6 for trends — pass ``trend=6``).

A special-cause point is *high* or *low*: for rules 1, 2 and 4 by its side of the mean,
for a trend by its direction (the first rule that applies decides). With the indicator's
direction of improvement (``"increase"``: higher is better, ``"decrease"``, or
``"neutral"``) a high point is *improvement* or *concern* (or *neutral*).

Icons
-----
* **Variation icon** = the type of the *latest* point (NHSRplotthedots' rule):
  ``common_cause`` (grey), ``improvement_high`` / ``improvement_low`` (blue),
  ``concern_high`` / ``concern_low`` (orange), ``neutral_high`` / ``neutral_low``
  (purple, no direction of improvement declared).
* **Assurance icon** against an optional target, from the latest point's limits:
  a target outside the limits on the far side means the process will *consistently
  pass* (e.g. higher is better and target < lower limit) or *consistently fail* (target >
  upper limit); a target between the limits means *inconsistent* — it will hit and miss
  at random. No target, a neutral direction or a run chart: no assurance icon (``None``).

Short series: run charts
------------------------
A phase with fewer than ``run_chart_below`` (default 12) points that have a value has too
few points for trustworthy limits (Provost & Murray 2011 and the MDC guides ask for 12–20
or more), so it is drawn as a *run chart*: the median as the centre, no limits, and
Anhøj's runs rules (:func:`dnoutcomes.qi.anhoj_rules`); a point is special cause when it
belongs to a run longer than Anhøj's limit ``round(log2 n) + 3``.

References
----------
NHS England and NHS Improvement. Making data count: strengthening your decisions. 2019;
updated 2021. NHS-R Community. NHSRplotthedots: draw XmR charts for NHSE/I "Making Data
Count" (R package). Anhøj J, Olesen AV. PLoS One 2014;9:e113825.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.chart_result import Labels, _period_label
from dnoutcomes.qi.charts import i_chart, p_chart, u_chart
from dnoutcomes.qi.mdc_rules import (
    ICON_TEXT,
    AssuranceIcon,
    Direction,
    VariationIcon,
    assurance_icon,
    mdc_points,
)
from dnoutcomes.qi.runs import RunsResult, _as_float, anhoj_rules
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "AssuranceIcon",
    "Direction",
    "MDCChart",
    "MDCKind",
    "VariationIcon",
    "assurance_icon",
    "mdc_chart",
    "mdc_points",
    "mdc_summary",
]

MDCKind = Literal["i", "p", "u", "run"]


@dataclass(frozen=True, repr=False)
class MDCChart(ResultMixin):
    """A Making-Data-Count chart: phases, per-point special causes and the two icons.

    Attributes
    ----------
    frame
        One row per point: ``period``, ``value``, ``n`` (subgroup size or NaN),
        ``phase`` (name), ``chart`` (``"i"``, ``"p"`` or ``"run"`` for that phase),
        ``centre`` (mean, or median of a run-chart phase), ``lcl``, ``ucl``,
        ``lower_2sigma``, ``upper_2sigma`` (NaN in a run chart), ``outside_limits``,
        ``close_to_limits``, ``shift``, ``trend``, ``two_in_three``, ``special_cause``
        (bool), ``point_type`` (see :func:`mdc_points`), ``highlight`` (bool, inside the
        report period), ``annotation`` (text or ``""``).
    variation_icon, assurance_icon
        The icons (see the module docstring); ``assurance_icon`` may be ``None``.
    improvement, target, label
        Direction of improvement, the target (or ``None``), what is charted.
    phases
        ``(name, first period)`` of each phase, in order.
    runs
        Anhøj's rules on the latest phase (mean or median as centre).
    notes
        What was done and left out.
    """

    frame: pd.DataFrame
    variation_icon: VariationIcon
    assurance_icon: AssuranceIcon | None
    improvement: Direction
    target: float | None
    label: str
    phases: tuple[tuple[str, str], ...]
    runs: RunsResult
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Making Data Count chart: {self.label}"

    @property
    def latest(self) -> pd.Series:
        """The latest point with a value (a row of :attr:`frame`)."""
        rows = self.frame.loc[self.frame["value"].notna()]
        return rows.iloc[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``label``, ``improvement``, ``target``, ``variation_icon``,
        ``assurance_icon``, ``phases`` and ``points`` (records of the frame, periods as
        text)."""
        frame = self.frame.assign(period=[_period_label(p) for p in self.frame["period"]])
        return {
            "label": self.label,
            "improvement": self.improvement,
            "target": self.target,
            "variation_icon": self.variation_icon,
            "assurance_icon": self.assurance_icon,
            "phases": [list(p) for p in self.phases],
            "points": jsonable(frame.to_dict(orient="records")),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the chart (see :func:`dnoutcomes.plots.mdc.plot_mdc_chart`)."""
        from dnoutcomes.plots.mdc import plot_mdc_chart

        return plot_mdc_chart(self, ax=ax)


def _phase_starts(
    labels: list[str], phases: Mapping[Any, str] | Sequence[tuple[Any, str]]
) -> list[tuple[int, str]]:
    items = list(phases.items()) if isinstance(phases, Mapping) else list(phases)
    starts: list[tuple[int, str]] = []
    for key, name in items:
        text = _period_label(pd.Timestamp(key) if isinstance(key, np.datetime64) else key)
        if text not in labels:
            raise RequestError(
                f"MDC: phase {name!r} starts at {text!r}, which is not a period of the chart; "
                f"expected one of {labels[0]} … {labels[-1]}."
            )
        starts.append((labels.index(text), str(name)))
    starts.sort()
    if not starts or starts[0][0] != 0:
        starts.insert(0, (0, "baseline"))
    return starts


def mdc_chart(
    values: ArrayLike,
    *,
    n: ArrayLike | None = None,
    kind: MDCKind | None = None,
    per: float = 100.0,
    periods: Labels = None,
    improvement: Direction = "increase",
    target: float | None = None,
    phases: Mapping[Any, str] | Sequence[tuple[Any, str]] = (),
    annotations: Mapping[Any, str] | None = None,
    highlight: tuple[Any, Any] | None = None,
    run_chart_below: int = 12,
    shift: int = 7,
    trend: int = 7,
    label: str = "value",
) -> MDCChart:
    """A control (or run) chart read the Making-Data-Count way.

    Parameters
    ----------
    values
        The series: values for an I chart, or events per period for a P chart (with
        ``n``).
    n
        Subgroup sizes: with it the chart is a P chart of ``values / n``.
    kind
        ``"i"``, ``"p"``, ``"u"`` (a rate: ``values`` events per ``n`` units of exposure,
        times ``per``) or ``"run"`` (force a run chart); default ``"p"`` when ``n`` is
        given, else ``"i"``; a phase shorter than ``run_chart_below`` becomes a run chart.
    per
        For a U chart, the rate's unit (events per ``per`` sessions; default 100).
    periods
        Labels of the points (months); default ``1, 2, …``.
    improvement
        ``"increase"``, ``"decrease"`` or ``"neutral"``.
    target
        An optional target on the charted scale (a share from 0 to 1 for a P chart).
    phases
        ``{first period: name}`` (or pairs) of each new phase after a change to the
        process; the limits are recomputed in each phase. The points before the first
        named phase form ``"baseline"``.
    annotations
        ``{period: text}`` notes to write on the chart.
    highlight
        ``(first, last)`` period of the report period to highlight.
    run_chart_below
        A phase with fewer points that have a value is a run chart (default 12).
    shift, trend
        Rule lengths (7 and 7).
    label
        What is charted.

    Returns
    -------
    MDCChart
        ``frame``, ``variation_icon``, ``assurance_icon``, ``phases``, ``runs``.

    Raises
    ------
    RequestError
        For a phase or annotation at an unknown period, a ``kind`` that does not fit, or
        bad rule lengths.
    InsufficientDataError
        When the series has no value.

    Notes
    -----
    I, P and U phases use :func:`dnoutcomes.qi.i_chart`, :func:`dnoutcomes.qi.p_chart`
    and :func:`dnoutcomes.qi.u_chart`
    on the phase's points alone. The 2-sigma lines are ``centre ± ⅔ (limit − centre)``.

    Examples
    --------
    >>> chart = mdc_chart([5, 6, 5, 7, 6, 5, 6, 5, 6, 7, 5, 6, 12], improvement="increase")
    >>> chart.variation_icon, chart.frame["chart"].iloc[0]
    ('improvement_high', 'i')
    >>> mdc_chart([5, 6, 5, 7, 6], target=9).assurance_icon is None  # run chart
    True
    """
    if kind not in (None, "i", "p", "u", "run"):
        raise RequestError(f"MDC: kind must be 'i', 'p', 'u' or 'run'; got {kind!r}.")
    y = _as_float(values, "values")
    size = None if n is None else _as_float(n, "n")
    if kind in ("p", "u") and size is None:
        raise RequestError(
            f"MDC: a {kind.upper()} chart needs n (sizes or exposure) beside the events."
        )
    base_kind: MDCKind = kind or ("p" if size is not None else "i")
    raw_labels = list(range(1, y.size + 1)) if periods is None else list(periods)
    if len(raw_labels) != y.size:
        raise RequestError(
            f"MDC: periods must have one label per point; got {len(raw_labels)} for {y.size}."
        )
    labels = [_period_label(p) for p in raw_labels]
    with np.errstate(divide="ignore", invalid="ignore"):
        if size is None:
            shown = y
        else:
            shown = np.where(size > 0, y / size, np.nan) * (per if base_kind == "u" else 1.0)
    if not np.isfinite(shown).any():
        raise InsufficientDataError(f"MDC chart of {label}: the series has no value.")
    starts = _phase_starts(labels, phases)
    bounds = [s for s, _ in starts] + [y.size]
    notes: list[str] = []
    parts: list[pd.DataFrame] = []
    runs: RunsResult | None = None
    for (start, name), stop in zip(starts, bounds[1:], strict=True):
        seg = slice(start, stop)
        useful = int(np.isfinite(shown[seg]).sum())
        phase_kind: MDCKind = base_kind
        if base_kind != "run" and useful < run_chart_below:
            phase_kind = "run"
            notes.append(
                f"Phase {name!r} has {useful} point(s) with a value, fewer than "
                f"{run_chart_below}: drawn as a run chart (median, Anhøj's rules)."
            )
        if phase_kind == "run" or useful < 2:
            centre = np.full(stop - start, np.nanmedian(shown[seg]) if useful else np.nan)
            lcl = ucl = np.full(stop - start, np.nan)
            phase_runs = anhoj_rules(shown[seg], centre)
            limit = phase_runs.longest_run_limit or 0
            points = mdc_points(
                shown[seg],
                centre,
                lcl,
                ucl,
                improvement=improvement,
                shift=limit + 1,
                trend=10**9,
            )
            phase_kind = "run"
        else:
            if phase_kind == "p" and size is not None:
                ch = p_chart(y[seg], size[seg])
            elif phase_kind == "u" and size is not None:
                ch = u_chart(y[seg], size[seg], per=per)
            else:
                ch = i_chart(y[seg])
            centre = ch.frame["centre"].to_numpy()
            lcl, ucl = ch.frame["lcl"].to_numpy(), ch.frame["ucl"].to_numpy()
            phase_runs = ch.runs
            points = mdc_points(
                shown[seg], centre, lcl, ucl, improvement=improvement, shift=shift, trend=trend
            )
        runs = phase_runs
        part = pd.DataFrame(
            {
                "period": pd.Series(raw_labels[seg], dtype=object),
                "value": shown[seg],
                "n": np.full(stop - start, np.nan) if size is None else size[seg],
                "phase": name,
                "chart": phase_kind,
                "centre": centre,
                "lcl": lcl,
                "ucl": ucl,
                "lower_2sigma": centre - (2 / 3) * (centre - lcl),
                "upper_2sigma": centre + (2 / 3) * (ucl - centre),
            }
        )
        parts.append(pd.concat([part, points.drop(columns="side")], axis=1))
    frame = pd.concat(parts, ignore_index=True)
    frame["highlight"] = _highlight(labels, highlight)
    frame["annotation"] = ""
    for key, text in (annotations or {}).items():
        where = _period_label(key)
        if where not in labels:
            raise RequestError(f"MDC: annotation at {where!r} is not a period of the chart.")
        frame.loc[labels.index(where), "annotation"] = str(text)
    latest = frame.loc[frame["value"].notna()].iloc[-1]
    variation = str(latest["point_type"])
    assurance = (
        None
        if latest["chart"] == "run"
        else assurance_icon(
            target, float(latest["lcl"]), float(latest["ucl"]), improvement=improvement
        )
    )
    if target is not None and latest["chart"] == "run":
        notes.append("The latest phase is a run chart (no limits): no assurance icon.")
    if runs is not None and runs.few_crossings and not runs.long_run:
        notes.append("Too few crossings of the centre line in the latest phase (Anhøj).")
    return MDCChart(
        frame=frame,
        variation_icon=variation,  # type: ignore[arg-type]
        assurance_icon=assurance,
        improvement=improvement,
        target=target,
        label=label,
        phases=tuple((name, labels[s]) for s, name in starts),
        runs=runs if runs is not None else anhoj_rules([], []),
        notes=tuple(notes),
    )


def _highlight(labels: list[str], highlight: tuple[Any, Any] | None) -> np.ndarray:
    """Points inside the report period: by month when the labels are months (the period
    may run past the data), else between the two labels given."""
    if highlight is None:
        return np.zeros(len(labels), dtype=bool)
    first, last = (_period_label(h) for h in highlight)
    try:
        months = pd.PeriodIndex([pd.Period(lab, freq="M") for lab in labels])
        lo, hi = sorted((pd.Period(first, freq="M"), pd.Period(last, freq="M")))
    except (ValueError, TypeError):
        for end in (first, last):
            if end not in labels:
                raise RequestError(
                    f"MDC: highlight period {end!r} is not a period of the chart."
                ) from None
        i, j = sorted((labels.index(first), labels.index(last)))
        out = np.zeros(len(labels), dtype=bool)
        out[i : j + 1] = True
        return out
    return np.asarray((months >= lo) & (months <= hi), dtype=bool)


def mdc_summary(charts: Mapping[str, MDCChart]) -> pd.DataFrame:
    """The summary table of indicators with their icons (the report's first page).

    Parameters
    ----------
    charts
        ``{indicator name: MDCChart}`` in the order to show.

    Returns
    -------
    pandas.DataFrame
        One row per indicator: ``indicator``, ``label``, ``period`` (latest, as text),
        ``value`` (latest), ``centre``, ``lcl``, ``ucl`` (latest phase, at the latest
        point), ``target`` (NaN if none), ``improvement``, ``variation_icon``,
        ``assurance_icon`` (``None`` if none), ``variation_text``, ``assurance_text``.

    Examples
    --------
    >>> c = mdc_chart([5, 6, 5, 7, 6, 5, 6, 5, 6, 7, 5, 6, 12], target=1)
    >>> mdc_summary({"improvement": c})[["indicator", "variation_icon", "assurance_icon"]]
         indicator    variation_icon   assurance_icon
    0  improvement  improvement_high  consistent_pass
    """
    rows = []
    for name, chart in charts.items():
        latest = chart.latest
        rows.append(
            {
                "indicator": name,
                "label": chart.label,
                "period": _period_label(latest["period"]),
                "value": float(latest["value"]),
                "centre": float(latest["centre"]),
                "lcl": float(latest["lcl"]),
                "ucl": float(latest["ucl"]),
                "target": np.nan if chart.target is None else float(chart.target),
                "improvement": chart.improvement,
                "variation_icon": chart.variation_icon,
                "assurance_icon": chart.assurance_icon,
                "variation_text": ICON_TEXT[chart.variation_icon],
                "assurance_text": ""
                if chart.assurance_icon is None
                else ICON_TEXT[chart.assurance_icon],
            }
        )
    return pd.DataFrame(rows)
