"""Render a report's numbers as one JSON document (``dnoutcomes report --data``).

The document holds the numbers behind every table and chart (after suppression), the
``spc`` block of the three control charts exactly as the issue specifies it, the period,
the parameters and the provenance.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.qi.cells import scrub_counts
from dnoutcomes.report._atomic import write_atomic
from dnoutcomes.report.model import Report
from dnoutcomes.report.period import Period

__all__ = ["SCHEMA_VERSION", "report_document", "render_json", "write_json"]

#: Version of the document's layout; raised when a key changes meaning or disappears.
SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    """A JSON value for one cell or number: NaN and missing → ``None``."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return None if pd.isna(value) else value.isoformat()[:10]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [str(c) for c in frame.columns]
    return [
        {c: _plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _period(period: Period) -> dict[str, str]:
    return {
        "label": period.label,
        "kind": period.kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
    }


def report_document(report: Report) -> dict[str, Any]:
    """The report's numbers as plain JSON values.

    Parameters
    ----------
    report
        A built report.

    Returns
    -------
    dict
        Keys: ``schema_version``, ``title``, ``period`` and ``previous_period``
        (``label``, ``kind``, ``start``, ``end``), ``period_note``, ``site`` (null for all
        sites), ``reference``, ``comparator``, ``min_cell``; ``tables`` (table key →
        ``title``, ``section``, ``note``, ``columns``, ``rows`` as a list of
        column → value records); ``figures`` (figure key → ``title``, ``section``,
        ``data`` records, when the figure has data); ``spc`` (``i_chart``, ``p_chart``,
        ``u_chart`` blocks: ``months``, ``values``, ``n``, ``centre``, ``lcl``, ``ucl``,
        ``signals``); ``results`` (further numbers by section); ``omitted`` (sections
        left out, with the reason); ``provenance``.

    Notes
    -----
    Cells keep the suppression of the report: a small count is the text ``"<11"``, a
    figure from which one could be worked back is ``"[c]"``; NaN and missing numbers are ``null``.
    ``spc`` and ``results`` go through :func:`dnoutcomes.qi.cells.scrub_counts` last: every
    whole number there is a count, written ``"<11"`` when small, unless its key is declared
    a non-count, so a count key added to an analysis's ``to_dict`` cannot slip through.
    Dates are ``YYYY-MM-DD``.
    """
    tables: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    for section in report.sections:
        for table in section.tables:
            tables[table.key] = {
                "title": table.title,
                "section": section.key,
                "note": table.note,
                "columns": [str(c) for c in table.frame.columns],
                "rows": _records(table.frame),
            }
        for figure in section.figures:
            entry: dict[str, Any] = {"title": figure.title, "section": section.key}
            if figure.data is not None:
                entry["data"] = _records(figure.data)
            figures[figure.key] = entry
    return {
        "schema_version": SCHEMA_VERSION,
        "title": report.title,
        "period": _period(report.period),
        "previous_period": _period(report.previous),
        "period_note": report.period_note,
        "site": report.site,
        "reference": report.reference,
        "comparator": report.comparator,
        "min_cell": report.min_cell,
        "tables": tables,
        "figures": figures,
        "spc": scrub_counts(_plain(dict(report.spc)), report.min_cell),
        "results": scrub_counts(_plain(dict(report.extra)), report.min_cell),
        "omitted": [{"section": key, "reason": reason} for key, reason in report.omitted],
        "provenance": _plain(report.provenance.to_dict()),
    }


def render_json(report: Report) -> str:
    """The JSON document as text.

    Parameters
    ----------
    report
        A built report.

    Returns
    -------
    str
        :func:`report_document` as strict JSON (no NaN), indented by two spaces, keys in
        a fixed order, non-ASCII kept, with a final newline.
    """
    text = json.dumps(report_document(report), indent=2, ensure_ascii=False, allow_nan=False)
    return text + "\n"


def write_json(report: Report, path: str | os.PathLike[str]) -> None:
    """Write the JSON document to ``path`` atomically.

    Parameters
    ----------
    report
        A built report.
    path
        The JSON file to write; its folder must exist.

    Returns
    -------
    None

    Raises
    ------
    RequestError
        When the file cannot be written.
    """
    write_atomic(path, render_json(report))
