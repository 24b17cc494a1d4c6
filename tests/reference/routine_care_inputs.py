"""Write the analysis frames of clinic_a (and a simulated MMRM data set with dropout) to CSV,
so that R (``routine_care.R``) and the tests read identical inputs.

Run from the repository root: ``PYTHONPATH=src python tests/reference/routine_care_inputs.py``
then ``Rscript tests/reference/routine_care.R``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CLINIC_A = HERE.parents[1].parent / "shared" / "reference" / "clinic_a"


def simulate_mmrm(seed: int = 15, n: int = 300) -> pd.DataFrame:
    """Three visits, unstructured errors, monotone dropout that depends on the last
    observed value (missing at random)."""
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, n)
    baseline = rng.normal(6.5, 1.5, n)
    sigma = np.array([[2.0, 1.2, 0.9], [1.2, 2.5, 1.6], [0.9, 1.6, 3.0]])
    err = rng.multivariate_normal(np.zeros(3), sigma, size=n)
    means = np.array([4.5, 3.8, 3.2]) + np.outer(treated, [-0.6, -0.9, -1.2])
    y = means + np.outer(baseline - 6.5, [0.5, 0.4, 0.3]) + err
    for v in (1, 2):  # dropout after a poor (high) value
        drop = rng.uniform(size=n) < 1 / (1 + np.exp(-(y[:, v - 1] - 6.0)))
        y[drop, v:] = np.nan
    visits = ["discharge", "followup_4w", "followup_12w"]
    long = pd.DataFrame(
        {
            "episode_id": np.repeat([f"S{i:04d}" for i in range(n)], 3),
            "arm": np.repeat(np.where(treated == 1, "dn_manual_exercise", "dn_only"), 3),
            "treated": np.repeat(treated, 3),
            "baseline": np.repeat(baseline, 3),
            "visit": np.tile(visits, n),
            "value": y.ravel(),
        }
    )
    return long.dropna(subset=["value"]).reset_index(drop=True)


def main() -> None:
    import dnoutcomes
    from dnoutcomes.cohort import outcome_pairs
    from dnoutcomes.stats.mmrm import mmrm_frame
    from dnoutcomes.stats.survival import response_times
    from dnoutcomes.stats.trajectory_flex import trajectory_rows

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(CLINIC_A)
    pairs = outcome_pairs(dataset, measure="nprs", timepoint="discharge")
    odi = outcome_pairs(dataset, measure="odi", timepoint="discharge")
    ancova = pairs.assign(odi_baseline=odi["baseline"].to_numpy())[
        [
            "episode_id",
            "treated",
            "therapist_id",
            "site_id",
            "age",
            "sex",
            "condition",
            "symptom_weeks",
            "odi_baseline",
            "baseline",
            "value",
        ]
    ].rename(columns={"baseline": "nprs_baseline", "value": "nprs_discharge"})
    ancova.to_csv(HERE / "routine_care_ancova.csv", index=False)
    mmrm = mmrm_frame(
        dataset,
        reference="dn_only",
        comparator="dn_manual_exercise",
        measure="nprs",
        visits=["discharge", "followup_12w"],
    )
    mmrm.to_csv(HERE / "routine_care_mmrm.csv", index=False)
    simulate_mmrm().to_csv(HERE / "routine_care_mmrm_sim.csv", index=False)
    rows = trajectory_rows(
        dataset, reference="dn_only", comparator="dn_manual_exercise", measure="nprs"
    )
    rows.to_csv(HERE / "routine_care_trajectory.csv", index=False, float_format="%.17g")
    times = response_times(dataset)
    times.to_csv(HERE / "routine_care_times.csv", index=False)


if __name__ == "__main__":
    main()
