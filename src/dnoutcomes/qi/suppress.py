"""Small-cell suppression of the analysis plan ("Small numbers").

Every table meant to leave the analysts' hands shows a count below the threshold (default
11) as ``<11`` — a zero may be shown — and hides any figure from which such a count could
be worked back:

* a percentage whose numerator or denominator is hidden;
* a percentage or a count whose complement is small: with 100 episodes shown, "95
  responders" or "95 %" reveals the 5 who did not respond;
* the other cells of a row or column that add up to a shown total: when one part is
  hidden, the next smallest part is hidden too, so the hidden one cannot be had by
  subtraction ("the complement in a two-cell row").

Hidden counts show as ``<11``; figures hidden only to protect another cell show as
``[c]`` (the Office for National Statistics' mark for "confidential").
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.cells import is_small, small_mark

__all__ = [
    "DEFAULT_THRESHOLD",
    "SECONDARY_MARK",
    "SuppressedTable",
    "format_count",
    "suppress_counts",
]

#: The plan's default suppression threshold: counts of 1 to 10 are hidden.
DEFAULT_THRESHOLD = 11

#: Shown in place of a figure hidden so that a small count cannot be worked back.
SECONDARY_MARK = "[c]"

_MAX_ROUNDS = 50


def format_count(value: float | int | None, *, threshold: int = DEFAULT_THRESHOLD) -> str:
    """Format one count for a label that leaves the package: ``"<11"`` when small.

    Parameters
    ----------
    value
        The count (``None`` or NaN for missing).
    threshold
        Counts from 1 to ``threshold - 1`` are shown as ``f"<{threshold}"``.

    Returns
    -------
    str
        ``"<11"``, the count as a whole number, or ``""`` when missing. Zero is shown.

    Examples
    --------
    >>> format_count(7), format_count(0), format_count(12)
    ('<11', '0', '12')
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    if is_small(value, threshold):
        return small_mark(threshold)
    return f"{int(round(float(value)))}"


