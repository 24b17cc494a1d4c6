"""Write the analysis frames of a generated export with selective dropout (the generator's
dropout scenario) to CSV, so that R (``routine_care_dropout.R``) and the tests check the
routine-care methods on a data set of our own with dropout as well as on clinic_a.

Run from the repository root::

    PYTHONPATH=src python tests/reference/routine_care_dropout_inputs.py
    Rscript tests/reference/routine_care_dropout.R
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: The data set: ``generate(**GENERATE, params=baseline_dropout_params())``.
GENERATE: dict[str, Any] = {"episodes": 600, "seed": 15}


def dropout_dataset() -> Any:
    """The export the reference numbers are computed on (about 40 % dropout)."""
    from dnoutcomes.sample import baseline_dropout_params, generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's data-quality warnings
        return generate(**GENERATE, params=baseline_dropout_params()).to_dataset()


def main() -> None:
    from dnoutcomes.cohort import outcome_pairs
    from dnoutcomes.stats.survival import response_times
    from dnoutcomes.stats.trajectory_flex import trajectory_rows

    dataset = dropout_dataset()
    pairs = outcome_pairs(dataset, measure="nprs", timepoint="discharge")
    odi = outcome_pairs(dataset, measure="odi", timepoint="discharge")
    ancova = pairs.assign(odi_baseline=odi["baseline"].to_numpy())[
        ["episode_id", "treated", "therapist_id", "site_id", "age", "sex", "condition",
         "symptom_weeks", "odi_baseline", "baseline", "value"]
    ].rename(columns={"baseline": "nprs_baseline", "value": "nprs_discharge"})  # fmt: skip
    ancova.to_csv(HERE / "routine_care_dropout_ancova.csv", index=False)
    rows = trajectory_rows(
        dataset, reference="dn_only", comparator="dn_manual_exercise", measure="nprs"
    )
    rows.to_csv(HERE / "routine_care_dropout_trajectory.csv", index=False, float_format="%.17g")
    response_times(dataset).to_csv(HERE / "routine_care_dropout_times.csv", index=False)
    missing = int(pairs["value"].isna().sum())
    print(f"{len(pairs)} compared episodes, {missing} without a discharge NPRS")


if __name__ == "__main__":
    main()
