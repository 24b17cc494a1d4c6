"""Test-side exporters: a loaded Dataset → the files a REDCap project or a FHIR server gives.

They play the clinic's side of the round trip (``data/sample`` → REDCap / FHIR shape →
``dnoutcomes import`` → ``validate`` → the same analysis). Nothing here is package code;
the shapes follow REDCap's CSV exports and FHIR R4, and the mapping files written beside
them are the ones a clinic would write for such a project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.contract.specs import (
    AE_TYPES,
    CONDITIONS,
    CONTRAINDICATIONS,
    DISCHARGE_REASONS,
    MODALITIES,
    MUSCLES,
    REPORTERS,
    SEVERITIES,
    SEX,
)
from dnoutcomes.dataset import Dataset

MEASURES = (
    "nprs", "odi", "rmdq", "lumbar_flexion_deg", "lumbar_extension_deg", "schober_cm",
    "ppt_kg_cm2", "pgic", "analgesic_use", "opioid_use", "analgesic_doses_week",
    "opioid_mme_day",
)  # fmt: skip
TIMEPOINT_EVENTS = {
    "baseline": "baseline_arm_1",
    "session": "treatment_arm_1",
    "discharge": "discharge_arm_1",
    "followup_4w": "week_4_arm_1",
    "followup_12w": "week_12_arm_1",
    "followup_26w": "week_26_arm_1",
    "followup_52w": "week_52_arm_1",
}
EVENT_LABELS = {
    "enrolment_arm_1": "Enrolment (Arm 1: Arm 1)",
    "baseline_arm_1": "Baseline (Arm 1: Arm 1)",
    "treatment_arm_1": "Treatment (Arm 1: Arm 1)",
    "discharge_arm_1": "Discharge (Arm 1: Arm 1)",
    "week_4_arm_1": "Week 4 (Arm 1: Arm 1)",
    "week_12_arm_1": "Week 12 (Arm 1: Arm 1)",
    "week_26_arm_1": "Week 26 (Arm 1: Arm 1)",
    "week_52_arm_1": "Week 52 (Arm 1: Arm 1)",
}
ARMS = ("dn_only", "dn_manual_exercise", "manual_exercise", "other")


def _num(values: pd.Series) -> pd.Series:
    """Numbers as an export writes them: 4 for 4.0, repr otherwise, empty when missing."""
    x = pd.to_numeric(values, errors="coerce").astype("float64")
    return x.map(lambda v: "" if np.isnan(v) else (str(int(v)) if v.is_integer() else repr(v)))


def _date(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d").fillna("")


def _bool(values: pd.Series) -> pd.Series:
    """yes/no fields: 1/0, empty when not recorded."""
    return values.astype("boolean").map({True: "1", False: "0"}).astype(object).fillna("")


def _codes(levels: tuple[str, ...]) -> dict[str, str]:
    return {level: str(i + 1) for i, level in enumerate(levels)}


def _choices(levels: tuple[str, ...]) -> str:
    return " | ".join(
        f"{i + 1}, {level.replace('_', ' ').capitalize()}" for i, level in enumerate(levels)
    )


def _coded(values: pd.Series, levels: tuple[str, ...]) -> pd.Series:
    return values.astype(object).map(_codes(levels)).fillna("")


def _checkboxes(field: str, lists: pd.Series, levels: tuple[str, ...]) -> dict[str, pd.Series]:
    return {
        f"{field}___{i + 1}": lists.map(lambda t, lv=level: "1" if lv in t else "0")
        for i, level in enumerate(levels)
    }


# ----------------------------------------------------------------------------- REDCap


def redcap_dictionary(sites: list[str]) -> pd.DataFrame:
    """The project's data dictionary (web download headers)."""
    rows: list[tuple[str, str, str, str, str, str]] = [
        ("record_id", "demographics", "text", "Record ID", "", ""),
        ("patient_name", "demographics", "text", "Patient name", "", "y"),
        ("dob", "demographics", "text", "Date of birth", "", "y"),
        ("site", "demographics", "dropdown", "Site", _choices(tuple(sites)), ""),
        ("sex", "demographics", "radio", "Sex", _choices(SEX), ""),
        ("age", "demographics", "text", "Age (years, 90+ top-coded)", "", ""),
        ("condition", "demographics", "dropdown", "Condition", _choices(CONDITIONS), ""),
        ("symptom_weeks", "demographics", "text", "Symptom duration (weeks)", "", ""),
        (
            "contra",
            "demographics",
            "checkbox",
            "Contraindications",
            _choices(CONTRAINDICATIONS),
            "",
        ),
        ("intro_note", "demographics", "descriptive", "Please fill in every field.", "", ""),
        ("ep_code", "episode", "text", "Episode code", "", ""),
        ("ep_therapist", "episode", "text", "Therapist", "", ""),
        ("ep_start", "episode", "text", "Start date", "", ""),
        ("ep_end", "episode", "text", "End date", "", ""),
        ("ep_arm", "episode", "dropdown", "Treatment arm", _choices(ARMS), ""),
        (
            "ep_discharge",
            "episode",
            "dropdown",
            "Discharge reason",
            _choices(DISCHARGE_REASONS),
            "",
        ),
        ("ses_code", "session", "text", "Session code", "", ""),
        ("ses_episode", "session", "text", "Episode of the session", "", ""),
        ("ses_date", "session", "text", "Session date", "", ""),
        ("ses_dn", "session", "yesno", "Dry needling", "", ""),
        ("ses_needles", "session", "text", "Needles", "", ""),
        ("ses_depth", "session", "text", "Maximum depth (mm)", "", ""),
        ("ses_muscles", "session", "checkbox", "Muscles needled", _choices(MUSCLES), ""),
        ("ses_twitch", "session", "yesno", "Twitch response", "", ""),
        ("ses_estim", "session", "yesno", "Electrical stimulation", "", ""),
        ("ses_manual", "session", "yesno", "Manual therapy", "", ""),
        ("ses_exercise", "session", "yesno", "Exercise therapy", "", ""),
        ("ses_postural", "session", "truefalse", "Postural correction", "", ""),
        ("ses_education", "session", "yesno", "Pain education", "", ""),
        ("ses_modalities", "session", "checkbox", "Modalities", _choices(MODALITIES), ""),
        ("ses_duration", "session", "text", "Duration (min)", "", ""),
        ("as_episode", "assessment", "text", "Episode assessed", "", ""),
        ("as_session", "assessment", "text", "Session of the assessment", "", ""),
        ("as_date", "assessment", "text", "Assessment date", "", ""),
        *[(f"as_{m}", "assessment", "text", f"Score {m}", "", "") for m in MEASURES],
        ("ae_code", "adverse_event", "text", "Event code", "", ""),
        ("ae_session", "adverse_event", "text", "Session of the event", "", ""),
        ("ae_type", "adverse_event", "dropdown", "Type", _choices(AE_TYPES), ""),
        ("ae_severity", "adverse_event", "radio", "Severity", _choices(SEVERITIES), ""),
        ("ae_reporter", "adverse_event", "radio", "Reported by", _choices(REPORTERS), ""),
        ("ae_resolved", "adverse_event", "text", "Days to resolution", "", ""),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "Variable / Field Name", "Form Name", "Field Type", "Field Label",
            "Choices, Calculations, OR Slider Labels", "Identifier?",
        ],
    )  # fmt: skip


