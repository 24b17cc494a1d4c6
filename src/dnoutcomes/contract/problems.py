"""The problems of one table: where they are, what they say, which rows they reject.

:class:`TableChecks` collects problems with file line numbers and messages in the
project's template ("what, where, expected vs got, how to fix"), marks the rows they make
invalid, and withholds cell values that look like identifiers from every message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dnoutcomes._frames import category_codes
from dnoutcomes.io._cells import arrow_to_text

__all__ = ["PROBLEM_COLUMNS", "WITHHELD", "TableChecks", "as_text", "empty_problems"]

PROBLEM_COLUMNS = ["table", "file", "line", "column", "rule", "message"]
WITHHELD = "a value that looks like an identifier (not shown)"


def as_text(values: pd.Series) -> pd.Series:
    """A column as the text the reader would have given for it (pandas ``str``).

    Parameters
    ----------
    values
        A column of a raw frame: text, or a typed column of the fast path.

    Returns
    -------
    pandas.Series
        Same index; text stays as it is; numbers as Arrow writes them (``15``, ``2.5``,
        ``1e+20``), dates ``YYYY-MM-DD``, booleans ``true``/``false``, a category its text;
        missing stays missing.

    Notes
    -----
    This is the text a Parquet column was cast to before the typed path existed, so that a
    typed cell reads the same in a message, an extra column or a reshaped wide table.
    """
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype):
        return values
    if isinstance(dtype, pd.CategoricalDtype):
        categories = as_text(pd.Series(dtype.categories)).to_numpy(dtype=object)
        codes = category_codes(values)
        table = np.empty(len(categories) + 1, dtype=object)
        table[:-1] = categories
        picked = table[np.where(codes >= 0, codes, len(categories))]
        return pd.Series(picked, index=values.index, dtype="str", name=values.name)
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
        arr: pa.Array = pa.array(values.array, type=pa.bool_(), from_pandas=True)
    elif dtype.kind == "M":
        arr = pa.array(values.to_numpy(dtype="datetime64[ns]"), from_pandas=True)
    elif dtype.kind in "iuf":
        arr = pa.array(values.array, from_pandas=True)
    else:
        return values.astype("str")
    text = arrow_to_text(pa.chunked_array([arr]))
    out = pa.table({"v": text}).to_pandas()["v"]
    out.index = values.index
    out.name = values.name
    return out


class TableChecks:
    """The problems found in one table, and which of its rows they invalidate.

    Parameters
    ----------
    table
        The table name.
    file
        The file name used in messages.
    lines
        File line number of each row (header = line 1).
    text_of
        For a table read on the CSV fast path: the text of a column as written in the file
        (``None`` for a column without one), so that a number cell is quoted as written.
    """

    def __init__(
        self,
        table: str,
        file: str,
        lines: np.ndarray,
        text_of: Callable[[str], pd.Series | None] | None = None,
    ) -> None:
        self.table = table
        self.file = file
        self.text_of = text_of
        found = np.asarray(lines)  # int32 line numbers (the readers') are kept as they are
        self.lines = found if found.dtype in (np.int32, np.int64) else found.astype(np.int64)
        self.n = len(self.lines)
        self.bad = np.zeros(self.n, dtype=bool)
        self.withheld: dict[str, np.ndarray] = {}
        #: per column, the cells with a problem that rejects them (the identifier screen
        #: looks at these, and at every cell of an id, label or extra column)
        self.cell_bad: dict[str, np.ndarray] = {}
        #: per column, the cells that cannot look like an identifier (plain ids, see
        #: :data:`dnoutcomes.contract.deid.PLAIN`): the identifier screen skips them
        self.plain: dict[str, np.ndarray] = {}
        self._parts: list[pd.DataFrame] = []
        self._rows: list[np.ndarray] = []
        self._msgs: list[np.ndarray] = []
        self._pending: list[tuple[Any, ...]] = []

    def value_text(self, column: str, values: pd.Series, idx: np.ndarray) -> pd.Series:
        """The values at ``idx`` as shown in messages (never a withheld cell).

        A typed cell is shown as the text path showed it (:func:`as_text`), or, for a number
        read from a CSV file on the fast path, as written in the file.
        """
        picked = values.iloc[idx]
        if not isinstance(picked.dtype, pd.StringDtype):
            written = None
            if self.text_of is not None and picked.dtype.kind == "f":
                written = self.text_of(column)
            picked = as_text(picked) if written is None else written.iloc[idx]
        text = picked.astype("str").fillna("an empty cell").to_numpy(dtype=object)
        held = self.withheld.get(column)
        if held is not None:
            text = np.where(held[idx], WITHHELD, text)
        return pd.Series(text, dtype=object)

    def add(
        self,
        mask: np.ndarray | pd.Series,
        column: str | np.ndarray,
        rule: str,
        expected: str | np.ndarray | Callable[[np.ndarray], np.ndarray],
        got: pd.Series | None = None,
        *,
        fix: str = "",
        reject: bool = True,
        record: bool = True,
    ) -> None:
        """Record a problem at every row where ``mask`` is true.

        Parameters
        ----------
        mask
            Rows with the problem.
        column
            The column (or one column name per row).
        rule
            The rule broken (see ``docs/validation.md``).
        expected
            What the contract expects, phrased to follow ``"column X: "``; or one text per
            row; or a function of the row positions that have the problem returning their
            texts (so that messages are only built for rows with problems).
        got
            The raw values of the column (all rows); omitted for identifier problems.
        fix
            How to fix it (appended to the message).
        reject
            Whether the problem makes the row invalid (false for warnings).
        record
            Whether to list the problem (false: only mark the rows invalid).
        """
        m = np.asarray(mask, dtype=bool)
        if not m.any():
            return
        idx = np.flatnonzero(m)
        if reject:
            self.bad[idx] = True
            key = column if isinstance(column, str) else str(getattr(got, "name", ""))
            previous = self.cell_bad.get(key)
            self.cell_bad[key] = m if previous is None else previous | m
        if not record:
            return
        # messages are built when the problems are read (frame, reasons), after the
        # identifier screen has marked the cells whose value must not be shown
        self._pending.append((idx, column, rule, expected, got, fix, reject))

    def _materialise(self) -> None:
        for idx, column, rule, expected, got, fix, reject in self._pending:
            self._build(idx, column, rule, expected, got, fix, reject)
        self._pending.clear()

    def _build(
        self,
        idx: np.ndarray,
        column: str | np.ndarray,
        rule: str,
        expected: str | np.ndarray | Callable[[np.ndarray], np.ndarray],
        got: pd.Series | None,
        fix: str,
        reject: bool,
    ) -> None:
        cols = column[idx] if isinstance(column, np.ndarray) else np.full(len(idx), column)
        col_series = pd.Series(cols, dtype=object)
        exp: str | pd.Series
        if isinstance(expected, np.ndarray):
            exp = pd.Series(expected[idx], dtype=object)
        elif callable(expected):
            exp = pd.Series(np.asarray(expected(idx), dtype=object), dtype=object)
        else:
            exp = expected
        msg = (
            f"{self.file} line "
            + pd.Series(self.lines[idx]).astype(str)
            + ", column "
            + col_series
            + ": "
            + exp
        )
        if got is not None:
            name = column if isinstance(column, str) else str(got.name)
            msg = (
                msg + "; got " + self.value_text(name, got, idx).str.replace(r"\.$", "", regex=True)
            )
        msg = msg + "." + (f" {fix}" if fix else "")
        self._parts.append(
            pd.DataFrame(
                {
                    "table": self.table,
                    "file": self.file,
                    "line": pd.array(self.lines[idx], dtype="Int64"),
                    "column": col_series.astype("str"),
                    "rule": rule,
                    "message": msg.astype("str"),
                }
            )
        )
        if reject:
            self._rows.append(idx)
            self._msgs.append(msg.to_numpy(dtype=object))

    def add_header(self, column: str, rule: str, message: str, *, reject_all: bool) -> None:
        """Record a problem of the header (line 1) that concerns a whole column."""
        text = f"{self.file} line 1, column {column}: {message}"
        self._parts.append(
            pd.DataFrame(
                {
                    "table": [self.table],
                    "file": [self.file],
                    "line": pd.array([1], dtype="Int64"),
                    "column": [column],
                    "rule": [rule],
                    "message": [text],
                }
            )
        )
        if reject_all and self.n:
            self.bad[:] = True
            self._rows.append(np.arange(self.n, dtype=np.int64))
            self._msgs.append(np.full(self.n, text, dtype=object))

    def frame(self) -> pd.DataFrame:
        """All problems recorded, one row each (the problems frame columns)."""
        self._materialise()
        if not self._parts:
            return empty_problems()
        return pd.concat(self._parts, ignore_index=True)

    def reasons(self) -> pd.Series:
        """Why each invalid row is invalid: the first message, and how many more.

        Returns
        -------
        pandas.Series
            Indexed by row position (only invalid rows), text.
        """
        self._materialise()
        if not self._rows:
            return pd.Series(dtype="str")
        rows = pd.DataFrame(
            {"row": np.concatenate(self._rows), "message": np.concatenate(self._msgs)}
        )
        counts = rows.groupby("row", sort=True).size()
        first = rows.drop_duplicates("row").set_index("row")["message"].sort_index()
        more = counts.reindex(first.index) - 1
        suffix = np.where(more > 0, " (and " + more.astype(str) + " more problems)", "")
        return (first.astype(str) + suffix).astype("str")


_EMPTY_PROBLEMS = pd.DataFrame(
    {
        "table": pd.Series(dtype="str"),
        "file": pd.Series(dtype="str"),
        "line": pd.Series(dtype="Int64"),
        "column": pd.Series(dtype="str"),
        "rule": pd.Series(dtype="str"),
        "message": pd.Series(dtype="str"),
    }
)


def empty_problems() -> pd.DataFrame:
    """An empty problems frame with the right columns and dtypes."""
    return _EMPTY_PROBLEMS.copy()
