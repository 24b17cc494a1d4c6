"""The analytic sections of the report: Table 1, the comparisons of the two arms (with
plain-language sentences and the weighted estimate beside the naive one) and safety.

The numbers come from :mod:`dnoutcomes.cohort` and :mod:`dnoutcomes.stats`; this module
only selects them, suppresses small counts and words them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    figure_block,
    safe,
    scrub_counts,
    suppress,
    suppress_text,
)
from dnoutcomes.report.model import HIDDEN, Paragraph, Section, Table
from dnoutcomes.report.sentences import (
    arm_phrase,
    comparison_sentence,
    responder_sentence,
    weighted_sentence,
)
from dnoutcomes.stats.results import jsonable

__all__ = ["comparisons_section", "safety_section", "table1_section"]

_TIMEPOINT_WORDS = {
    "discharge": "at discharge",
    "followup_4w": "at 4-week follow-up",
    "followup_12w": "at 12-week follow-up",
    "followup_26w": "at 26-week follow-up",
    "followup_52w": "at 52-week follow-up",
}


_SUMMARY_WORDS = {
    "count": "n",
    "n_pct": "n (%)",
    "mean_sd": "mean (SD)",
    "median_iqr": "median [IQR]",
}


def _characteristic(variable: str, level: Any) -> str:
    if str(variable).endswith(" (baseline)"):
        measure = str(variable)[: -len(" (baseline)")]
        name = measure.upper() if len(measure) <= 5 else measure.replace("_", " ")
        return f"{name} at baseline"
    name = str(variable).replace("_id", "").replace("_", " ")
    name = name[:1].upper() + name[1:]
    if isinstance(level, str) and level:
        return f"{name}: {level.replace('_', ' ')}"
    return name


def _table1_frame(baseline: pd.DataFrame, context: Context) -> pd.DataFrame:
    """Table 1 rows ready to show: counts suppressed, summaries of small groups hidden."""
    rows = baseline[baseline["summary"] != "categorical"].reset_index(drop=True)
    episodes = rows[rows["summary"] == "count"]
    totals = {
        side: int(episodes[f"{side}_n"].iloc[0]) if len(episodes) else 0
        for side in ("reference", "comparator")
    }
    counted = rows["summary"].isin(["count", "n_pct"]).to_numpy()
    parts = []
    count_rows = rows[counted].copy()
    if len(count_rows):
        frame = pd.DataFrame(index=count_rows.index)
        for side in ("reference", "comparator"):
            frame[f"{side}_count"] = count_rows[f"{side}_n"].astype("int64")
            frame[f"{side}_den"] = (totals[side] - count_rows[f"{side}_missing"].fillna(0)).astype(
                "int64"
            )
            frame[f"{side}_spread"] = count_rows[f"{side}_estimate"].where(
                count_rows["summary"] == "n_pct"
            )
        frame["smd"] = count_rows["smd"]
        shown = suppress(
            frame,
            context,
            counts=["reference_count", "reference_den", "comparator_count", "comparator_den"],
            percents={
                "reference_spread": ("reference_count", "reference_den"),
                "comparator_spread": ("comparator_count", "comparator_den"),
            },
            follow={"smd": "reference_count"},
        ).table
        shown = shown.rename(
            columns={"reference_count": "reference_value", "comparator_count": "comparator_value"}
        )
        parts.append(shown.drop(columns=["reference_den", "comparator_den"]))
    numeric_rows = rows[~counted].copy()
    if len(numeric_rows):
        frame = pd.DataFrame(index=numeric_rows.index)
        for side in ("reference", "comparator"):
            frame[f"{side}_n"] = numeric_rows[f"{side}_n"].astype("int64")
            frame[f"{side}_value"] = numeric_rows[f"{side}_estimate"]
            is_median = numeric_rows["summary"] == "median_iqr"
            iqr = (
                numeric_rows[f"{side}_q1"].map("{:.1f}".format)
                + " to "
                + numeric_rows[f"{side}_q3"].map("{:.1f}".format)
            )
            frame[f"{side}_spread"] = (
                numeric_rows[f"{side}_sd"].astype(object).where(~is_median, iqr)
            )
        frame["smd"] = numeric_rows["smd"]
        shown = suppress(
            frame,
            context,
            counts=["reference_n", "comparator_n"],
            follow={
                "reference_value": "reference_n",
                "reference_spread": "reference_n",
                "comparator_value": "comparator_n",
                "comparator_spread": "comparator_n",
                "smd": "reference_n",
            },
        ).table
        parts.append(shown.drop(columns=["reference_n", "comparator_n"]))
    body = pd.concat(parts).sort_index()
    # An SMD with either arm's figure hidden could give that figure back.
    marked = body[["reference_value", "comparator_value"]].map(lambda v: isinstance(v, str))
    smd = body["smd"].astype(object)
    smd[marked.any(axis=1)] = HIDDEN
    body["smd"] = smd
    body.insert(
        0,
        "characteristic",
        [_characteristic(v, lv) for v, lv in zip(rows["variable"], rows["level"], strict=True)],
    )
    body.insert(1, "summary", rows["summary"].map(_SUMMARY_WORDS).fillna(rows["summary"]))
    count_only = (rows["summary"] == "count").to_numpy()
    for column in ("reference_spread", "comparator_spread", "smd"):
        values = body[column].astype(object)
        values[count_only] = ""  # nothing to show beside a number of episodes
        body[column] = values
    columns = [
        "characteristic",
        "summary",
        "reference_value",
        "reference_spread",
        "comparator_value",
        "comparator_spread",
        "smd",
    ]
    return body[columns].reset_index(drop=True)


def table1_section(context: Context) -> SectionOutcome:
    """Table 1: the period's episodes in the two compared arms, suppressed.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        The table ``table1``: ``characteristic``, ``summary`` (``n``, ``n (%)``,
        ``mean (SD)``, ``median [IQR]``), ``reference_value``, ``reference_spread``,
        ``comparator_value``, ``comparator_spread`` and ``smd``, from
        :func:`dnoutcomes.stats.descriptives.describe_baseline` (baseline NPRS and ODI).
    """
    from dnoutcomes.stats.descriptives import describe_baseline

    title = "Table 1: the patients compared"
    result, failure = safe(
        "Table 1",
        lambda: describe_baseline(
            context.current,
            reference=context.reference,
            comparator=context.comparator,
            measures=["nprs", "odi"],
        ),
    )
    if failure is not None:
        return SectionOutcome(Section("table1", title, (failure,)))
    shown = _table1_frame(result.frame, context)
    counts_row = shown["summary"].isin(["n", "n (%)"])
    table = Table(
        key="table1",
        title=f"Table 1: episodes discharged in {context.period.label}, by arm",
        frame=shown,
        labels={
            "characteristic": "Characteristic",
            "summary": "Summary",
            "reference_value": f"{context.reference}",
            "reference_spread": "% / SD / IQR",
            "comparator_value": f"{context.comparator}",
            "comparator_spread": "% / SD / IQR",
            "smd": "SMD",
        },
        formats={
            "reference_value": "f1",
            "reference_spread": "f1",
            "comparator_value": "f1",
            "comparator_spread": "f1",
            "smd": "f2",
        },
        row_formats=tuple("int" if c else None for c in counts_row),
        row_format_columns=("reference_value", "comparator_value"),
        note=(
            "Percentages are of the arm's episodes with a value; SMD is the standardised "
            "mean difference (comparator minus reference; |SMD| < 0.1 is balanced)."
        ),
    )
    return SectionOutcome(Section("table1", title, (table,)))


def _notes(result: Any, context: Context) -> list[Paragraph]:
    """The analysis's own notes (who was left out and why, convergence), counts suppressed."""
    notes = [suppress_text(str(note), context) for note in getattr(result, "notes", ())]
    if not notes:
        return []
    return [Paragraph("Notes: " + " ".join(dict.fromkeys(notes)))]