def redcap_records(ds: Dataset) -> pd.DataFrame:
    """The raw records export: one row per record-event (non-repeating instruments) and per
    repeating instance, instrument by instrument (rows in the contract tables' order)."""
    p, e, s, o, a = ds.patients, ds.episodes, ds.sessions, ds.outcomes, ds.adverse_events
    # the loader's categoricals as text, as an export holds them (a fill value of "" is
    # not a category)
    s = s.astype({"episode_id": "str"})
    o = o.astype({c: "str" for c in ("episode_id", "session_id", "measure")})
    sites = sorted(p["site_id"].unique())
    n = np.arange(len(p))
    demo = pd.DataFrame(
        {
            "record_id": p["patient_id"],
            "redcap_event_name": "enrolment_arm_1",
            "redcap_repeat_instrument": "",
            "redcap_repeat_instance": "",
            "patient_name": [f"Person {i}" for i in n],  # identifiers the import must drop
            "dob": "1970-01-01",
            "site": _coded(p["site_id"], tuple(sites)),
            "sex": _coded(p["sex"], SEX),
            "age": np.where(p["age_top_coded"], "90+", _num(p["age"])),
            "condition": _coded(p["condition"], CONDITIONS),
            "symptom_weeks": _num(p["symptom_weeks"]),
            **_checkboxes("contra", p["contraindications"], CONTRAINDICATIONS),
            "demographics_complete": "2",
        }
    )

    def instance(frame: pd.DataFrame, record: pd.Series) -> pd.Series:
        return record.groupby(record).cumcount().add(1).astype(str)

    ep_patient = e["patient_id"]
    episodes = pd.DataFrame(
        {
            "record_id": ep_patient,
            "redcap_event_name": "enrolment_arm_1",
            "redcap_repeat_instrument": "episode",
            "redcap_repeat_instance": instance(e, ep_patient),
            "ep_code": e["episode_id"],
            "ep_therapist": e["therapist_id"],
            "ep_start": _date(e["start_date"]),
            "ep_end": _date(e["end_date"]),
            "ep_arm": _coded(e["arm_declared"], ARMS),
            "ep_discharge": _coded(e["discharge_reason"], DISCHARGE_REASONS),
        }
    )
    patient_of = e.set_index("episode_id")["patient_id"]
    s_patient = s["episode_id"].map(patient_of)
    sessions = pd.DataFrame(
        {
            "record_id": s_patient,
            "redcap_event_name": "treatment_arm_1",
            "redcap_repeat_instrument": "session",
            "redcap_repeat_instance": instance(s, s_patient),
            "ses_code": s["session_id"],
            "ses_episode": s["episode_id"],
            "ses_date": _date(s["session_date"]),
            "ses_dn": _bool(s["dn_performed"]),
            "ses_needles": _num(s["needles"].astype("Float64")),
            "ses_depth": _num(s["max_depth_mm"]),
            **_checkboxes("ses_muscles", s["muscles"], MUSCLES),
            "ses_twitch": _bool(s["twitch_response"]),
            "ses_estim": _bool(s["electrical_stimulation"]),
            "ses_manual": _bool(s["manual_therapy"]),
            "ses_exercise": _bool(s["exercise_therapy"]),
            "ses_postural": _bool(s["postural_correction"]),
            "ses_education": _bool(s["pain_education"]),
            **_checkboxes("ses_modalities", s["modalities"], MODALITIES),
            "ses_duration": _num(s["duration_min"]),
        }
    )
    # one assessment = one (episode, session, date, timepoint); its measures side by side
    keys = ["episode_id", "session_id", "assessed_on", "timepoint"]
    o = o.assign(
        # a categorical as loaded: to text before a fill value that is not a category
        session_id=o["session_id"].fillna(""),
        timepoint=o["timepoint"].astype(str),
        _order=np.arange(len(o)),
    )
    first = o.groupby(keys, sort=False)["_order"].transform("min")
    wide = (
        o.assign(_first=first)
        .pivot_table(index=["_first", *keys], columns="measure", values="value", aggfunc="first")
        .reset_index()
        .sort_values("_first")
    )
    a_patient = wide["episode_id"].map(patient_of)
    event = wide["timepoint"].map(TIMEPOINT_EVENTS)
    assessments = pd.DataFrame(
        {
            "record_id": a_patient,
            "redcap_event_name": event,
            "redcap_repeat_instrument": "assessment",
            "redcap_repeat_instance": a_patient.groupby([a_patient, event])
            .cumcount()
            .add(1)
            .astype(str),
            "as_episode": wide["episode_id"],
            "as_session": wide["session_id"],
            "as_date": _date(wide["assessed_on"]),
            **{f"as_{m}": _num(wide[m]) if m in wide else "" for m in MEASURES},
        }
    )
    ae_patient = a["session_id"].map(s.set_index("session_id")["episode_id"]).map(patient_of)
    events = pd.DataFrame(
        {
            "record_id": ae_patient,
            "redcap_event_name": "treatment_arm_1",
            "redcap_repeat_instrument": "adverse_event",
            "redcap_repeat_instance": instance(a, ae_patient),
            "ae_code": a["event_id"],
            "ae_session": a["session_id"],
            "ae_type": _coded(a["type"], AE_TYPES),
            "ae_severity": _coded(a["severity"], SEVERITIES),
            "ae_reporter": _coded(a["reporter"], REPORTERS),
            "ae_resolved": _num(a["resolved_days"]),
        }
    )
    out = pd.concat([demo, episodes, sessions, assessments, events], ignore_index=True)
    return out.fillna("").astype(str)


