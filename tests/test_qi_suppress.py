"""Small-cell suppression: hand-worked tables (a site with 7 episodes), the complement
rules, and invariants checked on random tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.suppress import SECONDARY_MARK, format_count, suppress_counts


def _caseload() -> pd.DataFrame:
    episodes = pd.Series([7, 120, 130], index=["north", "south", "east"])
    responders = pd.Series([3, 66, 50], index=episodes.index)
    table = pd.DataFrame(
        {
            "episodes": episodes,
            "responders": responders,
            "pct_responders": 100 * responders / episodes,
            "pct_of_all": 100 * episodes / episodes.sum(),
        }
    )
    return table


def test_site_with_seven_episodes_shows_lt11_and_no_percentage_reveals_it() -> None:
    table = _caseload()
    total = table["episodes"].sum()  # a NumPy integer: a number, not a column name
    result = suppress_counts(
        table,
        percents={"pct_responders": ("responders", "episodes"), "pct_of_all": ("episodes", total)},
    )
    shown = result.table
    assert shown.loc["north", "episodes"] == "<11"
    assert shown.loc["north", "responders"] == "<11"
    assert shown.loc["north", "pct_responders"] == SECONDARY_MARK  # 42.9 % would reveal 3/7
    assert shown.loc["north", "pct_of_all"] == SECONDARY_MARK  # 2.7 % of 257 reveals 7
    # Nothing numeric is left in north's row: no figure to work the 7 back from.
    assert all(isinstance(v, str) for v in shown.loc["north"])
    # The other sites keep their numbers unrounded.
    assert shown.loc["south", "episodes"] == 120
    assert shown.loc["south", "pct_responders"] == pytest.approx(55.0)
    assert result.suppressed.loc["north"].all() and not result.suppressed.loc["south"].any()
    assert result.primary.loc["north", "episodes"] and not result.primary.loc["north", "pct_of_all"]
    assert any("<11" in note for note in result.notes)
    assert result.n_suppressed == 4


def test_total_row_hides_a_second_cell_so_the_seven_cannot_be_subtracted() -> None:
    table = _caseload()[["episodes", "responders"]]
    table.loc["all"] = table.sum()
    result = suppress_counts(table, total_row="all")
    shown = result.table
    assert shown.loc["north", "episodes"] == "<11"
    # 257 - 130 - 120 would give 7: the smallest other site is hidden too.
    assert shown.loc["south", "episodes"] == SECONDARY_MARK
    assert shown.loc["east", "episodes"] == 130
    assert shown.loc["all", "episodes"] == 257
    # responders: north 3 hidden; next smallest shown is east's 50
    assert shown.loc["east", "responders"] == SECONDARY_MARK
    assert shown.loc["south", "responders"] == 66


def test_complement_of_a_shown_total_is_protected() -> None:
    # 95 of 100 responded: the 5 who did not are worked back from the count or the %.
    table = pd.DataFrame({"episodes": [100, 100], "responders": [95, 60], "pct": [95.0, 60.0]})
    shown = suppress_counts(table, percents={"pct": ("responders", "episodes")}).table
    assert shown.loc[0, "responders"] == SECONDARY_MARK
    assert shown.loc[0, "pct"] == SECONDARY_MARK
    assert shown.loc[0, "episodes"] == 100
    assert shown.loc[1, "responders"] == 60 and shown.loc[1, "pct"] == 60.0
    # 100 % is fine: the complement is 0, and zeros may be shown.
    full = pd.DataFrame({"episodes": [40], "responders": [40], "pct": [100.0]})
    assert suppress_counts(full, percents={"pct": ("responders", "episodes")}).n_suppressed == 0


def test_two_cell_row() -> None:
    table = pd.DataFrame(
        {
            "episodes": [50, 50, 15, 20],
            "responders": [4, 0, 5, 5],
            "non_responders": [46, 50, 10, 15],
        }
    )
    shown = suppress_counts(table, totals={"episodes": ["responders", "non_responders"]}).table
    assert list(shown.loc[0]) == [50, "<11", SECONDARY_MARK]
    assert list(shown.loc[1]) == [50, 0, 50]  # zero shown, nothing to protect
    assert list(shown.loc[2]) == [15, "<11", "<11"]  # both small already
    assert list(shown.loc[3]) == [20, "<11", SECONDARY_MARK]


def test_smallest_positive_part_is_the_one_hidden() -> None:
    table = pd.DataFrame({"total": [40], "a": [5], "b": [0], "c": [15], "d": [20]})
    shown = suppress_counts(table, totals={"total": ["a", "b", "c", "d"]}).table
    assert list(shown.loc[0]) == [40, "<11", 0, SECONDARY_MARK, 20]


def test_zero_hidden_on_request_and_threshold() -> None:
    table = pd.DataFrame({"n": [0, 3, 5, 11]})
    assert list(suppress_counts(table).table["n"]) == [0, "<11", "<11", 11]
    assert list(suppress_counts(table, show_zero=False).table["n"]) == ["<11", "<11", "<11", 11]
    assert list(suppress_counts(table, threshold=5).table["n"]) == [0, "<5", 5, 11]


def test_input_not_mutated_and_missing_values_left_alone() -> None:
    table = pd.DataFrame({"n": [3.0, np.nan, 20.0], "label": ["a", "b", "c"]})
    before = table.copy()
    shown = suppress_counts(table, counts=["n"]).table
    pd.testing.assert_frame_equal(table, before)
    assert shown["n"].iloc[0] == "<11" and np.isnan(shown["n"].iloc[1]) and shown["n"].iloc[2] == 20
    assert list(shown["label"]) == ["a", "b", "c"]


def test_invariants_on_random_tables(rng: np.random.Generator) -> None:
    threshold = 11
    for _ in range(25):
        rows = int(rng.integers(2, 8))
        a = rng.integers(0, 30, rows)
        b = rng.integers(0, 30, rows)
        table = pd.DataFrame(
            {"total": a + b, "a": a, "b": b, "pct": 100 * a / np.maximum(a + b, 1)}
        )
        table.loc["all"] = table[["total", "a", "b"]].sum()
        table.loc["all", "pct"] = 100 * table.loc["all", "a"] / max(table.loc["all", "total"], 1)
        table = table.astype({"total": int, "a": int, "b": int})
        result = suppress_counts(
            table,
            percents={"pct": ("a", "total")},
            totals={"total": ["a", "b"]},
            total_row="all",
        )
        hidden = result.suppressed
        values = table[["total", "a", "b"]]
        # every small positive count is hidden
        small = (values > 0) & (values < threshold)
        assert hidden[["total", "a", "b"]][small].fillna(True).all().all()
        # within a row with a shown total, never exactly one hidden part
        shown_total = ~hidden["total"]
        assert not ((hidden[["a", "b"]].sum(axis=1) == 1) & shown_total).any()
        # within a column with a shown total, never exactly one hidden part
        body = hidden.drop(index="all")
        for col in ["total", "a", "b"]:
            if not hidden.loc["all", col]:
                assert body[col].sum() != 1
        # a shown percentage has a shown numerator and denominator and a safe complement
        pct_shown = ~hidden["pct"]
        assert not (pct_shown & (hidden["a"] | hidden["total"])).any()
        complement = values["total"] - values["a"]
        assert not (pct_shown & (complement > 0) & (complement < threshold)).any()


def test_errors() -> None:
    table = pd.DataFrame({"n": [3]})
    with pytest.raises(RequestError, match=r"not in the table; the table has \['n'\]"):
        suppress_counts(table, counts=["episodes"])
    with pytest.raises(RequestError, match="total_row"):
        suppress_counts(table, total_row="all")
    with pytest.raises(RequestError, match="at least 1"):
        suppress_counts(table, threshold=0)


def test_format_count() -> None:
    assert [format_count(v) for v in (0, 1, 10, 11, 250, None, float("nan"))] == [
        "0",
        "<11",
        "<11",
        "11",
        "250",
        "",
        "",
    ]
    assert format_count(3, threshold=3) == "3"


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.suppress as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_html_view_shows_marks_and_notes() -> None:
    result = suppress_counts(pd.DataFrame({"n": [3, 40]}))
    view = result._repr_html_()
    assert "&lt;11" in view and "hidden to protect privacy" in view
    assert list(result.to_frame()["n"]) == ["<11", 40]
