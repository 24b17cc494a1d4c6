"""Network-scale benchmark (issue 8): load + validate, analyze, report and the mixed model.

Builds 10k, 100k and 1M-episode exports with the project's generator (``dnoutcomes.sample``,
seed 8, 10 sites, 24 months from 2024-01) as CSV and Parquet under ``benchmarks/out/data``
(git-ignored; reused when already there: delete that folder to rebuild the exports after
the generator changes), then measures each step in a fresh child process and writes a
Markdown table into ``docs/performance.md``.

Run from the repository root::

    python benchmarks/run.py              # 10k, 100k, 1M (the 1M network takes a while)
    python benchmarks/run.py --quick      # 10k only: a smoke run
    python benchmarks/run.py --sizes 500 --no-write   # tiny, prints the table only

What is measured, per size (every step in its own child process):

* ``read csv`` / ``read parquet`` — the baselines: ``pandas.read_csv(engine="pyarrow")`` /
  ``pandas.read_parquet`` of the same five files, nothing else;
* ``load csv`` / ``load parquet`` — ``dnoutcomes.load`` (read, parse, validate the whole
  contract, build the Dataset), ratio to the raw read of the same files;
* ``analyze`` — ``dnoutcomes.stats.analyze`` on the Parquet export (load not included;
  ``analyze + load`` is given too, which is what ``dnoutcomes analyze`` costs);
* ``report`` — ``dnoutcomes report PATH --period 2025-Q3`` end to end (load included) on the
  Parquet export: one quarter of the network;
* ``mixed fast`` / ``mixed statsmodels`` — the trajectory model ``nprs ~ arm * weeks +
  (1 | episode_id)`` alone on the export's own NPRS rows, fitted by
  :func:`dnoutcomes.stats.mixed.fit_random_intercept` with each engine; statsmodels runs
  under a 10-minute cap ("stopped at the 10 min cap"; "not run" when the slope of the
  smaller sizes already predicts more than twice the cap), with the time the
  slope of the smaller sizes predicts. The two mixed-model steps also run at 20k episodes,
  the issue's anchor (lme4 0.28 s and MixedLM 5.9 s there on the issue's machine).

Wall time is the step alone (imports and setup excluded), taken in the child with
:func:`time.perf_counter`; CPU time (user + system) of the same span is given beside it
because the machine may be shared. Peak memory is the child's peak resident set size
(``ru_maxrss`` of that one child, read with :func:`os.wait4`), so it includes the Python
interpreter and the imported libraries (about 150–250 MiB); it is the honest figure for
Arrow and NumPy buffers, which :mod:`tracemalloc` does not see in full.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
DOC = ROOT / "docs" / "performance.md"
SIZES = (10_000, 100_000, 1_000_000)
#: The issue's anchor for the mixed model: lme4 0.28 s, MixedLM 5.9 s on 20k episodes.
MIXED_ONLY = (20_000,)
SEED = 8
SITES = 10
PERIOD = "2025-Q3"
STATSMODELS_CAP_S = 600.0
TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
BEGIN = "<!-- benchmark table: written by benchmarks/run.py -->"
END = "<!-- end of benchmark table -->"


# --------------------------------------------------------------------------- data


def data_dir(episodes: int, fmt: str, root: Path = OUT) -> Path:
    """Folder of the generated export of ``episodes`` episodes in format ``fmt``."""
    return root / "data" / f"{episodes}-{fmt}"


def ensure_data(episodes: int, root: Path = OUT) -> dict[str, int]:
    """Generate the CSV and Parquet exports of ``episodes`` unless both exist; row counts."""
    stamp = root / "data" / f"{episodes}.json"
    csv_dir, pq_dir = data_dir(episodes, "csv", root), data_dir(episodes, "parquet", root)
    if stamp.exists() and (csv_dir / "truth.json").exists() and (pq_dir / "truth.json").exists():
        rows: dict[str, int] = json.loads(stamp.read_text())["rows"]
        return rows
    from dnoutcomes.sample import generate

    data = generate(episodes=episodes, seed=SEED, sites=SITES)
    data.write(pq_dir, format="parquet", force=True)
    data.write(csv_dir, format="csv", force=True)
    rows = {name: int(t.num_rows) for name, t in data.tables.items()}
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"episodes": episodes, "seed": SEED, "rows": rows}))
    return rows


def _table_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.split(".")[0] in TABLES)


# --------------------------------------------------------------------------- child steps


def _timed(step: Callable[[], Any]) -> tuple[float, float, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    value = step()
    return time.perf_counter() - wall0, time.process_time() - cpu0, value


def _cached_trajectory_rows(folder: Path) -> tuple[Any, Any, Any]:
    """:func:`_trajectory_rows`, kept beside the export after the first build (untimed setup:
    it saves one load of the export per mixed-model step)."""
    cache = folder.with_name(folder.name + "-trajectory.npz")
    if cache.exists():
        with np.load(cache, allow_pickle=False) as saved:
            return saved["y"], saved["x"], saved["groups"]
    y, x, groups = _trajectory_rows(folder)
    np.savez(cache, y=y, x=x, groups=groups.astype(str))
    return y, x, groups


def _trajectory_rows(folder: Path) -> tuple[Any, Any, Any]:
    """The mixed model's y, X and groups, built as compare_trajectories builds them."""
    import warnings

    import dnoutcomes
    from dnoutcomes.cohort import comparison_episodes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(folder)
    episodes = comparison_episodes(dataset, reference="dn_only", comparator="dn_manual_exercise")
    out = dataset.outcomes
    rows = out.loc[
        (out["measure"] == "nprs") & out["timepoint"].isin(("baseline", "session", "discharge")),
        ["episode_id", "assessed_on", "value"],
    ].merge(episodes[["episode_id", "treated", "start_date"]], on="episode_id")
    weeks = ((rows["assessed_on"] - rows["start_date"]).dt.days / 7.0).to_numpy(float)
    treated = rows["treated"].to_numpy(float)
    x = np.column_stack([np.ones_like(weeks), treated, weeks, treated * weeks])
    return rows["value"].to_numpy(float), x, rows["episode_id"].to_numpy()


