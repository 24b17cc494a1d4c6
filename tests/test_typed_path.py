"""The reader's typed fast path gives exactly what the text path gives.

Parquet columns keep their types and clean comma-separated CSV files are read with the
contract's types (``dnoutcomes.io``); ``read_export(path, _text_only=True)`` forces the
text path every cell took before (Parquet columns cast to text, CSV read as text). Every
comparison here loads the same files both ways and asserts identical results: the typed
frames of the Dataset, problems, warnings, rejects and accounting, in strict and quarantine
mode.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_data import small_export, write_export
from test_validate_properties import NASTY

import dnoutcomes.sample
from dnoutcomes.contract.specs import BOOL_FALSE, BOOL_TRUE
from dnoutcomes.contract.specs import TABLES as SPECS
from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.io import read_export
from dnoutcomes.validate import ValidationReport, validate_export

FRAMES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


def _run(path: Path, text_only: bool, mode: str) -> ValidationReport | str:
    try:
        raw = read_export(path, _text_only=text_only)
    except UnreadableInputError as exc:
        return f"unreadable: {exc}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return validate_export(raw, mode=mode)  # type: ignore[arg-type]


def _same_report(typed: ValidationReport | str, text: ValidationReport | str) -> None:
    if isinstance(typed, str) or isinstance(text, str):
        assert typed == text
        return
    assert typed.valid == text.valid
    pd.testing.assert_frame_equal(typed.accounting, text.accounting)
    pd.testing.assert_frame_equal(typed.problems, text.problems)
    pd.testing.assert_frame_equal(typed.warnings, text.warnings)
    assert (typed.dataset is None) == (text.dataset is None)
    if typed.dataset is None or text.dataset is None:
        return
    a, b = typed.dataset, text.dataset
    for name in FRAMES:
        fa, fb = getattr(a, name), getattr(b, name)
        assert (fa is None) == (fb is None), name
        if fa is not None:
            pd.testing.assert_frame_equal(fa, fb, obj=name)
    for name in ("rejects", "problems", "warnings", "accounting"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    assert a.outcomes_form == b.outcomes_form
    assert a.sha256 == b.sha256


def assert_same(path: Path, modes: tuple[str, ...] = ("strict", "quarantine")) -> None:
    """Load ``path`` on the typed and on the text path; assert identical results."""
    for mode in modes:
        _same_report(_run(path, False, mode), _run(path, True, mode))


# --- typed Parquet files written from the text frames of loader_data ----------------------


def _typed_column(kind: str, text: pd.Series) -> pa.Array | None:
    """The text column as the Parquet type a clinic system might use, or None."""
    cells = [None if v == "" else v for v in text.tolist()]
    filled = [v for v in cells if v is not None]
    try:
        if kind in ("integer", "number"):
            return pa.array([None if v is None else float(v) for v in cells], pa.float64())
        if kind == "date":
            parsed = pd.to_datetime(pd.Series(filled, dtype=object), format="%Y-%m-%d")
            if parsed.isna().any():
                return None
            return pa.array(
                [None if v is None else pd.Timestamp(v).date() for v in cells], pa.date32()
            )
    except ValueError:
        return None
    if kind == "bool":
        low = [None if v is None else v.lower() for v in cells]
        if not all(v is None or v in BOOL_TRUE | BOOL_FALSE for v in low):
            return None
        return pa.array([None if v is None else v in BOOL_TRUE for v in low], pa.bool_())
    if kind in ("category", "label", "id"):
        return pa.array(cells, pa.string()).dictionary_encode()
    if kind == "list":
        return pa.array([None if v is None else v.split(";") for v in cells])
    if kind == "age" and all(v.isdigit() for v in filled):
        return pa.array([None if v is None else int(v) for v in cells], pa.int64())
    return None


def write_typed_parquet(tables: dict[str, pd.DataFrame], dest: Path) -> Path:
    """Each column as its contract type where every value allows, else as text."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        kinds = {s.name: s.kind for s in SPECS[name]}
        arrays, names = [], []
        for i, col in enumerate(frame.columns):
            text = frame.iloc[:, i].astype(str)
            typed = _typed_column(kinds.get(str(col).strip().lower(), ""), text)
            if typed is None:
                typed = pa.array([None if v == "" else v for v in text.tolist()], pa.string())
            arrays.append(typed)
            names.append(str(col))
        pq.write_table(pa.table(arrays, names=names), dest / f"{name}.parquet")
    return dest


