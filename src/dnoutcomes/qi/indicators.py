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
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes._frames import isin
from dnoutcomes.cohort import get_measure, improvement_of
from dnoutcomes.errors import InsufficientDataError, RequestError
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

#: A month given by the caller: ``"2025-07"``, a :class:`pandas.Period`, a date.
MonthLike = str | pd.Period | dt.date | pd.Timestamp


_MONTH_TEXT = re.compile(r"\d{4}-\d{2}(-\d{2})?")


def _month(value: MonthLike | None, name: str) -> pd.Period | None:
    if value is None:
        return None
    try:
        if isinstance(value, str) and not _MONTH_TEXT.fullmatch(value.strip()):
            raise ValueError(value)
        return pd.Period(value.strip() if isinstance(value, str) else value, freq="M")
    except (ValueError, TypeError):
        raise RequestError(
            f"QI charts: {name} must be a month such as '2025-07' or a date; got {value!r}. "
            "Write the month as YYYY-MM."
        ) from None


def _window(start: MonthLike | None, end: MonthLike | None) -> tuple[pd.Period | None, ...]:
    first, last = _month(start, "start"), _month(end, "end")
    if first is not None and last is not None and first > last:
        raise RequestError(
            f"QI charts: start {first} is after end {last}; expected start <= end. Swap them."
        )
    return first, last


def _site_episodes(dataset: Dataset, site: str | None) -> pd.DataFrame:
    episodes = dataset.episodes
    if site is None:
        return episodes
    sites = sorted(str(s) for s in episodes["site_id"].dropna().unique())
    if site not in sites:
        raise RequestError(
            f"QI charts: site {site!r} has no episode; expected one of {', '.join(sites)}. "
            "Check the spelling of --site."
        )
    chosen: pd.DataFrame = episodes.loc[episodes["site_id"] == site]
    return chosen


def _in_window(months: pd.Series, first: pd.Period | None, last: pd.Period | None) -> pd.Series:
    keep = pd.Series(True, index=months.index)
    if first is not None:
        keep &= months >= first
    if last is not None:
        keep &= months <= last
    return keep


def _month_range(
    months: pd.Series, first: pd.Period | None, last: pd.Period | None
) -> pd.PeriodIndex:
    present = months.dropna()
    lo = first if first is not None else (present.min() if len(present) else None)
    hi = last if last is not None else (present.max() if len(present) else None)
    if lo is None or hi is None:
        return pd.PeriodIndex([], freq="M", name="month")
    return pd.period_range(lo, hi, freq="M", name="month")


def _episode_outcomes(
    dataset: Dataset,
    measure: str,
    site: str | None,
    first: pd.Period | None,
    last: pd.Period | None,
) -> tuple[pd.DataFrame, float]:
    """One row per episode with baseline and discharge values, inside the window."""
    spec = get_measure(dataset, measure)
    mcid = getattr(spec, "mcid_points", None)
    if mcid is None or not np.isfinite(mcid):
        raise RequestError(
            f"QI charts: measure {measure!r} has no MCID in points, so responders cannot be "
            "counted; expected a measure with one (nprs, odi, rmdq). Choose another measure "
            "or register an MCID."
        )
    episodes = _site_episodes(dataset, site)
    out = dataset.outcomes
    rows = out.loc[
        (out["measure"] == measure)
        & out["timepoint"].isin(["baseline", "discharge"])  # on the categories, no copy
        & isin(out["episode_id"], episodes["episode_id"]),
        ["episode_id", "timepoint", "value", "assessed_on"],
    ]
    rows = rows.assign(timepoint=rows["timepoint"].astype(str))
    base = rows.loc[rows["timepoint"] == "baseline"].groupby("episode_id")["value"].first()
    dis = rows.loc[rows["timepoint"] == "discharge"].groupby("episode_id")[["value", "assessed_on"]]
    discharge = dis.first()
    frame = discharge.join(base.rename("baseline"), how="inner").dropna(
        subset=["value", "baseline", "assessed_on"]
    )
    frame = frame.join(episodes.set_index("episode_id")[["therapist_id", "site_id", "arm"]])
    frame["improvement"] = improvement_of(spec, frame["baseline"], frame["value"])
    frame["responder"] = frame["improvement"] >= float(mcid)
    frame["month"] = frame["assessed_on"].dt.to_period("M")
    frame = frame.loc[_in_window(frame["month"], first, last)]
    return frame.reset_index(), float(mcid)


def monthly_outcomes(
    dataset: Dataset,
    *,
    measure: str = "nprs",
    site: str | None = None,
    start: MonthLike | None = None,
    end: MonthLike | None = None,
) -> pd.DataFrame:
    """Monthly mean improvement and responders among episodes discharged in each month.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    measure
        A registered measure with an MCID in points; default ``"nprs"``.
    site
        Only this site's episodes; default all sites.
    start, end
        First and last month to include (``"2025-07"``, a Period or a date); default the
        first and last month with a discharge.

    Returns
    -------
    pandas.DataFrame
        One row per calendar month from ``start`` to ``end`` (months without a discharge
        included): ``month`` (Period[M]), ``episodes`` (int, episodes with both values
        discharged that month), ``mean_improvement`` (float; NaN when ``episodes`` is 0),
        ``responders`` (int, improvement >= MCID), ``share_responders`` (float, 0–1; NaN
        when ``episodes`` is 0).

    Raises
    ------
    RequestError
        For an unknown measure or site, a measure without an MCID in points, or a month
        that cannot be read.

    Notes
    -----
    Improvement = baseline − discharge for lower-is-better measures (discharge − baseline
    otherwise). The month is that of the discharge assessment's ``assessed_on``. Episodes
    of every arm count; episodes missing either value are left out.
    """
    first, last = _window(start, end)
    frame, _ = _episode_outcomes(dataset, measure, site, first, last)
    return _monthly(frame, first, last)


