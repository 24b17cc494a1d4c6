"""Anhøj's runs rules: hand-computed series, an independent binomial quantile and the
limits R's qicharts2 reported for Montgomery's examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.runs import anhoj_rules, crossings_limit, longest_run_limit


def _qbinom_half(q: float, size: int) -> int:
    """R's qbinom(q, size, 0.5) by exact enumeration with integers (independent of scipy)."""
    total = 2**size
    cumulative = 0
    for k in range(size + 1):
        cumulative += math.comb(size, k)
        if cumulative / total >= q:
            return k
    return size  # pragma: no cover


def test_monotone_series_hand_computed() -> None:
    # 1..10 around 5.5: five below then five above -> one crossing, longest run 5.
    r = anhoj_rules(np.arange(1, 11), 5.5)
    assert (r.n_obs, r.n_useful) == (10, 10)
    assert r.longest_run == 5
    assert r.longest_run_limit == 6  # round(log2(10)) + 3 = round(3.32) + 3
    assert r.crossings == 1
    assert r.crossings_limit == 2  # P(X<=1 | Bin(9, .5)) = 10/512 < .05 <= 46/512
    assert r.few_crossings and not r.long_run and r.runs_signal


def test_points_on_centre_neither_break_nor_count() -> None:
    # Signs +, (0), +, (0), +, - : the points on the centre are dropped, so the run is 3.
    r = anhoj_rules([3, 2, 4, 2, 5, 1], 2)
    assert r.n_obs == 6
    assert r.n_useful == 4
    assert r.longest_run == 3
    assert r.crossings == 1
    assert r.longest_run_limit == 5  # round(log2(4)) + 3
    assert r.crossings_limit == 0  # P(X<=0 | Bin(3, .5)) = 1/8 >= .05


def test_missing_values_are_dropped_like_centre_points() -> None:
    with_gaps = anhoj_rules([1.0, np.nan, 1.0, None, 3.0, pd.NA], 2.0)
    assert with_gaps.n_obs == 6 and with_gaps.n_useful == 3
    assert (with_gaps.longest_run, with_gaps.crossings) == (2, 1)


def test_long_run_signal_hand_computed() -> None:
    # 12 points: alternating for 4, then 8 above the centre.
    values = [1, 3, 1, 3] + [3] * 8
    r = anhoj_rules(values, 2)
    assert r.longest_run == 9  # the last "3" of the alternation joins the 8
    assert r.longest_run_limit == 7  # round(log2(12)) + 3 = round(3.58) + 3
    assert r.crossings == 3
    assert r.crossings_limit == 3  # Bin(11, .5): P(X<=2)=67/2048 < .05 <= P(X<=3)=299/2048
    assert r.long_run and not r.few_crossings and r.runs_signal


def test_random_looking_series_no_signal() -> None:
    values = [1, 3, 3, 1, 1, 3, 1, 3, 3, 1]
    r = anhoj_rules(values, 2)
    assert (r.longest_run, r.crossings) == (2, 6)
    assert not r.runs_signal


def test_centre_per_point() -> None:
    # The second half has a higher centre; every point is above its own centre -> one run.
    r = anhoj_rules([2, 2, 2, 6, 6, 6], [1, 1, 1, 5, 5, 5])
    assert (r.longest_run, r.crossings) == (6, 0)
    with pytest.raises(RequestError, match="one number or one per point"):
        anhoj_rules([1, 2, 3], [1, 2])


def test_no_useful_point() -> None:
    r = anhoj_rules([2, 2, np.nan], 2)
    assert r.n_useful == 0
    assert r.longest_run is None and r.crossings_limit is None
    assert not r.runs_signal
    assert r.to_dict()["longest_run"] is None


@pytest.mark.parametrize("n", [*range(1, 101), 150, 200, 500])
def test_limits_against_independent_formulae(n: int) -> None:
    assert crossings_limit(n) == _qbinom_half(0.05, n - 1)
    assert longest_run_limit(n) == round(math.log2(n)) + 3


@pytest.mark.parametrize(
    ("n", "run_limit", "cross_limit"),
    # n.useful, longest.run.max and n.crossings.min of R qicharts2's qic() output for
    # the fixtures in shared/reference/external/qicharts2.
    [(25, 8, 8), (28, 8, 9), (39, 8, 14), (40, 8, 14), (44, 8, 16), (64, 9, 25)],
)
def test_limits_match_qicharts2(n: int, run_limit: int, cross_limit: int) -> None:
    assert longest_run_limit(n) == run_limit
    assert crossings_limit(n) == cross_limit


def test_bad_input() -> None:
    with pytest.raises(RequestError, match="must be numbers; got 'x' at position 2"):
        anhoj_rules([1, "x"], 1)
    with pytest.raises(RequestError, match="at least 1"):
        longest_run_limit(0)
    with pytest.raises(RequestError, match="at least 1"):
        crossings_limit(0)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    centre=st.integers(-2, 2),
)
def test_reflection_and_shift_leave_the_rules_alone(values: list[int], centre: int) -> None:
    r = anhoj_rules(values, centre)
    mirrored = anhoj_rules([2 * centre - v for v in values], centre)
    shifted = anhoj_rules([v + 100 for v in values], centre + 100)
    for other in (mirrored, shifted):
        assert (other.longest_run, other.crossings, other.n_useful) == (
            r.longest_run,
            r.crossings,
            r.n_useful,
        )
    if r.n_useful:
        assert r.crossings is not None and r.longest_run is not None
        # runs = crossings + 1, and the runs fill the useful points
        assert r.crossings + 1 <= r.n_useful
        assert r.longest_run >= -(-r.n_useful // (r.crossings + 1))


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.runs as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
