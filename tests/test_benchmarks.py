"""Tests of benchmarks/run.py on a tiny export, so the network benchmark cannot rot.

The steps run in-process on 300 episodes (the real run starts one child per step); one
step runs through the child machinery to check that its own peak memory is read and that
the cap on a slow step is enforced.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
EPISODES = 300


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


run = _load_run()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    run.ensure_data(EPISODES, out)
    return Path(out)


def test_ensure_data_writes_both_formats_once(root: Path) -> None:
    rows = run.ensure_data(EPISODES, root)  # the second call reuses the files
    assert rows["episodes"] == EPISODES
    for fmt, suffix in (("csv", ".csv"), ("parquet", ".parquet")):
        folder = run.data_dir(EPISODES, fmt, root)
        files = run._table_files(folder)
        assert [f.name for f in files] == [t + suffix for t in sorted(run.TABLES)]
    stamp = json.loads((root / "data" / f"{EPISODES}.json").read_text())
    assert stamp == {"episodes": EPISODES, "seed": run.SEED, "rows": rows}


def test_reads_and_loads_count_every_row(root: Path) -> None:
    rows = sum(run.ensure_data(EPISODES, root).values())
    for step in ("read_csv", "read_parquet", "load_csv", "load_parquet"):
        result = run.child(step, EPISODES, root)
        assert result["rows"] == rows, step  # the generator's export is valid: all load
        assert result["wall_s"] > 0 and result["cpu_s"] >= 0


@pytest.fixture(scope="module")
def trajectory(root: Path) -> tuple[Any, Any, Any]:
    return run._trajectory_rows(run.data_dir(EPISODES, "parquet", root))


def test_trajectory_rows_are_the_models_rows(root: Path, trajectory: Any) -> None:
    from dnoutcomes import load
    from dnoutcomes.stats.mixed import compare_trajectories

    y, x, groups = trajectory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load(run.data_dir(EPISODES, "parquet", root))
    model = compare_trajectories(dataset)
    assert (len(y), len(set(groups))) == (model.n_obs, model.n_episodes)
    assert run.child("mixed_setup", EPISODES, root)["n_obs"] == model.n_obs  # the cached rows
    assert x.shape == (len(y), 4) and set(np.unique(x[:, 1])) <= {0.0, 1.0}
    np.testing.assert_allclose(
        model.table["estimate"], run.child("mixed_fast", EPISODES, root)["coef"]
    )


def test_mixed_engines_agree_on_the_export(trajectory: Any) -> None:
    from dnoutcomes.stats.mixed import fit_random_intercept

    fast = fit_random_intercept(*trajectory)
    slow = fit_random_intercept(*trajectory, engine="statsmodels")
    np.testing.assert_allclose(fast.coef, slow.coef, rtol=1e-4)
    np.testing.assert_allclose(
        [fast.sd_group, fast.sd_residual], [slow.sd_group, slow.sd_residual], rtol=1e-3
    )


@pytest.mark.slow  # a fresh interpreter importing pandas and the package
def test_child_process_reports_its_own_peak_and_the_cap_holds(root: Path) -> None:
    measured = run.run_child("read_parquet", EPISODES, root, timeout=None)
    assert measured.note == "" and measured.wall_s is not None
    assert measured.peak_mib is not None and 50 < measured.peak_mib < 4096
    capped = run.run_child("load_csv", EPISODES, root, timeout=0.2)
    assert capped.wall_s is None and capped.note == "stopped at the 0.2 s cap"


def test_slope_of_log_time_on_log_size() -> None:
    sizes = [1e4, 1e5, 1e6]
    assert run.slope([(n, 3e-5 * n) for n in sizes]) == pytest.approx(1.0)
    assert run.slope([(n, 1e-9 * n**2) for n in sizes]) == pytest.approx(2.0)
    assert run.slope([(1e4, 1.0)]) is None


def _measured(step: str, n: int, wall: float | None, **detail: Any) -> Any:
    return run.Measured(
        step, n, wall, wall, 300.0, detail, "" if wall else "stopped at the 10 min cap"
    )


def test_table_ratios_and_growth_sentence() -> None:
    results = [
        _measured("read_parquet", 10_000, 0.5),
        _measured("load_parquet", 10_000, 1.0),
        _measured("mixed_statsmodels", 10_000, 4.0),
        _measured("mixed_fast", 10_000, 0.02),
        _measured("read_parquet", 100_000, 5.0),
        _measured("load_parquet", 100_000, 10.0),
        _measured("mixed_statsmodels", 100_000, None),
        _measured("mixed_fast", 100_000, 0.2),
    ]
    results[6].detail["predicted"] = "statsmodels ≈ 4,000 s by the slope"
    text = run.table(results, {10_000: {"outcomes": 100}, 100_000: {"outcomes": 1000}})
    lines = text.splitlines()
    assert len(lines) == 2 + len(results)
    assert "| 10,000 | 100 | load + validate parquet | 1.00 | 1.00 | 300 | 2.00× |" in lines
    assert "statsmodels ÷ fast = 200×" in lines[5]
    assert "stopped at the 10 min cap" in lines[8] and "4,000 s by the slope" in lines[9]
    growth = run.growth(results)
    assert "load + validate parquet: slope 1.00" in growth
    assert math.isclose(run.slope([(1e4, 0.02), (1e5, 0.2)]) or 0, 1.0)


def test_write_doc_replaces_only_its_block(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    run.write_doc("first", doc)
    doc.write_text("intro\n" + doc.read_text() + "\nafter\n")
    run.write_doc("| second |", doc)
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("\nafter\n")
    assert "first" not in text and text.count(run.BEGIN) == 1 and "| second |" in text


def test_raw_read_baseline_is_pandas_own(root: Path) -> None:
    folder = run.data_dir(EPISODES, "csv", root)
    direct = sum(len(pd.read_csv(f, engine="pyarrow")) for f in run._table_files(folder))
    assert run.child("read_csv", EPISODES, root)["rows"] == direct


def test_merge_replaces_only_the_rerun_rows(tmp_path: Path) -> None:
    earlier = [_measured("read_parquet", 10_000, 0.5), _measured("load_parquet", 10_000, 1.0)]
    saved = tmp_path / "results-10000.json"
    saved.write_text(json.dumps([m.__dict__ for m in earlier]))
    args = argparse.Namespace(
        root=tmp_path,
        no_write=False,
        doc=tmp_path / "performance.md",
        merge=saved,
        earlier=[run.Measured(**d) for d in json.loads(saved.read_text())],
    )
    again = [_measured("load_parquet", 10_000, 0.8)]
    text = run._save(args, [10_000], "a test machine", again, {10_000: {"x": 1}}, done=True)
    assert "re-measured at this time: 10,000 load + validate parquet" in text
    assert "| 10,000 | 1 | read parquet (baseline) | 0.500 |" in text
    assert "| 10,000 | 1 | load + validate parquet | 0.800 | 0.800 | 300 | 1.60× |" in text
    assert text in (tmp_path / "performance.md").read_text()
