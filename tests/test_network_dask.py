"""The Dask engine: summaries per partition of a partitioned Parquet export on a Dask
cluster, pooled, equal the in-memory analysis of the whole export (skipped when the
optional extra ``dask`` is not installed)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed")

from dnoutcomes.cli import main
from dnoutcomes.network import pool, summarise
from dnoutcomes.network.dask_engine import (
    analyze_partitions,
    find_partitions,
    partition_export,
)
from dnoutcomes.protocol import default_protocol


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import dnoutcomes
    from dnoutcomes.sample import generate

    root = tmp_path_factory.mktemp("dask")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate(episodes=1200, seed=11, sites=4).write(root / "whole", format="parquet")
        whole = dnoutcomes.load(root / "whole")
    parts = partition_export(root / "whole", root / "parts")
    return {"root": root, "whole": whole, "parts": parts}


@pytest.fixture(scope="module")
def scheduler() -> Any:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    yield cluster.scheduler_address
    cluster.close()


def test_partitions_are_hive_style_site_folders(export: dict[str, Any]) -> None:
    names = [p.name for p in find_partitions(export["root"] / "parts")]
    assert names == sorted(f"site_id={s}" for s in export["whole"].episodes["site_id"].unique())


def test_dask_and_in_memory_agree(export: dict[str, Any], scheduler: str) -> None:
    from dnoutcomes.stats.analysis import analyze

    protocol = default_protocol()
    dask_result = analyze_partitions(export["root"] / "parts", protocol, scheduler=scheduler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = pool([summarise(export["whole"], protocol, disclosure=False)])
        row = analyze(export["whole"], protocol)
    pd_frame = dask_result.frame.loc[dask_result.frame["section"] != "iptw"]
    np.testing.assert_allclose(pd_frame["estimate"], memory.frame["estimate"], rtol=1e-9)
    np.testing.assert_allclose(pd_frame["conf_low"], memory.frame["conf_low"], rtol=1e-9)
    # and the row-level analysis of the whole export
    ancova = row.ancova
    assert ancova is not None
    np.testing.assert_allclose(
        [r.estimate for r in dask_result.ancova], [r.estimate for r in ancova.results], rtol=1e-9
    )
    np.testing.assert_allclose(
        [r.std_error for r in dask_result.ancova], [r.std_error for r in ancova.results], rtol=1e-9
    )
    assert row.site_meta is not None and dask_result.site_meta is not None
    np.testing.assert_allclose(dask_result.site_meta.estimate, row.site_meta.estimate, rtol=1e-9)
    assert row.responders is not None and dask_result.responders is not None
    assert dask_result.responders["n"] == row.responders.counts["n"].tolist()
    # the weighted comparison by rounds of summaries on the workers (iterative: 1e-8)
    assert dask_result.iptw is not None and row.iptw is not None
    mine = dask_result.iptw["estimates"].set_index("term")
    theirs = row.iptw.table.set_index("term")
    for column in ("estimate", "std_error", "conf_low", "conf_high"):
        np.testing.assert_allclose(mine[column], theirs.loc[mine.index, column], rtol=1e-8)
    assert "iptw" in set(dask_result.frame["section"])


def test_cli_analyze_engine_dask(
    export: dict[str, Any], scheduler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "analyze",
            str(export["root"] / "parts"),
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    document = json.loads(out)
    assert document["sites"] == sorted(export["whole"].episodes["site_id"].unique())
    assert document["ancova"][0]["n"] > 0
    # the format-2 sections, under the keys of the row-level analyze --json
    assert document["lmm"]["n_episodes"] > 0 and set(document["lmm"]["fixed"]) == {
        "intercept",
        "arm",
        "weeks",
        "arm_x_weeks",
    }
    assert [m["measure"] for m in document["medication"]] == ["opioid_use", "analgesic_use"]
    assert [row["arm"] for row in document["safety"]] == ["dn_only", "dn_manual_exercise"]


def test_cli_engine_dask_on_a_folder_without_partitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code = main(["analyze", str(tmp_path / "empty"), "--engine", "dask"])
    err = capsys.readouterr().err
    assert code == 2 and "no partition found" in err and "Traceback" not in err


def test_dask_mixed_model_medication_and_safety(export: dict[str, Any], scheduler: str) -> None:
    """The format-2 sections: the Dask engine equals pooling the whole export's summary
    (1e-8: the REML optimisation runs on sums added in another order) and the row-level
    analysis (mixed model and logistic models 1e-6, iterative; safety counts identical)."""
    import pandas as pd

    from dnoutcomes.stats.medication import compare_medication
    from dnoutcomes.stats.mixed import compare_trajectories
    from dnoutcomes.stats.safety import compare_safety

    protocol = default_protocol()
    ref, comp = protocol.reference, protocol.comparator
    dask_result = analyze_partitions(
        export["root"] / "parts", protocol, scheduler=scheduler, iptw=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = pool([summarise(export["whole"], protocol, disclosure=False)])
        lmm = compare_trajectories(export["whole"], reference=ref, comparator=comp)
        med = compare_medication(export["whole"], reference=ref, comparator=comp)
        safety = compare_safety(export["whole"], reference=ref, comparator=comp)
    mine, same = dask_result.trajectory, memory.trajectory
    assert mine is not None and same is not None
    for column in ("estimate", "std_error", "conf_low", "conf_high"):
        np.testing.assert_allclose(mine.table[column], same.table[column], rtol=1e-8)
        np.testing.assert_allclose(mine.table[column], lmm.table[column], rtol=1e-6)
    np.testing.assert_allclose(mine.sd_episode, lmm.sd_episode, rtol=1e-6)
    assert (mine.n_obs, mine.n_episodes) == (lmm.n_obs, lmm.n_episodes)
    assert dask_result.medication is not None
    for column in ("estimate", "conf_low", "conf_high"):
        np.testing.assert_allclose(
            dask_result.medication.frame[column], med.frame[column], rtol=1e-6
        )
    assert dask_result.safety is not None
    pd.testing.assert_frame_equal(dask_result.safety.table, safety.table)
    pd.testing.assert_frame_equal(dask_result.safety.by_type, safety.by_type)
