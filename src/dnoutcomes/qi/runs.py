"""Anhøj's runs rules: a shift shows as an unusually long run or too few crossings.

A *run* is a sequence of consecutive points on the same side of the centre line; a
*crossing* is where two neighbouring points lie on opposite sides. In a series that shows
only random variation, runs are short and crossings frequent. The rules of Anhøj and Olesen
(2014), as R's qicharts2 applies them:

* unusually long run: the longest run is longer than ``round(log2(n)) + 3``;
* too few crossings: the number of crossings is below ``qbinom(0.05, n - 1, 0.5)``, the
  5th percentile of the number of crossings of a random series;

where ``n`` is the number of *useful* points: points exactly on the centre line and missing
values neither break a run nor count towards one, and are left out of ``n``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from dnoutcomes.errors import RequestError

__all__ = ["RunsResult", "anhoj_rules", "crossings_limit", "longest_run_limit"]


@dataclass(frozen=True)
class RunsResult:
    """The outcome of Anhøj's runs rules on one series.

    Attributes
    ----------
    n_obs
        Points given (missing values included).
    n_useful
        Points that are neither missing nor exactly on the centre line: the ``n`` of the
        rules.
    longest_run
        Length of the longest run of useful points on one side of the centre; ``None`` when
        no point is useful.
    longest_run_limit
        ``round(log2(n_useful)) + 3``; ``None`` when no point is useful.
    crossings
        Number of times neighbouring useful points lie on opposite sides of the centre;
        ``None`` when no point is useful.
    crossings_limit
        ``qbinom(0.05, n_useful - 1, 0.5)``; ``None`` when no point is useful.
    long_run
        True when ``longest_run > longest_run_limit``.
    few_crossings
        True when ``crossings < crossings_limit``.
    runs_signal
        ``long_run or few_crossings``: the series likely holds a shift (non-random
        variation).
    """

    n_obs: int
    n_useful: int
    longest_run: int | None
    longest_run_limit: int | None
    crossings: int | None
    crossings_limit: int | None
    long_run: bool
    few_crossings: bool
    runs_signal: bool

    def to_dict(self) -> dict[str, Any]:
        """The rules' figures as a JSON-ready dict (``None`` where undefined)."""
        return {
            "n_obs": self.n_obs,
            "n_useful": self.n_useful,
            "longest_run": self.longest_run,
            "longest_run_limit": self.longest_run_limit,
            "crossings": self.crossings,
            "crossings_limit": self.crossings_limit,
            "long_run": self.long_run,
            "few_crossings": self.few_crossings,
            "runs_signal": self.runs_signal,
        }


def longest_run_limit(n_useful: int) -> int:
    """Return the longest run expected by chance, ``round(log2(n)) + 3`` (Schilling 2012).

    Parameters
    ----------
    n_useful
        Number of useful points (at least 1).

    Returns
    -------
    int
        The limit; a longer run signals a shift.

    Raises
    ------
    RequestError
        When ``n_useful`` is below 1.

    Notes
    -----
    ``log2(n)`` is never exactly halfway between two integers for a whole ``n``, so the
    rounding rule (R rounds half to even) cannot matter.

    Examples
    --------
    Two years of monthly points, none on the centre line: a run of more than 8 points on
    one side signals a shift.

    >>> longest_run_limit(24)
    8
    """
    if n_useful < 1:
        raise RequestError(
            f"runs rules: the number of useful points must be at least 1; got {n_useful}. "
            "Give a series with at least one point off the centre line."
        )
    return int(math.floor(math.log2(n_useful) + 0.5)) + 3


def crossings_limit(n_useful: int) -> int:
    """Return the fewest crossings expected by chance, ``qbinom(0.05, n - 1, 0.5)`` (Chen 2010).

    Parameters
    ----------
    n_useful
        Number of useful points (at least 1).

    Returns
    -------
    int
        The smallest ``k`` with ``P(X <= k) >= 0.05`` for ``X ~ Binomial(n - 1, 0.5)``;
        fewer crossings signal a shift.

    Raises
    ------
    RequestError
        When ``n_useful`` is below 1.

    Notes
    -----
    The binomial CDF at ``p = 0.5`` is a multiple of ``2**-(n-1)`` and never equals 0.05
    exactly, so the quantile has no ties to break.

    Examples
    --------
    Two years of monthly points, none on the centre line: fewer than 8 crossings of the
    centre line signal a shift.

    >>> crossings_limit(24)
    8
    """
    if n_useful < 1:
        raise RequestError(
            f"runs rules: the number of useful points must be at least 1; got {n_useful}. "
            "Give a series with at least one point off the centre line."
        )
    return int(stats.binom.ppf(0.05, n_useful - 1, 0.5))


