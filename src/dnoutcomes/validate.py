"""Apply the data contract to a raw export: problems, quarantine, row accounting → Dataset.

Every check is vectorised over whole columns (pandas / NumPy; list cells and the
de-identification screen run once per *distinct* value), every problem of every table is
collected before anything is decided, and every input row ends up loaded or rejected.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dnoutcomes._frames import release_unused_memory
from dnoutcomes._loaded import build, link, rows_of
from dnoutcomes.contract.measures import MeasureRegistry, default_registry
from dnoutcomes.contract.problems import TableChecks, empty_problems
from dnoutcomes.contract.quality import quality_warnings
from dnoutcomes.contract.references import cascade, cross_checks
from dnoutcomes.contract.specs import TABLE_KEYS
from dnoutcomes.contract.tables import PreparedTable as _Table
from dnoutcomes.contract.tables import prepare_table
from dnoutcomes.dataset import Dataset
from dnoutcomes.errors import DataQualityWarning, DatasetError, RequestError
from dnoutcomes.io import (
    ParquetColumns,
    RawDataset,
    check_required,
    export_files,
    is_parquet,
    parquet_table,
    read_export,
    read_parquet_columns,
    read_table_file,
)
from dnoutcomes.protocol import Protocol

__all__ = ["Mode", "ValidationReport", "load", "validate"]

Mode = Literal["strict", "quarantine"]
_ORDER = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


def _accounting(t: dict[str, _Table], *, loaded: bool) -> pd.DataFrame:
    rows = []
    for name in _ORDER:
        if name not in t:
            continue
        tab = t[name]
        read = tab.checks.n + tab.malformed
        bad = int(tab.checks.bad.sum()) + tab.malformed
        rows.append(
            {
                "table": name,
                "read": read,
                "loaded": read - bad if loaded else 0,
                "rejected": bad if loaded else read,
                "rows_with_problems": bad,
            }
        )
    return pd.DataFrame(rows, columns=["table", "read", "loaded", "rejected", "rows_with_problems"])


def _malformed_problems(tab: _Table) -> pd.DataFrame:
    bad = tab.raw.malformed
    if bad.empty:
        return empty_problems()
    expected = len(tab.raw.columns_as_read)
    return pd.DataFrame(
        {
            "table": tab.name,
            "file": tab.raw.file,
            "line": bad["line"].where(bad["line"] > 0).astype("Int64"),
            "column": "",
            "rule": "malformed_row",
            "message": (
                f"{tab.raw.file} line "
                + bad["line"].astype(str)
                + f": the row must have {expected} fields like the header; got "
                + bad["fields"].astype(str)
                + ". Quote cells that contain the separator."
            ),
        }
    )


def _rejects(t: dict[str, _Table]) -> pd.DataFrame:
    parts = []
    for name in _ORDER:
        if name not in t:
            continue
        tab = t[name]
        reasons = tab.checks.reasons()
        rows = np.flatnonzero(tab.checks.bad)
        key = TABLE_KEYS[name]
        ids = tab.typed[key].iloc[rows].to_numpy(dtype=object) if key in tab.typed else None
        held = tab.checks.withheld.get(key)
        if ids is not None and held is not None:
            ids = ids.copy()
            ids[held[rows]] = None  # a suspect id is never shown
        parts.append(
            pd.DataFrame(
                {
                    "table": name,
                    "file": tab.raw.file,
                    "line": pd.array(tab.checks.lines[rows], dtype="Int64"),
                    "id": pd.Series(ids if ids is not None else [None] * len(rows), dtype="str"),
                    "reason": reasons.reindex(rows).fillna("rejected").to_numpy(dtype=object),
                }
            )
        )
        mal = _malformed_problems(tab)
        if len(mal):
            parts.append(
                pd.DataFrame(
                    {
                        "table": name,
                        "file": tab.raw.file,
                        "line": mal["line"],
                        "id": pd.Series([None] * len(mal), dtype="str"),
                        "reason": mal["message"],
                    }
                )
            )
    if not parts:
        return pd.DataFrame(
            {
                "table": pd.Series(dtype="str"),
                "file": pd.Series(dtype="str"),
                "line": pd.Series(dtype="Int64"),
                "id": pd.Series(dtype="str"),
                "reason": pd.Series(dtype="str"),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"table": "str", "file": "str", "id": "str", "reason": "str"})


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`validate` found.

    Attributes
    ----------
    path
        The export checked.
    mode
        ``"strict"`` or ``"quarantine"``.
    valid
        True when no problem was found.
    accounting
        One row per table: ``table``, ``read``, ``loaded``, ``rejected`` (``loaded +
        rejected == read``; in strict mode an invalid export loads nothing) and
        ``rows_with_problems`` (rows that break a rule or depend on such a row).
    problems, warnings
        ``table``, ``file``, ``line``, ``column``, ``rule``, ``message``.
    dataset
        The loaded :class:`Dataset`, or ``None`` in strict mode when the export is invalid.
    """

    path: Path
    mode: Mode
    valid: bool
    accounting: pd.DataFrame
    problems: pd.DataFrame
    warnings: pd.DataFrame
    dataset: Dataset | None

    def to_dict(self) -> dict[str, Any]:
        """The document ``dnoutcomes validate --json`` prints.

        Returns
        -------
        dict
            ``valid``, ``mode``, ``path``, ``tables`` ({table: {read, loaded, rejected,
            rows_with_problems}}), ``problems`` and ``warnings`` (lists of {table, file,
            line, column, rule, message}; ``line`` is null when unknown).
        """

        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            cols = ["table", "file", "line", "column", "rule", "message"]
            rows = [
                {str(k): v for k, v in rec.items()}
                for rec in frame[cols].astype(object).to_dict("records")
            ]
            for row in rows:
                row["line"] = None if pd.isna(row["line"]) else int(row["line"])
            return rows

        counts = ["read", "loaded", "rejected", "rows_with_problems"]
        tables = {
            str(rec["table"]): {k: int(rec[k]) for k in counts}
            for rec in self.accounting.to_dict("records")
        }
        return {
            "valid": bool(self.valid),
            "mode": self.mode,
            "path": str(self.path),
            "tables": tables,
            "problems": records(self.problems),
            "warnings": records(self.warnings),
        }