def _measure_info(context: Context, measure: str) -> tuple[str, str, str]:
    """(direction, unit, label) of a measure from the registry."""
    try:
        spec = context.current.registry[measure]
    except KeyError:
        return "lower", "", measure
    return str(spec.direction), str(spec.unit), str(spec.label)


def _outcome_label(context: Context, measure: str, timepoint: str) -> str:
    from dnoutcomes.plots._style import measure_name

    name = measure_name(measure, context.current.registry, short=True)
    return f"{name} {_TIMEPOINT_WORDS.get(timepoint, timepoint)}"


def _ancova_blocks(context: Context) -> tuple[list[Any], dict[str, Any], Any]:
    from dnoutcomes.stats.ancova import compare_outcomes

    result, failure = safe(
        "The adjusted comparison (ANCOVA)",
        lambda: compare_outcomes(
            context.current, reference=context.reference, comparator=context.comparator
        ),
    )
    if failure is not None:
        return [failure], {}, None
    frame = result.frame.copy()
    frame["n"] = frame["n"].astype("int64")
    frame["n_reference"] = pd.Series([r.n_reference for r in result.results], dtype="int64")
    frame["n_comparator"] = pd.Series([r.n_comparator for r in result.results], dtype="int64")
    blocks: list[Any] = []
    for i, row in enumerate(frame.itertuples(index=False)):
        direction, unit, label = _measure_info(context, row.measure)
        words = "Primary comparison" if row.role == "primary" else "Secondary comparison"
        blocks.append(Paragraph(f"{words}: {label} {_TIMEPOINT_WORDS.get(row.timepoint, '')}."))
        blocks.append(
            Paragraph(
                comparison_sentence(
                    measure=row.measure,
                    estimate=float(row.estimate),
                    conf_low=float(row.conf_low),
                    conf_high=float(row.conf_high),
                    reference=context.reference,
                    comparator=context.comparator,
                    direction=direction,
                    unit=unit,
                    label=label,
                ),
                emphasis=i == 0,
            )
        )
    # An arm's adjusted mean describes that arm's episodes: hidden when they are too few.
    shown = suppress(
        frame,
        context,
        counts=["n", "n_reference", "n_comparator"],
        follow={
            "adjusted_mean_reference": "n_reference",
            "adjusted_mean_comparator": "n_comparator",
        },
    ).table
    shown.insert(
        0,
        "outcome",
        [
            _outcome_label(context, m, t) + (" (primary)" if r == "primary" else "")
            for m, t, r in zip(frame["measure"], frame["timepoint"], frame["role"], strict=True)
        ],
    )
    table = Table(
        key="comparisons",
        title=f"Adjusted differences, {context.comparator} minus {context.reference} (ANCOVA)",
        frame=shown[
            [
                "outcome",
                "n",
                "estimate",
                "conf_low",
                "conf_high",
                "p_value",
                "p_holm",
                "adjusted_mean_reference",
                "adjusted_mean_comparator",
                "hedges_g",
            ]
        ],
        labels={
            "outcome": "Outcome",
            "role": "Role",
            "n": "Episodes",
            "estimate": "Difference",
            "conf_low": "CI low",
            "conf_high": "CI high",
            "p_value": "p",
            "p_holm": "p (Holm)",
            "adjusted_mean_reference": "Adj. mean, reference",
            "adjusted_mean_comparator": "Adj. mean, comparator",
            "hedges_g": "Hedges' g",
        },
        formats={
            "n": "int",
            "estimate": "f2",
            "conf_low": "f2",
            "conf_high": "f2",
            "p_value": "p",
            "p_holm": "p",
            "adjusted_mean_reference": "f2",
            "adjusted_mean_comparator": "f2",
            "hedges_g": "f2",
        },
        note=(
            f"Reference: {context.reference}; comparator: {context.comparator}. 95 % "
            "confidence intervals. Each outcome adjusted for its baseline value; secondary "
            "p-values Holm-corrected. "
            f"An arm's adjusted mean is hidden when it describes fewer than {context.min_cell} "
            "episodes."
        ),
    )
    blocks.append(table)
    blocks.extend(_notes(result, context))
    if not (shown["n"].astype(str).str.startswith("<")).any():
        from dnoutcomes.plots.forest import plot_effects

        effects = frame.drop(columns=["n", "n_reference", "n_comparator"])
        blocks.extend(
            figure_block(
                context,
                "comparisons_forest",
                "Adjusted differences with 95 % confidence intervals",
                "One row per outcome: the adjusted difference and its confidence interval.",
                lambda: plot_effects(
                    effects,
                    reference=context.reference,
                    comparator=context.comparator,
                    registry=context.current.registry,
                ),
                data=effects[["measure", "timepoint", "estimate", "conf_low", "conf_high"]],
            )
        )
    document = jsonable(result.to_dict())
    for entry in document if isinstance(document, list) else []:
        for side in ("reference", "comparator"):
            n_side = entry.get(f"n_{side}")
            if isinstance(n_side, int) and 0 < n_side < context.min_cell:
                entry[f"adjusted_mean_{side}"] = HIDDEN
    return blocks, {"ancova": scrub_counts(document, context)}, result