def redcap_labels(records: pd.DataFrame, dictionary: pd.DataFrame) -> pd.DataFrame:
    """The same records as REDCap's label export: label values and label headers."""
    fields = dictionary.set_index("Variable / Field Name")
    out = records.copy()
    headers: dict[str, str] = {
        "redcap_event_name": "Event Name",
        "redcap_repeat_instrument": "Repeat Instrument",
        "redcap_repeat_instance": "Repeat Instance",
        "demographics_complete": "Complete?",
    }
    out["redcap_event_name"] = out["redcap_event_name"].map(EVENT_LABELS)
    out["redcap_repeat_instrument"] = out["redcap_repeat_instrument"].map(
        lambda v: v.replace("_", " ").title()
    )
    for col in records.columns:
        base, _, code = col.partition("___")
        if base not in fields.index:
            continue
        kind = fields.at[base, "Field Type"]
        label = fields.at[base, "Field Label"]
        choices = {
            c.strip(): lab.strip()
            for c, _, lab in (
                part.partition(",")
                for part in str(fields.at[base, "Choices, Calculations, OR Slider Labels"]).split(
                    "|"
                )
            )
        }
        if kind == "checkbox":
            out[col] = out[col].map({"1": "Checked", "0": "Unchecked", "": ""})
            headers[col] = f"{label} (choice={choices[code]})"
            continue
        headers[col] = label
        if kind in ("radio", "dropdown"):
            out[col] = out[col].map(lambda v, ch=choices: ch.get(v, v))
        elif kind == "yesno":
            out[col] = out[col].map({"1": "Yes", "0": "No", "": ""})
        elif kind == "truefalse":
            out[col] = out[col].map({"1": "True", "0": "False", "": ""})
    return out.rename(columns=headers)


