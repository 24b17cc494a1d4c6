"""Reading exports: every format gives the same frames; unreadable input is refused with
UnreadableInputError naming the file; line numbers count the header as line 1."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loader_data import COUNTS, small_export, write_export

import dnoutcomes
from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.io import read_export

FORMATS = ["csv", "semicolon_bom", "csv_gz", "parquet", "xlsx"]


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dnoutcomes.Dataset:
    path = write_export(small_export(), tmp_path_factory.mktemp("ref"), "csv")
    return dnoutcomes.load(path)


@pytest.mark.parametrize("wide", [False, True], ids=["long", "wide"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_to_equal_frames(
    fmt: str, wide: bool, tmp_path: Path, reference: dnoutcomes.Dataset
) -> None:
    path = write_export(small_export(), tmp_path / "export", fmt, wide=wide)  # type: ignore[arg-type]
    ds = dnoutcomes.load(path)
    assert ds.accounting.set_index("table")["loaded"].to_dict() == COUNTS
    for name in ("patients", "episodes", "sessions"):
        pd.testing.assert_frame_equal(getattr(ds, name), getattr(reference, name))
    keys = ["episode_id", "assessed_on", "timepoint", "measure"]
    pd.testing.assert_frame_equal(_sorted(ds.outcomes, keys), _sorted(reference.outcomes, keys))
    assert ds.adverse_events is not None and reference.adverse_events is not None
    pd.testing.assert_frame_equal(ds.adverse_events, reference.adverse_events)
    assert ds.outcomes_form == ("wide" if wide else "long")


def test_header_names_are_matched_case_insensitively_after_trimming(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].columns = [f"  {c.upper()} " for c in tables["patients"].columns]
    ds = dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    assert list(ds.patients.columns[:2]) == ["patient_id", "site_id"]


def test_line_numbers_count_the_header_and_blank_lines(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    text = (tmp_path / "patients.csv").read_text().splitlines()
    # a blank line after the first data row: P2 is now on line 4, P3 on line 5
    (tmp_path / "patients.csv").write_text("\n".join(text[:2] + [""] + text[2:]) + "\n")
    raw = read_export(tmp_path)
    assert raw.tables["patients"].lines.tolist() == [2, 4, 5]
    assert raw.tables["patients"].frame["patient_id"].tolist() == ["P1", "P2", "P3"]


def test_malformed_row_is_counted_and_named(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    with open(tmp_path / "patients.csv", "a") as fh:
        fh.write("P4,south,female,40\n")  # 4 fields instead of 7, on line 5
    with pytest.raises(dnoutcomes.DatasetError) as err:
        dnoutcomes.load(tmp_path)
    probs = err.value.problems
    assert probs[["line", "rule"]].values.tolist() == [[5, "malformed_row"]]
    ds = dnoutcomes.load(tmp_path, mode="quarantine")
    acc = ds.accounting.set_index("table").loc["patients"]
    assert (acc["read"], acc["loaded"], acc["rejected"]) == (4, 3, 1)
    assert ds.rejects["line"].tolist() == [5]


MODES = pytest.mark.parametrize("mode", ["strict", "quarantine"])


@MODES
def test_empty_file_is_unreadable(tmp_path: Path, mode: str) -> None:
    write_export(small_export(), tmp_path, "csv")
    (tmp_path / "episodes.csv").write_bytes(b"")
    with pytest.raises(UnreadableInputError, match=r"episodes\.csv: the file is empty") as err:
        dnoutcomes.load(tmp_path, mode=mode)  # type: ignore[arg-type]
    assert err.value.problems["table"].tolist() == ["episodes"]


@MODES
@pytest.mark.parametrize("where", ["header", "body"])
def test_non_utf8_file_is_unreadable_with_the_line(tmp_path: Path, where: str, mode: str) -> None:
    write_export(small_export(), tmp_path, "csv")
    text = (tmp_path / "patients.csv").read_text()
    if where == "header":
        text = text.replace("condition", "condición", 1)
        line = 1
    else:
        text = text.replace("P3,south", "P3,Málaga", 1)
        line = 4
    (tmp_path / "patients.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(UnreadableInputError, match=rf"line {line} is not UTF-8") as err:
        dnoutcomes.load(tmp_path, mode=mode)  # type: ignore[arg-type]
    assert isinstance(err.value, dnoutcomes.DatasetError)
    assert isinstance(err.value, ValueError)


@MODES
def test_missing_table_and_missing_folder(tmp_path: Path, mode: str) -> None:
    write_export(small_export(), tmp_path, "csv")
    (tmp_path / "sessions.csv").unlink()
    with pytest.raises(UnreadableInputError, match="required table.*sessions"):
        dnoutcomes.load(tmp_path, mode=mode)  # type: ignore[arg-type]
    with pytest.raises(UnreadableInputError, match="no such folder"):
        dnoutcomes.load(tmp_path / "nope")
    with pytest.raises(UnreadableInputError, match="one .xlsx workbook"):
        dnoutcomes.load(tmp_path / "patients.csv")


def test_adverse_events_absent_is_none_not_zero(tmp_path: Path) -> None:
    tables = small_export()
    del tables["adverse_events"]
    ds = dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    assert ds.adverse_events is None
    assert "adverse_events" not in set(ds.accounting["table"])


@MODES
def test_workbook_missing_a_sheet(tmp_path: Path, mode: str) -> None:
    tables = small_export()
    del tables["outcomes"]
    path = write_export(tables, tmp_path, "xlsx")
    with pytest.raises(UnreadableInputError, match="no sheet for the required table.*outcomes"):
        dnoutcomes.load(path, mode=mode)  # type: ignore[arg-type]


def test_workbook_line_numbers_are_sheet_rows(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[2, "age"] = "93"
    path = write_export(tables, tmp_path, "xlsx")
    with pytest.raises(dnoutcomes.DatasetError) as err:
        dnoutcomes.load(path)
    probs = err.value.problems
    assert probs[["file", "line", "column", "rule"]].values.tolist() == [
        ["export.xlsx[patients]", 4, "age", "age_not_top_coded"]
    ]


def test_table_given_twice_is_refused(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    small_export()["patients"].to_parquet(tmp_path / "patients.parquet")
    with pytest.raises(UnreadableInputError, match="given twice"):
        dnoutcomes.load(tmp_path)


def test_gzip_and_checksums(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv_gz")
    raw = read_export(tmp_path)
    import hashlib

    data = (tmp_path / "patients.csv.gz").read_bytes()
    assert raw.tables["patients"].sha256 == hashlib.sha256(data).hexdigest()
    assert gzip.decompress(data).startswith(b"patient_id")


def test_parquet_typed_columns_stay_typed(tmp_path: Path) -> None:
    write_export(small_export(), tmp_path, "csv")
    (tmp_path / "sessions.csv").unlink()
    s = small_export()["sessions"]
    typed = pd.DataFrame(
        {
            "session_id": s["session_id"],
            "episode_id": s["episode_id"],
            "session_date": pd.to_datetime(s["session_date"]),
            "dn_performed": s["dn_performed"].str.lower().isin(["true", "t"]),
            "manual_therapy": s["manual_therapy"].str.lower().isin(["true", "yes", "1"]),
            "exercise_therapy": s["exercise_therapy"].str.lower().isin(["true", "yes", "1"]),
            "needles": pd.to_numeric(s["needles"]).astype("Int64"),
            "muscles": [x.split(";") if x else None for x in s["muscles"]],
        }
    )
    typed.to_parquet(tmp_path / "sessions.parquet")
    raw = read_export(tmp_path)
    f = raw.tables["sessions"].frame
    assert f["session_date"].dtype == "datetime64[ns]"
    assert f["session_date"].iloc[0] == pd.Timestamp("2025-01-06")
    assert f["dn_performed"].dtype == bool and bool(f["dn_performed"].iloc[0])
    assert f["muscles"].iloc[0] == "piriformis;gluteus_medius"  # a list is joined text
    assert f["needles"].dtype == "Int64" and f["needles"].isna().iloc[2]
    assert f["session_id"].dtype == "str"
    ds = dnoutcomes.load(tmp_path)
    assert ds.sessions["dn_performed"].tolist() == [True, True, False, False] + [True] * 3 + [False]
    assert ds.sessions["muscles"].iloc[0] == ("piriformis", "gluteus_medius")
    assert ds.sessions["twitch_response"].isna().all()


def test_stray_carriage_return_in_the_header_ends_the_line(tmp_path: Path) -> None:
    # found by the byte-corruption property test: a lone \r ends a line, as for pyarrow
    write_export(small_export(), tmp_path, "csv")
    data = (tmp_path / "adverse_events.csv").read_bytes().replace(b"type,", b"ty\rpe,", 1)
    (tmp_path / "adverse_events.csv").write_bytes(data)
    with pytest.raises(dnoutcomes.DatasetError) as err:
        dnoutcomes.load(tmp_path)
    rules = set(err.value.problems["rule"])
    assert {"missing_column", "malformed_row"} <= rules


@pytest.mark.parametrize("mode", ["strict", "quarantine"])
def test_input_files_are_never_modified(tmp_path: Path, mode: str) -> None:
    tables = small_export()
    tables["patients"].loc[0, "age"] = "93"
    path = write_export(tables, tmp_path, "csv")
    before = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in path.iterdir()}
    try:
        dnoutcomes.load(path, mode=mode)  # type: ignore[arg-type]
    except dnoutcomes.DatasetError:
        pass
    after = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in path.iterdir()}
    assert after == before


@settings(max_examples=150, deadline=None)
@given(
    cells=st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet=st.sampled_from(["a", "0", " ", "\t", "\xa0", "é", "\u3000", "x"])),
        ),
        max_size=8,
    ),
    start=st.integers(0, 3),
)
def test_trimming_skipped_only_when_it_changes_nothing(cells: list[str | None], start: int) -> None:
    # the reader skips the trim when no value starts or ends with a possible space:
    # the result must always equal trimming every value and blanking the empty ones
    from dnoutcomes.io._cells import _blank_to_null

    arr = pa.array(cells, pa.string()).slice(min(start, len(cells)))
    expected = [None if v is None or not v.strip() else v.strip() for v in arr.to_pylist()]
    assert _blank_to_null(arr).to_pylist() == expected
