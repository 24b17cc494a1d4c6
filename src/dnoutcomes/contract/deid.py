"""The de-identification screen: column names and cell values that look like identifiers.

The package only accepts de-identified data. Two screens run on every table, extra columns
included:

* :func:`identifier_column` — a column *name* that means a direct identifier (HIPAA Safe
  Harbor list: names, address, city, ZIP/postcode, telephone, fax, email, SSN, medical
  record, health plan, account, licence, vehicle, device serial, URL, IP address, photo,
  birth date) is refused;
* :func:`suspect_values` — a *cell* that looks like an email address, a telephone number or
  a US social security number is refused.

Neither ever returns or prints the suspect value itself.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["EMAIL", "PHONE", "PLAIN", "SSN", "identifier_column", "suspect_values"]

# Whole normalised names (lower case, runs of non-alphanumerics → "_").
_NAMES: frozenset[str] = frozenset(
    {
        "name",
        "names",
        "fullname",
        "firstname",
        "lastname",
        "givenname",
        "familyname",
        "middlename",
        "forename",
        "forenames",
        "maidenname",
        "initials",
        "zip",
        "zipcode",
        "postcode",
        "postalcode",
        "tel",
        "cell",
        "cellphone",
        "mobile",
        "homephone",
        "ssn",
        "sin",
        "nino",
        "mrn",
        "nhsnumber",
        "dob",
        "birthdate",
        "birthday",
        "dateofbirth",
        "url",
        "ip",
        "ipaddress",
        "vin",
        "licenseplate",
        "numberplate",
        "photo",
        "photograph",
        "picture",
        "city",
        "town",
        "street",
        "address",
        "email",
        "mail",
        "fax",
        "phone",
        "telephone",
        "website",
        "homepage",
    }
)
# Words that are identifiers wherever they appear in a name (``home_address``,
# ``patient_email``, ``phone_number``).
_WORDS: frozenset[str] = frozenset(
    {
        "email",
        "phone",
        "telephone",
        "fax",
        "ssn",
        "mrn",
        "dob",
        "surname",
        "firstname",
        "lastname",
        "forename",
        "postcode",
        "zipcode",
        "zip",
        "address",
        "street",
        "birthdate",
        "birthday",
        "url",
        "photo",
        "licence",
        "license",
        "vin",
        "mobile",
        "city",
        "ipaddress",
    }
)
# Phrases (in the "_"-joined normalised name).
_PHRASES: tuple[str, ...] = (
    "e_mail",
    "first_name",
    "last_name",
    "given_name",
    "family_name",
    "full_name",
    "middle_name",
    "patient_name",
    "person_name",
    "maiden_name",
    "social_security",
    "social_insurance",
    "medical_record",
    "health_plan",
    "health_insurance",
    "insurance_number",
    "beneficiary",
    "account_number",
    "account_no",
    "bank_account",
    "serial_number",
    "device_serial",
    "serial_no",
    "ip_address",
    "date_of_birth",
    "birth_date",
    "post_code",
    "postal_code",
    "zip_code",
    "phone_number",
    "telephone_number",
    "vehicle",
    "plate_number",
    "web_address",
    "nhs_number",
)

EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
SSN = r"\b[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}\b"
PHONE = (
    # North American 555-123-4567, (555) 123-4567, 555.123.4567
    r"(\([0-9]{3}\)[ ]?|\b[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}\b"
    # international +44 20 7946 0958, +1-555-123-4567
    r"|\+[0-9]{1,3}[ .\-]?\(?[0-9]{1,4}\)?([ .\-]?[0-9]{2,4}){2,4}\b"
    # national with trunk 0 and a separator: 020 7946 0958, 0612-345678
    r"|\b0[0-9]{2,4}[ .\-][0-9]{3,4}[ .\-]?[0-9]{3,4}\b"
    # national with trunk 0 without separators: 07946095800
    r"|\b0[1-9][0-9]{8,9}\b"
)
_SUSPECT_PATTERN = f"(?:{EMAIL})|(?:{SSN})|(?:{PHONE})"
#: A value made only of letters, digits and ``_``, not starting with ``0``, matches none of
#: the patterns (each needs ``@``, ``+``, ``(``, a separator, or a ``0`` after a word
#: boundary, which such a value has only at its start): ids like ``P000123`` or
#: ``south_pt2`` need no screen (checked in tests/test_deid.py).
PLAIN = r"[A-Za-z1-9_][A-Za-z0-9_]*"
# A necessary condition of every pattern above (checked in tests/test_deid.py). Digits are
# spelled [0-9]: RE2 (pyarrow) and Python's re then agree on what a digit is.
_PREFILTER = r"[@+(]|[ .\-][0-9]{3}|\b0[1-9][0-9]{8}"


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def identifier_column(name: str) -> bool:
    """Whether a column name means a direct identifier.

    Parameters
    ----------
    name
        The column name as it arrived.

    Returns
    -------
    bool
        True for names such as ``email``, ``E-Mail``, ``first_name``, ``Surname``, ``dob``,
        ``mrn``, ``ssn``, ``phone_number``, ``postcode``, ``zip``, ``home_address``.

    Notes
    -----
    The name is lower-cased and every run of characters other than ``a-z 0-9`` becomes
    ``_``; it is refused when, without underscores, it is one of a list of identifier names,
    when one of its ``_``-separated words is an identifier word, or when it contains an
    identifier phrase (``social_security``, ``date_of_birth``…).
    """
    norm = _normalise(name)
    if not norm:
        return False
    if norm.replace("_", "") in _NAMES:
        return True
    if any(word in _WORDS for word in norm.split("_")):
        return True
    return any(phrase in norm for phrase in _PHRASES)


def suspect_values(values: pd.Series) -> np.ndarray:
    """Which cells look like an email address, a telephone number or a US SSN.

    Parameters
    ----------
    values
        A column of text (missing cells are never suspect).

    Returns
    -------
    numpy.ndarray
        Boolean, one element per cell.

    Notes
    -----
    Patterns (see :data:`EMAIL`, :data:`SSN`, :data:`PHONE`): ``name@host.tld``;
    ``ddd-dd-dddd`` (or with spaces); North American ``ddd-ddd-dddd`` / ``(ddd) ddd-dddd``,
    international numbers starting with ``+``, and national numbers with a trunk ``0``.
    ISO dates, decimals and plain digit runs without a leading ``0`` are not telephone
    numbers here. One RE2 regular expression (pyarrow compute) runs over the whole column.
    """
    arr = pa.array(values.astype("str").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    out = np.zeros(len(arr), dtype=bool)
    # every pattern needs "@", "+", "(", a separator followed by three digits, or a trunk-0
    # run: a cheap first pass that lets ids (P1100000_3), ISO dates and decimals through
    # without the full expression
    maybe = pc.match_substring_regex(arr, _PREFILTER)
    rows = np.flatnonzero(maybe.fill_null(False).to_numpy(zero_copy_only=False))
    if len(rows) == 0:
        return out
    sub = arr.take(pa.array(rows))
    if len(rows) > 1000:
        # dates and other repetitive columns: the expression runs once per distinct value
        encoded = pc.dictionary_encode(sub)
        found = pc.match_substring_regex(encoded.dictionary, _SUSPECT_PATTERN)
        hit_d = np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        out[rows] = hit_d[codes]
    else:
        found = pc.match_substring_regex(sub, _SUSPECT_PATTERN)
        out[rows] = np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    return out
