"""The monthly quality-improvement indicators of the analysis plan (section 9), from a
Dataset.

* Outcomes: all episodes (every arm) with a baseline and a discharge value of the measure
  (NPRS by default), grouped by the calendar month of the discharge assessment: the mean
  improvement (I chart) and the share of responders, improvement >= the registry's MCID
  (P chart).
* Safety: adverse events after dry-needling sessions per 100 DN sessions, by the month of
  the session (U chart).
* Therapists: each therapist's share of responders against her number of episodes, with
  95 % and 99.8 % exact binomial limits around the overall share (funnel plot).

The frames behind the charts (:func:`monthly_outcomes`, :func:`monthly_adverse_events`,
:func:`therapist_responders`) are built in the private ``_indicator_frames`` module and re-exported
here; this module turns them into charts (:func:`qi_charts`, :class:`QICharts`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.qi._indicator_frames import (
    MonthLike,
    _chart_frames,
    _monthly,
    _window,
    monthly_adverse_events,
    monthly_outcomes,
    therapist_responders,
)
from dnoutcomes.qi.charts import ControlChart, i_chart, p_chart, u_chart
from dnoutcomes.qi.funnel import FunnelChart, funnel_chart

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "QICharts",
    "MonthLike",
    "monthly_adverse_events",
    "monthly_outcomes",
    "qi_charts",
    "therapist_responders",
]


@dataclass(frozen=True, repr=False)
class QICharts:
    """The report's control charts and funnel plot for one dataset, site and window.

    Attributes
    ----------
    i_chart
        I chart of the monthly mean improvement (points).
    p_chart
        P chart of the monthly share of responders.
    u_chart
        U chart of adverse events per 100 DN sessions; ``None`` when adverse events are not
        recorded.
    funnel
        Responders per therapist against episodes, 95 % and 99.8 % limits.
    monthly
        The frame of :func:`monthly_outcomes` behind the I and P charts.
    adverse_events
        The frame of :func:`monthly_adverse_events` behind the U chart (or ``None``).
    therapists
        The frame of :func:`therapist_responders` behind the funnel.
    measure, mcid, site
        What was charted.
    episodes_used
        Ids of the episodes behind the outcome charts and the funnel.
    notes
        Sentences on what was left out and why.
    """

    i_chart: ControlChart
    p_chart: ControlChart
    u_chart: ControlChart | None
    funnel: FunnelChart
    monthly: pd.DataFrame
    adverse_events: pd.DataFrame | None
    therapists: pd.DataFrame
    measure: str
    mcid: float
    site: str | None = None
    episodes_used: tuple[str, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> pd.DataFrame:
        """One row per control chart: what it shows and its signals.

        Returns
        -------
        pandas.DataFrame
            ``chart`` (``i_chart``, ``p_chart``, ``u_chart``), ``label``, ``months`` (int),
            ``centre`` (float), ``outside_limits`` (str, the months joined by commas),
            ``longest_run``, ``longest_run_limit``, ``crossings``, ``crossings_limit``
            (Int64, NA when undefined), ``runs_signal`` (bool). A chart that was not drawn
            (no adverse-events table) has no row.
        """
        rows = []
        for key in ("i_chart", "p_chart", "u_chart"):
            chart: ControlChart | None = getattr(self, key)
            if chart is None:
                continue
            sig = chart.signals
            rows.append(
                {
                    "chart": key,
                    "label": chart.label,
                    "months": len(chart.frame),
                    "centre": float(chart.frame["centre"].iloc[0]),
                    "outside_limits": ", ".join(sig.outside_limits),
                    "longest_run": sig.longest_run,
                    "longest_run_limit": sig.longest_run_limit,
                    "crossings": sig.crossings,
                    "crossings_limit": sig.crossings_limit,
                    "runs_signal": sig.runs_signal,
                }
            )
        frame = pd.DataFrame(rows)
        for col in ("longest_run", "longest_run_limit", "crossings", "crossings_limit"):
            frame[col] = frame[col].astype("Int64")
        return frame

    def to_frame(self) -> pd.DataFrame:
        """The :meth:`summary` frame (one row per control chart)."""
        return self.summary()

    def __repr__(self) -> str:
        where = f", site={self.site!r}" if self.site else ""
        return (
            f"QICharts(measure={self.measure!r}{where}, months={len(self.monthly)}, "
            f"episodes={len(self.episodes_used)}, therapists={len(self.therapists)})"
        )

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        table = self.summary().to_html(index=False, border=0, classes="dnoutcomes", na_rep="")
        return f"<div><strong>{html.escape(repr(self))}</strong>{table}<ul>{notes}</ul></div>"

    def to_dict(self) -> dict[str, Any]:
        """The report's ``"spc"`` block: ``{"i_chart": …, "p_chart": …, "u_chart": …}``,
        each as :meth:`ControlChart.to_dict` (``u_chart`` is ``None`` when adverse events
        are not recorded)."""
        return {
            "i_chart": self.i_chart.to_dict(),
            "p_chart": self.p_chart.to_dict(),
            "u_chart": None if self.u_chart is None else self.u_chart.to_dict(),
        }


def qi_charts(
    dataset: Dataset,
    *,
    measure: str = "nprs",
    site: str | None = None,
    start: MonthLike | None = None,
    end: MonthLike | None = None,
    per: float = 100.0,
) -> QICharts:
    """Build the plan's three control charts and the therapist funnel from a Dataset.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    measure
        The outcome measure (default ``"nprs"``; it needs an MCID in points).
    site
        Only this site; default all sites.
    start, end
        First and last month (``"2024-08"``…``"2026-07"`` for a report's trailing 24
        months); default the months with data.
    per
        The U chart's unit: adverse events per ``per`` DN sessions (default 100).

    Returns
    -------
    QICharts
        ``i_chart``, ``p_chart``, ``u_chart`` (or ``None``), ``funnel``, the frames behind
        them, and ``notes``.

    Raises
    ------
    RequestError
        For an unknown measure or site, or an unreadable month.
    InsufficientDataError
        When fewer than two months in the window have an episode with both values, so no
        chart can be drawn.

    Notes
    -----
    I chart: centre = mean of the monthly means (months weighted equally), limits
    ``centre ± 2.66 × mean moving range``; P chart: ``p̄ = Σ responders / Σ episodes``,
    limits ``p̄ ± 3 √(p̄(1 − p̄)/n_i)`` clipped to [0, 1]; U chart: ``ū = Σ events /
    Σ DN sessions``, limits ``ū ± 3 √(ū / sessions_i)``, times ``per``. Every chart carries
    Anhøj's runs rules. Months without data are gaps: they are skipped by the moving
    ranges and the runs rules.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> qi_charts(dataset)
    QICharts(measure='nprs', months=23, episodes=256, therapists=9)
    """
    first, last = _window(start, end)
    frame, therapists, episodes_used, mcid = _chart_frames(dataset, measure, site, first, last)
    monthly = _monthly(frame, first, last)
    with_data = int((monthly["episodes"] > 0).sum())
    where = f" at site {site}" if site else ""
    if with_data < 2:
        raise InsufficientDataError(
            f"QI charts{where}: control charts need at least 2 months with an episode that has "
            f"a baseline and a discharge {measure}; got {with_data}. Widen the period or "
            "drop the site filter."
        )
    name = measure.upper() if len(measure) <= 5 else measure.replace("_", " ")
    periods = monthly["month"]
    ichart = i_chart(
        monthly["mean_improvement"],
        periods=periods,
        n=monthly["episodes"],
        label=f"mean {name} improvement",
    )
    pchart = p_chart(
        monthly["responders"],
        monthly["episodes"],
        periods=periods,
        label=f"{name} responders (improvement ≥ {mcid:g} points)",
    )
    ae = monthly_adverse_events(dataset, site=site, start=first, end=last)
    notes: list[str] = []
    uchart: ControlChart | None = None
    if ae is None:
        notes.append("Adverse events are not recorded in this export: no U chart.")
    elif int(ae["dn_sessions"].sum()) == 0:
        notes.append("No dry-needling session in the period: no U chart.")
    else:
        uchart = u_chart(
            ae["adverse_events"],
            ae["dn_sessions"],
            per=per,
            periods=ae["month"],
            label=f"adverse events per {per:g} DN sessions",
        )
    funnel = funnel_chart(
        therapists["responders"],
        therapists["episodes"],
        units=therapists["therapist_id"],
        label=f"{name} responders",
        unit_label="therapist",
    )
    notes.insert(
        0,
        f"{len(frame)} episodes (every arm) with a baseline and a discharge {measure}{where}, "
        "by month of discharge.",
    )
    return QICharts(
        i_chart=ichart,
        p_chart=pchart,
        u_chart=uchart,
        funnel=funnel,
        monthly=monthly,
        adverse_events=ae,
        therapists=therapists,
        measure=measure,
        mcid=mcid,
        site=site,
        episodes_used=episodes_used,
        notes=tuple(notes),
    )
