"""Write the IPTW analysis frame of clinic_a for tests/reference/iptw_estimands.R.

Built from the raw CSVs with pandas alone (not the package), following the data contract
and the analysis plan: arm = declared arm, else derived from the sessions (DN at any
session and neither manual nor exercise therapy at any → ``dn_only``; DN, manual and
exercise therapy each at some session → ``dn_manual_exercise``); episodes of those two arms
with a baseline and discharge NPRS, a baseline ODI and every propensity covariate; age
``90+`` as 90. R's stabilised ATE on this frame must equal ``expected.json``'s ``iptw``
(the script in R checks it), which is the check that the frame is right.

Run from the repository root::

    python tests/reference/iptw_frame.py ../shared/reference/clinic_a \
        tests/reference/clinic_a_iptw_frame.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

TRUE = {"true", "1", "yes", "y", "t"}


def _flag(column: pd.Series) -> pd.Series:
    return column.astype(str).str.strip().str.lower().isin(TRUE)


def derived_arms(sessions: pd.DataFrame) -> pd.Series:
    """The contract's arm derived from an episode's sessions."""
    flags = pd.DataFrame(
        {
            "episode_id": sessions["episode_id"],
            "dn": _flag(sessions["dn_performed"]),
            "manual": _flag(sessions["manual_therapy"]),
            "exercise": _flag(sessions["exercise_therapy"]),
        }
    )
    anyof = flags.groupby("episode_id")[["dn", "manual", "exercise"]].any()
    arm = pd.Series("other", index=anyof.index)
    arm[anyof["dn"] & ~anyof["manual"] & ~anyof["exercise"]] = "dn_only"
    arm[anyof["dn"] & anyof["manual"] & anyof["exercise"]] = "dn_manual_exercise"
    arm[~anyof["dn"] & anyof["manual"] & anyof["exercise"]] = "manual_exercise"
    return arm


def frame(folder: Path) -> pd.DataFrame:
    """One row per analysed episode of dn_only vs dn_manual_exercise."""
    patients = pd.read_csv(folder / "patients.csv", dtype={"age": str})
    episodes = pd.read_csv(folder / "episodes.csv")
    sessions = pd.read_csv(folder / "sessions.csv")
    outcomes = pd.read_csv(folder / "outcomes.csv")
    arm = episodes["arm"].fillna(episodes["episode_id"].map(derived_arms(sessions)))
    episodes = episodes.assign(arm=arm)
    episodes = episodes[episodes["arm"].isin(["dn_only", "dn_manual_exercise"])]
    wide = outcomes.pivot_table(
        index="episode_id", columns=["measure", "timepoint"], values="value", aggfunc="first"
    )
    values = pd.DataFrame(
        {
            "nprs_baseline": wide[("nprs", "baseline")],
            "nprs_discharge": wide[("nprs", "discharge")],
            "odi_baseline": wide[("odi", "baseline")],
        }
    )
    age = pd.to_numeric(patients["age"].str.replace("90+", "90", regex=False))
    patients = patients.assign(age=age)
    data = (
        episodes[["episode_id", "patient_id", "arm"]]
        .merge(patients, on="patient_id", how="left")
        .merge(values, left_on="episode_id", right_index=True, how="left")
    )
    data["treated"] = (data["arm"] == "dn_manual_exercise").astype(int)
    columns = [
        "episode_id",
        "treated",
        "nprs_baseline",
        "nprs_discharge",
        "odi_baseline",
        "age",
        "sex",
        "condition",
        "symptom_weeks",
        "site_id",
    ]
    return data[columns].dropna().sort_values("episode_id").reset_index(drop=True)


if __name__ == "__main__":
    frame(Path(sys.argv[1])).to_csv(sys.argv[2], index=False, lineterminator="\n")
