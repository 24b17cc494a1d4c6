"""The one small-count rule (:mod:`dnoutcomes.qi.cells`): its boundaries, its element-wise
form, and the JSON scrub that does not depend on key names."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd

from dnoutcomes.qi import cells
from dnoutcomes.qi.cells import is_small, scrub_counts, show_count, small_mark
from dnoutcomes.qi.suppress import format_count


def test_boundaries_at_each_threshold() -> None:
    for min_cell in (1, 6, 11):
        numbers = np.arange(-1, min_cell + 2)
        expected = [0 < n <= min_cell - 1 for n in numbers.tolist()]
        assert is_small(numbers, min_cell).tolist() == expected
        assert [bool(is_small(int(n), min_cell)) for n in numbers] == expected
    assert small_mark(6) == "<6"
    assert show_count(5, 6) == "<6" and show_count(6, 6) == 6 and show_count(0, 6) == 0


def test_series_with_missing_values() -> None:
    values = pd.Series([np.nan, 0.0, 4.0, 11.0])
    assert is_small(values, 11).tolist() == [False, False, True, False]


def test_format_count_uses_the_same_rule() -> None:
    for n in range(0, 14):
        assert format_count(n, threshold=11) == str(show_count(n, 11))


def test_scrub_is_structural() -> None:
    block = {
        "n": 12,
        "anything_new": [3, 15, {"deeper": np.int64(2)}],
        "flag": True,
        "estimate": 2.0,
        "label": "dn_only 3",
        "crossings": 4,
        "longest_run_limit": 7,
    }
    assert scrub_counts(block, 11) == {
        "n": 12,
        "anything_new": ["<11", 15, {"deeper": "<11"}],
        "flag": True,  # a bool is not a count
        "estimate": 2.0,  # a decimal is a statistic
        "label": "dn_only 3",  # text goes through the sentence rule, not this one
        "crossings": 4,
        "longest_run_limit": 7,
    }
    # A declared non-count shields its whole sub-block; an empty declaration shields nothing.
    assert scrub_counts({"crossings": 4}, 11, frozenset()) == {"crossings": "<11"}


def test_doctests() -> None:
    result = doctest.testmod(cells, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
