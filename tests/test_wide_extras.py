"""Exports with many extra columns (issue 14): what the fast, batched code gives is what
one column at a time gives.

The reader trims small text columns together (``io._cells._text_arrows``) and the
identifier screens run on all extra columns stacked into one array; these tests check the
result cell by cell on a few hundred columns, with the batches made small so that a table
spans several of them. Not timed: ``benchmarks/bench_wide.py`` times 10,000 columns.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from test_typed_path import _run, _same_report

import dnoutcomes
import dnoutcomes.io._cells as cells
from dnoutcomes.sample import generate

COLUMNS = 300
SECRETS = {  # (extra column, data row) -> a cell the screen must catch
    (17, 3): "jo.bloggs@example.com",
    (150, 0): "+44 20 7946 0958",
    (299, 10): "１２３–４５–６７８９",  # fullwidth digits, en dashes: an SSN
}


def _cells(rng: np.random.Generator, rows: int) -> np.ndarray:
    choices = np.array(["", "level_a", "  padded  ", " ", "b", "naïve", "12.5", "2024-01-05"])
    return choices[rng.integers(0, len(choices), size=(rows, COLUMNS))]


def wide_export(root: Path, *, secrets: bool) -> tuple[Path, pd.DataFrame]:
    """A 40-episode export whose patients.csv has COLUMNS extra text columns; returns the
    folder and the extra cells as written."""
    folder = Path(generate(episodes=40, seed=21).write(root / "wide"))
    (folder / "truth.json").unlink(missing_ok=True)
    patients = pd.read_csv(folder / "patients.csv", dtype="str", keep_default_na=False)
    extra = pd.DataFrame(
        _cells(np.random.default_rng(21), len(patients)),
        columns=[f"extra_{k}" for k in range(COLUMNS)],
    )
    if secrets:
        for (column, row), value in SECRETS.items():
            extra.iat[row, column] = value
    pd.concat([patients, extra], axis=1).to_csv(folder / "patients.csv", index=False)
    return folder, extra


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of a few columns, so that one table is trimmed in many groups."""
    monkeypatch.setattr(cells, "_GROUP_BYTES", 4096)


@pytest.mark.usefixtures("small_batches")
def test_extra_columns_load_cell_for_cell(tmp_path: Path) -> None:
    folder, extra = wide_export(tmp_path, secrets=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dnoutcomes.load(folder)
    patients = data.patients
    names = [f"extra_{k}" for k in range(COLUMNS)]
    assert list(patients.columns[-COLUMNS:]) == names
    # trimmed, blank cells missing, text dtype, in file order
    expected = extra.apply(lambda c: c.str.strip()).replace("", np.nan)
    got = patients[names].reset_index(drop=True)
    assert all(dtype == "str" for dtype in got.dtypes)
    pd.testing.assert_frame_equal(got, expected.astype("str"), check_dtype=False)


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_typed_read_of_a_wide_file_is_the_text_read(tmp_path: Path, fmt: str) -> None:
    folder, _ = wide_export(tmp_path, secrets=True)
    if fmt == "parquet":
        patients = pd.read_csv(folder / "patients.csv", dtype="str", keep_default_na=False)
        patients.to_parquet(folder / "patients.parquet", index=False)
        (folder / "patients.csv").unlink()
    for mode in ("strict", "quarantine"):
        _same_report(_run(folder, False, mode), _run(folder, True, mode))


@pytest.mark.usefixtures("small_batches")
def test_identifiers_in_wide_files_are_caught_and_withheld(tmp_path: Path) -> None:
    folder, _ = wide_export(tmp_path, secrets=True)
    report = dnoutcomes.validate(folder, mode="quarantine")
    found = report.problems[report.problems["rule"] == "identifier_value"]
    expected = sorted((f"extra_{c}", r + 2) for c, r in SECRETS)
    assert sorted(zip(found["column"], found["line"], strict=True)) == expected
    shown = report.problems.to_string() + str(report.to_dict())
    assert report.dataset is not None
    shown += report.dataset.rejects.to_string()
    for value in SECRETS.values():
        assert value not in shown


def test_text_columns_trimmed_together_equal_one_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    words = ["", " a ", "b", "  ", "ü ", "\tc", "long value " * 3, None]
    columns = []
    for k in range(60):
        values = [words[i] for i in rng.integers(0, len(words), size=25)]
        cuts = sorted(rng.choice(np.arange(1, 25), size=k % 4, replace=False))
        parts = np.split(np.array(values, dtype=object), cuts)
        columns.append(pa.chunked_array([pa.array(list(p), pa.string()) for p in parts]))
    columns.append(pa.chunked_array([], pa.string()).cast(pa.string()))  # no chunks
    columns[-1] = pa.chunked_array([pa.array([None] * 25, pa.string())])
    for group, small in ((4096, 1 << 20), (200, 1 << 20), (200, 300)):
        monkeypatch.setattr(cells, "_GROUP_BYTES", group)
        monkeypatch.setattr(cells, "_SMALL_TEXT", small)
        together = cells._text_arrows(columns)
        alone = [cells._text_arrow(c) for c in columns]
        assert [a.to_pylist() for a in together] == [a.to_pylist() for a in alone]
