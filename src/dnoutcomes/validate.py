"""Apply the data contract to a raw export: problems, quarantine, row accounting → Dataset.

Every check is vectorised over whole columns (pandas / NumPy; list cells and the
de-identification screen run once per *distinct* value), every problem of every table is
collected before anything is decided, and every input row ends up loaded or rejected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from dnoutcomes.contract.deid import identifier_column
from dnoutcomes.contract.measures import MeasureRegistry, default_registry
from dnoutcomes.contract.parse import TableChecks, empty_problems, parse_column, screen_values
from dnoutcomes.contract.quality import quality_warnings
from dnoutcomes.contract.specs import OUTCOME_ID_COLUMNS, TABLE_KEYS, TABLES
from dnoutcomes.dataset import Dataset, chronicity, derive_arms
from dnoutcomes.errors import DataQualityWarning, DatasetError, RequestError
from dnoutcomes.io import RawDataset, RawTable, read_export

__all__ = ["Mode", "ValidationReport", "load", "validate"]

Mode = Literal["strict", "quarantine"]
_ORDER = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


@dataclass
class _Table:
    """Working state of one table during validation."""

    name: str
    raw: RawTable
    checks: TableChecks
    text: pd.DataFrame  # the raw text columns used (long form for outcomes)
    typed: pd.DataFrame
    extras: list[str]
    malformed: int
    source_columns: np.ndarray | None = None  # wide outcomes: input column of each row


def _wide_to_long(
    raw: RawTable, frame: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Melt a wide outcomes table: one long row per non-empty measure cell, in file order."""
    ids = [c for c in OUTCOME_ID_COLUMNS if c in frame.columns]
    measures = [c for c in frame.columns if c not in OUTCOME_ID_COLUMNS]
    n, m = len(frame), len(measures)
    values = frame[measures].to_numpy(dtype=object).reshape(-1) if m else np.array([], object)
    filled = pd.notna(values)
    row = np.repeat(np.arange(n), m)[filled]
    col = np.tile(np.array(measures, dtype=object), n)[filled] if m else np.array([], object)
    long = pd.DataFrame({c: frame[c].to_numpy(dtype=object)[row] for c in ids})
    long["measure"] = col
    long["value"] = values[filled]
    long = long.astype("str")
    return long, raw.lines[row], col.astype(object), measures


def _prepare(raw: RawTable, registry: MeasureRegistry) -> _Table:
    """Screen the header, reshape wide outcomes, parse every contract column."""
    name = raw.name
    frame = raw.frame
    specs = TABLES[name]
    contract_cols = [s.name for s in specs]
    header_notes: list[tuple[str, str, str, bool]] = []

    cols = list(frame.columns)
    seen: set[str] = set()
    keep: list[int] = []
    for i, col in enumerate(cols):
        if col in seen:
            header_notes.append(
                (
                    col,
                    "duplicate_column",
                    f"the column {col} appears twice; keep one column of that name",
                    True,
                )
            )
            continue
        seen.add(col)
        if identifier_column(col):
            header_notes.append(
                (
                    col,
                    "identifier_column",
                    "this column name means a direct identifier (names, contact details, record "
                    "or account numbers, birth dates…); the package accepts only de-identified "
                    "data. Remove the column from the export",
                    True,
                )
            )
            continue
        keep.append(i)
    frame = frame.iloc[:, keep]
    lines = raw.lines
    source_columns: np.ndarray | None = None
    wide = name == "outcomes" and "measure" not in frame.columns and "value" not in frame.columns
    if wide:
        frame, lines, source_columns, measures = _wide_to_long(raw, frame)
        for col in measures:
            if col not in registry:
                header_notes.append(
                    (
                        col,
                        "unknown_measure",
                        f"a wide outcomes file holds one column per measure, and {col} is not "
                        f"a measure of the registry ({', '.join(registry)}); rename the column "
                        "or register the measure",
                        False,
                    )
                )
    checks = TableChecks(name, raw.file, lines)
    for col, rule, message, reject_all in header_notes:
        checks.add_header(col, rule, message + ".", reject_all=reject_all)
    present = set(frame.columns)
    for spec in specs:
        if spec.required and spec.name not in present:
            existing = ", ".join(map(str, raw.columns_as_read)) or "none"
            checks.add_header(
                spec.name,
                "missing_column",
                f"the required column {spec.name} is missing (the columns are: {existing}). "
                "Add it, or rename the column that holds it.",
                reject_all=True,
            )
    screen_values(
        checks, frame, {"value": source_columns} if wide and source_columns is not None else None
    )

    decimal_comma = raw.delimiter == ";"
    typed: dict[str, Any] = {}
    for spec in specs:
        if name == "outcomes" and spec.name in ("measure", "value"):
            continue
        col = frame[spec.name] if spec.name in present else None
        if col is None and spec.required:
            col = pd.Series(pd.array([None] * checks.n, dtype="str"))
            parsed = parse_column(
                TableChecks(name, raw.file, lines), spec, col, decimal_comma=decimal_comma
            )
        else:
            parsed = parse_column(checks, spec, col, decimal_comma=decimal_comma)
        typed.update(parsed)
    if name == "outcomes":
        typed.update(_outcome_values(checks, frame, source_columns, registry, decimal_comma))
    extras = [c for c in frame.columns if c not in contract_cols]
    typed_frame = pd.DataFrame(typed, index=pd.RangeIndex(checks.n))
    for col in extras:
        typed_frame[col] = frame[col].astype("str").to_numpy()
    return _Table(name, raw, checks, frame, typed_frame, extras, len(raw.malformed), source_columns)


