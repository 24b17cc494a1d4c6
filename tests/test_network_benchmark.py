"""The network's site benchmarking from summary blocks: observed / expected responders
standardised for the arm mix, checked by hand on small counts, and its refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.network._benchmark import site_benchmark


def block(n: list[int], r: list[int]) -> dict[str, Any]:
    return {"responders": {"n": n, "responders": r}}


def test_expected_and_variance_by_hand() -> None:
    # network shares: reference 30/100 = 0.3, comparator 60/100 = 0.6
    by_site = {
        "a": [block([50, 20], [10, 14])],
        "b": [block([30, 30], [12, 18])],
        # a site split over two partitions: its counts add up
        "c": [block([10, 40], [5, 20]), block([10, 10], [3, 8])],
    }
    funnel = site_benchmark(by_site)
    frame = funnel.frame.set_index("unit")
    # E = n_ref * 0.3 + n_comp * 0.6; O = r_ref + r_comp
    expected = {"a": 50 * 0.3 + 20 * 0.6, "b": 30 * 0.3 + 30 * 0.6, "c": 20 * 0.3 + 50 * 0.6}
    observed = {"a": 24, "b": 30, "c": 36}
    variance = {
        "a": 50 * 0.21 + 20 * 0.24,
        "b": 30 * 0.21 + 30 * 0.24,
        "c": 20 * 0.21 + 50 * 0.24,
    }
    for site in ("a", "b", "c"):
        assert frame.loc[site, "precision"] == pytest.approx(expected[site], rel=1e-12)
        assert frame.loc[site, "value"] == pytest.approx(observed[site] / expected[site], rel=1e-12)
        # the unit's null standard error on the ratio scale is sqrt(V) / E
        assert frame.loc[site, "s"] == pytest.approx(
            np.sqrt(variance[site]) / expected[site], rel=1e-12
        )
    assert frame["n"].tolist() == [70, 60, 70]
    assert not funnel.adjusted
    assert "unadjusted" in funnel.title


def test_a_site_without_classified_episodes_is_left_out_and_named() -> None:
    by_site = {
        "a": [block([50, 20], [10, 14])],
        "b": [block([30, 30], [12, 18])],
        "empty": [block([0, 0], [0, 0])],
    }
    funnel = site_benchmark(by_site)
    assert funnel.frame["unit"].tolist() == ["a", "b"]
    assert any("empty" in n for n in funnel.notes)


@pytest.mark.parametrize(
    ("by_site", "words"),
    [
        ({"a": [block([50, 20], [10, 14])]}, "at least 2 sites"),
        (
            {"a": [block([50, 20], [50, 14])], "b": [block([30, 30], [30, 18])]},
            "every classified episode, or none",
        ),
        (
            {"a": [block([50, 0], [10, 0])], "b": [block([30, 0], [12, 0])]},
            "no classified episode",
        ),
    ],
)
def test_refused_when_there_is_nothing_to_compare(by_site: Any, words: str) -> None:
    with pytest.raises(InsufficientDataError, match=words):
        site_benchmark(by_site)