def _check_args(
    mode: str, registry: MeasureRegistry | None, protocol: Protocol | None = None
) -> MeasureRegistry:
    if protocol is not None and not isinstance(protocol, Protocol):
        raise RequestError(
            "protocol must be a Protocol (e.g. Protocol.from_toml('study.toml')); got "
            f"{type(protocol).__name__}."
        )
    if mode not in ("strict", "quarantine"):
        raise RequestError(
            f"mode must be 'strict' or 'quarantine'; got {mode!r}. Leave it out for strict, or "
            "use mode='quarantine' to load the valid rows."
        )
    if registry is not None and not isinstance(registry, MeasureRegistry):
        raise RequestError(
            "registry must be a MeasureRegistry (e.g. default_registry().with_measure(...)); "
            f"got {type(registry).__name__}."
        )
    if protocol is not None:  # its declared measures extend (or redefine) the registry's
        return protocol.registry(registry)
    return registry if registry is not None else default_registry()


def validate_export(
    raw: RawDataset,
    *,
    mode: Mode = "strict",
    registry: MeasureRegistry | None = None,
    protocol: Protocol | None = None,
    allow_columns: Collection[str] = (),
) -> ValidationReport:
    """Validate an export already read by :func:`dnoutcomes.io.read_export`.

    See :func:`validate` for parameters and results.
    """
    reg = _check_args(mode, registry, protocol)
    allow = _allowed(allow_columns, protocol)
    release_unused_memory()  # the Arrow tables the reader read the files into
    tables = {
        name: prepare_table(raw.tables[name], reg, allow_columns=allow)
        for name in _ORDER
        if name in raw.tables
    }
    path = raw.path
    del raw  # the read frames live on in ``tables`` only, to be let go in build()
    return _validated(path, tables, mode, reg)


