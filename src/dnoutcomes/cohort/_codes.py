"""Integer episode codes shared by every analysis of one dataset (private).

The analyses of one :class:`~dnoutcomes.stats.Analysis` all read the same comparison set
and the same per-episode values. Joining them on the text ``episode_id`` costs a hash of
every id each time (a million-episode network has 19M outcome rows), so the episode ids of
the episodes, outcomes and sessions tables are hashed here once, together, into one code
space (:func:`dnoutcomes._encode.encode_shared`), and everything after works on integers:

* :func:`comparison_positions` — the rows of ``dataset.episodes`` in a comparison;
* :func:`comparison_index` — for each outcome or session row, the row of the comparison
  frame its episode is on (or -1);
* :func:`episode_values` — the wide per-episode table: the value of a measure at a
  timepoint for every episode code, built once per measure and timepoint;
* :func:`join_comparison` — the rows of a table in a comparison with episode columns
  attached, the result of ``table.merge(episodes, on="episode_id")`` without the merge.

Everything is built lazily and kept in the dataset's cache (frames are never mutated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dnoutcomes._encode import encode, encode_shared
from dnoutcomes._frames import category_codes
from dnoutcomes.dataset import EPISODE_CODES, EVENT_SESSIONS, MEASURE_CODES, narrow_codes

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "comparison_index",
    "comparison_positions",
    "comparison_rows",
    "comparison_values",
    "episode_codes",
    "episode_dates",
    "episode_values",
    "event_sessions",
    "join_comparison",
    "measure_categorical",
    "measure_codes",
]

Table = Literal["episodes", "outcomes", "sessions"]
_TABLES: tuple[Table, ...] = ("episodes", "outcomes", "sessions")


def _build_codes(dataset: Dataset) -> tuple[dict[str, NDArray[np.int32]], Any]:
    columns = [getattr(dataset, table)["episode_id"] for table in _TABLES]
    codes, dictionary = encode_shared(columns)
    return dict(zip(_TABLES, codes, strict=True)), dictionary


def episode_codes(dataset: Dataset, table: Table) -> NDArray[np.int32]:
    """The episode code of each row of ``table`` (-1 where its ``episode_id`` is missing).

    Equal ids have equal codes across the three tables; codes run from 0 to
    :func:`n_codes` - 1.
    """
    built: dict[str, NDArray[np.int32]] = dataset._cached(
        EPISODE_CODES, lambda: _build_codes(dataset)
    )[0]
    return built[table]


def n_codes(dataset: Dataset) -> int:
    """The number of distinct episode ids across the episodes, outcomes and sessions."""
    return len(dataset._cached(EPISODE_CODES, lambda: _build_codes(dataset))[1])


def episode_dictionary(dataset: Dataset) -> Any:
    """The episode id of each code (a ``pyarrow`` ``large_string`` array)."""
    return dataset._cached(EPISODE_CODES, lambda: _build_codes(dataset))[1]


def measure_categorical(dataset: Dataset, rows: NDArray[np.intp]) -> pd.Categorical:
    """The ``measure`` of outcome rows ``rows`` as a categorical (from the integer codes:
    no text is copied)."""
    codes, lookup = measure_codes(dataset)
    return pd.Categorical.from_codes(codes[rows], categories=pd.Index(list(lookup), dtype="str"))


def measure_codes(dataset: Dataset) -> tuple[NDArray[np.signedinteger[Any]], dict[str, int]]:
    """The code of each outcome row's ``measure`` (the narrowest integer type that holds
    them, -1: missing), and ``{measure: code}``."""

    def build() -> tuple[NDArray[np.signedinteger[Any]], dict[str, int]]:
        codes, dictionary = encode(dataset.outcomes["measure"])
        return narrow_codes(codes, len(dictionary)), {
            str(name): k for k, name in enumerate(dictionary.to_pylist())
        }

    built: tuple[NDArray[np.signedinteger[Any]], dict[str, int]] = dataset._cached(
        MEASURE_CODES, build
    )
    return built


def timepoint_mask(dataset: Dataset, timepoints: Sequence[str]) -> NDArray[np.bool_]:
    """Whether each outcome row's ``timepoint`` is one of ``timepoints`` (on the
    categorical's codes, no text).

    Each call returns a new array, the caller's to change. Not kept: a mask is one byte per
    outcome row (19 MB at a million episodes), and
    comparing the one-byte codes with the few wanted ones is cheap, where keeping every
    combination asked for held six of them (0.1 GiB) for the whole analysis.
    """
    wanted = set(timepoints)
    column = dataset.outcomes["timepoint"]
    if not isinstance(column.dtype, pd.CategoricalDtype):
        # a copy: the caller's own array, writable (pandas hands out read-only views)
        return np.array(column.isin(sorted(wanted)).fillna(False).to_numpy(), dtype=bool)
    codes = category_codes(column)  # the categorical's own codes: no copy
    found = np.zeros(len(codes), dtype=bool)
    # an equality per wanted code rather than a look-up table indexed by the codes, which
    # would first widen the codes to 8-byte indices (150 MB at a million episodes)
    for k, c in enumerate(column.cat.categories):
        if str(c) in wanted:
            found |= codes == k
    return found


def measure_mask(dataset: Dataset, measure: str) -> NDArray[np.bool_]:
    """Whether each outcome row's ``measure`` is ``measure`` (on integer codes)."""
    codes, lookup = measure_codes(dataset)
    if measure not in lookup:
        return np.zeros(len(codes), dtype=bool)
    return codes == lookup[measure]  # an integer comparison; not kept (19 MB at 1M)