def _outcome_values(
    checks: TableChecks,
    frame: pd.DataFrame,
    source_columns: np.ndarray | None,
    registry: MeasureRegistry,
    decimal_comma: bool,
) -> dict[str, Any]:
    """Check measure names against the registry, and each value against its measure."""
    n = checks.n
    measure_raw = (
        frame["measure"]
        if "measure" in frame.columns
        else pd.Series(pd.array([None] * n, dtype="str"))
    )
    value_raw = (
        frame["value"]
        if "value" in frame.columns
        else pd.Series(pd.array([None] * n, dtype="str"), name="value")
    )
    value_raw = value_raw.rename("value")
    where_m: str | np.ndarray = source_columns if source_columns is not None else "measure"
    where_v: str | np.ndarray = source_columns if source_columns is not None else "value"
    measure = measure_raw.str.lower()
    has_m = measure.notna().to_numpy()
    reg = registry.to_frame().set_index("name")
    known = measure.isin(reg.index).to_numpy(dtype=bool)
    if "measure" in frame.columns:
        checks.add(
            ~has_m,
            "measure",
            "missing_value",
            "measure is required",
            measure_raw,
            fix="Fill in the cell.",
        )
    checks.add(
        has_m & ~known,
        where_m,
        "unknown_measure",
        f"measure must be one of the registry's measures ({', '.join(registry)})",
        measure_raw,
        fix="Register further measures with MeasureRegistry.with_measure.",
    )
    text = value_raw
    if decimal_comma:
        text = value_raw.str.replace(r"^([+-]?\d+),(\d+)$", r"\1.\2", regex=True)
    num = pd.to_numeric(text, errors="coerce").astype("float64").to_numpy()
    num = np.where(np.isfinite(num), num, np.nan)
    has_v = value_raw.notna().to_numpy()
    isnum = ~np.isnan(num)
    if "value" in frame.columns:
        checks.add(
            ~has_v,
            where_v,
            "missing_value",
            "value is required",
            value_raw,
            fix="Fill in the cell, or leave the measurement out.",
        )
    low = measure.map(reg["low"]).to_numpy(dtype=float)
    high = measure.map(reg["high"]).to_numpy(dtype=float)
    integer = measure.map(reg["integer"]).fillna(False).to_numpy(dtype=bool)
    kind = np.where(integer, "a whole number", "a number")
    lows = pd.Series(low).map("{:g}".format).to_numpy(dtype=object)
    highs = pd.Series(high).map("{:g}".format).to_numpy(dtype=object)
    expected = (
        measure.fillna("").to_numpy(dtype=object)
        + " must be "
        + kind.astype(object)
        + " from "
        + lows
        + " to "
        + highs
    )
    checks.add(has_v & ~isnum, where_v, "not_a_number", expected, value_raw)
    with np.errstate(invalid="ignore"):
        outside = known & isnum & ((num < low) | (num > high))
        fraction = known & isnum & integer & (np.floor(num) != num)
    checks.add(fraction, where_v, "not_whole", expected, value_raw)
    checks.add(outside, where_v, "out_of_range", expected, value_raw)
    return {"measure": measure.astype("str"), "value": num.astype("float64")}


