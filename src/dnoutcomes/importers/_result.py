"""What an import produced: the contract tables, and everything it could not map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["ISSUE_COLUMNS", "ImportResult", "Issues"]

#: Columns of :attr:`ImportResult.issues`.
ISSUE_COLUMNS = ("kind", "table", "source", "count", "message")


class Issues:
    """Collects the report lines of one import (never a source value that may identify)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, table: str, source: str, count: int, message: str) -> None:
        """Record one line of the report; nothing is recorded for a count of 0."""
        if count:
            self.rows.append(
                {
                    "kind": kind,
                    "table": table,
                    "source": source,
                    "count": int(count),
                    "message": message,
                }
            )

    def frame(self) -> pd.DataFrame:
        """The lines as a frame with the columns of :data:`ISSUE_COLUMNS`."""
        frame = pd.DataFrame(self.rows, columns=list(ISSUE_COLUMNS))
        return frame.astype({"count": "int64"})


@dataclass(frozen=True)
class ImportResult:
    """The contract tables an importer built, and its report.

    Attributes
    ----------
    source
        ``"redcap"`` or ``"fhir"``.
    tables
        Contract table name → frame of text cells (lists ``;``-joined, dates ISO), in the
        contract's column order; ``adverse_events`` only when mapped.
    issues
        One line per thing not mapped: ``kind`` (``unmapped_field``, ``identifier_field``,
        ``unmapped_value``, ``skipped_rows``, ``unused_rows``, ``unknown_column``,
        ``unused_resources``…), ``table``, ``source`` (a field, column or resource type;
        never a value that may identify), ``count`` and ``message``.
    accounting
        One row per source (records file, or FHIR resource type): ``source``, ``read``,
        ``used`` (fed at least one table) and ``not_used``; ``used + not_used == read``.
    problems
        ``True`` when a row was skipped or a value could not be mapped (the command then
        exits 1); unused dictionary fields and dropped identifiers alone do not count.
    """

    source: str
    tables: dict[str, pd.DataFrame]
    issues: pd.DataFrame
    accounting: pd.DataFrame
    problems: bool = field(default=False)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: ``source``, ``rows`` ({table: rows written}),
        ``accounting`` and ``issues`` (lists of records) and ``problems``."""
        return {
            "source": self.source,
            "rows": {name: len(frame) for name, frame in self.tables.items()},
            "accounting": self.accounting.astype(object).to_dict("records"),
            "issues": self.issues.astype(object).to_dict("records"),
            "problems": self.problems,
        }

    def summary(self) -> str:
        """A few lines for the terminal: rows written per table, then each issue."""
        lines = [
            "rows written: "
            + ", ".join(f"{name} {len(frame):,}" for name, frame in self.tables.items())
        ]
        for acc in self.accounting.to_dict("records"):
            lines.append(
                f"{acc['source']}: {acc['read']:,} read, {acc['used']:,} used, "
                f"{acc['not_used']:,} not used"
            )
        for rec in self.issues.to_dict("records"):
            where = f"{rec['table']}: " if rec["table"] else ""
            lines.append(f"- [{rec['kind']}] {where}{rec['message']}")
        return "\n".join(lines)


def contract_frame(table: str, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """A contract table from its columns, in the contract's order (extra columns last)."""
    from dnoutcomes.contract.specs import TABLES

    order = [spec.name for spec in TABLES[table] if spec.name in columns]
    order += [name for name in columns if name not in order]
    frame = pd.DataFrame({name: columns[name] for name in order})
    return frame.reset_index(drop=True)


def number_text(values: pd.Series) -> pd.Series:
    """Numbers as the text a clinic export holds: ``4`` for 4.0, shortest round-trip
    digits otherwise, empty for missing."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    distinct = numbers.dropna().unique()
    text = {v: (str(int(v)) if float(v).is_integer() else repr(float(v))) for v in distinct}
    return numbers.map(text).astype("str")
