"""Table 1 and results tables: the result's numbers, rounded only for display, in order."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.tables import StyledTable, results_table, table_one


def _rows(table: StyledTable) -> list[list[str]]:
    body = table.html.split("<tbody>")[1].split("</tbody>")[0]
    return [
        [re.sub("<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)
    ]


@pytest.fixture
def baseline() -> SimpleNamespace:
    nan = np.nan
    frame = pd.DataFrame(
        [
            ("episodes", "", "count", 272, nan, nan, nan, nan, 0, 168, nan, nan, nan, nan, 0, nan),
            (
                "age",
                "",
                "mean_sd",
                272,
                46.98,
                13.72,
                nan,
                nan,
                0,
                168,
                47.82,
                14.96,
                nan,
                nan,
                0,
                0.058,
            ),
            (
                "sex",
                "",
                "categorical",
                272,
                nan,
                nan,
                nan,
                nan,
                0,
                168,
                nan,
                nan,
                nan,
                nan,
                0,
                0.146,
            ),
            (
                "sex",
                "female",
                "n_pct",
                153,
                56.25,
                nan,
                nan,
                nan,
                0,
                86,
                51.19,
                nan,
                nan,
                nan,
                0,
                -0.1016,
            ),
            (
                "symptom_weeks",
                "",
                "median_iqr",
                270,
                12.65,
                nan,
                5.2,
                26.6,
                2,
                168,
                16.8,
                nan,
                8.65,
                32.55,
                0,
                0.031,
            ),
            (
                "contraindications",
                "any",
                "n_pct",
                26,
                9.56,
                nan,
                nan,
                nan,
                0,
                6,
                3.57,
                nan,
                nan,
                nan,
                0,
                -0.2435,
            ),
            (
                "contraindications",
                "anticoagulants",
                "n_pct",
                11,
                4.04,
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
                -0.29,
            ),
            (
                "nprs (baseline)",
                "",
                "mean_sd",
                272,
                6.294,
                1.438,
                nan,
                nan,
                0,
                168,
                7.125,
                1.41,
                nan,
                nan,
                0,
                0.5885,
            ),
        ],
        columns=[
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
        ],
    )
    return SimpleNamespace(
        frame=frame, reference="dn_only", comparator="dn_manual_exercise", notes=("A note.",)
    )


def test_table_one_rows_read_as_the_result(baseline: SimpleNamespace) -> None:
    table = table_one(baseline)
    assert _rows(table) == [
        ["Episodes, n", "272", "168", ""],
        ["Age (years), mean (SD)", "47.0 (13.7)", "47.8 (15.0)", "0.06"],
        ["Sex, n (%)", "", "", "0.15"],
        ["Female", "153 (56.2%)", "86 (51.2%)", "\u22120.10"],
        [
            "Symptom duration (weeks), median [IQR]",
            "12.7 [5.2, 26.6]; 2 missing",
            "16.8 [8.7, 32.5]",
            "0.03",
        ],
        ["Contraindication recorded, n (%)", "26 (9.6%)", "6 (3.6%)", "\u22120.24"],
        ["Anticoagulants", "11 (4.0%)", "0 (0.0%)", "\u22120.29"],
        ["NPRS (points) at baseline, mean (SD)", "6.3 (1.4)", "7.1 (1.4)", "0.59"],
    ]
    heads = re.findall(r"<th>(.*?)</th>", table.html)
    assert heads[1:3] == [
        "Dry needling alone (n = 272)",
        "Dry needling + manual &amp; exercise therapy (n = 168)",
    ]
    assert table.html.count('<tr class="level">') == 2  # Female, Anticoagulants
    assert table.html.count('class="imbalanced"') == 5  # |SMD| >= 0.1
    assert "A note." in table.html
    assert table._repr_html_() == table.html


def test_table_one_is_the_same_bytes_every_time(baseline: SimpleNamespace) -> None:
    assert table_one(baseline).html == table_one(baseline).html


def test_results_table_for_outcomes_frame() -> None:
    frame = pd.DataFrame(
        {
            "measure": ["nprs", "lumbar_flexion_deg"],
            "timepoint": ["discharge", "followup_12w"],
            "n": [396, 212],
            "estimate": [-0.8044, 1.07],
            "std_error": [0.1657, 0.58],
            "p_value": [1.7e-6, 0.0641],
            "p_holm": [1.7e-6, 0.0651],
            "conf_low": [-1.1302, -0.06],
            "conf_high": [-0.4786, 2.2],
        }
    )
    table = results_table(frame, caption="ANCOVA")
    assert _rows(table) == [
        [
            "NPRS (points), discharge",
            "396",
            "\u22120.80 (\u22121.13 to \u22120.48)",
            "0.17",
            "&lt;0.001",
            "&lt;0.001",
        ],
        [
            "Lumbar flexion (degrees), 12-week follow-up",
            "212",
            "1.07 (\u22120.06 to 2.20)",
            "0.58",
            "0.064",
            "0.065",
        ],
    ]
    assert "<caption>ANCOVA</caption>" in table.html


def test_results_table_by_term_and_missing_columns() -> None:
    frame = pd.DataFrame(
        {"term": ["arm"], "estimate": [1.0], "conf_low": [0.5], "conf_high": [1.5]}
    )
    assert _rows(results_table(frame, caption="x")) == [["arm", "1.00 (0.50 to 1.50)"]]
    with pytest.raises(RequestError, match="lacks the column"):
        results_table(frame.drop(columns="conf_high"))


def test_table_one_on_clinic_a(clinic_a_dataset: Any) -> None:
    from dnoutcomes.stats.descriptives import describe_baseline

    result = describe_baseline(clinic_a_dataset)
    rows = _rows(table_one(result))
    assert len(rows) == len(result.frame)
    assert rows[0] == ["Episodes, n", "272", "168", ""]


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import tables as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