def child(step: str, episodes: int, root: Path) -> dict[str, Any]:
    """Run one step in this (child) process and return its measurements."""
    import warnings

    import pandas as pd

    import dnoutcomes

    fmt = "csv" if step.endswith("csv") else "parquet"
    folder = data_dir(episodes, fmt, root)
    result: dict[str, Any] = {}
    if step in ("read_csv", "read_parquet"):
        files = _table_files(folder)

        def read() -> int:
            if step == "read_csv":
                return sum(len(pd.read_csv(f, engine="pyarrow")) for f in files)
            return sum(len(pd.read_parquet(f)) for f in files)

        wall, cpu, n = _timed(read)
        result["rows"] = n
    elif step in ("load_csv", "load_parquet"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wall, cpu, ds = _timed(lambda: dnoutcomes.load(folder))
        result["rows"] = int(ds.accounting["loaded"].sum())
    elif step == "analyze":
        from dnoutcomes.stats import analyze

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_wall, load_cpu, ds = _timed(lambda: dnoutcomes.load(folder))
            wall, cpu, doc = _timed(lambda: analyze(ds).to_dict())
        result.update(load_wall=load_wall, load_cpu=load_cpu, lmm=doc.get("lmm") is not None)
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
            result.update(exit_code=code, progress=err.getvalue().splitlines()[-12:])
            result["html_kib"] = round((Path(tmp) / "report.html").stat().st_size / 1024)
    elif step == "mixed_setup":  # untimed: build the rows once, so the cap is the fit's alone
        wall, cpu, arrays = _timed(lambda: _cached_trajectory_rows(folder))
        result["n_obs"] = len(arrays[0])
    elif step in ("mixed_fast", "mixed_statsmodels"):
        from dnoutcomes.stats.mixed import fit_random_intercept

        y, x, groups = _cached_trajectory_rows(folder)
        engine: Literal["fast", "statsmodels"] = "fast" if step == "mixed_fast" else "statsmodels"
        tiny = slice(0, min(len(y), 200))
        fit_random_intercept(y[tiny], x[tiny], groups[tiny], engine=engine)  # warm-up
        wall, cpu, fit = _timed(lambda: fit_random_intercept(y, x, groups, engine=engine))
        result.update(
            n_obs=int(fit.n_obs),
            n_groups=int(fit.n_groups),
            converged=bool(fit.converged),
            coef=[float(c) for c in fit.coef],
            sd=[float(fit.sd_group), float(fit.sd_residual)],
        )
    else:
        raise SystemExit(f"unknown step {step!r}")
    result.update(step=step, episodes=episodes, wall_s=wall, cpu_s=cpu)
    return result


def _cap_text(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:g} s"


@dataclass
class Measured:
    """One step's numbers, as the parent saw them."""

    step: str
    episodes: int
    wall_s: float | None
    cpu_s: float | None
    peak_mib: float | None
    detail: dict[str, Any]
    note: str = ""


def run_child(step: str, episodes: int, root: Path, timeout: float | None) -> Measured:
    """Run ``step`` in a child process; its own peak RSS comes from :func:`os.wait4`."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, str(episodes)]
    cmd += ["--root", str(root)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                note = f"stopped at the {_cap_text(timeout or 0.0)} cap"
                return Measured(step, episodes, None, None, None, {}, note)
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        last = errors.strip().splitlines()[-1:] or ["no output"]
        return Measured(step, episodes, None, None, None, {}, f"failed: {last[0][:200]}")
    data = json.loads(text.strip().splitlines()[-1])
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return Measured(step, episodes, data["wall_s"], data["cpu_s"], peak, data)


# --------------------------------------------------------------------------- table


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) on log(size); ``None`` with fewer than 2 points."""
    pts = [(math.log(n), math.log(t)) for n, t in points if t and t > 0]
    if len(pts) < 2:
        return None
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    return float(np.polyfit(xs, ys, 1)[0])


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "—"
    return f"{a / b:.2f}×" if a / b < 100 else f"{a / b:,.0f}×"


def machine() -> str:
    """Cores, memory, CPU model, Python and library versions, load at the start."""
    import pandas as pd
    import pyarrow as pa
    import statsmodels

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({model}), {mem_gib:.1f} GiB memory; Python "
        f"{platform.python_version()}, pandas {pd.__version__}, pyarrow {pa.__version__}, "
        f"NumPy {np.__version__}, statsmodels {statsmodels.__version__}; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) when the run began"
    )