def _monthly(frame: pd.DataFrame, first: pd.Period | None, last: pd.Period | None) -> pd.DataFrame:
    months = _month_range(frame["month"], first, last)
    grouped = frame.groupby("month")
    table = pd.DataFrame(
        {
            "episodes": grouped.size(),
            "mean_improvement": grouped["improvement"].mean(),
            "responders": grouped["responder"].sum(),
        }
    ).reindex(months)
    table["episodes"] = table["episodes"].fillna(0).astype(int)
    table["responders"] = table["responders"].fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["share_responders"] = table["responders"] / table["episodes"].where(
            table["episodes"] > 0
        )
    result: pd.DataFrame = table.rename_axis("month").reset_index()
    return result


def monthly_adverse_events(
    dataset: Dataset,
    *,
    site: str | None = None,
    start: MonthLike | None = None,
    end: MonthLike | None = None,
) -> pd.DataFrame | None:
    """Adverse events after dry-needling sessions and DN sessions, by month of the session.

    Parameters
    ----------
    dataset
        A loaded dataset.
    site
        Only this site's sessions; default all sites.
    start, end
        First and last month to include; default the first and last month with a DN
        session.

    Returns
    -------
    pandas.DataFrame or None
        ``None`` when the export has no adverse-events table (not recorded). Otherwise one
        row per calendar month: ``month`` (Period[M]), ``dn_sessions`` (int),
        ``adverse_events`` (int, events after those sessions), ``rate_per_100`` (float,
        ``100 × adverse_events / dn_sessions``; NaN without DN sessions).

    Raises
    ------
    RequestError
        For an unknown site or a month that cannot be read.

    Notes
    -----
    Every arm's DN sessions count. Events after sessions without dry needling are not
    counted (the rate is per DN session, as in the safety analysis).
    """
    first, last = _window(start, end)
    episodes = _site_episodes(dataset, site)
    if dataset.adverse_events is None:
        return None
    sessions = dataset.sessions
    dn = sessions.loc[
        sessions["dn_performed"].astype(bool)
        & isin(sessions["episode_id"], episodes["episode_id"]),
        ["session_id", "session_date"],
    ]
    dn = dn.assign(month=dn["session_date"].dt.to_period("M"))
    dn = dn.loc[_in_window(dn["month"], first, last)]
    events = dataset.adverse_events[["session_id"]].merge(dn, on="session_id", how="inner")
    months = _month_range(dn["month"], first, last)
    table = pd.DataFrame(
        {
            "dn_sessions": dn.groupby("month").size(),
            "adverse_events": events.groupby("month").size(),
        }
    ).reindex(months)
    table = table.fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["rate_per_100"] = (
            100 * table["adverse_events"] / table["dn_sessions"].where(table["dn_sessions"] > 0)
        )
    result: pd.DataFrame = table.rename_axis("month").reset_index()
    return result


def therapist_responders(
    dataset: Dataset,
    *,
    measure: str = "nprs",
    site: str | None = None,
    start: MonthLike | None = None,
    end: MonthLike | None = None,
) -> pd.DataFrame:
    """Episodes and responders per therapist, among episodes discharged in the window.

    Parameters
    ----------
    dataset
        A loaded dataset.
    measure
        A registered measure with an MCID in points; default ``"nprs"``.
    site
        Only this site's episodes.
    start, end
        First and last month of discharge to include; default all.

    Returns
    -------
    pandas.DataFrame
        One row per therapist with at least one such episode, sorted by ``therapist_id``:
        ``therapist_id`` (str), ``episodes`` (int), ``responders`` (int),
        ``share_responders`` (float, 0–1).

    Raises
    ------
    RequestError
        As :func:`monthly_outcomes`.

    Notes
    -----
    The same episodes as :func:`monthly_outcomes` (every arm, both values present).
    """
    first, last = _window(start, end)
    frame, _ = _episode_outcomes(dataset, measure, site, first, last)
    return _per_therapist(frame)


def _per_therapist(frame: pd.DataFrame) -> pd.DataFrame:
    grouped = frame.groupby("therapist_id", sort=True)
    table = pd.DataFrame(
        {"episodes": grouped.size(), "responders": grouped["responder"].sum().astype(int)}
    )
    table["share_responders"] = table["responders"] / table["episodes"]
    result: pd.DataFrame = table.rename_axis("therapist_id").reset_index()
    return result


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
    """
    first, last = _window(start, end)
    frame, mcid = _episode_outcomes(dataset, measure, site, first, last)
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
    therapists = _per_therapist(frame)
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
        episodes_used=tuple(str(e) for e in frame["episode_id"]),
        notes=tuple(notes),
    )
