"""The Parquet reader: typed columns, with a text fallback column by column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dnoutcomes.contract.deid import shown_header
from dnoutcomes.contract.specs import RUN_COLUMNS
from dnoutcomes.io._cells import (
    _frame_of,
    _text_arrow,
    _tidy_arrow,
    _typed_arrow,
    _typed_or_none,
    arrow_to_text,
)
from dnoutcomes.io._raw import RawTable, _arrow_path, _sha256, _unreadable, line_numbers


def _read_arrow(path: Path) -> pa.Table:
    """The file's columns as stored. ``ParquetFile.read``, not ``pq.read_table``: the
    dataset reader behind ``read_table`` refuses a file with two columns of one name
    ("Multiple matches for FieldRef"), which is then reported as the rule
    ``duplicate_column``, as for a CSV file."""
    with pq.ParquetFile(_arrow_path(path)) as parquet:
        return parquet.read()


@dataclass
class ParquetColumns:
    """A Parquet file's columns as Arrow arrays in the form the frame keeps (typed or
    text), before any NumPy or pandas memory is made (:func:`parquet_columns`)."""

    path: Path
    table: str
    arrays: list[pa.Array | pa.ChunkedArray]
    names: list[str]
    num_rows: int
    sha256: str


def _read_parquet(path: Path, table: str) -> RawTable:
    return parquet_table(parquet_columns(path, table))


def parquet_columns(path: Path, table: str) -> ParquetColumns:
    """Read a Parquet file and make its columns typed or text, in Arrow only (memory of
    Arrow's pool): the part of the read that can run on another thread without leaving
    NumPy memory in that thread's ``malloc`` arena.

    Raises
    ------
    UnreadableInputError
        The file is not readable Parquet, has no columns, holds text that is not UTF-8,
        or a column of a type that cannot be read as text.
    """
    try:
        arrow = _read_arrow(path)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        # pyarrow's message names the file only (checked by the hostile-input tests)
        what = type(exc).__name__ if isinstance(exc, UnicodeDecodeError) else exc
        raise _unreadable(
            path, table, f"the file is not readable Parquet ({what})", "export it again"
        ) from None
    names = list(arrow.column_names)
    if not names:
        raise _unreadable(path, table, "the file has no columns", "export the table again")
    try:
        # every column at once (small text columns trimmed together: wide tables)
        batch: list[pa.Array | pa.ChunkedArray | None] | None = _typed_or_none(arrow.columns)
    except pa.ArrowInvalid:  # text that is not UTF-8: found again column by column below
        batch = None
    arrays = []
    for i, name in enumerate(names):
        column = arrow.column(i)
        if batch is not None:
            typed = batch[i]
        else:
            try:
                typed = _typed_arrow(column)
            except pa.ArrowInvalid:  # text that is not UTF-8 (Arrow checks it when trimming)
                raise _unreadable(
                    path,
                    table,
                    f"column {shown_header(str(name), i + 1)} holds text that is not valid UTF-8",
                    "store text columns as UTF-8 strings",
                ) from None
        if typed is None:
            try:
                typed = _text_arrow(arrow_to_text(column))
            except (pa.ArrowException, TypeError):
                raise _unreadable(
                    path,
                    table,
                    f"column {shown_header(str(name), i + 1)} has the Parquet type "
                    f"{column.type}, which cannot be read as text",
                    "store it as text, a number, a date or a boolean",
                ) from None
        arrays.append(typed)
    del batch
    num_rows = arrow.num_rows
    del arrow  # the columns now live in ``arrays`` only
    return ParquetColumns(path, table, arrays, list(map(str, names)), num_rows, _sha256(path))


def parquet_table(columns: ParquetColumns) -> RawTable:
    """The raw table of columns read by :func:`parquet_columns` (pandas columns, line
    numbers; ``columns.arrays`` is emptied as the frame takes them over)."""
    path, table, num_rows = columns.path, columns.table, columns.num_rows
    lines = line_numbers(2, num_rows + 2)
    frame, lines = _frame_of(
        columns.arrays,
        [n.strip().lower() for n in columns.names],
        lines,
        num_rows,
        runs=RUN_COLUMNS.get(table, ()),
    )
    return RawTable(
        table, path.name, path, frame, lines, tuple(columns.names), sha256=columns.sha256
    )


def _read_parquet_text(path: Path, table: str) -> RawTable:
    """The text path of a Parquet file: every column cast to text (the tests compare it)."""
    typed = _read_parquet(path, table)
    arrow = _read_arrow(path)
    cols = {f"c{i}": arrow_to_text(arrow.column(i)) for i in range(arrow.num_columns)}
    lines = line_numbers(2, arrow.num_rows + 2)
    frame, lines = _tidy_arrow(pa.table(cols), list(typed.frame.columns), lines)
    return RawTable(
        table, path.name, path, frame, lines, typed.columns_as_read, sha256=typed.sha256
    )
