"""Test-side attacker: every published count cell of a report and the linear relations a
reader knows between them, and an integer program that tries to work each hidden small
count back.

Nothing here is package code and nothing is shared with :mod:`dnoutcomes.report`'s own
suppression: the relations are written down from what the tables *say* (a row of parts adds
up to its total, a flow stage is the stage before minus those left out, a share times its
denominator is its numerator, the same count shown in two tables is one number), so a
relation the package forgot is still tried here.

A hidden small count (``"<11"``) is *recoverable* when every whole-number assignment of
the hidden cells that satisfies the relations gives it the same value: the least and the
greatest value found by :func:`scipy.optimize.milp` (hidden small counts from 1 to
``min_cell - 1``, other hidden counts ``>= 0``, all integer) are equal. A share or rate
that is published enters as a coefficient; one that is hidden gives no relation.
"""

from __future__ import annotations

import html.parser
import math
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Cell = tuple[str, int, str]

#: Count columns of each table of the report document.
COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "patient_flow": ("n", "excluded"),
    "caseload_site_id": ("episodes", "reference", "comparator", "other_arms"),
    "caseload_therapist_id": ("episodes", "reference", "comparator", "other_arms"),
    "caseload_condition": ("episodes", "reference", "comparator", "other_arms"),
    "comparisons": ("n",),
    "responders": ("n", "responders"),
    "safety_rates": ("episodes", "events", "dn_sessions"),
    "safety_severity": ("events",),
    "spc_monthly": ("episodes", "responders", "dn_sessions", "adverse_events"),
    "funnel": ("events", "n"),
    "ancova": ("n", "n_reference", "n_comparator"),
    "benchmark_therapist_id": ("n",),
    "benchmark_site_id": ("n",),
}


def small_mark(min_cell: int) -> str:
    return f"<{min_cell}"


@dataclass
class Published:
    """The cells of one report document: a published number, a small count hidden
    (``"<11"``) or a figure hidden to protect one (``"[c]"``)."""

    min_cell: int
    numbers: dict[Cell, float] = field(default_factory=dict)
    small: set[Cell] = field(default_factory=set)
    hidden: set[Cell] = field(default_factory=set)
    relations: list[dict[Cell, float]] = field(default_factory=list)
    constants: list[float] = field(default_factory=list)

    def state(self, cell: Cell) -> str:
        if cell in self.numbers:
            return "number"
        if cell in self.small:
            return "small"
        if cell in self.hidden:
            return "hidden"
        return "absent"

    def add(self, terms: Iterable[tuple[Cell, float]], constant: float = 0.0) -> None:
        """``Σ coefficient × cell = constant``; dropped when a cell is absent."""
        row: dict[Cell, float] = {}
        for cell, coefficient in terms:
            if self.state(cell) == "absent":
                return
            row[cell] = row.get(cell, 0.0) + coefficient
        self.relations.append(row)
        self.constants.append(constant)

    def equal(self, a: Cell, b: Cell) -> None:
        self.add([(a, 1.0), (b, -1.0)])

    def total(self, total: Cell, parts: Iterable[Cell]) -> None:
        self.add([(total, 1.0), *((p, -1.0) for p in parts)])

    def share(self, share: Cell, numerator: Cell, denominator: Cell, scale: float) -> None:
        """``share × denominator = scale × numerator`` when the share is published."""
        if share not in self.numbers:
            return
        self.add([(denominator, self.numbers[share]), (numerator, -scale)])


def _cell_value(value: Any) -> tuple[str, float]:
    if isinstance(value, bool):
        return "absent", 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return "number", float(value)
    return ("text", 0.0)


