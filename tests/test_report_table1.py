"""Table 1 for the report: counts suppressed per arm, summaries of small groups hidden, an
SMD hidden when either arm's figure is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.report._context import Context
from dnoutcomes.report.model import HIDDEN
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.table1 import _characteristic, _table1_frame


def _context() -> Context:
    period = parse_period("2025-Q3")
    none: Any = None
    return Context(
        none, none, none, none, period, period.previous(), None, "dn_only", "dn_manual_exercise", 11
    )


def _baseline() -> pd.DataFrame:
    nan = np.nan
    rows = [
        # variable, level, summary, ref n, est, sd, q1, q3, missing, comp n, est, sd, q1, q3,
        # missing, smd
        ("episodes", "", "count", 40, nan, nan, nan, nan, 0, 8, nan, nan, nan, nan, 0, nan),
        ("age", "", "mean_sd", 40, 50.0, 10.0, nan, nan, 0, 8, 45.0, 9.0, nan, nan, 0, -0.5),
        ("sex", "", "categorical", 40, nan, nan, nan, nan, 0, 8, nan, nan, nan, nan, 0, 0.2),
        ("sex", "female", "n_pct", 36, 90.0, nan, nan, nan, 0, 5, 62.5, nan, nan, nan, 0, 0.1),
        ("sex", "male", "n_pct", 4, 10.0, nan, nan, nan, 0, 3, 37.5, nan, nan, nan, 0, -0.1),
        (
            "symptom_weeks",
            "",
            "median_iqr",
            40,
            12.0,
            nan,
            5.0,
            20.0,
            0,
            8,
            10.0,
            nan,
            4.0,
            15.0,
            0,
            0.3,
        ),
        (
            "nprs (baseline)",
            "",
            "mean_sd",
            39,
            6.5,
            1.2,
            nan,
            nan,
            1,
            8,
            7.0,
            1.0,
            nan,
            nan,
            0,
            0.4,
        ),
    ]
    columns = [
        "variable",
        "level",
        "summary",
        "reference_n",
        "reference_estimate",
        "reference_sd",
        "reference_q1",
        "reference_q3",
        "reference_missing",
        "comparator_n",
        "comparator_estimate",
        "comparator_sd",
        "comparator_q1",
        "comparator_q3",
        "comparator_missing",
        "smd",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_table1_suppression() -> None:
    shown = _table1_frame(_baseline(), _context()).set_index("characteristic")
    assert "Sex" not in shown.index  # the categorical header row is dropped
    assert shown.loc["Episodes", "reference_value"] == 40
    assert shown.loc["Episodes", "comparator_value"] == "<11"
    assert shown.loc["Episodes", "smd"] == ""
    # 36 of 40 women: the 4 men are small, so the 36 and its 90 % are hidden too.
    assert shown.loc["Sex: female", "reference_value"] == HIDDEN
    assert shown.loc["Sex: female", "reference_spread"] == HIDDEN
    assert shown.loc["Sex: male", "reference_value"] == "<11"
    assert shown.loc["Sex: female", "smd"] == HIDDEN
    # The comparator arm has 8 episodes: its means and SDs are hidden, the reference's shown.
    assert shown.loc["Age", "reference_value"] == 50.0
    assert shown.loc["Age", "comparator_value"] == HIDDEN
    assert shown.loc["Age", "smd"] == HIDDEN
    assert shown.loc["Symptom weeks", "reference_spread"] == "5.0 to 20.0"
    assert shown.loc["NPRS at baseline", "reference_spread"] == 1.2
    assert list(shown.columns) == [
        "summary",
        "reference_value",
        "reference_spread",
        "comparator_value",
        "comparator_spread",
        "smd",
    ]


def test_one_hidden_level_cannot_be_had_by_subtraction() -> None:
    nan = np.nan
    base = _baseline()
    rows = [
        ("condition", "", "categorical", 40, nan, nan, nan, nan, 0, 8, nan, nan, nan, nan, 0, 0.2),
        (
            "condition",
            "sciatica",
            "n_pct",
            20,
            50.0,
            nan,
            nan,
            nan,
            0,
            8,
            100.0,
            nan,
            nan,
            nan,
            0,
            0.1,
        ),
        (
            "condition",
            "postural",
            "n_pct",
            14,
            35.0,
            nan,
            nan,
            nan,
            0,
            0,
            0.0,
            nan,
            nan,
            nan,
            0,
            0.1,
        ),
        ("condition", "other", "n_pct", 6, 15.0, nan, nan, nan, 0, 0, 0.0, nan, nan, nan, 0, 0.1),
    ]
    extra = pd.DataFrame(rows, columns=base.columns)
    shown = _table1_frame(pd.concat([base, extra], ignore_index=True), _context())
    shown = shown.set_index("characteristic")
    # 40 = 20 + 14 + 6: with "other" hidden, the smallest shown level (14) is hidden too.
    assert shown.loc["Condition: other", "reference_value"] == "<11"
    assert shown.loc["Condition: postural", "reference_value"] == HIDDEN
    assert shown.loc["Condition: postural", "reference_spread"] == HIDDEN
    assert shown.loc["Condition: sciatica", "reference_value"] == 20


def test_characteristic_names() -> None:
    assert _characteristic("site_id", "north") == "Site: north"
    assert _characteristic("condition", "disc_herniation") == "Condition: disc herniation"
    assert _characteristic("odi (baseline)", "") == "ODI at baseline"
    assert _characteristic("symptom_weeks", float("nan")) == "Symptom weeks"
