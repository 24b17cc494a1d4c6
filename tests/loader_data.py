"""A small valid export, built in code, and writers for every input format.

Used by the loader's tests (test_io, test_validate, test_cli_validate…): each test copies
``small_export()``, breaks one thing, writes it with ``write_export`` and loads it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import pandas as pd

Format = Literal["csv", "semicolon_bom", "csv_gz", "parquet", "xlsx"]

PATIENTS = """patient_id,site_id,sex,age,condition,symptom_weeks,contraindications
P1,north,female,45,sciatica,8,
P2,north,male,90+,disc_herniation,20,anticoagulants
P3,south,other,30,postural,2.5,
"""
EPISODES = """episode_id,patient_id,therapist_id,start_date,end_date,arm,discharge_reason
E1,P1,T1,2025-01-06,2025-02-20,dn_only,goals_met
E2,P2,T1,2025-01-10,,,
E3,P3,T2,2025-02-01,2025-03-15,dn_manual_exercise,plateau
E4,P1,T2,2025-04-01,2025-05-01,,other
"""
SESSIONS = (
    "session_id,episode_id,session_date,dn_performed,needles,max_depth_mm,muscles,"
    "twitch_response,electrical_stimulation,manual_therapy,exercise_therapy,"
    "postural_correction,pain_education,modalities,duration_min\n"
    "S1,E1,2025-01-06,true,4,40,piriformis;gluteus_medius,true,false,false,false,,,heat,45\n"
    "S2,E1,2025-01-13,TRUE,3,35.5,piriformis,false,,no,n,,,,45\n"
    "S3,E2,2025-01-10,false,,,,,,yes,yes,true,true,,30\n"
    "S4,E2,2025-01-17,0,0,,,,,1,1,,,ice;tens,30\n"
    "S5,E3,2025-02-01,true,5,50,lumbar_multifidus,t,f,true,true,,,,60\n"
    "S6,E3,2025-02-08,true,2,30,erector_spinae,,,true,false,,,,60\n"
    "S7,E4,2025-04-01,true,2,20,other,,,false,false,,,,30\n"
    "S8,E4,2025-04-10,false,,,,,,true,false,,,,30\n"
)
OUTCOMES = """episode_id,session_id,assessed_on,timepoint,measure,value
E1,S1,2025-01-06,baseline,nprs,7
E1,S1,2025-01-06,baseline,odi,40
E1,S2,2025-01-13,session,nprs,5
E1,,2025-02-20,discharge,nprs,2
E1,,2025-02-20,discharge,odi,18.5
E1,,2025-03-06,followup_4w,nprs,2
E2,S3,2025-01-10,baseline,nprs,6
E2,S3,2025-01-10,baseline,odi,36
E2,S4,2025-01-17,session,nprs,5
E3,S5,2025-02-01,baseline,nprs,8
E3,S5,2025-02-01,baseline,odi,52
E3,,2025-03-15,discharge,nprs,3
E3,,2025-03-15,discharge,odi,22
E4,S7,2025-04-01,baseline,nprs,4
"""
ADVERSE_EVENTS = """event_id,session_id,type,severity,reporter,resolved_days
AE1,S1,soreness,mild,patient,2
AE2,S5,bruising,significant,clinician,
AE3,S7,soreness,mild,,1
"""

TEXT = {
    "patients": PATIENTS,
    "episodes": EPISODES,
    "sessions": SESSIONS,
    "outcomes": OUTCOMES,
    "adverse_events": ADVERSE_EVENTS,
}
COUNTS = {"patients": 3, "episodes": 4, "sessions": 8, "outcomes": 14, "adverse_events": 3}


def small_export() -> dict[str, pd.DataFrame]:
    """The valid export as text frames (every cell a str, "" for an empty cell)."""
    return {
        name: pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False)
        for name, text in TEXT.items()
    }


def to_wide(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Long outcomes → wide (one column per measure), keeping rows with the same keys."""
    keys = ["episode_id", "session_id", "assessed_on", "timepoint"]
    wide = outcomes.pivot_table(
        index=keys, columns="measure", values="value", aggfunc="first", sort=False
    ).reset_index()
    wide.columns.name = None
    return wide.fillna("").astype(str)


def write_export(
    tables: dict[str, pd.DataFrame],
    dest: Path,
    fmt: Format = "csv",
    *,
    wide: bool = False,
) -> Path:
    """Write text frames as an export; return the folder or workbook path."""
    frames = dict(tables)
    if wide:
        frames["outcomes"] = to_wide(frames["outcomes"])
    if fmt == "xlsx":
        path = dest / "export.xlsx" if dest.suffix != ".xlsx" else dest
        path.parent.mkdir(parents=True, exist_ok=True)
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for name, frame in frames.items():
                frame.to_excel(writer, sheet_name=name, index=False)
        return path
    dest.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(dest / f"{name}.csv", index=False)
        elif fmt == "csv_gz":
            frame.to_csv(dest / f"{name}.csv.gz", index=False, compression="gzip")
        elif fmt == "semicolon_bom":
            frame.to_csv(dest / f"{name}.csv", index=False, sep=";", encoding="utf-8-sig")
        elif fmt == "parquet":
            frame.replace("", None).to_parquet(dest / f"{name}.parquet", index=False)
    return dest