def collect(document: dict[str, Any]) -> Published:
    """Every count cell of a report document (``report.to_dict()`` or the ``--data`` JSON)
    with the relations between them."""
    min_cell = int(document["min_cell"])
    small = small_mark(min_cell)
    pub = Published(min_cell)
    tables: dict[str, list[dict[str, Any]]] = {
        key: table["rows"] for key, table in document["tables"].items()
    }
    ancova = document.get("results", {}).get("ancova")
    if isinstance(ancova, list):
        tables["ancova"] = ancova

    def register(key: str, i: int, column: str, value: Any) -> None:
        kind, number = _cell_value(value)
        cell = (key, i, column)
        if kind == "number":
            pub.numbers[cell] = number
        elif value == small:
            pub.small.add(cell)
        elif value == "[c]":
            pub.hidden.add(cell)

    for key, rows in tables.items():
        columns = COUNT_COLUMNS.get(key, ())
        for i, row in enumerate(rows):
            for column in columns:
                if column in row:
                    register(key, i, column, row[column])
    for key in ("table1",):
        for i, row in enumerate(tables.get(key, [])):
            if row.get("summary") in ("n", "n (%)"):
                for column in ("reference_value", "comparator_value"):
                    register(key, i, column, row[column])
    for i, row in enumerate(tables.get("headline", [])):
        if row["indicator"] == "Episodes discharged":
            for column in ("this_period", "previous_period", "change"):
                register("headline", i, column, row[column])
    spc = document.get("spc") or {}
    for chart in ("i_chart", "p_chart", "u_chart"):
        block = spc.get(chart)
        if isinstance(block, dict) and "n" in block:
            for i, value in enumerate(block["n"]):
                register(chart, i, "n", value)
    for declare in _DECLARATIONS:
        declare(pub, tables, document)
    return pub


def _rows(tables: dict[str, list[dict[str, Any]]], key: str) -> list[dict[str, Any]]:
    return tables.get(key, [])


def _find(rows: list[dict[str, Any]], **match: Any) -> int | None:
    for i, row in enumerate(rows):
        if all(row.get(k) == v for k, v in match.items()):
            return i
    return None


