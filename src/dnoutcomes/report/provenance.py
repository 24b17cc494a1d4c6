"""Where a report came from: package version, SHA-256 of every input file, parameters and
the run time.

The run time is a parameter, never read from the clock inside the report code, so the same
inputs and the same ``--run-time`` give a byte-identical report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dnoutcomes.errors import RequestError, UnreadableInputError

__all__ = [
    "InputFile",
    "Provenance",
    "describe_inputs",
    "make_provenance",
    "parse_run_time",
    "sha256_file",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """One input file: the table it holds, its name, size and SHA-256 digest."""

    table: str
    file: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """The facts needed to reproduce a report.

    Parameters
    ----------
    package_version
        ``dnoutcomes.__version__`` of the run.
    run_time
        The run time as an ISO 8601 string in UTC (``2025-10-01T09:00:00+00:00``).
    inputs
        One :class:`InputFile` per file read, sorted by table then file name.
    parameters
        ``(name, value)`` pairs of every option that shaped the report, values as text.
    """

    package_version: str
    run_time: str
    inputs: tuple[InputFile, ...] = field(default_factory=tuple)
    parameters: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def inputs_frame(self) -> pd.DataFrame:
        """The input files as a frame.

        Returns
        -------
        pandas.DataFrame
            Columns ``table``, ``file`` (the file name, without its folder),
            ``size_bytes`` and ``sha256`` (64 lower-case hex digits).
        """
        return pd.DataFrame(
            {
                "table": [f.table for f in self.inputs],
                "file": [f.file for f in self.inputs],
                "size_bytes": pd.Series([f.size_bytes for f in self.inputs], dtype="int64"),
                "sha256": [f.sha256 for f in self.inputs],
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The provenance as plain JSON values."""
        return {
            "package_version": self.package_version,
            "run_time": self.run_time,
            "inputs": [
                {"table": f.table, "file": f.file, "size_bytes": f.size_bytes, "sha256": f.sha256}
                for f in self.inputs
            ],
            "parameters": dict(self.parameters),
        }


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as 64 lower-case hex digits.

    Parameters
    ----------
    path
        The file; read in 1 MiB chunks.

    Returns
    -------
    str

    Raises
    ------
    UnreadableInputError
        When the file cannot be opened.
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise UnreadableInputError(
            f"{path}: cannot be read to compute its SHA-256 ({exc.strerror}); expected a "
            "readable file. Check the path and its permissions."
        ) from None
    return digest.hexdigest()


def describe_inputs(sources: Mapping[str, str | os.PathLike[str]]) -> tuple[InputFile, ...]:
    """Size and SHA-256 of every input file.

    Parameters
    ----------
    sources
        ``{table: path}``. Several tables may share one file (the sheets of a workbook);
        such a file is listed once per table.

    Returns
    -------
    tuple of InputFile
        Sorted by table, then file name.
    """
    digests: dict[Path, tuple[int, str]] = {}
    files = []
    for table, raw_path in sources.items():
        path = Path(raw_path)
        if path not in digests:
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise UnreadableInputError(
                    f"{path}: cannot be read ({exc.strerror}); expected the input file of "
                    f"table {table}. Check the path."
                ) from None
            digests[path] = (size, sha256_file(path))
        size, digest = digests[path]
        files.append(InputFile(table=table, file=path.name, size_bytes=size, sha256=digest))
    return tuple(sorted(files, key=lambda f: (f.table, f.file)))


def parse_run_time(text: str | dt.datetime | None) -> str:
    """Normalise a run time to ISO 8601 in UTC.

    Parameters
    ----------
    text
        An ISO 8601 date-time (``2025-10-01T09:00:00Z``, ``2025-10-01 09:00+02:00``, or a
        plain date ``2025-10-01``), a :class:`datetime.datetime`, or ``None`` for now.

    Returns
    -------
    str
        ``YYYY-MM-DDTHH:MM:SS+00:00``. A time without an offset is taken as UTC; seconds
        are kept, fractions dropped.

    Raises
    ------
    RequestError
        When the text is not an ISO 8601 date-time.
    """
    if text is None:
        moment = dt.datetime.now(dt.UTC)
    elif isinstance(text, dt.datetime):
        moment = text
    else:
        try:
            moment = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise RequestError(
                f"--run-time: expected an ISO 8601 date-time such as 2025-10-01T09:00:00Z; "
                f"got {text!r}. Give the date and time of the run in that form."
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def make_provenance(
    sources: Mapping[str, str | os.PathLike[str]],
    *,
    parameters: Mapping[str, object],
    run_time: str | dt.datetime | None,
) -> Provenance:
    """Collect the provenance of a report.

    Parameters
    ----------
    sources
        ``{table: path}`` of the files read.
    parameters
        The options that shaped the report; values are written with ``str`` (``None``
        becomes ``"none"``), keys sorted.
    run_time
        See :func:`parse_run_time`.

    Returns
    -------
    Provenance
    """
    from dnoutcomes import __version__

    params = tuple(
        (str(key), "none" if value is None else str(value))
        for key, value in sorted(parameters.items())
    )
    return Provenance(
        package_version=__version__,
        run_time=parse_run_time(run_time),
        inputs=describe_inputs(sources),
        parameters=params,
    )
