"""The tables and columns of the data contract (version 1), as plain specifications.

Each :class:`ColumnSpec` says how one column of the raw export is parsed and checked; the
validator (:mod:`dnoutcomes.validate`) applies them vectorised, and
:mod:`dnoutcomes.contract.schemas` turns them into pandera schemas for the typed frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ARMS_STANDARD",
    "BOOL_FALSE",
    "BOOL_TRUE",
    "CHRONICITY",
    "ColumnSpec",
    "Kind",
    "OPTIONAL_TABLES",
    "OUTCOME_ID_COLUMNS",
    "REQUIRED_TABLES",
    "TABLES",
    "TABLE_KEYS",
    "TIMEPOINTS",
    "TableName",
]

Kind = Literal["id", "category", "integer", "number", "bool", "date", "list", "age", "label"]
TableName = Literal["patients", "episodes", "sessions", "outcomes", "adverse_events"]

BOOL_TRUE: frozenset[str] = frozenset({"true", "1", "yes", "y", "t", "1.0"})
BOOL_FALSE: frozenset[str] = frozenset({"false", "0", "no", "n", "f", "0.0"})

SEX = ("female", "male", "other", "unknown")
CONDITIONS = (
    "muscle_strain",
    "ligament_sprain",
    "myofascial_pain",
    "disc_herniation",
    "sciatica",
    "spinal_stenosis",
    "postural",
    "other",
)
CONTRAINDICATIONS = (
    "pregnancy",
    "bleeding_disorder",
    "anticoagulants",
    "immunocompromised",
    "skin_infection",
    "metal_allergy",
    "uncontrolled_diabetes",
)
ARMS_STANDARD = ("dn_only", "dn_manual_exercise", "manual_exercise")
DISCHARGE_REASONS = ("goals_met", "plateau", "self_discharged", "referred_out", "other")
MUSCLES = (
    "lumbar_multifidus",
    "erector_spinae",
    "quadratus_lumborum",
    "gluteus_maximus",
    "gluteus_medius",
    "gluteus_minimus",
    "piriformis",
    "iliopsoas",
    "thoracolumbar_paraspinals",
    "hamstrings",
    "other",
)
MODALITIES = ("heat", "ice", "ultrasound", "tens")
TIMEPOINTS = (
    "baseline",
    "session",
    "discharge",
    "followup_4w",
    "followup_12w",
    "followup_26w",
    "followup_52w",
)
AE_TYPES = (
    "soreness",
    "pain_during",
    "bruising",
    "bleeding",
    "aggravation",
    "fatigue",
    "headache",
    "nausea",
    "fainting",
    "paraesthesia",
    "infection",
    "nerve_injury",
    "retained_needle",
    "pneumothorax",
    "other",
)
SEVERITIES = ("mild", "significant", "serious")
REPORTERS = ("patient", "clinician")
CHRONICITY = ("acute", "subacute", "chronic")


@dataclass(frozen=True)
class ColumnSpec:
    """How one contract column is parsed and checked.

    Parameters
    ----------
    name
        Column name (lower case; input names are matched case-insensitively, trimmed).
    kind
        ``id`` (1-64 of ``A-Z a-z 0-9 _ -``), ``category`` (one of ``levels``), ``integer``
        and ``number`` (inside ``low``-``high``), ``bool``, ``date`` (ISO ``YYYY-MM-DD``),
        ``list`` (``;``-separated ``levels``), ``age`` (16-89 or ``90+``), ``label``
        (``a-z 0-9 _``).
    required
        Whether the column must exist and every cell be filled.
    levels
        Legal values of a category or list.
    low, high
        Inclusive range of a number.
    ordered
        Whether the category is ordered (in the order of ``levels``).
    """

    name: str
    kind: Kind
    required: bool = True
    levels: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    ordered: bool = False


TABLES: dict[str, tuple[ColumnSpec, ...]] = {
    "patients": (
        ColumnSpec("patient_id", "id"),
        ColumnSpec("site_id", "id"),
        ColumnSpec("sex", "category", levels=SEX),
        ColumnSpec("age", "age", low=16, high=89),
        ColumnSpec("condition", "category", levels=CONDITIONS),
        ColumnSpec("symptom_weeks", "number", low=0, high=5200),
        ColumnSpec("contraindications", "list", required=False, levels=CONTRAINDICATIONS),
    ),
    "episodes": (
        ColumnSpec("episode_id", "id"),
        ColumnSpec("patient_id", "id"),
        ColumnSpec("therapist_id", "id"),
        ColumnSpec("start_date", "date"),
        ColumnSpec("end_date", "date", required=False),
        ColumnSpec("arm", "label", required=False),
        ColumnSpec("discharge_reason", "category", required=False, levels=DISCHARGE_REASONS),
    ),
    "sessions": (
        ColumnSpec("session_id", "id"),
        ColumnSpec("episode_id", "id"),
        ColumnSpec("session_date", "date"),
        ColumnSpec("dn_performed", "bool"),
        ColumnSpec("needles", "integer", required=False, low=0, high=60),
        ColumnSpec("max_depth_mm", "number", required=False, low=0, high=120),
        ColumnSpec("muscles", "list", required=False, levels=MUSCLES),
        ColumnSpec("twitch_response", "bool", required=False),
        ColumnSpec("electrical_stimulation", "bool", required=False),
        ColumnSpec("manual_therapy", "bool"),
        ColumnSpec("exercise_therapy", "bool"),
        ColumnSpec("postural_correction", "bool", required=False),
        ColumnSpec("pain_education", "bool", required=False),
        ColumnSpec("modalities", "list", required=False, levels=MODALITIES),
        ColumnSpec("duration_min", "number", required=False, low=5, high=240),
    ),
    "outcomes": (
        ColumnSpec("episode_id", "id"),
        ColumnSpec("session_id", "id", required=False),
        ColumnSpec("assessed_on", "date"),
        ColumnSpec("timepoint", "category", levels=TIMEPOINTS, ordered=True),
        # measure and value are checked against the registry, not a fixed spec
        ColumnSpec("measure", "label"),
        ColumnSpec("value", "number"),
    ),
    "adverse_events": (
        ColumnSpec("event_id", "id"),
        ColumnSpec("session_id", "id"),
        ColumnSpec("type", "category", levels=AE_TYPES),
        ColumnSpec("severity", "category", levels=SEVERITIES, ordered=True),
        ColumnSpec("reporter", "category", required=False, levels=REPORTERS),
        ColumnSpec("resolved_days", "number", required=False, low=0, high=365),
    ),
}

#: The key column of each table (its rows are named by it in rejects).
TABLE_KEYS: dict[str, str] = {
    "patients": "patient_id",
    "episodes": "episode_id",
    "sessions": "session_id",
    "outcomes": "episode_id",
    "adverse_events": "event_id",
}

#: Reference columns whose ids come in runs (one episode's sessions and outcomes sit
#: together) and which the loaded Dataset holds as categoricals: the Parquet reader
#: reads them as categoricals of their distinct ids, hashing one id per run
#: (:func:`dnoutcomes._encode.run_categorical`), not as a text cell per row.
RUN_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": ("episode_id",),
    "outcomes": ("episode_id", "session_id"),
}

REQUIRED_TABLES: tuple[str, ...] = ("patients", "episodes", "sessions", "outcomes")
OPTIONAL_TABLES: tuple[str, ...] = ("adverse_events",)

#: The non-measure columns of a wide outcomes file.
OUTCOME_ID_COLUMNS: tuple[str, ...] = ("episode_id", "session_id", "assessed_on", "timepoint")
