"""The descriptive sections of the report: headline figures, data quality, patient flow,
caseload, and methods and provenance; and the list of every section builder in order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    analysed,
    count_text,
    figure_block,
    small_any,
    suppress,
    suppress_text,
)
from dnoutcomes.report._flow_cells import protect_flow
from dnoutcomes.report.headline import Headline, headline_figures
from dnoutcomes.report.model import CellFormat, Paragraph, Section, Table

__all__ = [
    "BUILDERS",
    "Context",
    "SectionOutcome",
    "caseload_section",
    "data_quality_section",
    "flow_section",
    "headline_section",
]

_HEADLINE_ROWS: tuple[tuple[str, str, CellFormat], ...] = (
    ("episodes", "Episodes discharged", "int"),
    ("median_visits", "Median visits per episode", "f1"),
    ("responder_pct", "NPRS responders (improved ≥ 2 points), % of episodes with both", "pct"),
    ("mean_improvement", "Mean NPRS improvement, baseline to discharge (points)", "f2"),
    ("ae_rate", "Adverse events per 100 dry-needling sessions", "f1"),
    ("complete_pct", "Episodes with complete baseline and discharge NPRS and ODI, %", "pct"),
)


def _headline_frame(figures: Sequence[Headline]) -> pd.DataFrame:
    recorded = all(f.adverse_events is not None for f in figures)
    frame = pd.DataFrame(
        {
            "episodes": [f.episodes for f in figures],
            "median_visits": [f.median_visits for f in figures],
            "nprs_pairs": [f.nprs_pairs for f in figures],
            "responders": [f.nprs_responders for f in figures],
            "responder_pct": [100 * f.responder_share for f in figures],
            "mean_improvement": [f.mean_nprs_improvement for f in figures],
            "ae_events": [(f.adverse_events or 0) if recorded else 0 for f in figures],
            "ae_rate": [f.ae_rate_per_100 if recorded else np.nan for f in figures],
            "complete": [f.complete_outcomes for f in figures],
            "complete_pct": [100 * f.complete_share for f in figures],
        },
        index=["this_period", "previous_period"],
    )
    counts = ["episodes", "nprs_pairs", "responders", "ae_events", "complete"]
    return frame.astype({c: "int64" for c in counts})


def _plain_number(value: Any, fmt: CellFormat) -> Any:
    """A NumPy number as a Python one (a count as ``int``); text is kept."""
    if isinstance(value, np.generic):
        value = value.item()
    if fmt == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def headline_section(context: Context) -> SectionOutcome:
    """Headline figures of the period against the previous one (all arms).

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        A lead sentence and the table ``headline``: ``indicator`` (text), ``this_period``,
        ``previous_period`` (a number, ``"<11"``, ``"[c]"`` or ``"not recorded"``) and
        ``change`` (this minus previous; percentage points for shares; NaN when either is
        not a number).

    Notes
    -----
    Counts are suppressed; a share is hidden when its numerator, denominator or complement
    is small; a mean, median or rate is hidden when it describes fewer episodes (or
    events) than the threshold. See :func:`~dnoutcomes.report.headline.headline_figures`
    for the definitions and missing values.
    """
    now = headline_figures(context.current, context.current.episodes["episode_id"])
    then = headline_figures(context.previous, context.previous.episodes["episode_id"])
    return headline_outcome(context, now, then)


def headline_outcome(context: Context, now: Headline, then: Headline) -> SectionOutcome:
    """The headline section from the two periods' figures (:func:`headline_section`; the
    Dask engine computes the figures from partition summaries).

    Parameters
    ----------
    context
        The report's parameters.
    now, then
        The figures of the period and of the previous period.

    Returns
    -------
    SectionOutcome
    """
    frame = _headline_frame((now, then))
    safe_table = suppress(
        frame,
        context,
        counts=["episodes", "nprs_pairs", "responders", "ae_events", "complete"],
        percents={
            "responder_pct": ("responders", "nprs_pairs"),
            "complete_pct": ("complete", "episodes"),
        },
        follow={
            "median_visits": "episodes",
            "mean_improvement": "nprs_pairs",
            "ae_rate": "ae_events",
        },
    ).table
    recorded = now.adverse_events is not None
    rows = []
    for key, label, fmt in _HEADLINE_ROWS:
        this: Any = _plain_number(safe_table.loc["this_period", key], fmt)
        last: Any = _plain_number(safe_table.loc["previous_period", key], fmt)
        if key == "ae_rate" and not recorded:
            this = last = "not recorded"
        change: Any = np.nan
        if all(isinstance(v, int | float | np.number) for v in (this, last)):
            change = float(this) - float(last)
        rows.append(
            {"indicator": label, "this_period": this, "previous_period": last, "change": change}
        )
    table = Table(
        key="headline",
        title=f"Headline figures: {context.period.label} against {context.previous_period.label}",
        frame=pd.DataFrame(rows),
        labels={
            "indicator": "Indicator",
            "this_period": context.period.label,
            "previous_period": context.previous_period.label,
            "change": "Change",
        },
        row_formats=tuple(fmt for _, _, fmt in _HEADLINE_ROWS),
        note=(
            "All arms. Episodes discharged in each period; a responder's NPRS improved by at "
            "least the MCID of 2 points; adverse events follow a dry-needling session of "
            "these episodes. The change of a share is in percentage points."
        ),
    )
    lead = Paragraph(
        f"{count_text(now.episodes, context)} episodes were discharged in "
        f"{context.period.label}, against {count_text(then.episodes, context)} in "
        f"{context.previous_period.label}.",
        emphasis=True,
    )
    blocks: list[Any] = [lead, table]
    if not recorded:
        blocks.append(
            Paragraph(
                "Adverse events are not recorded in this export (it has no adverse_events "
                "table), so no safety figure is given."
            )
        )
    return SectionOutcome(Section("headline", "Headline figures", tuple(blocks)))


def data_quality_section(context: Context) -> SectionOutcome:
    """Rows read, loaded and rejected per table, and the data-quality warnings by rule.

    Parameters
    ----------
    context
        The report's data and parameters; the whole loaded export is described.

    Returns
    -------
    SectionOutcome
        A sentence, the table ``data_quality_rows`` (``table``, ``read``, ``loaded``,
        ``rejected``; suppressed, with ``read = loaded + rejected`` protected) and, when
        there are warnings, ``data_quality_warnings`` (``table``, ``rule``, ``warnings``).
    """
    data = context.dataset
    warnings = data.warnings
    by_rule = None
    if len(warnings):
        by_rule = (
            warnings.groupby(["table", "rule"], observed=True, sort=True)
            .size()
            .rename("warnings")
            .reset_index()
        )
    return data_quality_outcome(context, data.accounting, by_rule, getattr(data, "mode", "strict"))


def data_quality_outcome(
    context: Context, accounting: pd.DataFrame, by_rule: pd.DataFrame | None, mode: str
) -> SectionOutcome:
    """The data-quality section from the row accounting and the warnings by rule
    (:func:`data_quality_section`; the Dask engine adds them over the partitions).

    Parameters
    ----------
    context
        The report's parameters.
    accounting
        ``table``, ``read``, ``loaded``, ``rejected``.
    by_rule
        ``table``, ``rule``, ``warnings`` (sorted by table and rule), or ``None`` when
        there is no warning.
    mode
        The loading mode.

    Returns
    -------
    SectionOutcome
    """
    accounting = accounting[["table", "read", "loaded", "rejected"]].copy()
    for column in ("read", "loaded", "rejected"):
        accounting[column] = accounting[column].astype("int64")
    shown = suppress(
        accounting,
        context,
        counts=["read", "loaded", "rejected"],
        totals={"read": ["loaded", "rejected"]},
    ).table
    blocks: list[Any] = []
    total_read = int(accounting["read"].sum())
    total_rejected = int(accounting["rejected"].sum())
    if total_rejected == 0:
        blocks.append(
            Paragraph(
                f"Every row of the export loaded ({count_text(total_read, context)} rows in "
                f"{len(accounting)} tables, {mode} mode); no row was rejected."
            )
        )
    else:
        blocks.append(
            Paragraph(
                f"{count_text(total_rejected, context)} of {count_text(total_read, context)} "
                f"rows were rejected ({mode} mode) and are left out of every figure; each "
                "rejected row and its reason is in the loader's rejects table."
            )
        )
    blocks.append(
        Table(
            key="data_quality_rows",
            title="Rows read, loaded and rejected, by table (whole export)",
            frame=shown,
            labels={"table": "Table", "read": "Read", "loaded": "Loaded", "rejected": "Rejected"},
            formats={"read": "int", "loaded": "int", "rejected": "int"},
        )
    )
    if by_rule is not None and len(by_rule):
        by_rule = by_rule.copy()
        by_rule["warnings"] = by_rule["warnings"].astype("int64")
        blocks.append(
            Table(
                key="data_quality_warnings",
                title="Data-quality warnings by rule (whole export)",
                frame=suppress(by_rule, context, counts=["warnings"]).table,
                labels={"table": "Table", "rule": "Rule", "warnings": "Warnings"},
                formats={"warnings": "int"},
                note="Warnings do not stop the analysis; each is listed in Dataset.warnings.",
            )
        )
    else:
        blocks.append(Paragraph("The loader raised no data-quality warning."))
    return SectionOutcome(Section("data_quality", "Data quality", tuple(blocks)))


def flow_section(context: Context) -> SectionOutcome:
    """CONSORT-style patient flow of the period's episodes for the primary comparison.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        The table ``patient_flow`` (``arm``, ``stage``, ``n``, ``excluded``, ``reason``;
        counts suppressed, also inside ``reason``) and the diagram when no count is small.
    """
    flow, failure = analysed(context, "flow", "The patient flow")
    if failure is not None:
        return SectionOutcome(Section("flow", "Patient flow", (failure,)))
    frame = flow.frame.copy()
    for column in ("n", "excluded"):
        frame[column] = frame[column].astype("int64")
    # Each stage is the one before minus those left out: hide enough cells that no small
    # count follows by subtraction (27 → 21 with "<11" left out gave 6).
    shown = protect_flow(frame, context.min_cell)
    shown["reason"] = shown["reason"].astype(str).map(lambda t: suppress_text(t, context))
    blocks: list[Any] = [
        Paragraph(
            "From the episodes discharged in the period to those analysed in the primary "
            "comparison (NPRS at discharge): each step says how many were left out and why."
        ),
        Table(
            key="patient_flow",
            title="Patient flow",
            frame=shown,
            labels={
                "arm": "Arm",
                "stage": "Stage",
                "n": "Episodes",
                "excluded": "Left out",
                "reason": "Why",
            },
            formats={"n": "int", "excluded": "int"},
        ),
    ]
    if not small_any(frame, ["n", "excluded"], context):
        from dnoutcomes.plots.flow import plot_flow

        blocks.extend(
            figure_block(
                context,
                "patient_flow",
                "Patient flow (CONSORT-style)",
                "Flow diagram of episodes from discharge to analysis, by arm.",
                lambda: plot_flow(flow, registry=context.current.registry),
            )
        )
    else:
        blocks.append(
            Paragraph(
                f"The flow diagram is not drawn because some of its counts are below "
                f"{context.min_cell}; the table shows them suppressed."
            )
        )
    return SectionOutcome(
        Section("flow", "Patient flow", tuple(blocks)),
    )


def _caseload_table(context: Context, by: str, label: str) -> Table:
    counts, visits, all_visits = _caseload_counts(context, by)
    return caseload_table(context, by, label, counts, visits, all_visits)


def _caseload_counts(context: Context, by: str) -> tuple[pd.DataFrame, pd.Series, float]:
    """Episodes per group and arm kind, the median visits per group and overall."""
    episodes = context.current.episodes
    patients = context.current.patients.set_index("patient_id")
    column = episodes[by] if by in episodes else episodes["patient_id"].map(patients[by])
    groups = column.astype("string").fillna("(not recorded)")
    arms = episodes["arm"].astype("string").fillna("(none)")
    kind = np.select(
        [arms == context.reference, arms == context.comparator],
        ["reference", "comparator"],
        default="other_arms",
    )
    counts = (
        pd.crosstab(groups, pd.Series(kind, index=episodes.index))
        .reindex(columns=["reference", "comparator", "other_arms"], fill_value=0)
        .astype("int64")
    )
    visits = episodes["n_sessions"].astype("float64").groupby(groups).median()
    return counts, visits, float(episodes["n_sessions"].median())


def caseload_table(
    context: Context,
    by: str,
    label: str,
    counts: pd.DataFrame,
    visits: pd.Series,
    all_visits: float,
) -> Table:
    """One caseload table from its counts (:func:`caseload_section`; the Dask engine
    adds the counts over the partitions).

    Parameters
    ----------
    context
        The report's parameters.
    by, label
        The grouping column and its name in words.
    counts
        Episodes per group (index, sorted) and arm kind (columns ``reference``,
        ``comparator``, ``other_arms``).
    visits, all_visits
        The median visits per group, and over every episode.

    Returns
    -------
    Table
    """
    counts = counts.copy()
    counts.insert(0, "episodes", counts.sum(axis=1).astype("int64"))
    counts.loc["All"] = counts.sum(axis=0)
    counts = counts.astype("int64")
    total = int(counts["episodes"].iloc[-1])
    counts["pct"] = 100 * counts["episodes"] / total
    counts["median_visits"] = visits.reindex(counts.index)
    counts.loc["All", "median_visits"] = all_visits
    shown = suppress(
        counts,
        context,
        counts=["episodes", "reference", "comparator", "other_arms"],
        percents={"pct": ("episodes", float(total))},
        totals={"episodes": ["reference", "comparator", "other_arms"]},
        total_row="All",
        follow={"median_visits": "episodes"},
    ).table
    shown.index.name = by
    shown = shown.reset_index()
    return Table(
        key=f"caseload_{by}",
        title=f"Episodes discharged in {context.period.label} by {label}",
        frame=shown[
            [by, "episodes", "pct", "reference", "comparator", "other_arms", "median_visits"]
        ],
        labels={
            by: label.capitalize(),
            "episodes": "Episodes",
            "pct": "% of episodes",
            "reference": context.reference,
            "comparator": context.comparator,
            "other_arms": "Other arms",
            "median_visits": "Median visits",
        },
        formats={
            "episodes": "int",
            "pct": "pct",
            "reference": "int",
            "comparator": "int",
            "other_arms": "int",
            "median_visits": "f1",
        },
    )


def caseload_section(context: Context) -> SectionOutcome:
    """Episodes discharged in the period by site, therapist and condition, split by arm.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        The tables ``caseload_site_id``, ``caseload_therapist_id`` and
        ``caseload_condition``: the group, ``episodes``, ``pct`` (of all the period's
        episodes), ``reference``, ``comparator``, ``other_arms`` (episodes per arm) and
        ``median_visits``, with an ``All`` row; suppressed with row and column totals
        protected, and a median hidden for a group below the threshold.
    """
    blocks = (
        Paragraph(
            "Who was treated in the period: episodes discharged, by site, by therapist and by "
            "the patient's condition, with the arms compared."
        ),
        _caseload_table(context, "site_id", "site"),
        _caseload_table(context, "therapist_id", "therapist"),
        _caseload_table(context, "condition", "condition"),
    )
    return SectionOutcome(Section("caseload", "Caseload", blocks))


def _late_builders() -> list[tuple[str, str, Callable[[Context], SectionOutcome]]]:
    from dnoutcomes.report import benchmarking, charts, comparisons, safety, table1

    return [
        ("table1", "Table 1", table1.table1_section),
        ("comparisons", "the comparisons", comparisons.comparisons_section),
        ("safety", "safety", safety.safety_section),
        ("control_charts", "the control charts", charts.control_charts_section),
        ("funnel", "the therapist funnel plot", charts.funnel_section),
        ("benchmarking", "the case-mix adjusted benchmarking", benchmarking.benchmarking_section),
    ]


#: Every section builder in reading order: (key, label for progress lines, builder). The
#: methods section comes last and is added by the report builder.
BUILDERS: list[tuple[str, str, Callable[[Context], SectionOutcome]]] = [
    ("headline", "the headline figures", headline_section),
    ("data_quality", "data quality", data_quality_section),
    ("flow", "the patient flow", flow_section),
    ("caseload", "the caseload", caseload_section),
]


def _summary_builder() -> list[tuple[str, str, Callable[[Context], SectionOutcome]]]:
    from dnoutcomes.report.summary import summary_section

    return [("summary", "the summary of indicators", summary_section)]


def all_builders() -> list[tuple[str, str, Callable[[Context], SectionOutcome]]]:
    """Every section builder in reading order (the methods section excluded). The report
    runs either ``funnel`` (``benchmark="raw"``) or ``benchmarking`` (``"adjusted"``)."""
    return [*_summary_builder(), *BUILDERS, *_late_builders()]
