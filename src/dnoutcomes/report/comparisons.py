"""The comparisons section of the report: the two arms compared (ANCOVA per outcome with
plain-language sentences, the weighted estimate beside the naive one, responders).

The numbers come from :mod:`dnoutcomes.cohort` and :mod:`dnoutcomes.stats`; this module
only selects them, suppresses small counts and words them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.qi.cells import is_small
from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    analysed,
    figure_block,
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
from dnoutcomes.report.verdict import no_verdict_reason, no_verdict_sentence
from dnoutcomes.stats.results import jsonable

__all__ = ["comparisons_section"]

_TIMEPOINT_WORDS = {
    "discharge": "at discharge",
    "followup_4w": "at 4-week follow-up",
    "followup_12w": "at 12-week follow-up",
    "followup_26w": "at 26-week follow-up",
    "followup_52w": "at 52-week follow-up",
}


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
    result, failure = analysed(context, "ancova", "The adjusted comparison (ANCOVA)")
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
        reason = no_verdict_reason(
            min_cell=context.min_cell,
            arms={
                context.reference: float(row.n_reference),
                context.comparator: float(row.n_comparator),
            },
            statistics={
                "estimate": float(row.estimate),
                "confidence interval": float(row.conf_low) + float(row.conf_high),
            },
        )
        blocks.append(
            Paragraph(
                no_verdict_sentence("This comparison", reason)
                if reason
                else comparison_sentence(
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
            if isinstance(n_side, int) and is_small(n_side, context.min_cell):
                entry[f"adjusted_mean_{side}"] = HIDDEN
    return blocks, {"ancova": scrub_counts(document, context)}, result


def _iptw_blocks(context: Context) -> tuple[list[Any], dict[str, Any]]:
    result, failure = analysed(context, "iptw", "The weighted (IPTW) estimate")
    if failure is not None:
        return [failure], {}
    estimates = result.table.set_index("term")
    adjusted = estimates.loc["iptw"]
    # The naive estimate on the weighted analysis's own episodes (it needs a baseline ODI),
    # so that the two numbers side by side differ only by the weighting.
    naive_value = float(estimates.loc["naive", "estimate"])
    _, unit, iptw_label = _measure_info(context, result.measure)
    frame = estimates.reset_index()[
        ["term", "estimate", "std_error", "conf_low", "conf_high", "p_value"]
    ]
    frame["term"] = (
        frame["term"]
        .map({"naive": "Naive (ANCOVA)", "iptw": "Adjusted (IPTW, robust SE)"})
        .fillna(frame["term"])
    )
    reason = no_verdict_reason(
        min_cell=context.min_cell,
        arms={},
        ess={
            context.reference: float(result.ess_reference),
            context.comparator: float(result.ess_comparator),
        },
        converged=bool(result.ps_converged),
        max_smd_after=float(result.balance["smd_after"].abs().max()),
        statistics={
            "estimate": float(adjusted["estimate"]),
            "confidence interval": float(adjusted["conf_low"]) + float(adjusted["conf_high"]),
        },
    )
    blocks: list[Any] = [
        Paragraph(
            no_verdict_sentence("The weighted (IPTW) estimate", reason)
            if reason
            else weighted_sentence(
                naive_estimate=naive_value,
                estimate=float(adjusted["estimate"]),
                conf_low=float(adjusted["conf_low"]),
                conf_high=float(adjusted["conf_high"]),
                unit=unit,
            )
        ),
        Table(
            key="iptw",
            title=(
                f"{_outcome_label(context, result.measure, result.timepoint)}: naive and "
                f"weighted ({result.estimand.upper()}) differences side by side"
            ),
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
    result, failure = analysed(context, "responders", "The responder analysis")
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
    arm_n = result.counts.set_index("arm")["n"]
    reason = no_verdict_reason(
        min_cell=context.min_cell,
        arms={arm: float(arm_n.get(arm, 0)) for arm in (context.reference, context.comparator)},
        statistics={
            "risk difference": float(rd["estimate"]),
            "confidence interval": float(rd["conf_low"]) + float(rd["conf_high"]),
        },
    )
    sentence = (
        no_verdict_sentence("The responder comparison", reason)
        if reason
        else responder_sentence(
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
    )
    small = (
        safe_counts["n"].astype(str).str.startswith("<").any()
        or (safe_counts["pct"].astype(str) == HIDDEN).any()
    )
    blocks: list[Any] = [
        Paragraph(
            "Secondary comparison: responders, "
            f"{_outcome_label(context, result.measure, result.timepoint)}."
        ),
        Paragraph(sentence),
        Table(
            key="responders",
            title=(
                f"Responders, {_outcome_label(context, result.measure, result.timepoint)}, by arm"
            ),
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
                note=(
                    f"Number needed to treat: {result.nnt_text}."
                    if math.isfinite(float(result.nnt)) and "inf" not in result.nnt_text
                    else "Number needed to treat: not given (undefined for these data)."
                ),
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
        ``n``, ``responders``, ``pct``) and ``responder_effects``, and, when the protocol
        asks for multiple imputation, ``missing_data`` (complete cases and MI side by side,
        :func:`~dnoutcomes.report.missing_data.mi_blocks`); ``extra`` holds the ANCOVA,
        IPTW and MI blocks with small counts scrubbed.
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
    from dnoutcomes.report.missing_data import mi_blocks

    missing_blocks, missing_extra = mi_blocks(context)  # only when the protocol asks for MI
    blocks.extend(missing_blocks)
    extra.update(missing_extra)
    return SectionOutcome(Section("comparisons", "Comparisons", tuple(blocks)), extra=extra)
