"""Complementary suppression by linear relations: hide further cells until no hidden small
count can be worked back from the published cells and the relations a reader knows.

A table (or several tables of one report) publishes *cells*, each a non-negative count,
and *relations* a reader can rely on: a row of parts adds up to its total, a stage of a
flow is the one before minus those left out, a table repeats another's total. Primary
cells (a count from 1 to ``min_cell - 1``) are hidden first. Then, repeatedly, for each
hidden primary cell the least and greatest value it can take is computed by linear
programming over the hidden cells, subject to every relation, the published cells as
constants, ``1 <= x <= min_cell - 1`` for primary cells and ``x >= 0`` for the others; a
cell whose least and greatest values are equal is recoverable, and the smallest published
non-zero cell of a relation that reaches it (directly or through hidden cells; else a
published zero of such a relation) is hidden too. The loop ends when no hidden primary
cell is recoverable.

Guarantee: after :func:`protect`, for every primary cell there are at least two
assignments of real values to the hidden cells that satisfy every relation stated; the
ends of its range are attained at vertices of the feasible polytope, which for the 0/±1
relations of count tables are whole numbers, so the cell cannot be fixed by addition or
subtraction of published cells.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dnoutcomes.qi.cells import is_small

__all__ = ["Relation", "protect", "ranges"]

_TOL = 1e-7


@dataclass(frozen=True)
class Relation:
    """``Σ coefficient × cell = 0`` over the cells named.

    Examples
    --------
    >>> Relation.total("episodes", ["responders", "non_responders"]).terms
    (('episodes', 1.0), ('responders', -1.0), ('non_responders', -1.0))
    """

    terms: tuple[tuple[Hashable, float], ...]

    @classmethod
    def total(cls, total: Hashable, parts: Sequence[Hashable]) -> Relation:
        """``total = Σ parts``."""
        return cls(((total, 1.0), *((p, -1.0) for p in parts)))


def ranges(
    values: Mapping[Any, float],
    hidden: set[Hashable],
    primary: set[Hashable],
    relations: Sequence[Relation],
    min_cell: int,
) -> dict[Hashable, tuple[float, float]]:
    """Least and greatest value of each hidden primary cell given what is published.

    Returns
    -------
    dict
        ``{cell: (low, high)}`` for the primary cells.
    """
    from scipy.optimize import linprog

    order = sorted(hidden, key=repr)
    index = {cell: i for i, cell in enumerate(order)}
    rows: list[np.ndarray] = []
    rhs: list[float] = []
    for relation in relations:
        row = np.zeros(len(order))
        constant = 0.0
        for cell, coefficient in relation.terms:
            if cell in index:
                row[index[cell]] += coefficient
            else:
                constant -= coefficient * float(values[cell])
        if np.any(row != 0):
            rows.append(row)
            rhs.append(constant)
    bounds = [(1.0, float(min_cell - 1)) if c in primary else (0.0, None) for c in order]
    a_eq = np.array(rows) if rows else None
    b_eq = np.array(rhs) if rows else None
    out: dict[Hashable, tuple[float, float]] = {}
    for cell in order:
        if cell not in primary:
            continue
        ends = []
        for sign in (1.0, -1.0):
            objective = np.zeros(len(order))
            objective[index[cell]] = sign
            result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
            ends.append(sign * result.fun if result.success else np.nan)
        out[cell] = (ends[0], ends[1])
    return out


def protect(
    values: Mapping[Any, float],
    relations: Sequence[Relation],
    *,
    min_cell: int,
    hidden: set[Hashable] | None = None,
) -> tuple[set[Hashable], set[Hashable]]:
    """Hide the small counts and enough others that none can be worked back.

    Parameters
    ----------
    values
        Every published count, by cell id.
    relations
        The relations a reader knows between them.
    min_cell
        Counts from 1 to ``min_cell - 1`` are primary.
    hidden
        Cells already hidden for another reason (kept hidden).

    Returns
    -------
    (primary, hidden)
        The primary cells and every hidden cell (primary and complementary).

    Examples
    --------
    >>> v = {"all": 30, "a": 27, "b": 3}
    >>> sorted(protect(v, [Relation.total("all", ["a", "b"])], min_cell=11)[1])
    ['a', 'b']
    """
    primary = {c for c, v in values.items() if is_small(float(v), min_cell)}
    shut = set(primary) | set(hidden or ())
    for _ in range(len(values) + 1):
        spans = ranges(values, shut, primary, relations, min_cell)
        exposed = [c for c, (lo, hi) in spans.items() if not (hi - lo > _TOL)]
        if not exposed:
            break
        cell = exposed[0]
        candidates = _published_neighbours(cell, relations, shut)
        if not candidates:
            break
        nonzero = [c for c in candidates if float(values[c]) > 0]
        pool = nonzero or candidates
        shut.add(min(pool, key=lambda c: (float(values[c]), repr(c))))
    return primary, shut


def _published_neighbours(
    cell: Hashable, relations: Sequence[Relation], shut: set[Hashable]
) -> list[Hashable]:
    """Published cells of the relations reaching ``cell`` through hidden cells."""
    component = {cell}
    candidates: list[Hashable] = []
    changed = True
    while changed:
        changed = False
        for relation in relations:
            cells = [c for c, _ in relation.terms]
            if not any(c in component for c in cells):
                continue
            for other in cells:
                if other in shut and other not in component:
                    component.add(other)
                    changed = True
                elif other not in shut and other not in candidates:
                    candidates.append(other)
    return candidates
