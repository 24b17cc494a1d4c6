"""Reporting periods: a quarter (``2025-Q3``), a month (``2025-07``) or a date range.

A report covers the episodes *discharged* in its period, compares them with the previous
period of the same kind, and draws its trend charts over the trailing 24 calendar months up
to the period's end.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from dnoutcomes.errors import InsufficientDataError, RequestError

__all__ = [
    "Period",
    "PeriodKind",
    "default_period",
    "month_period",
    "parse_period",
    "period_from_dates",
    "quarter_period",
    "range_period",
]

PeriodKind = Literal["quarter", "month", "range"]

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


@dataclass(frozen=True)
class Period:
    """A closed interval of calendar days that a report covers.

    Parameters
    ----------
    start, end
        The first and the last day of the period (both included).
    kind
        ``"quarter"``, ``"month"`` or ``"range"`` (a ``--from``/``--to`` pair); it decides
        what :meth:`previous` returns.
    label
        How the period is written for people: ``2025-Q3``, ``2025-07`` or
        ``2025-07-01 to 2025-09-30``.
    """

    start: dt.date
    end: dt.date
    kind: PeriodKind
    label: str

    @property
    def days(self) -> int:
        """Number of calendar days in the period (both ends included)."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same kind just before this one.

        Returns
        -------
        Period
            The previous quarter for a quarter, the previous month for a month, and for a
            date range the range of the same number of days that ends the day before this
            one starts.
        """
        if self.kind == "quarter":
            year, quarter = self.start.year, (self.start.month - 1) // 3 + 1
            if quarter == 1:
                return quarter_period(year - 1, 4)
            return quarter_period(year, quarter - 1)
        if self.kind == "month":
            year, month = self.start.year, self.start.month
            if month == 1:
                return month_period(year - 1, 12)
            return month_period(year, month - 1)
        end = self.start - dt.timedelta(days=1)
        start = end - dt.timedelta(days=self.days - 1)
        return range_period(start, end)

    def contains(self, dates: pd.Series) -> pd.Series:
        """Mark which dates fall inside the period.

        Parameters
        ----------
        dates
            A datetime64 series; missing dates (``NaT``) are outside every period.

        Returns
        -------
        pandas.Series
            Boolean, aligned with ``dates``.
        """
        stamps = pd.to_datetime(dates)
        after_start = stamps >= pd.Timestamp(self.start)
        before_end = stamps < pd.Timestamp(self.end) + pd.Timedelta(days=1)
        return (after_start & before_end).fillna(False).astype(bool)

    def trailing_months(self, count: int = 24) -> tuple[str, ...]:
        """The ``count`` calendar months up to and including the month of :attr:`end`.

        Returns
        -------
        tuple of str
            Months as ``YYYY-MM``, oldest first.
        """
        last = pd.Period(self.end, freq="M")
        months = pd.period_range(end=last, periods=count, freq="M")
        return tuple(str(m) for m in months)

    def trailing_start(self, count: int = 24) -> dt.date:
        """First day of the trailing window of ``count`` months (see :meth:`trailing_months`)."""
        first = pd.Period(self.end, freq="M") - (count - 1)
        return dt.date(first.year, first.month, 1)


def quarter_period(year: int, quarter: int) -> Period:
    """The calendar quarter ``quarter`` (1–4) of ``year``.

    Parameters
    ----------
    year, quarter
        The year and the quarter.

    Returns
    -------
    Period
        Kind ``"quarter"``, labelled ``YYYY-Qn``.

    Examples
    --------
    >>> period = quarter_period(2025, 3)
    >>> period.label, period.start, period.end
    ('2025-Q3', datetime.date(2025, 7, 1), datetime.date(2025, 9, 30))
    >>> period.previous().label
    '2025-Q2'
    """
    first_month = 3 * (quarter - 1) + 1
    start = dt.date(year, first_month, 1)
    end = _month_end(year, first_month + 2)
    return Period(start=start, end=end, kind="quarter", label=f"{year}-Q{quarter}")


def month_period(year: int, month: int) -> Period:
    """The calendar month ``month`` (1–12) of ``year``.

    Parameters
    ----------
    year, month
        The year and the month.

    Returns
    -------
    Period
        Kind ``"month"``, labelled ``YYYY-MM``.

    Examples
    --------
    >>> period = month_period(2024, 2)
    >>> period.label, period.end, period.days
    ('2024-02', datetime.date(2024, 2, 29), 29)
    >>> month_period(2025, 1).previous().label
    '2024-12'
    """
    return Period(
        start=dt.date(year, month, 1),
        end=_month_end(year, month),
        kind="month",
        label=f"{year}-{month:02d}",
    )


def range_period(start: dt.date, end: dt.date) -> Period:
    """The days from ``start`` to ``end``, both included.

    Parameters
    ----------
    start, end
        First and last day.

    Returns
    -------
    Period
        Kind ``"range"``, labelled ``YYYY-MM-DD to YYYY-MM-DD``.

    Examples
    --------
    >>> import datetime as dt
    >>> period = range_period(dt.date(2025, 7, 1), dt.date(2025, 7, 14))
    >>> period.label, period.days
    ('2025-07-01 to 2025-07-14', 14)
    >>> period.previous().label  # the same number of days just before
    '2025-06-17 to 2025-06-30'
    """
    return Period(start=start, end=end, kind="range", label=f"{start:%Y-%m-%d} to {end:%Y-%m-%d}")


def _month_end(year: int, month: int) -> dt.date:
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


def parse_period(text: str) -> Period:
    """Parse a quarter (``2025-Q3``) or a month (``2025-07``).

    Parameters
    ----------
    text
        ``YYYY-Qn`` (``n`` 1–4; ``2025Q3`` and a lower-case ``q`` are accepted too) or
        ``YYYY-MM``.

    Returns
    -------
    Period
        A period of kind ``"quarter"`` or ``"month"``.

    Raises
    ------
    RequestError
        When the text is neither form, the month is not 1–12, or the year is outside
        1700–2200.

    Examples
    --------
    >>> parse_period("2025-Q3").end
    datetime.date(2025, 9, 30)
    >>> parse_period("2025-07").label
    '2025-07'
    """
    quarter = _QUARTER.match(text)
    if quarter:
        _check_year(int(quarter.group(1)), "--period", text)
        return quarter_period(int(quarter.group(1)), int(quarter.group(2)))
    month = _MONTH.match(text)
    if month and 1 <= int(month.group(2)) <= 12:
        _check_year(int(month.group(1)), "--period", text)
        return month_period(int(month.group(1)), int(month.group(2)))
    raise RequestError(
        f"--period: expected a quarter such as 2025-Q3 or a month such as 2025-07; "
        f"got {text!r}. Use --from YYYY-MM-DD --to YYYY-MM-DD for any other span."
    )


#: Years a report period may lie in: the period, the one before it and the trailing
#: 24 months must all be dates pandas can hold (1677-09-22 to 2262-04-11).
FIRST_YEAR, LAST_YEAR = 1700, 2200


def _check_year(year: int, option: str, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise RequestError(
            f"{option}: expected a period between the years {FIRST_YEAR} and {LAST_YEAR}; "
            f"got {text.strip()!r}. Choose the period of the data, e.g. 2025-Q3."
        )


def _parse_date(text: str, option: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise RequestError(
            f"{option}: expected an ISO date YYYY-MM-DD; got {text!r}. "
            "Write the date as, for example, 2025-07-01."
        ) from None
    _check_year(day.year, option, text)
    return day


def period_from_dates(start: str | dt.date, end: str | dt.date) -> Period:
    """Build a date-range period from a ``--from`` and a ``--to`` date.

    Parameters
    ----------
    start, end
        ISO dates (``YYYY-MM-DD``) or :class:`datetime.date`; both days are included.

    Returns
    -------
    Period
        A period of kind ``"range"``.

    Raises
    ------
    RequestError
        When a date cannot be parsed, lies outside the years 1700–2200, or ``start`` is
        after ``end``.

    Examples
    --------
    >>> period = period_from_dates("2025-07-01", "2025-09-30")
    >>> period.kind, period.label, period.days
    ('range', '2025-07-01 to 2025-09-30', 92)
    """
    first = _parse_date(start, "--from") if isinstance(start, str) else start
    last = _parse_date(end, "--to") if isinstance(end, str) else end
    if first > last:
        raise RequestError(
            f"--from/--to: the start must not be after the end; got --from {first:%Y-%m-%d} "
            f"--to {last:%Y-%m-%d}. Swap the two dates."
        )
    return range_period(first, last)


def default_period(discharge_dates: pd.Series) -> Period:
    """The last complete calendar quarter with discharges in the data.

    Parameters
    ----------
    discharge_dates
        The discharge (episode end) dates of the dataset; ``NaT`` (still open) is ignored.

    Returns
    -------
    Period
        The latest quarter that ends on or before the latest discharge date and holds at
        least one discharge. When no quarter is complete yet (the data cover part of one
        quarter only), the quarter of the latest discharge is returned.

    Raises
    ------
    InsufficientDataError
        When no episode has a discharge date.

    Notes
    -----
    "Complete" is judged against the data, not the clock: a quarter is complete when the
    export holds discharges up to its last day or later, so re-running an old export gives
    the same default period.

    Examples
    --------
    The latest discharge falls in the middle of 2025-Q3, so the last complete quarter is
    reported:

    >>> import pandas as pd
    >>> discharges = pd.Series(pd.to_datetime(["2025-04-03", "2025-06-20", "2025-08-14"]))
    >>> default_period(discharges).label
    '2025-Q2'
    """
    dates = pd.to_datetime(discharge_dates).dropna()
    if dates.empty:
        raise InsufficientDataError(
            "report: no episode has a discharge (end) date, so there is no period to report; "
            "expected at least one discharged episode. Check the end_date column of episodes."
        )
    latest = dates.max().date()
    quarters = dates.dt.to_period("Q")
    latest_quarter = pd.Period(latest, freq="Q")
    quarter_end = _month_end(latest_quarter.year, latest_quarter.quarter * 3)
    if latest < quarter_end:
        candidates = quarters[quarters < latest_quarter]
    else:
        candidates = quarters
    chosen = candidates.max() if not candidates.empty else latest_quarter
    return quarter_period(int(chosen.year), int(chosen.quarter))
