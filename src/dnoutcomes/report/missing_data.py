"""The report's complete-case and multiple-imputation estimates side by side (shown in the
comparisons section when the protocol asks for ``[missing_data] method = "mi"``).

The numbers come from :attr:`~dnoutcomes.stats.Analysis.mi_ancova`, ``mi_responders`` and
``mi_iptw``; this module only lays them out, suppresses small counts and words them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dnoutcomes.report._context import Context, scrub_counts, suppress, suppress_text
from dnoutcomes.report.model import HIDDEN, Paragraph, Table
from dnoutcomes.stats.results import jsonable

__all__ = ["mi_blocks"]

_ANALYSES = (
    ("mi_ancova", "Adjusted difference (ANCOVA)"),
    ("mi_responders", "Risk difference of responding"),
    ("mi_iptw", "Weighted difference (IPTW)"),
)
_METHODS = {"complete_case": "Complete cases", "multiple_imputation": "Multiple imputation"}


def mi_blocks(context: Context) -> tuple[list[Any], dict[str, Any]]:
    """A sentence and the table ``missing_data`` (``analysis``, ``method``, ``n``,
    ``estimate``, ``std_error``, ``conf_low``, ``conf_high``, ``p_value``, ``fmi``) when
    the analysis ran multiple imputation; nothing otherwise.

    Returns
    -------
    (blocks, extra)
        ``extra`` holds the JSON blocks of the MI results, small counts scrubbed.
    """
    analysis = context.analysis
    if analysis is None or "mi_ancova" not in analysis.extra_sections:
        return [], {}
    parts, extra = [], {}
    for key, label in _ANALYSES:
        result = getattr(analysis, key)
        if result is None:
            continue
        estimates = result.table
        frame = estimates.assign(analysis=label, method=estimates["method"].map(_METHODS))
        parts.append(frame)
        extra[key] = scrub_counts(jsonable(result.to_dict()), context)
    if not parts:
        reason = analysis.failures.get("mi_ancova", "")
        return [
            Paragraph(
                "Multiple imputation could not be computed for this period: "
                + suppress_text(reason, context)
            )
        ], {}
    frame = pd.concat(parts, ignore_index=True)
    frame["n"] = frame["n"].astype("int64")
    shown = suppress(frame, context, counts=["n"]).table
    # The imputed row's n minus the complete-case row's is the number of episodes imputed:
    # hide the imputed n when that difference is a small count.
    imputed = frame["n"] - frame.groupby("analysis")["n"].transform("min")
    small = (frame["method"] == _METHODS["multiple_imputation"]) & imputed.between(
        1, context.min_cell - 1
    )
    if small.any():
        shown["n"] = shown["n"].astype(object)
        shown.loc[small, "n"] = HIDDEN
    first = analysis.mi_ancova if analysis.mi_ancova is not None else None
    settings = f"m = {first.m} imputed data sets, seed {first.seed}" if first is not None else ""
    blocks: list[Any] = [
        Paragraph(
            "Episodes without a follow-up value are left out of the complete-case analyses; "
            "multiple imputation fills them in from what was recorded (arm, baseline, "
            "covariates and auxiliary measures) and pools the results by Rubin's rules. The "
            "two agree when the missing values are missing at random given those variables "
            "and the complete cases are not selective; a gap between them is a sign that "
            "they are."
        ),
        Table(
            key="missing_data",
            title="Complete cases and multiple imputation side by side",
            frame=shown[
                [
                    "analysis",
                    "method",
                    "n",
                    "estimate",
                    "std_error",
                    "conf_low",
                    "conf_high",
                    "p_value",
                    "fmi",
                ]
            ],
            labels={
                "analysis": "Analysis",
                "method": "Episodes",
                "n": "n",
                "estimate": "Difference",
                "std_error": "SE",
                "conf_low": "95 % CI low",
                "conf_high": "95 % CI high",
                "p_value": "p",
                "fmi": "Fraction of missing information",
            },
            formats={
                "n": "int",
                "estimate": "f2",
                "std_error": "f3",
                "conf_low": "f2",
                "conf_high": "f2",
                "p_value": "p",
                "fmi": "f2",
            },
            note=(
                f"Reference: {context.reference}; comparator: {context.comparator}. "
                f"{settings}. Intervals of the imputed analyses use the Barnard-Rubin degrees "
                "of freedom."
            ),
        ),
    ]
    return blocks, extra
