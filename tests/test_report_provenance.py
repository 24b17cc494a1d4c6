"""Provenance: SHA-256 digests against hashlib's known vectors, run-time normalisation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import dnoutcomes
from dnoutcomes.errors import RequestError, UnreadableInputError
from dnoutcomes.report.provenance import (
    describe_inputs,
    make_provenance,
    parse_run_time,
    sha256_file,
)

# FIPS 180-2 test vector for "abc".
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sha256_matches_published_vectors(tmp_path: Path) -> None:
    (tmp_path / "abc.csv").write_bytes(b"abc")
    (tmp_path / "empty.csv").write_bytes(b"")
    assert sha256_file(tmp_path / "abc.csv") == ABC_SHA256
    assert sha256_file(tmp_path / "empty.csv") == EMPTY_SHA256


def test_describe_inputs_sorted_and_shared_files_hashed_once(tmp_path: Path) -> None:
    book = tmp_path / "clinic.xlsx"
    book.write_bytes(b"abc")
    files = describe_inputs({"sessions": book, "episodes": book})
    assert [f.table for f in files] == ["episodes", "sessions"]
    assert {f.sha256 for f in files} == {ABC_SHA256}
    assert files[0].size_bytes == 3
    assert files[0].file == "clinic.xlsx"


def test_missing_input_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInputError, match="table patients"):
        describe_inputs({"patients": tmp_path / "patients.csv"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-01T09:00:00Z", "2025-10-01T09:00:00+00:00"),
        ("2025-10-01T11:00:00+02:00", "2025-10-01T09:00:00+00:00"),
        ("2025-10-01", "2025-10-01T00:00:00+00:00"),
        ("2025-10-01 09:00:00.123456", "2025-10-01T09:00:00+00:00"),
    ],
)
def test_parse_run_time(text: str, expected: str) -> None:
    assert parse_run_time(text) == expected


def test_parse_run_time_refuses_other_text() -> None:
    with pytest.raises(RequestError, match="--run-time: expected an ISO 8601"):
        parse_run_time("yesterday")


def test_parse_run_time_defaults_to_now() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    got = dt.datetime.fromisoformat(parse_run_time(None))
    assert before <= got <= dt.datetime.now(dt.UTC)


def test_make_provenance(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_bytes(b"abc")
    prov = make_provenance(
        {"patients": tmp_path / "patients.csv"},
        parameters={"site": None, "min_cell": 11},
        run_time="2025-10-01T09:00:00Z",
    )
    assert prov.package_version == dnoutcomes.__version__
    assert prov.parameters == (("min_cell", "11"), ("site", "none"))
    frame = prov.inputs_frame()
    assert list(frame.columns) == ["table", "file", "size_bytes", "sha256"]
    assert frame.loc[0, "sha256"] == ABC_SHA256
    doc = prov.to_dict()
    assert doc["run_time"] == "2025-10-01T09:00:00+00:00"
    assert doc["parameters"] == {"min_cell": "11", "site": "none"}
