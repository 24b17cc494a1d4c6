"""Complementary suppression by linear relations (issue 13): after ``protect`` no hidden
small count can be fixed from the published cells and the stated relations. Checked by an
independent integer program (scipy.optimize.milp): a hidden count is recoverable iff its
least and greatest integer values, subject to the relations, the published cells and
non-negativity, are equal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from dnoutcomes.qi.disclosure import Relation, protect

MIN_CELL = 11


def recoverable(
    values: dict[object, float], hidden: set[object], relations: list[Relation]
) -> list[object]:
    """Hidden cells in 1..MIN_CELL-1 whose integer value is fixed by what is published
    (the reader knows a hidden cell is a whole number, 1..MIN_CELL-1 when marked "<11")."""
    order = sorted(hidden, key=repr)
    if not order:
        return []
    index = {c: i for i, c in enumerate(order)}
    rows, rhs = [], []
    for relation in relations:
        row = np.zeros(len(order))
        constant = 0.0
        for cell, coefficient in relation.terms:
            if cell in index:
                row[index[cell]] += coefficient
            else:
                constant -= coefficient * values[cell]
        if row.any():
            rows.append(row)
            rhs.append(constant)
    constraints = [LinearConstraint(np.array(rows), rhs, rhs)] if rows else []
    # A cell shown "<11" is known to be 1..10; a "[c]" cell only to be a count.
    small = np.array([0 < values[c] < MIN_CELL for c in order])
    low = np.where(small, 1.0, 0.0)
    high = np.where(small, MIN_CELL - 1.0, np.inf)
    out = []
    for cell in order:
        if not 0 < values[cell] < MIN_CELL:
            continue
        ends = []
        for sign in (1, -1):
            c = np.zeros(len(order))
            c[index[cell]] = sign
            result = milp(
                c,
                constraints=constraints,
                integrality=np.ones(len(order)),
                bounds=Bounds(low, high),
            )
            # No finite optimum: unbounded, so not fixed.
            ends.append(sign * result.fun if result.fun is not None else sign * np.inf)
        if ends[0] == ends[1]:
            out.append(cell)
    return out


def _flow(starts: list[int], drops: list[list[int]]) -> tuple[dict[object, float], list]:
    """A flow table: per arm, a chain of stages (n, excluded), and an "all" total."""
    values: dict[object, float] = {("all", "n"): float(sum(starts))}
    relations: list[Relation] = []
    firsts = []
    for a, (start, chain) in enumerate(zip(starts, drops, strict=True)):
        n = start
        values[(a, 0, "n")] = float(n)
        firsts.append((a, 0, "n"))
        for k, drop in enumerate(chain, start=1):
            drop = min(drop, n)
            n -= drop
            values[(a, k, "excluded")] = float(drop)
            values[(a, k, "n")] = float(n)
            relations.append(
                Relation((((a, k - 1, "n"), 1.0), ((a, k, "excluded"), -1.0), ((a, k, "n"), -1.0)))
            )
    relations.append(Relation.total(("all", "n"), firsts))
    return values, relations


@settings(max_examples=40, deadline=None)
@given(
    starts=st.lists(st.integers(1, 40), min_size=1, max_size=3),
    drops=st.lists(st.lists(st.integers(0, 15), min_size=1, max_size=3), min_size=3, max_size=3),
)
def test_no_hidden_flow_count_is_recoverable(starts: list[int], drops: list[list[int]]) -> None:
    values, relations = _flow(starts, drops[: len(starts)])
    primary, hidden = protect(values, relations, min_cell=MIN_CELL)
    assert primary <= hidden
    assert primary == {c for c, v in values.items() if 0 < v < MIN_CELL}
    assert recoverable(values, hidden, relations) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=2, max_size=4), min_size=1, max_size=4))
def test_no_hidden_part_of_a_two_way_table_is_recoverable(table: list[list[int]]) -> None:
    width = min(len(r) for r in table)
    grid = [r[:width] for r in table]
    values: dict[object, float] = {}
    relations = []
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            values[(i, j)] = float(v)
        values[(i, "total")] = float(sum(row))
        relations.append(Relation.total((i, "total"), [(i, j) for j in range(width)]))
    for j in range(width):
        values[("total", j)] = float(sum(r[j] for r in grid))
        relations.append(Relation.total(("total", j), [(i, j) for i in range(len(grid))]))
    _, hidden = protect(values, relations, min_cell=MIN_CELL)
    assert recoverable(values, hidden, relations) == []


def test_flow_27_to_21_leak_is_closed() -> None:
    """Issue 13: an arm going 27 → 21 with "Left out <11" gave 6 (main at f79030f showed
    n 27, 27, 21, 21 around the hidden 6)."""
    values, relations = _flow([27], [[0, 6, 0]])
    _, hidden = protect(values, relations, min_cell=MIN_CELL)
    assert (0, 2, "excluded") in hidden
    assert recoverable(values, hidden, relations) == []


@pytest.mark.slow
def test_sample_report_flow_and_severity_tables_hide_no_recoverable_count(
    tmp_path: Path,
) -> None:
    """The published flow and severity tables of the data/sample report, read back from the
    JSON document, with the relations each states: no hidden count is fixed."""
    from dnoutcomes.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "report",
                str(sample),
                "--out",
                str(tmp_path / "r.html"),
                "--data",
                str(out),
                "--run-time",
                "2026-01-01T00:00:00Z",
            ]
        )
        == 0
    )
    tables = json.loads(out.read_text(encoding="utf-8"))["tables"]
    truth_flow = _truth_flow(sample)
    rows = tables["patient_flow"]["rows"]
    values, relations, hidden = {}, [], set()
    by_arm: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_arm.setdefault(row["arm"], []).append(i)
        for column in ("n", "excluded"):
            shown = row[column]
            values[(i, column)] = float(truth_flow[i][column])
            if isinstance(shown, str):
                hidden.add((i, column))
            else:
                assert not 0 < shown < MIN_CELL
                assert shown == truth_flow[i][column]
    for index in by_arm.values():
        for before, after in zip(index, index[1:], strict=False):
            relations.append(
                Relation((((before, "n"), 1.0), ((after, "excluded"), -1.0), ((after, "n"), -1.0)))
            )
    assert recoverable(values, hidden, relations) == []
    rates = {r["arm"]: r["events"] for r in tables["safety_rates"]["rows"]}
    severity = tables["safety_severity"]["rows"]
    for arm, total in rates.items():
        parts = [r["events"] for r in severity if r["arm"] == arm]
        hidden_parts = [p for p in parts if isinstance(p, str)]
        if isinstance(total, int) and len(hidden_parts) == 1:
            pytest.fail(f"{arm}: one hidden severity beside a shown total")
        if isinstance(total, int) and hidden_parts:
            assert len(hidden_parts) >= 2


def _truth_flow(sample: Path) -> list[dict[str, int]]:
    from test_report_build import load_quietly

    from dnoutcomes.report.build import subset_dataset
    from dnoutcomes.report.period import parse_period
    from dnoutcomes.stats import analyze

    data = load_quietly(sample)

    period = parse_period("2025-Q3")
    ids = data.episodes.loc[period.contains(data.episodes["end_date"]), "episode_id"]
    flow = analyze(subset_dataset(data, ids), require_primary=False).flow
    assert flow is not None
    return flow.frame[["n", "excluded"]].astype(int).to_dict("records")
