"""Table 1 and results tables as styled HTML for notebooks and reports.

The tables are plain HTML with a small scoped stylesheet (booktabs-like rules, numbers
right-aligned, level rows indented), the same bytes on every run: no random ids, no
dependence on pandas' Styler. :class:`StyledTable` shows itself in Jupyter.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import (
    arm_label_n,
    measure_label,
    timepoint_label,
)

__all__ = ["TABLE_CSS", "StyledTable", "results_table", "table_one"]

#: The stylesheet every table carries, scoped to ``table.dnoutcomes-table``.
TABLE_CSS = """<style>
table.dnoutcomes-table{border-collapse:collapse;font-family:"DejaVu Sans",Arial,sans-serif;
font-size:13px;margin:0.5em 0;color:#222}
table.dnoutcomes-table caption{caption-side:top;text-align:left;font-weight:bold;
padding-bottom:0.4em}
table.dnoutcomes-table thead th{border-top:2px solid #222;border-bottom:1px solid #222;
padding:4px 10px;text-align:right;vertical-align:bottom}
table.dnoutcomes-table thead th:first-child{text-align:left}
table.dnoutcomes-table td{padding:3px 10px;text-align:right;white-space:nowrap}
table.dnoutcomes-table td:first-child{text-align:left}
table.dnoutcomes-table tbody tr:last-child td{border-bottom:2px solid #222}
table.dnoutcomes-table tr.level td:first-child{padding-left:2em}
table.dnoutcomes-table td.imbalanced{font-weight:bold}
table.dnoutcomes-table tfoot td{text-align:left;font-size:11px;color:#555;white-space:normal}
</style>"""


@dataclass(frozen=True)
class StyledTable:
    """An HTML table that displays itself in Jupyter.

    Attributes
    ----------
    html
        The ``<table>`` with its stylesheet.
    caption
        The caption (plain text).
    """

    html: str
    caption: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html


_VARIABLES = {
    "episodes": "Episodes, n",
    "age": "Age (years), mean (SD)",
    "sex": "Sex, n (%)",
    "condition": "Condition, n (%)",
    "chronicity": "Chronicity, n (%)",
    "site_id": "Site, n (%)",
    "symptom_weeks": "Symptom duration (weeks), median [IQR]",
    "contraindications": "Contraindication recorded, n (%)",
}
_SUMMARY_WORDS = {"mean_sd": "mean (SD)", "median_iqr": "median [IQR]", "n_pct": "n (%)"}


def _variable_text(variable: str, summary: str, registry: Any | None) -> str:
    if variable in _VARIABLES:
        return _VARIABLES[variable]
    if variable.endswith(" (baseline)"):
        measure = variable.removesuffix(" (baseline)")
        words = measure_label(measure, registry, short=True)
        return f"{words} at baseline, {_SUMMARY_WORDS.get(summary, '')}".rstrip(", ")
    return variable.replace("_", " ").capitalize()


def _cell(summary: str, n: float, est: float, sd: float, q1: float, q3: float) -> str:
    if summary == "count":
        return f"{n:.0f}"
    if summary == "categorical" or math.isnan(est):
        return ""
    if summary == "mean_sd":
        return f"{est:.1f} ({sd:.1f})"
    if summary == "median_iqr":
        return f"{est:.1f} [{q1:.1f}, {q3:.1f}]"
    return f"{n:.0f} ({est:.1f}%)"


def table_one(
    baseline: Any,
    *,
    reference: str | None = None,
    comparator: str | None = None,
    registry: Any | None = None,
    smd_threshold: float = 0.1,
) -> StyledTable:
    """Render Table 1 (baseline characteristics by arm, with SMDs) as styled HTML.

    Parameters
    ----------
    baseline
        The :class:`~dnoutcomes.stats.descriptives.BaselineTable` result, or its frame
        (columns ``variable``, ``level``, ``summary``, ``reference_n``,
        ``reference_estimate``, ``reference_sd``, ``reference_q1``, ``reference_q3``,
        ``reference_missing``, the same for ``comparator_``, and ``smd``).
    reference, comparator
        The arms, for the column heads (default the result's).
    registry
        The measure registry, for the names and units of baseline measures.
    smd_threshold
        |SMD| at or above which the SMD cell is bold.

    Returns
    -------
    StyledTable
        One ``<tr>`` per row of the frame, in order; a categorical's levels are indented
        rows (class ``level``) under its header row; cells read ``mean (SD)``,
        ``median [Q1, Q3]`` or ``n (%)`` to one decimal, with the number missing added
        when any; the SMD has two decimals.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    Numbers are the result's, only rounded for display. A missing SMD shows as an empty
    cell; missing values are counted in the cell ("; 3 missing"), never imputed.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import describe_baseline
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> table = table_one(describe_baseline(dataset))
    >>> table.caption
    'Table 1. Baseline characteristics by arm'
    >>> "<td>Age (years), mean (SD)</td><td>49.0 (17.5)</td><td>46.5 (14.7)</td>" in table.html
    True
    """
    frame = tidy_frame(
        baseline,
        attributes=("frame",),
        required=(
            "variable",
            "level",
            "summary",
            "reference_n",
            "reference_estimate",
            "comparator_n",
            "comparator_estimate",
            "smd",
        ),
        figure="Table 1",
    )
    reference = reference or attribute(baseline, "reference") or "reference"
    comparator = comparator or attribute(baseline, "comparator") or "comparator"
    counts = frame.loc[frame["summary"] == "count"]
    n_ref = counts["reference_n"].iloc[0] if len(counts) else None
    n_cmp = counts["comparator_n"].iloc[0] if len(counts) else None
    heads = ["Characteristic", arm_label_n(reference, n_ref), arm_label_n(comparator, n_cmp), "SMD"]
    body = []
    for row in frame.to_dict(orient="records"):
        variable, level = str(row["variable"]), str(row["level"] or "")
        summary = str(row["summary"])
        is_level = False
        if variable == "contraindications" and level != "any":
            label, is_level = level.replace("_", " ").capitalize(), True
        elif variable == "contraindications" or variable.endswith(" (baseline)") or not level:
            label = _variable_text(variable, summary, registry)
        else:
            label, is_level = level.replace("_", " ").capitalize(), True
        cells = []
        for prefix in ("reference", "comparator"):
            text = _cell(
                summary,
                float(row[f"{prefix}_n"]),
                float(row[f"{prefix}_estimate"]),
                float(row.get(f"{prefix}_sd", math.nan)),
                float(row.get(f"{prefix}_q1", math.nan)),
                float(row.get(f"{prefix}_q3", math.nan)),
            )
            missing = float(row.get(f"{prefix}_missing", 0) or 0)
            if missing > 0 and summary != "count":
                text = f"{text}; {missing:.0f} missing" if text else f"{missing:.0f} missing"
            cells.append(html.escape(text))
        smd = float(row["smd"])
        smd_text = "" if math.isnan(smd) else f"{smd:.2f}".replace("-", "\u2212")
        smd_class = ' class="imbalanced"' if abs(smd) >= smd_threshold else ""
        row_class = ' class="level"' if is_level else ""
        body.append(
            f"<tr{row_class}>"
            f"<td>{html.escape(label)}</td><td>{cells[0]}</td><td>{cells[1]}</td>"
            f"<td{smd_class}>{smd_text}</td></tr>"
        )
    caption = "Table 1. Baseline characteristics by arm"
    notes = [
        f"SMD: standardised mean difference, comparator minus reference; |SMD| \u2265 "
        f"{smd_threshold:g} in bold. Percentages are of the episodes with a value.",
        *[str(n) for n in attribute(baseline, "notes", ()) or ()],
    ]
    return _assemble(caption, heads, body, notes)


def results_table(
    result: Any,
    *,
    caption: str | None = None,
    label: str | Sequence[str] = "term",
    registry: Any | None = None,
) -> StyledTable:
    """Render a tidy results frame (estimates with CIs and p-values) as styled HTML.

    Parameters
    ----------
    result
        A result (its ``to_frame()``) or a frame with ``estimate``, ``conf_low``,
        ``conf_high`` and the ``label`` column(s); used when present: ``n``, ``std_error``,
        ``p_value``, ``p_holm``. A frame with ``measure`` and ``timepoint`` columns (the
        ANCOVA across outcomes) is labelled by measure (with unit) and timepoint.
    caption
        The caption (default the result's ``title``).
    label
        The column(s) naming each row, joined by ", ".
    registry
        The measure registry.

    Returns
    -------
    StyledTable
        Columns: the label, ``n`` (when present), ``Estimate (95% CI)`` (two decimals),
        ``SE``, ``p`` and ``Holm p`` (when present; ``<0.001`` below 0.001).

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"term": ["arm"], "estimate": [-0.8], "conf_low": [-1.1], "conf_high": [-0.5]}
    ... )
    >>> "\u22120.80 (\u22121.10 to \u22120.50)" in results_table(frame, caption="ANCOVA").html
    True
    """
    frame = tidy_frame(
        result,
        attributes=("to_frame",),
        required=("estimate", "conf_low", "conf_high"),
        figure="results table",
    )
    if {"measure", "timepoint"} <= set(frame.columns):
        labels = [
            f"{measure_label(str(m), registry, short=True)}, {timepoint_label(str(t)).lower()}"
            for m, t in zip(frame["measure"], frame["timepoint"], strict=True)
        ]
    else:
        columns = [label] if isinstance(label, str) else list(label)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            tidy_frame(frame, attributes=(), required=columns, figure="results table")
        labels = [
            ", ".join(str(v) for v in values)
            for values in frame[columns].itertuples(index=False, name=None)
        ]
    heads = ["", "Estimate (95% CI)"]
    extra = [c for c in ("n", "std_error", "p_value", "p_holm") if c in frame.columns]
    names = {"n": "n", "std_error": "SE", "p_value": "p", "p_holm": "Holm p"}
    if "n" in extra:
        heads.insert(1, "n")
    heads += [names[c] for c in extra if c != "n"]
    body = []
    for text, row in zip(labels, frame.to_dict(orient="records"), strict=True):
        cells = [html.escape(text)]
        if "n" in extra:
            cells.append("" if pd.isna(row["n"]) else f"{row['n']:.0f}")
        cells.append(_estimate_ci(row["estimate"], row["conf_low"], row["conf_high"]))
        for column in extra:
            if column == "std_error":
                cells.append(_num(row[column]))
            elif column in ("p_value", "p_holm"):
                cells.append(_p(row[column]))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    title = caption or attribute(result, "title") or "Results"
    return _assemble(str(title), heads, body, [str(n) for n in attribute(result, "notes", ())])


def _num(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{float(value):.2f}".replace("-", "\u2212")


def _p(value: Any) -> str:
    if value is None or pd.isna(value):
        return ""
    return "&lt;0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def _estimate_ci(est: Any, low: Any, high: Any) -> str:
    if est is None or pd.isna(est):
        return ""
    return f"{_num(est)} ({_num(low)} to {_num(high)})"


def _assemble(caption: str, heads: list[str], body: list[str], notes: list[str]) -> StyledTable:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    foot = "".join(
        f'<tr><td colspan="{len(heads)}">{html.escape(note)}</td></tr>' for note in notes if note
    )
    table = (
        f'{TABLE_CSS}<table class="dnoutcomes-table"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        + (f"<tfoot>{foot}</tfoot>" if foot else "")
        + "</table>"
    )
    return StyledTable(html=table, caption=caption)
