"""Wide exports (issue 14): ``dnoutcomes.load`` (read, validate, build the Dataset) of an
export whose patients table has thousands of extra columns, against the raw read of the
same files in the same run.

Each extra column is a short text column (half its cells empty); the export is otherwise
the generator's (``dnoutcomes.sample``, 200 episodes, seed 14). Run from the repository
root::

    python benchmarks/bench_wide.py               # 1,000, 3,000 and 10,000 extra columns
    python benchmarks/bench_wide.py --columns 500 2000

It prints, per width, the raw read (``pandas.read_csv(engine="pyarrow", dtype=str)`` of the
five files), ``load`` (read, screen every cell and header, parse, build), their ratio,
the CPU time of both, and the CPU time per extra column, which stays flat when the cost
is linear in the columns
(before issue 14 the extra columns were added to the typed frame one at a time, quadratic:
10,000 columns took 117 s). Times are wall seconds, best of ``--repeat`` runs, on whatever
machine runs it; the numbers recorded in ``docs/performance.md`` say which.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import dnoutcomes
from dnoutcomes.sample import generate


def wide_export(root: Path, columns: int, *, episodes: int = 200) -> Path:
    """An export whose patients.csv has ``columns`` extra text columns."""
    folder = Path(generate(episodes=episodes, seed=14).write(root / f"wide{columns}"))
    (folder / "truth.json").unlink(missing_ok=True)
    patients = pd.read_csv(folder / "patients.csv", dtype="str", keep_default_na=False)
    rng = np.random.default_rng(columns)
    cells = np.where(rng.random((len(patients), columns)) < 0.5, "", "level_a")
    extra = pd.DataFrame(cells, columns=[f"extra_{k}" for k in range(columns)])
    pd.concat([patients, extra], axis=1).to_csv(folder / "patients.csv", index=False)
    return folder


def _best(step: object, repeat: int) -> tuple[float, float]:
    """Best wall and CPU seconds (CPU: this process, all threads; on a shared machine
    the wall time can be several times the CPU time)."""
    walls, cpus = [], []
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        step()  # type: ignore[operator]
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def measure(columns: list[int], repeat: int = 3) -> pd.DataFrame:
    """One row per width: ``columns``, ``raw_read_s``, ``load_s``, ``ratio``, the CPU
    seconds of both, and ``cpu_ms_per_column`` (of the load)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width in columns:
            folder = wide_export(Path(tmp), width)
            files = sorted(folder.glob("*.csv"))

            def raw(files: list[Path] = files) -> None:
                for file in files:
                    pd.read_csv(file, engine="pyarrow", dtype="str")

            def check(folder: Path = folder, width: int = width) -> None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # data-quality warnings of the sample
                    data = dnoutcomes.load(folder)
                assert data.patients.shape[1] > width

            (raw_s, raw_cpu), (check_s, check_cpu) = _best(raw, repeat), _best(check, repeat)
            rows.append(
                {
                    "columns": width,
                    "raw_read_s": round(raw_s, 2),
                    "load_s": round(check_s, 2),
                    "ratio": round(check_s / raw_s, 1),
                    "raw_read_cpu_s": round(raw_cpu, 2),
                    "load_cpu_s": round(check_cpu, 2),
                    "cpu_ms_per_column": round(1000 * check_cpu / width, 2),
                }
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--columns", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(measure(args.columns, args.repeat).to_string(index=False))


if __name__ == "__main__":
    main()
