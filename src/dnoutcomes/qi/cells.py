"""The one definition of a *small* count, and how a count leaves the package.

A count from 1 to ``min_cell - 1`` is small: it is never shown, it is written
``f"<{min_cell}"`` (zero is shown). Every module that decides whether a count, a chart point
or an analysis number may be shown asks :func:`is_small`; every one that writes the mark uses
:func:`small_mark`, so the rule and its spelling live here only.

:func:`scrub_counts` applies the rule to the JSON blocks of analyses without knowing their
key names: every whole number in such a block is taken to be a count unless its key is
declared a non-count (:data:`NOT_COUNTS`). A new count added to a result's ``to_dict``
is therefore hidden when small without anyone remembering to list it; a new non-count that
happens to be small is written ``<11`` until it is declared: a lost number, never a
disclosed patient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, overload

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["NOT_COUNTS", "is_small", "scrub_counts", "show_count", "small_mark"]

#: Keys of analysis blocks whose whole numbers are not counts of patients, episodes,
#: sessions or events: run-test statistics of the control charts, degrees of freedom,
#: calendar years, positions and versions.
NOT_COUNTS: frozenset[str] = frozenset(
    {
        "crossings",
        "crossings_limit",
        "longest_run",
        "longest_run_limit",
        "df",
        "df_resid",
        "year",
        "index",
        "schema_version",
        "min_cell",
        "seed",
        "iterations",
    }
)


def small_mark(min_cell: int) -> str:
    """The text shown for a small count: ``"<11"`` at the default threshold.

    Examples
    --------
    >>> small_mark(11)
    '<11'
    """
    return f"<{min_cell}"


@overload
def is_small(n: float | np.integer[Any] | np.floating[Any], min_cell: int) -> bool: ...
@overload
def is_small(n: NDArray[Any], min_cell: int) -> NDArray[np.bool_]: ...
@overload
def is_small(n: pd.Series, min_cell: int) -> pd.Series: ...
@overload
def is_small(n: pd.DataFrame, min_cell: int) -> pd.DataFrame: ...
def is_small(n: Any, min_cell: int) -> Any:
    """True where ``n`` is a count from 1 to ``min_cell - 1``.

    Parameters
    ----------
    n
        A number, or a NumPy array / pandas object of numbers (element-wise; NaN is not
        small).
    min_cell
        The threshold.

    Returns
    -------
    bool or array of bool
        Same shape as ``n``.

    Examples
    --------
    >>> is_small(0, 11), is_small(1, 11), is_small(10, 11), is_small(11, 11)
    (False, True, True, False)
    >>> is_small(np.array([0, 3, 12]), 11).tolist()
    [False, True, False]
    """
    return (n > 0) & (n < min_cell)


def show_count(n: int, min_cell: int) -> int | str:
    """A count as it may be published: itself, or :func:`small_mark` when small.

    Examples
    --------
    >>> show_count(7, 11), show_count(0, 11), show_count(40, 11)
    ('<11', 0, 40)
    """
    return small_mark(min_cell) if is_small(n, min_cell) else n


def _is_whole(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def scrub_counts(value: Any, min_cell: int, not_counts: frozenset[str] = NOT_COUNTS) -> Any:
    """Write every small count of a JSON-ready block as :func:`small_mark`.

    Parameters
    ----------
    value
        A JSON-ready block (dicts, lists, numbers, text) of an analysis.
    min_cell
        The threshold.
    not_counts
        Keys whose whole numbers are not counts (kept as they are).

    Returns
    -------
    Any
        A copy in which each whole number (``int``, not ``bool``) from 1 to
        ``min_cell - 1`` is the small mark, wherever it sits and whatever its key, unless
        its key is in ``not_counts``. Decimals are statistics and are kept; a block with
        shares of a subgroup should not be published through this alone (a share beside a
        hidden count could reveal it).

    Examples
    --------
    >>> scrub_counts({"n": 7, "n_new_subgroup": 4, "estimate": 3.0, "crossings": 2}, 11)
    {'n': '<11', 'n_new_subgroup': '<11', 'estimate': 3.0, 'crossings': 2}
    >>> scrub_counts([{"events": [12, 5, 0]}], 11)
    [{'events': [12, '<11', 0]}]
    """
    return _scrub(value, min_cell, not_counts, counted=True)


def _scrub(value: Any, min_cell: int, not_counts: frozenset[str], *, counted: bool) -> Any:
    if isinstance(value, Mapping):
        return {
            k: _scrub(v, min_cell, not_counts, counted=counted and str(k) not in not_counts)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, min_cell, not_counts, counted=counted) for v in value]
    if counted and _is_whole(value) and is_small(value, min_cell):
        return small_mark(min_cell)
    return value