LABELS = {
    "read_csv": ("read csv (baseline)", None),
    "load_csv": ("load + validate csv", "read_csv"),
    "read_parquet": ("read parquet (baseline)", None),
    "load_parquet": ("load + validate parquet", "read_parquet"),
    "analyze": ("analyze (load excluded)", None),
    "report": (f"report {PERIOD} (load included)", None),
    "mixed_statsmodels": ("mixed model, statsmodels (baseline)", None),
    "mixed_fast": ("mixed model, fast REML", "mixed_statsmodels"),
}


def table(results: list[Measured], rows: dict[int, dict[str, int]]) -> str:
    """The Markdown table: one line per step and size."""
    lines = [
        "| episodes | rows (all tables) | step | wall s | CPU s | peak RSS MiB | vs baseline |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    by = {(m.step, m.episodes): m for m in results}
    for m in results:
        label, base = LABELS[m.step]
        ref = by.get((base, m.episodes)) if base else None
        ratio = _ratio(m.wall_s, ref.wall_s) if ref else ""
        if m.step == "mixed_fast" and ref is not None:
            # a speed-up reads better than a tiny ratio: statsmodels time over ours
            ratio = f"statsmodels ÷ fast = {_ratio(ref.wall_s, m.wall_s)}"
            if ref.wall_s is None:
                ratio = ref.detail.get("predicted", "statsmodels not run")
        if m.step == "analyze" and m.wall_s is not None:
            ratio = f"analyze + load {_fmt_s(m.wall_s + m.detail['load_wall'])} s"
        wall = m.note if m.wall_s is None else _fmt_s(m.wall_s)
        peak = "—" if m.peak_mib is None else f"{m.peak_mib:,.0f}"
        n_rows = sum(rows.get(m.episodes, {}).values())
        lines.append(
            f"| {m.episodes:,} | {n_rows:,} | {label} | {wall} | {_fmt_s(m.cpu_s)} | {peak} "
            f"| {ratio} |"
        )
    return "\n".join(lines)


def growth(results: list[Measured]) -> str:
    """Sentences on the slope of log time against log size, per step."""
    parts = []
    for step, (label, _) in LABELS.items():
        pts = [(m.episodes, m.wall_s) for m in results if m.step == step and m.wall_s]
        b = slope([(float(n), float(t)) for n, t in pts if t is not None])
        if b is not None:
            sizes = ", ".join(f"{n:,}" for n, _ in pts)
            parts.append(f"{label}: slope {b:.2f} (over {sizes} episodes)")
    return "; ".join(parts) + "." if parts else "Only one size was run: no slope."


def write_doc(text: str, doc: Path = DOC) -> None:
    """Replace the generated block of ``doc`` (or create the file around it)."""
    block = f"{BEGIN}\n{text}\n{END}"
    if doc.exists() and BEGIN in doc.read_text() and END in doc.read_text():
        old = doc.read_text()
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        doc.write_text(head + block + tail)
    else:
        doc.write_text(f"# Performance\n\n{block}\n")


# --------------------------------------------------------------------------- main


def steps_for(episodes: int, statsmodels: bool) -> list[str]:
    """The steps run at one size, in order."""
    if episodes in MIXED_ONLY:
        return ["mixed_statsmodels", "mixed_fast"]
    steps = ["read_parquet", "load_parquet", "report"]
    steps += ["mixed_statsmodels"] if statsmodels else []
    return [*steps, "mixed_fast", "analyze", "read_csv", "load_csv"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k episodes only (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="episode counts to run")
    parser.add_argument("--steps", nargs="+", choices=list(LABELS), help="a subset of steps")
    parser.add_argument("--root", type=Path, default=OUT, help="where the data are built")
    parser.add_argument("--no-write", action="store_true", help="print, do not edit the doc")
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--cap", type=float, default=STATSMODELS_CAP_S, help="statsmodels cap s")
    parser.add_argument(
        "--merge",
        type=Path,
        help="a results JSON of an earlier run: re-measure some steps (--sizes/--steps) and "
        "write the earlier table with those rows replaced",
    )
    parser.add_argument("--child", nargs=2, metavar=("STEP", "EPISODES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        res = child(args.child[0], int(args.child[1]), args.root)
        sys.stdout.write(json.dumps(res, default=str) + "\n")
        return 0

    sizes = [10_000] if args.quick else (args.sizes or sorted({*SIZES, *MIXED_ONLY}))
    info = machine()
    say = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    say(info)
    rows: dict[int, dict[str, int]] = {}
    results: list[Measured] = []
    if args.merge is not None:
        earlier = [Measured(**d) for d in json.loads(args.merge.read_text())]
        for n in {m.episodes for m in earlier}:
            rows[n] = ensure_data(n, args.root)
        args.earlier = earlier
    sm_points: list[tuple[float, float]] = []
    for n in sorted(sizes):
        say(f"{n:,} episodes: building the exports (reused if present)")
        rows[n] = ensure_data(n, args.root)
        for step in steps_for(n, statsmodels=True):
            if args.steps and step not in args.steps:
                continue
            if step == "mixed_statsmodels" and sm_points:
                b = slope(sm_points) or 1.0
                n0, t0 = sm_points[-1]
                guess = t0 * (n / n0) ** max(b, 1.0)
                if guess > 2 * args.cap:  # certain to hit the cap: do not burn the cap
                    m = Measured(
                        step,
                        n,
                        None,
                        None,
                        None,
                        {},
                        f"not run (predicted > 2 × {_cap_text(args.cap)})",
                    )
                    m.detail["predicted"] = f"statsmodels ≈ {guess:,.0f} s by the slope"
                    results.append(m)
                    say(f"{n:,} {step}: skipped, predicted {guess:,.0f} s")
                    continue
            say(f"{n:,} episodes: {step}")
            if step == "mixed_statsmodels":
                run_child("mixed_setup", n, args.root, None)
            timeout = args.cap if step == "mixed_statsmodels" else None
            m = run_child(step, n, args.root, timeout)
            if step == "mixed_statsmodels":
                if m.wall_s is not None:
                    sm_points.append((float(n), m.wall_s))
                elif sm_points:
                    b = slope(sm_points) or 1.0
                    n0, t0 = sm_points[-1]
                    m.detail["predicted"] = (
                        f"statsmodels ≈ {t0 * (n / n0) ** max(b, 1.0):,.0f} s by the slope"
                    )
            results.append(m)
            peak = "—" if m.peak_mib is None else f"{m.peak_mib:,.0f}"
            say(f"  wall {_fmt_s(m.wall_s)} s, cpu {_fmt_s(m.cpu_s)} s, peak {peak} MiB {m.note}")
            _save(args, sizes, info, results, rows, done=False)  # a stopped run keeps its numbers
    print(_save(args, sizes, info, results, rows, done=True))
    return 0


def _save(
    args: argparse.Namespace,
    sizes: Sequence[int],
    info: str,
    results: list[Measured],
    rows: dict[int, dict[str, int]],
    *,
    done: bool,
) -> str:
    """Write the results JSON and (unless ``--no-write``) the doc's table; return the text."""
    state = "" if done else " (run still in progress: the steps finished so far)"
    earlier: list[Measured] = getattr(args, "earlier", [])
    if earlier:
        fresh = {(m.step, m.episodes): m for m in results}
        redone = ", ".join(f"{m.episodes:,} {LABELS[m.step][0]}" for m in results)
        state += f"; re-measured at this time: {redone}; the rest from {args.merge.name}"
        kept = [fresh.pop((m.step, m.episodes), m) for m in earlier]
        results = kept + list(fresh.values())
        sizes = sorted({m.episodes for m in results})
    text = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}{state} on {info}; "
            f"code: {_revision()}.",
            "",
            table(results, rows),
            "",
            "How cost grows with size (least-squares slope of log wall time on log episodes; "
            "1 = linear): " + growth(results),
        ]
    )
    args.root.mkdir(parents=True, exist_ok=True)
    (args.root / f"results-{'-'.join(map(str, sizes))}.json").write_text(
        json.dumps([m.__dict__ for m in results], indent=1, default=str)
    )
    if not args.no_write:
        write_doc(text, args.doc)
    return text


def _revision() -> str:
    """The commit measured: ``.snapshot_commit`` of an exported tree, else ``git``'s HEAD."""
    mark = ROOT / ".snapshot_commit"
    if mark.exists():
        return f"commit {mark.read_text().strip()}"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        head = ""
    return f"commit {head} (working tree)" if head else "unknown revision"


if __name__ == "__main__":
    sys.exit(main())
