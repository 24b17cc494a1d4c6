"""Arrow cells made ready for pandas: trimmed text, blank cells missing, typed columns in the
form :attr:`~dnoutcomes.io.RawTable.frame` keeps, dates as datetime64[ns]."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionDtype

from dnoutcomes._encode import run_categorical

# datetime64[ns] holds the days from 1677-09-22 to 2262-04-11: other dates take the text path
_NS_FIRST, _NS_LAST = dt.date(1677, 9, 22), dt.date(2262, 4, 11)
# the same bounds in days since 1970-01-01, as date32 stores them: compared as integers, since
# a date32 before year 1 or after 9999 has no Python date (``as_py`` raised OverflowError)
_EPOCH = dt.date(1970, 1, 1)
_NS_FIRST_DAY, _NS_LAST_DAY = (_NS_FIRST - _EPOCH).days, (_NS_LAST - _EPOCH).days
_INTEGERS = (pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32())


def _tidy_already(text: pa.Array) -> bool:
    """Whether trimming a text array changes nothing: no value is empty and its bytes hold
    no ASCII whitespace or control character and no non-ASCII byte at all (then no value
    can start or end with whitespace). Two reductions over the bytes, without a copy."""
    if text.type != pa.string() or len(text) == 0 or text.null_count == len(text):
        return False
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    first, last = offsets[text.offset], offsets[text.offset + len(text)]
    data = text.buffers()[2]
    if data is None or last <= first:
        return False
    body = np.frombuffer(data, dtype=np.uint8)[first:last]
    if body.min() <= 32 or body.max() >= 128:
        return False
    return not pc.any(pc.equal(text, "")).as_py()


def _blank_to_null(text: pa.Array) -> pa.Array:
    """Trim every value; an empty (or spaces-only) value becomes missing."""
    if _tidy_already(text):
        return text
    trimmed = pc.utf8_trim_whitespace(text)
    empty = pc.equal(trimmed, "")
    if pc.any(empty).as_py():  # a cell of spaces only: not recorded
        trimmed = pc.if_else(empty, pa.scalar(None, pa.string()), trimmed)
    return trimmed


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks()


def _text_arrow(column: pa.ChunkedArray) -> pa.Array:
    """A text column trimmed, empty cells missing, in one chunk."""
    if column.type != pa.string():
        column = column.cast(pa.string())
    return _blank_to_null(_one_chunk(column))


_SMALL_TEXT = 1 << 20


def _text_arrows(columns: Sequence[pa.ChunkedArray]) -> list[pa.Array]:
    """:func:`_text_arrow` of many columns of one table.

    Small text columns (under 1 MiB each) are trimmed together, up to 16 MiB at a time:
    their chunks are joined into one array, trimmed in one pass and cut back into the
    columns (zero-copy slices). Each Arrow call has a fixed cost, which one column at a
    time made a table of 10,000 columns slow; large columns stay one at a time, so that
    memory holds at most one extra copy of a group."""
    out: list[pa.Array] = [pa.array([], pa.null())] * len(columns)
    group: list[int] = []

    def flush() -> None:
        if len(group) == 1:
            out[group[0]] = _text_arrow(columns[group[0]])
        elif group:
            parts = [chunk for j in group for chunk in columns[j].chunks]
            stacked = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
            # large_string, as pandas keeps text: one cast here, not one per column there
            tidy = _blank_to_null(stacked).cast(pa.large_string())
            start = 0
            for j in group:
                size = len(columns[j])
                out[j] = tidy.slice(start, size)
                start += size
        group.clear()

    size = 0
    for j, column in enumerate(columns):
        # (the buffers' size: ``nbytes`` walks every chunk's offsets, 30 µs a column)
        nbytes = column.get_total_buffer_size()
        if column.type == pa.string() and nbytes < _SMALL_TEXT:
            group.append(j)
            size += nbytes
            if size >= _GROUP_BYTES:
                flush()
                size = 0
        else:
            out[j] = _text_arrow(column)
    flush()
    return out


def _typed_arrows(
    columns: Sequence[pa.ChunkedArray],
) -> list[pa.Array | pa.ChunkedArray] | None:
    """:func:`_typed_arrow` of every column of a table (text columns together, see
    :func:`_text_arrows`), or None when one of them must be read as text."""
    out = _typed_or_none(columns)
    return None if any(typed is None for typed in out) else out


def _typed_or_none(columns: Sequence[pa.ChunkedArray]) -> list[pa.Array | pa.ChunkedArray | None]:
    """:func:`_typed_arrow` of every column of a table, text columns together: None for
    each column that must be read as text."""
    text = [j for j, column in enumerate(columns) if column.type == pa.string()]
    trimmed = dict(zip(text, _text_arrows([columns[j] for j in text]), strict=True))
    return [
        trimmed.pop(j) if j in trimmed else _typed_arrow(column) for j, column in enumerate(columns)
    ]


def _trimmed_dictionary(column: pa.ChunkedArray) -> pa.DictionaryArray:
    """A dictionary column of text with its dictionary trimmed (not its rows): values that
    become equal merge, a value that becomes empty makes its cells missing."""
    if column.num_chunks > 1:
        column = column.unify_dictionaries()
    arr = _one_chunk(column) if column.num_chunks else pa.array([], column.type)
    dictionary = arr.dictionary
    if dictionary.type != pa.string():
        dictionary = dictionary.cast(pa.string())
    encoded = pc.dictionary_encode(_blank_to_null(dictionary))
    remap = encoded.indices.cast(pa.int32())
    indices = arr.indices if arr.indices.type == pa.int32() else arr.indices.cast(pa.int32())
    same = remap.null_count == 0 and len(encoded.dictionary) == len(dictionary)
    if not same:  # codes of merged or emptied values change; else the codes stay
        indices = pc.take(remap, indices)
    return pa.DictionaryArray.from_arrays(indices, encoded.dictionary)


def _typed_arrow(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """A typed column in the form the frame keeps, or None when it must be read as text.

    Text (trimmed), dictionary of text (dictionary trimmed), float64 without NaN or
    infinity, integers (as int64), booleans, dates and timestamps (truncated to the date)
    within the range of datetime64[ns] (as timestamp[ns]). Anything else (lists, floats of
    other widths, decimals, times, a NaN or infinity stored as a value…) returns None.
    """
    typ = column.type
    if pa.types.is_dictionary(typ):
        value = typ.value_type
        if pa.types.is_string(value) or pa.types.is_large_string(value):
            return _trimmed_dictionary(column)
        return _typed_arrow(column.cast(value))
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_null(typ):
        return _text_arrow(column)
    # numbers, booleans and dates stay chunked: pandas copies them into one array anyway
    if typ == pa.float64():
        if pc.any(pc.invert(pc.is_finite(column))).as_py():
            return None  # "nan" or "inf" as text breaks a rule that a missing value does not
        return column
    if typ in _INTEGERS:
        return column.cast(pa.int64())
    if pa.types.is_boolean(typ):
        return column
    if pa.types.is_timestamp(typ):
        try:
            column = column.cast(pa.date32())  # as the text cast did
        except (pa.ArrowException, TypeError):
            return None
        typ = column.type
    if typ == pa.date32():
        days = pc.min_max(column.cast(pa.int32()))
        low, high = days["min"].as_py(), days["max"].as_py()
        if low is not None and (low < _NS_FIRST_DAY or high > _NS_LAST_DAY):
            return None
        return column  # made datetime64[ns] by _to_series
    return None


_NS_PER_DAY = 86_400 * 10**9
_GROUP_BYTES = 16 << 20


def _datetime_ns(dates: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """date32 → datetime64[ns] in one allocation (an Arrow cast, then pandas' copy, would
    take two); a missing date becomes NaT."""
    chunks = dates.chunks if isinstance(dates, pa.ChunkedArray) else [dates]
    out = np.empty(len(dates), dtype=np.int64)
    start = 0
    for chunk in chunks:
        size = len(chunk)
        if size:
            days = np.frombuffer(
                chunk.buffers()[1], dtype=np.int32, count=size, offset=chunk.offset * 4
            )
            part = out[start : start + size]
            np.multiply(days, _NS_PER_DAY, out=part, dtype=np.int64)
            if chunk.null_count:
                missing = chunk.is_null().to_numpy(zero_copy_only=False)
                part[np.asarray(missing, dtype=bool)] = np.iinfo(np.int64).min  # NaT
        start += size
    return out.view("datetime64[ns]")


def _to_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """One prepared Arrow column as a pandas column (see :attr:`RawTable.frame`)."""
    typ = arr.type
    if typ == pa.date32():
        return pd.Series(_datetime_ns(arr), copy=False)
    if typ == pa.int64():
        return pd.Series(pd.array(arr, dtype="Int64"))
    if pa.types.is_boolean(typ):
        values = np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        if arr.null_count:
            missing = np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            return pd.Series(pd.arrays.BooleanArray(values, missing), copy=False)
        return pd.Series(values, copy=False)  # made here: pandas 3 would copy it again
    out = pa.table({"v": arr}).to_pandas()["v"]
    out.name = None
    return out


_STR = pd.StringDtype("pyarrow", na_value=np.nan)  # the "str" dtype of pandas 3
# the extension-type protocol (pandas-stubs does not declare it)
_FROM_ARROW: Callable[[pa.Array | pa.ChunkedArray], Any] = cast(Any, _STR).__from_arrow__


def _filled_rows(arrays: Sequence[pa.Array | pa.ChunkedArray], num_rows: int) -> np.ndarray:
    """The rows with at least one cell (a row entirely empty is not a row)."""
    if not arrays or any(arr.null_count == 0 for arr in arrays):
        return np.ones(num_rows, dtype=bool)
    filled = arrays[0].is_valid()
    for arr in arrays[1:]:
        filled = pc.or_(filled, arr.is_valid())
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _frame_of(
    arrays: list[pa.Array | pa.ChunkedArray],
    names: list[str],
    lines: np.ndarray,
    num_rows: int,
    runs: Collection[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop the rows that are entirely empty; one pandas column per array. A text column
    named in ``runs`` whose values sit in runs becomes a categorical of its distinct values
    (:func:`dnoutcomes._encode.run_categorical`)."""
    keep = _filled_rows(arrays, num_rows)
    mask = None if keep.all() else pa.array(keep)
    kept = lines if mask is None else lines[keep]
    columns: dict[int, Any] = {}
    for i in range(len(arrays)):
        # one column at a time, dropping its Arrow form as soon as pandas holds it (the
        # caller's list is emptied), so that the peak holds one copy of the table
        arr = arrays[i]
        arrays[i] = pa.array([], pa.null())
        arr = arr if mask is None else arr.filter(mask)
        if arr.type == pa.string() or arr.type == pa.large_string():
            # the pandas array made straight from the Arrow one (what to_pandas does, less
            # its fixed cost per call, which made 10,000 columns take seconds)
            runs_of = run_categorical(arr) if names[i] in runs else None
            columns[i] = _FROM_ARROW(arr) if runs_of is None else runs_of
        else:
            series = _to_series(arr)
            columns[i] = (
                series.array
                if isinstance(series.dtype, ExtensionDtype)
                else (series.to_numpy(copy=False))
            )
        del arr
    frame = pd.DataFrame(
        columns,
        index=pd.RangeIndex(int(keep.sum())),
        copy=False,  # one block per column: no copy into 2-D blocks
    )
    frame.columns = names
    return frame, kept


