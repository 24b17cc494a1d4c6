"""The report's first page: its indicators as NHS England's "Making Data Count" reads them,
each with a variation icon (is something changing?) and an assurance icon (will the
target be met?).

The three indicators are those of the control charts (every arm, the trailing 24 months up
to the period's end, :mod:`dnoutcomes.report.charts`): mean NPRS improvement, the share of
responders, adverse events per 100 dry-needling sessions. They are charted at the same unit
as the control charts (month, else quarter; :func:`dnoutcomes.report._chart_unit.
choose_unit`), and an indicator whose points would give a count below the threshold away is
withheld with its icons, exactly as its control chart is. The icons follow
:mod:`dnoutcomes.qi.mdc` (rules, icons and references); the targets come from the
protocol's ``[casemix.targets]``: an indicator without a target has no assurance icon and
the page says "no target set"; its ``[casemix.phases]`` start new phases (limits
recomputed from each; a month becomes its quarter when the charts are by quarter).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import DnOutcomesError
from dnoutcomes.report._chart_unit import chart_frame, choose_unit
from dnoutcomes.report._context import Context, SectionOutcome, figure_block
from dnoutcomes.report.model import Paragraph, Section, Table

__all__ = ["NO_TARGET", "SUMMARY_INDICATORS", "summary_section", "withhold_summary"]

#: What the assurance column says when the protocol sets no target.
NO_TARGET = "no target set"

#: (indicator, control chart, label, direction of improvement, what is small).
SUMMARY_INDICATORS: tuple[tuple[str, str, str, str, str], ...] = (
    ("mean_improvement", "i_chart", "Mean NPRS improvement (points)", "increase", "episodes"),
    (
        "responders",
        "p_chart",
        "NPRS responders (% of episodes)",
        "increase",
        "episodes, responders or non-responders",
    ),
    (
        "adverse_events",
        "u_chart",
        "Adverse events per 100 dry-needling sessions",
        "decrease",
        "adverse events",
    ),
)


def _highlight(context: Context, unit: str) -> tuple[str, str]:
    start, end = pd.Period(context.period.start, freq="M"), pd.Period(context.period.end, "M")
    if unit == "month":
        return str(start), str(end)
    return f"{start.year}-Q{start.quarter}", f"{end.year}-Q{end.quarter}"


def _phases(
    declared: tuple[tuple[str, str], ...], periods: list[str], unit: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """The protocol's phases at the chart's unit (a month becomes its quarter), those inside
    the chart's window, and sentences on the ones left out."""
    kept: dict[str, str] = {}
    notes: list[str] = []
    for month, name in declared:
        start = pd.Period(month, freq="M")
        label = month if unit == "month" else f"{start.year}-Q{start.quarter}"
        if label not in periods or label == periods[0]:
            notes.append(f"The phase “{name}” ({month}) starts outside the charts' window.")
            continue
        if label in kept:
            notes.append(
                f"The phases “{kept[label]}” and “{name}” start in the same quarter; the "
                "charts begin one phase there, named after both."
            )
            kept[label] = f"{kept[label]}; {name}"
            continue
        kept[label] = name
    return list(kept.items()), notes