def _iptw_blocks(context: Context) -> tuple[list[Any], dict[str, Any]]:
    from dnoutcomes.stats.iptw import compare_iptw

    result, failure = safe(
        "The weighted (IPTW) estimate",
        lambda: compare_iptw(
            context.current, reference=context.reference, comparator=context.comparator
        ),
    )
    if failure is not None:
        return [failure], {}
    estimates = result.estimates.set_index("term")
    adjusted = estimates.loc["iptw"]
    # The naive estimate on the weighted analysis's own episodes (it needs a baseline ODI),
    # so that the two numbers side by side differ only by the weighting.
    naive_value = float(estimates.loc["naive", "estimate"])
    _, unit, _ = _measure_info(context, "nprs")
    frame = estimates.reset_index()[
        ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value"]
    ]
    frame["term"] = (
        frame["term"]
        .map({"naive": "Naive (ANCOVA)", "iptw": "Adjusted (IPTW, robust SE)"})
        .fillna(frame["term"])
    )
    blocks: list[Any] = [
        Paragraph(
            weighted_sentence(
                naive_estimate=naive_value,
                estimate=float(adjusted["estimate"]),
                conf_low=float(adjusted["conf_low"]),
                conf_high=float(adjusted["conf_high"]),
                unit=unit,
            )
        ),
        Table(
            key="iptw",
            title="NPRS at discharge: naive and weighted (IPTW) differences side by side",
            frame=frame,
            labels={
                "term": "Estimate",
                "estimate": "Difference",
                "std_error": "SE",
                "conf_low": "95 % CI low",
                "conf_high": "95 % CI high",
                "p_value": "p",
            },
            formats={
                "estimate": "f2",
                "std_error": "f3",
                "conf_low": "f2",
                "conf_high": "f2",
                "p_value": "p",
            },
            note=(
                f"Effective sample sizes after weighting: {result.ess_reference:.0f} "
                f"({context.reference}) and {result.ess_comparator:.0f} ({context.comparator}); "
                f"E-value {result.e_value:.2f}."
                if min(result.ess_reference, result.ess_comparator) >= context.min_cell
                else f"E-value {result.e_value:.2f}."
            ),
        ),
    ]
    blocks.extend(_notes(result, context))
    return blocks, {"iptw": scrub_counts(jsonable(result.to_dict()), context)}


