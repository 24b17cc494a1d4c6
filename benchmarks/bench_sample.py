"""Time and memory of the synthetic generator: 10k, 100k and 1M episodes written as Parquet.

Run from the repository root::

    python benchmarks/bench_sample.py            # 10k, 100k, 1M
    python benchmarks/bench_sample.py 10000 100000

Each size runs in a fresh child process so its peak resident memory (``ru_maxrss``) is its
own, with its CPU time (user + system: the figure to read on a busy machine, where wall time
also counts waiting for a core). The child also reports the Python-level peak seen by
:mod:`tracemalloc` (NumPy allocations are traced; Arrow's own buffers are not, so the RSS
figure is the one to read).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (10_000, 100_000, 1_000_000)


def _child(episodes: int) -> None:
    import tracemalloc

    from dnoutcomes.sample import generate

    tracemalloc.start()
    began = time.perf_counter()
    data = generate(episodes=episodes, seed=1)
    generated = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        out = data.write(Path(tmp) / "export", format="parquet")
        total = time.perf_counter() - began
        size = sum(f.stat().st_size for f in out.iterdir())
    _, traced_peak = tracemalloc.get_traced_memory()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss_kib = usage.ru_maxrss
    rows = {name: t.num_rows for name, t in data.tables.items()}
    result = {
        "episodes": episodes,
        "generate_s": round(generated, 2),
        "generate_and_write_s": round(total, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "tracemalloc_peak_mib": round(traced_peak / 2**20, 1),
        "parquet_mib": round(size / 2**20, 1),
        "rows": rows,
    }
    sys.stdout.write(json.dumps(result) + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        _child(int(argv[1]))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    header = (
        f"{'episodes':>10} {'generate s':>11} {'+ write s':>10} {'CPU s':>7} {'peak RSS MiB':>13}"
    )
    sys.stdout.write(header + f" {'traced MiB':>11} {'parquet MiB':>12}  rows\n")
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows = ", ".join(f"{v:,} {k}" for k, v in r["rows"].items())
        sys.stdout.write(
            f"{n:>10,} {r['generate_s']:>11} {r['generate_and_write_s']:>10} {r['cpu_s']:>7} "
            f"{r['peak_rss_mib']:>13} {r['tracemalloc_peak_mib']:>11} {r['parquet_mib']:>12}"
            f"  {rows}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
