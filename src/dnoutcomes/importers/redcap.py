"""Import a REDCap project into the data contract.

The mapping file (TOML) has one section per contract table, each saying which REDCap
instrument (and, in a longitudinal project, which events) its rows come from and which
field fills which contract column; outcomes name one field per measure. A section may be
given several times (``[[outcomes]]``) to gather rows from several instruments. See
``docs/imports.md`` for every key and a worked example.

What never passes through: a field flagged ``identifier = y`` in the dictionary is never
written (an id column built from one gets a keyed-hash pseudonym instead); the report
names fields, never values; and :func:`~dnoutcomes.importers.write_import` runs the
contract's de-identification screen on the result before anything is written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.contract.specs import TABLE_KEYS, TABLES
from dnoutcomes.errors import RequestError
from dnoutcomes.importers._ids import Pseudonyms, read_salt
from dnoutcomes.importers._mapping import (
    as_table,
    as_tables,
    check_keys,
    load_mapping,
    norm,
    string_map,
)
from dnoutcomes.importers._redcap_read import (
    PSEUDO_FIELDS,
    Field,
    Records,
    event_key,
    read_dictionary,
    read_records,
)
from dnoutcomes.importers._result import ImportResult, Issues, contract_frame

__all__ = ["import_redcap"]

_TABLE_ORDER = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
_SECTION_KEYS = ("instrument", "events", "columns", "values", "measures")
_ID_KINDS = frozenset({"id"})
_TEMPLATE = re.compile(r"\{([^{}]+)\}")


class _Project:
    """The dictionary, the records and the report of one import."""

    def __init__(self, fields: dict[str, Field], records: Records, salt: bytes) -> None:
        self.fields = fields
        self.records = records
        self.frame = records.frame
        self.n = len(records.frame)
        self.issues = Issues()
        self.pseudonyms = Pseudonyms(salt)
        self.referenced: set[str] = set()
        self.used = np.zeros(self.n, dtype=bool)
        self.problems = False
        self.record_id = next(iter(fields))
        rep = self.column("redcap_repeat_instrument")
        self.repeat = rep.map(norm) if rep is not None else pd.Series("", index=self.frame.index)
        ev = self.column("redcap_event_name")
        self.event = event_key(ev) if ev is not None else None

    def column(self, name: str) -> pd.Series | None:
        return self.frame[name] if name in self.frame.columns else None

    def problem(self, kind: str, table: str, source: str, count: int, message: str) -> None:
        self.issues.add(kind, table, source, count, message)
        self.problems = self.problems or count > 0

    # --- rows of an instrument -------------------------------------------------------

    def form_has_data(self, form: str) -> pd.Series:
        cols: list[str] = []
        for f in self.fields.values():
            if f.form != form or f.identifier:
                continue
            if f.type == "checkbox":
                cols += list(self.records.checkbox.get(f.name, {}).values())
            elif f.name in self.frame.columns and f.name != self.record_id:
                cols.append(f.name)
        if not cols:
            return pd.Series(False, index=self.frame.index)
        block = self.frame[cols]
        filled = (block != "") & ~block.apply(lambda s: s.str.lower()).isin(["0", "unchecked"])
        boxes = [c for c in cols if "___" in c]
        plain = [c for c in cols if "___" not in c]
        return filled[boxes].any(axis=1) | (block[plain] != "").any(axis=1)

    def rows_of(self, where: str, spec: dict[str, Any]) -> np.ndarray:
        form = spec.get("instrument")
        forms = {f.form for f in self.fields.values()}
        if not isinstance(form, str) or form not in forms:
            raise RequestError(
                f"mapping [{where}]: instrument = {form!r} is no form of the data dictionary; "
                f"expected one of {', '.join(sorted(forms))}. Use the Form Name column's "
                "spelling."
            )
        repeating = bool((self.repeat == norm(form)).any())
        if repeating:
            sel = self.repeat == norm(form)
        else:
            sel = (self.repeat == "") & self.form_has_data(form)
        events = spec.get("events")
        if events is not None:
            if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
                raise RequestError(
                    f"mapping [{where}]: events must be a list of event names, e.g. "
                    '["baseline_arm_1"]; fix it.'
                )
            if self.event is None:
                raise RequestError(
                    f"mapping [{where}]: events are given but the records have no "
                    "redcap_event_name column (a classic, not longitudinal, project); remove "
                    "events."
                )
            sel &= self.event.isin(set(event_key(pd.Series(events, dtype="str"))))
        return np.flatnonzero(sel.to_numpy())

    # --- values of a field --------------------------------------------------------------

    def field_values(
        self, where: str, column: str, name: str, rows: np.ndarray, values: dict[str, str] | None
    ) -> pd.Series:
        """The contract text of field ``name`` at ``rows`` for contract ``column``."""
        if name in PSEUDO_FIELDS:
            src = self.column(name)
            if src is None:
                raise RequestError(
                    f"mapping [{where}]: {column} = {name!r}, but the records have no {name} "
                    "column; map another field."
                )
            out = src.iloc[rows].reset_index(drop=True)
            if name == "redcap_event_name" and values is not None:
                keys = dict(zip(event_key(pd.Series(list(values))), values.values(), strict=True))
                return self._mapped(where, column, name, event_key(out), keys, show=True)
            return self._mapped(where, column, name, out, values, show=True) if values else out
        fld = self.fields.get(name)
        if fld is None:
            raise RequestError(
                f"mapping [{where}]: {column} = {name!r} is no field of the data dictionary; "
                "expected a Variable / Field Name. Fix the spelling."
            )
        self.referenced.add(name)
        if fld.type == "checkbox":
            return self._checkbox(where, column, fld, rows, values)
        if name not in self.frame.columns:
            raise RequestError(
                f"mapping [{where}]: {column} = {name!r} is not in the records export; "
                "expected the field's column. Export the records with that field."
            )
        out = self.frame[name].iloc[rows].reset_index(drop=True)
        if not fld.choices:
            if values is None:
                return out
            return self._mapped(where, column, name, out, values, show=False)
        label_to_code = {label: code for code, label in fld.choices.items()}
        is_code = out.isin(list(fld.choices))
        codes = out.where(is_code, out.map(label_to_code))
        bad = (out != "") & codes.isna()
        self.problem(
            "unmapped_value",
            where,
            name,
            int(bad.sum()),
            f"{name}: {int(bad.sum())} value(s) are neither a choice code nor a choice label "
            "of the dictionary (not shown); left empty",
        )
        codes = codes.fillna("")
        if values is not None:
            return self._mapped(where, column, name, codes, values, show=True)
        if fld.type in ("yesno", "truefalse") or column == "value":
            return codes
        return codes.map({c: norm(label) for c, label in fld.choices.items()}).fillna("")

    def _mapped(
        self,
        where: str,
        column: str,
        name: str,
        out: pd.Series,
        values: dict[str, str],
        *,
        show: bool,
    ) -> pd.Series:
        mapped = out.map(values)
        bad = (out != "") & mapped.isna()
        if bad.any():
            shown = ""
            if show:
                shown = " (" + ", ".join(sorted(map(str, out[bad].unique()))[:10]) + ")"
            self.problem(
                "unmapped_value",
                where,
                name,
                int(bad.sum()),
                f"{name} → {column}: {int(bad.sum())} value(s) have no entry in "
                f"[{where.split(' ')[0]}.values.{column}]{shown}; left empty",
            )
        return mapped.fillna("").astype("str")

    def _checkbox(
        self, where: str, column: str, fld: Field, rows: np.ndarray, values: dict[str, str] | None
    ) -> pd.Series:
        items: list[pd.Series] = []
        for code, col in self.records.checkbox.get(fld.name, {}).items():
            cell = self.frame[col].iloc[rows].reset_index(drop=True).str.lower()
            on = cell.isin(["1", "checked"])
            item = values.get(code) if values is not None else norm(fld.choices[code])
            if item is None:
                self.problem(
                    "unmapped_value",
                    where,
                    fld.name,
                    int(on.sum()),
                    f"{fld.name} → {column}: choice {code} has no entry in the values "
                    "table; left out of the list",
                )
                continue
            items.append(on.map({True: item + ";", False: ""}))
        if not items:
            return pd.Series("", index=range(len(rows)), dtype="str")
        joined = items[0]
        for more in items[1:]:
            joined = joined + more
        return joined.str.rstrip(";")

    def source(
        self,
        where: str,
        table: str,
        column: str,
        src: Any,
        rows: np.ndarray,
        values: dict[str, str] | None,
    ) -> pd.Series | None:
        """A contract column from a source spec: a field, a ``{field}`` template or
        ``{ const = "…" }``; ``None`` when it must not be written (an identifier)."""
        if isinstance(src, dict) and set(src) == {"const"}:
            return pd.Series(str(src["const"]), index=range(len(rows)), dtype="str")
        if not isinstance(src, str):
            raise RequestError(
                f"mapping [{where}.columns]: {column} must be a field name, a template such "
                'as "{record_id}-{redcap_repeat_instance}" or { const = "…" }; got '
                f"{type(src).__name__}. Fix it."
            )
        if re.search(r"[{}]", _TEMPLATE.sub("", src)):
            raise RequestError(
                f"mapping [{where}.columns]: {column} = {src!r} has an unpaired brace; "
                'expected a field name or a template such as "{record_id}-E1". Fix it.'
            )
        names = _TEMPLATE.findall(src) if "{" in src else [src]
        parts = {
            n: self.field_values(where, column, n, rows, values if "{" not in src else None)
            for n in names
        }
        if "{" in src:
            out = pd.Series("", index=range(len(rows)), dtype="str")
            empty = pd.Series(False, index=out.index)
            for piece in re.split(r"(\{[^{}]+\})", src):
                m = _TEMPLATE.fullmatch(piece)
                if m is None:
                    out = out + piece
                    continue
                empty |= parts[m.group(1)] == ""
                out = out + parts[m.group(1)]
            out = out.where(~empty, "")
        else:
            out = parts[src]
        flagged = [n for n in names if n in self.fields and self.fields[n].identifier]
        if not flagged:
            return out
        kind = {s.name: s.kind for s in TABLES.get(table, ())}.get(column)
        if kind in _ID_KINDS:
            return self.pseudonyms.of(f"redcap/{column}", out.where(out != ""), "R").fillna("")
        self.issues.add(
            "identifier_field",
            where,
            ", ".join(flagged),
            len(rows),
            f"{column} is mapped from {', '.join(flagged)}, flagged as identifier in the "
            "dictionary: not written",
        )
        return None


def _build_section(p: _Project, table: str, where: str, spec: dict[str, Any]) -> pd.DataFrame:
    check_keys(where, spec, _SECTION_KEYS)
    rows = p.rows_of(where, spec)
    columns = as_table(f"{where}.columns", spec.get("columns"))
    values = {
        col: string_map(f"{where}.values.{col}", v)
        for col, v in as_table(f"{where}.values", spec.get("values")).items()
    }
    out: dict[str, pd.Series] = {}
    for column, src in columns.items():
        got = p.source(where, table, column, src, rows, values.get(column))
        if got is not None:
            out[column] = got
    line = pd.Series(p.records.lines[rows])
    measures = string_map(f"{where}.measures", spec.get("measures"))
    if table == "outcomes" and measures:
        parts = []
        for measure, name in measures.items():
            value = p.field_values(where, "value", name, rows, None)
            filled = (value != "").to_numpy()
            parts.append(
                pd.DataFrame(
                    {
                        **{c: s[filled] for c, s in out.items()},
                        "measure": measure,
                        "value": value[filled],
                        "_row": rows[filled],
                        "_line": line[filled],
                    }
                )
            )
        none = np.ones(len(rows), dtype=bool)
        for part in parts:
            none[np.searchsorted(rows, part["_row"].to_numpy())] = False
        p.issues.add(
            "empty_rows",
            where,
            spec["instrument"],
            int(none.sum()),
            f"{int(none.sum())} row(s) of instrument {spec['instrument']} have no measure "
            "filled; no outcome written for them",
        )
        frame = pd.concat(parts, ignore_index=True).sort_values(["_row"], kind="stable")
    else:
        frame = pd.DataFrame({**out, "_row": rows, "_line": line})
    key = TABLE_KEYS[table]
    if key not in frame.columns:
        raise RequestError(
            f"mapping [{where}.columns]: no {key}; expected the table's key column. Map it to "
            "a field or a template."
        )
    blank = (frame[key] == "").to_numpy()
    if blank.any():
        lines = ", ".join(map(str, frame.loc[blank, "_line"].unique()[:5]))
        p.problem(
            "skipped_rows",
            where,
            key,
            int(blank.sum()),
            f"{int(blank.sum())} row(s) have no {key} (file lines {lines}…); skipped",
        )
    frame = frame[~blank]
    p.used[frame["_row"].to_numpy()] = True
    return frame


def _unused(p: _Project) -> None:
    idle = ~p.used
    if not idle.any():
        return
    event = p.event if p.event is not None else pd.Series("", index=p.frame.index)
    groups = pd.DataFrame({"event": event[idle].to_numpy(), "form": p.repeat[idle].to_numpy()})
    counted = groups.value_counts(sort=False).rename("n").reset_index()
    for ev, form, n in counted[["event", "form", "n"]].itertuples(index=False, name=None):
        what = f"instrument {form}" if form else "non-repeating instruments"
        where = f" at event {ev}" if ev else ""
        p.issues.add(
            "unused_rows",
            "",
            "records",
            int(n),
            f"{int(n)} row(s) of {what}{where} fill no contract table (no mapping selects "
            "them, or their mapped fields are empty)",
        )


def import_redcap(
    dictionary: str | Path,
    records: str | Path,
    mapping: str | Path | dict[str, Any],
    *,
    salt_file: str | Path | None = None,
) -> ImportResult:
    """Turn a REDCap project's export into contract tables.

    Parameters
    ----------
    dictionary
        The project's data dictionary (CSV).
    records
        The records export (CSV; raw or label values and headers; classic or
        longitudinal, with or without repeating instruments).
    mapping
        The TOML mapping file, or its parsed content.
    salt_file
        A file of secret bytes keying the pseudonyms of identifier fields used as ids; by
        default a random salt is drawn for the run (pseudonyms then differ between runs).

    Returns
    -------
    ImportResult
        The tables (nothing written yet) and the report.

    Raises
    ------
    UnreadableInputError
        When a file cannot be read.
    RequestError
        When the mapping names an unknown table, key, instrument or field.
    """
    doc = mapping if isinstance(mapping, dict) else load_mapping(mapping)
    check_keys("mapping", doc, ("redcap", *_TABLE_ORDER))
    fields = read_dictionary(dictionary)
    recs = read_records(records, fields)
    p = _Project(fields, recs, read_salt(salt_file))
    settings = as_table("redcap", doc.get("redcap"))
    check_keys("redcap", settings, ("record_id",))
    p.record_id = str(settings.get("record_id", p.record_id))
    if recs.unknown:
        p.issues.add(
            "unknown_column",
            "",
            "records",
            len(recs.unknown),
            f"{len(recs.unknown)} column(s) of the records are no field of the dictionary "
            f"({', '.join(recs.unknown[:10])}); ignored",
        )
    tables: dict[str, pd.DataFrame] = {}
    for table in _TABLE_ORDER:
        sections = as_tables(table, doc.get(table))
        if not sections:
            continue
        frames = [
            _build_section(p, table, f"{table}" if len(sections) == 1 else f"{table} #{i + 1}", s)
            for i, s in enumerate(sections)
        ]
        frame = pd.concat(frames, ignore_index=True).sort_values("_row", kind="stable")
        columns = {c: frame[c].reset_index(drop=True) for c in frame.columns if c[0] != "_"}
        tables[table] = contract_frame(table, columns)
    _unused(p)
    dropped = [f.name for f in fields.values() if f.identifier]
    p.issues.add(
        "identifier_field",
        "",
        ", ".join(dropped),
        len(dropped),
        f"{len(dropped)} field(s) flagged as identifiers in the dictionary are never written "
        f"as values: {', '.join(dropped)}",
    )
    unmapped = [
        f.name
        for f in fields.values()
        if f.name not in p.referenced and not f.identifier and f.name != p.record_id
    ]
    p.issues.add(
        "unmapped_field",
        "",
        "dictionary",
        len(unmapped),
        f"{len(unmapped)} field(s) of the dictionary are mapped to nothing: "
        + ", ".join(unmapped[:30])
        + ("…" if len(unmapped) > 30 else ""),
    )
    accounting = pd.DataFrame(
        {
            "source": [Path(records).name],
            "read": [p.n],
            "used": [int(p.used.sum())],
            "not_used": [int((~p.used).sum())],
        }
    )
    return ImportResult("redcap", tables, p.issues.frame(), accounting, p.problems)
