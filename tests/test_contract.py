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


# --- typed columns (the reader's fast path) parse as their text does -----------------------


def _parsed(
    spec_name: str, table: str, raw: pd.Series
) -> tuple[dict[str, pd.Series], pd.DataFrame]:
    import numpy as np

    from dnoutcomes.contract.parse import parse_column, screen_values
    from dnoutcomes.contract.problems import TableChecks

    spec = next(s for s in TABLES[table] if s.name == spec_name)
    checks = TableChecks(table, f"{table}.csv", np.arange(2, len(raw) + 2))
    out = parse_column(checks, spec, raw.rename(spec_name))
    screen_values(checks, pd.DataFrame({spec_name: raw}), only={spec_name: checks.bad.copy()})
    return {k: pd.Series(v) for k, v in out.items()}, checks.frame()


TYPED_CASES = [
    # (table, column, text cells, the same cells typed)
    (
        "patients",
        "symptom_weeks",
        ["1", "2.5", None, "-3", "20000", "0.25"],
        pd.Series([1.0, 2.5, None, -3.0, 20000.0, 0.25]),
    ),
    ("sessions", "needles", ["3", "2.5", None, "61"], pd.Series([3.0, 2.5, None, 61.0])),
    ("sessions", "needles", ["3", None, "61"], pd.Series(pd.array([3, None, 61], dtype="Int64"))),
    (
        "episodes",
        "end_date",
        ["2025-01-31", None, "2024-12-01"],
        pd.Series(pd.to_datetime(["2025-01-31", None, "2024-12-01"])),
    ),
    (
        "sessions",
        "twitch_response",
        ["true", "false", None],
        pd.Series(pd.array([True, False, None], dtype="boolean")),
    ),
    ("sessions", "dn_performed", ["true", "false"], pd.Series([True, False])),
    (
        "sessions",
        "dn_performed",
        ["Yes", "n", None, "maybe", "1.0"],
        pd.Series(pd.Categorical(["Yes", "n", None, "maybe", "1.0"])),
    ),
    (
        "adverse_events",
        "severity",
        ["mild", "MILD", "x@y.org", None, "serious"],
        pd.Series(pd.Categorical(["mild", "MILD", "x@y.org", None, "serious"])),
    ),
    (
        "patients",
        "age",
        ["45", "90+", "93", "abc", None, "45"],
        pd.Series(pd.Categorical(["45", "90+", "93", "abc", None, "45"])),
    ),
    ("patients", "age", ["45", "93", "15.5"], pd.Series([45.0, 93.0, 15.5])),
    (
        "episodes",
        "therapist_id",
        ["T1", "T 2", None, "555-123-4567", "T1"],
        pd.Series(pd.Categorical(["T1", "T 2", None, "555-123-4567", "T1"])),
    ),
    (
        "episodes",
        "arm",
        ["DN_only", "dn only", None],
        pd.Series(pd.Categorical(["DN_only", "dn only", None])),
    ),
    (
        "sessions",
        "modalities",
        ["heat;tens", "heat;laser", None, "ICE"],
        pd.Series(pd.Categorical(["heat;tens", "heat;laser", None, "ICE"])),
    ),
    # a typed column of an unexpected kind is parsed as its text
    ("patients", "patient_id", ["1", "2.5", None], pd.Series([1.0, 2.5, None])),
    ("sessions", "session_date", ["15", None], pd.Series([15.0, None])),
]


@pytest.mark.parametrize(("table", "column", "text", "typed"), TYPED_CASES)
def test_typed_column_parses_as_its_text(
    table: str, column: str, text: list[str | None], typed: pd.Series
) -> None:
    out_text, problems_text = _parsed(column, table, pd.Series(text, dtype="str"))
    out_typed, problems_typed = _parsed(column, table, typed)
    assert out_text.keys() == out_typed.keys()
    for key in out_text:
        got = out_typed[key]
        if isinstance(got.dtype, pd.CategoricalDtype) and _kind(table, column) == "id":
            # a categorical id stays categorical (the loader makes it text, or the
            # Dataset's categorical, when it builds the frames): the same values
            got = got.astype("str")
        pd.testing.assert_series_equal(got, out_text[key], obj=key)
    pd.testing.assert_frame_equal(problems_typed, problems_text)


def _kind(table: str, column: str) -> str:
    from dnoutcomes.contract.specs import TABLES

    return next(s.kind for s in TABLES[table] if s.name == column)


@pytest.mark.parametrize(
    "categories",
    [
        pd.Series(["T1", "T 2", "é-Ω", ""], dtype="str"),
        pd.Series([], dtype="str"),
        pd.Series([1.5, 20.0, 3.0]),
        pd.Series(pd.array(["a", "b"], dtype="string[python]")),
    ],
)
def test_categories_and_a_missing_value_as_the_list_gave_them(categories: pd.Series) -> None:
    from dnoutcomes.contract.parse import _and_missing
    from dnoutcomes.contract.problems import as_text

    text = as_text(categories)
    got = pd.Series(_and_missing(text))
    want = pd.Series(pd.array([*text.tolist(), None], dtype="str"))
    pd.testing.assert_series_equal(got, want)
