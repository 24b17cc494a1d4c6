"""Write generated tables as a dataset folder (CSV or Parquet) or an Excel workbook.

Writing is atomic: everything goes into a temporary folder (or file) beside the target,
which is renamed into place only when complete. An existing non-empty target is refused
unless ``force=True``, in which case it is replaced whole (never merged).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from dnoutcomes.errors import RequestError
from dnoutcomes.sample._truth import SampleTruth

__all__ = ["Format", "write_dataset"]

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "xlsx")
#: Excel's row limit, header included.
EXCEL_ROWS = 1_048_576
_OUTCOME_KEYS = ("episode_id", "session_id", "assessed_on", "timepoint")


def _wide(outcomes: pa.Table) -> pa.Table:
    """Outcomes in the contract's wide form: one row per assessment (episode and date: the
    generator assesses each episode at most once a day), one column per measure in the
    order the measures first appear, empty where not measured."""
    episode = outcomes.column("episode_id").to_numpy(zero_copy_only=False)
    day = outcomes.column("assessed_on").cast(pa.int32()).to_numpy()
    change = np.concatenate(([True], (episode[1:] != episode[:-1]) | (day[1:] != day[:-1])))
    group = np.cumsum(change) - 1
    first = np.flatnonzero(change)
    measure = outcomes.column("measure").to_numpy(zero_copy_only=False)
    value = outcomes.column("value").to_numpy()
    columns: dict[str, pa.Array] = {
        key: outcomes.column(key).take(pa.array(first)) for key in _OUTCOME_KEYS
    }
    for name in dict.fromkeys(measure.tolist()):
        rows = measure == name
        arr = np.full(len(first), np.nan)
        arr[group[rows]] = value[rows]
        columns[str(name)] = pa.array(arr, mask=np.isnan(arr))
    return pa.table(columns)


def _write_csv(table: pa.Table, path: Path) -> None:
    with open(path, "wb") as fh:
        fh.write((",".join(table.column_names) + "\n").encode("utf-8"))
        pcsv.write_csv(
            table,
            fh,
            write_options=pcsv.WriteOptions(include_header=False, quoting_style="none"),
        )


def _write_xlsx(tables: Mapping[str, pa.Table], path: Path) -> None:
    import pandas as pd

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, table in tables.items():
            # dates as ISO text, as a clinic's export would have them (not Excel date-times)
            columns = [
                col.cast(pa.string()) if pa.types.is_date(col.type) else col
                for col in table.columns
            ]
            frame = pa.table(columns, names=table.column_names).to_pandas()
            frame.to_excel(writer, sheet_name=name, index=False)


def _refuse_existing(out: Path, force: bool) -> None:
    if not out.exists() or force:
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    raise RequestError(
        f"{out}: the output already exists and is not empty; expected a new or empty "
        "location. Choose another path or pass --force (force=True) to replace it."
    )


def _swap_into_place(tmp: Path, out: Path) -> None:
    old: Path | None = None
    if out.exists() or out.is_symlink():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / out.name)
    os.rename(tmp, out)
    if old is not None:
        shutil.rmtree(old)


def write_dataset(
    tables: Mapping[str, pa.Table],
    truth: SampleTruth,
    path: str | os.PathLike[str],
    *,
    format: Format = "csv",
    wide: bool = False,
    force: bool = False,
) -> Path:
    """Write the tables and ``truth.json``; see :meth:`SampleData.write`."""
    if format not in FORMATS:
        raise RequestError(
            f"format: expected one of {', '.join(FORMATS)}; got {format!r}. Pick one of those."
        )
    out = Path(path)
    _refuse_existing(out, force)
    if wide:
        tables = {**tables, "outcomes": _wide(tables["outcomes"])}
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "xlsx":
        too_big = [n for n, t in tables.items() if t.num_rows + 1 > EXCEL_ROWS]
        if too_big:
            raise RequestError(
                f"format xlsx: the {', '.join(too_big)} table(s) have more rows than an Excel "
                f"sheet holds ({EXCEL_ROWS - 1:,}); generate fewer episodes or use csv/parquet."
            )
        if out.suffix.lower() != ".xlsx":
            raise RequestError(
                f"{out}: an Excel dataset is one workbook, so the output must end in .xlsx; "
                f"got {out.name!r}. Add .xlsx to the name."
            )
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".xlsx", dir=out.parent)
        os.close(fd)
        tmp_file = Path(tmp_name)
        try:
            _write_xlsx(tables, tmp_file)
            truth_path = out.with_name(out.stem + ".truth.json")
            truth_path.write_text(truth.to_json(), encoding="utf-8")
            if out.is_dir():
                raise RequestError(f"{out}: is a folder; expected a workbook path ending .xlsx.")
            os.replace(tmp_file, out)
        finally:
            if tmp_file.exists():
                tmp_file.unlink()
        return out
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; give it a normal folder's mode
    try:
        for name, table in tables.items():
            if format == "csv":
                _write_csv(table, tmp / f"{name}.csv")
            else:
                pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
        (tmp / "truth.json").write_text(truth.to_json(), encoding="utf-8")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
