"""Micro-benchmark: the fast profiled-REML random-intercept fit against statsmodels' MixedLM.

Generates data of the trajectory model's shape (``nprs ~ arm * weeks + (1 | episode)``:
an intercept, a 0/1 arm, weeks, and their product; 1–5 rows per episode, ~3 on average),
fits it with both engines of :func:`dnoutcomes.stats.mixed.fit_random_intercept`, and
prints the time of each (best of ``--repeat`` runs), the ratio, and the largest relative
difference between the two engines' estimates.

Usage::

    python benchmarks/bench_mixed.py                 # 20,000 episodes
    python benchmarks/bench_mixed.py --episodes 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from dnoutcomes.stats.mixed import RandomInterceptFit, fit_random_intercept


def generate(
    episodes: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Rows of the trajectory model for ``episodes`` episodes (true SDs 1.5 and 0.95)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=episodes)
    group = np.repeat(np.arange(episodes, dtype=np.int64), sizes)
    arm = (rng.random(episodes) < 0.4).astype(np.float64)[group]
    weeks = rng.uniform(0.0, 10.0, size=group.size)
    x = np.column_stack([np.ones(group.size), arm, weeks, arm * weeks])
    beta = np.array([6.3, 0.75, -0.4, -0.15])
    y = x @ beta + rng.normal(0.0, 1.5, episodes)[group] + rng.normal(0.0, 0.95, group.size)
    return y, x, group


def best_time(
    fit: Callable[[], RandomInterceptFit], repeat: int
) -> tuple[float, RandomInterceptFit]:
    """Best wall-clock time of ``repeat`` calls, and the last result."""
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine (best kept)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    y, x, group = generate(args.episodes, args.seed)
    small = generate(50, args.seed + 1)  # warm-up of both engines (imports), not timed
    fit_random_intercept(*small)
    fit_random_intercept(*small, engine="statsmodels")
    fast_s, fast = best_time(lambda: fit_random_intercept(y, x, group), max(args.repeat, 3))
    sm_s, slow = best_time(
        lambda: fit_random_intercept(y, x, group, engine="statsmodels"), args.repeat
    )
    rel_coef = float(np.max(np.abs(fast.coef / slow.coef - 1.0)))
    rel_sd = max(
        abs(fast.sd_group / slow.sd_group - 1.0), abs(fast.sd_residual / slow.sd_residual - 1.0)
    )
    print(f"episodes {args.episodes}, rows {y.size}")
    print(f"fast        {fast_s:9.4f} s  converged={fast.converged}")
    print(f"statsmodels {sm_s:9.4f} s  converged={slow.converged}")
    print(f"ratio statsmodels / fast: {sm_s / fast_s:,.0f}x")
    print(f"max relative difference: fixed effects {rel_coef:.2e}, SDs {rel_sd:.2e}")


if __name__ == "__main__":
    main()
