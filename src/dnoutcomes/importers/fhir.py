"""Import a FHIR R4 Bundle into the data contract.

Resources read (anything else is counted and reported as not used):

* ``Patient`` — ``gender`` and the *year* of ``birthDate`` only (age at the patient's first
  episode start, top-coded ``90+``), and ``managingOrganization`` (the site);
* ``Condition`` — the low-back-pain condition and its ``onsetDateTime`` (symptom weeks at
  the first episode start), and contraindications, by code;
* ``EpisodeOfCare`` — the episode: ``period``, ``careManager`` (therapist), ``type``
  codings for the arm and the discharge reason;
* ``Encounter`` (sessions) and ``Procedure`` (what was done at one, by code; ``not-done``
  means no), optional;
* ``Observation`` (code → measure; ``valueQuantity``/``valueInteger``…) and
  ``QuestionnaireResponse`` (item ``linkId`` → measure) — the outcomes;
* ``AdverseEvent`` — adverse events after a session.

Every id is replaced by a keyed-hash pseudonym (:mod:`dnoutcomes.importers._ids`), kept
consistent across references within the run; names, identifiers, telecom, addresses and
full birth dates are never read. See ``docs/imports.md`` for the mapping file and the
timepoint rule.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.importers._fhir_outcomes import outcome_rows
from dnoutcomes.importers._fhir_read import (
    MALFORMED,
    Bundle,
    code_of,
    date_of,
    read_bundle,
    system_code,
)
from dnoutcomes.importers._fhir_sessions import BOOL_REQUIRED, adverse_events, num_text, sessions
from dnoutcomes.importers._ids import Pseudonyms, read_salt
from dnoutcomes.importers._mapping import as_table, check_keys, load_mapping, string_map
from dnoutcomes.importers._result import ImportResult, Issues, contract_frame

__all__ = ["import_fhir"]

_SECTIONS = {
    "patients": ("sites", "conditions", "contraindications"),
    "episodes": ("arm_system", "discharge_system", "arms", "discharge_reasons"),
    "sessions": ("procedures", "modalities", "muscles", "extensions"),
    "outcomes": (
        "observations", "questionnaire_items", "timepoint_extension", "timepoints", "timing",
    ),
    "adverse_events": ("types", "severity", "resolved_extension"),
}  # fmt: skip
_SEX = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}
_SKIP_STATUS = frozenset({"entered-in-error", "cancelled"})


class _Run:
    """The bundle, the mapping and the report of one import."""

    def __init__(self, bundle: Bundle, doc: dict[str, Any], salt: bytes) -> None:
        self.b = bundle
        self.issues = Issues()
        self.problems = False
        self.ids = Pseudonyms(salt)
        self.used: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.m: dict[str, dict[str, Any]] = {}
        for section, keys in _SECTIONS.items():
            table = as_table(section, doc.get(section))
            check_keys(section, table, keys)
            self.m[section] = table

    def map(self, section: str, key: str) -> dict[str, str]:
        return string_map(f"{section}.{key}", self.m[section].get(key))

    def text(self, section: str, key: str) -> str | None:
        value = self.m[section].get(key)
        if value is not None and not isinstance(value, str):
            raise RequestError(
                f"mapping [{section}]: {key} must be text (a URL or system); got "
                f'{type(value).__name__}. Write {key} = "…".'
            )
        return value

    def problem(self, kind: str, table: str, source: str, count: int, message: str) -> None:
        self.issues.add(kind, table, source, count, message)
        self.problems = self.problems or count > 0

    def pseudo(self, keys: pd.Series, prefix: str) -> pd.Series:
        return self.ids.of("fhir", keys, prefix).where(keys.notna(), "")

    def live(self, kind: str) -> list[dict[str, Any]]:
        out = [
            r
            for r in self.b.of(kind)
            if r.get("id")
            and not (isinstance(r.get("status"), str) and r["status"] in _SKIP_STATUS)
        ]
        self.problem(
            "skipped_rows",
            "",
            kind,
            len(self.b.of(kind)) - len(out),
            f"{len(self.b.of(kind)) - len(out)} {kind} resource(s) without an id or "
            "entered-in-error / cancelled; skipped",
        )
        return out


def _episodes(run: _Run) -> pd.DataFrame:
    arm_sys, dis_sys = run.text("episodes", "arm_system"), run.text("episodes", "discharge_system")
    arms, reasons = run.map("episodes", "arms"), run.map("episodes", "discharge_reasons")
    rows = []
    for r in run.live("EpisodeOfCare"):
        try:
            period = r.get("period") or {}
            arm = system_code(r.get("type"), arm_sys) if arm_sys else None
            reason = system_code(r.get("type"), dis_sys) if dis_sys else None
            rows.append(
                {
                    "key": f"EpisodeOfCare/{r['id']}",
                    "patient": run.b.resolve(r.get("patient")),
                    "manager": run.b.resolve(r.get("careManager")),
                    "org": run.b.resolve(r.get("managingOrganization")),
                    "start_date": date_of(period.get("start")),
                    "end_date": date_of(period.get("end")),
                    "arm": arms.get(arm, arm) if arm else None,
                    "discharge_reason": reasons.get(reason, reason) if reason else None,
                }
            )
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["EpisodeOfCare"] += 1
    cols = ["key", "patient", "manager", "org", "start_date", "end_date", "arm",
            "discharge_reason"]  # fmt: skip
    e = pd.DataFrame(rows, columns=cols)
    bad = e["patient"].isna() | e["start_date"].isna()
    run.problem(
        "skipped_rows",
        "episodes",
        "EpisodeOfCare",
        int(bad.sum()),
        f"{int(bad.sum())} EpisodeOfCare resource(s) without a patient in the bundle or "
        "without period.start; skipped",
    )
    return e[~bad].reset_index(drop=True)


def _patients(run: _Run, e: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    sites = run.map("patients", "sites")
    conditions, contra = run.map("patients", "conditions"), run.map("patients", "contraindications")
    rows = []
    for r in run.live("Patient"):
        try:
            birth = r.get("birthDate")
            year = int(birth[:4]) if isinstance(birth, str) and birth[:4].isdigit() else None
            rows.append(
                {
                    "key": f"Patient/{r['id']}",
                    "gender": r.get("gender"),
                    "birth_year": year,
                    "org": run.b.resolve(r.get("managingOrganization")),
                }
            )
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["Patient"] += 1
    p = pd.DataFrame(rows, columns=["key", "gender", "birth_year", "org"])
    first = e.groupby("patient", sort=False)["start_date"].min()
    start = pd.to_datetime(p["key"].map(first))
    org = p["org"].fillna(p["key"].map(e.drop_duplicates("patient").set_index("patient")["org"]))
    site = org.map(lambda k: sites.get(k) if isinstance(k, str) else None)
    run.used["Organization"] += int(org.dropna().nunique())
    site = site.where(site.notna(), run.pseudo(org.where(org.notna()), "site_")).fillna("")
    age = start.dt.year - p["birth_year"]
    age_text = age.map(lambda a: "" if pd.isna(a) else ("90+" if a >= 90 else str(int(a))))
    # conditions: the first mapped one per patient, and every contraindication
    cond: dict[str, tuple[str, str | None]] = {}
    items: dict[str, list[str]] = {}
    unmapped: Counter[str] = Counter()
    for r in run.b.of("Condition"):
        try:
            status = code_of(r.get("verificationStatus"), {})[1] or ""
            patient = run.b.resolve(r.get("subject"))
            if patient is None or status.endswith(("|refuted", "|entered-in-error")):
                continue
            value, code = code_of(r.get("code"), conditions)
            if value is not None:
                run.used["Condition"] += 1
                cond.setdefault(patient, (value, date_of(r.get("onsetDateTime"))))
                continue
            value, code = code_of(r.get("code"), contra)
            if value is not None:
                run.used["Condition"] += 1
                items.setdefault(patient, [])
                if value not in items[patient]:
                    items[patient].append(value)
            else:
                unmapped[code or "(no code)"] += 1
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["Condition"] += 1
    for code, n in unmapped.items():
        run.issues.add(
            "unmapped_code",
            "patients",
            code,
            n,
            f"Condition code {code} is in neither [patients.conditions] nor "
            "[patients.contraindications]; not used",
        )
    condition = p["key"].map(lambda k: cond.get(k, ("", None))[0])
    onset = pd.to_datetime(p["key"].map(lambda k: cond.get(k, ("", None))[1]))
    weeks = (start - onset).dt.days / 7
    sex = p["gender"].map(_SEX)
    run.problem(
        "unmapped_value",
        "patients",
        "gender",
        int((sex.isna()).sum()),
        f"{int(sex.isna().sum())} Patient resource(s) without gender male, female, "
        "other or unknown; sex left empty",
    )
    run.used["Patient"] += len(p)
    columns = {
        "patient_id": run.pseudo(p["key"], "P"),
        "site_id": site,
        "sex": sex.fillna(""),
        "age": age_text,
        "condition": condition,
        "symptom_weeks": weeks.map(lambda w: "" if pd.isna(w) else num_text(w)),
        "contraindications": p["key"].map(lambda k: ";".join(items.get(k, []))),
    }
    return contract_frame("patients", columns), pd.Series(
        columns["patient_id"].array, index=p["key"]
    )


def import_fhir(
    bundle: str | Path,
    mapping: str | Path | dict[str, Any],
    *,
    salt_file: str | Path | None = None,
) -> ImportResult:
    """Turn a FHIR R4 Bundle into contract tables.

    Parameters
    ----------
    bundle
        The Bundle (JSON; searchset, collection or any other type).
    mapping
        The TOML mapping file, or its parsed content.
    salt_file
        A file of secret bytes keying the pseudonyms; by default a random salt is drawn
        for the run, so the same bundle gets other pseudonyms in another run.

    Returns
    -------
    ImportResult
        The tables (nothing written yet) and the report.

    Raises
    ------
    UnreadableInputError
        When the bundle cannot be read.
    RequestError
        When the mapping has an unknown section or key.
    """
    doc = mapping if isinstance(mapping, dict) else load_mapping(mapping)
    check_keys("mapping", doc, tuple(_SECTIONS))
    b = read_bundle(bundle)
    run = _Run(b, doc, read_salt(salt_file))
    run.problem(
        "skipped_rows",
        "",
        "Bundle.entry",
        b.malformed,
        f"{b.malformed} bundle entr(y/ies) without a resource; skipped",
    )
    e = _episodes(run)
    patients, patient_ids = _patients(run, e)
    known = e["patient"].isin(patient_ids.index)
    run.problem(
        "skipped_rows",
        "episodes",
        "EpisodeOfCare",
        int((~known).sum()),
        f"{int((~known).sum())} EpisodeOfCare resource(s) of a patient not in the bundle; skipped",
    )
    e = e[known].reset_index(drop=True)
    run.used["EpisodeOfCare"] += len(e)
    run.used["Practitioner"] += int(e["manager"].dropna().nunique())
    episode_ids = pd.Series(run.pseudo(e["key"], "E").array, index=e["key"])
    episodes = contract_frame(
        "episodes",
        {
            "episode_id": episode_ids.reset_index(drop=True),
            "patient_id": e["patient"].map(patient_ids),
            "therapist_id": run.pseudo(e["manager"].where(e["manager"].notna()), "T"),
            "start_date": e["start_date"],
            "end_date": e["end_date"].fillna(""),
            "arm": e["arm"].fillna(""),
            "discharge_reason": e["discharge_reason"].fillna(""),
        },
    )
    s = sessions(run, set(e["key"]))
    session_ids = pd.Series(run.pseudo(pd.Series(s.index), "S").array, index=s.index)
    tables = {"patients": patients, "episodes": episodes}
    if len(s):
        cols = {
            "session_id": session_ids.reset_index(drop=True),
            "episode_id": s["episode"].map(episode_ids).reset_index(drop=True),
            "session_date": s["date"].reset_index(drop=True),
        }
        extra = [c for c in s.columns if c not in ("episode", "date")]
        cols.update({c: s[c].fillna("").reset_index(drop=True) for c in extra})
        tables["sessions"] = contract_frame("sessions", cols)
    else:
        tables["sessions"] = contract_frame(
            "sessions",
            {
                c: pd.Series(dtype="str")
                for c in ("session_id", "episode_id", "session_date", *BOOL_REQUIRED)
            },
        )
    tables["outcomes"] = outcome_rows(run, e, episode_ids, session_ids, s)
    ae = adverse_events(run, session_ids)
    if ae is not None:
        tables["adverse_events"] = ae
    for kind, n in run.malformed.items():
        run.problem(
            "skipped_rows",
            "",
            kind,
            n,
            f"{n} {kind} resource(s) with an element of the wrong JSON type (e.g. an object "
            "where FHIR R4 has a list); skipped",
        )
    counts = {kind: len(res) for kind, res in b.by_type.items()}
    accounting = pd.DataFrame(
        {
            "source": list(counts),
            "read": list(counts.values()),
            "used": [min(run.used[k], counts[k]) for k in counts],
        }
    )
    accounting["not_used"] = accounting["read"] - accounting["used"]
    for acc in accounting[accounting["not_used"] > 0].to_dict("records"):
        run.issues.add(
            "unused_resources",
            "",
            str(acc["source"]),
            int(acc["not_used"]),
            f"{acc['not_used']} {acc['source']} resource(s) fill no contract table",
        )
    return ImportResult("fhir", tables, run.issues.frame(), accounting, run.problems)
