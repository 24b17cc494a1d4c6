"""The report's control charts (I, P and U over the trailing 24 months) with their signals
in words, and the therapist funnel plot.

The numbers come from :func:`dnoutcomes.qi.indicators.qi_charts`; the drawing from
:mod:`dnoutcomes.plots.control`. Before anything leaves the package, a month's number of
episodes below the threshold is written ``<11`` in the ``spc`` block, and that month's
point of the I and P charts is not plotted and has ``null`` value and limits; the centre,
limits and signals are still computed on every month. The U chart's ``n`` is the number
of dry-needling sessions (exposure, not people) and is shown as it is.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import DnOutcomesError
from dnoutcomes.report._chart_unit import chart_frame, choose_unit, rebuild, small_points
from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    figure_block,
    safe,
    suppress,
)
from dnoutcomes.report._spc import masked_months, masked_shares, spc_block
from dnoutcomes.report.model import Paragraph, Section, Table
from dnoutcomes.report.sentences import spc_signal_sentences

__all__ = [
    "control_charts_section",
    "funnel_section",
    "masked_months",
    "masked_shares",
    "spc_block",
]

TRAILING_MONTHS = 24

_CHARTS: tuple[tuple[str, str, str], ...] = (
    ("i_chart", "I chart: mean NPRS improvement per month", "mean improvement in pain"),
    ("p_chart", "P chart: share of NPRS responders per month", "share of responders"),
    ("u_chart", "U chart: adverse events per 100 dry-needling sessions", "adverse-event rate"),
)


def _can_draw() -> bool:
    return importlib.util.find_spec("dnoutcomes.plots.control") is not None


def _unit_table(context: Context, frame: pd.DataFrame, unit: str) -> Table:
    """The table behind the charts, at the charts' unit (month or quarter), suppressed."""
    frame = frame.copy()
    episodes = frame["episodes"].where(frame["episodes"] > 0)
    frame["mean_improvement"] = frame["improvement_sum"] / episodes
    frame["share_pct"] = 100 * frame["responders"] / episodes
    columns = ["month", "episodes", "mean_improvement", "responders", "share_pct"]
    counts = ["episodes", "responders"]
    follow: dict[Hashable, Hashable] = {"mean_improvement": "episodes"}
    if "adverse_events" in frame:
        frame["rate_per_100"] = (
            100 * frame["adverse_events"] / frame["dn_sessions"].where(frame["dn_sessions"] > 0)
        )
        columns += ["dn_sessions", "adverse_events", "rate_per_100"]
        counts.append("adverse_events")
        follow["rate_per_100"] = "adverse_events"
    shown = suppress(
        frame[columns].reset_index(drop=True),
        context,
        counts=counts,
        percents={"share_pct": ("responders", "episodes")},
        follow=follow,
    ).table
    word = "Month" if unit == "month" else "Quarter"
    return Table(
        key="spc_monthly",
        title=f"The {unit}s behind the control charts",
        frame=shown,
        labels={
            "month": word,
            "episodes": "Episodes",
            "mean_improvement": "Mean NPRS improvement",
            "responders": "Responders",
            "share_pct": "% responders",
            "dn_sessions": "DN sessions",
            "adverse_events": "Adverse events",
            "rate_per_100": "Per 100 DN sessions",
        },
        formats={
            "episodes": "int",
            "mean_improvement": "f2",
            "responders": "int",
            "share_pct": "pct",
            "dn_sessions": "int",
            "adverse_events": "int",
            "rate_per_100": "f1",
        },
        note=f"Episodes of every arm, by {unit} of the discharge assessment; adverse events by "
        f"{unit} of the dry-needling session.",
    )


def chart_window(context: Context) -> tuple[str, str]:
    """First and last month of the charts: the trailing 24 months up to the period's end,
    starting later when the data start later (no empty months before the first data).

    Parameters
    ----------
    context
        The report's data (the first discharge assessment at the site reported) and period.

    Returns
    -------
    (str, str)
        ``YYYY-MM`` months.
    """
    if "chart_window" not in context.cache:  # one scan of the outcomes per report
        context.cache["chart_window"] = _chart_window(context)
    window: tuple[str, str] = context.cache["chart_window"]
    return window


def _chart_window(context: Context) -> tuple[str, str]:
    months = context.period.trailing_months(TRAILING_MONTHS)
    outcomes = context.local.outcomes
    discharges = outcomes.loc[
        outcomes["timepoint"] == "discharge", "assessed_on"  # on the categories, no copy
    ].dropna()
    if discharges.empty:
        return months[0], months[-1]
    first_data = str(pd.Timestamp(discharges.min()).to_period("M"))
    return max(months[0], min(first_data, months[-1])), months[-1]


