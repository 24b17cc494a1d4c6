"""The control charts of the Dask report from monthly aggregates: per partition (on a
worker) the NPRS episodes, Σ improvement and responders per site × therapist × month of
the discharge assessment, and DN sessions and adverse events per month of the session;
on the driver the :class:`~dnoutcomes.qi.indicators.QICharts` of the network and of each
site over the report's window, rebuilt from the sums with the package's chart functions,
so that the report's control-chart and summary sections render them unchanged.

Exact: every count; the monthly mean improvement is Σ / n (the row-level mean to
rounding), and the limits follow from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import DnOutcomesError, InsufficientDataError

__all__ = ["chart_parts", "pooled_charts"]

MEASURE = "nprs"


def chart_parts(local: Any) -> dict[str, Any]:
    """One partition's monthly aggregates at the site reported, every date (a worker).

    Returns
    -------
    dict
        ``outcomes`` (episodes, Σ improvement, responders per site, therapist and month),
        ``adverse_events`` (DN sessions and events per month; ``None`` when not
        recorded), ``first_discharge`` (the earliest discharge assessment of any measure),
        ``sites`` and ``mcid``; or ``error``.
    """
    from dnoutcomes.qi._indicator_frames import _episode_outcomes, monthly_adverse_events

    outcomes = local.outcomes
    discharges = outcomes.loc[outcomes["timepoint"] == "discharge", "assessed_on"].dropna()
    out: dict[str, Any] = {
        "first_discharge": pd.Timestamp(discharges.min()) if len(discharges) else None,
        "sites": set(local.episodes["site_id"].dropna().astype(str)),
    }
    try:
        frame, mcid = _episode_outcomes(local, MEASURE, None, None, None)
    except DnOutcomesError as exc:
        out["error"] = str(exc)
        return out
    frame = frame.assign(
        site_id=frame["site_id"].astype(str),
        therapist_id=frame["therapist_id"].astype(str),
        responder=frame["responder"].astype("int64"),
    )
    out["outcomes"] = (
        frame.groupby(["site_id", "therapist_id", "month"], observed=True, sort=False)
        .agg(
            episodes=("responder", "size"),
            improvement_sum=("improvement", "sum"),
            responders=("responder", "sum"),
        )
        .reset_index()
    )
    out["mcid"] = mcid
    out["adverse_events"] = monthly_adverse_events(local)
    return out


def _window_frame(rows: pd.DataFrame, months: pd.PeriodIndex) -> pd.DataFrame:
    """``qi._indicator_frames._monthly``'s frame from summed rows (month, episodes,
    improvement_sum, responders)."""
    summed = rows.groupby("month")[["episodes", "improvement_sum", "responders"]].sum()
    table = summed.reindex(months)
    episodes = table["episodes"].fillna(0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = table["improvement_sum"] / episodes.where(episodes > 0)
    responders = table["responders"].fillna(0).astype(int)
    frame = pd.DataFrame(
        {"episodes": episodes, "mean_improvement": mean, "responders": responders}, index=months
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["share_responders"] = frame["responders"] / frame["episodes"].where(
            frame["episodes"] > 0
        )
    return frame.rename_axis("month").reset_index()


def _charts(
    rows: pd.DataFrame,
    ae: pd.DataFrame | None,
    months: pd.PeriodIndex,
    mcid: float,
    site: str | None,
) -> Any:
    """:func:`~dnoutcomes.qi.indicators.qi_charts` from summed rows."""
    from dnoutcomes.qi.charts import i_chart, p_chart, u_chart
    from dnoutcomes.qi.funnel import funnel_chart
    from dnoutcomes.qi.indicators import QICharts

    monthly = _window_frame(rows, months)
    with_data = int((monthly["episodes"] > 0).sum())
    where = f" at site {site}" if site else ""
    if with_data < 2:
        raise InsufficientDataError(
            f"QI charts{where}: control charts need at least 2 months with an episode that has "
            f"a baseline and a discharge {MEASURE}; got {with_data}. Widen the period or "
            "drop the site filter."
        )
    name = MEASURE.upper()
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
    notes: list[str] = []
    uchart = None
    if ae is None:
        notes.append("Adverse events are not recorded in this export: no U chart.")
    elif int(ae["dn_sessions"].sum()) == 0:
        notes.append("No dry-needling session in the period: no U chart.")
    else:
        uchart = u_chart(
            ae["adverse_events"],
            ae["dn_sessions"],
            per=100.0,
            periods=ae["month"],
            label="adverse events per 100 DN sessions",
        )
    therapists = rows.groupby("therapist_id", sort=True)[["episodes", "responders"]].sum()
    therapists = therapists.astype("int64")
    therapists["share_responders"] = therapists["responders"] / therapists["episodes"]
    therapists = therapists.rename_axis("therapist_id").reset_index()
    funnel = funnel_chart(
        therapists["responders"],
        therapists["episodes"],
        units=therapists["therapist_id"],
        label=f"{name} responders",
        unit_label="therapist",
    )
    notes.insert(
        0,
        f"{int(rows['episodes'].sum())} episodes (every arm) with a baseline and a discharge "
        f"{MEASURE}{where}, by month of discharge.",
    )
    return QICharts(
        i_chart=ichart,
        p_chart=pchart,
        u_chart=uchart,
        funnel=funnel,
        monthly=monthly,
        adverse_events=ae,
        therapists=therapists,
        measure=MEASURE,
        mcid=mcid,
        site=site,
        notes=tuple(notes),
    )


def _ae_frame(items: Sequence[pd.DataFrame], months: pd.PeriodIndex) -> pd.DataFrame:
    summed = (
        pd.concat(items)[["month", "dn_sessions", "adverse_events"]]
        .groupby("month")
        .sum()
        .reindex(months)
        .fillna(0)
        .astype(int)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        summed["rate_per_100"] = (
            100 * summed["adverse_events"] / summed["dn_sessions"].where(summed["dn_sessions"] > 0)
        )
    return summed.rename_axis("month").reset_index()


def pooled_charts(
    parts: Sequence[dict[str, Any]], period: Any, context: Any
) -> tuple[Any, dict[str, Any]]:
    """The report's chart data from the partitions' :func:`chart_parts`.

    Parameters
    ----------
    parts
        One per partition.
    period
        The report's period.
    context
        The report's context (its threshold, for the failure sentences).

    Returns
    -------
    (local, cache)
        ``local``: what the chart sections read of the data at the site reported (the
        first discharge assessment, the sites); ``cache``: the report context's ``qi``
        entry (the network's charts, or the sentence why not) and ``qi_sites`` (each
        site's charts, or why not).
    """
    from types import SimpleNamespace

    from dnoutcomes.report._context import safe
    from dnoutcomes.report.charts import chart_window

    firsts = [p["first_discharge"] for p in parts if p["first_discharge"] is not None]
    sites = sorted(set().union(*(p["sites"] for p in parts)))
    local = SimpleNamespace(
        outcomes=pd.DataFrame(
            {
                "timepoint": ["discharge"] * bool(firsts),
                "assessed_on": [min(firsts)] if firsts else [],
            }
        ),
        episodes=pd.DataFrame({"site_id": sites}),
    )
    window = chart_window(_with_local(context, local))
    months = pd.period_range(window[0], window[1], freq="M", name="month")
    errors = [p["error"] for p in parts if "error" in p]
    usable = [p for p in parts if "outcomes" in p]
    rows = pd.concat([p["outcomes"] for p in usable], ignore_index=True) if usable else None
    if rows is not None:
        rows = rows.loc[rows["month"].isin(months)]
    mcid = usable[0]["mcid"] if usable else float("nan")
    recorded = all(p.get("adverse_events") is not None for p in usable)
    ae = _ae_frame([p["adverse_events"] for p in usable], months) if recorded and usable else None

    def compute(site: str | None) -> Any:
        if errors and rows is None:
            raise InsufficientDataError(errors[0])
        assert rows is not None
        chosen = rows if site is None else rows.loc[rows["site_id"] == site]
        return _charts(chosen, ae if site is None else None, months, mcid, site)

    def one_site(site: str) -> Any:
        return safe(f"The control charts of site {site}", lambda: compute(site), context)

    cache = {
        "qi": safe("{what}", lambda: compute(None), context),
        "qi_sites": {s: one_site(s) for s in sites},
    }
    return local, cache


def _with_local(context: Any, local: Any) -> Any:
    import dataclasses

    return dataclasses.replace(context, local=local)