def write_all(tables: dict[str, pd.DataFrame], root: Path) -> list[Path]:
    """The same tables as CSV, as Parquet of text, and as typed Parquet."""
    return [
        write_export(tables, root / "csv", "csv"),
        write_export(tables, root / "parquet_text", "parquet"),
        write_typed_parquet(tables, root / "parquet_typed"),
    ]


def _corrupt(index: int, value: str) -> dict[str, pd.DataFrame]:
    """``value`` in two columns of every table (columns and rows vary with ``index``)."""
    tables = small_export()
    for frame in tables.values():
        ncol, nrow = frame.shape[1], len(frame)
        for k, col in enumerate({index % ncol, (index * 7 + 3) % ncol}):
            frame.iloc[(index + k) % nrow, col] = value
    return tables


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_generated_export_typed_equals_text(tmp_path: Path, fmt: str) -> None:
    data = dnoutcomes.sample.generate(episodes=300, seed=11)
    path = data.write(tmp_path / fmt, format=fmt)  # type: ignore[arg-type]
    raw = read_export(path)
    if fmt == "csv":  # the fast path was taken, not the fallback
        assert all(t.text_table is not None for t in raw.tables.values())
    assert raw.tables["outcomes"].frame["value"].dtype == "float64"
    assert raw.tables["sessions"].frame["session_date"].dtype == "datetime64[ns]"
    assert_same(path)


def test_generated_parquet_loads_as_the_csv_text_path(tmp_path: Path) -> None:
    data = dnoutcomes.sample.generate(episodes=300, seed=12)
    parquet = _run(data.write(tmp_path / "p", format="parquet"), False, "strict")
    csv = _run(data.write(tmp_path / "c", format="csv"), True, "strict")
    assert not isinstance(parquet, str) and not isinstance(csv, str)
    assert parquet.dataset is not None and csv.dataset is not None
    for name in FRAMES:
        pd.testing.assert_frame_equal(
            getattr(parquet.dataset, name), getattr(csv.dataset, name), obj=name
        )
    pd.testing.assert_frame_equal(parquet.accounting, csv.accounting)


def test_small_export_in_every_format(tmp_path: Path) -> None:
    for path in write_all(small_export(), tmp_path):
        assert_same(path)
    typed = read_export(tmp_path / "parquet_typed").tables
    assert typed["sessions"].frame["dn_performed"].dtype == bool
    assert isinstance(typed["adverse_events"].frame["severity"].dtype, pd.CategoricalDtype)
    assert typed["patients"].frame["age"].dtype == "str"  # "90+" keeps the column text


def test_wide_outcomes(tmp_path: Path) -> None:
    tables = small_export()
    tables["outcomes"].loc[2, "value"] = "15.0"  # out of range, quoted as written
    write_export(tables, tmp_path / "csv", "csv", wide=True)
    write_export(tables, tmp_path / "parquet", "parquet", wide=True)
    assert_same(tmp_path / "csv")
    assert_same(tmp_path / "parquet")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("value", "1e3"),
        ("value", "+5"),
        ("value", ".5"),
        ("value", "15.0"),
        ("value", "0015"),
        ("value", "inf"),
        ("value", "nan"),
        ("value", "NA"),
        ("value", "  "),
        ("assessed_on", "2025-02-30"),
        ("assessed_on", "2025-1-5"),
        ("assessed_on", " 2025-01-05"),
        ("assessed_on", "0001-01-01"),
        ("timepoint", " BaseLine "),
        ("timepoint", "weekly"),
        ("measure", "NPRS"),
        ("measure", "pain"),
    ],
)
def test_csv_cells_the_typed_read_must_reproduce(tmp_path: Path, column: str, value: str) -> None:
    tables = small_export()
    tables["outcomes"].loc[3, column] = value
    write_export(tables, tmp_path, "csv")
    assert_same(tmp_path, ("quarantine",))


