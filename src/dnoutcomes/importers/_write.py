"""Write an import as a contract export (CSV folder), atomically, after the de-identification
screen.

The tables are written into a temporary folder beside the target; :func:`dnoutcomes.validate`
then checks that folder. When its de-identification screen refuses anything (a column
named like an identifier, a cell that looks like an email address, telephone or social
security number), the folder is deleted and nothing is written; otherwise it is renamed
into place whole, with ``import-report.json`` beside the tables (the contract reader
ignores other files). An existing non-empty target is refused unless ``force``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from dnoutcomes.errors import DatasetError, RequestError
from dnoutcomes.importers._result import ImportResult
from dnoutcomes.validate import ValidationReport, validate

__all__ = ["DEID_RULES", "REPORT_NAME", "write_import"]

#: The rules of the de-identification screen (see :mod:`dnoutcomes.contract.deid`).
DEID_RULES = frozenset({"identifier_column", "identifier_value"})
#: The import report written beside the tables.
REPORT_NAME = "import-report.json"


def _refuse_existing(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RequestError(
            f"--out {out}: is a file; expected a folder for the contract export. Choose "
            "another path."
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise RequestError(
            f"--out {out}: the folder exists and is not empty; expected a new or empty "
            "folder. Choose another path or pass --force to replace it."
        )


def _swap(tmp: Path, out: Path) -> None:
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old)


def _deid_refusal(report: ValidationReport) -> str | None:
    found = report.problems[report.problems["rule"].isin(DEID_RULES)]
    if found.empty:
        return None
    counts = found.groupby(["table", "column", "rule"], sort=True).size().rename("n")
    parts = [
        f"{t}.{c} ({r}, {n} row(s))"
        for t, c, r, n in counts.reset_index().itertuples(index=False, name=None)
    ]
    return (
        "the imported tables hold what looks like identifiers: "
        + "; ".join(parts)
        + " (values not shown); expected de-identified data. Nothing was written: map "
        "these source fields to nothing (or flag them as identifiers) and run again."
    )


def write_import(
    result: ImportResult, out: str | os.PathLike[str], *, force: bool = False
) -> ValidationReport:
    """Write the tables of an import as a contract export and validate it.

    Parameters
    ----------
    result
        What :func:`~dnoutcomes.importers.import_redcap` or
        :func:`~dnoutcomes.importers.import_fhir` returned.
    out
        The export folder to create (its parent is created when missing).
    force
        Replace an existing non-empty folder (whole, never merged).

    Returns
    -------
    ValidationReport
        :func:`dnoutcomes.validate` (strict) of the folder written; ``valid`` is ``False``
        when the import made rows that break the contract (they are written, and listed).

    Raises
    ------
    DatasetError
        When the de-identification screen refuses the tables; nothing is written.
    RequestError
        When ``out`` exists and is not an empty folder (without ``force``), or cannot be
        written.
    """
    target = Path(out)
    _refuse_existing(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise RequestError(
            f"--out {target}: cannot write there ({exc.strerror}); expected a folder you may "
            "write to. Choose another path."
        ) from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        for name, frame in result.tables.items():
            frame.to_csv(tmp / f"{name}.csv", index=False, lineterminator="\n")
        report = validate(tmp)
        refusal = _deid_refusal(report)
        if refusal is not None:
            raise DatasetError(refusal)
        document = {
            **result.to_dict(),
            "validation": {k: v for k, v in report.to_dict().items() if k != "path"},
        }
        (tmp / REPORT_NAME).write_text(
            json.dumps(document, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _json_default(value: object) -> object:
    if pd.isna(value):  # type: ignore[call-overload]
        return None
    if hasattr(value, "item"):
        return value.item()
    return str(value)
