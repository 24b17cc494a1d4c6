"""Column-level quasi-identifier warnings (issue 14): an extra column of 5-digit US ZIP
codes, an extra column of full dates of birth. Warnings only, never the value."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
from loader_data import small_export, write_export

import dnoutcomes
from dnoutcomes.cli import main

Tables = dict[str, pd.DataFrame]
# values that must never be echoed
ZIPS = ["02139", "02139", "90210"]  # P1, P2, P3
BIRTHS = ["1961-07-14", "1932-11-03", "1994-02-27"]  # 18-110 years before 2025


def _quasi(tables: Tables, tmp_path: Path, fmt: str, allow: tuple[str, ...] = ()) -> pd.DataFrame:
    path = write_export(tables, tmp_path / fmt, fmt)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        ds = dnoutcomes.load(path, allow_columns=list(allow))
    w = ds.warnings
    return w[w["rule"] == "quasi_identifier"]


def _with(column: str, values: list[str]) -> Tables:
    tables = small_export()
    tables["patients"][column] = values
    return tables


@pytest.mark.parametrize("fmt", ["csv", "semicolon_bom", "parquet", "xlsx"])
def test_a_column_of_zip_codes_warns(tmp_path: Path, fmt: str) -> None:
    # no hint in the name: the leading zero (text) and repeated codes make it ZIP-like
    w = _quasi(_with("area_code", ZIPS), tmp_path, fmt)
    assert w[["table", "line", "column"]].values.tolist() == [
        ["patients", 2, "area_code"],
        ["patients", 3, "area_code"],
        ["patients", 4, "area_code"],
    ]
    assert w["message"].str.contains("5-digit US ZIP codes", regex=False).all()
    text = w.to_string() + w.to_json()
    assert not any(z in text for z in ZIPS)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_allowed_zip_column_is_still_screened(tmp_path: Path, fmt: str) -> None:
    # the name alone hints ZIP: the codes need no leading zero and may be distinct
    w = _quasi(_with("zip5", ["10001", "60614", "90210"]), tmp_path, fmt, ("zip5",))
    assert w["line"].tolist() == [2, 3, 4]
    assert set(w["column"]) == {"zip5"}


@pytest.mark.parametrize(
    "values",
    [
        ["12345", "23456", "34567"],  # 5-digit numbers, no hint, no leading zero
        ["01234", "01235", "01236"],  # zero-padded but distinct: a row id
        ["12345.0", "23456.5", "02139.0"],  # measurements
        ["0213", "02139-4307x", ""],  # not mostly 5 digits
    ],
)
def test_numbers_and_ids_do_not_warn_as_zip_codes(tmp_path: Path, values: list[str]) -> None:
    assert _quasi(_with("code", values), tmp_path, "csv").empty


@pytest.mark.parametrize("fmt", ["csv", "semicolon_bom", "parquet", "xlsx"])
def test_full_dates_of_birth_warn(tmp_path: Path, fmt: str) -> None:
    w = _quasi(_with("ref_date", BIRTHS), tmp_path, fmt)
    assert w[["table", "line", "column"]].values.tolist() == [
        ["patients", 2, "ref_date"],
        ["patients", 3, "ref_date"],
        ["patients", 4, "ref_date"],
    ]
    assert w["message"].str.contains("dates of birth", regex=False).all()
    text = w.to_string() + w.to_json()
    assert not any(b in text for b in BIRTHS)


def test_day_month_year_dates_of_birth_warn(tmp_path: Path) -> None:
    w = _quasi(_with("seen", ["14/07/1961", "3.11.1932", "27-02-1994"]), tmp_path, "csv")
    assert w["line"].tolist() == [2, 3, 4]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_allowed_birth_column_warns_whatever_the_years(tmp_path: Path, fmt: str) -> None:
    dates = ["2020-01-01", "2021-05-05", ""]  # too recent for the age rule
    assert _quasi(_with("referral", dates), tmp_path, fmt).empty
    w = _quasi(_with("birth_dt", dates), tmp_path, fmt, ("birth_dt",))
    assert w["line"].tolist() == [2, 3]


def test_recent_dates_and_years_only_do_not_warn(tmp_path: Path) -> None:
    # referral dates within the episodes' years, and years of birth alone
    assert _quasi(_with("referral", ["2024-12-01", "2025-01-02", ""]), tmp_path, "csv").empty
    years = _with("birth_year", ["1961", "1932", "1994"])
    assert _quasi(years, tmp_path, "csv", ("birth_year",)).empty
    # only one of three dates is 18+ years before: not mostly birth dates
    mixed = ["2024-12-01", "1950-01-01", "2025-01-02"]
    assert _quasi(_with("when", mixed), tmp_path, "csv").empty


def test_validate_never_echoes_the_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = small_export()
    tables["patients"]["area_code"] = ZIPS
    tables["patients"]["ref_date"] = BIRTHS
    path = write_export(tables, tmp_path / "x", "csv")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "quasi_identifier" in text and "area_code" in text and "ref_date" in text
    assert not any(v in text for v in ZIPS + BIRTHS)
    assert main(["validate", str(path), "--json"]) == 0
    out = capsys.readouterr()
    assert not any(v in out.out + out.err for v in ZIPS + BIRTHS)
    warned = [w for w in json.loads(out.out)["warnings"] if w["rule"] == "quasi_identifier"]
    assert sorted({(w["column"], w["line"]) for w in warned}) == [
        ("area_code", 2), ("area_code", 3), ("area_code", 4),
        ("ref_date", 2), ("ref_date", 3), ("ref_date", 4),
    ]  # fmt: skip


def test_the_sample_data_and_clinic_a_have_no_quasi_identifier_warning(
    clinic_a_dataset: dnoutcomes.Dataset,
) -> None:
    root = Path(__file__).parents[1] / "data" / "sample"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        ds = dnoutcomes.load(root)
    assert not (ds.warnings["rule"] == "quasi_identifier").any()
    # the counts docs/validation.md states for clinic_a: all contraindicated_needling
    assert clinic_a_dataset.warnings["rule"].value_counts().to_dict() == {
        "contraindicated_needling": 204
    }


def test_cell_shapes_per_distinct_value_equal_cell_by_cell() -> None:
    import numpy as np
    import pyarrow as pa

    from dnoutcomes.contract.deid import column_shapes

    pool = ["02139", " 90210 ", "12345.0", "1961-07-14", "3.11.1932", "27/02/1994 ", "", "x"]
    rng = np.random.default_rng(5)
    columns = [pa.array([*rng.choice(pool, 999).tolist(), None]) for _ in range(6)]
    whole = column_shapes(columns)  # 6000 cells: the dictionary path
    for j, column in enumerate(columns):
        one = column_shapes([column])  # 1000 cells: cell by cell
        for got, want in zip(whole, one, strict=True):
            np.testing.assert_array_equal(got[j], want[0])
    filled, zip5, dated, year = column_shapes([pa.array(pool + [None])])
    assert filled[0].tolist() == [True] * 6 + [False, True, False]
    assert zip5[0].tolist() == [True, True] + [False] * 7
    assert dated[0].tolist() == [False] * 3 + [True] * 3 + [False] * 3
    np.testing.assert_array_equal(year[0][3:6], [1961, 1932, 1994])