def _flow(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    rows = _rows(tables, "patient_flow")
    arms: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        arms.setdefault(row["arm"], []).append(i)
    for index in arms.values():
        for before, after in zip(index, index[1:], strict=False):
            pub.add(
                [
                    (("patient_flow", before, "n"), 1.0),
                    (("patient_flow", after, "excluded"), -1.0),
                    (("patient_flow", after, "n"), -1.0),
                ]
            )
    firsts = [index[0] for arm, index in arms.items() if arm != "all"]
    if "all" in arms and firsts:
        pub.total(
            ("patient_flow", arms["all"][-1], "n"), [("patient_flow", i, "n") for i in firsts]
        )


def _caseload(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    flow = _rows(tables, "patient_flow")
    reference, comparator = doc["reference"], doc["comparator"]
    for key in ("caseload_site_id", "caseload_therapist_id", "caseload_condition"):
        rows = _rows(tables, key)
        if not rows:
            continue
        total = len(rows) - 1  # the "All" row
        for i in range(len(rows)):
            pub.total(
                (key, i, "episodes"),
                [(key, i, c) for c in ("reference", "comparator", "other_arms")],
            )
            _ratio(pub, rows[i], "pct", (key, i, "episodes"), (key, total, "episodes"), 100.0)
        for column in ("episodes", "reference", "comparator", "other_arms"):
            pub.total((key, total, column), [(key, i, column) for i in range(total)])
        loaded = _find(flow, arm="all", stage="loaded")
        if loaded is not None:
            pub.equal((key, total, "episodes"), ("patient_flow", loaded, "n"))
        for column, arm in (("reference", reference), ("comparator", comparator)):
            first = _find(flow, arm=arm)
            if first is not None:
                pub.equal((key, total, column), ("patient_flow", first, "n"))
        compared = _find(flow, arm="all", stage="in_compared_arms")
        if compared is not None:
            pub.equal((key, total, "other_arms"), ("patient_flow", compared, "excluded"))
    headline = _rows(tables, "headline")
    site = _rows(tables, "caseload_site_id")
    if headline and site:
        pub.equal(("headline", 0, "this_period"), ("caseload_site_id", len(site) - 1, "episodes"))
        pub.add(
            [
                (("headline", 0, "change"), 1.0),
                (("headline", 0, "this_period"), -1.0),
                (("headline", 0, "previous_period"), 1.0),
            ]
        )


_GROUPS = ("Sex: ", "Condition: ", "Chronicity: ", "Site: ")


def _table1(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    rows = _rows(tables, "table1")
    episodes = _find(rows, characteristic="Episodes")
    if episodes is None:
        return
    sides = (("reference_value", "reference"), ("comparator_value", "comparator"))
    for value, caseload_column in sides:
        for group in _GROUPS:
            members = [i for i, r in enumerate(rows) if str(r["characteristic"]).startswith(group)]
            if members:
                pub.total(("table1", episodes, value), [("table1", i, value) for i in members])
        site = _rows(tables, "caseload_site_id")
        if site:
            pub.equal(
                ("table1", episodes, value), ("caseload_site_id", len(site) - 1, caseload_column)
            )
        for key, group, label in (
            ("caseload_condition", "Condition: ", "condition"),
            ("caseload_site_id", "Site: ", "site_id"),
        ):
            for j, row in enumerate(_rows(tables, key)):
                name = str(row[label])
                i = _find(rows, characteristic=group + name.replace("_", " "))
                if i is None:
                    i = _find(rows, characteristic=group + name)
                if i is not None:
                    pub.equal(("table1", i, value), (key, j, caseload_column))
    for i, row in enumerate(rows):
        if row.get("summary") == "n (%)" and str(row["characteristic"]).startswith(_GROUPS):
            for value, spread in (
                ("reference_value", "reference_spread"),
                ("comparator_value", "comparator_spread"),
            ):
                _ratio(pub, row, spread, ("table1", i, value), ("table1", episodes, value), 100.0)


def _outcomes(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    flow = _rows(tables, "patient_flow")
    ancova = _rows(tables, "ancova")
    for i in range(len(ancova)):
        pub.total(("ancova", i, "n"), [("ancova", i, "n_reference"), ("ancova", i, "n_comparator")])
    for i in range(len(_rows(tables, "comparisons"))):
        if i < len(ancova):
            pub.equal(("comparisons", i, "n"), ("ancova", i, "n"))
    for column, arm in (("n_reference", doc["reference"]), ("n_comparator", doc["comparator"])):
        analysed = _find(flow, arm=arm, stage="analysed")
        if analysed is not None and ancova:
            pub.equal(("ancova", 0, column), ("patient_flow", analysed, "n"))
        row = _find(_rows(tables, "responders"), arm=arm)
        if row is not None and analysed is not None:
            pub.equal(("responders", row, "n"), ("patient_flow", analysed, "n"))
    for i, row in enumerate(_rows(tables, "responders")):
        _ratio(pub, row, "pct", ("responders", i, "responders"), ("responders", i, "n"), 100.0)


def _safety(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    rates = _rows(tables, "safety_rates")
    severity = _rows(tables, "safety_severity")
    flow = _rows(tables, "patient_flow")
    for i, row in enumerate(rates):
        arm = row["arm"]
        parts = [j for j, r in enumerate(severity) if r["arm"] == arm]
        if parts:
            pub.total(
                ("safety_rates", i, "events"), [("safety_severity", j, "events") for j in parts]
            )
        _ratio(
            pub,
            row,
            "rate_per_100",
            ("safety_rates", i, "events"),
            ("safety_rates", i, "dn_sessions"),
            100.0,
        )
        first = _find(flow, arm=arm)
        if first is not None:
            pub.equal(("safety_rates", i, "episodes"), ("patient_flow", first, "n"))


def _ratio(
    pub: Published,
    row: dict[str, Any],
    column: str,
    numerator: Cell,
    denominator: Cell,
    scale: float,
) -> None:
    """``row[column] × denominator = scale × numerator`` when the ratio is a number."""
    kind, number = _cell_value(row.get(column))
    if kind != "number":
        return
    pub.add([(denominator, number), (numerator, -scale)])


def _charts(pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]) -> None:
    monthly = _rows(tables, "spc_monthly")
    for i, row in enumerate(monthly):
        _ratio(
            pub,
            row,
            "share_pct",
            ("spc_monthly", i, "responders"),
            ("spc_monthly", i, "episodes"),
            100.0,
        )
        _ratio(
            pub,
            row,
            "rate_per_100",
            ("spc_monthly", i, "adverse_events"),
            ("spc_monthly", i, "dn_sessions"),
            100.0,
        )
    spc = doc.get("spc") or {}
    for chart, numerator, denominator, scale in (
        ("i_chart", None, "episodes", 1.0),
        ("p_chart", "responders", "episodes", 1.0),
        ("u_chart", "adverse_events", "dn_sessions", 100.0),
    ):
        block = spc.get(chart)
        if not isinstance(block, dict) or "n" not in block:
            continue
        months = [str(r["month"]) for r in monthly]
        for i, month in enumerate(block["months"]):
            if month not in months:
                continue
            j = months.index(month)
            pub.equal((chart, i, "n"), ("spc_monthly", j, denominator))
            if numerator is not None:
                _ratio(
                    pub,
                    {"v": block["values"][i]},
                    "v",
                    ("spc_monthly", j, numerator),
                    (chart, i, "n"),
                    scale,
                )
        if numerator is not None and isinstance(block.get("centre"), int | float):
            rows = [j for j, r in enumerate(monthly) if str(r["month"]) in block["months"]]
            terms = [(("spc_monthly", j, denominator), float(block["centre"])) for j in rows]
            terms += [(("spc_monthly", j, numerator), -scale) for j in rows]
            pub.add(terms)
    funnel = _rows(tables, "funnel")
    for i, row in enumerate(funnel):
        _ratio(pub, row, "share", ("funnel", i, "events"), ("funnel", i, "n"), 100.0)
    target = (doc.get("results") or {}).get("funnel", {}).get("target")
    if funnel and isinstance(target, int | float):
        pub.add(
            [(("funnel", i, "n"), float(target)) for i in range(len(funnel))]
            + [(("funnel", i, "events"), -1.0) for i in range(len(funnel))]
        )


def _benchmarking(
    pub: Published, tables: dict[str, list[dict[str, Any]]], doc: dict[str, Any]
) -> None:
    """The benchmarking section says both tables list every therapist (site) of the one
    case-mix model, a hidden one included: their episodes add up to the same total."""
    therapists = _rows(tables, "benchmark_therapist_id")
    sites = _rows(tables, "benchmark_site_id")
    if therapists and sites:
        pub.add(
            [(("benchmark_therapist_id", i, "n"), 1.0) for i in range(len(therapists))]
            + [(("benchmark_site_id", j, "n"), -1.0) for j in range(len(sites))]
        )


_DECLARATIONS: tuple[
    Callable[[Published, dict[str, list[dict[str, Any]]], dict[str, Any]], None], ...
] = (
    _flow,
    _caseload,
    _table1,
    _outcomes,
    _safety,
    _charts,
    _benchmarking,
)


def recoverable(pub: Published) -> dict[Cell, tuple[float, float]]:
    """The hidden small counts pinned to one whole number by the relations.

    Returns
    -------
    dict
        ``{cell: (least, greatest)}`` for every recoverable cell; ``{("infeasible", 0,
        ""): …}`` when no assignment satisfies the relations (a relation written here is
        wrong, or the report contradicts itself).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    unknown = sorted(pub.small | pub.hidden)
    index = {c: i for i, c in enumerate(unknown)}
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    for relation, constant in zip(pub.relations, pub.constants, strict=True):
        row = np.zeros(len(unknown))
        value = constant
        for cell, coefficient in relation.items():
            if cell in index:
                row[index[cell]] += coefficient
            else:
                value -= coefficient * pub.numbers[cell]
        if np.any(np.abs(row) > 1e-12):
            rows.append(row)
            rhs.append(value)
        elif abs(value) > 1e-6 * max(1.0, abs(constant)):
            return {("infeasible", 0, "published cells contradict a relation"): (value, value)}
    if not unknown:
        return {}
    lower = np.array([1.0 if c in pub.small else 0.0 for c in unknown])
    upper = np.array([pub.min_cell - 1.0 if c in pub.small else np.inf for c in unknown])
    constraints = []
    if rows:
        a = np.array(rows)
        b = np.array(rhs)
        slack = 1e-6 * np.maximum(1.0, np.abs(a).max(axis=1)) * 100
        constraints = [LinearConstraint(a, b - slack, b + slack)]
    integrality = np.ones(len(unknown))
    out: dict[Cell, tuple[float, float]] = {}
    # The benchmarking tables hide a small unit as "[c]" (beside a complement), so any of
    # their hidden counts may be small: pinned to 1 .. min_cell - 1, it is given back.
    any_size = sorted(c for c in pub.hidden if str(c[0]).startswith("benchmark_"))
    for cell in [*sorted(pub.small), *any_size]:
        ends = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(unknown))
            c[index[cell]] = sign
            result = milp(
                c, constraints=constraints, integrality=integrality, bounds=Bounds(lower, upper)
            )
            if result.status != 0:
                return {("infeasible", 0, str(result.message)): (np.nan, np.nan)}
            ends.append(sign * result.fun)
        if round(ends[0]) == round(ends[1]) and (
            cell in pub.small or 1 <= round(ends[0]) < pub.min_cell
        ):
            out[cell] = (ends[0], ends[1])
    return out


# ------------------------------------------------------------------ scanning the renders


class _TableCells(html.parser.HTMLParser):
    """The text of every ``<td>`` of every report table, by table key."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._key: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "figure" and (values.get("id") or "").startswith("table-"):
            self._key = str(values["id"])[len("table-") :]
            self.tables[self._key] = []
        elif tag == "tr" and self._key is not None:
            self.tables[self._key].append([])
        elif tag == "td" and self._key is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._key is not None and self._cell is not None:
            self.tables[self._key][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "figure":
            self._key = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(page: str) -> dict[str, list[list[str]]]:
    parser = _TableCells()
    parser.feed(page)
    return {k: [r for r in rows if r] for k, rows in parser.tables.items()}


def small_counts_in_cells(
    tables: dict[str, list[list[Any]]], columns: dict[str, list[str]], min_cell: int
) -> list[tuple[str, int, str, Any]]:
    """Count cells (by :data:`COUNT_COLUMNS`) holding a number from 1 to ``min_cell - 1``."""
    found = []
    for key, rows in tables.items():
        names = columns.get(key, [])
        wanted = [j for j, name in enumerate(names) if name in COUNT_COLUMNS.get(key, ())]
        if key == "table1":
            wanted = [j for j, name in enumerate(names) if name.endswith("_value")]
        for i, row in enumerate(rows):
            if key == "table1" and str(row[1]) not in ("n", "n (%)"):
                continue
            for j in wanted:
                if j < len(row) and _is_small(row[j], min_cell):
                    found.append((key, i, names[j], row[j]))
    return found


def _is_small(value: Any, min_cell: int) -> bool:
    if isinstance(value, str):
        text = value.replace(",", "").strip()
        if not re.fullmatch(r"\d+(\.0+)?", text):
            return False
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 < value < min_cell


def hashable(cell: Hashable) -> Hashable:
    return cell
