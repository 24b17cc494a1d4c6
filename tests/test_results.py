"""The shared behaviour of result objects (stats/results.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dnoutcomes.stats.results import ResultMixin, format_p, jsonable


@dataclass(frozen=True, repr=False)
class _Toy(ResultMixin):
    title: str
    notes: tuple[str, ...]
    _frame: pd.DataFrame


def _toy(notes: tuple[str, ...]) -> _Toy:
    frame = pd.DataFrame({"term": ["a", "b"], "estimate": [1.23456, -0.5], "p_value": [0.2, 1e-5]})
    return _Toy("A toy result", notes, frame)


def test_repr_is_one_line_with_title_size_and_notes() -> None:
    assert repr(_toy(())) == ("<_Toy: A toy result (2 rows x 3 columns); print() it for the table>")
    assert "1 note)" in repr(_toy(("one",)))
    assert "2 notes)" in repr(_toy(("one", "two")))
    assert "\n" not in repr(_toy(("one",)))


def test_str_shows_the_formatted_table_and_notes() -> None:
    text = str(_toy(("Left out: 3 episodes.",)))
    assert text.splitlines()[0] == "A toy result"
    assert "1.23" in text and "<0.001" in text and "0.200" in text
    assert text.endswith("Note: Left out: 3 episodes.")


def test_format_p_and_jsonable() -> None:
    assert format_p(0.0004) == "<0.001"
    assert format_p(0.0123) == "0.012"
    assert format_p(math.nan) == ""
    assert jsonable({"a": np.float64(1.5), "b": [np.int64(2), pd.NA, math.inf]}) == {
        "a": 1.5,
        "b": [2, None, None],
    }
