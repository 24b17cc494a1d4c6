"""The workbook reader: one sheet per table, every cell as text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dnoutcomes.contract.specs import OPTIONAL_TABLES, REQUIRED_TABLES
from dnoutcomes.io._cells import _tidy_arrow
from dnoutcomes.io._raw import RawTable, _sha256, _unreadable


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