def test_csv_number_is_quoted_as_written(tmp_path: Path) -> None:
    tables = small_export()
    tables["outcomes"].loc[0, "value"] = "1.5e1"  # nprs 15: out of range
    tables["sessions"].loc[7, "needles"] = "3.0"  # needles without dry needling
    write_export(tables, tmp_path, "csv")
    raw = read_export(tmp_path)
    assert raw.tables["outcomes"].text_table is not None  # the fast path read it
    report = _run(tmp_path, False, "strict")
    assert not isinstance(report, str)
    messages = " ".join(report.problems["message"])
    assert "got 1.5e1." in messages
    assert "got 3.0." in messages
    assert_same(tmp_path)


def test_csv_blank_lines_and_empty_rows_keep_line_numbers(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    path = tmp_path / "outcomes.csv"
    lines = path.read_text().splitlines()
    lines[3:3] = ["", " , ,,  ,,", ""]
    lines.append("E9,,2025-01-06,baseline,nprs,99")
    path.write_text("\n".join(lines) + "\n")
    raw = read_export(tmp_path)
    assert raw.tables["outcomes"].text_table is not None
    assert raw.tables["outcomes"].lines[:4].tolist() == [2, 3, 7, 8]
    assert_same(tmp_path)


def test_csv_with_a_malformed_row_takes_the_text_path(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    path = tmp_path / "sessions.csv"
    path.write_text(path.read_text() + "S9,E1\n")
    assert read_export(tmp_path).tables["sessions"].text_table is None
    assert_same(tmp_path)


def test_parquet_nan_and_infinity_values_take_the_text_path(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "parquet")
    o = pq.read_table(tmp_path / "outcomes.parquet")
    values = [float(v) for v in o.column("value").to_pylist()]
    values[1], values[4] = float("nan"), float("inf")
    o = o.set_column(5, "value", pa.array(values, pa.float64(), from_pandas=False))
    pq.write_table(o, tmp_path / "outcomes.parquet")
    frame = read_export(tmp_path).tables["outcomes"].frame
    assert frame["value"].dtype == "str"
    assert frame["value"].iloc[1] == "nan"
    assert_same(tmp_path)
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str)
    assert (report.problems["rule"] == "not_a_number").sum() == 2


def test_parquet_typed_cells_are_shown_as_text(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "parquet")
    o = pq.read_table(tmp_path / "outcomes.parquet").to_pandas()
    o["value"] = pd.to_numeric(o["value"])
    o.loc[0, "value"] = 15.0
    o.loc[1, "value"] = 102.5
    o.loc[2, "value"] = 11.0123456789  # out of range, and its text reads like a telephone
    o["assessed_on"] = pd.to_datetime(o["assessed_on"])
    o.loc[5, "assessed_on"] = pd.Timestamp("2026-03-31 13:45")  # timestamp: its date
    o.to_parquet(tmp_path / "outcomes.parquet")
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str)
    messages = report.problems.set_index("line")["message"]
    assert messages[2].endswith("got 15.")
    assert messages[3].endswith("got 102.5.")
    assert "got 2026-03-31." in messages[7]
    held = report.problems[report.problems["rule"] == "identifier_value"]
    assert held["line"].tolist() == [4] and held["column"].tolist() == ["value"]
    assert "11.0123456789" not in " ".join(report.problems["message"])
    assert_same(tmp_path)


