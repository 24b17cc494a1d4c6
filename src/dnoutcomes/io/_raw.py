"""The records of an export as read (:class:`RawTable`, :class:`RawDataset`), the error for
input that cannot be read, and the file checksum."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from dnoutcomes.errors import UnreadableInputError

_PROBLEM_COLUMNS = ["table", "file", "line", "column", "rule", "message"]


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
        trimmed, none empty: a Parquet dictionary column, or a Parquet text column named in
        :data:`~dnoutcomes.contract.specs.RUN_COLUMNS` whose ids come in runs).
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


def line_numbers(first: int, stop: int) -> np.ndarray:
    """The file line numbers ``first`` to ``stop - 1``, int32 when they fit (half of int64:
    74 MB for the 19M outcome rows of a million episodes, held from the read to the end of
    the checks)."""
    return np.arange(first, stop, dtype=np.int32 if stop < 2**31 else np.int64)


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


def _arrow_path(path: Path) -> Path | pa.NativeFile:
    """What pyarrow opens for ``path``: the path itself, or, when the path is not UTF-8
    (a folder named in another encoding; pyarrow refuses to encode such a path), the file
    opened by its bytes (gunzipped for ``.gz``, which pyarrow otherwise detects by name)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        handle: pa.NativeFile = pa.OSFile(os.fsencode(path))
        if path.name.lower().endswith(".gz"):
            handle = pa.CompressedInputStream(handle, "gzip")
        return handle
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
