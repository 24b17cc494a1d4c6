"""The identifier vocabulary for column names.

A column name is normalised (:func:`~dnoutcomes.contract.deid_text.fold_str`: NFKC, format
characters removed, confusables folded; then accents removed and case folded) and cut into
*tokens*: at every character that is not a letter or digit, between a lower-case and an
upper-case letter (``birthDate``) and between letters and digits (``phone1``, ``zip5``,
``addr1``). It is refused when

* its tokens joined are a whole identifier name (:data:`NAMES`: ``name``, ``fullname``,
  ``mail``, ``city``…);
* one token is an identifier word (:data:`WORDS`: ``email``, ``phone``, ``tel``, ``dob``,
  ``yob``, ``zip``, ``postal``, ``addr``, ``passport``, ``vorname``, ``telefono``…), or
  starts or ends with an identifier stem (:data:`STEMS`: ``birth…``, ``geburts…``,
  ``…phone``);
* a run of its tokens is an identifier phrase (:data:`PHRASES`: ``med rec``,
  ``social security``, ``ip addr``, ``date of birth``…);
* a *name* token (``name``, ``nm``, ``nom``, ``nombre``…) comes with a person word
  (:data:`PERSONS`: ``pt``, ``patient``, ``client``, ``first``, ``last``, ``given``…);
* a *record* word (:data:`NUMBERED`: ``insurance``, ``nhs``, ``hospital``, ``cell``,
  ``account``, ``policy``, ``member``, ``ss``…) comes with a number word (``id``, ``no``,
  ``num``, ``number``, ``nr``…): ``insurance_id``, ``nhs_no``, ``hospital_number``,
  ``cell_no``, ``ss_no`` — but ``insurance_type`` passes.

A clinic that knows a refused column to be safe lists it in the allow-list (see
``docs/validation.md``); its values are still screened.
"""

from __future__ import annotations

import re
import unicodedata

from dnoutcomes.contract.deid_text import fold_str

__all__ = [
    "NAMES",
    "NUMBERED",
    "PERSONS",
    "PHRASES",
    "STEMS",
    "WORDS",
    "identifier_column",
    "tokens",
]

#: Whole names (tokens joined without separators).
NAMES: frozenset[str] = frozenset(
    {
        "name", "names", "fullname", "firstname", "lastname", "givenname", "familyname",
        "middlename", "forename", "forenames", "maidenname", "initials", "zipcode",
        "postalcode", "cellphone", "homephone", "mobile", "sin", "nino", "nhsnumber",
        "birthdate", "birthday", "dateofbirth", "url", "ip", "ipaddress", "vin",
        "licenseplate", "numberplate", "photo", "photograph", "picture", "city", "town",
        "mail", "website", "homepage", "cell", "nhs", "ssno", "hospitalnumber", "medrecno",
        "accountnumber", "contact", "nom", "nombre", "nome", "naam",
    }
)  # fmt: skip
#: Tokens that are identifiers wherever they appear.
WORDS: frozenset[str] = frozenset(
    {
        # English
        "email", "emails", "phone", "phones", "telephone", "tel", "fax", "ssn", "mrn",
        "dob", "yob", "surname", "surnames", "firstname", "lastname", "fname", "lname",
        "mname", "forename", "postcode", "postcodes", "zipcode", "zip", "postal",
        "address", "addresses", "addr", "street", "birthdate", "birthday", "url", "photo",
        "licence", "license", "vin", "mobile", "ipaddress", "passport", "iban", "medicare",
        "medicaid", "homepage", "website",
        # German
        "vorname", "nachname", "familienname", "telefon", "telefonnummer", "handy",
        "handynummer", "adresse", "anschrift", "strasse", "plz", "wohnort",
        "versichertennummer", "versicherungsnummer", "geburtsdatum", "geburtstag",
        # French
        "prenom", "courriel", "naissance",
        # Spanish / Portuguese / Italian
        "apellido", "apellidos", "telefono", "telefone", "movil", "correo", "direccion",
        "domicilio", "nacimiento", "dni", "cognome", "indirizzo", "cellulare", "nascita",
        "sobrenome", "endereco", "nascimento", "cpf",
        # Dutch
        "voornaam", "achternaam", "telefoon", "adres", "woonplaats", "bsn",
    }
)  # fmt: skip
#: A token starting or ending with one of these is an identifier word.
STEMS: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("birth", "geburt", "naissanc", "geboorte", "passport", "surname", "postcode", "zipcode"),
    ("phone", "phonenumber", "email", "postcode", "birthdate", "surname", "lastname"),
)
#: Runs of tokens that are identifiers.
PHRASES: tuple[tuple[str, ...], ...] = tuple(
    tuple(p.split())
    for p in (
        "e mail", "med rec", "medical record", "social security", "social insurance",
        "health plan", "health insurance", "serial number", "serial no", "device serial",
        "ip addr", "ip address", "date of birth", "date birth", "birth date", "birth dt",
        "post code", "postal code", "zip code", "phone number", "telephone number",
        "vehicle", "plate number", "web address", "home page", "street address",
        "codice fiscale", "code postal", "codigo postal", "tax id", "tax number",
        "national id", "national insurance", "driver licence", "driving licence",
        "bank account", "credit card", "card number",
    )
)  # fmt: skip
#: Name tokens, refused together with a person word.
_NAME_TOKENS: frozenset[str] = frozenset({"name", "names", "nm", "nom", "nombre", "nome", "naam"})
#: Person words: with a name token, the name of a person.
PERSONS: frozenset[str] = frozenset(
    {
        "pt", "pat", "patient", "patients", "client", "clients", "person", "first",
        "last", "given", "family", "full", "middle", "maiden", "sur", "user", "member",
        "guardian", "contact", "parent", "mother", "father", "spouse", "kin", "nok",
        "emergency", "f", "l", "m", "paciente", "patiente",
    }
)  # fmt: skip
#: Record words, refused together with a number word.
NUMBERED: frozenset[str] = frozenset(
    {
        "insurance", "insurer", "nhs", "hospital", "hosp", "cell", "account", "acct",
        "policy", "member", "beneficiary", "ss", "tax", "national", "chart", "case",
        "card", "subscriber", "health", "pt", "patient", "client", "medical", "med",
    }
)  # fmt: skip
_NUMBER_WORDS: frozenset[str] = frozenset(
    {"id", "no", "nos", "num", "number", "numbers", "nr", "nbr", "ref", "code", "identifier"}
)
# record words whose "id" is a pseudonymous key of the contract (patient_id, case_id…):
# only a *number* makes them identifiers (patient_number, case_no)
_ID_IS_KEY: frozenset[str] = frozenset({"pt", "patient", "client", "case", "member"})

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
_ALNUM = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")