def test_parquet_dictionary_is_trimmed_and_merged(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "parquet")
    ae = pq.read_table(tmp_path / "adverse_events.parquet")
    severity = pa.array([" mild", "  ", "mild "]).dictionary_encode()
    ae = ae.set_column(3, "severity", severity)
    pq.write_table(ae, tmp_path / "adverse_events.parquet")
    frame = read_export(tmp_path).tables["adverse_events"].frame
    assert list(frame["severity"].cat.categories) == ["mild"]
    assert frame["severity"].isna().tolist() == [False, True, False]
    assert_same(tmp_path)


def test_parquet_id_stored_as_number_is_its_text(tmp_path: Path) -> None:
    tables = small_export()
    write_export(tables, tmp_path, "parquet")
    p = pq.read_table(tmp_path / "patients.parquet")
    p = p.set_column(1, "site_id", pa.array([1.0, 1.0, 2.5])).append_column(
        "note", pa.array([1.0123456789, None, 3.0])
    )
    pq.write_table(p, tmp_path / "patients.parquet")
    assert_same(tmp_path)
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str) and report.dataset is not None
    assert report.dataset.patients["site_id"].tolist() == ["1"]  # P2; P1 and P3 rejected
    bad_id = report.problems[report.problems["rule"] == "invalid_id"]["message"]
    assert bad_id.str.endswith("got 2.5.").tolist() == [True]
    # the extra column stays text, and a decimal that reads like a trunk-0 telephone
    # number is screened as the text path screened it
    assert "identifier_value" in set(report.problems["rule"])


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(NASTY)))
def test_nasty_values_in_every_format(tmp_path: Path, index: int) -> None:
    for path in write_all(_corrupt(index, NASTY[index]), tmp_path):
        assert_same(path, ("quarantine",))


cells = st.tuples(
    st.sampled_from(sorted(SPECS)),
    st.integers(0, 20),
    st.integers(0, 20),
    st.one_of(st.sampled_from(NASTY), st.text(max_size=6)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(cells, min_size=1, max_size=4), fmt=st.integers(0, 2))
def test_random_corruption_typed_equals_text(ops: list[tuple[Any, ...]], fmt: int) -> None:
    tables = small_export()
    for table, row, col, value in ops:
        frame = tables[table]
        frame.iloc[row % len(frame), col % frame.shape[1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = write_all(tables, Path(tmp))[fmt]
        assert_same(path, ("quarantine",))


@pytest.mark.parametrize("bad", [b"\xff", b"\xed\xa0\x80", b"\xc3"])
def test_csv_not_utf8_is_named_by_the_text_path(tmp_path: Path, bad: bytes) -> None:
    write_export(small_export(), tmp_path, "csv")
    path = tmp_path / "sessions.csv"
    data = path.read_bytes().replace(b"piriformis,false", b"piri" + bad + b"formis,false", 1)
    path.write_bytes(data)
    with pytest.raises(UnreadableInputError, match="line 3 is not UTF-8"):
        read_export(tmp_path)
    assert_same(tmp_path, ("strict",))


def test_csv_gz_takes_the_fast_path(tmp_path: Path) -> None:
    tables = small_export()
    tables["outcomes"].loc[1, "value"] = "41.0"
    write_export(tables, tmp_path, "csv_gz")
    assert read_export(tmp_path).tables["outcomes"].text_table is not None
    assert_same(tmp_path)


def test_parquet_empty_rows_are_dropped_with_their_lines(tmp_path: Path) -> None:
    tables = small_export()
    s = tables["sessions"]
    blank = pd.DataFrame([[""] * s.shape[1]], columns=s.columns)
    tables["sessions"] = pd.concat([s.iloc[:2], blank, s.iloc[2:], blank], ignore_index=True)
    write_typed_parquet(tables, tmp_path)
    raw = read_export(tmp_path).tables["sessions"]
    assert raw.frame["session_date"].dtype == "datetime64[ns]"
    assert raw.lines.tolist() == [2, 3, 5, 6, 7, 8, 9, 10]  # lines 4 and 11 were empty
    assert_same(tmp_path)