def _qi(context: Context, what: str) -> tuple[Any, Paragraph | None]:
    """The QI charts of the trailing window, computed once per report and shared by the
    control-chart and funnel sections."""
    from dnoutcomes.qi.indicators import qi_charts

    if "qi" not in context.cache:
        first, last = chart_window(context)
        context.cache["qi"] = safe(
            "{what}", lambda: qi_charts(context.local, start=first, end=last), context
        )
    result, failure = context.cache["qi"]
    if failure is not None:
        return None, Paragraph(failure.text.replace("{what}", what, 1))
    return result, None


#: What a withheld month had too few of, per chart.
_WHAT_IS_SMALL = {
    "i_chart": "episodes",
    "p_chart": "episodes, responders or non-responders",
    "u_chart": "episodes",
}


def control_charts_section(context: Context) -> SectionOutcome:
    """The I, P and U charts of the 24 months up to the period's end, signals in words.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        The charts, their signals in words, the table ``spc_monthly`` (``month``,
        ``episodes``, ``mean_improvement``, ``responders``, ``share_pct``, ``dn_sessions``,
        ``adverse_events``, ``rate_per_100``; suppressed), the signals by site
        (``spc_sites``) for a report of every site, and the ``spc`` blocks.
    """
    title = "Control charts"
    first, last = chart_window(context)
    qi, failure = _qi(context, "The control charts")
    if failure is not None:
        return SectionOutcome(Section("control_charts", title, (failure,)))
    blocks: list[Any] = [
        Paragraph(
            f"Every arm, {first} to {last}. A control chart separates the month-to-month "
            "noise of a stable process (common-cause variation, between the limits) from "
            "real change (special-cause variation): a point outside the limits, an unusually "
            "long run on one side of the centre line, or too few crossings of it."
        )
    ]
    spc: dict[str, Any] = {}
    drawable_now = _can_draw()
    present = tuple(key for key, _, _ in _CHARTS if getattr(qi, key) is not None)
    unit, at_unit, drawable = choose_unit(chart_frame(qi), context.min_cell, present)
    if unit != "month":
        blocks.append(
            Paragraph(
                f"The charts are drawn by quarter: some months describe fewer than "
                f"{context.min_cell} episodes, responders, non-responders or adverse events, "
                "and a chart that left those months out would show a biased selection of "
                "its points."
            )
        )
    for key, caption, what in _CHARTS:
        chart = getattr(qi, key)
        caption = caption if unit == "month" else caption.replace("per month", "per quarter")
        if chart is None:
            spc[key] = None
            blocks.append(Paragraph(f"{caption}: not drawn. {' '.join(qi.notes[1:])}".strip()))
            continue
        if unit != "month" and drawable.get(key, False):
            try:
                chart = rebuild(key, chart, at_unit)
            except DnOutcomesError as exc:
                drawable[key] = False
                spc[key] = {"unit": unit, "withheld": f"{caption}: not drawn: {exc}"}
        if not drawable.get(key, False) and key in spc:
            blocks.append(Paragraph(spc[key]["withheld"]))
            continue
        if not drawable.get(key, False):
            reason = (
                f"{caption}: not drawn. Even by quarter, some points describe fewer than "
                f"{context.min_cell} {_WHAT_IS_SMALL[key]}; a chart of only the other points "
                "would mislead, so none is shown and no signal is named."
            )
            spc[key] = {"unit": unit, "withheld": reason}
            blocks.append(Paragraph(reason))
            continue
        block = spc_block(
            chart,
            counts=pd.Series(np.zeros(len(chart.frame))),
            mask=np.zeros(len(chart.frame), dtype=bool),
            min_cell=context.min_cell,
        )
        block["unit"] = unit
        spc[key] = block
        if drawable_now:
            from dnoutcomes.plots.control import plot_control_chart

            blocks.extend(
                figure_block(
                    context,
                    key,
                    caption,
                    f"{caption}, with centre line, control limits and signals marked.",
                    lambda c=chart: plot_control_chart(c),  # type: ignore[misc]
                )
            )
        for sentence in spc_signal_sentences(chart.to_dict(), what=what):
            blocks.append(
                Paragraph(sentence if unit == "month" else sentence.replace("month", "quarter"))
            )
    blocks.append(_unit_table(context, at_unit, unit))
    site_blocks, by_site = _site_signals(context)
    blocks.extend(site_blocks)
    extra = {"spc_by_site": by_site} if by_site else {}
    return SectionOutcome(Section("control_charts", title, tuple(blocks)), spc=spc, extra=extra)