@dataclass(frozen=True)
class SuppressedTable:
    """A table made safe to circulate, with a record of what was hidden.

    Attributes
    ----------
    table
        The table to show: the input's columns and index; in the checked columns a shown
        value keeps its number (counts as int), a small count is the text ``"<11"`` and a
        figure hidden to protect another is ``"[c]"``. Other columns are unchanged.
    suppressed
        Boolean frame, same index and columns as ``table``: True where a value is hidden.
    primary
        Boolean frame, True where a count itself was below the threshold.
    threshold
        The threshold used.
    notes
        Sentences for a footnote.
    """

    table: pd.DataFrame
    suppressed: pd.DataFrame
    primary: pd.DataFrame
    threshold: int
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table to show."""
        return self.table.copy()

    def _repr_html_(self) -> str:
        table = self.table.to_html(border=0, classes="dnoutcomes", na_rep="")
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        return f"<div>{table}<ul>{notes}</ul></div>" if notes else f"<div>{table}</div>"

    @property
    def n_suppressed(self) -> int:
        """Number of hidden cells."""
        return int(self.suppressed.to_numpy().sum())


def suppress_counts(
    frame: pd.DataFrame,
    *,
    counts: Sequence[Hashable] | None = None,
    percents: Mapping[Hashable, tuple[Hashable, Hashable | float]] | None = None,
    totals: Mapping[Hashable, Sequence[Hashable]] | None = None,
    total_row: Hashable | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    show_zero: bool = True,
) -> SuppressedTable:
    """Hide small counts and every figure from which one could be worked back.

    Parameters
    ----------
    frame
        The table, one row per group (site, therapist, condition, month…).
    counts
        Columns holding counts of people or episodes. Default: every integer column, plus
        the numerators and denominators named in ``percents``.
    percents
        ``{column: (numerator, denominator)}``: a column holding a percentage or share of
        ``numerator / denominator``, where each is a count column, or the denominator is a
        number (a total shown elsewhere, such as all episodes of the report).
    totals
        ``{total: [part, part, …]}``: within a row, count columns that add up to another
        (``{"episodes": ["responders", "non_responders"]}``).
    total_row
        Index label of a row that holds the column totals of the other rows, if any.
    threshold
        Counts from 1 to ``threshold - 1`` are hidden. Default 11, as the plan says.
    show_zero
        Show a zero count (default True: the plan allows it); False hides zeros too.

    Returns
    -------
    SuppressedTable
        ``table`` (to show), ``suppressed`` and ``primary`` (boolean masks), ``threshold``,
        ``notes``.

    Raises
    ------
    RequestError
        For a column named that is not in the frame (the message lists those that are), a
        ``total_row`` not in the index, or a threshold below 1.

    Notes
    -----
    1. *Primary*: a count ``c`` with ``0 < c < threshold`` (``0 <= c`` when
       ``show_zero`` is False) is hidden and shown as ``<threshold``.
    2. *Secondary*, repeated until nothing changes:

       * for a total shown with parts, when exactly one part is hidden, the smallest
         shown part above zero is hidden too (when there is none, the total is hidden);
         for rows (``totals``) and, with ``total_row``, for columns;
       * for a percentage with a shown denominator ``d`` and numerator ``x``, when the
         complement ``d - x`` is small (``0 < d - x < threshold``), ``x`` is hidden.

    3. A percentage is hidden when its numerator or denominator is hidden, or its
       complement is small.

    Missing values (NaN) are neither hidden nor used to work anything back.

    Examples
    --------
    >>> t = pd.DataFrame({"episodes": [7, 120], "responders": [3, 60],
    ...                   "pct": [42.9, 50.0]}, index=["north", "south"])
    >>> suppress_counts(t, percents={"pct": ("responders", "episodes")}).table
          episodes responders   pct
    north      <11        <11   [c]
    south      120         60  50.0
    """
    if threshold < 1:
        raise RequestError(
            f"suppression: threshold must be at least 1; got {threshold!r}. The plan uses 11."
        )
    percents = dict(percents or {})
    totals = {k: list(v) for k, v in (totals or {}).items()}
    count_cols = _count_columns(frame, counts, percents, totals)
    if total_row is not None and total_row not in frame.index:
        raise RequestError(
            f"suppression: total_row {total_row!r} is not a row of the table; expected one "
            f"of {list(frame.index)[:10]!r}. Pass the index label of the totals row."
        )
    values = frame[count_cols].apply(pd.to_numeric, errors="coerce").astype(float)
    low = 0.0 if show_zero else -0.5
    primary = is_small(values, threshold) if show_zero else (values > low) & (values < threshold)
    hidden = primary.copy()
    for _ in range(_MAX_ROUNDS):
        before = hidden.to_numpy().copy()
        for total, parts in totals.items():
            _protect_row_total(values, hidden, total, parts)
        for num, den in percents.values():
            _protect_complement(values, hidden, num, den, threshold)
        if total_row is not None:
            _protect_total_row(values, hidden, total_row)
        if np.array_equal(before, hidden.to_numpy()):
            break

    table = frame.copy()
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    prim = mask.copy()
    for col in count_cols:
        column = values[col]
        whole = np.isfinite(column) & (column == np.round(column))
        display = column.astype(object)
        display[whole] = column[whole].astype(np.int64).astype(object)
        display[hidden[col]] = SECONDARY_MARK
        display[primary[col]] = small_mark(threshold)
        table[col] = display
        mask[col] = hidden[col]
        prim[col] = primary[col]
    for col, (num, den) in percents.items():
        gone = hidden[num].copy()
        if _is_total_number(den, values):
            complement = float(den) - values[num]  # type: ignore[arg-type]
        else:
            gone |= hidden[den]
            complement = values[den] - values[num]
        gone |= is_small(complement, threshold)
        display = frame[col].astype(object)
        display[gone] = SECONDARY_MARK
        table[col] = display
        mask[col] = gone
    notes: list[str] = []
    if prim.to_numpy().any():
        notes.append(
            f"{small_mark(threshold)}: a count from 1 to {threshold - 1}, "
            "hidden to protect privacy."
        )
    if (mask & ~prim).to_numpy().any():
        notes.append(
            f"{SECONDARY_MARK}: hidden so that a count below {threshold} cannot be worked back."
        )
    return SuppressedTable(
        table=table, suppressed=mask, primary=prim, threshold=threshold, notes=tuple(notes)
    )


def _is_total_number(den: Hashable | float, frame: pd.DataFrame) -> bool:
    """True when a percentage's denominator is a number (a total shown elsewhere), not a
    column of the table; a column of that name wins."""
    if den in frame.columns:
        return False
    return isinstance(den, numbers.Real) and not isinstance(den, bool | np.bool_)


def _count_columns(
    frame: pd.DataFrame,
    counts: Sequence[Hashable] | None,
    percents: Mapping[Hashable, tuple[Hashable, Hashable | float]],
    totals: Mapping[Hashable, Sequence[Hashable]],
) -> list[Hashable]:
    """The count columns to check, validated against the frame."""
    chosen: list[Hashable]
    if counts is None:
        chosen = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])]
    else:
        chosen = list(counts)
    named: list[Hashable] = []
    for num, den in percents.values():
        named.append(num)
        if not _is_total_number(den, frame):
            named.append(den)
    for total, parts in totals.items():
        named.extend([total, *parts])
    for col in [*named, *percents]:
        if col not in chosen and col in named:
            chosen.append(col)
    missing = [c for c in [*chosen, *percents] if c not in frame.columns]
    if missing:
        raise RequestError(
            f"suppression: column(s) {missing!r} not in the table; the table has "
            f"{list(frame.columns)!r}. Name existing columns."
        )
    return list(dict.fromkeys(chosen))


def _protect_row_total(
    values: pd.DataFrame, hidden: pd.DataFrame, total: Hashable, parts: Sequence[Hashable]
) -> None:
    """Within each row: one hidden part of a shown total → hide the next smallest part."""
    part_values = values[list(parts)].to_numpy()
    part_hidden = hidden[list(parts)].to_numpy()
    need = (part_hidden.sum(axis=1) == 1) & ~hidden[total].to_numpy()
    if not need.any():
        return
    candidates = np.where(~part_hidden & (part_values > 0), part_values, np.inf)
    smallest = np.argmin(candidates, axis=1)
    has = np.isfinite(candidates.min(axis=1))
    for j, part in enumerate(parts):
        rows = need & has & (smallest == j)
        hidden.loc[rows, part] = True
    hidden.loc[need & ~has, total] = True


def _protect_complement(
    values: pd.DataFrame,
    hidden: pd.DataFrame,
    num: Hashable,
    den: Hashable | float,
    threshold: int,
) -> None:
    """A shown numerator whose complement in a shown denominator is small → hide it."""
    if _is_total_number(den, values):
        complement = float(den) - values[num]  # type: ignore[arg-type]
        den_shown = pd.Series(True, index=values.index)
    else:
        complement = values[den] - values[num]
        den_shown = ~hidden[den]
    small = is_small(complement, threshold)
    hidden.loc[small & den_shown, num] = True


def _protect_total_row(values: pd.DataFrame, hidden: pd.DataFrame, total_row: Hashable) -> None:
    """Within each column: one hidden cell among the rows of a shown total → hide another."""
    is_total = values.index == total_row
    for col in values.columns:
        if hidden.loc[is_total, col].any():
            continue
        part_hidden = hidden.loc[~is_total, col]
        if int(part_hidden.sum()) != 1:
            continue
        part_values = values.loc[~is_total, col]
        candidates = part_values[~part_hidden & (part_values > 0)]
        if candidates.empty:
            hidden.loc[is_total, col] = True
        else:
            hidden.loc[candidates.idxmin(), col] = True
