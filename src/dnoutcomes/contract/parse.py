"""Parse and check one raw column against its :class:`ColumnSpec`, vectorised.

:func:`parse_column` turns a column of text (or a column the reader already typed: numbers,
dates, booleans, categories) into its typed form and records what is wrong in the table's
:class:`~dnoutcomes.contract.problems.TableChecks`; :func:`screen_values` runs the
de-identification screen on the cells that could hold an identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes._frames import category_codes
from dnoutcomes.contract.arrow import arrow_strings, positions
from dnoutcomes.contract.deid import arrow_text, suspect_columns, suspect_values
from dnoutcomes.contract.problems import TableChecks, as_text
from dnoutcomes.contract.specs import BOOL_FALSE, BOOL_TRUE, ColumnSpec

__all__ = [
    "category_pick",
    "codes_of",
    "numbers_of",
    "parse_column",
    "parse_numbers",
    "screen_values",
]

ID_PATTERN = r"[A-Za-z0-9_\-]{1,64}"
LABEL_PATTERN = r"[a-z0-9_]+"
DATE_PATTERN = r"\d{4}-\d{2}-\d{2}"
# the days datetime64[ns] holds, in seconds since 1970-01-01
_NS_FIRST, _NS_LAST = "1677-09-22", "2262-04-11"
_NS_FIRST_S = int(np.datetime64(_NS_FIRST, "s").astype(np.int64))
_NS_LAST_S = int(np.datetime64(_NS_LAST, "s").astype(np.int64))
#: A valid id that is also :data:`dnoutcomes.contract.deid.PLAIN` (at most 64 characters)
PLAIN_ID = r"[A-Za-z1-9_][A-Za-z0-9_]{0,63}"


def _fmt(x: float) -> str:
    return f"{x:g}"


_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _np_bool(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def parse_numbers(raw: pd.Series, decimal_comma: bool) -> pd.Series:
    """Parse decimal numbers (``1``, ``-2.5``, ``1e3``; ``2,5`` with ``decimal_comma``).

    Text that is not such a number (``inf``, ``nan``, ``1.2.3``) becomes NaN. One regular
    expression pass and one cast, in Arrow.
    """
    arr = arrow_strings(raw)
    if decimal_comma:
        arr = pc.replace_substring_regex(arr, r"^([+-]?[0-9]+),([0-9]+)$", r"\1.\2")
    ok = _np_bool(pc.match_substring_regex(arr, _NUMBER))
    out = np.full(len(arr), np.nan)
    if ok.any():
        rows = np.flatnonzero(ok)
        vals = pc.cast(arr.take(pa.array(rows)), pa.float64())
        out[rows] = np.asarray(vals.to_numpy(zero_copy_only=False), dtype=float)
    out[~np.isfinite(out)] = np.nan
    return pd.Series(out, index=raw.index, dtype="float64")


def _is_number(dtype: Any) -> bool:
    return not isinstance(dtype, pd.CategoricalDtype) and dtype.kind in "iuf"


def _is_date(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "M"


def _is_bool(dtype: Any) -> bool:
    return isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool)


def numbers_of(raw: pd.Series, decimal_comma: bool) -> pd.Series:
    """:func:`parse_numbers` for any raw column: a typed number column is taken as it is.

    Parameters
    ----------
    raw
        Text, or a column the reader typed.
    decimal_comma
        Accept ``5,4`` for 5.4 in text.

    Returns
    -------
    pandas.Series
        float64, NaN where a cell is missing or not a finite number.
    """
    if _is_number(raw.dtype):
        values = raw.to_numpy() if raw.dtype == np.float64 else raw.to_numpy(float, na_value=np.nan)
        return pd.Series(values, index=raw.index, copy=False)  # no copy of a float column
    return parse_numbers(as_text(raw), decimal_comma)


def codes_of(raw: pd.Series, levels: Sequence[str]) -> np.ndarray:
    """Position of each value in ``levels`` (-1 when absent), compared in lower case."""
    codes = positions(raw, levels)
    retry = raw.notna().to_numpy() & (codes < 0)
    if retry.any():
        codes[retry] = positions(raw[retry].str.lower(), levels)
    return codes


def _plain_ids(text: pa.Array, present: np.ndarray) -> np.ndarray:
    """Which cells are plain ids (:data:`PLAIN_ID`).

    ASCII letters and digits not starting with ``0`` (at most 64 bytes) are found with
    Arrow's character-class kernels, twice as fast as the regular expression, which runs
    only on the other cells (ids with ``_``, and everything that is not plain).
    """
    simple = pc.and_(pc.ascii_is_alnum(text), pc.invert(pc.starts_with(text, "0")))
    ok = _np_bool(simple)
    longest = pc.max(pc.binary_length(text)).as_py()
    if longest is not None and longest > 64:
        ok &= _np_bool(pc.less_equal(pc.binary_length(text), 64))
    rest = np.flatnonzero(present & ~ok)
    if len(rest):
        sub = text.take(pa.array(rest))
        ok[rest] = _np_bool(pc.match_substring_regex(sub, f"^{PLAIN_ID}$"))
    return ok


def _range_text(spec: ColumnSpec, integer: bool) -> str:
    kind = "a whole number" if integer else "a number"
    return f"{spec.name} must be {kind} from {_fmt(spec.low or 0)} to {_fmt(spec.high or 0)}"


def _parse_list(raw: pd.Series, levels: Sequence[str]) -> tuple[pd.Series, np.ndarray, pd.Series]:
    """Split ``;`` lists once per distinct cell. Returns tuples, bad mask, unknown items."""
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    allowed = set(levels)
    parsed: list[tuple[str, ...]] = []
    unknown: list[str] = []
    for cell in uniques:
        items = tuple(dict.fromkeys(x.strip().lower() for x in str(cell).split(";") if x.strip()))
        parsed.append(items)
        unknown.append(", ".join(x for x in items if x not in allowed))
    table = np.empty(len(parsed) + 1, dtype=object)
    table[:-1] = parsed
    table[-1] = ()
    unk = np.array(unknown + [""], dtype=object)
    pick = np.where(codes >= 0, codes, len(parsed))
    values = pd.Series(table[pick], index=raw.index, dtype=object)
    bad_items = unk[pick]
    return values, bad_items != "", pd.Series(bad_items, index=raw.index, dtype=object)


class _Recorder(TableChecks):
    """Checks of the distinct values of a categorical column, replayed on its rows."""

    def __init__(self, n: int) -> None:
        super().__init__("", "", np.zeros(n, dtype=np.int64))
        self.calls: list[tuple[Any, ...]] = []

    def add(  # type: ignore[override]
        self,
        mask: np.ndarray | pd.Series,
        column: str,
        rule: str,
        expected: str,
        got: pd.Series | None = None,
        *,
        fix: str = "",
        reject: bool = True,
        record: bool = True,
    ) -> None:
        m = np.asarray(mask, dtype=bool)
        self.calls.append((m, column, rule, expected, got is not None, fix, reject, record))

    def replay(self, checks: TableChecks, pick: np.ndarray, raw: pd.Series) -> None:
        """Record each problem at the rows of the categories that have it."""
        for mask, column, rule, expected, shown, fix, reject, record in self.calls:
            checks.add(
                mask[pick],
                column,
                rule,
                expected,
                raw if shown else None,
                fix=fix,
                reject=reject,
                record=record,
            )
        for column, held in self.withheld.items():
            checks.withheld[column] = held[pick] | checks.withheld.get(
                column, np.zeros(checks.n, bool)
            )


def _and_missing(categories: pd.Series) -> Any:
    """The text ``categories`` and one missing value after them, as a ``str`` array built in
    Arrow: through a Python list (``tolist``) the six million session ids of a million
    episodes' outcomes (a run column) were 0.5 GiB of Python strings at the load's peak."""
    arrow = pa.array(categories.array)  # no copy for Arrow-backed text
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks()
    if arrow.type != pa.large_string():
        arrow = arrow.cast(pa.large_string())
    return pd.array(pa.concat_arrays([arrow, pa.nulls(1, pa.large_string())]), dtype="str")


def category_pick(codes: np.ndarray, missing: int) -> np.ndarray:
    """The category codes of a column with ``missing`` in place of -1 (a missing cell),
    kept in the codes' own small integer type when ``missing`` fits in it.

    NumPy's fancy indexing gathers with small integers directly, in buffered blocks; an
    ``intp`` copy of the codes (eight bytes a row), or ``numpy.take`` and pandas' ``take``
    (which make one), cost a fresh full-length array each, and at 19 million outcome rows
    a fresh array costs more in page faults than the gather itself.

    Parameters
    ----------
    codes
        The category codes (-1 for a missing cell).
    missing
        The position that stands for a missing cell.

    Returns
    -------
    numpy.ndarray
        One non-negative position per row.
    """
    if len(codes) == 0 or codes.min() >= 0:
        return codes  # no missing cell: the codes themselves
    kind = codes.dtype if missing <= np.iinfo(codes.dtype).max else np.dtype(np.int64)
    return np.where(codes >= 0, codes, np.array(missing, dtype=kind))


def _spread(value: Any, pick: np.ndarray) -> Any:
    """One output of a column parsed per distinct value, taken back to the rows (``pick``:
    small non-negative integers, gathered without an ``intp`` copy where possible)."""
    if isinstance(value, pd.Series):
        array = value.array
        if isinstance(array, pd.Categorical):
            codes = array.codes[pick]  # the codes of the rows, in the codes' own type
            taken: Any = pd.Categorical.from_codes(codes, dtype=array.dtype, validate=False)
        else:
            taken = array.take(pick)
        return pd.Series(taken, dtype=value.dtype, name=value.name, copy=False)  # new
    if isinstance(value, np.ndarray):
        return value[pick]
    if isinstance(value, pd.Categorical):
        return pd.Categorical.from_codes(value.codes[pick], dtype=value.dtype, validate=False)
    return value.take(pick)


def _fits(kind: str, dtype: Any) -> bool:
    """Whether a typed column of ``dtype`` is parsed as it is for a column of ``kind``."""
    if kind in ("integer", "number", "age"):
        return _is_number(dtype)
    if kind == "date":
        return _is_date(dtype)
    if kind == "bool":
        return _is_bool(dtype)
    return False


def parse_column(
    checks: TableChecks,
    spec: ColumnSpec,
    raw: pd.Series | None,
    *,
    decimal_comma: bool = False,
) -> dict[str, Any]:
    """Parse one contract column and record its problems.

    Parameters
    ----------
    checks
        Where problems go.
    spec
        The column's specification.
    raw
        The column as read (trimmed text, missing = empty cell; or typed, see
        :attr:`dnoutcomes.io.RawTable.frame`), or ``None`` when the input lacks this
        optional column.
    decimal_comma
        Accept ``5,4`` for 5.4 (semicolon-separated files).

    Returns
    -------
    dict
        Typed column(s) by name: the column itself, and for ``age`` also
        ``age_top_coded``.

    Notes
    -----
    Missing cells of a required column break the rule ``missing_value``; those of an
    optional column become NA (``()`` for a list, ``<NA>`` for an optional bool).
    Categories, booleans, labels and list items are compared in lower case.

    A typed column gives the same result as its text would: numbers for ``integer``,
    ``number`` and ``age``, dates for ``date`` and booleans for ``bool`` are checked as
    they are; a categorical column is parsed once per category and the results spread to
    the rows by the category codes (an ``id`` column stays the categorical it is, the same
    values: the ids of a million outcomes are not spread back to text); any other typed
    column is parsed as its text (:func:`~dnoutcomes.contract.problems.as_text`).
    """
    if raw is None:
        raw = pd.Series(pd.array([None] * checks.n, dtype="str"))
    dtype = raw.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = as_text(pd.Series(dtype.categories))
        text = pd.Series(_and_missing(categories), name=raw.name)
        pick = category_pick(category_codes(raw), len(categories))
        recorder = _Recorder(len(text))
        parsed = _parse(recorder, spec, text, decimal_comma)
        recorder.replay(checks, pick, raw)
        if spec.kind == "id":  # the ids are their own text: kept as codes (RUN_COLUMNS)
            return {spec.name: raw}
        return {k: _spread(v, pick) for k, v in parsed.items()}
    if not isinstance(dtype, pd.StringDtype) and not _fits(spec.kind, dtype):
        raw = as_text(raw)
    return _parse(checks, spec, raw, decimal_comma)


def _parse(
    checks: TableChecks, spec: ColumnSpec, raw: pd.Series, decimal_comma: bool
) -> dict[str, Any]:
    """:func:`parse_column` for text, or a typed column that fits the kind."""
    n = checks.n
    name = spec.name
    present = np.asarray(raw.notna().to_numpy(), dtype=bool)
    if spec.required:
        checks.add(
            ~present, name, "missing_value", f"{name} is required", raw, fix="Fill in the cell."
        )
    out: dict[str, Any] = {}
    kind = spec.kind
    if kind == "id":
        # a plain id (letters, digits, _; not starting with 0) is valid and needs no
        # identifier screen; the full pattern runs on the other cells only
        text = arrow_strings(raw)
        ok = _plain_ids(text, present)
        checks.plain[name] = ok.copy()
        rest = np.flatnonzero(present & ~ok)
        if len(rest):
            sub = text.take(pa.array(rest))
            ok[rest] = _np_bool(pc.match_substring_regex(sub, f"^{ID_PATTERN}$"))
        checks.add(
            present & ~ok,
            name,
            "invalid_id",
            f"{name} must be 1 to 64 characters of A-Z a-z 0-9 _ -",
            raw,
        )
        out[name] = raw.astype("str")
    elif kind == "label":
        low = raw.str.lower()
        ok = low.str.fullmatch(LABEL_PATTERN).fillna(False).to_numpy(dtype=bool)
        checks.add(
            present & ~ok, name, "invalid_label", f"{name} must be a label of a-z 0-9 _", raw
        )
        out[name] = low.astype("str")
    elif kind == "category":
        codes = codes_of(raw, spec.levels)
        ok = codes >= 0
        checks.add(
            present & ~ok,
            name,
            "unknown_category",
            f"{name} must be one of {', '.join(spec.levels)}",
            raw,
        )
        out[name] = pd.Categorical.from_codes(
            codes, categories=pd.Index(list(spec.levels)), ordered=spec.ordered
        )
    elif kind in ("integer", "number"):
        num = numbers_of(raw, decimal_comma)
        isnum = num.notna().to_numpy()
        checks.add(
            present & ~isnum, name, "not_a_number", _range_text(spec, kind == "integer"), raw
        )
        vals = num.to_numpy()
        if kind == "integer":
            whole = np.isnan(vals) | (np.floor(vals) == vals)
            checks.add(isnum & ~whole, name, "not_whole", _range_text(spec, True), raw)
        if spec.low is not None and spec.high is not None:
            with np.errstate(invalid="ignore"):
                inside = (vals >= spec.low) & (vals <= spec.high)
            checks.add(
                isnum & ~inside, name, "out_of_range", _range_text(spec, kind == "integer"), raw
            )
        out[name] = (
            pd.array(np.where(isnum, np.round(vals), 0).astype("int64"), dtype="Int64")
            if kind == "integer"
            else num
        )
        if kind == "integer":
            out[name][~isnum] = pd.NA
    elif kind == "bool":
        if _is_bool(raw.dtype):
            known = present
            is_true = raw.to_numpy(dtype=bool, na_value=False)
        else:
            truthy = sorted(BOOL_TRUE)
            codes = codes_of(raw, truthy + sorted(BOOL_FALSE))
            is_true = (codes >= 0) & (codes < len(truthy))
            known = codes >= 0
        checks.add(
            present & ~known,
            name,
            "invalid_bool",
            f"{name} must be true/false (or 1/0, yes/no, y/n, t/f)",
            raw,
        )
        if spec.required:
            out[name] = is_true
        else:
            arr = pd.array(is_true, dtype="boolean")
            arr[~known] = pd.NA
            out[name] = arr
    elif kind == "date" and _is_date(raw.dtype):
        stamps = raw.to_numpy(dtype="datetime64[ns]")
        out[name] = pd.Series(stamps, index=raw.index, copy=False)
    elif kind == "date":
        # a column holds few distinct dates (hundreds in millions of rows): check and parse
        # each distinct text once, then spread the result back by the dictionary codes
        encoded = pc.dictionary_encode(arrow_strings(raw))
        text = encoded.dictionary
        shaped = _np_bool(pc.match_substring_regex(text, f"^{DATE_PATTERN}$"))
        distinct = np.full(len(text) + 1, np.datetime64("NaT"), dtype="datetime64[ns]")
        far_d = np.zeros(len(text) + 1, dtype=bool)
        if shaped.any():
            rows = np.flatnonzero(shaped)
            sub = text.take(pa.array(rows))
            # seconds hold the years 1 to 9999; a real date outside what datetime64[ns]
            # holds (1677-09-22 to 2262-04-11) breaks the range rule, not the date rule
            parsed = pc.strptime(sub, format="%Y-%m-%d", unit="s", error_is_null=True)
            # Arrow rolls 2025-02-30 over to March: a real date prints back as it was read
            real = _np_bool(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), sub))
            secs = np.asarray(parsed.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
            inside = (secs >= _NS_FIRST_S) & (secs <= _NS_LAST_S)
            found = (np.where(inside, secs, 0) * 10**9).view("datetime64[ns]")
            distinct[rows] = np.where(real & inside, found, np.datetime64("NaT"))
            far_d[rows] = real & ~inside
        codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False))
        stamps = distinct[codes]  # code -1 (a missing cell) picks the NaT at the end
        far = far_d[codes]
        ok = ~np.isnat(stamps)
        checks.add(
            present & ~ok & ~far,
            name,
            "invalid_date",
            f"{name} must be a date written YYYY-MM-DD",
            raw,
            fix="Export dates in ISO format, e.g. 2025-01-31.",
        )
        checks.add(
            far,
            name,
            "out_of_range",
            f"{name} must be a date from {_NS_FIRST} to {_NS_LAST}",
            raw,
        )
        out[name] = pd.Series(stamps, index=raw.index)
    elif kind == "list":
        values, bad, unknown = _parse_list(raw, spec.levels)
        checks.add(
            bad,
            name,
            "unknown_list_item",
            f"{name} must be ;-separated items of {', '.join(spec.levels)}",
            raw,
        )
        out[name] = values
    elif kind == "age":
        if _is_number(raw.dtype):
            top = np.zeros(n, dtype=bool)
            vals = numbers_of(raw, decimal_comma).to_numpy()
        else:
            low = raw.str.replace(" ", "", regex=False)
            top = (low == "90+").to_numpy(dtype=bool)
            vals = parse_numbers(raw.where(~top), decimal_comma).to_numpy()
        isnum = ~np.isnan(vals)
        checks.add(
            present & ~top & ~isnum,
            name,
            "not_a_number",
            "age must be a whole number of years from 16 to 89, or the text 90+",
            raw,
        )
        with np.errstate(invalid="ignore"):
            old = isnum & (vals >= 90)
            wrong = isnum & ~old & ((vals < 16) | (np.floor(vals) != vals))
        checks.withheld[name] = old | checks.withheld.get(name, np.zeros(n, bool))
        checks.add(
            old,
            name,
            "age_not_top_coded",
            "an age of 90 or more can identify a person and must arrive as the text "
            "90+ (value not shown)",
            None,
            fix="Replace ages of 90 and over by 90+.",
        )
        checks.add(
            wrong,
            name,
            "out_of_range",
            "age must be a whole number of years from 16 to 89, or the text 90+",
            raw,
        )
        out[name] = np.where(top, 90.0, vals)
        out["age_top_coded"] = top | old
    else:  # pragma: no cover - the specs only use the kinds above
        raise ValueError(f"unknown column kind {kind!r}")
    return out


def screen_values(
    checks: TableChecks,
    frame: pd.DataFrame,
    columns: dict[str, np.ndarray] | None = None,
    *,
    only: dict[str, np.ndarray] | None = None,
    text: Mapping[str, pa.Array] | None = None,
) -> None:
    """Run the de-identification value screen on the columns of a raw table.

    Parameters
    ----------
    checks
        Where problems go; suspect cells are also marked withheld there, so that no message
        shows them (messages are built after the screen).
    frame
        The raw table (text, or typed columns of the fast path).
    columns
        For a column whose cells came from several input columns (wide outcomes), the input
        column name of each row.
    only
        For some columns, the only cells to screen (a typed column's valid values cannot
        look like an identifier: dates, numbers in range, booleans, categories); the other
        columns are screened whole.
    text
        The Arrow form (:func:`~dnoutcomes.contract.deid.arrow_text`) of text columns,
        when the caller already has it (a wide table: no column is taken out again).

    Notes
    -----
    A categorical column is screened once per category and the result spread to its rows;
    a number, date or boolean column of the fast path is screened only where the text path
    would have screened it (in the cells of ``only``, or whole when the column is not in
    ``only``), as written in the file when the table has its text
    (``checks.text_of``: a CSV read on the fast path), else as its text
    (:func:`~dnoutcomes.contract.problems.as_text`). The
    cells ``checks.plain`` marks (plain ids) are skipped: no pattern can match them.
    """
    dtypes = frame.dtypes
    # text columns screened whole (extra columns, labels…): one pass over all their cells
    whole = [
        str(c)
        for c, dtype in dtypes.items()
        if isinstance(dtype, pd.StringDtype)
        and not (only is not None and str(c) in only)
        and str(c) not in checks.plain
    ]
    if whole:
        known = text or {}
        found = suspect_columns([known[c] if c in known else arrow_text(frame[c]) for c in whole])
        for key, hit in zip(whole, found, strict=True):
            _record(checks, key, hit, columns)
    done = set(whole)
    for name in frame.columns:
        key = str(name)
        if key in done:
            continue
        values = frame[name]
        rows: np.ndarray | None = None
        if only is not None and key in only:
            sel = only[key] & values.notna().to_numpy()
            rows = np.flatnonzero(sel)
            if len(rows) == 0:
                continue
        hit = np.zeros(checks.n, dtype=bool)
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            # once per distinct value, spread to the rows by the category codes
            suspect = np.append(suspect_values(as_text(pd.Series(dtype.categories))), False)
            if not suspect.any():
                continue
            codes = category_codes(values)
            hit = suspect[np.where(codes >= 0, codes, len(suspect) - 1)]
            if rows is not None:
                hit = hit & sel
        elif isinstance(dtype, pd.StringDtype):
            plain = checks.plain.get(key)
            if rows is None and plain is not None:
                rows = np.flatnonzero(~plain & values.notna().to_numpy())
            if rows is None:
                hit = suspect_values(values)
            elif len(rows):
                hit[rows] = suspect_values(values.iloc[rows])
        else:
            # a typed number, date or boolean: its text is screened only where the text
            # path would have screened it (an invalid cell, or a column screened whole)
            if rows is None:
                rows = np.flatnonzero(values.notna().to_numpy())
            if len(rows):
                # as written: the float of "07946095800" has lost its trunk 0, the float of
                # "+447946095800" its "+"; the file read as text still has them
                written = None
                if checks.text_of is not None and dtype.kind == "f":
                    written = checks.text_of(key)
                shown = as_text(values.iloc[rows]) if written is None else written.iloc[rows]
                hit[rows] = suspect_values(shown)
        _record(checks, key, hit, columns)


def _record(
    checks: TableChecks, key: str, hit: np.ndarray, columns: dict[str, np.ndarray] | None
) -> None:
    """Withhold and report the suspect cells of one column."""
    if not hit.any():
        return
    checks.withheld[key] = hit | checks.withheld.get(key, np.zeros(checks.n, bool))
    where: str | np.ndarray = (columns or {}).get(key, key)
    checks.add(
        hit,
        where,
        "identifier_value",
        "the cell looks like an email address, telephone number or social "
        "security number (value not shown); the package accepts only "
        "de-identified data",
        None,
        fix="Remove identifiers from the export.",
    )
