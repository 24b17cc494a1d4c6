"""The contract's specifications and the pandera schemas of the typed tables."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from dnoutcomes import Dataset, Measure, default_registry
from dnoutcomes.contract import TABLES, schemas
from dnoutcomes.contract.specs import TABLE_KEYS


def test_specs_cover_the_contract_tables() -> None:
    assert list(TABLES) == ["patients", "episodes", "sessions", "outcomes", "adverse_events"]
    required = {t: [c.name for c in cols if c.required] for t, cols in TABLES.items()}
    assert required["sessions"] == [
        "session_id",
        "episode_id",
        "session_date",
        "dn_performed",
        "manual_therapy",
        "exercise_therapy",
    ]
    assert required["adverse_events"] == ["event_id", "session_id", "type", "severity"]
    for table, key in TABLE_KEYS.items():
        assert key in [c.name for c in TABLES[table]]


@pytest.mark.parametrize(
    "table", ["patients", "episodes", "sessions", "outcomes", "adverse_events"]
)
def test_loaded_clinic_a_passes_the_schemas(clinic_a_dataset: Dataset, table: str) -> None:
    frame = getattr(clinic_a_dataset, table)
    schemas.for_table(table).validate(frame, lazy=True)


def test_schemas_catch_a_changed_frame(clinic_a_dataset: Dataset) -> None:
    p = clinic_a_dataset.patients.copy()
    p.loc[0, "age"] = 95.0
    p.loc[1, "patient_id"] = p.loc[2, "patient_id"]
    with pytest.raises(pa.errors.SchemaErrors) as err:
        schemas.patients().validate(p, lazy=True)
    failed = set(err.value.failure_cases["check"].astype(str))
    assert any("in_range" in c for c in failed)
    assert any("field_uniqueness" in c or "unique" in c for c in failed)


def test_outcome_schema_follows_the_registry(clinic_a_dataset: Dataset) -> None:
    o = clinic_a_dataset.outcomes.head(3).copy()
    o["measure"] = "psfs"
    o["value"] = 9.5
    with pytest.raises(pa.errors.SchemaErrors):
        schemas.outcomes().validate(o, lazy=True)
    reg = default_registry().with_measure(Measure("psfs", "PSFS", "points", 0, 10))
    schemas.outcomes(reg).validate(o, lazy=True)
    o.loc[o.index[0], "value"] = 10.5
    with pytest.raises(pa.errors.SchemaErrors):
        schemas.outcomes(reg).validate(o, lazy=True)


def test_list_columns_are_tuples_of_known_items() -> None:
    s = schemas.sessions()
    frame = pd.DataFrame({"muscles": [("piriformis",), ("biceps",)]})
    check = s.columns["muscles"].checks[0]
    result = check(frame["muscles"])
    assert result.check_output.tolist() == [True, False]
