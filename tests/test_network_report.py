"""``report --engine dask``: the sections built from partition summaries equal the
in-memory report's (the same tables after the same report-wide suppression), on clinic_a
split by site and on a generated export in the many-files layout; and the many-files
layout's errors name the file (skipped without the optional extra ``dask``)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("distributed")

from dnoutcomes.cli import main
from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.network.dask_engine import find_partitions, partition_export, partition_files
from dnoutcomes.network.report import DASK_SECTIONS, median_of_counts, report_partitions
from dnoutcomes.report import sections as sec
from dnoutcomes.report.render_json import report_document

RUN_TIME = "2026-01-01T00:00:00"


@pytest.fixture(scope="module")
def scheduler() -> Any:
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    yield cluster.scheduler_address
    cluster.close()


def _to_parquet(csv_folder: Path, target: Path) -> Path:
    """A CSV export as Parquet tables of text (the loader reads them as it reads CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    target.mkdir(parents=True)
    for file in sorted(csv_folder.glob("*.csv")):
        names = file.read_text(encoding="utf-8-sig").splitlines()[0].split(",")
        types = {n: pa.string() for n in names}
        table = pcsv.read_csv(file, convert_options=pcsv.ConvertOptions(column_types=types))
        pq.write_table(table, target / f"{file.stem}.parquet")
    return target


def _in_memory(folder: Path, period: str | None, min_cell: int | None = None) -> dict[str, Any]:
    """The in-memory report restricted to the Dask report's sections, as its document."""
    return report_document(_in_memory_report(folder, period, min_cell))


def _in_memory_report(
    folder: Path, period: str | None, min_cell: int | None = None, site: str | None = None
) -> Any:
    """The in-memory report restricted to the Dask report's sections."""
    import dnoutcomes
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.report.build import (
        _analyse,
        assemble_report,
        resolve_period,
        select_site,
        subset_dataset,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = dnoutcomes.load(folder)
    protocol = default_protocol()
    local = select_site(data, site)
    chosen, note = resolve_period(period, local.episodes["end_date"])
    ends = local.episodes["end_date"]
    previous = chosen.previous()
    current = subset_dataset(local, local.episodes.loc[chosen.contains(ends), "episode_id"])
    context = sec.Context(
        dataset=data,
        local=local,
        current=current,
        previous=subset_dataset(local, local.episodes.loc[previous.contains(ends), "episode_id"]),
        period=chosen,
        previous_period=previous,
        site=site,
        reference=protocol.reference,
        comparator=protocol.comparator,
        min_cell=protocol.report.min_cell if min_cell is None else min_cell,
        figures=False,
        protocol=protocol,
        analysis=_analyse(current, protocol)[0],
    )
    builders = [b for b in sec.all_builders() if b[0] in DASK_SECTIONS]
    report = assemble_report(
        context,
        builders,
        title="t",
        period_note=note,
        sources={},
        mode="strict",
        run_time=RUN_TIME,
    )
    return report


def _same(mine: Any, theirs: Any, where: str) -> None:
    """Equal cell by cell: text and counts exactly, floats to 1e-9 relative."""
    if isinstance(theirs, float) and isinstance(mine, int | float):
        assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12), where
    else:
        assert mine == theirs, f"{where}: {mine!r} != {theirs!r}"


def _compare(dask_doc: dict[str, Any], memory_doc: dict[str, Any]) -> int:
    # the provenance differs by design (the files read, the engine); every other table
    # must be the same
    keys = sorted(k for k in memory_doc["tables"] if not k.startswith("provenance"))
    assert keys == sorted(k for k in dask_doc["tables"] if not k.startswith("provenance"))
    assert keys
    cells = 0
    for key in keys:
        mine, theirs = dask_doc["tables"][key], memory_doc["tables"][key]
        assert mine["columns"] == theirs["columns"], key
        assert len(mine["rows"]) == len(theirs["rows"]), key
        for i, (a, b) in enumerate(zip(mine["rows"], theirs["rows"], strict=True)):
            for column in theirs["columns"]:
                _same(a[column], b[column], f"{key}[{i}].{column}")
                cells += 1
    assert dask_doc["period"] == memory_doc["period"]
    assert dask_doc["period_note"] == memory_doc["period_note"]
    return cells


def _close(mine: Any, theirs: Any, where: str) -> int:
    """Equal to rounding through nested lists and dicts (the analyses' JSON blocks): text,
    counts and flags exactly, floats to 1e-9 relative (IPTW is iterative: the same
    tolerance holds, measured below 1e-12)."""
    if isinstance(theirs, dict):
        assert isinstance(mine, dict) and sorted(mine) == sorted(theirs), where
        return sum(_close(mine[k], theirs[k], f"{where}.{k}") for k in theirs)
    if isinstance(theirs, list):
        assert isinstance(mine, list) and len(mine) == len(theirs), where
        return sum(
            _close(a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(mine, theirs, strict=True))
        )
    if isinstance(theirs, float) and not isinstance(theirs, bool):
        assert isinstance(mine, int | float), where
        assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-10), f"{where}: {mine} {theirs}"
        return 1
    assert mine == theirs, f"{where}: {mine!r} != {theirs!r}"
    return 1


