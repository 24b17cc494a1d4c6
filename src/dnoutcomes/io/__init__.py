"""Read a clinic export (a folder of CSV / CSV.gz / Parquet files, or one ``.xlsx``
workbook) into raw frames, one per table, with the file line number of every row.

Nothing here applies a contract rule: a cell arrives as text (trimmed, missing when empty),
or, from a typed Parquet column or a clean comma-separated CSV file, as the number, date,
boolean or category it already is (the *typed fast path*); column names are lower-cased and
trimmed. :mod:`dnoutcomes.validate` applies the contract.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from dnoutcomes.contract.specs import OPTIONAL_TABLES, REQUIRED_TABLES
from dnoutcomes.io._csv import _read_csv
from dnoutcomes.io._parquet import (
    ParquetColumns,
    _read_parquet,
    _read_parquet_text,
    parquet_columns,
    parquet_table,
)
from dnoutcomes.io._raw import RawDataset, RawTable, _unreadable
from dnoutcomes.io._xlsx import _read_xlsx

__all__ = [
    "RawDataset",
    "RawTable",
    "ParquetColumns",
    "check_required",
    "export_files",
    "is_parquet",
    "parquet_table",
    "read_export",
    "read_files",
    "read_parquet_columns",
    "read_table_file",
]


def _find_files(folder: Path, *, follow_symlinks: bool = False) -> dict[str, Path]:
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
            if hits[0].is_symlink() and not follow_symlinks:
                # the link's target is not named: it can be any file of the machine
                raise _unreadable(
                    hits[0],
                    table,
                    "the table file is a symbolic link, which is not followed (it could "
                    "point at any file of this computer)",
                    "copy the file into the export folder, or pass --follow-symlinks "
                    "(follow_symlinks=True) if the link is meant",
                )
            found[table] = hits[0]
    return found


def read_export(
    path: str | Path, *, follow_symlinks: bool = False, _text_only: bool = False
) -> RawDataset:
    """Read an export into raw tables (text, or typed columns on the fast path).

    Parameters
    ----------
    path
        A folder holding ``<table>.csv``, ``<table>.csv.gz`` or ``<table>.parquet`` files,
        or one ``.xlsx`` workbook with a sheet per table.
    follow_symlinks
        Read a table file that is a symbolic link (by default such a file is refused).
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
        not UTF-8, a table given twice, a table file that is a symbolic link (unless
        ``follow_symlinks``), or a path that is neither a folder nor ``.xlsx``.

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
        files = export_files(root, follow_symlinks=follow_symlinks)
        tables = _read_files(files, _text_only=_text_only)
        kind = "file"
    check_required(root, tables, kind)
    return RawDataset(path=root, tables=tables)


def export_files(root: Path, *, follow_symlinks: bool = False) -> dict[str, Path]:
    """The table files of an export folder, by table (no file read yet).

    Raises
    ------
    UnreadableInputError
        The folder cannot be listed, a table is given twice, or a table file is a symbolic
        link (unless ``follow_symlinks``).
    """
    try:
        return _find_files(root, follow_symlinks=follow_symlinks)
    except OSError as exc:
        raise _unreadable(
            root, None, f"the folder cannot be listed ({exc.strerror})", "check permissions"
        ) from None


def check_required(root: Path, tables: Collection[str], kind: str = "file") -> None:
    """Raise :class:`~dnoutcomes.errors.UnreadableInputError` naming the required tables
    missing from ``tables`` (``kind``: ``"file"`` or ``"sheet"``, for the message)."""
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise _unreadable(
            root,
            missing[0],
            f"no {kind} for the required table(s) {', '.join(missing)} (found: "
            f"{', '.join(tables) or 'none'})",
            f"add {missing[0]}.csv (or a sheet named {missing[0]})",
        )


def is_parquet(file: Path) -> bool:
    """Whether a table file is read as Parquet (by its name; anything else is CSV)."""
    return file.name.lower().endswith(".parquet")


@contextmanager
def _file_errors(file: Path, table: str) -> Iterator[None]:
    """Turn an operating-system error while reading ``file`` into the unreadable-input
    error that names it."""
    try:
        yield
    except OSError as exc:  # permissions, a file removed while reading…
        raise _unreadable(
            file, table, f"the file cannot be read ({exc.strerror or exc})", "check it"
        ) from None


def read_table_file(table: str, file: Path, *, _text_only: bool = False) -> RawTable:
    """Read one table file (``.parquet``, else CSV, gzip-compressed when ``.csv.gz``).

    Raises
    ------
    UnreadableInputError
        The file cannot be read (named in the message with the reason).
    """
    with _file_errors(file, table):
        if is_parquet(file):
            return _read_parquet_text(file, table) if _text_only else _read_parquet(file, table)
        return _read_csv(file, table, typed=not _text_only)


def read_parquet_columns(table: str, file: Path) -> ParquetColumns:
    """The Arrow stage of reading a Parquet table file (:func:`parquet_columns`); finish
    it with :func:`parquet_table`. Arrow memory only, so it can run on another thread.

    Raises
    ------
    UnreadableInputError
        The file cannot be read (named in the message with the reason).
    """
    with _file_errors(file, table):
        return parquet_columns(file, table)


def _read_files(files: dict[str, Path], *, _text_only: bool = False) -> dict[str, RawTable]:
    """Read named table files (``.parquet``, else CSV) into raw tables."""
    return {
        table: read_table_file(table, file, _text_only=_text_only) for table, file in files.items()
    }


def read_files(root: str | Path, files: dict[str, Path]) -> RawDataset:
    """Read an export whose tables are named files (not ``<table>.csv`` in one folder).

    Parameters
    ----------
    root
        What the export is called in messages and provenance (e.g. a partition's name).
    files
        Table name → its file (``.parquet``, ``.csv`` or ``.csv.gz``); the required tables
        must be present.

    Returns
    -------
    RawDataset
        As :func:`read_export`.

    Raises
    ------
    UnreadableInputError
        A required table missing, or a file that cannot be read (the file is named).
    """
    missing = [t for t in REQUIRED_TABLES if t not in files]
    if missing:
        raise _unreadable(
            Path(root),
            missing[0],
            f"no file for the required table(s) {', '.join(missing)} (found: "
            f"{', '.join(files) or 'none'})",
            f"add the {missing[0]} file of this partition",
        )
    return RawDataset(path=Path(root), tables=_read_files(files))