def anhoj_rules(values: ArrayLike, centre: ArrayLike) -> RunsResult:
    """Apply Anhøj's runs rules (longest run, number of crossings) to a series.

    Parameters
    ----------
    values
        The series in time order (missing values allowed: NaN or ``None``).
    centre
        The centre line: one number, or one per point (a chart whose centre changes).

    Returns
    -------
    RunsResult
        ``n_obs``, ``n_useful``, ``longest_run``, ``longest_run_limit``, ``crossings``,
        ``crossings_limit`` and the signals ``long_run``, ``few_crossings``,
        ``runs_signal``.

    Raises
    ------
    RequestError
        When ``centre`` has neither one value nor one value per point, or a value is not a
        number.

    Notes
    -----
    Each useful point gets the sign of ``value - centre``. Points with a missing value or
    exactly on the centre line are dropped before runs are counted, as in qicharts2's
    ``runs.analysis``: they neither break a run nor count towards one, and ``n`` is the
    number of points left (``n_useful``). Then, with the signs of the ``n`` useful points,

    * ``longest_run`` = the longest stretch of equal signs,
      ``longest_run_limit = round(log2(n)) + 3``;
    * ``crossings`` = the number of sign changes,
      ``crossings_limit = qbinom(0.05, n - 1, 0.5)``;

    and ``runs_signal = longest_run > longest_run_limit or crossings < crossings_limit``.
    With no useful point every figure is ``None`` and no signal is raised.

    References
    ----------
    Anhøj J, Olesen AV. Run charts revisited: a simulation study of run chart rules for
    detection of non-random variation in health care processes. PLoS One 2014;9:e113825.

    Examples
    --------
    >>> r = anhoj_rules([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5.5)
    >>> r.longest_run, r.longest_run_limit, r.crossings, r.crossings_limit, r.runs_signal
    (5, 6, 1, 2, True)
    """
    y = _as_float(values, "values")
    c = _as_float(centre, "centre")
    if c.ndim == 0 or c.size == 1:
        c = np.full(y.shape, float(c.reshape(-1)[0]) if c.size else np.nan)
    if c.shape != y.shape:
        raise RequestError(
            f"runs rules: centre must be one number or one per point; got {c.size} centre "
            f"values for {y.size} points. Pass a single centre or an array as long as values."
        )
    signs = np.sign(y - c)
    signs = signs[np.isfinite(signs) & (signs != 0)]
    n_useful = int(signs.size)
    if n_useful == 0:
        return RunsResult(
            n_obs=int(y.size),
            n_useful=0,
            longest_run=None,
            longest_run_limit=None,
            crossings=None,
            crossings_limit=None,
            long_run=False,
            few_crossings=False,
            runs_signal=False,
        )
    changes = np.flatnonzero(signs[1:] != signs[:-1]) + 1
    bounds = np.concatenate(([0], changes, [n_useful]))
    longest = int(np.diff(bounds).max())
    crossings = int(changes.size)
    run_limit = longest_run_limit(n_useful)
    cross_limit = crossings_limit(n_useful)
    long_run = longest > run_limit
    few = crossings < cross_limit
    return RunsResult(
        n_obs=int(y.size),
        n_useful=n_useful,
        longest_run=longest,
        longest_run_limit=run_limit,
        crossings=crossings,
        crossings_limit=cross_limit,
        long_run=long_run,
        few_crossings=few,
        runs_signal=long_run or few,
    )


def _as_float(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-d float array of ``values``; ``None`` and pandas' NA become NaN.

    Raises :class:`~dnoutcomes.errors.RequestError` naming the first value that is not a
    number.
    """
    raw = pd.Series(np.ravel(np.asarray(values, dtype=object)), dtype=object)
    numbers = pd.to_numeric(raw, errors="coerce").astype("Float64")
    bad = (raw.notna() & numbers.isna()).to_numpy(dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise RequestError(
            f"control chart: {name} must be numbers; got {raw.iloc[first]!r} at position "
            f"{first + 1}. Convert the column to numbers (pd.to_numeric) first."
        )
    return numbers.to_numpy(dtype=float, na_value=np.nan)