def _build_values(
    dataset: Dataset, measure: str, timepoint: str, column: str = "value"
) -> NDArray[Any]:
    out = dataset.outcomes
    codes = episode_codes(dataset, "outcomes")
    if column == "value":
        value: NDArray[Any] = out["value"].to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(value)
        empty: Any = np.nan
    else:  # a date column
        value = out[column].to_numpy()
        present = ~np.isnat(value)
        empty = np.datetime64("NaT")
    keep = measure_mask(dataset, measure) & timepoint_mask(dataset, (timepoint,))
    keep &= (codes >= 0) & present
    rows = np.flatnonzero(keep)
    # the first row of each episode (np.unique sorts stably when asked for indices)
    held, first = np.unique(codes[rows], return_index=True)
    wide = np.full(n_codes(dataset) + 1, empty, dtype=value.dtype)  # last entry: code -1
    wide[held] = value[rows[first]]
    return wide


def episode_dates(
    dataset: Dataset, measure: str, timepoint: str, column: str = "assessed_on"
) -> NDArray[np.datetime64]:
    """Like :func:`episode_values` for a date column of the outcomes: the first non-missing
    ``column`` of each episode's ``measure`` rows at ``timepoint`` (NaT when none)."""
    wide: NDArray[np.datetime64] = dataset._cached(
        ("episode_dates", measure, timepoint, column),
        lambda: _build_values(dataset, measure, timepoint, column),
    )
    return wide


def episode_values(dataset: Dataset, measure: str, timepoint: str) -> NDArray[np.float64]:
    """The value of ``measure`` at ``timepoint`` for each episode code (one column of the
    per-episode wide table).

    Returns
    -------
    numpy.ndarray
        float64 of length :func:`n_codes` + 1: entry ``c`` is the first non-missing value
        (in the order of ``dataset.outcomes``) of the episode with code ``c``, NaN when it
        has none; the last entry, read for code -1, is NaN. This is what
        ``groupby("episode_id").first()`` gives, without hashing the ids.
    """
    wide: NDArray[np.float64] = dataset._cached(
        ("episode_values", measure, timepoint),
        lambda: _build_values(dataset, measure, timepoint),
    )
    return wide


def comparison_positions(dataset: Dataset, reference: str, comparator: str) -> NDArray[np.intp]:
    """The rows of ``dataset.episodes`` in the comparison of two arms, in order: row ``i``
    of :func:`~dnoutcomes.cohort.comparison_episodes` is episode row ``positions[i]``."""

    def build() -> NDArray[np.intp]:
        arm = dataset.episodes["arm"]
        keep = arm.isin([reference, comparator]).fillna(False).to_numpy(dtype=bool)
        return np.flatnonzero(keep)

    positions: NDArray[np.intp] = dataset._cached(
        ("comparison_positions", reference, comparator), build
    )
    return positions