def _responder_blocks(context: Context) -> tuple[list[Any], dict[str, Any]]:
    from dnoutcomes.stats.responders import compare_responders

    result, failure = safe(
        "The responder analysis",
        lambda: compare_responders(
            context.current, reference=context.reference, comparator=context.comparator
        ),
    )
    if failure is not None:
        return [failure], {}
    counts = result.counts[["arm", "n", "responders"]].copy()
    counts["n"] = counts["n"].astype("int64")
    counts["responders"] = counts["responders"].astype("int64")
    counts["pct"] = 100 * counts["responders"] / counts["n"].where(counts["n"] > 0)
    safe_counts = suppress(
        counts, context, counts=["n", "responders"], percents={"pct": ("responders", "n")}
    ).table
    risk = result.frame.set_index("term")
    rd = risk.loc["risk_difference"]
    shares = safe_counts.set_index("arm")["pct"]
    n_shown = safe_counts.set_index("arm")["n"]

    def share(arm: str) -> float | None:
        value = shares.get(arm)
        return float(value) / 100 if isinstance(value, int | float | np.number) else None

    _, unit, label = _measure_info(context, result.measure)
    sentence = responder_sentence(
        measure=result.measure,
        mcid=float(result.threshold),
        unit=unit,
        n_reference=n_shown.get(context.reference, 0),
        n_comparator=n_shown.get(context.comparator, 0),
        share_reference=share(context.reference),
        share_comparator=share(context.comparator),
        risk_difference=float(rd["estimate"]),
        rd_low=float(rd["conf_low"]),
        rd_high=float(rd["conf_high"]),
        reference=context.reference,
        comparator=context.comparator,
        label=label,
    )
    small = (
        safe_counts["n"].astype(str).str.startswith("<").any()
        or (safe_counts["pct"].astype(str) == HIDDEN).any()
    )
    blocks: list[Any] = [
        Paragraph("Secondary comparison: NPRS responders at discharge."),
        Paragraph(sentence),
        Table(
            key="responders",
            title="NPRS responders at discharge, by arm",
            frame=safe_counts,
            labels={
                "arm": "Arm",
                "n": "Episodes",
                "responders": "Responders",
                "pct": "% responders",
            },
            formats={"n": "int", "responders": "int", "pct": "pct"},
        ),
    ]
    if not small:
        measures = risk.reset_index()[["term", "estimate", "conf_low", "conf_high"]]
        measures["term"] = measures["term"].str.replace("_", " ").str.capitalize()
        blocks.append(
            Table(
                key="responder_effects",
                title="Responders: comparator against reference",
                frame=measures,
                labels={
                    "term": "Measure",
                    "estimate": "Estimate",
                    "conf_low": "95 % CI low",
                    "conf_high": "95 % CI high",
                },
                formats={"estimate": "f3", "conf_low": "f3", "conf_high": "f3"},
                note=f"Number needed to treat: {result.nnt_text}.",
            )
        )
    # The responder counts and shares are in the suppressed tables; the raw block is not
    # written out (a share beside a hidden count would reveal it).
    return blocks, {}