REDCAP_MAPPING = (
    """
[redcap]
record_id = "record_id"

[patients]
instrument = "demographics"
events = ["enrolment_arm_1"]
[patients.columns]
patient_id = "record_id"
site_id = "site"
sex = "sex"
age = "age"
condition = "condition"
symptom_weeks = "symptom_weeks"
contraindications = "contra"
name = "patient_name"

[episodes]
instrument = "episode"
[episodes.columns]
episode_id = "ep_code"
patient_id = "record_id"
therapist_id = "ep_therapist"
start_date = "ep_start"
end_date = "ep_end"
arm = "ep_arm"
discharge_reason = "ep_discharge"

[sessions]
instrument = "session"
[sessions.columns]
session_id = "ses_code"
episode_id = "ses_episode"
session_date = "ses_date"
dn_performed = "ses_dn"
needles = "ses_needles"
max_depth_mm = "ses_depth"
muscles = "ses_muscles"
twitch_response = "ses_twitch"
electrical_stimulation = "ses_estim"
manual_therapy = "ses_manual"
exercise_therapy = "ses_exercise"
postural_correction = "ses_postural"
pain_education = "ses_education"
modalities = "ses_modalities"
duration_min = "ses_duration"

[outcomes]
instrument = "assessment"
[outcomes.columns]
episode_id = "as_episode"
session_id = "as_session"
assessed_on = "as_date"
timepoint = "redcap_event_name"
[outcomes.values.timepoint]
"""
    + "\n".join(f'{ev} = "{tp}"' for tp, ev in TIMEPOINT_EVENTS.items())
    + """
[outcomes.measures]
"""
    + "\n".join(f'{m} = "as_{m}"' for m in MEASURES)
    + """

[adverse_events]
instrument = "adverse_event"
[adverse_events.columns]
event_id = "ae_code"
session_id = "ae_session"
type = "ae_type"
severity = "ae_severity"
reporter = "ae_reporter"
resolved_days = "ae_resolved"
"""
)


