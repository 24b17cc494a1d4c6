"""Reporting periods: parsing, previous period, trailing window, default quarter."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.report.period import (
    default_period,
    parse_period,
    period_from_dates,
)


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2025-Q3", dt.date(2025, 7, 1), dt.date(2025, 9, 30), "2025-Q3"),
        ("2025q1", dt.date(2025, 1, 1), dt.date(2025, 3, 31), "2025-Q1"),
        ("2024-Q4", dt.date(2024, 10, 1), dt.date(2024, 12, 31), "2024-Q4"),
        ("2025-07", dt.date(2025, 7, 1), dt.date(2025, 7, 31), "2025-07"),
        ("2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29), "2024-02"),
        ("2025-12", dt.date(2025, 12, 1), dt.date(2025, 12, 31), "2025-12"),
    ],
)
def test_parse_period(text: str, start: dt.date, end: dt.date, label: str) -> None:
    period = parse_period(text)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize("text", ["2025-Q5", "2025-13", "Q3 2025", "2025", "", "2025-07-01"])
def test_parse_period_refuses_other_text(text: str) -> None:
    with pytest.raises(RequestError, match="expected a quarter such as 2025-Q3"):
        parse_period(text)


def test_previous_period_of_each_kind() -> None:
    assert parse_period("2025-Q1").previous().label == "2024-Q4"
    assert parse_period("2025-Q3").previous().label == "2025-Q2"
    assert parse_period("2025-01").previous().label == "2024-12"
    assert parse_period("2025-03").previous().end == dt.date(2025, 2, 28)
    span = period_from_dates("2025-07-01", "2025-07-10")
    before = span.previous()
    assert (before.start, before.end, before.days) == (
        dt.date(2025, 6, 21),
        dt.date(2025, 6, 30),
        10,
    )


def test_period_from_dates_checks_order_and_format() -> None:
    with pytest.raises(RequestError, match="must not be after"):
        period_from_dates("2025-08-01", "2025-07-01")
    with pytest.raises(RequestError, match="--from: expected an ISO date"):
        period_from_dates("01/07/2025", "2025-07-31")


def test_contains_includes_both_ends_and_excludes_missing() -> None:
    period = parse_period("2025-07")
    dates = pd.Series(
        pd.to_datetime(["2025-06-30", "2025-07-01", "2025-07-31", "2025-08-01", None])
    )
    assert period.contains(dates).tolist() == [False, True, True, False, False]


def test_trailing_months_are_24_ending_with_the_period() -> None:
    months = parse_period("2025-Q3").trailing_months()
    assert len(months) == 24
    assert months[0] == "2023-10"
    assert months[-1] == "2025-09"
    assert parse_period("2025-Q3").trailing_start() == dt.date(2023, 10, 1)


def test_default_period_is_last_complete_quarter() -> None:
    # Latest discharge inside Q4 2025 (not at its end): Q4 is incomplete, so Q3.
    dates = pd.Series(pd.to_datetime(["2025-02-01", "2025-08-15", "2025-11-03", None]))
    assert default_period(dates).label == "2025-Q3"
    # A discharge on the last day of a quarter makes that quarter complete.
    dates = pd.Series(pd.to_datetime(["2025-08-15", "2025-09-30"]))
    assert default_period(dates).label == "2025-Q3"
    # The previous complete quarter must hold discharges: Q3 empty → Q2.
    dates = pd.Series(pd.to_datetime(["2025-05-02", "2025-11-03"]))
    assert default_period(dates).label == "2025-Q2"
    # Only one, incomplete quarter in the data: that quarter.
    dates = pd.Series(pd.to_datetime(["2025-10-02", "2025-11-03"]))
    assert default_period(dates).label == "2025-Q4"


def test_default_period_without_discharges() -> None:
    with pytest.raises(InsufficientDataError, match="no episode has a discharge"):
        default_period(pd.Series(pd.to_datetime([None, None])))


@given(
    year=st.integers(min_value=1990, max_value=2100),
    quarter=st.integers(min_value=1, max_value=4),
    month=st.integers(min_value=1, max_value=12),
    start=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1)),
    days=st.integers(min_value=0, max_value=800),
)
def test_previous_period_is_adjacent_and_alike(
    year: int, quarter: int, month: int, start: dt.date, days: int
) -> None:
    for period in (
        parse_period(f"{year}-Q{quarter}"),
        parse_period(f"{year}-{month:02d}"),
        period_from_dates(start, start + dt.timedelta(days=days)),
    ):
        before = period.previous()
        assert before.end + dt.timedelta(days=1) == period.start
        assert before.kind == period.kind
        if period.kind == "range":
            assert before.days == period.days
        months = period.trailing_months()
        assert len(set(months)) == 24 and months == tuple(sorted(months))
        assert months[-1] == f"{period.end:%Y-%m}"


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.report.period as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
