"""The de-identification screen: column names and cell values that look like identifiers.

The package only accepts de-identified data. Every table, extra columns included, passes
two screens, applied to the text *as written* (before any typed parsing) after the
normalisation of :mod:`dnoutcomes.contract.deid_text` (NFKC, format characters removed,
confusables folded):

* :func:`identifier_column` — a column *name* that means a direct identifier (the
  vocabulary of :mod:`dnoutcomes.contract.deid_names`), and :func:`header_kind`, which also
  refuses a name that itself looks like an email address, telephone number or SSN;
* :func:`suspect_values` — a *cell* that looks like an email address (also written
  ``jo [at] example [dot] com`` or with spaces around ``@``), a telephone number
  (separators ``space . - /``, brackets, ``+`` or ``00`` country codes, a trunk ``0``), a US
  social security number (``-``, space or ``.``) or a date of birth in words (``DOB
  1931-04-02``);
* :func:`old_ages` — an exact age of 90 or more (a number in a column whose name has the
  token ``age``, or ``95 years`` / ``aged 95`` in text), which must arrive as ``90+``;
* :func:`quasi_values` — full UK postcodes and US ZIP+4 codes (warnings only);
* :func:`column_shapes` — whole cells of five digits (US ZIP codes) and full dates (dates
  of birth), which the table rules judge column by column (warnings only).

None of them ever returns or prints the suspect value itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes.contract.deid_names import identifier_column, tokens
from dnoutcomes.contract.deid_text import fold_arrow, fold_str

__all__ = [
    "AGE_TEXT",
    "DOB",
    "EMAIL",
    "PHONE",
    "PLAIN",
    "POSTCODE",
    "SSN",
    "BIRTH_TOKENS",
    "FULL_DATE",
    "ZIP5",
    "ZIP_TOKENS",
    "arrow_text",
    "column_shapes",
    "header_kind",
    "identifier_column",
    "is_age_column",
    "old_ages",
    "old_ages_columns",
    "quasi_columns",
    "quasi_values",
    "shown_header",
    "stack_text",
    "suspect_columns",
    "suspect_values",
]

_AT = r"(?:@|[\[({<] *(?:at|AT|At) *[\])}>])"
_DOT = r"(?:\.|[\[({<] *(?:dot|DOT|Dot) *[\])}>])"
EMAIL = (
    rf"[A-Za-z0-9._%+\-]+ *{_AT} *[A-Za-z0-9\-]+(?: *{_DOT} *[A-Za-z0-9\-]+)* *{_DOT} *"
    r"[A-Za-z]{2,}"
)
SSN = r"\b[0-9]{3}[- .][0-9]{2}[- .][0-9]{4}\b"
_SEP = r"[ .\-/]"
PHONE = (
    # North American 555-123-4567, (555) 123-4567, 555.123.4567, 555/123/4567
    rf"(?:\([0-9]{{3}}\) ?|\b[0-9]{{3}}{_SEP})[0-9]{{3}}{_SEP}[0-9]{{4}}\b"
    # international +44 20 7946 0958, +44 (0)20 7946 0958, +1-555-123-4567, 0044 20 7946 0958
    rf"|(?:\+|\b00)[1-9][0-9]{{0,2}}{_SEP}?(?:\(0\){_SEP}?)?\(?[0-9]{{1,4}}\)?"
    rf"(?:{_SEP}?[0-9]{{2,4}}){{2,4}}\b"
    # national with trunk 0 and a separator or brackets: 020 7946 0958, (0612) 345678
    rf"|(?:\(0[0-9]{{1,4}}\) ?|\b0[0-9]{{2,4}}{_SEP})[0-9]{{3,4}}{_SEP}?[0-9]{{3,4}}\b"
    # national with trunk 0 without separators: 07946095800
    r"|\b0[1-9][0-9]{8,9}\b"
)
#: A date of birth in words: ``DOB 1931-04-02``, ``born 2/4/1931``.
DOB = (
    r"\b(?:[Dd][Oo][Bb]|[Dd]\.[Oo]\.[Bb]|[Bb]orn|BORN|[Bb]irth ?[Dd]ate|BIRTH ?DATE)\b\.?"
    r"[ :]*[0-9]{1,4}[\-/.][0-9]{1,2}[\-/.][0-9]{1,4}"
)
_SUSPECT_PATTERN = f"(?:{EMAIL})|(?:{SSN})|(?:{PHONE})|(?:{DOB})"
#: A value made only of letters, digits and ``_``, not starting with ``0``, matches none of
#: the patterns (each needs ``@``, ``+``, a bracket, a separator, a ``0`` after a word
#: boundary, or a space, which such a value has only at its start): ids like ``P000123``
#: or ``south_pt2`` need no screen (checked in tests/test_deid.py).
PLAIN = r"[A-Za-z1-9_][A-Za-z0-9_]*"
# A necessary condition of every pattern above (checked in tests/test_deid.py). Digits are
# spelled [0-9]: RE2 (pyarrow) and Python's re then agree on what a digit is.
_PREFILTER = (
    r"[@+(\[{<]|[ .\-/][0-9]{3}|\b0[1-9][0-9]{8}|\b00[1-9]"
    r"|\b(?:[Dd][Oo][Bb]|[Dd]\.[Oo]|[Bb]orn|BORN|[Bb]irth|BIRTH)"
)
#: An exact age of 90 or more written in text: ``95 years``, ``92 yo``, ``aged 101``.
AGE_TEXT = (
    r"\b(?:9[0-9]|1[0-4][0-9]) *(?:[Yy]ears?|YEARS?|[Yy]rs?|YRS?|[Yy]\.? ?[Oo]\.?|[Jj]ahre)\b"
    r"|\b(?:[Aa]ged?|AGED?) *(?:9[0-9]|1[0-4][0-9])\b"
)
#: Full UK postcodes (``SW1A 1AA``) and US ZIP+4 codes (``12345-6789``): warnings.
POSTCODE = r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2}\b|\b[0-9]{5}-[0-9]{4}\b"
#: A whole cell of exactly five digits, as written (a US ZIP code when its column qualifies).
ZIP5 = r"^[0-9]{5}$"
#: A whole cell that is a full date, day precision: ``YYYY-MM-DD`` (a time may follow),
#: ``D/M/YYYY``, ``D.M.YYYY`` or ``D-M-YYYY`` (either order of day and month).
FULL_DATE = (
    r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[T ][0-9:.]+)?"
    r"|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{4})$"
)
#: Column-name tokens that hint a ZIP or postal code.
ZIP_TOKENS = frozenset(
    {"zip", "zipcode", "zips", "postal", "postcode", "plz", "postleitzahl", "cap", "cep"}
)
#: Column-name tokens that hint a birth date.
BIRTH_TOKENS = frozenset(
    {
        "dob", "birth", "birthdate", "birthday", "born", "bday", "geburt", "geburtsdatum",
        "geboren", "naissance", "nacimiento", "nascita", "geboorte", "geboortedatum",
    }
)  # fmt: skip
# a column name that is itself an identifier value (compiled once: a table can have
# thousands of columns)
_HEADER_VALUE = re.compile(f"(?:{_SUSPECT_PATTERN})|(?:{AGE_TEXT})", re.ASCII)
#: Column-name tokens of an age (an exact age of 90+ in such a column is refused).
AGE_TOKENS = frozenset({"age", "ages", "alter", "edad", "eta", "leeftijd", "idade"})


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _text(values: pd.Series) -> pa.Array:
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        arr = pa.array(values.array)  # the Arrow buffers themselves, no copy
    else:
        arr = pa.array(values.astype("str").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def header_kind(name: str) -> Literal["value", "name"] | None:
    """Whether a column name is refused, and why.

    Parameters
    ----------
    name
        The column name as it arrived.

    Returns
    -------
    {"value", "name", None}
        ``"value"``: the name itself looks like an identifier value (an email address, a
        telephone number, an exact age of 90+…), so it must never be shown; ``"name"``: it
        means a direct identifier (:func:`identifier_column`); None: it passes.

    Examples
    --------
    >>> header_kind("jo@example.com"), header_kind("email"), header_kind("nprs")
    ('value', 'name', None)
    """
    folded = fold_str(name)
    if _HEADER_VALUE.search(folded):
        return "value"
    if identifier_column(name):
        return "name"
    return None


def shown_header(name: str, position: int) -> str:
    """A column name as a message may show it.

    Examples
    --------
    >>> shown_header("nprs", 3), shown_header("+44 20 7946 0958", 3)
    ('nprs', '#3 (name not shown)')
    """
    return f"#{position} (name not shown)" if header_kind(name) == "value" else name


def is_age_column(name: str) -> bool:
    """Whether a column name has an age token (``exact_age``, ``age_years``, ``Alter``).

    Examples
    --------
    >>> is_age_column("exact_age"), is_age_column("Age (years)"), is_age_column("stage")
    (True, True, False)
    """
    return bool(AGE_TOKENS & set(tokens(name)))


def suspect_values(values: pd.Series) -> np.ndarray:
    """Which cells look like an email address, a telephone number, a US SSN or a date of
    birth in words.

    Parameters
    ----------
    values
        A column of text, as written (missing cells are never suspect).

    Returns
    -------
    numpy.ndarray
        Boolean, one element per cell.

    Notes
    -----
    The text is normalised first (:func:`~dnoutcomes.contract.deid_text.fold_arrow`).
    Patterns (see :data:`EMAIL`, :data:`SSN`, :data:`PHONE`, :data:`DOB`):
    ``name@host.tld`` (also ``[at]``, ``(dot)``, spaces around ``@``); ``ddd-dd-dddd``
    (or with spaces or dots); North American ``ddd-ddd-dddd`` / ``(ddd) ddd-dddd``,
    international numbers starting with ``+`` or ``00``, and national numbers with a trunk
    ``0`` (separators space, ``.``, ``-``, ``/``); ``DOB 1931-04-02``. ISO dates,
    decimals and plain digit runs without a leading ``0`` are not telephone numbers here.
    One RE2 regular expression (pyarrow compute) runs over the whole column.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.Series(["jo [at] example.com", "０７９４６０９５８００", "P0001", "123"])
    >>> suspect_values(cells).tolist()
    [True, True, False, False]
    """
    return _suspect(_text(values))


def arrow_text(values: pd.Series) -> pa.Array:
    """One column of text as one Arrow ``string`` array (zero-copy for Arrow-backed
    text, which is what the readers give).

    Examples
    --------
    >>> import pandas as pd
    >>> arrow_text(pd.Series(["a", None], dtype="str")).to_pylist()
    ['a', None]
    """
    return _text(values)


def stack_text(columns: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array:
    """Columns of text of the same length, one after the other, as one Arrow array.

    Parameters
    ----------
    columns
        Arrow text columns (:func:`arrow_text`).

    Returns
    -------
    pyarrow.Array
        ``len(columns) * n`` cells: the first column's, then the second's…; reshape a
        per-cell result to ``(len(columns), n)``.
    """
    parts: list[pa.Array] = []
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            parts.extend(column.chunks)
        else:
            parts.append(column)
    if not parts:
        return pa.array([], pa.string())
    if any(part.type != parts[0].type for part in parts):  # e.g. string and large_string
        parts = [part.cast(pa.large_string()) for part in parts]
    elif not (pa.types.is_string(parts[0].type) or pa.types.is_large_string(parts[0].type)):
        parts = [part.cast(pa.string()) for part in parts]
    return pa.concat_arrays(parts)


def _shape(columns: Sequence[pa.Array | pa.ChunkedArray]) -> tuple[int, int]:
    return len(columns), (len(columns[0]) if len(columns) else 0)


def suspect_columns(
    columns: Sequence[pa.Array | pa.ChunkedArray], stacked: pa.Array | None = None
) -> np.ndarray:
    """:func:`suspect_values` of many text columns in one pass.

    Parameters
    ----------
    columns
        Arrow text columns of the same length (:func:`arrow_text`).
    stacked
        Their cells as :func:`stack_text` gives them, when already at hand.

    Returns
    -------
    numpy.ndarray
        Boolean, shape (columns, rows).
    """
    k, n = _shape(columns)
    if k == 0 or n == 0:
        return np.zeros((k, n), dtype=bool)
    cells = stack_text(columns) if stacked is None else stacked
    return _per_distinct(cells, _suspect).reshape(k, n)


def _per_distinct(text: pa.Array, rule: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """``rule`` (one boolean per cell, False for a missing cell) applied once per distinct
    value of a large array and spread back to the cells by the dictionary codes: the
    stacked extra columns of a wide table repeat a few values many times."""
    if len(text) < 4096:
        return rule(text)
    encoded = pc.dictionary_encode(text)
    hit = np.append(rule(encoded.dictionary), False)  # the last: a missing cell
    codes = encoded.indices.fill_null(len(encoded.dictionary))
    return hit[np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)]


def _suspect(text: pa.Array) -> np.ndarray:
    arr = fold_arrow(text)
    out = np.zeros(len(arr), dtype=bool)
    # every pattern needs "@", "+", a bracket, a separator followed by three digits, a
    # trunk-0 run or a birth word: a cheap first pass that lets ids (P1100000_3), ISO
    # dates and decimals through without the full expression
    maybe = pc.match_substring_regex(arr, _PREFILTER)
    rows = np.flatnonzero(_bools(maybe))
    if len(rows) == 0:
        return out
    sub = arr.take(pa.array(rows))
    if len(rows) > 1000:
        # dates and other repetitive columns: the expression runs once per distinct value
        encoded = pc.dictionary_encode(sub)
        hit_d = _bools(pc.match_substring_regex(encoded.dictionary, _SUSPECT_PATTERN))
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        out[rows] = hit_d[codes]
    else:
        out[rows] = _bools(pc.match_substring_regex(sub, _SUSPECT_PATTERN))
    return out


def old_ages_columns(
    columns: Sequence[pa.Array | pa.ChunkedArray],
    ages: Sequence[bool],
    stacked: pa.Array | None = None,
) -> np.ndarray:
    """:func:`old_ages` of many text columns, the text rule in one pass.

    Parameters
    ----------
    columns
        Arrow text columns of the same length (:func:`arrow_text`).
    ages
        For each column, whether its name has an age token.
    stacked
        Their cells as :func:`stack_text` gives them, when already at hand.

    Returns
    -------
    numpy.ndarray
        Boolean, shape (columns, rows).
    """
    k, n = _shape(columns)
    if k == 0 or n == 0:
        return np.zeros((k, n), dtype=bool)
    cells = stack_text(columns) if stacked is None else stacked
    out = _per_distinct(cells, lambda t: _old_ages(t, age_column=False)).reshape(k, n)
    for j in np.flatnonzero(np.asarray(ages, dtype=bool)):
        column = columns[int(j)]
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        out[j] |= _old_ages(column, age_column=True)
    return out


def old_ages(values: pd.Series, *, age_column: bool) -> np.ndarray:
    """Which cells state an exact age of 90 or more.

    Parameters
    ----------
    values
        A column of text (as written).
    age_column
        Whether the column's name has an age token (:func:`is_age_column`): then a cell
        that is a number of 90 or more (``95``, ``95.0``, ``95 years``) is an exact age.

    Returns
    -------
    numpy.ndarray
        Boolean, one element per cell; ``95 years``, ``92 yo`` and ``aged 101`` in any cell.
    """
    return _old_ages(_text(values), age_column=age_column)


def _old_ages(text: pa.Array, *, age_column: bool) -> np.ndarray:
    arr = fold_arrow(text)
    out = np.zeros(len(arr), dtype=bool)
    if len(arr) == 0:
        return out
    digits = _bools(pc.match_substring_regex(arr, r"(?:9|1[0-4])[0-9]"))
    rows = np.flatnonzero(digits)
    if len(rows) == 0:
        return out
    sub = arr.take(pa.array(rows))
    hit = _bools(pc.match_substring_regex(sub, AGE_TEXT))
    if age_column:
        number = pc.extract_regex(sub, r"^(?P<n>[0-9]+(?:[.,][0-9]*)?) *[A-Za-z]*$")
        text = pc.replace_substring(pc.struct_field(number, [0]), ",", ".")
        ok = _bools(pc.is_valid(text))
        if ok.any():
            num = np.full(len(rows), np.nan)
            num[ok] = pc.cast(text.filter(pa.array(ok)), pa.float64()).to_numpy(
                zero_copy_only=False
            )
            with np.errstate(invalid="ignore"):
                hit |= num >= 90
    out[rows] = hit
    return out


def quasi_values(values: pd.Series) -> np.ndarray:
    """Which cells hold a full UK postcode or a US ZIP+4 code (quasi-identifiers).

    Parameters
    ----------
    values
        A column of text.

    Returns
    -------
    numpy.ndarray
        Boolean, one element per cell.
    """
    return _quasi(_text(values))


def quasi_columns(
    columns: Sequence[pa.Array | pa.ChunkedArray], stacked: pa.Array | None = None
) -> np.ndarray:
    """:func:`quasi_values` of many text columns in one pass; shape (columns, rows).
    ``stacked``: their cells as :func:`stack_text` gives them, when already at hand."""
    k, n = _shape(columns)
    if k == 0 or n == 0:
        return np.zeros((k, n), dtype=bool)
    return _per_distinct(stack_text(columns) if stacked is None else stacked, _quasi).reshape(k, n)


def _quasi(text: pa.Array) -> np.ndarray:
    arr = fold_arrow(text)
    if len(arr) == 0:
        return np.zeros(0, dtype=bool)
    return _bools(pc.match_substring_regex(arr, POSTCODE))


def column_shapes(
    columns: Sequence[pa.Array | pa.ChunkedArray], stacked: pa.Array | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell shapes of many text columns in one pass, for the column-level quasi-identifier
    rules (a column of ZIP codes, a column of dates of birth).

    Parameters
    ----------
    columns
        Arrow text columns of the same length (:func:`arrow_text`).
    stacked
        Their cells as :func:`stack_text` gives them, when already at hand.

    Returns
    -------
    filled, zip5, full_date, year
        Each of shape (columns, rows): a non-missing, non-blank cell; a cell of exactly
        five digits (:data:`ZIP5`, after trimming); a full date (:data:`FULL_DATE`); the
        year of a full date (NaN elsewhere). The values themselves are not returned.
    """
    k, n = _shape(columns)
    if k == 0 or n == 0:
        none = np.zeros((k, n), dtype=bool)
        return none, none, none, np.full((k, n), np.nan)
    cells = stack_text(columns) if stacked is None else stacked
    if len(cells) < 4096:
        shapes: list[np.ndarray] = list(_shapes(cells))
    else:  # once per distinct value, spread back by the dictionary codes
        encoded = pc.dictionary_encode(cells)
        codes = encoded.indices.fill_null(len(encoded.dictionary))
        at = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
        shapes = [
            np.append(part, np.nan if part.dtype.kind == "f" else False)[at]
            for part in _shapes(encoded.dictionary)
        ]
    filled, zip5, dated, year = (part.reshape(k, n) for part in shapes)
    return filled, zip5, dated, year


def _shapes(cells: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    arr = pc.utf8_trim_whitespace(fold_arrow(cells))
    filled = _bools(pc.greater(pc.utf8_length(arr), 0))
    zip5 = _bools(pc.match_substring_regex(arr, ZIP5))
    dated = _bools(pc.match_substring_regex(arr, FULL_DATE))
    year = np.full(len(arr), np.nan)
    rows = np.flatnonzero(dated)
    if len(rows):
        picked = arr.take(pa.array(rows))
        iso = _bools(pc.match_substring_regex(picked, r"^[0-9]{4}-"))
        first = pc.utf8_slice_codeunits(picked, 0, 4)
        last = pc.utf8_slice_codeunits(picked, -4)
        chosen = pc.if_else(pa.array(iso), first, last)
        year[rows] = np.asarray(pc.cast(chosen, pa.float64()).to_numpy(zero_copy_only=False))
    return filled, zip5, dated, year
