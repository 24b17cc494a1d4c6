"""Read a clinic export (a folder of CSV / CSV.gz / Parquet files, or one ``.xlsx``
workbook) into raw frames, one per table, with the file line number of every row.

Nothing here applies a contract rule: a cell arrives as text (trimmed, missing when empty),
or, from a typed Parquet column or a clean comma-separated CSV file, as the number, date,
boolean or category it already is (the *typed fast path*); column names are lower-cased and
trimmed. :mod:`dnoutcomes.validate` applies the contract.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import hashlib
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dnoutcomes.contract.specs import OPTIONAL_TABLES, REQUIRED_TABLES, TABLES
from dnoutcomes.errors import UnreadableInputError

__all__ = ["RawDataset", "RawTable", "read_export"]

_PROBLEM_COLUMNS = ["table", "file", "line", "column", "rule", "message"]
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class RawTable:
    """One table as read from its file: cells, line numbers, and read problems.

    Attributes
    ----------
    name
        The table (``patients``…).
    file
        The file name shown in messages (``patients.csv``, or ``export.xlsx[patients]``).
    path
        The file read.
    frame
        One column per input column (names lower-cased and trimmed, in input order); rows
        that are entirely empty are dropped. A text column has the pandas ``str`` dtype,
        trimmed, missing for an empty cell. Columns read on the typed fast path keep their
        type instead: ``float64`` (missing = NaN; never NaN or infinity as a value),
        ``Int64``, ``bool`` (``boolean`` when some are missing), ``datetime64[ns]`` (a
        date; a Parquet timestamp truncated to its date) or ``category`` (text categories,
        trimmed, none empty).
    lines
        The file line number of each row of ``frame`` (header = line 1).
    columns_as_read
        The column names exactly as they arrived.
    malformed
        Rows the reader could not split into the header's number of fields: ``line`` and
        ``fields`` (they count as read and rejected).
    sha256
        The checksum of the file.
    delimiter
        The CSV field separator (``","`` or ``";"``; ``""`` for Parquet and Excel).
    text_table
        For a CSV file read on the typed fast path, a function that reads the same file as
        text (cached; the same rows and lines), so that a message can quote a number cell
        exactly as written (``1e3``, ``15.0``); ``None`` otherwise.
    """

    name: str
    file: str
    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    columns_as_read: tuple[str, ...]
    malformed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"line": [], "fields": []}, dtype="int64")
    )
    sha256: str = ""
    delimiter: str = ""
    text_table: Callable[[], RawTable] | None = None


@dataclass(frozen=True)
class RawDataset:
    """The tables of one export, as read.

    Attributes
    ----------
    path
        The folder or workbook.
    tables
        The tables found, by name (``adverse_events`` is absent when the export lacks it).
    """

    path: Path
    tables: dict[str, RawTable]


def _unreadable(path: Path, table: str | None, what: str, fix: str) -> UnreadableInputError:
    problems = pd.DataFrame(
        [
            {
                "table": table if table is not None else "",
                "file": path.name,
                "line": pd.NA,
                "column": "",
                "rule": "unreadable",
                "message": f"{path}: {what}; {fix}",
            }
        ],
        columns=_PROBLEM_COLUMNS,
    ).astype({"line": "Int64"})
    return UnreadableInputError(f"{path}: {what}; {fix}", problems=problems)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tidy_arrow(
    table: pa.Table, names: list[str], lines: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    """Trim every cell, make empty cells missing, drop rows that are entirely empty."""
    cols = []
    for column in table.columns:
        trimmed = pc.utf8_trim_whitespace(column)
        shortest = pc.min(pc.binary_length(trimmed)).as_py()
        if shortest == 0:  # a cell of spaces only: not recorded
            trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
        cols.append(trimmed)
    if cols:
        filled = cols[0].is_valid()
        for col in cols[1:]:
            filled = pc.or_(filled, col.is_valid())
        keep = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)
    else:
        keep = np.ones(table.num_rows, dtype=bool)
    tidy = pa.table(cols, names=[f"c{i}" for i in range(len(cols))])
    if not keep.all():
        tidy = tidy.filter(pa.array(keep))
    frame = tidy.combine_chunks().to_pandas()  # one chunk: later Arrow calls need no copy
    frame.columns = names
    return frame, lines[keep]


# datetime64[ns] holds the days from 1677-09-22 to 2262-04-11: other dates take the text path
_NS_FIRST, _NS_LAST = dt.date(1677, 9, 22), dt.date(2262, 4, 11)
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
        days = pc.min_max(column)
        low, high = days["min"].as_py(), days["max"].as_py()
        if low is not None and (low < _NS_FIRST or high > _NS_LAST):
            return None
        return column  # made datetime64[ns] by _to_series
    return None


_NS_PER_DAY = 86_400 * 10**9


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
            return pd.Series(pd.arrays.BooleanArray(values, missing))
        return pd.Series(values)
    out = pa.table({"v": arr}).to_pandas()["v"]
    out.name = None
    return out


def _frame_of(
    arrays: list[pa.Array | pa.ChunkedArray], names: list[str], lines: np.ndarray, num_rows: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop the rows that are entirely empty; one pandas column per array."""
    if arrays:
        filled = arrays[0].is_valid()
        for arr in arrays[1:]:
            filled = pc.or_(filled, arr.is_valid())
        keep = np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)
    else:
        keep = np.ones(num_rows, dtype=bool)
    mask = None if keep.all() else pa.array(keep)
    kept = lines if mask is None else lines[keep]
    columns: dict[int, pd.Series] = {}
    for i in range(len(arrays)):
        # one column at a time, dropping its Arrow form as soon as pandas holds it (the
        # caller's list is emptied), so that the peak holds one copy of the table
        arr = arrays[i]
        arrays[i] = pa.array([], pa.null())
        columns[i] = _to_series(arr if mask is None else arr.filter(mask))
        del arr
    frame = pd.DataFrame(
        columns,
        index=pd.RangeIndex(int(keep.sum())),
        copy=False,  # one block per column: no copy into 2-D blocks
    )
    frame.columns = names
    return frame, kept