def _duplicates(t: _Table, column: str) -> None:
    ids = t.typed[column]
    dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    if not dup.any():
        return
    lines = pd.Series(t.checks.lines[dup], index=ids[dup].to_numpy())
    joined = lines.astype(str).groupby(level=0).agg(", ".join)
    where = ids[dup].map(joined).to_numpy(dtype=object)
    expected = np.empty(t.checks.n, dtype=object)
    expected[dup] = f"{column} must be unique; the same value is on lines " + where
    t.checks.add(
        dup,
        column,
        "duplicate_id",
        expected,
        ids,
        fix="Keep one row per id, or give each row its own id.",
    )


def _references(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
    ids = child.typed[column]
    known = ids.isin(parent.typed[parent_column].dropna()).to_numpy(dtype=bool)
    orphan = ids.notna().to_numpy() & ~known
    child.checks.add(
        orphan,
        column,
        "orphan",
        f"{column} must name a row of {parent.name} ({parent.raw.file})",
        ids,
        fix=f"Add the missing {parent.name} row, or correct the id.",
    )


def _unique_lookup(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    return (
        frame.loc[frame[key].notna(), [key, *columns]]
        .drop_duplicates(key, keep=False)
        .set_index(key)
    )


def _cross_checks(t: dict[str, _Table]) -> None:
    for name in t:
        if name != "outcomes":
            _duplicates(t[name], TABLE_KEYS[name])
    p, e, s, o = t["patients"], t["episodes"], t["sessions"], t["outcomes"]
    _references(e, "patient_id", p, "patient_id")
    _references(s, "episode_id", e, "episode_id")
    _references(o, "episode_id", e, "episode_id")
    _references(o, "session_id", s, "session_id")
    if "adverse_events" in t:
        _references(t["adverse_events"], "session_id", s, "session_id")

    ed = e.typed
    e.checks.add(
        (ed["end_date"] < ed["start_date"]).to_numpy(dtype=bool),
        "end_date",
        "date_order",
        "end_date must be on or after start_date ("
        + ed["start_date"].dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
        + ")",
        e.text["end_date"] if "end_date" in e.text else None,
    )
    episodes = _unique_lookup(ed, "episode_id", ["start_date", "end_date"])
    sd = s.typed
    start = sd["episode_id"].map(episodes["start_date"])
    end = sd["episode_id"].map(episodes["end_date"])
    outside = ((sd["session_date"] < start) | (sd["session_date"] > end)).to_numpy(dtype=bool)
    period = (
        start.dt.strftime("%Y-%m-%d").fillna("?")
        + " to "
        + end.dt.strftime("%Y-%m-%d").fillna("open")
    ).to_numpy(dtype=object)
    s.checks.add(
        outside,
        "session_date",
        "session_outside_episode",
        "session_date must fall within its episode (" + period + ")",
        s.text.get("session_date"),
    )
    needles = sd["needles"].fillna(0).to_numpy(dtype="int64")
    s.checks.add(
        (needles > 0) & ~sd["dn_performed"].to_numpy(dtype=bool),
        "needles",
        "needles_without_dn",
        "needles must be 0 or empty when dn_performed is false",
        s.text.get("needles"),
    )

    od = o.typed
    o_start = od["episode_id"].map(episodes["start_date"])
    days = (od["assessed_on"] - o_start).dt.days.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        off = (days < -30) | (days > 400)
    o.checks.add(
        off,
        "assessed_on",
        "outcome_outside_window",
        "assessed_on must be from 30 days before to 400 days after the episode start ("
        + o_start.dt.strftime("%Y-%m-%d").fillna("?").to_numpy(dtype=object)
        + ")",
        o.text.get("assessed_on"),
    )
    sessions = _unique_lookup(sd, "session_id", ["episode_id"])
    s_episode = od["session_id"].map(sessions["episode_id"])
    other = (s_episode.notna() & (s_episode != od["episode_id"])).to_numpy(dtype=bool)
    o.checks.add(
        other,
        "session_id",
        "session_other_episode",
        "session_id must be a session of the same episode (it belongs to "
        + s_episode.fillna("").to_numpy(dtype=object)
        + ")",
        o.text.get("session_id"),
    )
    tp = od["timepoint"]
    single = (
        tp.notna() & (tp != "session") & od["episode_id"].notna() & od["measure"].notna()
    ).to_numpy(dtype=bool)
    keys = od.loc[single, ["episode_id", "measure", "timepoint"]].astype("str")
    dup_sub = keys.duplicated(keep=False).to_numpy()
    if dup_sub.any():
        rows = np.flatnonzero(single)[dup_sub]
        k = keys[dup_sub].agg("|".join, axis=1)
        joined = pd.Series(o.checks.lines[rows], index=k.to_numpy()).astype(str)
        joined = joined.groupby(level=0).agg(", ".join)
        expected = np.empty(o.checks.n, dtype=object)
        expected[rows] = (
            "only one "
            + keys[dup_sub]["timepoint"].to_numpy(dtype=object)
            + " "
            + keys[dup_sub]["measure"].to_numpy(dtype=object)
            + " is allowed per episode; "
            + keys[dup_sub]["episode_id"].to_numpy(dtype=object)
            + " has one on lines "
            + k.map(joined).to_numpy(dtype=object)
        )
        mask = np.zeros(o.checks.n, dtype=bool)
        mask[rows] = True
        o.checks.add(
            mask,
            "timepoint",
            "duplicate_timepoint",
            expected,
            o.text.get("timepoint"),
            fix="Keep one row, or mark repeated measurements as timepoint session.",
        )


def _cascade(t: dict[str, _Table], *, record: bool) -> None:
    """Reject rows whose parent row was rejected (patients → episodes → sessions → …)."""

    def depend(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
        ids = child.typed[column]
        loaded = parent.typed.loc[~parent.checks.bad, parent_column]
        dep = (ids.notna() & ~ids.isin(loaded)).to_numpy(dtype=bool) & ~child.checks.bad
        child.checks.add(
            dep,
            column,
            "rejected_parent",
            f"the {parent.name} row this row depends on was rejected, so this row is too",
            ids,
            fix=f"Fix the {parent.name} row (see {parent.raw.file}).",
            record=record,
        )

    depend(t["episodes"], "patient_id", t["patients"], "patient_id")
    depend(t["sessions"], "episode_id", t["episodes"], "episode_id")
    depend(t["outcomes"], "episode_id", t["episodes"], "episode_id")
    depend(t["outcomes"], "session_id", t["sessions"], "session_id")
    if "adverse_events" in t:
        depend(t["adverse_events"], "session_id", t["sessions"], "session_id")


def _build(t: dict[str, _Table], registry: MeasureRegistry) -> dict[str, pd.DataFrame]:
    """Typed frames of the rows that load, with the derived columns."""
    keep = {name: tab.typed.loc[~tab.checks.bad].reset_index(drop=True) for name, tab in t.items()}
    p = keep["patients"]
    p.insert(p.columns.get_loc("symptom_weeks") + 1, "chronicity", chronicity(p["symptom_weeks"]))
    s = keep["sessions"]
    e = keep["episodes"].rename(columns={"arm": "arm_declared"})
    site = p.set_index("patient_id")["site_id"]
    e.insert(3, "site_id", e["patient_id"].map(site).astype("str"))
    arms = derive_arms(e["episode_id"], s)
    pos = e.columns.get_loc("arm_declared") + 1
    e.insert(pos, "arm_derived", arms["arm_derived"])
    e.insert(pos + 1, "arm", e["arm_declared"].fillna(arms["arm_derived"]).astype("str"))
    after = e.columns.get_loc("discharge_reason") + 1
    e.insert(after, "n_sessions", arms["n_sessions"])
    e.insert(after + 1, "dn_sessions", arms["dn_sessions"])
    keep["episodes"] = e
    o = keep["outcomes"]
    keep["outcomes"] = o
    return keep


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
            "line": pd.array(bad["line"].where(bad["line"] > 0), dtype="Int64"),
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
        ids = tab.typed[key].to_numpy(dtype=object)[rows] if key in tab.typed else None
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
            out = []
            for row in frame.itertuples(index=False):
                line = row.line
                out.append(
                    {
                        "table": str(row.table),
                        "file": str(row.file),
                        "line": None if pd.isna(line) else int(line),
                        "column": str(row.column),
                        "rule": str(row.rule),
                        "message": str(row.message),
                    }
                )
            return out

        tables = {
            str(r.table): {
                "read": int(r.read),
                "loaded": int(r.loaded),
                "rejected": int(r.rejected),
                "rows_with_problems": int(r.rows_with_problems),
            }
            for r in self.accounting.itertuples(index=False)
        }
        return {
            "valid": bool(self.valid),
            "mode": self.mode,
            "path": str(self.path),
            "tables": tables,
            "problems": records(self.problems),
            "warnings": records(self.warnings),
        }


def _check_args(mode: str, registry: MeasureRegistry | None) -> MeasureRegistry:
    if mode not in ("strict", "quarantine"):
        raise RequestError(f"mode must be 'strict' or 'quarantine'; got {mode!r}.")
    if registry is None:
        return default_registry()
    if not isinstance(registry, MeasureRegistry):
        raise RequestError(
            "registry must be a MeasureRegistry (e.g. default_registry().with_measure(...)); "
            f"got {type(registry).__name__}."
        )
    return registry


def validate_export(
    raw: RawDataset, *, mode: Mode = "strict", registry: MeasureRegistry | None = None
) -> ValidationReport:
    """Validate an export already read by :func:`dnoutcomes.io.read_export`.

    See :func:`validate` for parameters and results.
    """
    reg = _check_args(mode, registry)
    tables = {name: _prepare(raw.tables[name], reg) for name in _ORDER if name in raw.tables}
    _cross_checks(tables)
    row_problems = pd.concat(
        [tables[n].checks.frame() for n in tables]
        + [_malformed_problems(tables[n]) for n in tables],
        ignore_index=True,
    )
    problems = _sort(row_problems)
    valid = problems.empty
    _cascade(tables, record=mode == "quarantine")
    if mode == "quarantine":
        problems = _sort(
            pd.concat(
                [tables[n].checks.frame() for n in tables]
                + [_malformed_problems(tables[n]) for n in tables],
                ignore_index=True,
            )
        )
    frames = _build(tables, reg)
    warn = quality_warnings(
        frames,
        {n: tables[n].checks.lines[~tables[n].checks.bad] for n in tables},
        {n: tables[n].raw.file for n in tables},
    )
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
            path=raw.path,
            mode=mode,
            outcomes_form="wide" if tables["outcomes"].source_columns is not None else "long",
        )
    return ValidationReport(raw.path, mode, valid, accounting, problems, warn, dataset)


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
    path: str | Path, *, mode: Mode = "strict", registry: MeasureRegistry | None = None
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
        An unknown ``mode`` or a ``registry`` of the wrong type.

    Notes
    -----
    The rules are listed in ``docs/validation.md``.
    """
    _check_args(mode, registry)
    return validate_export(read_export(path), mode=mode, registry=registry)


def load(
    path: str | Path, *, mode: Mode = "strict", registry: MeasureRegistry | None = None
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
        An unknown ``mode`` or a ``registry`` of the wrong type.

    Warns
    -----
    DataQualityWarning
        Once, summarising ``Dataset.warnings``, when there are any.

    Notes
    -----
    Empty cells are "not recorded": NA in optional columns, an error in required ones.
    """
    report = validate(path, mode=mode, registry=registry)
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
