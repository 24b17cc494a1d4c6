"""benchmarks/bench_scale.py on a tiny export, so the scale benchmark cannot rot: its steps
run in-process, the polars anchor makes the loader's id checks (and finds planted
breaks), and the table reports medians and the same-run ratios."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    path = REPO / "benchmarks" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


scale = _load()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scale.OUT = tmp_path_factory.mktemp("scale")
    made: Path = scale.ensure_export(300)
    return made


def test_export_is_made_once_with_every_table(folder: Path) -> None:
    assert sorted(p.stem for p in folder.glob("*.parquet")) == sorted(scale.TABLES)
    stamp = (folder / "truth.json").stat().st_mtime_ns
    assert scale.ensure_export(300) == folder
    assert (folder / "truth.json").stat().st_mtime_ns == stamp  # reused, not rebuilt


@pytest.mark.filterwarnings("ignore")
def test_steps_run_and_count_the_same_rows(folder: Path) -> None:
    read = scale.child("read", folder)
    load = scale.child("load", folder)
    assert read["rows"] == load["rows"] > 0  # a clean export: every row loads
    analyze = scale.child("analyze", folder)
    assert analyze["wall"] > 0 and analyze["load_wall"] > 0 and not analyze["failures"]
    for result in (read, load, analyze):
        assert result["cpu"] >= 0
        assert result["cpu"] == pytest.approx(result["user"] + result["sys"])
    # in its own process: it turns NumPy's huge-page advice off for the whole process
    small_pages = scale.run_child("read_4k", folder)
    assert small_pages["rows"] == read["rows"] and small_pages["wall"] > 0


def test_polars_anchor_makes_the_id_checks(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("polars")
    assert scale.polars_checks(folder) == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in folder.glob("*.parquet"):
        table = pq.read_table(path)
        if path.stem == "sessions":  # one duplicate session id, one orphan episode id
            ids = table["session_id"].to_pylist()
            ids[1] = ids[0]
            episodes = table["episode_id"].to_pylist()
            episodes[2] = "E_NOWHERE"
            table = table.set_column(
                table.schema.get_field_index("session_id"), "session_id", pa.array(ids)
            )
            table = table.set_column(
                table.schema.get_field_index("episode_id"), "episode_id", pa.array(episodes)
            )
        pq.write_table(table, broken / path.name)
    # the duplicate, the orphan, and the outcomes/events that pointed at the lost session
    assert scale.polars_checks(broken) >= 2


def test_table_gives_medians_and_same_run_ratios() -> None:
    def runs(*walls: float, **extra: Any) -> list[dict[str, Any]]:
        split = {"user": 0.75, "sys": 0.25, **extra}
        return [{"wall": w, "cpu": w, "peak_rss_mib": 100.0, **split} for w in walls]

    results = {
        "read": runs(1.0, 2.0, 3.0),
        "read_4k": runs(1.0, 1.25, 9.0, sys=0.5),
        "load": runs(4.0, 5.0, 9.0),
        "polars": runs(2.5, 2.5, 2.5),
        "analyze": runs(10.0, 11.0, 12.0, load_wall=5.0),
    }
    text = scale.table(1000, results)
    assert "| 1,000 | load | 3 | 5.00 |" in text
    assert "2.50× the read; 4.00× the read in 4 KiB pages; 2.00× polars + checks" in text
    assert "| 1,000 | read_4k | 3 | 1.25 | 1.25 | 0.75 | 0.50 | 100 | 0.62× the read |" in text
    assert "| 1,000 | analyze | 3 | 11.00 |" in text
