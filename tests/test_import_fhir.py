"""``dnoutcomes import fhir``: the example bundle, pseudonyms, what is never read, the
timepoint rule, unmapped codes, the de-identification screen and exit codes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnoutcomes.cli as cli
from dnoutcomes.errors import DatasetError, DnOutcomesError, RequestError, UnreadableInputError
from dnoutcomes.importers import import_fhir, write_import
from dnoutcomes.importers._mapping import load_mapping

EXAMPLE = REPO / "data" / "examples" / "fhir"
BUNDLE, MAPPING = EXAMPLE / "bundle.json", EXAMPLE / "mapping.toml"
#: What the example bundle holds that must never reach an output file.
NEVER = ("MRN", "00012345", "Jane", "Example", "Springfield", "99999", "555-010",
         "1979-06-14", "1933", "prac-7", "eoc-1", "enc-1", "pat-2", "org-north", "obs-",
         "Free text")  # fmt: skip


def _main(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    return cli.main(args)


def _bundle() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(BUNDLE.read_text(encoding="utf-8"))
    return doc


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_example_bundle_gives_the_contract_tables(tmp_path: Path) -> None:
    result = import_fhir(BUNDLE, MAPPING)
    report = write_import(result, tmp_path / "out")
    assert report.valid and not result.problems
    t = result.tables
    p = t["patients"]
    # age: year of the first episode start minus birth year (2025 - 1979; 2025 - 1933 → 90+);
    # symptom weeks: onset 2025-01-06 to start 2025-03-03 = 56 days
    assert p[["site_id", "sex", "age", "condition", "contraindications"]].values.tolist() == [
        ["north", "female", "46", "myofascial_pain", ""],
        ["north", "male", "90+", "spinal_stenosis", "anticoagulants"],
    ]
    assert p["symptom_weeks"].iloc[0] == "8"
    days = (pd.Timestamp("2025-03-05") - pd.Timestamp("2024-03-04")).days
    assert float(p["symptom_weeks"].iloc[1]) == pytest.approx(days / 7)
    e = t["episodes"]
    assert e[["start_date", "end_date", "arm", "discharge_reason"]].values.tolist() == [
        ["2025-03-03", "2025-03-24", "dn_manual_exercise", "goals_met"],
        ["2025-03-05", "", "manual_exercise", ""],
    ]
    assert e["therapist_id"].nunique() == 1 and e["therapist_id"].iloc[0].startswith("T")
    s = t["sessions"]
    assert s[["session_date", "dn_performed", "needles", "muscles", "manual_therapy",
              "duration_min"]].values.tolist() == [
        ["2025-03-03", "true", "6", "lumbar_multifidus", "true", "45"],
        ["2025-03-10", "true", "6", "lumbar_multifidus", "true", "45"],
        ["2025-03-24", "false", "", "", "true", "30"],
        ["2025-03-05", "false", "", "", "true", "60"],
    ]  # fmt: skip
    o = t["outcomes"]
    assert o[["assessed_on", "timepoint", "measure", "value"]].values.tolist() == [
        ["2025-03-03", "baseline", "nprs", "7"],
        ["2025-03-03", "baseline", "odi", "38"],
        ["2025-03-10", "session", "nprs", "5"],  # no extension: the timing rule
        ["2025-03-24", "discharge", "nprs", "3"],
        ["2025-03-24", "discharge", "odi", "24.5"],
        ["2025-05-27", "followup_12w", "nprs", "2"],  # 12.1 weeks after the start
        ["2025-03-05", "baseline", "nprs", "6"],
        ["2025-03-05", "baseline", "rmdq", "14"],  # a QuestionnaireResponse item
    ]
    assert o["session_id"].iloc[5] == ""  # no encounter: episode found by date
    assert set(o["session_id"]) - {""} <= set(s["session_id"])
    assert t["adverse_events"][["type", "severity", "reporter", "resolved_days"]].values.tolist() \
        == [["bruising", "mild", "patient", "3"]]  # fmt: skip
    # accounting: the body-weight Observation is the only resource not used, and said so
    acc = result.accounting.set_index("source")
    assert (acc["used"] + acc["not_used"] == acc["read"]).all()
    assert acc["not_used"].sum() == 1 and acc.loc["Observation", "not_used"] == 1
    assert "Observation http://loinc.org|29463-7" in result.issues["source"].tolist()
    text = "\n".join(f.read_text() for f in (tmp_path / "out").iterdir())
    assert [v for v in NEVER if v in text] == []


def test_every_id_is_a_pseudonym_stable_with_a_salt_file_only(tmp_path: Path) -> None:
    salt = tmp_path / "salt"
    salt.write_bytes(b"s" * 32)
    a = import_fhir(BUNDLE, MAPPING, salt_file=salt)
    b = import_fhir(BUNDLE, MAPPING, salt_file=salt)
    c = import_fhir(BUNDLE, MAPPING)
    patterns = {"patient_id": "P", "episode_id": "E", "session_id": "S", "event_id": "AE"}
    for name, frame in a.tables.items():
        pd.testing.assert_frame_equal(frame, b.tables[name])
        for col, prefix in patterns.items():
            if col in frame and name != "outcomes":
                assert frame[col].str.fullmatch(prefix + "[0-9a-f]{16}").all(), (name, col)
    assert set(a.tables["patients"]["patient_id"]).isdisjoint(c.tables["patients"]["patient_id"])
    # referential integrity within one run
    assert set(a.tables["episodes"]["patient_id"]) == set(a.tables["patients"]["patient_id"])


def test_an_unmapped_organization_gets_a_pseudonym(tmp_path: Path) -> None:
    mapping = load_mapping(MAPPING)
    del mapping["patients"]["sites"]
    result = import_fhir(BUNDLE, mapping)
    assert result.tables["patients"]["site_id"].str.fullmatch("site_[0-9a-f]{16}").all()


def test_timing_false_skips_measurements_without_a_timepoint() -> None:
    mapping = load_mapping(MAPPING)
    mapping["outcomes"]["timing"] = False
    result = import_fhir(BUNDLE, mapping)
    assert len(result.tables["outcomes"]) == 6 and result.problems
    line = result.issues[result.issues["source"] == "timepoint"]
    assert line["count"].tolist() == [2]


def test_unresolvable_references_and_statuses_are_skipped_and_reported(tmp_path: Path) -> None:
    doc = _bundle()
    extra = copy.deepcopy([e for e in doc["entry"] if e["resource"]["id"] == "eoc-2"][0])
    extra["resource"].update(id="eoc-3", patient={"reference": "Patient/nobody"})
    wrong = copy.deepcopy([e for e in doc["entry"] if e["resource"]["id"] == "obs-1"][0])
    wrong["resource"].update(id="obs-9", status="entered-in-error")
    doc["entry"] += [extra, wrong, {"fullUrl": "urn:uuid:x"}]
    result = import_fhir(_write(tmp_path, doc), MAPPING)
    kinds = result.issues[result.issues["kind"] == "skipped_rows"]
    assert sorted(kinds["source"]) == ["Bundle.entry", "EpisodeOfCare", "Observation"]
    assert result.problems and len(result.tables["episodes"]) == 2
    acc = result.accounting.set_index("source")
    assert acc.loc["EpisodeOfCare", "not_used"] == 1 and acc.loc["Observation", "not_used"] == 2


def test_identifier_like_value_refuses_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _bundle()
    for entry in doc["entry"]:
        if entry["resource"]["id"] == "enc-1-dn":
            entry["resource"]["extension"][0] = {
                "url": "https://clinic.example.org/fhir/StructureDefinition/needles",
                "valueCode": "555-010-0199",
            }
    path = _write(tmp_path, doc)
    with pytest.raises(DatasetError, match=r"sessions\.needles \(identifier_value, 1 row"):
        write_import(import_fhir(path, MAPPING), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    code = _main(["import", "fhir", str(path), "--mapping", str(MAPPING), "--out",
                  str(tmp_path / "b")], monkeypatch)  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1 and "555" not in out + err and not (tmp_path / "b").exists()


def test_bad_inputs_exit_2_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "patient.json").write_text('{"resourceType": "Patient", "id": "x"}')
    (tmp_path / "map.toml").write_text('[outcomes]\ntimepoint = "x"\n')
    with pytest.raises(UnreadableInputError, match="resourceType is 'Patient'"):
        import_fhir(tmp_path / "patient.json", MAPPING)
    with pytest.raises(RequestError, match=r"mapping \[outcomes\]: unknown key\(s\) timepoint"):
        import_fhir(BUNDLE, tmp_path / "map.toml")
    for bundle, mapping in [
        ("broken.json", MAPPING),
        ("patient.json", MAPPING),
        ("missing.json", MAPPING),
        (str(BUNDLE), tmp_path / "map.toml"),
    ]:
        args = ["import", "fhir", str(tmp_path / bundle), "--mapping", str(mapping), "--out",
                str(tmp_path / "o")]  # fmt: skip
        assert _main(args, monkeypatch) == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_free_text_is_never_read(tmp_path: Path) -> None:
    """A measure answered in words, and free-text items, leave nothing in the export: only
    numbers (or number text) are values."""
    doc = _bundle()
    for entry in doc["entry"]:
        if entry["resource"]["id"] == "obs-3":
            del entry["resource"]["valueInteger"]
            entry["resource"]["valueString"] = "Jane says it hurts less"
    result = import_fhir(_write(tmp_path, doc), MAPPING)
    assert len(result.tables["outcomes"]) == 7 and result.problems
    assert "without an episode" in " ".join(result.issues["message"])  # …, a date or a value
    text = "".join(frame.to_csv() for frame in result.tables.values())
    assert "Jane" not in text and "Free text" not in text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                               max_size=3),
    max_leaves=6,
)  # fmt: skip


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_shape_of_resource_gives_a_report_never_a_traceback(data: st.DataObject) -> None:
    """Replace one element of one resource of the example by any JSON value: the import
    reports, skips or refuses, but never raises anything but the package's own errors."""
    doc = _bundle()
    entry = data.draw(st.sampled_from(doc["entry"]))
    keys = sorted(k for k in entry["resource"] if k not in ("resourceType",))
    key = data.draw(st.sampled_from([*keys, "status", "extension"]))
    entry["resource"][key] = data.draw(JSON)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), doc)
        try:
            result = import_fhir(path, MAPPING)
        except DnOutcomesError:
            return
    acc = result.accounting
    assert (acc["used"] + acc["not_used"] == acc["read"]).all()