#: From this many bytes of table files, Parquet files are read on a second thread.
_THREADED_BYTES = 64 << 20


def _read_and_prepare(
    files: dict[str, Path], registry: MeasureRegistry, allow: tuple[str, ...]
) -> dict[str, _Table]:
    """Read each table file and apply the table's own rules.

    In a large export the Parquet files' Arrow stage (decode, trim, types:
    :func:`~dnoutcomes.io.read_parquet_columns`, which releases the GIL and allocates only
    Arrow memory) runs on a second thread, one table ahead of the main thread, which turns
    each table into pandas columns and applies its rules. The largest file goes first, so
    that what overlaps is the next table's decoding with the largest table's checks (the
    other way round, the outcomes' 0.8 GiB of decoded columns would wait beside the
    sessions' checks). Only Arrow memory is made on the second thread: NumPy arrays made
    there stay in that thread's ``malloc`` arena (glibc), where the main thread cannot
    reuse them (``analyze`` after a load with every step on two threads peaked 0.2 GiB
    higher at a million episodes).

    A read error is raised for the first broken table in the contract's table order, as
    the sequential reader does: the tables before it are still read, those after it not.
    """
    order = [n for n in _ORDER if n in files] + [n for n in files if n not in _ORDER]

    def arrow_stage(table: str) -> ParquetColumns | None:
        file = files[table]
        return read_parquet_columns(table, file) if is_parquet(file) else None

    def rest(table: str, columns: ParquetColumns | None) -> _Table:
        raw = read_table_file(table, files[table]) if columns is None else parquet_table(columns)
        return prepare_table(raw, registry, allow_columns=allow)

    if sum(_size(files[n]) for n in order) < _THREADED_BYTES:
        return {n: rest(n, arrow_stage(n)) for n in order}
    rank = {n: i for i, n in enumerate(order)}
    largest_first = sorted(order, key=lambda n: -_size(files[n]))
    done: dict[str, _Table] = {}
    failed: tuple[str, Exception] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dnoutcomes-read") as pool:
        ahead = pool.submit(arrow_stage, largest_first[0])
        for i, table in enumerate(largest_first):
            current = ahead
            if i + 1 < len(largest_first):
                ahead = pool.submit(arrow_stage, largest_first[i + 1])
            if failed is not None and rank[table] > rank[failed[0]]:
                current.cancel()
                continue  # after the broken table: not needed
            try:
                done[table] = rest(table, current.result())
            except Exception as exc:  # re-raised below, in table order
                if failed is None or rank[table] < rank[failed[0]]:
                    failed = (table, exc)
    if failed is not None:
        raise failed[1]
    return {n: done[n] for n in order}


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:  # reported by the reader, with the file named
        return 0


