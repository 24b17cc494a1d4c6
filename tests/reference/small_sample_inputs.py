"""Write the inputs of the small-sample reference numbers (``small_sample.R``): Kenward–Roger
for the MMRM and CR2 cluster-robust SEs with Satterthwaite df, on data with few subjects
or few clusters. clinic_a's frames are the ones ``routine_care_inputs.py`` already writes
(``routine_care_mmrm.csv``, ``routine_care_ancova.csv``); this script adds

- ``small_sample_mmrm.csv``: 36 simulated episodes, three visits, dropout;
- ``small_sample_cluster.csv``: the ANCOVA frame of a generated export with 6 sites, with
  the stabilised IPTW weights dnoutcomes computes (so that R fits the same weighted model).

Run from the repository root::

    PYTHONPATH=src python tests/reference/small_sample_inputs.py
    Rscript tests/reference/small_sample.R
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: The few-cluster export: ``generate(**GENERATE)``.
GENERATE: dict[str, Any] = {"episodes": 160, "seed": 6, "sites": 6}


def few_sites_dataset() -> Any:
    """The generated export with 6 sites the CR2 reference numbers are computed on."""
    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's data-quality warnings
        return generate(**GENERATE).to_dataset()


def cluster_frame(dataset: Any) -> pd.DataFrame:
    """The IPTW analysis frame with its weights (``iptw_weight``) and a flag for the rows
    of the unweighted ANCOVA (``ancova``: both NPRS values present)."""
    from dnoutcomes.cohort import outcome_pairs
    from dnoutcomes.stats._balance import indicator_columns
    from dnoutcomes.stats._propensity import propensity_weights
    from dnoutcomes.stats.aipw import PS_CATEGORICAL, PS_CONTINUOUS, propensity_frame

    data, _ = propensity_frame(dataset, reference="dn_only", comparator="dn_manual_exercise")
    covariates = indicator_columns(data, continuous=PS_CONTINUOUS, categorical=PS_CATEGORICAL)
    _, weights, _, _ = propensity_weights(covariates, data["treated"])
    iptw = data[["episode_id", "treated", "nprs_baseline", "nprs_discharge", "therapist_id",
                 "site_id"]].assign(iptw_weight=weights)  # fmt: skip
    pairs = outcome_pairs(dataset, measure="nprs", timepoint="discharge")
    pairs = pairs.loc[pairs[["baseline", "value"]].notna().all(axis=1)]
    ancova = pairs[["episode_id", "treated", "baseline", "value", "therapist_id", "site_id"]]
    ancova = ancova.rename(columns={"baseline": "nprs_baseline", "value": "nprs_discharge"})
    out = ancova.merge(
        iptw[["episode_id", "iptw_weight"]], on="episode_id", how="outer", indicator=True
    )
    out = out.assign(
        ancova=(out["_merge"] != "right_only").astype(int),
        iptw=(out["_merge"] != "left_only").astype(int),
    ).drop(columns="_merge")
    fill = iptw.set_index("episode_id")
    for col in ("treated", "nprs_baseline", "nprs_discharge", "therapist_id", "site_id"):
        out[col] = out[col].fillna(out["episode_id"].map(fill[col]))
    return out.sort_values("episode_id").reset_index(drop=True)


def main() -> None:
    from routine_care_inputs import simulate_mmrm

    simulate_mmrm(seed=36, n=36).to_csv(HERE / "small_sample_mmrm.csv", index=False)
    frame = cluster_frame(few_sites_dataset())
    frame.to_csv(HERE / "small_sample_cluster.csv", index=False, float_format="%.17g")
    print(frame.groupby("site_id")[["ancova", "iptw"]].sum())
    print(np.round(frame["iptw_weight"].describe(), 3))


if __name__ == "__main__":
    main()