def _tidy_arrow(
    table: pa.Table, names: list[str], lines: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Trim every cell, make empty cells missing, drop rows that are entirely empty."""
    return _frame_of(_text_arrows(table.columns), names, lines, table.num_rows)


def _list_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A list column as ``;``-separated text. A missing item is an empty item, which the
    list rule skips: ``binary_join`` alone makes the whole cell missing when one item is,
    which lost the items recorded beside it (``["piriformis", null]`` read as no muscle)."""
    chunks = []
    for chunk in column.cast(pa.list_(pa.string())).chunks:
        items = pa.ListArray.from_arrays(chunk.offsets, pc.fill_null(chunk.values, ""))
        text = pc.binary_join(items, ";")
        if chunk.null_count:  # a missing list stays missing
            text = pc.if_else(chunk.is_valid(), text, pa.scalar(None, pa.string()))
        chunks.append(text)
    return pa.chunked_array(chunks, pa.string())


def arrow_to_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cast one typed column to text the way a CSV export would show it: dates
    ``YYYY-MM-DD`` (a timestamp cut to its date), booleans ``true``/``false``, lists joined
    with ``;``, numbers as Arrow writes them (``15``, ``2.5``). The text path of Parquet and
    :func:`dnoutcomes.contract.problems.as_text` (typed cells in messages) both use it."""
    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
        typ = column.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _list_text(column)
    if pa.types.is_timestamp(typ):
        return column.cast(pa.date32()).cast(pa.string())
    if pa.types.is_boolean(typ):
        return pc.if_else(column, "true", "false")
    return column.cast(pa.string())