def _validated(
    path: Path, tables: dict[str, _Table], mode: Mode, reg: MeasureRegistry
) -> ValidationReport:
    """The cross-table rules, quarantine and the Dataset, from the prepared tables."""
    release_unused_memory()  # the files' Arrow tables, freed by the reader
    keys = cross_checks(tables)
    row_problems = pd.concat(
        [tables[n].checks.frame() for n in tables]
        + [_malformed_problems(tables[n]) for n in tables],
        ignore_index=True,
    )
    problems = _sort(row_problems)
    valid = problems.empty
    cascade(tables, record=mode == "quarantine")
    if mode == "quarantine":
        problems = _sort(
            pd.concat(
                [tables[n].checks.frame() for n in tables]
                + [_malformed_problems(tables[n]) for n in tables],
                ignore_index=True,
            )
        )
    frames, links, kept = build(tables, keys)
    del keys
    release_unused_memory()  # the cross-table codes
    warn = quality_warnings(
        frames,
        {n: rows_of(tables[n].checks.lines, kept[n]) for n in tables},
        {n: tables[n].raw.file for n in tables},
        links=links,
    )
    warn = _with_quasi(warn, tables)
    loads = valid or mode == "quarantine"
    accounting = _accounting(tables, loaded=loads)
    dataset = None
    if loads:
        dataset = Dataset(
            patients=frames["patients"],
            episodes=frames["episodes"],
            sessions=frames["sessions"],
            outcomes=frames["outcomes"],
            adverse_events=frames.get("adverse_events"),
            registry=reg,
            rejects=_rejects(tables) if mode == "quarantine" else _rejects({}),
            problems=problems,
            warnings=warn,
            accounting=accounting[["table", "read", "loaded", "rejected"]],
            sources={n: str(tables[n].raw.path) for n in tables},
            sha256={n: tables[n].raw.sha256 for n in tables},
            path=path,
            mode=mode,
            outcomes_form="wide" if tables["outcomes"].source_columns is not None else "long",
        )
        dataset._seed_codes(
            session_episode=links.session_episode,
            outcome_episode=links.outcome_episode,
            outcome_measure=links.outcome_measure,
            event_session=(
                link(tables, kept, "adverse_events", "session_id", "sessions")
                if "adverse_events" in tables and "session_id" in tables["adverse_events"].refs
                else None
            ),
        )
    # emptied, not only dropped: the caller's name for the same dict must not keep the
    # checks' arrays (1M episodes: 0.7 GiB) alive past the release below
    tables.clear()
    del tables, frames, links, kept
    release_unused_memory()  # what only the checks needed
    return ValidationReport(path, mode, valid, accounting, problems, warn, dataset)


def _with_quasi(warn: pd.DataFrame, tables: dict[str, _Table]) -> pd.DataFrame:
    """The quality warnings and the quasi-identifier warnings of the rows that load."""
    parts = []
    span = _episode_years(tables)
    for name in _ORDER:
        tab = tables.get(name)
        if tab is None or tab.quasi is None:
            continue
        _birth_dates(tab, tab.quasi, span)
        found = tab.quasi.frame()
        if found.empty:
            continue
        kept_lines = tab.checks.lines[~tab.checks.bad]
        parts.append(found[found["line"].isin(kept_lines).to_numpy(dtype=bool)])
    if not parts:
        return warn
    return _sort(pd.concat([warn, *parts], ignore_index=True))


#: Ages, in years, between which a full date reads as a date of birth of a patient.
BIRTH_AGES = (18, 110)


def _episode_years(tables: dict[str, _Table]) -> tuple[float, float] | None:
    """The first and last year of the episodes' start dates (rows that load), or None."""
    tab = tables.get("episodes")
    if tab is None or "start_date" not in tab.typed:
        return None
    start = pd.to_datetime(tab.typed["start_date"], errors="coerce")[~tab.checks.bad]
    years = start.dt.year.dropna()
    return (float(years.min()), float(years.max())) if len(years) else None


def _birth_dates(tab: _Table, quasi: TableChecks, span: tuple[float, float] | None) -> None:
    """Warn, on ``quasi`` (the table's quasi-identifier checks), of extra columns of full
    dates that read as dates of birth: the column's name hints a birth date, or at least
    80 % of its dates fall in years 18 to 110 before the episodes (from the first start
    year - 110 to the last - 18); the cells so dated are named, never shown."""
    for col, (dated, year, hinted) in tab.birth_dates.items():
        if hinted:
            hit = dated
        elif span is None:
            continue
        else:
            with np.errstate(invalid="ignore"):
                hit = dated & (year >= span[0] - BIRTH_AGES[1]) & (year <= span[1] - BIRTH_AGES[0])
            if hit.sum() < 0.8 * dated.sum():
                continue
        if hit.any():
            quasi.add(
                hit,
                col,
                "quasi_identifier",
                "the column holds full dates that read as dates of birth (a birth column "
                f"name, or dates {BIRTH_AGES[0]} to {BIRTH_AGES[1]} years before the "
                "episodes), which with other facts can identify a person (value not shown)",
                None,
                fix="Keep only the year of birth or an age band, or remove the column.",
                reject=False,
            )


