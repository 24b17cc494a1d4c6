"""The loader's two-thread read-and-check (issue 19): large exports read and check their
tables on two threads; the result must be the sequential loader's, to the last cell, and a
broken export must raise the same error."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import CLINIC_A

import dnoutcomes
from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.sample import generate
from dnoutcomes.validate import ValidationReport

# the module (``dnoutcomes.validate`` is also the function's name on the package)
validate_module = importlib.import_module("dnoutcomes.validate")
FRAMES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")


def _report(
    path: Path, *, threaded: bool, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> ValidationReport:
    """``validate`` with the second reading thread forced on (threshold 0) or off."""
    with monkeypatch.context() as m:
        m.setattr(validate_module, "_THREADED_BYTES", 0 if threaded else 1 << 62)
        return dnoutcomes.validate(path, **kw)


def _same(ra: ValidationReport, rb: ValidationReport) -> None:
    for name in ("accounting", "problems", "warnings"):
        pd.testing.assert_frame_equal(getattr(ra, name), getattr(rb, name))
    assert ra.valid == rb.valid
    da, db = ra.dataset, rb.dataset
    assert (da is None) == (db is None)
    if da is None:
        return
    for name in FRAMES:
        fa, fb = getattr(da, name), getattr(db, name)
        if fa is None or fb is None:
            assert fa is fb
            continue
        pd.testing.assert_frame_equal(fa, fb)
    pd.testing.assert_frame_equal(da.rejects, db.rejects)
    assert da.sha256 == db.sha256


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("threads")
    data = generate(episodes=400, seed=3)
    return {
        "csv": data.write(root / "csv"),
        "parquet": data.write(root / "parquet", format="parquet"),
    }


@pytest.mark.parametrize("form", ["csv", "parquet"])
@pytest.mark.parametrize("mode", ["strict", "quarantine"])
def test_threaded_load_equals_sequential(
    generated: dict[str, Path], form: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = generated[form]
    _same(
        _report(path, threaded=True, monkeypatch=monkeypatch, mode=mode),
        _report(path, threaded=False, monkeypatch=monkeypatch, mode=mode),
    )


def test_threaded_load_equals_sequential_on_clinic_a(monkeypatch: pytest.MonkeyPatch) -> None:
    threaded = _report(CLINIC_A, threaded=True, monkeypatch=monkeypatch)
    assert threaded.dataset is not None  # the reference export loads
    _same(threaded, _report(CLINIC_A, threaded=False, monkeypatch=monkeypatch))


def test_threaded_load_with_problems_reports_the_same(
    generated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Problems in several tables: the same list, in the same order, on both paths."""
    folder = tmp_path / "broken"
    shutil.copytree(generated["csv"], folder)
    for table, line in (("outcomes", 5), ("sessions", 3), ("patients", 2)):
        path = folder / f"{table}.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        fields = lines[line - 1].split(",")
        fields[-1] = "not a value"
        lines[line - 1] = ",".join(fields)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for mode in ("strict", "quarantine"):
        threaded = _report(folder, threaded=True, monkeypatch=monkeypatch, mode=mode)
        assert len(threaded.problems) >= 3
        assert set(threaded.problems["table"]) >= {"outcomes", "sessions", "patients"}
        _same(threaded, _report(folder, threaded=False, monkeypatch=monkeypatch, mode=mode))


def _error(path: Path, *, threaded: bool, monkeypatch: pytest.MonkeyPatch) -> str:
    with pytest.raises(UnreadableInputError) as caught:
        _report(path, threaded=threaded, monkeypatch=monkeypatch)
    return str(caught.value)


@pytest.mark.parametrize(
    ("broken", "raised"),
    [
        (("outcomes", "episodes"), "episodes"),
        (("outcomes",), "outcomes"),
        (("sessions", "patients", "adverse_events"), "patients"),
    ],
)
def test_threaded_load_raises_the_first_tables_read_error(
    generated: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    broken: tuple[str, ...],
    raised: str,
) -> None:
    """Unreadable files (the outcomes are read first on the second thread, the largest):
    the error raised is the first broken table's in table order, as the sequential reader
    raises it."""
    folder = tmp_path / "unreadable"
    shutil.copytree(generated["parquet"], folder)
    for table in broken:
        (folder / f"{table}.parquet").write_bytes(b"not parquet at all")
    threaded = _error(folder, threaded=True, monkeypatch=monkeypatch)
    assert f"{raised}.parquet" in threaded
    assert threaded == _error(folder, threaded=False, monkeypatch=monkeypatch)


def test_threaded_load_missing_table_error(
    generated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "missing"
    shutil.copytree(generated["parquet"], folder)
    (folder / "sessions.parquet").unlink()
    threaded = _error(folder, threaded=True, monkeypatch=monkeypatch)
    assert "sessions" in threaded
    assert threaded == _error(folder, threaded=False, monkeypatch=monkeypatch)


def test_run_columns_are_read_as_categoricals_with_the_text_paths_dataset(
    generated: dict[str, Path],
) -> None:
    """The Parquet reader keeps the outcomes' and sessions' episode and session ids as
    categoricals of their runs (RUN_COLUMNS); the Dataset is the one every cell read as
    text gives, its id columns text but for the four the Dataset holds as categoricals."""
    from dnoutcomes.io import read_export
    from dnoutcomes.validate import validate_export

    raw = read_export(generated["parquet"])
    frames = {name: table.frame for name, table in raw.tables.items()}
    assert isinstance(frames["outcomes"]["episode_id"].dtype, pd.CategoricalDtype)
    assert isinstance(frames["outcomes"]["session_id"].dtype, pd.CategoricalDtype)
    assert isinstance(frames["sessions"]["episode_id"].dtype, pd.CategoricalDtype)
    assert isinstance(frames["sessions"]["session_id"].dtype, pd.StringDtype)  # no runs
    typed = validate_export(raw)
    text = validate_export(read_export(generated["parquet"], _text_only=True))
    _same(typed, text)
    assert typed.dataset is not None
    assert isinstance(typed.dataset.episodes["patient_id"].dtype, pd.StringDtype)
    assert isinstance(typed.dataset.adverse_events["session_id"].dtype, pd.StringDtype)
