"""Benchmark of ``dnoutcomes analyze --engine dask`` on a partitioned Parquet export.

Generates the export in chunks (each chunk ``dnoutcomes.sample.generate`` with its own
seed, written as Parquet and split by site into hive-style folders
``c<chunk>_site_id=<site>/``, so generation never holds more than one chunk), then runs
the Dask engine on a ``LocalCluster`` in a child process while sampling the resident
memory of that child and all its descendants (the workers) every 0.2 s. With ``--agree``
it also runs the in-memory engine (``dnoutcomes.stats.analyze``) on one whole export of
the same size and checks that the pooled numbers agree.

Usage::

    python benchmarks/bench_dask.py --episodes 100000              # one size
    python benchmarks/bench_dask.py --episodes 1000000 --agree      # and the in-memory check
    python benchmarks/bench_dask.py --episodes 5000000 --chunk 250000 --workers 2
    python benchmarks/bench_dask.py --report benchmarks/out/scale/1000000-parquet --parts 20

Results are printed as JSON lines (and appended to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

SEED = 18


def generate_partitioned(episodes: int, chunk: int, sites: int, root: Path) -> Path:
    """The partitioned export of ``episodes`` episodes under ``root/parts-<episodes>``
    (reused when already there)."""
    from _chunks import chunks

    from dnoutcomes.network.dask_engine import partition_export

    parts = root / f"parts-{episodes}"
    stamp = parts / "_done.json"
    wanted = {"episodes": episodes, "chunk": chunk, "sites": sites}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        return parts
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True)
    for index, data in chunks(episodes, chunk, sites, SEED):
        scratch = root / f"chunk-{index}"
        shutil.rmtree(scratch, ignore_errors=True)
        data.write(scratch, format="parquet")
        del data
        partition_export(scratch, parts, prefix=f"c{index:03d}_")
        shutil.rmtree(scratch)
    stamp.write_text(json.dumps(wanted))
    return parts


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


#: CPU seconds of the last :func:`measured` command and its descendants.
LAST_CPU = 0.0


def measured(command: list[str]) -> tuple[float, int, str]:
    """Run a command; its wall time, the peak summed RSS of it and its descendants, and
    its standard output. The CPU time (user + system) of the command and its waited-for
    descendants is in :data:`LAST_CPU` afterwards."""
    import resource

    global LAST_CPU
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = child.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    LAST_CPU = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {child.returncode}")
    return wall, peak, out


def _child_dask(path: str, workers: int) -> None:
    from dnoutcomes.network.dask_engine import analyze_partitions
    from dnoutcomes.protocol import default_protocol

    start = time.perf_counter()
    result = analyze_partitions(path, default_protocol(), n_workers=workers)
    print(json.dumps({"seconds": time.perf_counter() - start, "result": result.to_dict()}))


def _child_memory(path: str) -> None:
    import dnoutcomes
    from dnoutcomes.stats.analysis import analyze

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(path)
    result = analyze(dataset)
    print(json.dumps({"seconds": time.perf_counter() - start, "result": result.to_dict()}))


def _child_report_dask(path: str, workers: int) -> None:
    from dnoutcomes.network.report import report_partitions
    from dnoutcomes.report.render_json import report_document

    start = time.perf_counter()
    report = report_partitions(path, n_workers=workers, run_time="2026-01-01T00:00:00")
    doc = report_document(report)
    print(json.dumps({"seconds": time.perf_counter() - start, "result": doc}))


def _child_report_memory(path: str) -> None:
    import dnoutcomes
    from dnoutcomes.report.build import build_report
    from dnoutcomes.report.render_json import report_document

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(path)
    report = build_report(dataset, run_time="2026-01-01T00:00:00", figures=False)
    doc = report_document(report)
    print(json.dumps({"seconds": time.perf_counter() - start, "result": doc}))


def report_agreement(dask_doc: dict[str, Any], memory_doc: dict[str, Any]) -> dict[str, Any]:
    """Cells of the Dask report's tables (the provenance left out) compared with the
    in-memory report's: how many, how many equal (numbers to 1e-9 relative), and the
    tables whose cells differ (a cell the full report hides more, through a table the
    Dask report does not have, counts as a difference)."""
    import math

    cells = equal = 0
    differ: set[str] = set()
    for key, table in dask_doc["tables"].items():
        if key.startswith("provenance") or key not in memory_doc["tables"]:
            continue
        for a, b in zip(table["rows"], memory_doc["tables"][key]["rows"], strict=False):
            for column in table["columns"]:
                x, y = a.get(column), b.get(column)
                cells += 1
                same = x == y or (
                    isinstance(x, int | float)
                    and isinstance(y, int | float)
                    and math.isclose(x, y, rel_tol=1e-9)
                )
                equal += same
                if not same:
                    differ.add(key)
    return {"cells": cells, "equal": equal, "tables_differing": sorted(differ)}


def bench_report(source: Path, parts: int, workers: int, root: Path) -> list[dict[str, Any]]:
    """``report --engine dask`` on ``source`` cut into ``parts`` (many-files layout)
    against the in-memory report of ``source``; both without figures."""
    from dnoutcomes.network.dask_engine import partition_files

    target = root / f"files-{source.name}-{parts}"
    if not (target / "_done").is_file():
        shutil.rmtree(target, ignore_errors=True)
        partition_files(source, target, parts=parts)
        (target / "_done").write_text("")
    me = [sys.executable, __file__, "--workers", str(workers), "--child"]
    wall, peak, out = measured([*me, "report-dask", str(target)])
    cpu = LAST_CPU
    dask_doc = json.loads(out.splitlines()[-1])
    wall_m, peak_m, out_m = measured([*me, "report-memory", str(source)])
    cpu_m = LAST_CPU
    memory_doc = json.loads(out_m.splitlines()[-1])
    return [
        {
            "engine": "dask",
            "command": "report",
            "source": str(source),
            "partitions": parts,
            "workers": workers,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "report_s": round(dask_doc["seconds"], 1),
            "peak_rss_mib": round(peak / 2**20),
            "sections": sorted({t["section"] for t in dask_doc["result"]["tables"].values()}),
        },
        {
            "engine": "memory",
            "command": "report",
            "source": str(source),
            "wall_s": round(wall_m, 1),
            "cpu_s": round(cpu_m, 1),
            "report_s": round(memory_doc["seconds"], 1),
            "peak_rss_mib": round(peak_m / 2**20),
            **report_agreement(dask_doc["result"], memory_doc["result"]),
        },
    ]


def agreement(dask_doc: dict[str, Any], memory_doc: dict[str, Any]) -> float:
    """The largest relative difference between the two engines' ANCOVA estimates and SEs,
    responder effects and the DerSimonian-Laird estimate."""
    pairs = []
    for mine, theirs in zip(dask_doc["ancova"], memory_doc["ancova"], strict=True):
        pairs += [(mine["estimate"], theirs["estimate"]), (mine["se"], theirs["se"])]
    pairs.append((dask_doc["site_meta"]["estimate"], memory_doc["site_meta"]["estimate"]))
    mine_r = {r["term"]: r["estimate"] for r in dask_doc["responders"]["effects"]}
    pairs += [(mine_r[k], memory_doc["responders"][k]) for k in mine_r]
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in pairs)


def agreement_iterative(dask_doc: dict[str, Any], memory_doc: dict[str, Any]) -> float:
    """The largest relative difference of the iterative sections: the mixed model's fixed
    effects and SEs and SDs, the medication odds ratios; and any adverse-event count or
    rate that differs (exact: expected 0)."""
    pairs = []
    for term, mine in dask_doc["lmm"]["fixed"].items():
        theirs = memory_doc["lmm"]["fixed"][term]
        pairs += [(mine["estimate"], theirs["estimate"]), (mine["se"], theirs["se"])]
    for key in ("sd_episode", "sd_residual"):
        pairs.append((dask_doc["lmm"][key], memory_doc["lmm"][key]))
    for mine, theirs in zip(dask_doc["medication"], memory_doc["medication"], strict=True):
        pairs.append((mine["odds_ratio"], theirs["odds_ratio"]))
    for mine, theirs in zip(dask_doc["safety"], memory_doc["safety"], strict=True):
        pairs += [
            (mine["events"], theirs["events"]),
            (mine["rate_per_100"], theirs["rate_per_100"]),
        ]
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5_000_000)
    parser.add_argument("--chunk", type=int, default=250_000, help="episodes per generated chunk")
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--root", type=Path, default=Path(__file__).parent / "out" / "dask")
    parser.add_argument("--agree", action="store_true", help="also run the in-memory engine")
    parser.add_argument("--out", type=Path, default=None, help="append the JSON lines here")
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="EXPORT",
        help="benchmark report --engine dask on this single Parquet export (cut into --parts "
        "files per table) against the in-memory report, instead of analyze",
    )
    parser.add_argument("--parts", type=int, default=20, help="parts for --report")
    parser.add_argument("--child", nargs=2, metavar=("ENGINE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, path = args.child
        children = {
            "dask": lambda: _child_dask(path, args.workers),
            "memory": lambda: _child_memory(path),
            "report-dask": lambda: _child_report_dask(path, args.workers),
            "report-memory": lambda: _child_report_memory(path),
        }
        children[engine]()
        return
    args.root.mkdir(parents=True, exist_ok=True)
    if args.report is not None:
        for line in bench_report(args.report, args.parts, args.workers, args.root):
            print(json.dumps(line))
            if args.out:
                with args.out.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(line) + "\n")
        return
    start = time.perf_counter()
    chunk = args.episodes if args.agree else args.chunk
    parts = generate_partitioned(args.episodes, chunk, args.sites, args.root)
    generated = time.perf_counter() - start
    me = [sys.executable, __file__, "--workers", str(args.workers), "--child"]
    wall, peak, out = measured([*me, "dask", str(parts)])
    dask_doc = json.loads(out.splitlines()[-1])
    lines = [
        {
            "engine": "dask",
            "episodes": args.episodes,
            "partitions": sum(1 for p in parts.iterdir() if p.is_dir()),
            "workers": args.workers,
            "wall_s": round(wall, 1),
            "analysis_s": round(dask_doc["seconds"], 1),
            "peak_rss_mib": round(peak / 2**20),
            "generate_s": round(generated, 1),
        }
    ]
    if args.agree:
        whole = args.root / f"whole-{args.episodes}"
        if not whole.is_dir():
            from dnoutcomes.sample import generate

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                generate(episodes=args.episodes, seed=SEED, sites=args.sites).write(
                    whole, format="parquet"
                )
        wall_m, peak_m, out_m = measured([*me, "memory", str(whole)])
        memory_doc = json.loads(out_m.splitlines()[-1])
        lines.append(
            {
                "engine": "memory",
                "episodes": args.episodes,
                "wall_s": round(wall_m, 1),
                "analysis_s": round(memory_doc["seconds"], 1),
                "peak_rss_mib": round(peak_m / 2**20),
                "max_relative_difference": agreement(dask_doc["result"], memory_doc["result"]),
                "max_relative_difference_iterative": agreement_iterative(
                    dask_doc["result"], memory_doc["result"]
                ),
            }
        )
    for line in lines:
        print(json.dumps(line))
        if args.out:
            with args.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
