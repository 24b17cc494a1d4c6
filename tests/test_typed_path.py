"""The reader's typed fast path gives exactly what the text path gives.

Parquet columns keep their types and clean comma-separated CSV files are read with the
contract's types (``dnoutcomes.io``); ``read_export(path, _text_only=True)`` forces the
text path every cell took before (Parquet columns cast to text, CSV read as text). Every
comparison here loads the same files both ways and asserts identical results: the typed
frames of the Dataset, problems, warnings, rejects and accounting, in strict and quarantine
mode.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_data import small_export, write_export
from test_validate_properties import NASTY

import dnoutcomes._encode
import dnoutcomes._frames
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


# --- review of the typed path: unusual Parquet types, CSV layouts, run compression --------
# Each case was also loaded with the loader before the typed path (9b835c1): same problems,
# warnings, accounting and frames, except where a test says the old behaviour was wrong.


def _edit_parquet(path: Path, edits: list[tuple[str, str, pa.Array]]) -> Path:
    """``small_export`` as Parquet of text, with the given columns replaced (or added)."""
    write_export(small_export(), path, "parquet")
    for table, column, array in edits:
        file = path / f"{table}.parquet"
        t = pq.read_table(file)
        if column in t.column_names:
            t = t.set_column(t.column_names.index(column), column, array)
        else:
            t = t.append_column(column, array)
        pq.write_table(t, file)
    return path


_DAYS = [  # outcomes.assessed_on of small_export
    "2025-01-06", "2025-01-06", "2025-01-13", "2025-02-20", "2025-02-20", "2025-03-06",
    "2025-01-10", "2025-01-10", "2025-01-17", "2025-02-01", "2025-02-01", "2025-03-15",
    "2025-03-15", "2025-04-01",
]  # fmt: skip
_VALUES = [7, 40, 5, 2, 18.5, 2, 6, 36, 5, 8, 52, 3, 22, 4]  # outcomes.value
_TIMEPOINTS = (
    ["baseline", "baseline", "session", "discharge", "discharge", "followup_4w"]
    + ["baseline", "baseline", "session", "baseline", "baseline", "discharge", "discharge"]
    + ["baseline"]
)


def _at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}")


PARQUET_TYPES: dict[str, list[tuple[str, str, pa.Array]]] = {
    "integer ids": [
        ("patients", "patient_id", pa.array([1, 2, 3], pa.int64())),
        ("episodes", "patient_id", pa.array([1, 2, 3, 1], pa.int32())),
    ],
    "float ids referred to as text": [
        ("patients", "patient_id", pa.array([1.0, 2.0, 3.0])),
        ("episodes", "patient_id", pa.array(["1", "2", "3", "1"])),
    ],
    "integer ids, one written 03": [
        ("patients", "patient_id", pa.array([1, 2, 3], pa.int64())),
        ("episodes", "patient_id", pa.array(["1", "2", "03", "1"])),
    ],
    "dictionary of integers": [
        ("patients", "patient_id", pa.array([1, 2, 3]).dictionary_encode()),
        ("episodes", "patient_id", pa.array([1, 2, 3, 1]).dictionary_encode()),
        ("patients", "age", pa.array([45, 91, 30]).dictionary_encode()),
    ],
    "large_string and string_view": [
        ("outcomes", "episode_id", pa.array(["E1"] * 6 + ["E2"] * 3 + ["E3"] * 4 + ["E4"],
                                            pa.large_string())),
        ("outcomes", "timepoint", pa.array(_TIMEPOINTS, pa.string_view())),
    ],
    "timestamps with a time zone": [
        ("outcomes", "assessed_on",
         pa.array([_at(d, "23:30") for d in _DAYS], pa.timestamp("us", tz="Asia/Tokyo"))),
    ],
    "timestamps with times": [
        ("sessions", "session_date",
         pa.array([_at(d, "13:45:12") for d in ["2025-01-06", "2025-01-13", "2025-01-10",
                  "2025-01-17", "2025-02-01", "2025-02-08", "2025-04-01", "2025-04-10"]],
                  pa.timestamp("ns"))),
    ],
    "date64": [
        ("episodes", "end_date",
         pa.array([dt.date(2025, 2, 20), None, dt.date(2025, 3, 15), dt.date(2025, 5, 1)],
                  pa.date64())),
    ],
    "booleans all missing, null type": [
        ("sessions", "twitch_response", pa.array([None] * 8, pa.bool_())),
        ("sessions", "pain_education", pa.array([None] * 8, pa.null())),
        ("episodes", "end_date", pa.array([None] * 4, pa.null())),
        ("episodes", "arm", pa.array([None] * 4, pa.null())),
        ("sessions", "needles", pa.array([None] * 8, pa.null())),
    ],
    "required columns of null type": [
        ("sessions", "dn_performed", pa.array([None] * 8, pa.null())),
        ("outcomes", "value", pa.array([None] * 14, pa.null())),
    ],
    "decimal": [
        ("outcomes", "value",
         pa.array([decimal.Decimal(str(v)) for v in _VALUES], pa.decimal128(6, 2))),
    ],
    "float32": [("outcomes", "value", pa.array(_VALUES, pa.float32()))],
    "uint64 and an age beyond int64": [
        ("sessions", "needles", pa.array([4, 3, None, 0, 5, 2, 2, None], pa.uint64())),
        ("patients", "age", pa.array([45, 2**63 + 5, 30], pa.uint64())),
    ],
    "binary": [
        ("outcomes", "measure",
         pa.array([b"nprs", b"odi"] + [b"nprs"] * 12, pa.binary())),
    ],
    "categories differing in case and spaces": [
        ("adverse_events", "severity",
         pa.array(["Mild", "significant", "MILD "]).dictionary_encode()),
        ("outcomes", "measure",
         pa.array(["NPRS", "odi"] + ["Nprs "] * 12).dictionary_encode()),
    ],
    "categories equal after trimming": [
        ("adverse_events", "severity",
         pa.DictionaryArray.from_arrays(pa.array([0, 1, 2], pa.int8()),
                                        pa.array(["mild", " mild", "significant "]))),
    ],
    "time and duration extra columns": [
        ("patients", "visit_time", pa.array([dt.time(1, 2), None, dt.time(3, 4)])),
        ("patients", "wait", pa.array([1, None, 3], pa.duration("s"))),
    ],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(PARQUET_TYPES))
def test_parquet_types_typed_equals_text(tmp_path: Path, case: str) -> None:
    assert_same(_edit_parquet(tmp_path, PARQUET_TYPES[case]), ("quarantine",))


def test_parquet_row_groups_with_different_dictionaries(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "parquet")
    o = pq.read_table(tmp_path / "outcomes.parquet")
    m = o.column("measure").to_pylist()
    measure = pa.chunked_array(
        [
            pa.array(m[:5]).dictionary_encode(),
            pa.array([" " + x.upper() for x in m[5:]]).dictionary_encode(),
        ]
    )
    pq.write_table(
        o.set_column(4, "measure", measure), tmp_path / "outcomes.parquet", row_group_size=5
    )
    assert_same(tmp_path)


def test_parquet_integer_ids_are_the_text_ids(tmp_path: Path) -> None:
    _edit_parquet(tmp_path, PARQUET_TYPES["integer ids, one written 03"])
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str) and report.dataset is not None
    assert report.dataset.patients["patient_id"].tolist() == ["1", "2", "3"]
    assert report.dataset.episodes["patient_id"].tolist() == ["1", "2", "1"]  # E3 rejected
    orphan = report.problems[report.problems["rule"] == "orphan"]
    assert (
        orphan["line"].tolist() == [4]
        and orphan["message"].str.contains("; got 03. ", regex=False).all()
    )


def test_parquet_timestamp_with_time_zone_is_its_local_date(tmp_path: Path) -> None:
    # 23:30 in Tokyo is 14:30 UTC the same day; 05:00 in Tokyo is the evening before in UTC
    days = [_at(d, "05:00") for d in _DAYS]
    _edit_parquet(
        tmp_path,
        [
            (
                "outcomes",
                "assessed_on",
                pa.array(days, pa.timestamp("ms", tz="UTC")).cast(
                    pa.timestamp("ms", tz="Asia/Tokyo")
                ),
            )
        ],
    )
    report = _run(tmp_path, False, "strict")
    assert not isinstance(report, str) and report.dataset is not None
    got = report.dataset.outcomes["assessed_on"].dt.strftime("%Y-%m-%d").tolist()
    assert got == [(pd.Timestamp(d) + pd.Timedelta(hours=14)).strftime("%Y-%m-%d") for d in days]
    assert_same(tmp_path)


def test_parquet_list_with_missing_items_keeps_the_others(tmp_path: Path) -> None:
    # before the review a missing item made the whole cell missing (both paths and the
    # loader of 9b835c1): the muscles recorded beside it were lost without a word
    muscles = pa.array(
        [["piriformis", None], None, [], [" Piriformis "], [None], [None, "erector_spinae"],
         ["other", "spleen", None], []]
    )  # fmt: skip
    _edit_parquet(tmp_path, [("sessions", "muscles", muscles)])
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str) and report.dataset is not None
    assert report.dataset.sessions["muscles"].tolist() == [
        ("piriformis",),
        (),
        (),
        ("piriformis",),
        (),
        ("erector_spinae",),
    ] + [()]  # S7 (line 8) rejected for "spleen"; S8
    bad = report.problems[report.problems["rule"] == "unknown_list_item"]
    assert bad["line"].tolist() == [8]
    assert_same(tmp_path)


def test_parquet_duplicate_column_names_are_reported_as_in_csv(tmp_path: Path) -> None:
    # pq.read_table refused such a file ("Multiple matches for FieldRef", the schema with
    # Arrow's internal columns in the message); a CSV file gets duplicate_column
    _edit_parquet(tmp_path, [("patients", "sex", pa.array(["male", "x", None]))])
    p = pq.read_table(tmp_path / "patients.parquet")
    p = pa.table(
        p.columns + [pa.array(["female", "male", "other"])], names=p.column_names + ["sex"]
    )
    pq.write_table(p, tmp_path / "patients.parquet")
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str)
    dup = report.problems[report.problems["rule"] == "duplicate_column"]
    assert dup[["line", "column"]].values.tolist() == [[1, "sex"]]
    assert_same(tmp_path)


def _lines_end(data: bytes, end: bytes) -> bytes:
    return data.replace(b"\n", end)


CSV_LAYOUTS: dict[str, tuple[str, Any]] = {
    "CRLF": ("outcomes", lambda b: _lines_end(b, b"\r\n")),
    "CR only": ("sessions", lambda b: _lines_end(b, b"\r")),
    "BOM": ("outcomes", lambda b: b"\xef\xbb\xbf" + b),
    "a trailing delimiter on every line": ("outcomes", lambda b: _lines_end(b, b",\n")),
    "a trailing delimiter on the rows only": (
        "outcomes",
        lambda b: b.replace(b"\n", b",\n").replace(b"value,\n", b"value\n", 1),
    ),
    "quoted numbers": (
        "outcomes", lambda b: b.replace(b",7\n", b',"7"\n').replace(b",40\n", b',"4e1"\n')
    ),
    "an empty last line": ("outcomes", lambda b: b + b"\n"),
    "no line end on the last row": ("outcomes", lambda b: b.rstrip(b"\n")),
    "a very long cell": ("patients", lambda b: b.replace(b"sciatica", b"x" * 200_000)),
    "a very long id": ("outcomes", lambda b: b.replace(b"E4,S7", b"E" * 100_000 + b",S7")),
    "a quoted cell with a line break": (
        "adverse_events", lambda b: b.replace(b"AE3,S7,soreness", b'AE3,S7,"sore\r\nness"')
    ),
    "a quoted id with a line break": ("outcomes", lambda b: b.replace(b"E1,S2,", b'"E1\n",S2,')),
    "tab and no-break space around cells": (
        "outcomes", lambda b: b.replace(b"nprs,7\n", "nprs,\t7\u00a0\n".encode())
    ),
    "header only": ("adverse_events", lambda b: b.split(b"\n")[0] + b"\n"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CSV_LAYOUTS))
def test_csv_layouts_typed_equals_text(tmp_path: Path, case: str) -> None:
    table, edit = CSV_LAYOUTS[case]
    write_export(small_export(), tmp_path, "csv")
    path = tmp_path / f"{table}.csv"
    path.write_bytes(edit(path.read_bytes()))
    assert_same(tmp_path, ("quarantine",))


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("sessions", "dn_performed", "True"),
        ("sessions", "dn_performed", "YES"),
        ("sessions", "dn_performed", " t "),
        ("sessions", "dn_performed", "on"),
        ("sessions", "needles", "+2"),
        ("sessions", "needles", "1e1"),
        ("sessions", "needles", " 3.0 "),
        ("sessions", "session_date", "2025-01-05T00:00"),
        ("sessions", "session_date", "2025-01-13 00:00:00"),
        ("sessions", "session_date", "1677-09-21"),
        ("patients", "age", "90.0"),
        ("patients", "age", "+90"),
        ("patients", "age", "089"),
        ("patients", "sex", "FEMALE"),
        ("adverse_events", "severity", "Mild\u00a0"),
        ("outcomes", "value", "+nan"),
        ("outcomes", "value", "5."),
        ("outcomes", "value", "-0"),
        ("outcomes", "value", "1e-400"),
        ("outcomes", "value", "9007199254740993"),
        ("outcomes", "value", "NULL"),
    ],
)
def test_csv_cells_of_every_table(tmp_path: Path, table: str, column: str, value: str) -> None:
    tables = small_export()
    tables[table].loc[1, column] = value
    write_export(tables, tmp_path, "csv")
    assert_same(tmp_path, ("quarantine",))


@pytest.mark.parametrize("fmt", ["csv", "csv_gz"])
@pytest.mark.parametrize("table", ["sessions", "adverse_events"])
def test_csv_header_only_without_a_line_end(tmp_path: Path, fmt: str, table: str) -> None:
    # pyarrow cannot skip a header that no line end follows: such a file of no rows was
    # refused as "not readable CSV" (by 9b835c1 too); it now loads as "header\n" does
    tables = small_export()
    tables[table] = tables[table].iloc[:0]
    ended, bare = tmp_path / "ended", tmp_path / "bare"
    write_export(tables, ended, fmt)  # type: ignore[arg-type]
    write_export(tables, bare, fmt)  # type: ignore[arg-type]
    name = f"{table}.csv" + (".gz" if fmt == "csv_gz" else "")
    header = (
        (ended / name).read_bytes()
        if fmt == "csv"
        else gzip.decompress((ended / name).read_bytes())
    )
    assert header.endswith(b"\n") and header.count(b"\n") == 1
    content = header.rstrip(b"\r\n")
    (bare / name).write_bytes(content if fmt == "csv" else gzip.compress(content))
    assert read_export(bare).tables[table].frame.shape == (0, len(SPECS[table]))
    for mode in ("strict", "quarantine"):
        a, b = _run(bare, False, mode), _run(ended, False, mode)
        assert not isinstance(a, str) and not isinstance(b, str)
        pd.testing.assert_frame_equal(a.problems, b.problems)
        pd.testing.assert_frame_equal(a.accounting, b.accounting)
    assert_same(bare)


@pytest.fixture(scope="module")
def key_problems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A generated export (ids sorted, so runs of equal ids) with key problems placed
    where run compression could go wrong, as CSV and as Parquet, with its text tables."""
    root = tmp_path_factory.mktemp("runs")
    src = dnoutcomes.sample.generate(episodes=300, seed=11).write(root / "src", format="csv")
    t = {p.name[:-4]: pd.read_csv(p, dtype=str, keep_default_na=False) for p in src.glob("*.csv")}
    s, o, e = t["sessions"], t["outcomes"], t["episodes"]
    s.loc[1500, "session_id"] = s.loc[10, "session_id"]  # repeated on distant rows
    s.loc[700, "episode_id"] = ""  # an empty id inside a run
    e.loc[250, "episode_id"] = e.loc[3, "episode_id"]  # repeated episode: its children orphaned
    o.loc[[100, 101, 102], "episode_id"] = "E000010a"  # sorts between the runs of E000010, 11
    o.loc[2000, "episode_id"] = "E000000"  # before the first run
    o.loc[3000, "episode_id"] = ""
    first = o[(o["episode_id"] == "E000020") & (o["timepoint"] == "baseline")].iloc[:1]
    t["outcomes"] = pd.concat([o, first], ignore_index=True)  # baseline again, far away
    paths = {fmt: write_export(t, root / fmt, fmt) for fmt in ("csv", "parquet")}
    return {"paths": paths, "tables": t}