def write_redcap(ds: Dataset, folder: Path, *, labels: bool = False) -> dict[str, Path]:
    """Write ``dictionary.csv``, ``records.csv`` (raw, or label when ``labels``) and
    ``mapping.toml`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    dictionary = redcap_dictionary(sorted(ds.patients["site_id"].unique()))
    records = redcap_records(ds)
    if labels:
        records = redcap_labels(records, dictionary)
    paths = {
        "dictionary": folder / "dictionary.csv",
        "records": folder / "records.csv",
        "mapping": folder / "mapping.toml",
    }
    dictionary.to_csv(paths["dictionary"], index=False)
    records.to_csv(paths["records"], index=False)
    paths["mapping"].write_text(REDCAP_MAPPING, encoding="utf-8")
    return paths


# ----------------------------------------------------------------------------- FHIR

EX = "https://example.org/fhir"
LOINC = "http://loinc.org"
OBSERVATION_CODES = {"nprs": f"{LOINC}|72514-3", "odi": f"{LOINC}|97909-6"}
#: Measures sent as QuestionnaireResponse items (linkId = measure name).
QUESTIONNAIRE_MEASURES = tuple(m for m in MEASURES if m not in OBSERVATION_CODES)
PROCEDURE_FLAGS = (
    "dn_performed", "manual_therapy", "exercise_therapy", "postural_correction",
    "pain_education", "electrical_stimulation",
)  # fmt: skip


def _ref(kind: str, rid: str) -> dict[str, str]:
    return {"reference": f"{kind}/{rid}"}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _ext(name: str, key: str, value: Any) -> dict[str, Any]:
    return {"url": f"{EX}/StructureDefinition/{name}", key: value}


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if (not isinstance(v, tuple) and pd.isna(v)) else v) for k, v in r.items()}
        for r in frame.astype(object).to_dict("records")
    ]


def fhir_bundle(ds: Dataset) -> dict[str, Any]:
    """A searchset Bundle of the dataset (names, MRNs and addresses included, as an EHR
    would send them: the import must drop them)."""
    p, e, s, o, a = ds.patients, ds.episodes, ds.sessions, ds.outcomes, ds.adverse_events
    res: list[dict[str, Any]] = []
    for site in sorted(p["site_id"].unique()):
        res.append({"resourceType": "Organization", "id": f"org-{site}", "name": site})
    for t in sorted(e["therapist_id"].unique()):
        res.append({"resourceType": "Practitioner", "id": t, "name": [{"family": "Smith"}]})
    first = e.groupby("patient_id")["start_date"].min()
    for i, r in enumerate(_rows(p)):
        year = first[r["patient_id"]].year - (90 if r["age_top_coded"] else int(r["age"]))
        pid = r["patient_id"]
        res.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "identifier": [
                    {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN{100000 + i}"}
                ],
                "name": [{"family": "Doe", "given": ["Jane"]}],
                "telecom": [{"system": "phone", "value": "555-123-4567"}],
                "address": [{"line": ["1 Main St"], "city": "Springfield"}],
                "gender": r["sex"],
                "birthDate": f"{year:04d}",
                "managingOrganization": _ref("Organization", f"org-{r['site_id']}"),
            }
        )
        onset = first[pid] - pd.Timedelta(days=int(round(r["symptom_weeks"] * 7)))
        res.append(
            {
                "resourceType": "Condition",
                "id": f"cond-{pid}",
                "subject": _ref("Patient", pid),
                "code": _coding(f"{EX}/CodeSystem/lbp-condition", r["condition"]),
                "onsetDateTime": onset.strftime("%Y-%m-%d"),
            }
        )
        for c in r["contraindications"]:
            res.append(
                {
                    "resourceType": "Condition",
                    "id": f"ci-{pid}-{c}",
                    "subject": _ref("Patient", pid),
                    "code": _coding(f"{EX}/CodeSystem/contraindication", c),
                }
            )
    for r in _rows(e):
        types = []
        if r["arm_declared"] is not None:
            types.append({"system": f"{EX}/CodeSystem/arm", "code": r["arm_declared"]})
        if r["discharge_reason"] is not None:
            types.append({"system": f"{EX}/CodeSystem/discharge", "code": r["discharge_reason"]})
        period = {"start": r["start_date"].strftime("%Y-%m-%d")}
        if r["end_date"] is not None:
            period["end"] = r["end_date"].strftime("%Y-%m-%d")
        res.append(
            {
                "resourceType": "EpisodeOfCare",
                "id": r["episode_id"],
                "status": "finished",
                "patient": _ref("Patient", r["patient_id"]),
                "careManager": _ref("Practitioner", r["therapist_id"]),
                "type": [{"coding": types}],
                "period": period,
            }
        )
    for r in _rows(s):
        sid = r["session_id"]
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": sid,
            "status": "finished",
            "episodeOfCare": [_ref("EpisodeOfCare", r["episode_id"])],
            "period": {"start": r["session_date"].strftime("%Y-%m-%d")},
        }
        if r["duration_min"] is not None:
            enc["length"] = {
                "value": r["duration_min"],
                "unit": "min",
                "system": "http://unitsofmeasure.org",
                "code": "min",
            }
        res.append(enc)
        for flag in PROCEDURE_FLAGS:
            if r[flag] is None:
                continue
            proc: dict[str, Any] = {
                "resourceType": "Procedure",
                "id": f"{sid}-{flag}",
                "status": "completed" if r[flag] else "not-done",
                "code": _coding(f"{EX}/CodeSystem/procedure", flag),
                "encounter": _ref("Encounter", sid),
            }
            if flag == "dn_performed":
                ext = []
                if r["needles"] is not None:
                    ext.append(_ext("needles", "valueInteger", int(r["needles"])))
                if r["max_depth_mm"] is not None:
                    ext.append(_ext("max-depth-mm", "valueDecimal", r["max_depth_mm"]))
                if r["twitch_response"] is not None:
                    ext.append(_ext("twitch", "valueBoolean", bool(r["twitch_response"])))
                proc["extension"] = ext
                proc["bodySite"] = [_coding(f"{EX}/CodeSystem/muscle", m) for m in r["muscles"]]
            res.append(proc)
        for m in r["modalities"]:
            res.append(
                {
                    "resourceType": "Procedure",
                    "id": f"{sid}-{m}",
                    "status": "completed",
                    "code": _coding(f"{EX}/CodeSystem/modality", m),
                    "encounter": _ref("Encounter", sid),
                }
            )
    ep_patient = e.set_index("episode_id")["patient_id"]
    keys = ["episode_id", "session_id", "assessed_on", "timepoint"]
    o = o.assign(
        session_id=o["session_id"].astype(object).where(o["session_id"].notna()),
        timepoint=o["timepoint"].astype(str),
    )
    qr_rows = o[o["measure"].isin(QUESTIONNAIRE_MEASURES)]
    for i, r in enumerate(_rows(o[o["measure"].isin(list(OBSERVATION_CODES))])):
        system, code = OBSERVATION_CODES[r["measure"]].split("|")
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": f"obs-{i}",
            "status": "final",
            "extension": [_ext("timepoint", "valueCode", r["timepoint"])],
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": _ref("Patient", ep_patient[r["episode_id"]]),
            "effectiveDateTime": r["assessed_on"].strftime("%Y-%m-%d"),
            "valueQuantity": {"value": r["value"]},
        }
        if r["session_id"] is not None:
            obs["encounter"] = _ref("Encounter", r["session_id"])
        res.append(obs)
    grouped = qr_rows.groupby(keys, sort=False, dropna=False)
    for i, (key, group) in enumerate(grouped):
        episode, session, when, tp = key
        qr: dict[str, Any] = {
            "resourceType": "QuestionnaireResponse",
            "id": f"qr-{i}",
            "status": "completed",
            "extension": [_ext("timepoint", "valueCode", tp)],
            "subject": _ref("Patient", ep_patient[episode]),
            "authored": when.strftime("%Y-%m-%d"),
            "item": [
                {"linkId": m, "answer": [{"valueDecimal": v}]}
                for m, v in zip(group["measure"], group["value"], strict=True)
            ],
        }
        if isinstance(session, str):
            qr["encounter"] = _ref("Encounter", session)
        res.append(qr)
    severity = {"mild": "mild", "significant": "moderate", "serious": "severe"}
    s_patient = s.set_index("session_id")["episode_id"].map(ep_patient)
    for r in _rows(a):
        ae: dict[str, Any] = {
            "resourceType": "AdverseEvent",
            "id": r["event_id"],
            "actuality": "actual",
            "subject": _ref("Patient", s_patient[r["session_id"]]),
            "encounter": _ref("Encounter", r["session_id"]),
            "event": _coding(f"{EX}/CodeSystem/ae-type", r["type"]),
            "severity": _coding(
                "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                severity[r["severity"]],
            ),
        }
        if r["reporter"] == "patient":
            ae["recorder"] = _ref("Patient", s_patient[r["session_id"]])
        elif r["reporter"] == "clinician":
            ae["recorder"] = _ref("Practitioner", e["therapist_id"].iloc[0])
        if r["resolved_days"] is not None:
            ae["extension"] = [_ext("resolved-days", "valueDecimal", r["resolved_days"])]
        res.append(ae)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": f"{EX}/{x['resourceType']}/{x['id']}", "resource": x} for x in res],
    }


def fhir_mapping(sites: list[str]) -> str:
    """The mapping a clinic would write for :func:`fhir_bundle`."""
    lines = ["[patients.sites]"]
    lines += [f'"Organization/org-{s}" = "{s}"' for s in sites]
    lines += ["[patients.conditions]"]
    lines += [f'"{EX}/CodeSystem/lbp-condition|{c}" = "{c}"' for c in CONDITIONS]
    lines += ["[patients.contraindications]"]
    lines += [f'"{EX}/CodeSystem/contraindication|{c}" = "{c}"' for c in CONTRAINDICATIONS]
    lines += [
        "[episodes]",
        f'arm_system = "{EX}/CodeSystem/arm"',
        f'discharge_system = "{EX}/CodeSystem/discharge"',
        "[sessions.procedures]",
        *[f'"{EX}/CodeSystem/procedure|{f}" = "{f}"' for f in PROCEDURE_FLAGS],
        "[sessions.modalities]",
        *[f'"{EX}/CodeSystem/modality|{m}" = "{m}"' for m in MODALITIES],
        "[sessions.muscles]",
        *[f'"{EX}/CodeSystem/muscle|{m}" = "{m}"' for m in MUSCLES],
        "[sessions.extensions]",
        f'"{EX}/StructureDefinition/needles" = "needles"',
        f'"{EX}/StructureDefinition/max-depth-mm" = "max_depth_mm"',
        f'"{EX}/StructureDefinition/twitch" = "twitch_response"',
        "[outcomes]",
        f'timepoint_extension = "{EX}/StructureDefinition/timepoint"',
        "[outcomes.observations]",
        *[f'"{code}" = "{m}"' for m, code in OBSERVATION_CODES.items()],
        "[outcomes.questionnaire_items]",
        *[f'{m} = "{m}"' for m in QUESTIONNAIRE_MEASURES],
        "[adverse_events]",
        f'resolved_extension = "{EX}/StructureDefinition/resolved-days"',
        "[adverse_events.types]",
        *[f'"{EX}/CodeSystem/ae-type|{t}" = "{t}"' for t in AE_TYPES],
    ]
    return "\n".join(lines) + "\n"


def write_fhir(ds: Dataset, folder: Path) -> dict[str, Path]:
    """Write ``bundle.json`` and ``mapping.toml`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"bundle": folder / "bundle.json", "mapping": folder / "mapping.toml"}
    paths["bundle"].write_text(json.dumps(fhir_bundle(ds)), encoding="utf-8")
    paths["mapping"].write_text(
        fhir_mapping(sorted(ds.patients["site_id"].unique())), encoding="utf-8"
    )
    return paths