def _compare_words(dask_report: Any, memory_report: Any) -> int:
    """Every sentence of every section (methods aside), and each table's title and note,
    the same in both reports; and the analyses' JSON blocks equal to rounding."""
    theirs = {s.key: s for s in memory_report.sections if s.key != "methods"}
    mine = {s.key: s for s in dask_report.sections if s.key != "methods"}
    assert sorted(mine) == sorted(theirs)
    checked = 0
    for key, section in theirs.items():
        words = [(type(b).__name__, getattr(b, "text", None)) for b in section.blocks]
        assert [(type(b).__name__, getattr(b, "text", None)) for b in mine[key].blocks] == words
        for a, b in zip(mine[key].tables, section.tables, strict=True):
            assert (a.key, a.title, a.note) == (b.key, b.title, b.note), key
        checked += len(words)
    dask_doc, memory_doc = report_document(dask_report), report_document(memory_report)
    assert sorted(dask_doc["results"]) == sorted(memory_doc["results"])
    checked += _close(dask_doc["spc"], memory_doc["spc"], "spc")
    return checked + _close(dask_doc["results"], memory_doc["results"], "results")


def test_median_of_counts_is_pandas_median() -> None:
    for values in ([3.0], [1.0, 2.0], [5.0, 1.0, 1.0, 2.0, 9.0], [2.0, 2.0, 4.0, 4.0, 4.0, 7.0]):
        s = pd.Series(values)
        assert median_of_counts(s.value_counts()) == s.median()
    assert math.isnan(median_of_counts(pd.Series(dtype="float64")))


def test_quantile_of_counts_is_pandas_quantile() -> None:
    from dnoutcomes.network._report_stats import quantile_of_counts

    for values in ([3.0], [1.0, 2.0], [5.0, 1.0, 1.0, 2.0, 9.0], [2.0, 2.0, 4.0, 4.0, 4.0, 7.0]):
        s = pd.Series(values)
        for q in (0.25, 0.5, 0.75):
            assert quantile_of_counts(s.value_counts(), q) == pytest.approx(s.quantile(q))
    assert math.isnan(quantile_of_counts(pd.Series(dtype="float64"), 0.25))


def test_part_of_export_lets_a_partition_hold_one_arm(clinic_a_dataset: Any) -> None:
    from dnoutcomes.cohort import check_arms, comparison_episodes, part_of_export
    from dnoutcomes.errors import RequestError
    from dnoutcomes.report.build import subset_dataset

    episodes = clinic_a_dataset.episodes
    one_arm = subset_dataset(
        clinic_a_dataset, episodes.loc[episodes["arm"] == "dn_only", "episode_id"]
    )
    with pytest.raises(RequestError, match="unknown comparator arm"):
        check_arms(one_arm, "dn_only", "dn_manual_exercise")
    with part_of_export():
        frame = comparison_episodes(one_arm, reference="dn_only", comparator="dn_manual_exercise")
    assert set(frame["arm"]) == {"dn_only"} and len(frame) == (episodes["arm"] == "dn_only").sum()
    with pytest.raises(RequestError, match="unknown comparator arm"):  # only inside the block
        check_arms(one_arm, "dn_only", "dn_manual_exercise")


@pytest.fixture(scope="module")
def clinic_parts(tmp_path_factory: pytest.TempPathFactory, clinic_a_path: Path) -> Path:
    root = tmp_path_factory.mktemp("clinic_report")
    whole = _to_parquet(clinic_a_path, root / "whole")
    partition_export(whole, root / "parts")
    return root