def _tidy(frame: pd.DataFrame, lines: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`_tidy_arrow` for a frame of text (the workbook reader)."""
    names = [str(c) for c in frame.columns]
    table = pa.table(
        [
            pa.array(frame.iloc[:, i].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
            for i in range(frame.shape[1])
        ],
        names=[f"c{i}" for i in range(frame.shape[1])],
    )
    return _tidy_arrow(table, names, lines)


def _first_line(path: Path, table: str) -> str:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head: bytes = fh.read(1 << 16)
    except (OSError, EOFError) as exc:
        raise _unreadable(
            path, table, f"the file cannot be read ({exc})", "check the file"
        ) from None
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if not head.strip():
        raise _unreadable(
            path, table, "the file is empty", "export the table again with its header row"
        )
    line = re.split(rb"\r\n|\n|\r", head, maxsplit=1)[0]  # as pyarrow ends a line
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise _unreadable(
            path,
            table,
            "line 1 is not UTF-8 text",
            "save the file as UTF-8 (in Excel: Save As, 'CSV UTF-8')",
        ) from None


def _utf8_error_line(path: Path, digest: Any = None) -> int | None:
    """The line of the first byte that is not UTF-8, or None when the file is UTF-8.

    Decodes in 16 MiB blocks (C speed, bounded memory); run before the CSV parser so that no
    undecodable text ever reaches pyarrow's handler of malformed rows. ``digest`` (a
    hashlib object, uncompressed files only) is updated with the bytes on the way.
    """
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    with opener(path, "rb") as fh:
        while True:
            block: bytes = fh.read(1 << 24)
            if digest is not None:
                digest.update(block)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0]) if exc.start < 0 else 0
                return newlines + block.count(b"\n", 0, max(exc.start - pending, 0)) + 1
            if not block:
                return None
            newlines += block.count(b"\n")


_DICTIONARY = pa.dictionary(pa.int32(), pa.string())


def _csv_types(table: str, names: list[str]) -> list[pa.DataType]:
    """The Arrow type of each column of a CSV file on the typed fast path.

    float64 for numbers, date32 for dates (Arrow's parser takes only ``YYYY-MM-DD``, spaces
    around it allowed), dictionary text for categories, booleans and the outcome measure
    (parsed once per distinct value later), text for everything else: ids, labels, lists,
    age and the extra columns.
    """
    kinds = {spec.name: spec.kind for spec in TABLES.get(table, ())}
    out = []
    for name in names:
        key = name.strip().lower()
        kind = kinds.get(key)
        if table == "outcomes" and key == "measure":
            out.append(_DICTIONARY)
        elif kind in ("integer", "number"):
            out.append(pa.float64())
        elif kind == "date":
            out.append(pa.date32())
        elif kind in ("category", "bool"):
            out.append(_DICTIONARY)
        else:
            out.append(pa.string())
    return out


def _fast_table(
    path: Path,
    table: str,
    names: list[str],
    frame: pd.DataFrame,
    lines: np.ndarray,
    checksum: str | None = None,
) -> RawTable:
    """The RawTable of a CSV file read on the typed fast path."""
    memo: list[RawTable] = []

    def text_table() -> RawTable:
        if not memo:
            memo.append(_read_csv(path, table, typed=False))
        return memo[0]

    return RawTable(
        name=table,
        file=path.name,
        path=path,
        frame=frame,
        lines=lines,
        columns_as_read=tuple(names),
        sha256=_sha256(path) if checksum is None else checksum,
        delimiter=",",
        text_table=text_table,
    )


def _read_csv(path: Path, table: str, *, typed: bool = True) -> RawTable:
    """Read one CSV file: on the typed fast path when it is clean, else as text.

    ``typed=False`` forces the text path (the tests compare both).
    """
    header_text = _first_line(path, table)
    gz = path.name.lower().endswith(".gz")
    delimiter = ";" if header_text.count(";") > header_text.count(",") else ","
    try:
        names: list[str] | None = next(csv.reader([header_text], delimiter=delimiter))
    except (csv.Error, StopIteration):
        names = None
    if typed and names is not None and delimiter == "," and not gz:
        # Arrow's reader validates UTF-8 in every cell it converts: a file that is not
        # UTF-8 fails the typed read and the text path below names its first bad line (a
        # .gz file is checked first: the check also finds a damaged archive)
        fast = _read_csv_typed(path, table, [f"c{i}" for i in range(len(names))], names)
        if fast is not None:
            return _fast_table(path, table, names, *fast)
    try:
        digest = None if gz else hashlib.sha256()
        bad_line = _utf8_error_line(path, digest)
        checksum = _sha256(path) if digest is None else digest.hexdigest()
    except (OSError, EOFError, zlib.error):
        raise _unreadable(
            path, table, "the compressed file is damaged", "export it again"
        ) from None
    if bad_line is not None:
        raise _unreadable(
            path,
            table,
            f"line {bad_line} is not UTF-8 text",
            "save the file as UTF-8 (in Excel: Save As, 'CSV UTF-8')",
        )
    if names is None:
        raise _unreadable(path, table, "the header line is not readable CSV", "check its quoting")
    ncol = len(names)
    internal = [f"c{i}" for i in range(ncol)]
    lowered = [n.strip().lower() for n in names]
    if typed and delimiter == "," and gz:
        fast = _read_csv_typed(path, table, internal, names)
        if fast is not None:
            return _fast_table(path, table, names, *fast, checksum=checksum)
    bad: list[tuple[int | None, int]] = []

    def handler(row: Any) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=internal, skip_rows=1, use_threads=threads, encoding="utf8"
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, ignore_empty_lines=False, invalid_row_handler=handler
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(internal, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    try:
        arrow = read(True)
        if bad:
            bad.clear()
            arrow = read(False)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        # pyarrow's message quotes the row, which may hold an identifier: not shown
        raise _unreadable(
            path,
            table,
            "the file is not readable CSV (broken quoting or line structure)",
            "export the table again, quoting cells that contain the separator",
        ) from None
    n_bad = len(bad)
    bad_lines = np.array([b[0] if b[0] is not None else -1 for b in bad], dtype=np.int64)
    lines = np.arange(2, arrow.num_rows + n_bad + 2, dtype=np.int64)
    if n_bad:
        lines = lines[~np.isin(lines, bad_lines)]
    frame, lines = _tidy_arrow(arrow, lowered, lines)
    malformed = pd.DataFrame(
        {"line": bad_lines, "fields": np.array([b[1] for b in bad], dtype=np.int64)}
    )
    return RawTable(
        name=table,
        file=path.name,
        path=path,
        frame=frame,
        lines=lines,
        columns_as_read=tuple(names),
        malformed=malformed,
        sha256=checksum,
        delimiter=delimiter,
    )


def _read_csv_typed(
    path: Path, table: str, internal: list[str], names: list[str]
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The typed fast path: one pyarrow read with the contract's types, or None.

    None (read the file as text) when a cell does not convert, a row is malformed, a number
    is not finite (``inf``; ``nan`` is a missing cell on both paths) or a date lies beyond
    datetime64[ns]: the text path is the one that explains problems.
    """
    names = [n.strip().lower() for n in names]
    types = _csv_types(table, names)
    try:
        arrow = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=internal, skip_rows=1, use_threads=True, encoding="utf8"
            ),
            parse_options=pacsv.ParseOptions(delimiter=",", ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict(zip(internal, types, strict=True)),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowException, UnicodeDecodeError, OSError):  # the text path explains
        return None
    arrays = []
    for i in range(arrow.num_columns):
        typed = _typed_arrow(arrow.column(i))
        if typed is None:
            return None
        arrays.append(typed)
    num_rows = arrow.num_rows
    del arrow
    lines = np.arange(2, num_rows + 2, dtype=np.int64)
    return _frame_of(arrays, names, lines, num_rows)


