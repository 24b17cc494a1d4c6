"""Convert the acupuncture-for-headache trial into a dnoutcomes data-contract export.

Vickers AJ et al. Acupuncture for chronic headache in primary care: large, pragmatic,
randomised trial. BMJ 2004;328:744. The per-patient data are published (Vickers 2006,
Trials 7:15) and distributed in R's ``medicaldata`` package (MIT licence).

Usage::

    python examples/headache_trial/convert.py SRC.csv OUT_DIR

``SRC.csv`` has one row per patient with the columns ``id, age, sex, migraine,
chronicity, acupuncturist, practice_id, group, pk1, pk2, pk5`` (other columns are
ignored). ``OUT_DIR`` receives ``patients.csv``, ``episodes.csv``, ``sessions.csv`` and
``outcomes.csv``; it is created if missing and existing files of those names are replaced.

Choices this conversion makes (the trial does not fit the contract everywhere):

- ``sex``: the source codes 1/0; 1 is read as **female** (84 % of the trial's patients
  are coded 1, and the trial's population of chronic-headache patients in primary care
  was mostly women). 0 is ``male``.
- ``condition``: headache is not one of the contract's low-back conditions, so every
  patient is ``other``.
- ``symptom_weeks``: the years of headache (``chronicity``) × 52, capped at the
  contract's 5200. The contract derives a ``chronicity`` category from it, which is
  "chronic" for every patient of this trial (at least one year of headache): use the
  extra column ``chronicity_years`` as the covariate, not ``chronicity``.
- Extra patient columns ``migraine`` (0/1, the diagnosis) and ``chronicity_years``
  (the source's years of headache) are carried so a protocol can adjust for them.
- ``age`` of 90 or more would be written as ``90+`` (the contract's top-coding); the
  trial's ages are 18 to 65.
- ``site_id`` is the general practice (``practice_<n>``); ``therapist_id`` the
  acupuncturist linked to the practice (``acupuncturist_<n>``), or ``usual_care_gp`` when
  none is recorded (never the case in the published file).
- Dates: the trial publishes none. Every episode starts on the nominal date 2000-01-03;
  the baseline score is assessed that day, the 3-month score 84 days later
  (``followup_12w``) and the 12-month score 364 days later (``followup_52w``).
- Arms are declared (``acupuncture`` for group 1, ``usual_care`` for group 0), so the
  ``sessions`` table is written with its header and no rows, as the contract allows.
- The headache score is the user measure ``headache_score``; a missing score is simply
  not written (no row), which is how the contract records "not measured".
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

#: Nominal start date of every episode (the trial publishes no dates).
START = pd.Timestamp("2000-01-03")
#: Source score column → (contract timepoint, days after the start).
SCORES = {
    "pk1": ("baseline", 0),
    "pk2": ("followup_12w", 84),
    "pk5": ("followup_52w", 364),
}
MEASURE = "headache_score"
SESSION_COLUMNS = [
    "session_id",
    "episode_id",
    "session_date",
    "dn_performed",
    "manual_therapy",
    "exercise_therapy",
]


def _age(age: pd.Series) -> pd.Series:
    """Whole years as text, top-coded as ``90+`` from 90 on (the contract's rule)."""
    text = age.astype("int64").astype(str)
    return text.where(age < 90, "90+")


def convert(source: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The contract's four tables from the trial's one-row-per-patient frame."""
    ids = source["id"].astype("int64").astype(str)
    patient_id = "P" + ids
    episode_id = "E" + ids
    patients = pd.DataFrame(
        {
            "patient_id": patient_id,
            "site_id": "practice_" + source["practice_id"].astype("int64").astype(str),
            "sex": source["sex"].map({1: "female", 0: "male"}),
            "age": _age(source["age"]),
            "condition": "other",
            "symptom_weeks": (source["chronicity"] * 52).clip(upper=5200),
            "migraine": source["migraine"].astype("int64"),
            "chronicity_years": source["chronicity"],
        }
    )
    if patients["sex"].isna().any():
        raise ValueError("sex: expected 1 (female) or 0 (male) in every row")
    therapist = "acupuncturist_" + source["acupuncturist"].astype("Int64").astype(str)
    episodes = pd.DataFrame(
        {
            "episode_id": episode_id,
            "patient_id": patient_id,
            "therapist_id": therapist.where(source["acupuncturist"].notna(), "usual_care_gp"),
            "start_date": START.strftime("%Y-%m-%d"),
            "arm": source["group"].map({1: "acupuncture", 0: "usual_care"}),
        }
    )
    if episodes["arm"].isna().any():
        raise ValueError("group: expected 1 (acupuncture) or 0 (usual care) in every row")
    long = source.assign(episode_id=episode_id).melt(
        id_vars="episode_id", value_vars=list(SCORES), var_name="column", value_name="value"
    )
    long = long.dropna(subset=["value"])
    timepoint = long["column"].map({k: v[0] for k, v in SCORES.items()})
    days = long["column"].map({k: v[1] for k, v in SCORES.items()})
    outcomes = pd.DataFrame(
        {
            "episode_id": long["episode_id"],
            "assessed_on": (START + pd.to_timedelta(days, unit="D")).dt.strftime("%Y-%m-%d"),
            "timepoint": timepoint,
            "measure": MEASURE,
            "value": long["value"],
        }
    ).sort_values(["episode_id", "assessed_on"], kind="stable")
    sessions = pd.DataFrame(columns=SESSION_COLUMNS)
    return {
        "patients": patients,
        "episodes": episodes,
        "sessions": sessions,
        "outcomes": outcomes,
    }


def main(argv: list[str]) -> int:
    """Read ``SRC.csv``, write the four tables into ``OUT_DIR``."""
    if len(argv) != 2:
        print("usage: python convert.py SRC.csv OUT_DIR", file=sys.stderr)
        return 2
    source = pd.read_csv(argv[0])
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in convert(source).items():
        frame.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