def _site_signals(context: Context) -> tuple[list[Any], dict[str, Any]]:
    """For a report of every site: each site's own I and P charts, their signals in words
    and a table (a shift at one site is diluted, and can be missed, in the clinic's chart)."""
    from dnoutcomes.qi.indicators import qi_charts

    if context.site is not None:
        return [], {}
    sites = sorted(str(s) for s in context.local.episodes["site_id"].dropna().unique())
    if len(sites) < 2:
        return [], {}
    months = chart_window(context)
    rows: list[dict[str, Any]] = []
    sentences: list[Paragraph] = []
    by_site: dict[str, Any] = {}
    # each site's charts, or the sentence why not; computed here unless the report was
    # given them (the Dask engine sums them from partitions)
    given = context.cache.get("qi_sites")
    local = context.local  # its per-episode tables are shared with the network's charts
    for site in sites:
        charts, failure = (
            given[site]
            if given is not None
            else safe(
                f"The control charts of site {site}",
                lambda site=site: qi_charts(  # type: ignore[misc]
                    local, site=site, start=months[0], end=months[-1]
                ),
                context,
            )
        )
        if failure is not None:
            sentences.append(failure)
            continue
        frame = chart_frame(charts)
        if 0 < int(frame["episodes"].sum()) < context.min_cell:
            # Its run statistics bound its months with data, and so its episodes from
            # below: with a small total they could pin the hidden count (benchmarking).
            sentences.append(
                Paragraph(
                    f"Site {site}: not charted: its charts would describe fewer than "
                    f"{context.min_cell} episodes over these months."
                )
            )
            continue
        small = small_points(frame, context.min_cell)
        by_site[site] = {}
        for key, what in (
            ("i_chart", "mean improvement in pain"),
            ("p_chart", "share of responders"),
        ):
            chart = getattr(charts, key)
            block, unnamed = _named_signals(chart, set(frame["month"][small[key]]))
            by_site[site][key] = block["signals"]
            signals = chart.signals
            outside = ", ".join(block["signals"]["outside_limits"]) or "none"
            rows.append(
                {
                    "site_id": site,
                    "chart": key.replace("_chart", "").upper() + " chart",
                    "outside_limits": outside + (f" (+{unnamed} not named)" if unnamed else ""),
                    "longest_run": signals.longest_run,
                    "longest_run_limit": signals.longest_run_limit,
                    "crossings": signals.crossings,
                    "crossings_limit": signals.crossings_limit,
                    "signal": "yes" if signals.any_signal else "no",
                }
            )
            if block["signals"]["outside_limits"] or signals.runs_signal:
                sentences.extend(
                    Paragraph(f"Site {site}: {text}")
                    for text in spc_signal_sentences(block, what=what)
                )
            if unnamed:
                sentences.append(
                    Paragraph(
                        f"Site {site}: the {what} was outside the control limits in "
                        f"{unnamed} more month{'s' if unnamed != 1 else ''}, not named: "
                        f"{'they describe' if unnamed != 1 else 'it describes'} fewer than "
                        f"{context.min_cell} episodes"
                        + (", responders or non-responders." if key == "p_chart" else ".")
                    )
                )
    if not rows:
        return sentences, by_site
    intro = Paragraph(
        "The same charts site by site: a change at one site can be diluted, and missed, in "
        "the charts of the whole clinic. "
        + ("Signals:" if sentences else "No site's chart signals a change.")
    )
    table = Table(
        key="spc_sites",
        title="Control-chart signals by site (I and P charts, same months)",
        frame=pd.DataFrame(rows),
        labels={
            "site_id": "Site",
            "chart": "Chart",
            "outside_limits": "Months outside the limits",
            "longest_run": "Longest run",
            "longest_run_limit": "Run limit",
            "crossings": "Crossings",
            "crossings_limit": "Crossings limit",
            "signal": "Signal",
        },
        formats={
            "longest_run": "int",
            "longest_run_limit": "int",
            "crossings": "int",
            "crossings_limit": "int",
        },
        note="A run longer than its limit, fewer crossings than theirs, or a month outside "
        "the limits is a signal (Anhøj rules and Shewhart limits).",
    )
    return [intro, *sentences, table], by_site