def _report(path: Path) -> ValidationReport:
    report = _run(path, False, "quarantine")
    assert not isinstance(report, str)
    return report


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_runs_and_blocks_change_no_result(
    key_problems: dict[str, Any], fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing only the first id of each run, and working in blocks, gives the answer of
    hashing every row in one block."""
    path = key_problems["paths"][fmt]
    runs = _report(path)
    monkeypatch.setattr(dnoutcomes._encode, "_runs", lambda chunk: None)
    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", 7)
    _same_report(runs, _report(path))


def test_key_problems_match_pandas(key_problems: dict[str, Any]) -> None:
    """Duplicate ids, orphans and the repeated baseline, against pandas on the text."""
    t = key_problems["tables"]
    report = _report(key_problems["paths"]["csv"])
    by = ["table", "column", "rule"]
    found = report.problems.groupby(by)["line"].apply(lambda x: sorted(map(int, x))).to_dict()
    for name in ("sessions", "episodes"):
        key = f"{name[:-1]}_id"
        expected = np.flatnonzero(t[name][key].duplicated(keep=False).to_numpy()) + 2
        assert found[(name, key, "duplicate_id")] == expected.tolist()
    o, e = t["outcomes"], t["episodes"]
    orphan = (o["episode_id"] != "") & ~o["episode_id"].isin(e["episode_id"])
    assert found[("outcomes", "episode_id", "orphan")] == (np.flatnonzero(orphan) + 2).tolist()
    s = t["sessions"]["session_id"]
    orphan = (o["session_id"] != "") & ~o["session_id"].isin(s)
    assert found[("outcomes", "session_id", "orphan")] == (np.flatnonzero(orphan) + 2).tolist()
    empty = np.flatnonzero(o["episode_id"] == "") + 2
    assert found[("outcomes", "episode_id", "missing_value")] == empty.tolist()
    baseline = o[(o["episode_id"] == "E000020") & (o["timepoint"] == "baseline")]
    twice = baseline[baseline.duplicated(["measure"], keep=False)]
    assert found[("outcomes", "timepoint", "duplicate_timepoint")] == sorted(twice.index + 2)


@pytest.mark.parametrize(
    "first",
    [
        pa.array([-800_000], pa.int32()).cast(pa.date32()),  # year -221
        pa.array([-719_529], pa.int32()).cast(pa.date32()),  # year 0 (-0001-12-31)
        pa.array([2_932_897], pa.int32()).cast(pa.date32()),  # 10000-01-01
        pa.array([3_000_000], pa.int32()).cast(pa.date32()),
        pa.array([2**62], pa.int64()).cast(pa.timestamp("ms")),
        pa.array([-800_000 * 86_400_000], pa.int64()).cast(pa.date64()),
    ],
    ids=["date32 year -221", "date32 year 0", "date32 year 10000", "date32 year 10183",
         "timestamp year 146 million", "date64 year -221"],
)  # fmt: skip
def test_parquet_dates_without_a_python_date_are_invalid(tmp_path: Path, first: pa.Array) -> None:
    # the typed path checked a date32 column's range with Python dates, which exist for
    # years 1 to 9999 only: such a column raised OverflowError instead of invalid_date
    days = pa.array([dt.date.fromisoformat(d) for d in _DAYS[1:]], pa.date32()).cast(first.type)
    column = pa.concat_arrays([first, days])
    _edit_parquet(tmp_path, [("outcomes", "assessed_on", column)])
    report = _run(tmp_path, False, "quarantine")
    assert not isinstance(report, str)
    assert report.problems[["line", "column", "rule"]].values.tolist() == [
        [2, "assessed_on", "invalid_date"]
    ]
    assert_same(tmp_path)
