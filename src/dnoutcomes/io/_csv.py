"""The CSV reader: header sniffing, the UTF-8 scan, the typed fast read with its fallback,
and the text read."""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from dnoutcomes.contract.specs import TABLES
from dnoutcomes.io._cells import _frame_of, _tidy_arrow, _typed_arrows
from dnoutcomes.io._raw import RawTable, _arrow_path, _sha256, _unreadable, line_numbers

_BOM = b"\xef\xbb\xbf"
_MAX_HEADER = 1 << 26  # 64 MiB: more than any header line


def _first_line(path: Path, table: str) -> tuple[str, bytes | None]:
    """The header line, and the whole file when it is that line alone without a line end.

    pyarrow cannot skip the header of a file that ends without a line break after it
    (``Could not skip initial 1 rows``): such a header-only file (a table with no rows, as
    some tools write it) is read from its bytes with the line end added, see
    :func:`_source`.
    """
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            head: bytes = fh.read(1 << 16)
            # a header of thousands of columns can be longer than the first block: read on
            # until its line ends (or the file does)
            while len(head) < _MAX_HEADER and not re.search(rb"[\r\n]", head):
                more = fh.read(1 << 20)
                if not more:
                    break
                head += more
            whole = not fh.read(1)
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
    parts = re.split(rb"\r\n|\n|\r", head, maxsplit=1)  # as pyarrow ends a line
    line = parts[0]
    try:
        return line.decode("utf-8"), head if whole and len(parts) == 1 else None
    except UnicodeDecodeError:
        raise _unreadable(
            path,
            table,
            "line 1 is not UTF-8 text",
            "save the file as UTF-8 (in Excel: Save As, 'CSV UTF-8')",
        ) from None


def _source(path: Path, header_only: bytes | None) -> Path | pa.NativeFile:
    """What pyarrow reads: the file, or a header-only file's bytes with a line end added
    (the same table, of no rows, as the file ``header\\n`` gives)."""
    return _arrow_path(path) if header_only is None else pa.BufferReader(header_only + b"\n")


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


def _block_size(columns: int) -> int:
    """The bytes pyarrow's CSV reader parses at a time, for a file of ``columns`` columns.

    Its default, 1 MiB, for ordinary tables; 2 KiB a column (at most 64 MiB) for wide
    ones. Each block becomes one chunk of every column, with a fixed cost per chunk: a
    patients file of 10,000 extra columns was read in 9 blocks of about 20 rows, which
    tripled the read's CPU time and made joining the 90,000 chunks cost as much again.
    """
    return min(max(1 << 20, columns << 11), 1 << 26)


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
    header_text, header_only = _first_line(path, table)
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
        fast = _read_csv_typed(
            _source(path, header_only), table, [f"c{i}" for i in range(len(names))], names
        )
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
        fast = _read_csv_typed(_source(path, header_only), table, internal, names)
        if fast is not None:
            return _fast_table(path, table, names, *fast, checksum=checksum)
    bad: list[tuple[int | None, int]] = []

    def handler(row: Any) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    def read(threads: bool) -> pa.Table:
        return pacsv.read_csv(
            _source(path, header_only),
            read_options=pacsv.ReadOptions(
                column_names=internal,
                skip_rows=1,
                use_threads=threads,
                encoding="utf8",
                block_size=_block_size(ncol),
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
    lines = line_numbers(2, arrow.num_rows + n_bad + 2)
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
    path: Path | pa.NativeFile, table: str, internal: list[str], names: list[str]
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
                column_names=internal,
                skip_rows=1,
                use_threads=True,
                encoding="utf8",
                block_size=_block_size(len(internal)),
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
    arrays = _typed_arrows(arrow.columns)
    if arrays is None:
        return None
    num_rows = arrow.num_rows
    del arrow
    lines = line_numbers(2, num_rows + 2)
    return _frame_of(arrays, names, lines, num_rows)