def _allowed(allow_columns: Collection[str], protocol: Protocol | None) -> tuple[str, ...]:
    """The screen's allowed column names: the caller's and the protocol's ``allow_columns``."""
    names = _check_allow(allow_columns)
    if protocol is not None:
        names += tuple(n for n in protocol.allow_columns if n not in names)
    return names


def _check_allow(allow_columns: Collection[str]) -> tuple[str, ...]:
    if isinstance(allow_columns, str):
        allow_columns = [allow_columns]
    try:
        names = tuple(allow_columns)
    except TypeError:
        raise RequestError(
            "allow_columns must be a list of column names (e.g. ['clinic_name']); got "
            f"{type(allow_columns).__name__}."
        ) from None
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise RequestError(
            f"allow_columns must hold column names (text); got {type(bad[0]).__name__}. "
            "List the names as text, e.g. ['clinic_name']."
        )
    return names


def _sort(problems: pd.DataFrame) -> pd.DataFrame:
    if problems.empty:
        return empty_problems()
    order = {n: i for i, n in enumerate(_ORDER)}
    key = problems["table"].map(order)
    out = problems.assign(_t=key.to_numpy()).sort_values(
        ["_t", "line", "column"], kind="stable", na_position="first"
    )
    return (
        out.drop(columns="_t")
        .reset_index(drop=True)
        .astype(
            {
                "table": "str",
                "file": "str",
                "line": "Int64",
                "column": "str",
                "rule": "str",
                "message": "str",
            }
        )
    )


def validate(
    path: str | Path,
    *,
    mode: Mode = "strict",
    registry: MeasureRegistry | None = None,
    protocol: Protocol | None = None,
    allow_columns: Collection[str] = (),
    follow_symlinks: bool = False,
) -> ValidationReport:
    """Check an export against the data contract without raising for bad data.

    Parameters
    ----------
    path
        A folder of ``<table>.csv`` / ``.csv.gz`` / ``.parquet`` files, or one ``.xlsx``.
    mode
        ``"strict"``: an export with any problem loads nothing. ``"quarantine"``: valid rows
        load; invalid rows and the rows that depend on them are rejected.
    registry
        The measures allowed in outcomes (default: :func:`default_registry`).
    protocol
        A study protocol whose declared measures extend ``registry`` (ranges included);
        see :meth:`dnoutcomes.protocol.Protocol.registry`.
    allow_columns
        Column names (case-insensitive) that the identifier screen of column names lets
        through, for a column a clinic knows to be safe (added to the protocol's
        ``allow_columns``); the values in them are still screened. See ``docs/validation.md``.
    follow_symlinks
        Read table files that are symbolic links (refused by default).

    Returns
    -------
    ValidationReport
        ``valid``, ``accounting``, ``problems``, ``warnings`` and the ``dataset`` (or None).

    Raises
    ------
    UnreadableInputError
        The export cannot be read at all (missing folder, table or sheet; empty file; not
        UTF-8).
    RequestError
        An unknown ``mode``, a ``registry`` or ``protocol`` of the wrong type, or
        ``allow_columns`` that is not a list of names.

    Notes
    -----
    The rules are listed in ``docs/validation.md``.

    Examples
    --------
    >>> import tempfile
    >>> import dnoutcomes
    >>> from dnoutcomes.sample import generate
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = generate(episodes=300, seed=1).write(tmp)
    ...     report = dnoutcomes.validate(folder)
    >>> report.valid, len(report.problems)
    (True, 0)
    """
    reg = _check_args(mode, registry, protocol)
    allow = _allowed(allow_columns, protocol)
    root = Path(path)
    if not root.is_dir():  # a workbook, or a path that is neither: the reader says which
        return validate_export(
            read_export(path, follow_symlinks=follow_symlinks),
            mode=mode,
            registry=registry,
            protocol=protocol,
            allow_columns=allow,
        )
    files = export_files(root, follow_symlinks=follow_symlinks)
    tables = _read_and_prepare(files, reg, allow)
    check_required(root, tables)
    return _validated(root, tables, mode, reg)


