"""Every rule of the data contract, in strict and in quarantine mode.

Each case breaks one thing in the small valid export of ``loader_data``; strict mode must
raise DatasetError naming table, line (header = line 1), column and rule; quarantine mode
must reject exactly the broken row and the rows that depend on it, and account for every
row (loaded + rejected = read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loader_data import COUNTS, small_export, to_wide, write_export

import dnoutcomes
from dnoutcomes import DatasetError

Tables = dict[str, pd.DataFrame]


def _set(table: str, row: int, column: str, value: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table].loc[row, column] = value

    return mutate


def _drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table] = t[table].drop(columns=column)

    return mutate


def _add_column(table: str, column: str, values: list[str]) -> Callable[[Tables], None]:
    def mutate(t: Tables) -> None:
        t[table][column] = values

    return mutate


def _duplicate_baseline(t: Tables) -> None:
    extra = t["outcomes"].iloc[[0]].assign(value="6")
    t["outcomes"] = pd.concat([t["outcomes"], extra], ignore_index=True)


@dataclass
class Case:
    id: str
    mutate: Callable[[Tables], None]
    table: str
    line: int
    column: str
    rule: str
    rejected: dict[str, int]
    secret: str | None = None  # a value that must never appear in any message
    read: dict[str, int] = field(default_factory=dict)


P3_CASCADE = {"patients": 1, "episodes": 1, "sessions": 2, "outcomes": 4, "adverse_events": 1}
P1_CASCADE = {"patients": 1, "episodes": 2, "sessions": 4, "outcomes": 7, "adverse_events": 2}
EVERYTHING = dict(COUNTS)

CASES = [
    Case(
        "wrong type",
        _set("sessions", 1, "needles", "four"),
        "sessions",
        3,
        "needles",
        "not_a_number",
        {"sessions": 1, "outcomes": 1},
    ),
    Case(
        "out of range",
        _set("outcomes", 0, "value", "11"),
        "outcomes",
        2,
        "value",
        "out_of_range",
        {"outcomes": 1},
    ),
    Case(
        "not whole",
        _set("outcomes", 0, "value", "6.5"),
        "outcomes",
        2,
        "value",
        "not_whole",
        {"outcomes": 1},
    ),
    Case(
        "unknown category",
        _set("patients", 2, "sex", "f"),
        "patients",
        4,
        "sex",
        "unknown_category",
        P3_CASCADE,
    ),
    Case(
        "unknown measure",
        _set("outcomes", 13, "measure", "vas"),
        "outcomes",
        15,
        "measure",
        "unknown_measure",
        {"outcomes": 1},
    ),
    Case(
        "missing required column",
        _drop_column("sessions", "manual_therapy"),
        "sessions",
        1,
        "manual_therapy",
        "missing_column",
        {"sessions": 8, "outcomes": 9, "adverse_events": 3},
    ),
    Case(
        "missing value",
        _set("patients", 2, "condition", ""),
        "patients",
        4,
        "condition",
        "missing_value",
        P3_CASCADE,
    ),
    Case(
        "duplicate id",
        _set("episodes", 1, "episode_id", "E1"),
        "episodes",
        3,
        "episode_id",
        "duplicate_id",
        {"episodes": 2, "sessions": 4, "outcomes": 9, "adverse_events": 1},
    ),
    Case(
        "invalid id",
        _set("patients", 2, "site_id", "south/east"),
        "patients",
        4,
        "site_id",
        "invalid_id",
        P3_CASCADE,
    ),
    Case(
        "orphan",
        _set("sessions", 7, "episode_id", "E9"),
        "sessions",
        9,
        "episode_id",
        "orphan",
        {"sessions": 1},
    ),
    Case(
        "orphan outcome session",
        _set("outcomes", 0, "session_id", "S99"),
        "outcomes",
        2,
        "session_id",
        "orphan",
        {"outcomes": 1},
    ),
    Case(
        "session of another episode",
        _set("outcomes", 0, "session_id", "S3"),
        "outcomes",
        2,
        "session_id",
        "session_other_episode",
        {"outcomes": 1},
    ),
    Case(
        "session outside its episode",
        _set("sessions", 1, "session_date", "2025-03-01"),
        "sessions",
        3,
        "session_date",
        "session_outside_episode",
        {"sessions": 1, "outcomes": 1},
    ),
    Case(
        "end before start",
        _set("episodes", 0, "end_date", "2025-01-01"),
        "episodes",
        2,
        "end_date",
        "date_order",
        {"episodes": 1, "sessions": 2, "outcomes": 6, "adverse_events": 1},
    ),
    Case(
        "outcome outside window",
        _set("outcomes", 5, "assessed_on", "2026-06-01"),
        "outcomes",
        7,
        "assessed_on",
        "outcome_outside_window",
        {"outcomes": 1},
    ),
    Case(
        "duplicate baseline",
        _duplicate_baseline,
        "outcomes",
        16,
        "timepoint",
        "duplicate_timepoint",
        {"outcomes": 2},
        read={"outcomes": 15},
    ),
    Case(
        "needles without DN",
        _set("sessions", 7, "needles", "3"),
        "sessions",
        9,
        "needles",
        "needles_without_dn",
        {"sessions": 1},
    ),
    Case(
        "invalid bool",
        _set("sessions", 7, "manual_therapy", "maybe"),
        "sessions",
        9,
        "manual_therapy",
        "invalid_bool",
        {"sessions": 1},
    ),
    Case(
        "unknown list item",
        _set("sessions", 7, "modalities", "heat;laser"),
        "sessions",
        9,
        "modalities",
        "unknown_list_item",
        {"sessions": 1},
    ),
    Case(
        "invalid arm label",
        _set("episodes", 3, "arm", "DN + exercise"),
        "episodes",
        5,
        "arm",
        "invalid_label",
        {"episodes": 1, "sessions": 2, "outcomes": 1, "adverse_events": 1},
    ),
    Case(
        "age 93",
        _set("patients", 0, "age", "93"),
        "patients",
        2,
        "age",
        "age_not_top_coded",
        P1_CASCADE,
        secret="93",
    ),
    Case(
        "age 12", _set("patients", 0, "age", "12"), "patients", 2, "age", "out_of_range", P1_CASCADE
    ),
    Case(
        "email column",
        _add_column("patients", "email", ["a@b.org", "c@d.org", "e@f.org"]),
        "patients",
        1,
        "email",
        "identifier_column",
        EVERYTHING,
        secret="a@b.org",
    ),
    Case(
        "E-Mail column",
        _add_column("patients", "E-Mail", ["", "", ""]),
        "patients",
        1,
        "e-mail",
        "identifier_column",
        EVERYTHING,
    ),
    Case(
        "telephone in a cell",
        _add_column("patients", "note", ["", "", "call (555) 123-4567 after 5"]),
        "patients",
        4,
        "note",
        "identifier_value",
        P3_CASCADE,
        secret="123-4567",
    ),
    Case(
        "SSN-like id",
        _set("episodes", 3, "therapist_id", "123-45-6789"),
        "episodes",
        5,
        "therapist_id",
        "identifier_value",
        {"episodes": 1, "sessions": 2, "outcomes": 1, "adverse_events": 1},
        secret="6789",
    ),
    Case(
        "email in a free-text cell",
        _add_column("adverse_events", "comment", ["", "mailed jo.bloggs@example.com", ""]),
        "adverse_events",
        3,
        "comment",
        "identifier_value",
        {"adverse_events": 1},
        secret="bloggs",
    ),
    Case(
        "telephone in a number column",
        _set("sessions", 7, "duration_min", "555-123-4567"),
        "sessions",
        9,
        "duration_min",
        "identifier_value",
        {"sessions": 1},
        secret="123-4567",
    ),
    Case(
        "date in another format",
        _set("episodes", 2, "start_date", "01/02/2025"),
        "episodes",
        4,
        "start_date",
        "invalid_date",
        {"episodes": 1, "sessions": 2, "outcomes": 4, "adverse_events": 1},
    ),
    Case(
        "impossible date",
        _set("sessions", 7, "session_date", "2025-02-30"),
        "sessions",
        9,
        "session_date",
        "invalid_date",
        {"sessions": 1},
    ),
]


def _write(case: Case, tmp_path: Path) -> Path:
    tables = small_export()
    case.mutate(tables)
    return write_export(tables, tmp_path, "csv")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_strict_names_line_column_and_rule(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    with pytest.raises(DatasetError) as err:
        dnoutcomes.load(path)
    probs = err.value.problems
    assert list(probs.columns) == ["table", "file", "line", "column", "rule", "message"]
    hit = probs[
        (probs["table"] == case.table)
        & (probs["line"] == case.line)
        & (probs["column"] == case.column)
        & (probs["rule"] == case.rule)
    ]
    assert len(hit) == 1, probs.to_string()
    file = f"{case.table}.csv"
    assert hit["message"].iloc[0].startswith(f"{file} line {case.line}, column {case.column}: ")
    assert "rejected_parent" not in set(probs["rule"])  # consequences are not errors
    if case.secret is not None:
        assert not probs["message"].str.contains(case.secret, regex=False).any()
        assert case.secret not in str(err.value)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_quarantine_rejects_the_row_and_its_dependents(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    ds = dnoutcomes.load(path, mode="quarantine")
    acc = ds.accounting.set_index("table")
    assert (acc["loaded"] + acc["rejected"] == acc["read"]).all()
    read = {**COUNTS, **case.read}
    assert acc["read"].to_dict() == read
    rejected = {t: case.rejected.get(t, 0) for t in COUNTS}
    assert acc["rejected"].to_dict() == rejected
    assert ds.rejects.groupby("table").size().to_dict() == {t: n for t, n in rejected.items() if n}
    for name in COUNTS:
        frame = getattr(ds, name)
        assert len(frame) == read[name] - rejected[name]
    if case.line > 1:
        mine = ds.rejects[ds.rejects["table"] == case.table]
        assert case.line in set(mine["line"])
    if case.secret is not None:
        for frame in (ds.rejects, ds.problems):
            text = frame.astype(str).to_string()
            assert case.secret not in text


def test_dependents_say_why(tmp_path: Path) -> None:
    path = _write(CASES[3], tmp_path)  # P3 has an unknown sex
    ds = dnoutcomes.load(path, mode="quarantine")
    e3 = ds.rejects[(ds.rejects["table"] == "episodes")]
    assert e3["id"].tolist() == ["E3"]
    assert "patients row this row depends on was rejected" in e3["reason"].iloc[0]
    assert set(ds.problems["rule"]) == {"unknown_category", "rejected_parent"}
    assert "E3" not in set(ds.episodes["episode_id"])


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[0, "sex"] = "FEMALE"  # case-insensitive: fine
    tables["patients"].loc[1, "symptom_weeks"] = "lots"
    tables["sessions"].loc[2, "duration_min"] = "300"
    tables["outcomes"].loc[1, "value"] = "-1"
    tables["adverse_events"].loc[0, "severity"] = "severe"
    with pytest.raises(DatasetError, match="4 problems") as err:
        dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    probs = err.value.problems
    assert probs[["table", "line", "column"]].values.tolist() == [
        ["patients", 3, "symptom_weeks"],
        ["sessions", 4, "duration_min"],
        ["outcomes", 3, "value"],
        ["adverse_events", 2, "severity"],
    ]
    assert probs["message"].iloc[2] == (
        "outcomes.csv line 3, column value: odi must be a number from 0 to 100; got -1."
    )


def test_message_template_matches_the_style_guide(tmp_path: Path) -> None:
    tables = small_export()
    tables["outcomes"].loc[0, "value"] = "11"
    with pytest.raises(DatasetError) as err:
        dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    assert err.value.problems["message"].tolist() == [
        "outcomes.csv line 2, column value: nprs must be a whole number from 0 to 10; got 11."
    ]


def test_wide_outcomes_with_an_unknown_measure_column(tmp_path: Path) -> None:
    tables = small_export()
    wide = to_wide(tables["outcomes"])
    wide["foo_score"] = ["3"] + [""] * (len(wide) - 1)
    tables["outcomes"] = wide
    path = write_export(tables, tmp_path, "csv")
    with pytest.raises(DatasetError) as err:
        dnoutcomes.load(path)
    probs = err.value.problems
    header = probs[probs["line"] == 1]
    assert header[["column", "rule"]].values.tolist() == [["foo_score", "unknown_measure"]]
    cells = probs[probs["line"] > 1]
    assert cells[["line", "column", "rule"]].values.tolist() == [
        [2, "foo_score", "unknown_measure"]
    ]
    ds = dnoutcomes.load(path, mode="quarantine")
    acc = ds.accounting.set_index("table").loc["outcomes"]
    assert (acc["read"], acc["loaded"], acc["rejected"]) == (15, 14, 1)


def test_wide_outcome_value_errors_name_the_measure_column(tmp_path: Path) -> None:
    tables = small_export()
    wide = to_wide(tables["outcomes"])
    wide.loc[0, "odi"] = "140"
    tables["outcomes"] = wide
    with pytest.raises(DatasetError) as err:
        dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    assert err.value.problems[["line", "column", "rule"]].values.tolist() == [
        [2, "odi", "out_of_range"]
    ]


def test_quarantine_with_unreadable_input_still_raises(tmp_path: Path) -> None:
    path = write_export(small_export(), tmp_path, "csv")
    (path / "outcomes.csv").write_bytes(b"")
    with pytest.raises(dnoutcomes.UnreadableInputError):
        dnoutcomes.load(path, mode="quarantine")


def test_custom_measure_from_a_user_registry(tmp_path: Path) -> None:
    tables = small_export()
    extra = tables["outcomes"].iloc[[0]].assign(measure="psfs", value="7.5")
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    path = write_export(tables, tmp_path, "csv")
    with pytest.raises(DatasetError, match="measure must be one of"):
        dnoutcomes.load(path)
    registry = dnoutcomes.default_registry().with_measure(
        dnoutcomes.Measure(
            "psfs", "Patient-Specific Functional Scale", "points", 0, 10, direction="higher"
        )
    )
    ds = dnoutcomes.load(path, registry=registry)
    assert ds.outcomes.loc[ds.outcomes["measure"] == "psfs", "value"].tolist() == [7.5]
    assert ds.registry is registry


def test_bad_arguments_are_request_errors(tmp_path: Path) -> None:
    path = write_export(small_export(), tmp_path, "csv")
    with pytest.raises(dnoutcomes.RequestError, match="mode must be"):
        dnoutcomes.load(path, mode="lenient")  # type: ignore[arg-type]
    with pytest.raises(dnoutcomes.RequestError, match="registry must be"):
        dnoutcomes.load(path, registry={"nprs": 1})  # type: ignore[arg-type]


def test_values_are_parsed_leniently_where_the_contract_allows(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[0, "sex"] = " Female "
    tables["patients"].loc[2, "age"] = "90 +"
    tables["sessions"].loc[0, "dn_performed"] = "Y"
    tables["sessions"].loc[0, "modalities"] = "Heat; ice;"
    path = write_export(tables, tmp_path, "semicolon_bom")
    # a European export with decimal commas in a semicolon file
    text = (path / "patients.csv").read_text(encoding="utf-8-sig").replace(";2.5;", ";2,5;")
    (path / "patients.csv").write_text(text, encoding="utf-8-sig")
    ds = dnoutcomes.load(path)
    p = ds.patients.set_index("patient_id")
    assert p.loc["P1", "sex"] == "female"
    assert p.loc["P3", "symptom_weeks"] == 2.5
    assert p.loc["P3", "age"] == 90.0 and bool(p.loc["P3", "age_top_coded"])
    assert p.loc["P2", "age"] == 90.0 and not bool(p.loc["P1", "age_top_coded"])
    assert ds.sessions["modalities"].iloc[0] == ("heat", "ice")
    assert bool(ds.sessions["dn_performed"].iloc[0])


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    # the package's `validate` attribute is the function; fetch the module itself
    module = importlib.import_module("dnoutcomes.validate")

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --- cross-table rules on integer positions (contract/references.py) ---------------------


def _problems(tables: Tables, tmp_path: Path) -> pd.DataFrame:
    with pytest.raises(DatasetError) as err:
        dnoutcomes.load(write_export(tables, tmp_path, "csv"))
    return err.value.problems


def test_a_repeated_patient_id_is_referenced_not_orphaned(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[2, "patient_id"] = "P1"  # lines 2 and 4; P3 no longer exists
    probs = _problems(tables, tmp_path)
    got = probs[["table", "line", "column", "rule"]].values.tolist()
    assert got == [
        ["patients", 2, "patient_id", "duplicate_id"],
        ["patients", 4, "patient_id", "duplicate_id"],
        ["episodes", 4, "patient_id", "orphan"],  # E3 named P3
    ]
    assert probs["message"].iloc[0] == (
        "patients.csv line 2, column patient_id: patient_id must be unique; the same value "
        "is on lines 2, 4; got P1. Keep one row per id, or give each row its own id."
    )
    ds = dnoutcomes.load(write_export(tables, tmp_path / "q", "csv"), mode="quarantine")
    acc = ds.accounting.set_index("table")["rejected"].to_dict()
    # both P1 rows, then everything of E1, E3 and E4: only E2 (P2) remains
    assert acc == {"patients": 2, "episodes": 3, "sessions": 6, "outcomes": 11, "adverse_events": 3}
    assert ds.episodes["episode_id"].tolist() == ["E2"]
    assert ds.episodes["site_id"].tolist() == ["north"]


def test_an_episode_id_both_repeated_and_referenced(tmp_path: Path) -> None:
    tables = small_export()
    tables["episodes"].loc[3, "episode_id"] = "E1"  # line 5 (was E4, 2025-04-01 to 05-01)
    probs = _problems(tables, tmp_path)
    got = probs[["table", "line", "column", "rule"]].values.tolist()
    # S1 and S2 lie outside the second E1 and the outcomes of E1 outside nothing: with two
    # rows of E1 the dates are not compared; S7, S8 and the outcome of E4 are orphans
    assert got == [
        ["episodes", 2, "episode_id", "duplicate_id"],
        ["episodes", 5, "episode_id", "duplicate_id"],
        ["sessions", 8, "episode_id", "orphan"],
        ["sessions", 9, "episode_id", "orphan"],
        ["outcomes", 15, "episode_id", "orphan"],
    ]
    assert "the same value is on lines 2, 5; got E1." in probs["message"].iloc[1]
    ds = dnoutcomes.load(write_export(tables, tmp_path / "q", "csv"), mode="quarantine")
    acc = ds.accounting.set_index("table")["rejected"].to_dict()
    assert acc == {"patients": 0, "episodes": 2, "sessions": 4, "outcomes": 7, "adverse_events": 2}
    rejects = ds.rejects.set_index(["table", "line"])["reason"]
    assert "duplicate_id" not in rejects.loc[("sessions", 2)]
    assert "episodes row this row depends on was rejected" in rejects.loc[("sessions", 2)]
    assert ds.episodes["episode_id"].tolist() == ["E2", "E3"]
    assert ds.episodes["n_sessions"].tolist() == [2, 2]


def test_an_outcome_session_of_a_repeated_session_id_is_not_compared(tmp_path: Path) -> None:
    tables = small_export()
    tables["sessions"].loc[2, "session_id"] = "S1"  # line 4: S1 now names E1 and E2
    probs = _problems(tables, tmp_path)
    assert set(probs["rule"]) == {"duplicate_id", "orphan"}  # outcomes naming S3: orphans
    assert probs.loc[probs["rule"] == "orphan", "line"].tolist() == [8, 9]
    assert "session_other_episode" not in set(probs["rule"])


def test_the_outcome_window_counts_whole_days(tmp_path: Path) -> None:
    tables = small_export()
    extra = pd.DataFrame(
        [
            ["E1", "", day, "session", "nprs", "5"]
            for day in ("2024-12-06", "2024-12-07", "2026-02-10", "2026-02-11")
        ],
        columns=tables["outcomes"].columns,
    )
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    probs = _problems(tables, tmp_path)
    # E1 starts 2025-01-06: 31 days before and 401 days after are outside, 30 and 400 not
    assert probs[["line", "rule"]].values.tolist() == [
        [16, "outcome_outside_window"],
        [19, "outcome_outside_window"],
    ]
    assert probs["message"].str.contains("episode start (2025-01-06)", regex=False).all()


def test_a_session_of_another_episode_names_it(tmp_path: Path) -> None:
    tables = small_export()
    tables["outcomes"].loc[0, "session_id"] = "S3"  # S3 belongs to E2
    tables["outcomes"].loc[6, "episode_id"] = ""  # E2's baseline with S3: no episode given
    probs = _problems(tables, tmp_path)
    other = probs[probs["rule"] == "session_other_episode"]
    assert other["line"].tolist() == [2, 8]
    assert other["message"].str.contains("(it belongs to E2)", regex=False).all()


def test_every_row_of_a_repeated_baseline_is_named(tmp_path: Path) -> None:
    tables = small_export()
    o = tables["outcomes"]
    extra = o.iloc[[0, 0, 1]].assign(value="6")  # two more E1 nprs baselines, one more odi
    extra.loc[:, "measure"] = ["nprs", "nprs", "odi"]
    orphan = o.iloc[[0, 0]].assign(episode_id="E9")  # repeated too, but of no episode
    tables["outcomes"] = pd.concat([o, extra, orphan], ignore_index=True)
    probs = _problems(tables, tmp_path)
    dup = probs[probs["rule"] == "duplicate_timepoint"]
    assert dup["line"].tolist() == [2, 3, 16, 17, 18]
    assert (
        dup["message"]
        .iloc[0]
        .startswith(
            "outcomes.csv line 2, column timepoint: only one baseline nprs is allowed per "
            "episode; E1 has one on lines 2, 16, 17"
        )
    )
    assert "E1 has one on lines 3, 18" in dup["message"].iloc[1]
    assert probs.loc[probs["rule"] == "orphan", "line"].tolist() == [19, 20]


def test_blocks_give_the_same_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dnoutcomes._frames

    tables = small_export()
    tables["outcomes"].loc[0, "session_id"] = "S3"
    tables["outcomes"].loc[5, "assessed_on"] = "2026-06-01"
    tables["outcomes"].loc[1, "value"] = "30"
    extra = pd.DataFrame(
        [
            ["E1", "S2", "2025-01-13", "session", "odi", "95"],
            ["E1", "", "2025-02-20", "discharge", "nprs", "3"],
        ],
        columns=tables["outcomes"].columns,
    )
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    path = write_export(tables, tmp_path, "csv")
    whole = dnoutcomes.validate(path, mode="quarantine")
    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", 2)
    blocked = dnoutcomes.validate(path, mode="quarantine")
    assert set(whole.problems["rule"]) >= {
        "session_other_episode",
        "outcome_outside_window",
        "duplicate_timepoint",
    }
    assert set(whole.warnings["rule"]) == {"implausible_change"}
    pd.testing.assert_frame_equal(whole.problems, blocked.problems)
    pd.testing.assert_frame_equal(whole.warnings, blocked.warnings)
    assert whole.dataset is not None and blocked.dataset is not None
    pd.testing.assert_frame_equal(whole.dataset.outcomes, blocked.dataset.outcomes)
    pd.testing.assert_frame_equal(whole.dataset.rejects, blocked.dataset.rejects)


def test_categorical_keys_give_the_same_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a reader may hand over a dictionary-encoded column as a categorical: its codes are
    # used as they are (categories in their own order), with the same answers
    import importlib

    validate_module = importlib.import_module("dnoutcomes.validate")
    tables = small_export()
    tables["patients"].loc[2, "patient_id"] = "P1"
    tables["sessions"].loc[7, "episode_id"] = "E9"
    tables["outcomes"].loc[0, "session_id"] = "S3"
    tables["outcomes"] = pd.concat([tables["outcomes"], tables["outcomes"].iloc[[1]]])
    path = write_export(tables, tmp_path, "csv")
    plain = dnoutcomes.validate(path, mode="quarantine")
    prepare = validate_module.prepare_table

    def categorical_keys(raw, registry, **options):  # type: ignore[no-untyped-def]
        table = prepare(raw, registry, **options)
        for col in ("patient_id", "episode_id", "session_id", "event_id", "measure"):
            if col in table.typed:
                values = table.typed[col]
                reversed_order = sorted(values.dropna().unique(), reverse=True)
                table.typed[col] = pd.Categorical(values, categories=[*reversed_order, "unused"])
        return table

    monkeypatch.setattr(validate_module, "prepare_table", categorical_keys)
    coded = dnoutcomes.validate(path, mode="quarantine")
    assert set(plain.problems["rule"]) >= {"duplicate_id", "orphan", "session_other_episode"}
    pd.testing.assert_frame_equal(plain.problems, coded.problems)
    pd.testing.assert_frame_equal(plain.warnings, coded.warnings)
    pd.testing.assert_frame_equal(plain.accounting, coded.accounting)
    assert plain.dataset is not None and coded.dataset is not None
    pd.testing.assert_frame_equal(plain.dataset.rejects, coded.dataset.rejects)
    derived = ["site_id", "arm_derived", "arm", "n_sessions", "dn_sessions"]
    pd.testing.assert_frame_equal(plain.dataset.episodes[derived], coded.dataset.episodes[derived])


def test_emptied_frames_keep_columns_and_dtypes_but_share_no_memory() -> None:
    """``iloc[:0]`` would keep a NumPy column's whole base array and an Arrow column's
    whole buffers alive; the emptied frame holds none of them."""
    import pyarrow as pa

    from dnoutcomes._loaded import _emptied

    frame = pd.DataFrame(
        {
            "id": pd.Series([f"S{i}" for i in range(1000)], dtype="str"),
            "n": np.arange(1000),
            "when": pd.date_range("2024-01-01", periods=1000),
            "kind": pd.Categorical(["a", "b"] * 500),
            "run": pd.Categorical.from_codes(
                np.arange(1000) % 7, dtype=pd.CategoricalDtype([f"E{i}" for i in range(7)])
            ),
            "count": pd.array(range(1000), dtype="Int64"),
        }
    )
    empty = _emptied(frame)
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns)
    pd.testing.assert_series_equal(empty.dtypes, frame.dtypes)
    assert not np.shares_memory(empty["n"].to_numpy(), frame["n"].to_numpy())
    assert empty["n"].to_numpy().base is None or empty["n"].to_numpy().base.nbytes == 0
    assert pa.array(empty["id"].array).get_total_buffer_size() < 100
    assert pa.array(frame["id"].array[:0]).get_total_buffer_size() > 1000  # the view would
    for name in ("kind", "run"):  # the dtype object itself: its categories not hashed again
        assert empty[name].dtype is frame[name].dtype
        codes = empty[name].array._ndarray  # the codes as stored: no view of the full ones
        assert codes.base is None or codes.base.nbytes == 0


@pytest.mark.parametrize("block", [1, 2, 3, 4, 100])
@pytest.mark.parametrize(
    "episode",
    [[], [0], [0, 0, 0, 1, 2, 2, 2, 2, 5, 5], [3, 3, 3, 3, 3, 3], [0, 1, 2, 3, 4, 5, 6]],
)
def test_episode_blocks_hold_whole_episodes(
    episode: list[int], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dnoutcomes._frames
    from dnoutcomes.contract.references import episode_blocks

    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", block)
    codes = np.array(episode, dtype=np.int32)
    spans = episode_blocks(codes)
    assert spans is not None
    covered = [i for b in spans for i in range(b.start, b.stop)]
    assert covered == list(range(len(codes)))  # every row once, in order
    assert all(b.stop > b.start for b in spans)
    for b, after in zip(spans, spans[1:], strict=False):  # no episode split between spans
        assert codes[b.stop - 1] != codes[after.start]
    if len(set(episode)) == len(episode) or block >= len(episode):
        assert len(spans) == -(-len(episode) // block)  # blocks unmoved


@pytest.mark.parametrize("episode", [[1, 0], [0, 0, 2, 1, 3], [-1, 0, 1], [0, 1, -1], [0, -1]])
def test_episode_blocks_need_episode_order(episode: list[int]) -> None:
    from dnoutcomes.contract.references import episode_blocks

    assert episode_blocks(np.array(episode, dtype=np.int32)) is None


@pytest.mark.parametrize("block", [1, 2, 3, 5, 1 << 20])
def test_repeated_timepoints_and_session_dates_block_by_block(
    block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outcomes in episode order are checked for repeated baselines one span of whole
    episodes at a time: the same problems as one sort of every row (the unordered path),
    with repeats on either side of a block boundary, in one block, and none at all."""
    import dnoutcomes._frames

    tables = small_export()
    o = tables["outcomes"]
    e1, e2 = o[o["episode_id"] == "E1"], o[o["episode_id"] == "E2"]
    # E1's baselines repeated at its end, E2's at its start: in episode order throughout
    tables["outcomes"] = pd.concat(
        [e1, e1.iloc[[0, 1]].assign(value="5"), e2.iloc[[0]].assign(value="4"), e2, o.iloc[[]]],
        ignore_index=True,
    )
    tables["sessions"].loc[1, "session_date"] = "2025-03-01"  # after E1's end
    path = write_export(tables, tmp_path, "csv")
    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", block)
    got = dnoutcomes.validate(path, mode="quarantine")
    # the same export, its outcomes out of episode order: the whole-array sort
    shuffled = dict(tables, outcomes=tables["outcomes"].iloc[::-1].reset_index(drop=True))
    whole = dnoutcomes.validate(write_export(shuffled, tmp_path / "whole", "csv"))
    dup = got.problems[got.problems["rule"] == "duplicate_timepoint"]
    n = len(tables["outcomes"])
    want = whole.problems[whole.problems["rule"] == "duplicate_timepoint"]
    assert sorted(dup["line"]) == sorted(n + 3 - want["line"])  # lines as reversed
    assert dup["line"].tolist() == [2, 3, 8, 9, 10, 11]
    assert got.problems["rule"].value_counts()["session_outside_episode"] == 1
    fine = dnoutcomes.validate(write_export(small_export(), tmp_path / "fine", "csv"))
    assert fine.valid


@pytest.mark.parametrize(
    "measure",
    [
        pd.Series(
            pd.Categorical(
                ["odi", None, "nprs", "odi", "psfs"], categories=["psfs", "odi", "nprs", "x"]
            )
        ),
        pd.Series(pd.Categorical([], categories=["odi"])),
        pd.Series(["odi", None, "nprs", "odi"], dtype="str"),
    ],
)
def test_measure_codes_are_int8_and_those_of_encoding_the_column(measure: pd.Series) -> None:
    from types import SimpleNamespace

    from dnoutcomes._encode import encode
    from dnoutcomes.contract.references import _measure_codes

    keys: dict = {}
    table = SimpleNamespace(name="outcomes", typed=pd.DataFrame({"measure": measure}))
    codes, values = _measure_codes(keys, table)  # type: ignore[arg-type]
    want, want_values = encode(measure)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, want)
    assert values.equals(want_values)
    assert keys[("outcomes", "measure")][0] is codes  # computed once