def comparison_index(
    dataset: Dataset, table: Table, reference: str, comparator: str
) -> NDArray[np.int32]:
    """For each row of ``table``, the row of the comparison frame its episode is on, or -1.

    Notes
    -----
    Episode ids are unique in a loaded dataset; were one listed twice in the comparison,
    its rows would point at the last of them.
    """

    def build() -> NDArray[np.int32]:
        positions = comparison_positions(dataset, reference, comparator)
        lookup = np.full(n_codes(dataset) + 1, -1, dtype=np.int32)
        chosen = episode_codes(dataset, "episodes")[positions]
        lookup[chosen] = np.arange(len(positions), dtype=np.int32)
        lookup[-1] = -1  # a missing episode id is in no comparison
        return lookup[episode_codes(dataset, table)]

    index: NDArray[np.int32] = dataset._cached(
        ("comparison_index", table, reference, comparator), build
    )
    return index


def event_sessions(dataset: Dataset) -> NDArray[np.intp]:
    """For each adverse event, the row of ``dataset.sessions`` of its session, or -1 (its
    ``session_id`` missing or not a session). Session ids are unique in a loaded dataset;
    were one listed twice, the last row would be taken."""

    def build() -> NDArray[np.intp]:
        events = dataset.adverse_events
        if events is None:
            return np.zeros(0, dtype=np.intp)
        sessions = dataset.sessions
        (s_codes, e_codes), values = encode_shared([sessions["session_id"], events["session_id"]])
        lookup = np.full(len(values) + 1, -1, dtype=np.intp)
        lookup[s_codes] = np.arange(len(sessions))
        lookup[-1] = -1
        return lookup[e_codes]

    rows: NDArray[np.intp] = dataset._cached(EVENT_SESSIONS, build)
    return rows


def comparison_values(
    dataset: Dataset, measure: str, timepoint: str, reference: str, comparator: str
) -> NDArray[np.float64]:
    """The value of ``measure`` at ``timepoint`` for each comparison episode (NaN when
    none), read off the per-episode wide table by integer code."""
    positions = comparison_positions(dataset, reference, comparator)
    codes = episode_codes(dataset, "episodes")[positions]
    return episode_values(dataset, measure, timepoint)[codes]


def comparison_rows(
    dataset: Dataset,
    table: Table,
    keep: NDArray[np.bool_] | None,
    reference: str,
    comparator: str,
) -> tuple[NDArray[np.intp], NDArray[np.int32]]:
    """The rows of ``table`` (among ``keep``; ``None``: all) whose episode is in the
    comparison, in table order, and the comparison row of each."""
    index = comparison_index(dataset, table, reference, comparator)
    hit = index >= 0 if keep is None else keep & (index >= 0)
    rows = np.flatnonzero(hit)
    return rows, index[rows]


def join_comparison(
    dataset: Dataset,
    table: Table,
    keep: NDArray[np.bool_] | None,
    columns: Sequence[str],
    episodes: pd.DataFrame,
    episode_columns: Sequence[str],
    reference: str,
    comparator: str,
) -> pd.DataFrame:
    """``table.loc[keep, columns].merge(episodes[["episode_id", *episode_columns]],
    on="episode_id")`` on integer codes.

    Parameters
    ----------
    dataset
        The dataset.
    table
        ``"outcomes"`` or ``"sessions"``.
    keep
        Rows of the table to consider (``None``: all).
    columns
        The table's columns, ``episode_id`` among them.
    episodes
        The comparison frame (:func:`~dnoutcomes.cohort.comparison_episodes` of the same
        arms, unfiltered: row ``i`` must be comparison row ``i``).
    episode_columns
        Its columns to attach (not ``episode_id``).
    reference, comparator
        The arms.

    Returns
    -------
    pandas.DataFrame
        The rows of the table whose episode is in the comparison, in table order, with a
        fresh ``RangeIndex``: ``columns`` then ``episode_columns``.
    """
    rows, at = comparison_rows(dataset, table, keep, reference, comparator)
    frame = getattr(dataset, table)
    left = frame[list(columns)].take(rows).reset_index(drop=True)
    right = episodes[list(episode_columns)].take(at).reset_index(drop=True)
    return pd.concat([left, right], axis=1)