def load(
    path: str | Path,
    *,
    mode: Mode = "strict",
    registry: MeasureRegistry | None = None,
    protocol: Protocol | None = None,
    allow_columns: Collection[str] = (),
    follow_symlinks: bool = False,
) -> Dataset:
    """Load a clinic export into a :class:`Dataset`, enforcing the data contract.

    Parameters
    ----------
    path
        A folder of ``<table>.csv`` / ``.csv.gz`` / ``.parquet`` files, or one ``.xlsx``
        workbook with one sheet per table.
    mode
        ``"strict"`` (default): any problem raises and nothing loads. ``"quarantine"``:
        valid rows load; invalid rows, and rows that depend on a rejected row, go to
        ``Dataset.rejects`` with the reason.
    registry
        The measures allowed in outcomes (default: the contract's twelve).
    protocol
        A study protocol whose declared measures extend ``registry`` (ranges included).
    allow_columns
        Column names (case-insensitive) that the identifier screen of column names lets
        through (values in them are still screened); see ``docs/validation.md``.
    follow_symlinks
        Read table files that are symbolic links (refused by default: a link can point
        at any file of the machine).

    Returns
    -------
    Dataset
        Typed frames, derived columns, ``problems``, ``warnings``, ``rejects`` and
        ``accounting`` (``loaded + rejected == read`` for every table).

    Raises
    ------
    DatasetError
        Strict mode, when any rule of the contract is broken; ``.problems`` lists every
        problem (table, file, line, column, rule, message).
    UnreadableInputError
        The export cannot be read (missing folder, table or sheet; empty file; not UTF-8).
    RequestError
        An unknown ``mode``, or a ``registry`` or ``protocol`` of the wrong type.

    Warns
    -----
    DataQualityWarning
        Once, summarising ``Dataset.warnings``, when there are any.

    Notes
    -----
    Empty cells are "not recorded": NA in optional columns, an error in required ones.

    Examples
    --------
    >>> import tempfile
    >>> import dnoutcomes
    >>> from dnoutcomes.sample import generate
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = generate(episodes=300, seed=1).write(tmp)
    ...     dataset = dnoutcomes.load(folder)
    >>> dataset.accounting.set_index("table").loc["episodes", ["read", "loaded"]].tolist()
    [300, 300]
    """
    report = validate(
        path,
        mode=mode,
        registry=registry,
        protocol=protocol,
        allow_columns=allow_columns,
        follow_symlinks=follow_symlinks,
    )
    if report.dataset is None:
        n = len(report.problems)
        first = "\n".join("  " + m for m in report.problems["message"].head(5))
        more = f"\n  … and {n - 5} more" if n > 5 else ""
        raise DatasetError(
            f"The export at {report.path} breaks the data contract ({n} problem"
            f"{'s' if n != 1 else ''}); nothing was loaded:\n{first}{more}\n"
            "See the .problems frame of this error, run `dnoutcomes validate` for the full "
            "list, or load with mode='quarantine' to load the valid rows.",
            problems=report.problems,
        )
    ds = report.dataset
    if len(ds.warnings):
        counts = ds.warnings["rule"].value_counts()
        what = ", ".join(f"{k} ×{v}" for k, v in counts.items())
        warnings.warn(
            f"{len(ds.warnings)} data-quality warnings in {report.path} ({what}); see "
            "Dataset.warnings. They do not stop the analysis.",
            DataQualityWarning,
            stacklevel=2,
        )
    return ds
