"""The de-identification screen: identifier column names and identifier-looking values."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnoutcomes.contract import deid
from dnoutcomes.contract.deid import identifier_column, suspect_values
from dnoutcomes.contract.deid_text import fold_str

REFUSED_NAMES = [
    "email",
    "E-Mail",
    "e_mail",
    "first_name",
    "FirstName",
    "surname",
    "last name",
    "dob",
    "DOB",
    "date_of_birth",
    "birth_date",
    "mrn",
    "medical_record_number",
    "ssn",
    "social_security_no",
    "phone_number",
    "Telephone",
    "mobile",
    "fax",
    "postcode",
    "zip",
    "ZIP code",
    "postal_code",
    "home_address",
    "street",
    "city",
    "patient_name",
    "name",
    "ip_address",
    "url",
    "photo",
    "health_plan_id",
    "account_number",
    "licence_no",
    "vehicle_plate",
    "device_serial",
    "nhs_number",
]
ALLOWED_NAMES = [
    "patient_id",
    "site_id",
    "sex",
    "age",
    "condition",
    "symptom_weeks",
    "contraindications",
    "episode_id",
    "therapist_id",
    "start_date",
    "end_date",
    "arm",
    "discharge_reason",
    "session_id",
    "session_date",
    "dn_performed",
    "needles",
    "max_depth_mm",
    "muscles",
    "twitch_response",
    "electrical_stimulation",
    "manual_therapy",
    "exercise_therapy",
    "postural_correction",
    "pain_education",
    "modalities",
    "duration_min",
    "assessed_on",
    "timepoint",
    "measure",
    "value",
    "event_id",
    "type",
    "severity",
    "reporter",
    "resolved_days",
    "nprs",
    "odi",
    "lumbar_flexion_deg",
    "insurance_type",
    "note",
    "referral_source",
    "bmi",
    "smoker",
]


@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_identifier_names_are_refused(name: str) -> None:
    assert identifier_column(name)


@pytest.mark.parametrize("name", ALLOWED_NAMES)
def test_contract_and_clinical_names_pass(name: str) -> None:
    assert not identifier_column(name)


SUSPECT = [
    "jo.bloggs@example.com",
    "write to a_b+c@clinic.co.uk please",
    "555-123-4567",
    "(555) 123-4567",
    "555.123.4567",
    "+44 20 7946 0958",
    "+1-555-123-4567",
    "020 7946 0958",
    "07946095800",
    "123-45-6789",
    "SSN 123 45 6789",
]
CLEAN = [
    "2025-01-16",
    "5.4",
    "10818",
    "P1100000",
    "S11000001",
    "E1100000",
    "90+",
    "erector_spinae;gluteus_maximus",
    "1e3",
    "0.25",
    "2025-01-16T10:00",
    "120",
    "AE1100001",
    "lumbar stiffness 3/10 at 09:30",
    "12345678",
]


def test_suspect_values_are_found_and_clean_ones_pass() -> None:
    got = suspect_values(pd.Series(SUSPECT + CLEAN + [None], dtype="str"))
    assert got[: len(SUSPECT)].tolist() == [True] * len(SUSPECT)
    assert got[len(SUSPECT) :].tolist() == [False] * (len(CLEAN) + 1)


def test_clinic_a_has_no_suspect_values(clinic_a_path: object) -> None:
    from pathlib import Path

    for file in Path(str(clinic_a_path)).glob("*.csv"):
        frame = pd.read_csv(file, dtype="str", keep_default_na=False)
        for col in frame.columns:
            assert not suspect_values(frame[col]).any(), (file.name, col)


@settings(max_examples=200, deadline=None)
@given(text=st.from_regex(re.compile(deid._SUSPECT_PATTERN, re.ASCII)))
def test_prefilter_is_a_necessary_condition(text: str) -> None:
    # suspect_values only runs the full expression on what the pre-filter lets through;
    # both see the text after normalisation (NFKC can turn "¹" after a match into a digit)
    folded = fold_str(text)
    found = re.search(deid._SUSPECT_PATTERN, folded, re.ASCII)
    if found:
        assert re.search(deid._PREFILTER, folded, re.ASCII)
    assert suspect_values(pd.Series([text], dtype="str"))[0] == bool(found)


@settings(max_examples=200, deadline=None)
@given(text=st.from_regex(re.compile(deid._SUSPECT_PATTERN, re.ASCII)))
def test_no_suspect_value_is_plain(text: str) -> None:
    # the screen skips plain ids: every text a pattern finds must fail PLAIN
    assert not re.fullmatch(deid.PLAIN, text, re.ASCII)


@settings(max_examples=200, deadline=None)
@given(text=st.from_regex(re.compile(f"^{deid.PLAIN}$", re.ASCII), fullmatch=True))
def test_plain_values_are_never_suspect(text: str) -> None:
    assert not re.search(deid._SUSPECT_PATTERN, text, re.ASCII)
    assert not suspect_values(pd.Series([text, "0" + text, text + "@x.org"], dtype="str"))[0]


def test_plain_ids_are_plain_and_valid_ids() -> None:
    from dnoutcomes.contract.parse import ID_PATTERN, PLAIN_ID

    ids = ["P000123", "south_pt2", "_x", "9", "0123456789", "E-1", "a" * 64, "a" * 65, "é"]
    plain = [bool(re.fullmatch(PLAIN_ID, i)) for i in ids]
    assert plain == [True, True, True, True, False, False, True, False, False]
    for text, is_plain in zip(ids, plain, strict=True):
        if is_plain:
            assert re.fullmatch(deid.PLAIN, text) and re.fullmatch(ID_PATTERN, text)


def test_plain_ids_skip_the_screen_but_others_do_not() -> None:
    import numpy as np

    from dnoutcomes.contract.parse import parse_column, screen_values
    from dnoutcomes.contract.problems import TableChecks
    from dnoutcomes.contract.specs import ColumnSpec

    ids = pd.Series(["P1", "0612345678", "555-123-4567", "x@y.org", None], dtype="str")
    checks = TableChecks("patients", "patients.csv", np.arange(2, 7))
    parse_column(checks, ColumnSpec("patient_id", "id", required=False), ids)
    assert checks.plain["patient_id"].tolist() == [True, False, False, False, False]
    screen_values(checks, pd.DataFrame({"patient_id": ids}))
    assert checks.withheld["patient_id"].tolist() == [False, True, True, True, False]


def test_plain_ids_found_by_kernels_match_the_pattern() -> None:
    import numpy as np
    import pyarrow as pa

    from dnoutcomes.contract.parse import PLAIN_ID, _plain_ids

    ids = ["P1", "0P", "a_b", "a-b", "é1", "Ab9", "x" * 64, "x" * 65, "_", "09", None]
    present = np.array([v is not None for v in ids])
    got = _plain_ids(pa.array(ids, pa.string()), present)
    expected = [v is not None and bool(re.fullmatch(PLAIN_ID, v)) for v in ids]
    assert got.tolist() == expected
