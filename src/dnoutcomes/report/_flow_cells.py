"""The patient-flow table's cells and the relations a reader knows between them, for
:func:`dnoutcomes.qi.disclosure.protect`."""

from __future__ import annotations

import re
from collections.abc import Hashable

import pandas as pd

from dnoutcomes.qi.cells import small_mark
from dnoutcomes.qi.disclosure import Relation, protect
from dnoutcomes.report.model import HIDDEN

__all__ = ["protect_flow"]


def _relations(frame: pd.DataFrame) -> list[Relation]:
    """Within each arm, a stage is the stage before minus those left out; the compared arms'
    first stages add up to the "all" row of the compared arms."""
    relations: list[Relation] = []
    firsts: list[Hashable] = []
    all_rows: list[Hashable] = []
    for arm, rows in frame.groupby("arm", sort=False):
        index = list(rows.index)
        for before, after in zip(index, index[1:], strict=False):
            relations.append(
                Relation((((before, "n"), 1.0), ((after, "excluded"), -1.0), ((after, "n"), -1.0)))
            )
        if arm == "all":
            all_rows = index
        elif index:
            firsts.append((index[0], "n"))
    if all_rows and firsts:
        relations.append(Relation.total((all_rows[-1], "n"), firsts))
    return relations


def protect_flow(frame: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """The flow table to show: small counts ``<min_cell``, cells from which one could be
    worked back :data:`~dnoutcomes.report.model.HIDDEN`, and the per-arm counts inside the
    reasons ("manual_exercise (27 episodes)") left out (they are cells too).

    Examples
    --------
    >>> f = pd.DataFrame({"arm": ["a", "a"], "stage": ["in", "analysed"], "n": [27, 21],
    ...                   "excluded": [0, 6], "reason": ["", "no outcome"]})
    >>> protect_flow(f, 11)[["n", "excluded"]].to_numpy().tolist()
    [[27, 0], ['[c]', '<11']]
    """
    values: dict[Hashable, float] = {}
    for column in ("n", "excluded"):
        numbers = frame[column].to_numpy(dtype=float)
        values.update({(i, column): v for i, v in zip(frame.index, numbers, strict=True)})
    primary, hidden = protect(values, _relations(frame), min_cell=min_cell)
    shown = frame.copy()
    for column in ("n", "excluded"):
        cells = shown[column].astype("int64").astype(object)
        for i in frame.index:
            if (i, column) in primary:
                cells[i] = small_mark(min_cell)
            elif (i, column) in hidden:
                cells[i] = HIDDEN
        shown[column] = cells
    shown["reason"] = (
        shown["reason"]
        .astype(str)
        .map(lambda text: re.sub(r" \(\d+ (?:episodes?|patients?)\)", "", text))
    )
    return shown
