"""Sessions and adverse events of a FHIR import: Encounter + Procedure → ``sessions``,
AdverseEvent → ``adverse_events`` (the rules are in :mod:`dnoutcomes.importers.fhir` and
``docs/imports.md``)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pandas as pd

from dnoutcomes.importers._fhir_read import MALFORMED, code_of, date_of, extension_value
from dnoutcomes.importers._result import contract_frame

if TYPE_CHECKING:
    from dnoutcomes.importers.fhir import _Run

__all__ = ["BOOL_REQUIRED", "SEVERITY", "adverse_events", "num_text", "sessions"]

SEVERITY = {"mild": "mild", "moderate": "significant", "severe": "serious"}
BOOL_REQUIRED = ("dn_performed", "manual_therapy", "exercise_therapy")


def num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def sessions(run: _Run, episode_keys: set[str]) -> pd.DataFrame:
    procedures, modalities = run.map("sessions", "procedures"), run.map("sessions", "modalities")
    muscles, extensions = run.map("sessions", "muscles"), run.map("sessions", "extensions")
    rows: dict[str, dict[str, Any]] = {}
    for r in run.live("Encounter"):
        try:
            episodes = r.get("episodeOfCare") or []
            episode = (
                run.b.resolve(episodes[0]) if isinstance(episodes, list) and episodes else None
            )
            if episode not in episode_keys:
                continue
            length = r.get("length") or {}
            minutes = length.get("value") if isinstance(length.get("value"), int | float) else None
            if minutes is not None and (length.get("code") or length.get("unit")) in ("h", "hour"):
                minutes *= 60
            row: dict[str, Any] = {
                "episode": episode,
                "date": date_of((r.get("period") or {}).get("start")),
            }
            row["duration_min"] = num_text(minutes) if minutes is not None else None
            for url, column in extensions.items():
                row.setdefault(column, extension_value(r, url))
            rows[f"Encounter/{r['id']}"] = row
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["Encounter"] += 1
    unmapped: Counter[str] = Counter()
    for r in run.live("Procedure"):
        try:
            enc = run.b.resolve(r.get("encounter"))
            if enc not in rows:
                continue
            row = rows[enc]
            done = r.get("status") != "not-done"
            used = False
            flag, code = code_of(r.get("code"), procedures)
            if flag is not None:
                row[flag] = "true" if done else "false"
                used = True
            item, _ = code_of(r.get("code"), modalities)
            if item is not None and done:
                row.setdefault("modalities", []).append(item)
                used = True
            for site in r.get("bodySite") or []:
                muscle, _ = code_of(site, muscles)
                if muscle is not None and done:
                    row.setdefault("muscles", []).append(muscle)
            for url, col in extensions.items():
                value = extension_value(r, url)
                if value is not None:
                    row[col] = value
            if used:
                run.used["Procedure"] += 1
            else:
                unmapped[code or "(no code)"] += 1
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["Procedure"] += 1
    for code, n in unmapped.items():
        run.issues.add(
            "unmapped_code",
            "sessions",
            code,
            n,
            f"Procedure code {code} is in neither [sessions.procedures] nor "
            "[sessions.modalities]; not used",
        )
    s = pd.DataFrame.from_dict(rows, orient="index")
    if s.empty:
        return s
    bad = s["date"].isna()
    run.problem(
        "skipped_rows",
        "sessions",
        "Encounter",
        int(bad.sum()),
        f"{int(bad.sum())} Encounter resource(s) without period.start; skipped",
    )
    s = s[~bad]
    run.used["Encounter"] += len(s)
    for col in ("muscles", "modalities"):
        if col in s:
            s[col] = s[col].map(lambda v: ";".join(dict.fromkeys(v)) if isinstance(v, list) else "")
    for col in BOOL_REQUIRED:
        s[col] = s[col].fillna("false") if col in s else "false"
    return s


def adverse_events(run: _Run, session_ids: pd.Series) -> pd.DataFrame | None:
    events = run.b.of("AdverseEvent")
    if not events and "adverse_events" not in run.m:
        return None
    types = run.map("adverse_events", "types")
    severity = {**SEVERITY, **run.map("adverse_events", "severity")}
    url = run.text("adverse_events", "resolved_extension")
    rows = []
    for r in run.live("AdverseEvent"):
        try:
            session = run.b.resolve(r.get("encounter"))
            recorder = run.b.resolve(r.get("recorder")) or ""
            kind = recorder.split("/")[0]
            rows.append(
                {
                    "key": f"AdverseEvent/{r['id']}",
                    "session": session,
                    "type": code_of(r.get("event"), types)[0],
                    "severity": code_of(r.get("severity"), severity)[0],
                    "reporter": "patient"
                    if kind in ("Patient", "RelatedPerson")
                    else ("clinician" if kind.startswith("Practitioner") else ""),
                    "resolved_days": extension_value(r, url),
                }
            )
        except MALFORMED:  # an element of the wrong JSON type
            run.malformed["AdverseEvent"] += 1
    a = pd.DataFrame(
        rows, columns=["key", "session", "type", "severity", "reporter", "resolved_days"]
    )
    bad = ~a["session"].isin(session_ids.index)
    run.problem(
        "skipped_rows",
        "adverse_events",
        "AdverseEvent",
        int(bad.sum()),
        f"{int(bad.sum())} AdverseEvent resource(s) whose encounter is no session of "
        "the bundle; skipped",
    )
    a = a[~bad]
    for col in ("type", "severity"):
        run.problem(
            "unmapped_value",
            "adverse_events",
            col,
            int(a[col].isna().sum()),
            f"{int(a[col].isna().sum())} AdverseEvent resource(s) whose {col} code is "
            f"not in [adverse_events.{'types' if col == 'type' else col}]; left empty",
        )
    run.used["AdverseEvent"] += len(a)
    return contract_frame(
        "adverse_events",
        {
            "event_id": run.pseudo(a["key"], "AE"),
            "session_id": a["session"].map(session_ids),
            "type": a["type"].fillna(""),
            "severity": a["severity"].fillna(""),
            "reporter": a["reporter"],
            "resolved_days": a["resolved_days"].fillna(""),
        },
    )
