"""The report-wide pass (:mod:`dnoutcomes.report._disclose`) on hand-made tables: each case is
a leak the per-table suppression let through, worked back by hand in the docstring."""

from __future__ import annotations

import pandas as pd

from dnoutcomes.report._disclose import protect_report
from dnoutcomes.report.model import HIDDEN, Section, Table


def _table1(rows: list[tuple[str, object, object]]) -> Table:
    frame = pd.DataFrame(
        {
            "characteristic": [r[0] for r in rows],
            "summary": ["n" if r[0] == "Episodes" else "n (%)" for r in rows],
            "reference_value": [r[1] for r in rows],
            "reference_spread": ["" if r[0] == "Episodes" else 10.0 for r in rows],
            "comparator_value": [r[2] for r in rows],
            "comparator_spread": ["" if r[0] == "Episodes" else 10.0 for r in rows],
            "smd": [0.1] * len(rows),
        }
    )
    return Table(key="table1", title="Table 1", frame=frame)


def _run(*tables: Table) -> dict[str, pd.DataFrame]:
    sections, _, _ = protect_report(
        [Section("s", "s", tables)], {}, {}, reference="a", comparator="b", min_cell=11
    )
    return {t.key: t.frame for t in sections[0].tables}


def test_two_hidden_levels_whose_sum_is_two_are_protected() -> None:
    """57 + 48 + <11 + <11 = 107 gives both hidden levels as 1 (seen on a drawn export):
    a third level is hidden and its share and SMD with it."""
    out = _run(
        _table1(
            [
                ("Episodes", 107, 50),
                ("Sex: female", 57, 25),
                ("Sex: male", 48, 25),
                ("Sex: other", "<11", 0),
                ("Sex: unknown", "<11", 0),
            ]
        )
    )["table1"]
    assert out.loc[2, "reference_value"] == HIDDEN  # male, the smallest linked count
    assert out.loc[2, "reference_spread"] == HIDDEN and out.loc[2, "smd"] == HIDDEN
    assert out.loc[1, "reference_value"] == 57


def test_caseload_level_is_not_given_back_by_table1() -> None:
    """Caseload: disc herniation 38 = [c] + <11 + 18; Table 1 printed the reference arm's 15,
    so the comparator's was 5. The pass hides another cell of that chain."""
    caseload = Table(
        key="caseload_condition",
        title="c",
        frame=pd.DataFrame(
            {
                "condition": ["disc_herniation", "sciatica", "All"],
                "episodes": [38, 60, 98],
                "pct": [38.8, 61.2, 100.0],
                "reference": [HIDDEN, 30, 45],
                "comparator": ["<11", 20, 25],
                "other_arms": [18, 10, 28],
                "median_visits": [7.0, 7.0, 7.0],
            }
        ),
    )
    table1 = _table1(
        [
            ("Episodes", 45, 25),
            ("Condition: disc herniation", 15, "<11"),
            ("Condition: sciatica", 30, 20),
        ]
    )
    out = _run(caseload, table1)
    published = [
        out["table1"].loc[1, "reference_value"],
        out["caseload_condition"].loc[0, "other_arms"],
        out["caseload_condition"].loc[0, "episodes"],
    ]
    assert HIDDEN in published


def _benchmark(by: str, units: list[str], n: list[object]) -> Table:
    frame = pd.DataFrame(
        {
            by: units,
            "n": n,
            "observed": [1.0] * len(units),
            "expected": [1.0] * len(units),
            "estimate": [0.0] * len(units),
            "conf_low": [-1.0] * len(units),
            "conf_high": [1.0] * len(units),
        }
    )
    return Table(key=f"benchmark_{by}", title=by, frame=frame)


def test_benchmark_tables_share_their_total() -> None:
    """Both benchmarking tables list every unit of one model: therapists 60 + 50 + <11 and
    a single site of 115 give the small therapist as 115 − 110 = 5. The pass hides the
    smallest linked count (the therapist's 50) and the figures computed from it."""
    out = _run(
        _benchmark("therapist_id", ["t1", "t2", "t3"], [60, 50, "<11"]),
        _benchmark("site_id", ["s1"], [115]),
    )
    therapists = out["benchmark_therapist_id"]
    assert therapists.loc[1, "n"] == HIDDEN
    assert therapists.loc[1, "estimate"] == HIDDEN and therapists.loc[1, "observed"] == HIDDEN
    assert therapists.loc[0, "n"] == 60 and therapists.loc[0, "estimate"] == 0.0


def test_benchmark_tables_as_built_are_left_alone() -> None:
    """As the section publishes them (hidden units as [c] beside a complement), the equal
    totals 440 + 2 × [c] = 505 pin neither hidden therapist: nothing more is hidden."""
    therapists = [35, 39, 51, 79, 92, 99, 45, HIDDEN, HIDDEN]
    out = _run(
        _benchmark("therapist_id", [f"t{i}" for i in range(9)], therapists),
        _benchmark("site_id", ["a", "b", "c"], [125, 270, 110]),
    )
    assert out["benchmark_therapist_id"]["n"].tolist() == therapists
    assert out["benchmark_site_id"]["n"].tolist() == [125, 270, 110]