def tokens(name: str) -> list[str]:
    """The tokens of a column name (see the module notes).

    Examples
    --------
    >>> tokens("Pt-Name"), tokens("birthDate"), tokens("phone1"), tokens("ｅｍａｉｌ")
    (['pt', 'name'], ['birth', 'date'], ['phone', '1'], ['email'])
    """
    text = fold_str(name)
    if not text.isascii():  # accents removed: prénom → prenom
        text = "".join(
            ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
        )
    text = _CAMEL.sub("_", text).casefold().replace("ß", "ss")
    text = _ALNUM.sub("_", _SPLIT.sub("_", text))
    return [t for t in text.split("_") if t]


_PHRASE_SET: frozenset[tuple[str, ...]] = frozenset(PHRASES)
_PHRASE_LENGTHS: tuple[int, ...] = tuple(sorted({len(p) for p in PHRASES}))
_PHRASE_FIRST: frozenset[str] = frozenset(p[0] for p in PHRASES)


def _has_phrase(toks: list[str]) -> bool:
    # a set look-up per (start, length): thousands of column names are checked per table
    for i, tok in enumerate(toks):
        if tok in _PHRASE_FIRST:
            for k in _PHRASE_LENGTHS:
                if tuple(toks[i : i + k]) in _PHRASE_SET:
                    return True
    return False


def identifier_column(name: str) -> bool:
    """Whether a column name means a direct identifier (see the module notes).

    Parameters
    ----------
    name
        The column name as it arrived.

    Returns
    -------
    bool
        True for ``email``, ``E-Mail``, ``pt_name``, ``fname``, ``birth_dt``, ``yob``,
        ``tel_no``, ``phone1``, ``nhs_no``, ``zip5``, ``ip_addr``, ``insurance_id``, a
        fullwidth ``ｅｍａｉｌ`` or an ``email`` spelled with a Cyrillic ``а``; False for
        the contract's columns and names such as ``insurance_type`` or ``referral_source``.

    Examples
    --------
    >>> identifier_column("client_name"), identifier_column("hospital_number")
    (True, True)
    >>> identifier_column("patient_id"), identifier_column("insurance_type")
    (False, False)
    """
    toks = tokens(name)
    if not toks:
        return False
    if "".join(toks) in NAMES:
        return True
    starts, ends = STEMS
    for tok in toks:
        if tok in WORDS or tok.startswith(starts) or tok.endswith(ends):
            return True
    if _has_phrase(toks):
        return True
    present = set(toks)
    if present & _NAME_TOKENS and present & PERSONS:
        return True
    numbers = present & _NUMBER_WORDS
    if numbers:
        for tok in present & NUMBERED:
            if tok not in _ID_IS_KEY or numbers - {"id", "code", "identifier"}:
                return True
    return False
