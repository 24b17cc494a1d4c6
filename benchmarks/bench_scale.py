"""A million episodes: load, ``analyze`` and ``report`` against their anchors (issue 19).

Generates a Parquet export of N episodes with the project's generator (seed 8, 10 sites,
24 months from 2024-01) under ``benchmarks/out/scale/`` (git-ignored, reused), then runs
every step **in its own child process**, the steps of one round interleaved (read, load,
polars, analyze, report; then the next round), so that a busy minute on the shared machine
falls on every step alike. Per step and round: wall time and CPU time (user + system) of
the step alone, and the child's peak resident set size (``ru_maxrss`` via
:func:`os.wait4`). The medians over the rounds are printed as a Markdown table, with the
same-run ratios the issue asks for, and written to a JSON file.

Steps:

* ``read`` — ``pandas.read_parquet`` of the five tables, nothing else (the baseline);
* ``read_4k`` — the same read with NumPy's advice for transparent huge pages turned off
  (``numpy._core.multiarray._set_madvise_hugepage(False)``, so that NumPy's arrays are made
  of 4 KiB pages): the read without the cost of faulting in fresh 2 MiB pages, which on a
  virtual machine with free page reporting (the guest hands freed 2 MiB blocks back to the
  host, so each new one is backed again) varies from run to run and was 0.3–6 s of the
  read's system time here (``docs/performance.md``). The user/system split of every step
  is recorded so the two can be told apart;
* ``load`` — ``dnoutcomes.load``: read, parse, every rule of the contract, the Dataset;
* ``polars`` — ``polars.read_parquet`` of the five tables, then the same id checks the
  loader makes across tables: each id unique (patients, episodes, sessions, adverse
  events) and each reference found (episode → patient, session → episode, outcome →
  episode and session, adverse event → session). Needs the optional ``bench`` extra
  (``pip install dnoutcomes[bench]``); skipped when polars is not installed;
* ``analyze`` — ``dnoutcomes.stats.analyze(dataset).to_dict()``; the load is done first in
  the same child and timed apart (``load_wall``), and the peak RSS covers both, since that
  is what ``dnoutcomes analyze`` needs;
* ``report`` — ``dnoutcomes report PATH --period 2025-Q3`` end to end, load included.

Run from the repository root::

    python benchmarks/bench_scale.py --episodes 1000000 --rounds 3
    python benchmarks/bench_scale.py --episodes 5000000 --rounds 1 --steps analyze
        # 5M is generated in chunks of --chunk episodes (default 1M), ids prefixed per chunk
    python benchmarks/bench_scale.py --episodes 2000 --rounds 1    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "scale"
TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
STEPS = ("read", "read_4k", "load", "polars", "analyze", "report")
SEED = 8
SITES = 10
PERIOD = "2025-Q3"


CHUNK = 1_000_000


def export_dir(episodes: int, chunk: int = CHUNK) -> Path:
    """Folder of the generated Parquet export of ``episodes`` episodes (those of more than
    ``chunk`` episodes are generated in chunks, under ``chunked/``)."""
    if episodes > chunk:
        return OUT.parent / "chunked" / f"{episodes}-parquet"
    return OUT / f"{episodes}-parquet"


def ensure_export(episodes: int, chunk: int = CHUNK) -> Path:
    """Generate the export unless it is already there; its folder.

    Up to ``chunk`` episodes, one :func:`dnoutcomes.sample.generate` call; more, in
    chunks of ``chunk`` episodes written into one Parquet file per table with ids
    prefixed per chunk (``_chunks.write_single_export``), since one call for 5M episodes
    would need more memory than the analysis itself.
    """
    folder = export_dir(episodes, chunk)
    if episodes > chunk:
        from _chunks import write_single_export

        return write_single_export(episodes, chunk, SITES, SEED, folder)
    if not (folder / "truth.json").exists():
        from dnoutcomes.sample import generate

        generate(episodes=episodes, seed=SEED, sites=SITES).write(
            folder, format="parquet", force=True
        )
    return folder


def _files(folder: Path) -> dict[str, Path]:
    return {p.name.split(".")[0]: p for p in folder.glob("*.parquet")}


#: user and system CPU seconds of the last :func:`_timed` step (all threads)
_SPLIT: dict[str, float] = {}


def _timed(step: Callable[[], Any]) -> tuple[float, float, Any]:
    before, wall0 = os.times(), time.perf_counter()
    value = step()
    wall, after = time.perf_counter() - wall0, os.times()
    _SPLIT.update(user=after.user - before.user, sys=after.system - before.system)
    return wall, _SPLIT["user"] + _SPLIT["sys"], value


def polars_checks(folder: Path) -> int:
    """Read the five tables with polars and make the loader's cross-table id checks.

    Returns the number of problems found (0 on a generated export); raises nothing.
    """
    import polars as pl

    files = _files(folder)
    t = {name: pl.read_parquet(files[name]) for name in TABLES if name in files}
    problems = 0
    for name, key in (
        ("patients", "patient_id"),
        ("episodes", "episode_id"),
        ("sessions", "session_id"),
        ("adverse_events", "event_id"),
    ):
        if name in t:
            problems += int(t[name][key].is_duplicated().sum())
    for child, column, parent, key in (
        ("episodes", "patient_id", "patients", "patient_id"),
        ("sessions", "episode_id", "episodes", "episode_id"),
        ("outcomes", "episode_id", "episodes", "episode_id"),
        ("outcomes", "session_id", "sessions", "session_id"),
        ("adverse_events", "session_id", "sessions", "session_id"),
    ):
        if child in t and parent in t:
            values = t[child][column]
            found = values.is_in(t[parent][key].implode()) | values.is_null()
            problems += int((~found).sum())
    return problems


def _analysed(analysis: Any) -> dict[str, str]:
    """Render the analysis as ``analyze --json`` does; the sections that failed."""
    analysis.to_dict()
    return dict(analysis.failures)


def child(step: str, folder: Path) -> dict[str, Any]:
    """Run one step in this (child) process; its measurements."""
    import warnings

    import pandas as pd

    import dnoutcomes

    warnings.simplefilter("ignore")
    result: dict[str, Any] = {}
    if step in ("read", "read_4k"):
        if step == "read_4k":
            import numpy

            numpy._core.multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]
        files = list(_files(folder).values())
        wall, cpu, n = _timed(lambda: sum(len(pd.read_parquet(f)) for f in files))
        result["rows"] = n
    elif step == "load":
        wall, cpu, ds = _timed(lambda: dnoutcomes.load(folder))
        result["rows"] = int(ds.accounting["loaded"].sum())
    elif step == "polars":
        wall, cpu, problems = _timed(lambda: polars_checks(folder))
        result["problems"] = problems
    elif step == "analyze":
        from dnoutcomes.stats import analyze

        load_wall, load_cpu, ds = _timed(lambda: dnoutcomes.load(folder))
        print(f"bench_scale: loaded in {load_wall:.1f} s, analysing", file=sys.stderr, flush=True)
        wall, cpu, analysis = _timed(lambda: _analysed(analyze(ds)))
        # the sections that could not be computed, with the reason (none expected)
        result.update(load_wall=load_wall, load_cpu=load_cpu, failures=analysis)
    elif step == "report":
        import contextlib
        import io

        from dnoutcomes.cli import main

        with tempfile.TemporaryDirectory() as tmp:
            argv = ["report", str(folder), "--out", str(Path(tmp) / "report.html")]
            argv += ["--period", PERIOD, "--run-time", "2026-01-01T00:00:00"]
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                wall, cpu, code = _timed(lambda: main(argv))
            result.update(exit_code=code, progress=err.getvalue().splitlines()[-14:])
    else:
        raise SystemExit(f"unknown step {step!r}")
    result.update(wall=wall, cpu=cpu, **_SPLIT)
    return result


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_child(step: str, folder: Path, max_rss_gib: float | None = None) -> dict[str, Any]:
    """One step in a fresh interpreter; adds its peak RSS (MiB). With ``max_rss_gib`` the
    child is stopped (SIGKILL) once its resident set passes that many GiB, so a run that
    does not fit cannot push the shared machine into swapping or the OOM killer."""
    import signal
    import threading

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    argv = [sys.executable, __file__, "--child", step, "--folder", str(folder), "--out", str(out)]
    process = subprocess.Popen(argv, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    stopped: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while max_rss_gib is not None and not done.wait(0.2):
            rss = _rss_mib(process.pid)
            if rss > max_rss_gib * 1024:
                stopped.append(rss)
                os.kill(process.pid, signal.SIGKILL)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    result: dict[str, Any] = {"step": step}
    if stopped:
        result["error"] = f"stopped at {stopped[0] / 1024:.1f} GiB (cap {max_rss_gib} GiB)"
    elif os.waitstatus_to_exitcode(status) == 0:
        result.update(json.loads(out.read_text()))
    else:
        result["error"] = f"exit {os.waitstatus_to_exitcode(status)}"
    out.unlink(missing_ok=True)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def _setting(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import numpy
    import pandas
    import pyarrow

    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "numpy": numpy.__version__,
        "transparent_hugepages": _setting("/sys/kernel/mm/transparent_hugepage/enabled"),
        "free_page_reporting": Path("/sys/module/page_reporting").is_dir(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else float("nan")


def table(episodes: int, results: dict[str, list[dict[str, Any]]]) -> str:
    """The Markdown table of medians, with the same-run ratios."""
    med = {
        step: {
            k: _median(runs, k) for k in ("wall", "cpu", "user", "sys", "peak_rss_mib", "load_wall")
        }
        for step, runs in results.items()
    }
    read = med.get("read", {}).get("wall", float("nan"))
    read_4k = med.get("read_4k", {}).get("wall", float("nan"))
    lines = [
        "| episodes | step | runs | wall s (median) | CPU s (median) | user s | system s "
        "| peak RSS MiB | note |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for step, runs in results.items():
        m = med[step]
        note = ""
        if step == "load":
            note = f"{m['wall'] / read:.2f}× the read"
            if "read_4k" in med:
                note += f"; {m['wall'] / read_4k:.2f}× the read in 4 KiB pages"
            if "polars" in med:
                note += f"; {m['wall'] / med['polars']['wall']:.2f}× polars + checks"
        elif step in ("polars", "read_4k"):
            note = f"{m['wall'] / read:.2f}× the read"
        elif step == "analyze":
            note = f"load before it {m['load_wall']:.1f} s (not in the time; in the RSS)"
            failed = sorted({k for r in runs for k in r.get("failures") or {}})
            note += f"; sections failed: {', '.join(failed)}" if failed else "; no section failed"
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            note += f" errors: {errors}"
        lines.append(
            f"| {episodes:,} | {step} | {len(runs)} | {m['wall']:.2f} | {m['cpu']:.2f} | "
            f"{m['user']:.2f} | {m['sys']:.2f} | {m['peak_rss_mib']:,.0f} | {note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    parser.add_argument(
        "--chunk", type=int, default=CHUNK, help="generate larger exports in chunks this big"
    )
    parser.add_argument(
        "--max-rss-gib", type=float, default=None, help="stop a step past this resident set"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.out.write_text(json.dumps(child(args.child, args.folder)))
        return 0
    steps = list(args.steps)
    if "polars" in steps:
        try:
            import polars  # noqa: F401
        except ImportError:
            print("polars not installed (pip install dnoutcomes[bench]): step skipped")
            steps.remove("polars")
    folder = ensure_export(args.episodes, args.chunk)
    about = machine()
    results: dict[str, list[dict[str, Any]]] = {step: [] for step in steps}
    for round_ in range(args.rounds):
        for step in steps:
            result = run_child(step, folder, args.max_rss_gib)
            results[step].append(result)
            print(
                f"round {round_ + 1} {step}: wall {result.get('wall', float('nan')):.2f} s, "
                f"CPU {result.get('cpu', float('nan')):.2f} s "
                f"(system {result.get('sys', float('nan')):.2f}), "
                f"peak {result['peak_rss_mib']:,.0f} MiB",
                flush=True,
            )
    about["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(about)
    print(table(args.episodes, results))
    target = args.json or OUT / f"results-{args.episodes}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"machine": about, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
