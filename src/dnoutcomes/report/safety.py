"""The safety section of the report: adverse events per 100 dry-needling sessions per arm
(:func:`dnoutcomes.stats.safety.compare_safety`), by severity, notable events and needling
despite a contraindication; "not recorded" when the export has no adverse-events table."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd

from dnoutcomes.qi.cells import small_mark
from dnoutcomes.qi.disclosure import Relation, protect
from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    analysed,
    count_text,
    suppress,
)
from dnoutcomes.report.model import HIDDEN, Paragraph, Section, Table

__all__ = ["RESTRICTED_NOTE", "safety_section"]

#: Where the episode listings are: never in the circulated report (they name episodes).
RESTRICTED_NOTE = (
    "The list of episodes is not part of this report (it names episodes): it is written "
    "only to the restricted file of `dnoutcomes report --restricted FILE`, not for circulation."
)


def safety_section(context: Context) -> SectionOutcome:
    """Adverse events per 100 DN sessions per arm, by severity, notable events and
    needling despite a contraindication; "not recorded" without the table.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        Sentences and the tables ``safety_rates`` (``arm``, ``episodes``, ``events``,
        ``dn_sessions``, ``rate_per_100``, ``conf_low``, ``conf_high``),
        ``safety_severity`` (``arm``, ``severity``, ``events``) and, when any,
        ``safety_notable``; or one "not recorded" sentence.
    """
    title = "Safety"
    if context.current.adverse_events is None:
        return SectionOutcome(
            Section(
                "safety",
                title,
                (
                    Paragraph(
                        "Adverse events: not recorded. The export has no adverse_events "
                        "table, so no rate is given (not recorded is not the same as none)."
                    ),
                ),
            ),
            extra={"safety": "not recorded"},
        )
    result, failure = analysed(context, "safety", "The safety analysis")
    if failure is not None:
        return SectionOutcome(Section("safety", title, (failure,)))
    rates = result.table[
        ["arm", "episodes", "events", "dn_sessions", "rate_per_100", "conf_low", "conf_high"]
    ].copy()
    for column in ("episodes", "events", "dn_sessions"):
        rates[column] = rates[column].astype("int64")
    shown = suppress(
        rates,
        context,
        counts=["episodes", "events"],
        follow={"rate_per_100": "events", "conf_low": "events", "conf_high": "events"},
    ).table
    severity = result.by_severity[["arm", "severity", "events"]].copy()
    severity["events"] = severity["events"].astype("int64")
    shown, shown_severity = _protect_events(rates, shown, severity, context.min_cell)
    blocks: list[Any] = [
        Paragraph(
            "Adverse events after dry-needling sessions of the episodes discharged in the "
            "period, per 100 DN sessions with exact Poisson 95 % confidence intervals."
        ),
        Table(
            key="safety_rates",
            title="Adverse events per 100 dry-needling sessions, by arm",
            frame=shown,
            labels={
                "arm": "Arm",
                "episodes": "Episodes",
                "events": "Events",
                "dn_sessions": "DN sessions",
                "rate_per_100": "Per 100 DN sessions",
                "conf_low": "95 % CI low",
                "conf_high": "95 % CI high",
            },
            formats={
                "episodes": "int",
                "events": "int",
                "dn_sessions": "int",
                "rate_per_100": "f1",
                "conf_low": "f1",
                "conf_high": "f1",
            },
            note="An arm without DN sessions has no rate (n/a), never 0.",
        ),
        Table(
            key="safety_severity",
            title="Adverse events by severity",
            frame=shown_severity,
            labels={"arm": "Arm", "severity": "Severity", "events": "Events"},
            formats={"events": "int"},
        ),
    ]
    restricted: list[Table] = []
    notable = result.notable_events
    if len(notable):
        columns = [
            c
            for c in ("event_id", "episode_id", "arm", "type", "severity", "reporter")
            if c in notable
        ]
        restricted.append(
            Table(
                key="safety_notable",
                title="Serious events, pneumothorax, infection and nerve injury",
                frame=notable[columns].reset_index(drop=True).astype(str),
                labels={c: c.replace("_", " ").capitalize() for c in columns},
            )
        )
        blocks.append(
            Paragraph(
                f"Serious events, pneumothorax, infection or nerve injury: "
                f"{count_text(len(notable), context)} events. {RESTRICTED_NOTE}"
            )
        )
    else:
        blocks.append(
            Paragraph("No serious event, pneumothorax, infection or nerve injury was recorded.")
        )
    contraindicated = result.contraindicated
    if len(contraindicated):
        blocks.append(
            Paragraph(
                "Dry needling was given despite a recorded contraindication in "
                f"{count_text(len(contraindicated), context)} episodes. {RESTRICTED_NOTE}"
            )
        )
        listing = contraindicated[["episode_id", "arm"]].sort_values("episode_id")
        restricted.append(
            Table(
                key="safety_contraindicated",
                title="Episodes needled despite a recorded contraindication",
                frame=listing.reset_index(drop=True).astype(str),
                labels={"episode_id": "Episode", "arm": "Arm"},
            )
        )
    else:
        blocks.append(Paragraph("No episode had dry needling despite a recorded contraindication."))
    return SectionOutcome(Section("safety", title, tuple(blocks)), restricted=tuple(restricted))


def _protect_events(
    rates: pd.DataFrame, shown: pd.DataFrame, severity: pd.DataFrame, min_cell: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events by arm and by arm and severity, protected together: an arm's events are the
    sum of its severities (44 events, mild 43 and "<11" significant gave 1 on main), and a
    rate beside its DN sessions gives its events back, so it follows its events."""
    values: dict[Hashable, float] = {}
    relations: list[Relation] = []
    for i, arm, events in zip(rates.index, rates["arm"], rates["events"], strict=True):
        parts = [("severity", j) for j in severity.index[severity["arm"] == arm]]
        values[("arm", i)] = float(events)
        relations.append(Relation.total(("arm", i), parts))
    for j, events in zip(severity.index, severity["events"], strict=True):
        values[("severity", j)] = float(events)
    primary, hidden = protect(values, relations, min_cell=min_cell)

    def mark(cell: Hashable, value: Any) -> Any:
        if cell in primary:
            return small_mark(min_cell)
        return HIDDEN if cell in hidden else value

    shown = shown.copy()
    shown["events"] = [
        mark(("arm", i), v) for i, v in zip(rates.index, rates["events"], strict=True)
    ]
    gone = [("arm", i) in hidden for i in rates.index]
    for column in ("rate_per_100", "conf_low", "conf_high"):
        shown[column] = [HIDDEN if g else v for g, v in zip(gone, shown[column], strict=True)]
    shown_severity = severity.copy()
    shown_severity["events"] = [
        mark(("severity", j), v) for j, v in zip(severity.index, severity["events"], strict=True)
    ]
    return shown, shown_severity