def _arrow_to_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cast one Parquet column to text the way a CSV export would show it."""
    typ = column.type
    if pa.types.is_dictionary(typ):
        column = column.cast(typ.value_type)
        typ = column.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return pc.binary_join(column.cast(pa.list_(pa.string())), ";")
    if pa.types.is_timestamp(typ):
        return column.cast(pa.date32()).cast(pa.string())
    if pa.types.is_boolean(typ):
        return pc.if_else(column, "true", "false")
    return column.cast(pa.string())


def _read_parquet(path: Path, table: str) -> RawTable:
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(
            path, table, f"the file is not readable Parquet ({exc})", "export it again"
        ) from None
    names = list(arrow.column_names)
    if not names:
        raise _unreadable(path, table, "the file has no columns", "export the table again")
    arrays = []
    for i, name in enumerate(names):
        column = arrow.column(i)
        typed = _typed_arrow(column)
        if typed is None:
            try:
                typed = _text_arrow(_arrow_to_text(column))
            except (pa.ArrowException, TypeError):
                raise _unreadable(
                    path,
                    table,
                    f"column {name} has the Parquet type {column.type}, which cannot be "
                    "read as text",
                    "store it as text, a number, a date or a boolean",
                ) from None
        arrays.append(typed)
    num_rows = arrow.num_rows
    del arrow  # the columns now live in ``arrays`` only
    lines = np.arange(2, num_rows + 2, dtype=np.int64)
    frame, lines = _frame_of(arrays, [str(n).strip().lower() for n in names], lines, num_rows)
    return RawTable(
        table, path.name, path, frame, lines, tuple(map(str, names)), sha256=_sha256(path)
    )


def _read_parquet_text(path: Path, table: str) -> RawTable:
    """The text path of a Parquet file: every column cast to text (the tests compare it)."""
    typed = _read_parquet(path, table)
    arrow = pq.read_table(path)
    cols = {f"c{i}": _arrow_to_text(arrow.column(i)) for i in range(arrow.num_columns)}
    lines = np.arange(2, arrow.num_rows + 2, dtype=np.int64)
    frame, lines = _tidy_arrow(pa.table(cols), list(typed.frame.columns), lines)
    return RawTable(
        table, path.name, path, frame, lines, typed.columns_as_read, sha256=typed.sha256
    )


def _cell_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value != value:
            return None
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _read_xlsx(path: Path) -> dict[str, RawTable]:
    try:
        sheets: dict[str, pd.DataFrame] = pd.read_excel(
            path, sheet_name=None, header=None, dtype=object, engine="openpyxl"
        )
    except Exception as exc:  # openpyxl raises many unrelated types for a bad workbook
        raise _unreadable(
            path,
            None,
            f"the workbook cannot be read ({type(exc).__name__})",
            "save it again as .xlsx",
        ) from None
    checksum = _sha256(path)
    tables: dict[str, RawTable] = {}
    for sheet, data in sheets.items():
        table = str(sheet).strip().lower()
        if table not in REQUIRED_TABLES + OPTIONAL_TABLES:
            continue
        if table in tables:
            raise _unreadable(
                path, table, f"two sheets are named {table}", "keep one sheet per table"
            )
        if data.shape[0] == 0 or data.iloc[0].isna().all():
            raise _unreadable(
                path, table, f"sheet {sheet} is empty", "put the header in row 1 of the sheet"
            )
        header = [_cell_text(v) for v in data.iloc[0].tolist()]
        names = ["" if h is None else str(h) for h in header]
        body = data.iloc[1:]
        frame = pd.DataFrame(
            {i: body.iloc[:, i].map(_cell_text) for i in range(body.shape[1])}, index=body.index
        )
        frame.columns = [n.strip().lower() for n in names]
        lines = body.index.to_numpy(dtype=np.int64) + 1
        frame, lines = _tidy(frame, lines)
        tables[table] = RawTable(
            table, f"{path.name}[{sheet}]", path, frame, lines, tuple(names), sha256=checksum
        )
    return tables


def _find_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    entries = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for table in REQUIRED_TABLES + OPTIONAL_TABLES:
        hits = [
            entries[f"{table}{ext}"]
            for ext in (".csv", ".csv.gz", ".parquet")
            if f"{table}{ext}" in entries
        ]
        if len(hits) > 1:
            raise _unreadable(
                folder,
                table,
                f"table {table} is given twice ({', '.join(p.name for p in hits)})",
                "keep one file per table",
            )
        if hits:
            found[table] = hits[0]
    return found


def read_export(path: str | Path, *, _text_only: bool = False) -> RawDataset:
    """Read an export into raw tables (text, or typed columns on the fast path).

    Parameters
    ----------
    path
        A folder holding ``<table>.csv``, ``<table>.csv.gz`` or ``<table>.parquet`` files,
        or one ``.xlsx`` workbook with a sheet per table.
    _text_only
        Private, for the tests: read every file on the text path (no typed fast path).

    Returns
    -------
    RawDataset
        The tables found, each a :class:`RawTable` of trimmed text cells or typed columns.

    Raises
    ------
    UnreadableInputError
        A missing folder or required table, a sheet or file that is empty, a file that is
        not UTF-8, a table given twice, or a path that is neither a folder nor ``.xlsx``.

    Notes
    -----
    CSV files are read with pyarrow: UTF-8 with or without a byte-order mark, comma or
    semicolon separated (whichever is more frequent in the header line), gzip-compressed
    when named ``.csv.gz``. Line numbers count the header as line 1; a blank line keeps its
    number but is not a row; a row with the wrong number of fields is recorded in
    ``malformed``. A cell holding a line break shifts the numbers of the rows after it.

    The typed fast path gives the same validation result as reading every cell as text.
    A comma-separated file is first read once with the contract's types (float64 numbers,
    ``YYYY-MM-DD`` dates, dictionary text for categories and booleans, text for the rest);
    when that read fails (a value that does not convert, a malformed row, text that is not
    UTF-8) or shows an infinite or NaN number or a date beyond datetime64[ns], the file is
    read as text (no type guessing), which explains the problems. Semicolon files are read
    as text. Parquet columns keep their types (text, dictionary → category, float64,
    integers, booleans, dates; timestamps truncated to the date); lists are joined with
    ``;`` and other types, and floats holding NaN or infinity as a value, are cast to the
    text a CSV would hold. A Parquet line number is the row index + 2. In a workbook, the
    line number is the sheet's row number and every cell is text.
    """
    root = Path(path)
    if not root.exists():
        raise _unreadable(root, None, "no such folder or file", "check the path")
    if root.is_file():
        if root.suffix.lower() != ".xlsx":
            raise _unreadable(
                root,
                None,
                "a dataset is a folder of table files or one .xlsx workbook",
                "pass the folder that holds patients.csv, episodes.csv, …",
            )
        tables = _read_xlsx(root)
        kind = "sheet"
    else:
        try:
            files = _find_files(root)
        except OSError as exc:
            raise _unreadable(
                root, None, f"the folder cannot be listed ({exc.strerror})", "check permissions"
            ) from None
        tables = {}
        for table, file in files.items():
            name = file.name.lower()
            try:
                if name.endswith(".parquet"):
                    tables[table] = (
                        _read_parquet_text(file, table)
                        if _text_only
                        else _read_parquet(file, table)
                    )
                else:
                    tables[table] = _read_csv(file, table, typed=not _text_only)
            except OSError as exc:  # permissions, a file removed while reading…
                raise _unreadable(
                    file, table, f"the file cannot be read ({exc.strerror or exc})", "check it"
                ) from None
        kind = "file"
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise _unreadable(
            root,
            missing[0],
            f"no {kind} for the required table(s) {', '.join(missing)} (found: "
            f"{', '.join(tables) or 'none'})",
            f"add {missing[0]}.csv (or a sheet named {missing[0]})",
        )
    return RawDataset(path=root, tables=tables)