def comparisons_section(context: Context) -> SectionOutcome:
    """The primary and secondary comparisons with a sentence under each, the responder
    analysis, and the weighted (IPTW) estimate beside the naive one.

    Parameters
    ----------
    context
        The report's data and parameters.

    Returns
    -------
    SectionOutcome
        Sentences and the tables ``comparisons`` (ANCOVA per outcome: ``outcome``,
        ``role``, ``n``, ``estimate``, ``conf_low``, ``conf_high``, ``p_value``,
        ``p_holm``, adjusted means, ``hedges_g``), ``iptw`` (``term``, ``estimate``,
        ``std_error``, ``conf_low``, ``conf_high``, ``p_value``), ``responders`` (``arm``,
        ``n``, ``responders``, ``pct``) and ``responder_effects``; ``extra`` holds the
        ANCOVA and IPTW blocks with small counts scrubbed.
    """
    blocks: list[Any] = [
        Paragraph(
            f"Episodes discharged in {context.period.label}: patients who "
            f"{arm_phrase(context.comparator)} against those who "
            f"{arm_phrase(context.reference)}. Clinic care is not randomised, so the "
            "weighted estimate, which makes the groups alike in the characteristics "
            "measured, is shown beside the naive one."
        )
    ]
    extra: dict[str, Any] = {}
    ancova_blocks, ancova_extra, _ = _ancova_blocks(context)
    blocks.extend(ancova_blocks)
    extra.update(ancova_extra)
    iptw_blocks, iptw_extra = _iptw_blocks(context)
    blocks.extend(iptw_blocks)
    extra.update(iptw_extra)
    responder_blocks, responder_extra = _responder_blocks(context)
    blocks.extend(responder_blocks)
    extra.update(responder_extra)
    return SectionOutcome(Section("comparisons", "Comparisons", tuple(blocks)), extra=extra)


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
    from dnoutcomes.stats.safety import compare_safety

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
    result, failure = safe(
        "The safety analysis",
        lambda: compare_safety(
            context.current, reference=context.reference, comparator=context.comparator
        ),
    )
    if failure is not None:
        return SectionOutcome(Section("safety", title, (failure,)))
    rates = result.rates[
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
            frame=suppress(severity, context, counts=["events"]).table,
            labels={"arm": "Arm", "severity": "Severity", "events": "Events"},
            formats={"events": "int"},
        ),
    ]
    notable = result.notable_events
    if len(notable):
        columns = [
            c
            for c in ("event_id", "episode_id", "arm", "type", "severity", "reporter")
            if c in notable
        ]
        blocks.append(
            Table(
                key="safety_notable",
                title="Serious events, pneumothorax, infection and nerve injury",
                frame=notable[columns].reset_index(drop=True),
                labels={c: c.replace("_", " ").capitalize() for c in columns},
            )
        )
    else:
        blocks.append(
            Paragraph("No serious event, pneumothorax, infection or nerve injury was recorded.")
        )
    contraindicated = result.contraindicated
    if len(contraindicated):
        listed = ", ".join(sorted(str(e) for e in contraindicated["episode_id"]))
        blocks.append(
            Paragraph(
                f"Dry needling was given despite a recorded contraindication in "
                f"{len(contraindicated)} episodes: {listed}."
                if len(contraindicated) >= context.min_cell
                else "Dry needling was given despite a recorded contraindication in "
                f"<{context.min_cell} episodes: {listed}. Please review them."
            )
        )
    else:
        blocks.append(Paragraph("No episode had dry needling despite a recorded contraindication."))
    return SectionOutcome(Section("safety", title, tuple(blocks)))