@pytest.mark.parametrize(
    ("period", "min_cell", "site"), [(None, None, None), ("2025-Q3", 30, None), (None, 5, "north")]
)
def test_clinic_a_by_site_equals_in_memory(
    clinic_parts: Path, scheduler: str, period: str | None, min_cell: int | None, site: str | None
) -> None:
    dask_report = report_partitions(
        clinic_parts / "parts",
        scheduler=scheduler,
        run_time=RUN_TIME,
        period=period,
        min_cell=min_cell,
        site=site,
    )
    memory_report = _in_memory_report(clinic_parts / "whole", period, min_cell, site)
    dask_doc = report_document(dask_report)
    assert _compare(dask_doc, report_document(memory_report)) > 500
    assert _compare_words(dask_report, memory_report) > 100
    # the new sections are there, with the weighted estimate beside the naive one (at
    # one site of clinic_a the period has too few episodes for it: both reports say so)
    assert {"table1", "comparisons", "responders", "safety_rates", "spc_monthly"} <= set(
        dask_doc["tables"]
    )
    if site is None:
        assert len(dask_doc["tables"]["iptw"]["rows"]) == 2
        assert {"summary", "spc_sites"} <= set(dask_doc["tables"])
    # the restricted listings (episode ids) are the same too, and stay out of the document
    assert [t.key for t in dask_report.restricted] == [t.key for t in memory_report.restricted]
    for a, b in zip(dask_report.restricted, memory_report.restricted, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
    # the sections not built from summaries are named, with the reason
    omitted = {o["section"] for o in dask_doc["omitted"]}
    assert "benchmarking" in omitted
    assert not {"comparisons", "table1", "safety", "control_charts", "summary"} & omitted


def test_generated_many_files_equals_in_memory(
    tmp_path_factory: pytest.TempPathFactory, scheduler: str
) -> None:
    from dnoutcomes.sample import generate

    root = tmp_path_factory.mktemp("gen_report")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate(episodes=3000, seed=5, sites=4).write(root / "whole", format="parquet")
    partition_files(root / "whole", root / "files", parts=5)
    assert [p.name for p in find_partitions(root / "files")] == [f"part-{k:04d}" for k in range(5)]
    for period, min_cell in ((None, None), ("2025-Q1", 30)):
        dask_report = report_partitions(
            root / "files",
            scheduler=scheduler,
            run_time=RUN_TIME,
            period=period,
            min_cell=min_cell,
        )
        dask_doc = report_document(dask_report)
        memory_report = _in_memory_report(root / "whole", period, min_cell)
        memory_doc = report_document(memory_report)
        assert _compare(dask_doc, memory_doc) > 500
        assert _compare_words(dask_report, memory_report) > 100
        if min_cell == 30:
            # the suppression is exercised: some counts are hidden, the same in both
            hidden = [
                v
                for t in dask_doc["tables"].values()
                for row in t["rows"]
                for v in row.values()
                if isinstance(v, str) and (v.startswith("<30") or v == "[c]")
            ]
            assert hidden


def test_cli_report_engine_dask(
    clinic_parts: Path, scheduler: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    code = main(
        [
            "report",
            str(clinic_parts / "parts"),
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--out",
            str(out),
            "--data",
            str(data),
            "--run-time",
            RUN_TIME,
        ]
    )
    assert code == 0, capsys.readouterr().err
    document = json.loads(data.read_text())
    assert set(document["tables"]) >= {"headline", "caseload_site_id"}
    assert "engine" in out.read_text()


def _files_export(tmp_path: Path) -> Path:
    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate(episodes=300, seed=2).write(tmp_path / "whole", format="parquet")
    partition_files(tmp_path / "whole", tmp_path / "files", parts=2)
    return tmp_path / "files"


def test_many_files_a_part_missing_names_the_file(tmp_path: Path) -> None:
    files = _files_export(tmp_path)
    (files / "outcomes" / "part-0001.parquet").unlink()
    with pytest.raises(UnreadableInputError, match=r"partition part-0001 has no outcomes file"):
        find_partitions(files)


def test_many_files_a_table_missing_names_the_folder(tmp_path: Path) -> None:
    import shutil

    files = _files_export(tmp_path)
    shutil.rmtree(files / "sessions")
    with pytest.raises(UnreadableInputError, match=r"sessions/ is missing"):
        find_partitions(files)


def test_many_files_mixed_schemas_names_the_file(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    files = _files_export(tmp_path)
    target = files / "episodes" / "part-0001.parquet"
    table = pq.read_table(target)
    pq.write_table(table.drop_columns([table.column_names[-1]]), target)
    with pytest.raises(UnreadableInputError, match=r"part-0001\.parquet: its columns differ"):
        find_partitions(files)


def test_cli_many_files_error_is_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _files_export(tmp_path)
    (files / "patients" / "part-0000.parquet").unlink()
    code = main(["analyze", str(files), "--engine", "dask"])
    err = capsys.readouterr().err
    assert code == 2 and "part-0000" in err and "Traceback" not in err
