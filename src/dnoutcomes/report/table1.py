"""Table 1 of the report: baseline characteristics of the period's episodes in the two
compared arms (:func:`dnoutcomes.stats.descriptives.describe_baseline`), suppressed per arm.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dnoutcomes.report._context import Context, SectionOutcome, analysed, suppress
from dnoutcomes.report.model import HIDDEN, Section, Table

__all__ = ["table1_section"]

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


#: Categorical rows whose levels partition the arm (they add up to its episodes with a
#: value), so one hidden level could be had by subtraction; contraindications overlap.
_PARTITIONS = ("sex", "condition", "chronicity", "site_id")


def _protect_partitions(shown: pd.DataFrame, rows: pd.DataFrame) -> None:
    """Within each arm and each partitioning variable, when exactly one level is hidden,
    hide the smallest shown level above zero too (count and percentage), in place."""
    for side in ("reference", "comparator"):
        value, spread = f"{side}_value", f"{side}_spread"
        for variable in _PARTITIONS:
            levels = rows.index[(rows["variable"] == variable) & (rows["summary"] == "n_pct")]
            if len(levels) < 2:
                continue
            cells = shown.loc[levels, value]
            hidden = cells.map(lambda v: isinstance(v, str))
            if int(hidden.sum()) != 1:
                continue
            numbers = pd.to_numeric(cells[~hidden], errors="coerce")
            candidates = numbers[numbers > 0]
            if candidates.empty:
                continue
            smallest = candidates.idxmin()
            column = shown[value].astype(object)
            column[smallest] = HIDDEN
            shown[value] = column
            percent = shown[spread].astype(object)
            percent[smallest] = HIDDEN
            shown[spread] = percent


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
        _protect_partitions(shown, count_rows)
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


def _report_rows(frame: pd.DataFrame, context: Context) -> pd.DataFrame:
    """Table 1's rows for the report: the patient rows and the baseline of the primary
    measure and of the measures the weighting adjusts for (NPRS and ODI by default)."""
    protocol = context.analysis.protocol if context.analysis is not None else None
    if protocol is None:
        wanted = ["nprs", "odi"]
    else:
        wanted = [protocol.primary.measure] + [
            c.split(":", 1)[1] for c in protocol.weighting.covariates if c.startswith("baseline:")
        ]
    keep = {f"{m} (baseline)" for m in wanted}
    measure_row = frame["variable"].astype(str).str.endswith(" (baseline)")
    rows: pd.DataFrame = frame.loc[~measure_row | frame["variable"].isin(keep)]
    return rows.reset_index(drop=True)


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
    title = "Table 1: the patients compared"
    result, failure = analysed(context, "baseline", "Table 1")
    if failure is not None:
        return SectionOutcome(Section("table1", title, (failure,)))
    shown = _table1_frame(_report_rows(result.frame, context), context)
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
