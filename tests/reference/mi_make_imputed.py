"""Write tests/reference/mi_imputed.csv: m = 5 imputed data sets from dnoutcomes' own
imputer (run once; mi_pool.R then pools them with mice::pool into mi_pool.json).

Usage (from the repository root)::

    PYTHONPATH=src python tests/reference/mi_make_imputed.py
"""

from __future__ import annotations

import warnings
from pathlib import Path

from dnoutcomes.sample import generate
from dnoutcomes.stats.mi import impute_chained, mi_frame

HERE = Path(__file__).resolve().parent


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample's data-quality warnings
        dataset = generate(episodes=400, seed=15).to_dataset()
    frame = mi_frame(dataset, covariates=["age"], auxiliaries=["odi"])
    imp = impute_chained(frame.drop(columns=["episode_id", "arm"]), m=5, maxit=10, rng=2026)
    long = imp.long()
    long.to_csv(HERE / "mi_imputed.csv", index=False, float_format="%.17g")
    print(f"{len(frame)} episodes, {imp.m} imputations, seed {imp.seed}")
    print(imp.summary().to_string(index=False))


if __name__ == "__main__":
    main()
