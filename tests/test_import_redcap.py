"""``dnoutcomes import redcap``: the example project (raw and label exports), identifiers,
unmapped values, the de-identification screen, row accounting and exit codes."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO

import dnoutcomes.cli as cli
from dnoutcomes.cli import import_ as import_cli
from dnoutcomes.errors import DatasetError, RequestError
from dnoutcomes.importers import import_redcap, write_import

EXAMPLE = REPO / "data" / "examples" / "redcap"
DICT, RECORDS, LABELS, MAPPING = (
    EXAMPLE / "dictionary.csv",
    EXAMPLE / "records.csv",
    EXAMPLE / "records_labels.csv",
    EXAMPLE / "mapping.toml",
)
#: Values of identifier fields in the example records; none may reach an output file.
IDENTIFIERS = ("Jane Example", "John Example", "Ann Example", "jane@example.org",
               "john@example.org", "night shifts")  # fmt: skip


def _main(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """The real command line (``import`` is registered in :data:`dnoutcomes.cli.SUBCOMMANDS`)."""
    return cli.main(args)


def _cmd(out: Path, *extra: str, records: Path = RECORDS, dictionary: Path = DICT,
         mapping: Path = MAPPING) -> list[str]:  # fmt: skip
    return ["import", "redcap", "--dictionary", str(dictionary), "--records", str(records),
            "--mapping", str(mapping), "--out", str(out), *extra]  # fmt: skip


def _written(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


def test_example_raw_export_gives_the_contract_tables(tmp_path: Path) -> None:
    result = import_redcap(DICT, RECORDS, MAPPING)
    report = write_import(result, tmp_path / "out")
    assert report.valid and not result.problems
    t = result.tables
    assert t["patients"].to_dict("list") == {
        "patient_id": ["101", "102", "103"],
        "site_id": ["north", "south", "north"],
        "sex": ["female", "male", "female"],
        "age": ["45", "67", "90+"],
        "condition": ["myofascial_pain", "sciatica", "spinal_stenosis"],
        "symptom_weeks": ["10", "30", "52"],
        "contraindications": ["", "anticoagulants", ""],
    }
    assert t["episodes"]["episode_id"].tolist() == ["101-E1", "102-E1", "103-E1"]
    assert t["episodes"]["arm"].tolist() == ["dn_only", "dn_manual_exercise", "manual_exercise"]
    assert t["episodes"]["discharge_reason"].tolist() == ["goals_met", "goals_met", ""]
    s = t["sessions"]
    assert s["session_id"].tolist()[:3] == ["101-S1", "101-S2", "101-S3"]
    assert s["muscles"].tolist()[:4] == [
        "lumbar_multifidus;erector_spinae", "lumbar_multifidus;gluteus_medius",
        "lumbar_multifidus", "erector_spinae;piriformis",
    ]  # fmt: skip
    o = t["outcomes"]
    assert o["timepoint"].tolist()[:6] == ["baseline", "baseline", "discharge", "discharge",
                                           "followup_12w", "followup_12w"]  # fmt: skip
    assert o["measure"].tolist()[:2] == ["nprs", "odi"]
    assert o["value"].tolist()[:6] == ["7", "38", "3", "22", "2", "18"]
    assert t["adverse_events"].iloc[0].tolist() == ["101-AE1", "101-S1", "bruising", "mild", "2"]
    # the loaded dataset agrees with the tables
    assert report.dataset is not None
    assert report.dataset.episodes["arm"].tolist() == list(t["episodes"]["arm"])
    # accounting: every row of the records file used; identifiers named, never their values
    assert result.accounting.iloc[0][["read", "used", "not_used"]].tolist() == [18, 18, 0]
    issues = result.issues.set_index("kind")
    assert "patient_name, email" in issues.loc["identifier_field", "message"]
    assert "notes" in issues.loc["unmapped_field", "message"]
    text = _written(tmp_path / "out")
    assert not [v for v in IDENTIFIERS if v in text]


def test_label_export_gives_the_same_tables_as_the_raw_export() -> None:
    raw = import_redcap(DICT, RECORDS, MAPPING)
    labels = import_redcap(DICT, LABELS, MAPPING)
    assert raw.tables.keys() == labels.tables.keys()
    for name in raw.tables:
        pd.testing.assert_frame_equal(raw.tables[name], labels.tables[name])
    assert not labels.problems


def test_identifier_record_id_becomes_a_pseudonym_with_references_intact(
    tmp_path: Path,
) -> None:
    d = pd.read_csv(DICT, dtype=str, keep_default_na=False)
    d.loc[d["Variable / Field Name"] == "record_id", "Identifier?"] = "y"
    d.to_csv(tmp_path / "dict.csv", index=False)
    salt = tmp_path / "salt.bin"
    salt.write_bytes(b"k" * 32)
    result = import_redcap(tmp_path / "dict.csv", RECORDS, MAPPING, salt_file=salt)
    report = write_import(result, tmp_path / "out")
    assert report.valid  # episodes → patients, sessions → episodes… still resolve
    ids = result.tables["patients"]["patient_id"]
    assert ids.str.fullmatch(r"R[0-9a-f]{16}").all() and ids.nunique() == 3
    text = _written(tmp_path / "out")
    assert "101" not in text.replace("2025-", "")  # no record id, as id or inside one
    again = import_redcap(tmp_path / "dict.csv", RECORDS, MAPPING, salt_file=salt)
    assert again.tables["episodes"].equals(result.tables["episodes"])  # same salt, same ids


def test_unmapped_choice_code_is_reported_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING.read_text().replace('3 = "manual_exercise"\n', ""))
    code = _main(_cmd(tmp_path / "out", mapping=mapping), monkeypatch)
    out, err = capsys.readouterr()
    assert code == 1
    assert "arm: 1 value(s) have no entry in [episodes.values.arm] (3); left empty" in out
    assert pd.read_csv(tmp_path / "out" / "episodes.csv", dtype=str)["arm"].isna().sum() == 1
    assert "Traceback" not in out + err


def test_identifier_like_value_refuses_the_import_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records = pd.read_csv(RECORDS, dtype=str, keep_default_na=False)
    records.loc[0, "therapist"] = "pat.example@clinic.org"  # not flagged in the dictionary
    records.to_csv(tmp_path / "records.csv", index=False)
    with pytest.raises(DatasetError, match=r"episodes\.therapist_id \(identifier_value"):
        write_import(import_redcap(DICT, tmp_path / "records.csv", MAPPING), tmp_path / "a")
    assert not (tmp_path / "a").exists() and not list(tmp_path.glob(".a.*"))
    code = _main(_cmd(tmp_path / "b", records=tmp_path / "records.csv"), monkeypatch)
    out, err = capsys.readouterr()
    assert code == 1 and not (tmp_path / "b").exists()
    assert "clinic.org" not in out + err and "Nothing was written" in err


def test_every_row_is_accounted_for(tmp_path: Path) -> None:
    """Rows of an instrument no table maps, and rows whose key is empty, are counted and
    reported: used + not used = read."""
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING.read_text().split("[adverse_events]")[0])
    result = import_redcap(DICT, RECORDS, mapping)
    acc = result.accounting.iloc[0]
    assert (acc["read"], acc["used"], acc["not_used"]) == (18, 17, 1)
    unused = result.issues[result.issues["kind"] == "unused_rows"]
    assert unused["count"].tolist() == [1]
    assert "instrument adverse_event at event treatment" in unused["message"].iloc[0]
    assert not result.problems  # an instrument left out on purpose is no data problem
    # a template with an empty part gives an empty key: the row is skipped, and said so
    records = pd.read_csv(RECORDS, dtype=str, keep_default_na=False)
    records.loc[records["redcap_repeat_instrument"] == "adverse_event",
                "redcap_repeat_instance"] = ""  # fmt: skip
    records.to_csv(tmp_path / "records.csv", index=False)
    skipped = import_redcap(DICT, tmp_path / "records.csv", MAPPING)
    lines = skipped.issues[skipped.issues["kind"] == "skipped_rows"]
    assert lines[["table", "source", "count"]].values.tolist() == [
        ["adverse_events", "event_id", 1]
    ]
    assert "file lines 6" in lines["message"].iloc[0]
    assert skipped.problems and len(skipped.tables["adverse_events"]) == 0
    assert skipped.accounting.iloc[0][["used", "not_used"]].tolist() == [17, 1]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('instrument = "session"', 'instrument = "visits"'), "no form of the data dictionary"),
        (('needles = "ses_needles"', 'needles = "ses_needle"'), "no field of the data dict"),
        (("[redcap]", "[redcap]\nrecord = 1"), "unknown key(s) record"),
        (("[sessions]", "[visits]"), "unknown key(s) visits"),
        (('"{record_id}-E1"', '"{record_id-E1"'), "has an unpaired brace"),
        (('needles = "ses_needles"', "needles = { field = 1 }"), "must be a field name"),
        (('needles = "ses_needles"', "needles = 3"), "must be a field name"),
        (("3 = ", "3.x = "), "must be text"),
        (('events = ["enrolment_arm_1"]', 'events = "enrolment_arm_1"'), "events must be a list"),
    ],
)
def test_mapping_errors_name_the_section_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str],
    message: str,
) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text(MAPPING.read_text().replace(*edit, 1))
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_redcap(DICT, RECORDS, mapping)
    assert _main(_cmd(tmp_path / "out", mapping=mapping), monkeypatch) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err and message in err and not (tmp_path / "out").exists()


def test_unreadable_inputs_and_occupied_out_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.toml").write_text("[patients\n")
    (tmp_path / "not_dict.csv").write_text("a,b\n1,2\n")
    (tmp_path / "latin1.csv").write_bytes("record_id,site\n1,Zürich\n".encode("latin-1"))
    cases = [
        _cmd(tmp_path / "o", records=tmp_path / "missing.csv"),
        _cmd(tmp_path / "o", mapping=tmp_path / "bad.toml"),
        _cmd(tmp_path / "o", dictionary=tmp_path / "not_dict.csv"),
        _cmd(tmp_path / "o", records=tmp_path / "latin1.csv"),
    ]
    for args in cases:
        assert _main(args, monkeypatch) == 2
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("x")
    assert _main(_cmd(occupied), monkeypatch) == 2
    assert (occupied / "keep.txt").exists()
    assert _main(_cmd(occupied, "--force"), monkeypatch) == 0
    assert sorted(p.name for p in occupied.iterdir()) == [
        "adverse_events.csv", "episodes.csv", "import-report.json", "outcomes.csv",
        "patients.csv", "sessions.csv",
    ]  # fmt: skip
    _, err = capsys.readouterr()
    assert "Traceback" not in err


def test_json_report_and_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main([*_cmd(tmp_path / "out"), "--json"], monkeypatch) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"] == {"patients": 3, "episodes": 3, "sessions": 8, "outcomes": 12,
                           "adverse_events": 1}  # fmt: skip
    assert doc["valid"] is True and doc["problems"] is False
    written = json.loads((tmp_path / "out" / "import-report.json").read_text())
    assert written["validation"]["valid"] is True
    # the module's parser on its own, as cli/__init__.py will register it
    parser = argparse.ArgumentParser(prog="dnoutcomes")
    import_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["import", "fhir", "b.json", "--mapping", "m.toml", "--out", "o"])
    assert (args.source, args.bundle, args.run) == ("fhir", "b.json", import_cli.run)
    shutil.rmtree(tmp_path / "out")