def _chart(
    key: str,
    frame: pd.DataFrame,
    target: float | None,
    context: Context,
    unit: str,
    phases: list[tuple[str, str]],
) -> Any:
    from dnoutcomes.qi.mdc import mdc_chart

    periods = frame["month"].tolist()
    common: dict[str, Any] = {
        "periods": periods,
        "highlight": _highlight(context, unit),
        "phases": phases,
    }
    if key == "mean_improvement":
        episodes = frame["episodes"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(episodes > 0, frame["improvement_sum"] / episodes, np.nan)
        return mdc_chart(
            mean,
            improvement="increase",
            target=target,
            label="mean NPRS improvement (points)",
            **common,
        )
    if key == "responders":
        return mdc_chart(
            frame["responders"],
            n=frame["episodes"],
            kind="p",
            improvement="increase",
            target=target,
            label="NPRS responders",
            **common,
        )
    return mdc_chart(
        frame["adverse_events"],
        n=frame["dn_sessions"],
        kind="u",
        per=100.0,
        improvement="decrease",
        target=target,
        label="adverse events per 100 DN sessions",
        **common,
    )


def _assurance(chart: Any, target: float | None) -> str:
    from dnoutcomes.qi.mdc_rules import ICON_TEXT

    if target is None:
        return NO_TARGET
    if chart.assurance_icon is None:
        return "no assurance icon: the latest points form a run chart, without limits"
    return str(ICON_TEXT[chart.assurance_icon])


def summary_section(context: Context) -> SectionOutcome:
    """The summary page: each indicator's latest value, limits, target and icons.

    Parameters
    ----------
    context
        The report's data, period and protocol (its ``[casemix.targets]`` and
        ``[casemix.phases]``).

    Returns
    -------
    SectionOutcome
        A sentence, the table ``summary`` (``indicator``, ``period`` (latest), ``value``,
        ``centre``, ``lcl``, ``ucl``, ``target`` (a number or ``"no target set"``),
        ``variation``, ``assurance``; a withheld indicator says why in ``variation``), the
        Making-Data-Count chart of each indicator shown (report period highlighted, icons
        drawn), and ``extra["summary"]`` (the unit, the rows, each chart's ``to_dict``).
    """
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.qi.mdc_rules import ICON_TEXT
    from dnoutcomes.report.charts import _qi, chart_window

    title = "Summary of indicators"
    qi, failure = _qi(context, "The summary of indicators")
    if failure is not None:
        return SectionOutcome(Section("summary", title, (failure,)))
    first, last = chart_window(context)
    spec = (context.protocol or default_protocol()).casemix
    targets = spec.target_map()
    present = tuple(key for _, key, *_ in SUMMARY_INDICATORS if getattr(qi, key) is not None)
    unit, at_unit, drawable = choose_unit(chart_frame(qi), context.min_cell, present)
    phases, phase_notes = _phases(spec.phases, at_unit["month"].tolist(), unit)
    rows: list[dict[str, Any]] = []
    charts: dict[str, Any] = {}
    figures: list[Any] = []
    for name, key, label, _direction, small in SUMMARY_INDICATORS:
        target = targets.get(name)
        shown_target: Any = NO_TARGET if target is None else target
        if name == "responders" and target is not None:
            shown_target = 100 * target
        row: dict[str, Any] = {"indicator": label, "period": "", "value": np.nan}
        row.update(centre=np.nan, lcl=np.nan, ucl=np.nan, target=shown_target)
        if key not in present:
            row.update(variation="not recorded", assurance="")
            rows.append(row)
            continue
        if not drawable.get(key, False):
            row.update(
                variation=f"withheld: some {unit}s describe fewer than {context.min_cell} {small}",
                assurance="withheld",
            )
            rows.append(row)
            continue
        try:
            chart = _chart(name, at_unit, target, context, unit, phases)
        except DnOutcomesError as exc:
            row.update(variation=f"not computed: {exc}", assurance="")
            rows.append(row)
            continue
        charts[name] = chart
        latest = chart.latest
        scale = 100.0 if name == "responders" else 1.0
        row.update(
            period=str(latest["period"]),
            value=scale * float(latest["value"]),
            centre=scale * float(latest["centre"]),
            lcl=scale * float(latest["lcl"]),
            ucl=scale * float(latest["ucl"]),
            variation=str(ICON_TEXT[chart.variation_icon]),
            assurance=_assurance(chart, target),
        )
        rows.append(row)
        from dnoutcomes.plots.mdc import plot_mdc_chart

        figures.extend(
            figure_block(
                context,
                f"summary_{name}",
                f"{label}: Making Data Count chart, {first} to {last}",
                f"Control chart of {label.lower()} by {unit}, the report period shaded, "
                "special-cause points coloured, with its variation and assurance icons.",
                lambda c=chart: plot_mdc_chart(c),  # type: ignore[misc]
            )
        )
    frame = pd.DataFrame(rows)
    missing = [label for (name, _, label, *_) in SUMMARY_INDICATORS if name not in targets]
    lead = (
        f"Every arm, {first} to {last}, by {unit}; the latest {unit} is read against the "
        "limits of its process. Variation: is something changing (special cause) or is it "
        "the usual noise (common cause)? Assurance: will the process reliably meet its "
        "target? "
        + (
            f"No target is set for {'; '.join(missing)}, so "
            f"{'it has' if len(missing) == 1 else 'they have'} no assurance icon (a "
            "protocol gives targets under [casemix.targets]). "
            if missing
            else ""
        )
        + (
            "Phases (limits recomputed from each): "
            + "; ".join(f"from {start}, {name}" for start, name in phases)
            + ". "
            if phases
            else ""
        )
        + " ".join(phase_notes)
        + (" " if phase_notes else "")
        + "The icons are explained in the methods section and in docs/qi.md."
    )
    table = Table(
        key="summary",
        title="Indicators with their variation and assurance icons",
        frame=frame,
        labels={
            "indicator": "Indicator",
            "period": "Latest",
            "value": "Value",
            "centre": "Centre",
            "lcl": "Lower limit",
            "ucl": "Upper limit",
            "target": "Target",
            "variation": "Variation",
            "assurance": "Assurance",
        },
        formats={c: "f2" for c in ("value", "centre", "lcl", "ucl", "target")},
        note="Responders in % of episodes with both NPRS values; limits at the latest point "
        "(a run chart has none). Special cause: a point outside the limits, a run of 7 on "
        "one side of the centre, a trend of 7, or two of three points near a limit.",
    )
    extra = {
        "summary": {
            "unit": unit,
            "rows": frame.replace({np.nan: None}).to_dict(orient="records"),
            "charts": {name: chart.to_dict() for name, chart in charts.items()},
        }
    }
    blocks = (Paragraph(lead, emphasis=True), table, *figures)
    return SectionOutcome(Section("summary", title, blocks), extra=extra)


#: Why the summary's charts are withheld after the report-wide suppression pass.
WITHHELD_ACROSS = (
    "The indicators' values, limits and icons are withheld: a count behind the control "
    "charts has been hidden so that a count below {min_cell} elsewhere in this report cannot "
    "be worked back, and these charts are drawn from the same counts."
)


def withhold_summary(
    sections: list[Section], extra: dict[str, Any], min_cell: int
) -> tuple[list[Section], dict[str, Any]]:
    """The summary page with every value, limit, icon and chart withheld: called when the
    report-wide suppression pass (:mod:`dnoutcomes.report._disclose`) hides a count of the
    control charts' table, from which the summary's charts are drawn too.

    Returns
    -------
    (sections, extra)
        New objects; the inputs are not changed. The ``summary`` table keeps its rows
        (indicator and target) with ``variation`` and ``assurance`` saying "withheld";
        ``extra["summary"]["charts"]`` is emptied.
    """
    out: list[Section] = []
    reason = WITHHELD_ACROSS.format(min_cell=min_cell)
    for section in sections:
        if section.key != "summary":
            out.append(section)
            continue
        blocks: list[Any] = []
        for block in section.blocks:
            if isinstance(block, Table) and block.key == "summary":
                frame = block.frame.copy()
                for column in ("value", "centre", "lcl", "ucl"):
                    frame[column] = np.nan
                frame["period"] = ""
                frame["variation"] = "withheld"
                frame["assurance"] = "withheld"
                blocks.append(replace(block, frame=frame))
                blocks.append(Paragraph(reason))
            elif isinstance(block, Paragraph):
                blocks.append(block)
        out.append(replace(section, blocks=tuple(blocks)))
    out_extra = dict(extra)
    if isinstance(extra.get("summary"), dict):
        rows = [
            {
                **row,
                "value": None,
                "centre": None,
                "lcl": None,
                "ucl": None,
                "period": "",
                "variation": "withheld",
                "assurance": "withheld",
            }
            for row in extra["summary"].get("rows", [])
        ]
        out_extra["summary"] = {**extra["summary"], "rows": rows, "charts": {}, "withheld": reason}
    return out, out_extra
