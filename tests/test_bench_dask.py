"""benchmarks/bench_dask.py on a tiny export, so the Dask benchmark cannot rot: the chunked
partitioned generation and the agreement measure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    # run as a script, bench_dask.py has its folder on sys.path (it imports _chunks from it)
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_dask", REPO / "benchmarks" / "bench_dask.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_dask"] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


def test_chunks_are_split_by_site_and_reused(tmp_path: Path) -> None:
    from dnoutcomes.network.dask_engine import find_partitions

    parts = bench.generate_partitioned(600, 300, 2, tmp_path)
    names = [p.name for p in find_partitions(parts)]
    assert len(names) == 4 and names[0].startswith("c000_site_id=")
    stamp = (parts / "_done.json").stat().st_mtime_ns
    assert bench.generate_partitioned(600, 300, 2, tmp_path) == parts
    assert (parts / "_done.json").stat().st_mtime_ns == stamp  # not generated again


def test_agreement_is_the_largest_relative_difference() -> None:
    dask_doc = {
        "ancova": [{"estimate": 1.0, "se": 0.5}],
        "site_meta": {"estimate": 2.0},
        "responders": {"effects": [{"term": "risk_difference", "estimate": 0.2}]},
    }
    memory_doc = {
        "ancova": [{"estimate": 1.0, "se": 0.5}],
        "site_meta": {"estimate": 2.0},
        "responders": {"risk_difference": 0.25},
    }
    assert abs(bench.agreement(dask_doc, memory_doc) - 0.2) < 1e-12


def test_report_agreement_counts_cells_and_names_differing_tables() -> None:
    table = {"columns": ["a", "b"], "rows": [{"a": 1, "b": 0.5}, {"a": "<11", "b": None}]}
    other = {"columns": ["a", "b"], "rows": [{"a": 1, "b": 0.5 + 1e-12}, {"a": 3, "b": None}]}
    provenance = {"columns": ["x"], "rows": [{"x": 1}]}
    dask_doc = {"tables": {"t": table, "provenance_inputs": provenance}}
    memory_doc = {"tables": {"t": other, "provenance_inputs": {"columns": ["x"], "rows": []}}}
    assert bench.report_agreement(dask_doc, memory_doc) == {
        "cells": 4,
        "equal": 3,
        "tables_differing": ["t"],
    }
