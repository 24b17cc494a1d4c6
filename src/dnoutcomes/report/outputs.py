"""Outputs never touch inputs: the checks ``dnoutcomes report`` runs on its output paths
before it reads a single row.

An output is refused (a :class:`~dnoutcomes.errors.RequestError`, exit 2) when it

* is a folder;
* is the input workbook, or any file inside the input folder whose name is one of the
  export's table files (``patients.csv``, ``episodes.parquet``…, whether or not that file
  exists yet: writing it would change the export the next run reads), or the protocol file;
* is the same file as another output;
* lies in a folder that does not exist or cannot be written to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dnoutcomes.contract.specs import OPTIONAL_TABLES, REQUIRED_TABLES
from dnoutcomes.errors import RequestError

__all__ = ["TABLE_FILE_SUFFIXES", "check_outputs", "input_table_names"]

#: File endings the export reader accepts for a table (see :mod:`dnoutcomes.io`).
TABLE_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")


def input_table_names() -> frozenset[str]:
    """Every file name (lower case) the export reader would read as a table.

    Examples
    --------
    >>> "patients.csv" in input_table_names()
    True
    """
    return frozenset(
        f"{table}{suffix}"
        for table in (*REQUIRED_TABLES, *OPTIONAL_TABLES)
        for suffix in TABLE_FILE_SUFFIXES
    )


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(
    input_path: str | os.PathLike[str],
    outputs: Mapping[str, str | os.PathLike[str] | None],
    *,
    protocol: str | os.PathLike[str] | None = None,
) -> None:
    """Refuse output paths that would overwrite an input, each other, or cannot be written.

    Parameters
    ----------
    input_path
        The export folder or workbook.
    outputs
        ``{option: path}`` (``{"--out": "report.html", "--xlsx": None}``); ``None`` is skipped.
    protocol
        The protocol file, if any (an input too).

    Returns
    -------
    None

    Raises
    ------
    RequestError
        Naming the option, the path and what it would overwrite.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> check_outputs(folder, {"--out": folder / "patients.csv"})
    Traceback (most recent call last):
    ...
    dnoutcomes.errors.RequestError: --out ...patients.csv: ...
    """
    source = Path(input_path).resolve()
    names = input_table_names()
    seen: dict[Path, str] = {}
    inputs = [source] + ([Path(protocol).resolve()] if protocol is not None else [])
    for option, value in outputs.items():
        if value is None:
            continue
        path = Path(value).resolve()
        if path.is_dir():
            raise RequestError(
                f"{option} {value}: is a folder; expected a file name. Add a file name "
                "(report.html) to the path."
            )
        for item in inputs:
            if _same(path, item):
                raise RequestError(
                    f"{option} {value}: is an input of this run ({item}); writing it would "
                    "destroy the input. Choose another file name."
                )
        if source.is_dir() and path.parent == source and path.name.lower() in names:
            raise RequestError(
                f"{option} {value}: is a table file of the export folder {source} "
                f"({path.name}); writing it would change the export. Write the report "
                "outside the export folder or under another name."
            )
        for other, option_other in seen.items():
            if _same(path, other):
                raise RequestError(
                    f"{option} {value}: is the same file as {option_other}; expected a "
                    "different file for each output. Choose distinct file names."
                )
        seen[path] = option
        folder = path.parent
        if not folder.is_dir():
            raise RequestError(
                f"{option} {value}: the folder {folder} does not exist; expected an existing "
                "folder. Create it first or choose another path."
            )
        if not os.access(folder, os.W_OK | os.X_OK):
            raise RequestError(
                f"{option} {value}: the folder {folder} cannot be written to; expected a "
                "writable folder. Choose another path or fix its permissions."
            )
        if path.exists() and not os.access(path, os.W_OK):
            raise RequestError(
                f"{option} {value}: the file exists and cannot be written to; expected a "
                "writable file. Choose another path or fix its permissions."
            )
