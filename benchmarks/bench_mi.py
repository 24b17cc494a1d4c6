"""Benchmark: multiple imputation (m = 20, 10 iterations) of a generated export.

For each size, generates an export with :func:`dnoutcomes.sample.generate` (not timed),
builds the per-episode frame of the NPRS-at-discharge comparison with age, sex, condition,
symptom weeks and site as covariates and ODI as auxiliary outcome, and times

* ``impute``: :func:`dnoutcomes.stats.mi.impute_chained` (chained equations, PMM and
  logistic imputation),
* ``pool``: the ANCOVA on each of the m completed frames and Rubin's rules,

printing wall-clock and CPU seconds (CPU is the fairer figure on a shared machine).

Usage::

    python benchmarks/bench_mi.py                      # 10,000 and 100,000 episodes
    python benchmarks/bench_mi.py --episodes 2000 --m 5
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from dnoutcomes.sample import generate
from dnoutcomes.stats._mi_frame import ancova_sets, model_columns, ols_arm
from dnoutcomes.stats.mi import impute_chained, mi_frame, pool_rubin

COVARIATES = ("age", "sex", "condition", "symptom_weeks", "site_id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--m", type=int, default=20)
    parser.add_argument("--maxit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    for episodes in (int(e) for e in args.episodes.split(",")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the generator's data-quality warnings
            dataset = generate(episodes=episodes, seed=args.seed).to_dataset()
        frame = mi_frame(dataset, covariates=COVARIATES, auxiliaries=["odi"])
        wall, cpu = time.perf_counter(), time.process_time()
        imp = impute_chained(
            frame, columns=model_columns(frame), m=args.m, maxit=args.maxit, rng=args.seed
        )
        impute_wall, impute_cpu = time.perf_counter() - wall, time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        coefs, variances, dfcom = [], [], float("nan")
        terms: list[str] = []
        for x, y, terms in ancova_sets(imp, COVARIATES):  # noqa: B007 (terms used below)
            beta, var, dfcom = ols_arm(x, y, label="bench")
            coefs.append(beta)
            variances.append(var)
        pooled = pool_rubin(np.array(coefs), np.array(variances), dfcom=dfcom, terms=terms)
        pool_wall, pool_cpu = time.perf_counter() - wall, time.process_time() - cpu
        arm = pooled.set_index("term").loc["arm"]
        missing = ", ".join(
            f"{row.variable} {row.n_missing}"
            for row in imp.summary().itertuples()
            if row.n_missing > 0
        )
        print(
            f"episodes {episodes:>7,} (compared {len(frame):,}; missing: {missing}); "
            f"m = {imp.m}, maxit = {imp.maxit}"
        )
        print(f"  impute  wall {impute_wall:7.1f} s  cpu {impute_cpu:7.1f} s")
        print(f"  pool    wall {pool_wall:7.1f} s  cpu {pool_cpu:7.1f} s")
        print(
            f"  arm {arm['estimate']:.3f} (SE {arm['std_error']:.3f}, fmi {arm['fmi']:.2f}, "
            f"df {arm['df']:.0f})"
        )


if __name__ == "__main__":
    main()