def _named_signals(chart: Any, small_months: set[str]) -> tuple[dict[str, Any], int]:
    """A site chart's block for the signal sentences, its months outside the limits
    restricted to those whose point describes at least ``min_cell`` episodes (responders
    and non-responders for the P chart), and the number of months left unnamed. Naming a
    small month would say that a site had a few episodes there, and how they fared."""
    block = chart.to_dict()
    signals = dict(block["signals"])
    outside = list(signals["outside_limits"])
    signals["outside_limits"] = [m for m in outside if m not in small_months]
    block["signals"] = signals
    return block, len(outside) - len(signals["outside_limits"])


def funnel_section(context: Context) -> SectionOutcome:
    """Responders per therapist against episodes, with 95 % and 99.8 % limits.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        Sentences, the funnel plot (when no therapist's count is small) and the table
        ``funnel`` (``therapist_id``, ``events`` = responders, ``n`` = episodes, ``share``
        in %, ``position`` against the limits; suppressed).
    """
    title = "Therapist funnel plot"
    months = chart_window(context)
    qi, failure = _qi(context, "The therapist funnel plot")
    if failure is not None:
        return SectionOutcome(Section("funnel", title, (failure,)))
    funnel = qi.funnel
    frame = funnel.frame[["unit", "events", "n", "share", "position"]].copy()
    frame["events"] = frame["events"].astype("int64")
    frame["n"] = frame["n"].astype("int64")
    frame["share"] = 100 * frame["share"]
    shown = suppress(
        frame,
        context,
        counts=["n", "events"],
        percents={"share": ("events", "n")},
        follow={"position": "n"},
    ).table
    outside = frame[frame["position"].str.contains("outer")]
    # A row with any cell withheld (a small count, or a share that would give one away,
    # such as 55 of 60 responders) is hidden: its point would give the count back. Then the
    # overall share is withheld too (target × all episodes − the shown responders gave the
    # hidden therapist's responders back), the plot is not drawn and no therapist is named.
    cells = shown[["n", "events", "share"]].astype(str)
    hidden_rows = (cells.apply(lambda c: c.str.startswith("<") | (c == "[c]"))).any(axis=1)
    hidden_rows = hidden_rows.to_numpy()
    overall = "" if hidden_rows.any() else f" Overall share {100 * funnel.target:.1f} %;"
    blocks: list[Any] = [
        Paragraph(
            f"Each therapist's share of NPRS responders ({months[0]} to {months[-1]}, every "
            f"arm) against her number of episodes.{overall}"
            + (" a" if overall else " A")
            + " therapist outside the 99.8 % limits differs by more than chance would explain, "
            "and is worth a conversation, not a verdict (case mix is not adjusted for)."
        )
    ]
    if not hidden_rows.any() and len(outside) == 0:
        blocks.append(Paragraph("No therapist lies outside the 99.8 % limits."))
    elif not hidden_rows.any():
        names = ", ".join(
            f"{u} ({p})" for u, p in zip(outside["unit"], outside["position"], strict=True)
        )
        blocks.append(Paragraph(f"Outside the 99.8 % limits: {names}."))
    if _can_draw() and not hidden_rows.any():
        from dnoutcomes.plots.control import plot_funnel

        blocks.extend(
            figure_block(
                context,
                "funnel",
                "Funnel plot: share of NPRS responders per therapist",
                "Funnel plot of each therapist's share of responders against episodes.",
                lambda: plot_funnel(funnel),
            )
        )
    elif hidden_rows.any():
        blocks.append(
            Paragraph(
                "The funnel plot, the overall share and the therapists outside the limits "
                "are not shown because for some therapists the episodes, responders or "
                f"non-responders are fewer than {context.min_cell}: a plot of only the others "
                "would mislead, and the overall share would give the hidden ones back. The "
                "table shows them suppressed."
            )
        )
    blocks.append(
        Table(
            key="funnel",
            title="Responders per therapist",
            frame=shown.rename(columns={"unit": "therapist_id"}),
            labels={
                "therapist_id": "Therapist",
                "events": "Responders",
                "n": "Episodes",
                "share": "% responders",
                "position": "Against the limits",
            },
            formats={"events": "int", "n": "int", "share": "pct"},
        )
    )
    return SectionOutcome(
        Section("funnel", title, tuple(blocks)),
        extra={
            "funnel": {
                "target": None if hidden_rows.any() else funnel.target,
                "months": [months[0], months[-1]],
            }
        },
    )
