"""Apply the column specifications to one raw table: header screen (duplicate, identifier
and missing columns), wide outcomes reshaped to long, the value screen, and every column
parsed to its type with its problems recorded."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes._frames import category_codes
from dnoutcomes.contract.arrow import arrow_strings
from dnoutcomes.contract.deid import (
    BIRTH_TOKENS,
    ZIP_TOKENS,
    arrow_text,
    column_shapes,
    header_kind,
    is_age_column,
    old_ages_columns,
    quasi_columns,
    shown_header,
    stack_text,
)
from dnoutcomes.contract.deid_names import tokens
from dnoutcomes.contract.measures import MeasureRegistry
from dnoutcomes.contract.parse import (
    category_pick,
    codes_of,
    numbers_of,
    parse_column,
    screen_values,
)
from dnoutcomes.contract.problems import TableChecks, as_text
from dnoutcomes.contract.specs import OUTCOME_ID_COLUMNS, TABLES
from dnoutcomes.io import RawTable

__all__ = ["PreparedTable", "allowed_names", "prepare_table"]

_VALUE_HEADER = (
    "this column name looks like an identifier itself (an email address, a telephone "
    "number…; not shown); the package accepts only de-identified data. Rename or remove "
    "the column"
)
_NAME_HEADER = (
    "this column name means a direct identifier (names, contact details, record or "
    "account numbers, birth dates…); the package accepts only de-identified data. Remove "
    "the column from the export, or, if it holds nothing personal, allow it by name "
    "(allow_columns / --allow-column)"
)


def allowed_names(names: Collection[str]) -> frozenset[str]:
    """The allow-list as compared: names trimmed and case-folded.

    Parameters
    ----------
    names
        Column names a clinic knows to be safe.

    Returns
    -------
    frozenset of str
    """
    if isinstance(names, str):
        names = [names]
    return frozenset(str(n).strip().casefold() for n in names)


@dataclass
class PreparedTable:
    """One table after its own rules: raw columns, typed columns, problems so far.

    Attributes
    ----------
    name, raw
        The table and what was read.
    checks
        Problems and invalid rows (cross-table rules add to it later).
    text
        The raw columns used (long form for outcomes, all text): text, or the typed columns
        of the reader's fast path; extra columns as text.
    typed
        The typed contract columns, then the extra columns as text.
    extras
        Names of the extra columns.
    malformed
        Number of rows the reader could not split.
    source_columns
        Wide outcomes: the input column of each long row; else None.
    refs
        For each reference column, the row of the parent table it names (-1 when none);
        filled by the cross-table rules.
    repeated
        Rows whose key is repeated (filled by the cross-table rules).
    quasi
        Warnings about quasi-identifiers (full postcodes, ZIP codes, dates of birth) in
        extra columns.
    birth_dates
        Extra columns that are mostly full dates, judged as dates of birth once the
        episode dates are known: per column, its full-date cells, their years, and whether
        its name hints a birth date.
    """

    name: str
    raw: RawTable
    checks: TableChecks
    text: pd.DataFrame  # the raw columns used (long form for outcomes)
    typed: pd.DataFrame
    extras: list[str]
    malformed: int
    source_columns: np.ndarray | None = None  # wide outcomes: input column of each row
    refs: dict[str, np.ndarray] = field(default_factory=dict)
    repeated: np.ndarray | None = None
    quasi: TableChecks | None = None  # quasi-identifier warnings (not problems)
    birth_dates: dict[str, tuple[np.ndarray, np.ndarray, bool]] = field(default_factory=dict)


def _wide_to_long(
    raw: RawTable, frame: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Melt a wide outcomes table: one long row per non-empty measure cell, in file order.

    Typed columns are cast to their text first (the long form is all text)."""
    frame = pd.DataFrame({c: as_text(frame[c]) for c in frame.columns}, index=frame.index)
    ids = [c for c in OUTCOME_ID_COLUMNS if c in frame.columns]
    measures = [c for c in frame.columns if c not in OUTCOME_ID_COLUMNS]
    n, m = len(frame), len(measures)
    values = frame[measures].to_numpy(dtype=object).reshape(-1) if m else np.array([], object)
    filled = pd.notna(values)
    row = np.repeat(np.arange(n), m)[filled]
    col = np.tile(np.array(measures, dtype=object), n)[filled] if m else np.array([], object)
    long = pd.DataFrame({c: frame[c].to_numpy(dtype=object)[row] for c in ids})
    long["measure"] = col
    long["value"] = values[filled]
    long = long.astype("str")
    return long, raw.lines[row], col.astype(object), measures


def prepare_table(
    raw: RawTable, registry: MeasureRegistry, *, allow_columns: Collection[str] = ()
) -> PreparedTable:
    """Screen the header, reshape wide outcomes, parse every contract column.

    ``allow_columns``: column names (compared trimmed, case-folded) that the column-name
    vocabulary lets through; their values are still screened, and a name that looks like
    an identifier value (an email address…) is refused all the same.
    """
    allow = allowed_names(allow_columns)
    name = raw.name
    frame = raw.frame
    specs = TABLES[name]
    contract_cols = [s.name for s in specs]
    header_notes: list[tuple[str, str, str, bool]] = []

    seen: set[str] = set()
    keep: list[int] = []
    for i, header in enumerate(frame.columns):
        col = str(header)
        as_read = raw.columns_as_read[i] if i < len(raw.columns_as_read) else col
        kind = header_kind(as_read)
        shown = f"#{i + 1} (name not shown)" if kind == "value" else col
        if col in seen:
            header_notes.append(
                (
                    shown,
                    "duplicate_column",
                    f"the column {shown} appears twice; keep one column of that name",
                    True,
                )
            )
            continue
        seen.add(col)
        if kind == "value" or (kind == "name" and col.strip().casefold() not in allow):
            header_notes.append(
                (
                    shown,
                    "identifier_column",
                    _VALUE_HEADER if kind == "value" else _NAME_HEADER,
                    True,
                )
            )
            continue
        keep.append(i)
    if len(keep) < frame.shape[1]:
        frame = frame.iloc[:, keep]
    lines = raw.lines
    source_columns: np.ndarray | None = None
    wide = name == "outcomes" and "measure" not in frame.columns and "value" not in frame.columns
    if wide:
        frame, lines, source_columns, measures = _wide_to_long(raw, frame)
        for col in measures:
            if col not in registry:
                header_notes.append(
                    (
                        col,
                        "unknown_measure",
                        f"a wide outcomes file holds one column per measure, and {col} is not "
                        f"a measure of the registry ({', '.join(registry)}); rename the column "
                        "or register the measure",
                        False,
                    )
                )
    # extra columns stay text; a number of a CSV read on the fast path is quoted as written
    contract_all = set(contract_cols)
    typed_extras = [
        c
        for c, dtype in frame.dtypes.items()
        if c not in contract_all and not isinstance(dtype, pd.StringDtype)
    ]
    if typed_extras:
        frame = frame.assign(**{str(c): as_text(frame[c]) for c in typed_extras})
    # each text column taken out of the frame once, as Arrow (the screens) and as the
    # pandas array the typed frame keeps (an extra column): with thousands of columns,
    # taking columns out (frame[list]) and converting them again dominated the load
    text_arrow: dict[str, pa.Array] = {}
    extra_arrays: dict[str, Any] = {}
    for c, column in frame.items():
        key = str(c)
        if isinstance(column.dtype, pd.StringDtype):
            text_arrow[key] = arrow_text(column)
        if key not in contract_all:
            extra_arrays[key] = column.array
    text_of = None if wide or raw.text_table is None else _written(raw)
    checks = TableChecks(name, raw.file, lines, text_of)
    for col, rule, message, reject_all in header_notes:
        checks.add_header(col, rule, message + ".", reject_all=reject_all)
    present = set(frame.columns)
    for spec in specs:
        if spec.required and spec.name not in present:
            existing = (
                ", ".join(shown_header(str(c), k + 1) for k, c in enumerate(raw.columns_as_read))
                or "none"
            )
            checks.add_header(
                spec.name,
                "missing_column",
                f"the required column {spec.name} is missing (the columns are: {existing}). "
                "Add it, or rename the column that holds it.",
                reject_all=True,
            )

    decimal_comma = raw.delimiter == ";"
    typed: dict[str, Any] = {}
    for spec in specs:
        if name == "outcomes" and spec.name in ("measure", "value"):
            continue
        raw_col: pd.Series | None = frame[spec.name] if spec.name in present else None
        if raw_col is None and spec.required:
            # the missing column is reported once, on the header; parse NAs quietly
            parsed = parse_column(
                TableChecks(name, raw.file, lines, text_of),
                spec,
                None,
                decimal_comma=decimal_comma,
            )
        else:
            parsed = parse_column(checks, spec, raw_col, decimal_comma=decimal_comma)
        typed.update(parsed)
    if name == "outcomes":
        typed.update(_outcome_values(checks, frame, source_columns, registry, decimal_comma))
    # valid dates, numbers, booleans, categories and lists cannot look like an identifier:
    # only their invalid cells are screened; ids, labels and extra columns are screened whole
    safe_kinds = {"category", "integer", "number", "bool", "date", "age", "list"}
    safe = [s.name for s in specs if s.kind in safe_kinds]
    if name == "outcomes":
        safe += ["measure", "value"]
    none = np.zeros(checks.n, dtype=bool)
    only = {c: checks.cell_bad.get(c, none) for c in safe if c in present}
    for c, values in typed.items():
        # a number of telephone size is screened as written even when a registry measure
        # allows it (every contract range ends far below)
        if c in only and c not in ("age", "value"):
            big = _large(values)
            if big is not None:
                only[c] = only[c] | big
    if name == "outcomes" and "value" in only:
        big = _large(typed["value"])
        if big is not None:
            only["value"] = only["value"] | big
    screen_values(
        checks,
        frame,
        {"value": source_columns} if wide and source_columns is not None else None,
        only=only,
        text=text_arrow,
    )
    extras = list(extra_arrays)
    quasi, birth_dates = _screen_extras(checks, extras, text_arrow)
    if extras and not set(extras) & set(typed):
        # one frame of every column: adding thousands of columns one by one was quadratic
        typed_frame = pd.DataFrame(
            {**typed, **extra_arrays}, index=pd.RangeIndex(checks.n), copy=False
        )
    else:
        typed_frame = pd.DataFrame(typed, index=pd.RangeIndex(checks.n), copy=False)
        if extras:  # an extra column named like a derived one: both kept, as before
            more = frame[extras].set_axis(typed_frame.index, axis=0)
            typed_frame = pd.concat([typed_frame, more], axis=1)
    return PreparedTable(
        name,
        raw,
        checks,
        frame,
        typed_frame,
        extras,
        len(raw.malformed),
        source_columns,
        quasi=quasi,
        birth_dates=birth_dates,
    )


def _large(values: Any) -> np.ndarray | None:
    """Cells of a parsed number column of 100 000 or more (None: none)."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.api.extensions.ExtensionArray):
        if values.dtype.kind not in "iuf":
            return None
        num = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        num = np.asarray(values)
        if num.dtype.kind not in "iuf":
            return None
    with np.errstate(invalid="ignore"):  # two comparisons: no full-length |num| array
        big = num >= 1e5
        big |= num <= -1e5
    return big if big.any() else None


#: Share of a column's filled cells that must be five-digit codes (or full dates) for the
#: column to be judged as ZIP codes (or dates of birth).
COLUMN_SHARE = 0.8


def _zip_column(name: str, zip5: np.ndarray, filled: np.ndarray, text: pa.Array) -> bool:
    """Whether an extra column reads as US ZIP codes: at least :data:`COLUMN_SHARE` of its
    filled cells are exactly five digits as written, and either its name has a ZIP or
    postal token, or some code starts with ``0`` (written as text: no measurement is) and
    the codes repeat (a column of distinct codes is more likely a row id)."""
    count = int(filled.sum())
    if count == 0 or zip5.sum() < COLUMN_SHARE * count:
        return False
    if set(tokens(name)) & ZIP_TOKENS:
        return True
    codes = pc.utf8_trim_whitespace(text.filter(pa.array(zip5)))
    leading = bool(np.asarray(pc.starts_with(codes, "0").to_numpy(zero_copy_only=False)).any())
    return leading and len(pc.unique(codes)) < len(codes)


def _screen_extras(
    checks: TableChecks, extras: list[str], text: dict[str, pa.Array]
) -> tuple[TableChecks, dict[str, tuple[np.ndarray, np.ndarray, bool]]]:
    """Exact ages of 90 or more in extra columns (problems), and quasi-identifiers in
    them (warnings, returned with the columns of full dates that the dataset rules judge
    as dates of birth). Extra columns are text (``text``: their Arrow form); cells
    already withheld as identifiers are left to that rule. All the extra columns are
    screened together, stacked into one Arrow array."""
    quasi = TableChecks(checks.table, checks.file, checks.lines)
    births: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}
    if not extras:
        return quasi, births
    columns = [text[c] for c in extras]
    stacked = stack_text(columns)
    olds = old_ages_columns(columns, [is_age_column(c) for c in extras], stacked)
    nears = quasi_columns(columns, stacked)
    filled, zip5, dated, years = column_shapes(columns, stacked)
    shaped = zip(filled, zip5, dated, years, strict=True)
    for col, old, near, (full, five, date, year) in zip(extras, olds, nears, shaped, strict=True):
        held = checks.withheld.get(col)
        if held is not None:
            old = old & ~held
            near = near & ~held
            five = five & ~held
            date = date & ~held
        count = int(full.sum())
        if count and date.sum() >= COLUMN_SHARE * count:
            births[col] = (date, year, bool(set(tokens(col)) & BIRTH_TOKENS))
        if _zip_column(col, five, full, text[col]):
            quasi.add(
                five & ~old,
                col,
                "quasi_identifier",
                "the column looks like 5-digit US ZIP codes, which with other facts can "
                "identify a person (value not shown)",
                None,
                fix="Keep only the first three ZIP digits, or remove the column.",
                reject=False,
            )
        if old.any():
            checks.withheld[col] = old if held is None else old | held
            checks.add(
                old,
                col,
                "age_not_top_coded",
                "an exact age of 90 or more can identify a person and must arrive as the "
                "text 90+ (value not shown)",
                None,
                fix="Replace ages of 90 and over by 90+, or remove the column.",
            )
        near = near & ~old
        if near.any():
            quasi.add(
                near,
                col,
                "quasi_identifier",
                "the cell looks like a full postcode or ZIP+4 code, which with other facts "
                "can identify a person (value not shown)",
                None,
                fix="Keep only the postcode district (the first half) or the first three "
                "ZIP digits.",
                reject=False,
            )
    return quasi, births


def _written(raw: RawTable) -> Callable[[str], pd.Series | None]:
    """The text of a column exactly as written, from the same file read as text."""

    def text_of(column: str) -> pd.Series | None:
        if raw.text_table is None:
            return None
        text = raw.text_table()
        names = list(text.frame.columns)
        if column not in names or not np.array_equal(text.lines, raw.lines):
            return None
        return text.frame.iloc[:, names.index(column)]

    return text_of


def _outcome_values(
    checks: TableChecks,
    frame: pd.DataFrame,
    source_columns: np.ndarray | None,
    registry: MeasureRegistry,
    decimal_comma: bool,
) -> dict[str, Any]:
    """Check measure names against the registry, and each value against its measure."""
    n = checks.n
    measure_raw = (
        frame["measure"]
        if "measure" in frame.columns
        else pd.Series(pd.array([None] * n, dtype="str"))
    )
    value_raw = (
        frame["value"]
        if "value" in frame.columns
        else pd.Series(pd.array([None] * n, dtype="str"), name="value")
    )
    value_raw = value_raw.rename("value")
    if not isinstance(measure_raw.dtype, pd.StringDtype | pd.CategoricalDtype):
        measure_raw = as_text(measure_raw)
    where_m: str | np.ndarray = source_columns if source_columns is not None else "measure"
    where_v: str | np.ndarray = source_columns if source_columns is not None else "value"
    has_m = measure_raw.notna().to_numpy()
    reg = registry.to_frame()
    names = list(reg["name"])
    if isinstance(measure_raw.dtype, pd.CategoricalDtype):
        # the registry is matched once per category, then spread by the codes
        categories = as_text(pd.Series(measure_raw.cat.categories))
        cat_pos = np.append(codes_of(categories, names), -1).astype(_small_int(len(names)))
        pick = category_pick(category_codes(measure_raw), len(cat_pos) - 1)
        pos = cat_pos[pick]  # small integers: no full-length intp array
        known = pos >= 0
        cat_text = pc.utf8_lower(arrow_strings(categories)).to_pylist()
        cat_measure = np.array(
            [names[p] if p >= 0 else t for p, t in zip(cat_pos[:-1], cat_text, strict=True)]
            + [None],
            dtype=object,
        )
        # the typed measure as a categorical too (the Dataset keeps it so): a full-length
        # text column here was 0.3 GiB at a million episodes, alive through the checks
        label, names_used = pd.factorize(pd.Series(cat_measure, dtype="str"), sort=True)
        label = label.astype(_small_int(len(names_used)))
        measure = pd.Series(
            pd.Categorical.from_codes(label[pick], categories=names_used, validate=False),
            name="m",
        )
    else:
        pos = codes_of(measure_raw, names).astype(_small_int(len(names)))
        known = pos >= 0
        # the typed measure: the registry's name, else the text in lower case (a rejected row)
        lowered = pc.utf8_lower(arrow_strings(measure_raw))
        taken = pc.take(pa.array(names, pa.string()), pa.array(np.where(known, pos, 0)))
        measure = pa.table({"m": pc.if_else(pa.array(known), taken, lowered)}).to_pandas()["m"]
    if "measure" in frame.columns:
        checks.add(
            ~has_m,
            "measure",
            "missing_value",
            "measure is required",
            measure_raw,
            fix="Fill in the cell.",
        )
    checks.add(
        has_m & ~known,
        where_m,
        "unknown_measure",
        f"measure must be one of the registry's measures ({', '.join(registry)})",
        measure_raw,
        fix="Register further measures with MeasureRegistry.with_measure.",
    )
    num = numbers_of(value_raw, decimal_comma).to_numpy()
    has_v = value_raw.notna().to_numpy()
    isnum = ~np.isnan(num)
    if "value" in frame.columns:
        checks.add(
            ~has_v,
            where_v,
            "missing_value",
            "value is required",
            value_raw,
            fix="Fill in the cell, or leave the measurement out.",
        )
    # bounds by position in the registry; position -1 (an unknown measure) picks the last
    # entry, NaN / False, so that the unknown measure breaks no range rule of its own
    low_t = np.append(reg["low"].to_numpy(dtype=float), np.nan)
    high_t = np.append(reg["high"].to_numpy(dtype=float), np.nan)
    int_t = np.append(reg["integer"].to_numpy(dtype=bool), False)
    texts = np.array(
        [
            f"{m.name} must be {'a whole number' if m.integer else 'a number'} from "
            f"{m.low:g} to {m.high:g}"
            for m in registry.values()
        ]
        + ["value must be a number"],
        dtype=object,
    )

    def expected(rows: np.ndarray) -> np.ndarray:
        return np.asarray(texts[np.where(known[rows], pos[rows], len(texts) - 1)])

    checks.add(has_v & ~isnum, where_v, "not_a_number", expected, value_raw)
    outside, fraction = _value_rules(num, isnum, pos, low_t, high_t, int_t)
    checks.add(fraction, where_v, "not_whole", expected, value_raw)
    checks.add(outside, where_v, "out_of_range", expected, value_raw)
    return {"measure": measure, "value": num}


#: Rows per block of :func:`_value_rules`: its float buffer (8 MiB) is reused, not faulted in.
_BLOCK = 1 << 20


def _small_int(count: int) -> type[np.signedinteger[Any]]:
    """The smallest signed integer type that holds the positions -1 to ``count``."""
    for kind in (np.int8, np.int16, np.int32):
        if count <= np.iinfo(kind).max:
            return kind
    return np.int64


def _value_rules(
    num: np.ndarray,
    isnum: np.ndarray,
    pos: np.ndarray,
    low_t: np.ndarray,
    high_t: np.ndarray,
    int_t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which values are outside their measure's range, and which are not whole where the
    measure counts whole numbers.

    ``pos`` is each row's measure position in the tables ``low_t``, ``high_t`` and
    ``int_t`` (-1 picks their last entry: NaN, NaN, False). The bounds are gathered a block
    of rows at a time into one reused buffer: two full-length float arrays (and NumPy's
    ``intp`` copies of ``pos``) cost more, in fresh pages, than the comparisons.

    Returns
    -------
    outside, fraction
        Boolean, one per row; only where ``isnum``.
    """
    n = len(num)
    outside = np.empty(n, dtype=bool)
    fraction = np.empty(n, dtype=bool)
    buf = np.empty(min(n, _BLOCK))
    part = np.empty(min(n, _BLOCK), dtype=bool)
    with np.errstate(invalid="ignore"):
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            size = stop - start
            p, x, b, q = pos[start:stop], num[start:stop], buf[:size], part[:size]
            out, frac = outside[start:stop], fraction[start:stop]
            np.less(x, low_t[p], out=out)
            np.greater(x, high_t[p], out=q)
            out |= q
            out &= isnum[start:stop]
            np.floor(x, out=b)
            np.not_equal(b, x, out=frac)
            frac &= isnum[start:stop]
            frac &= int_t[p]
    return outside, fraction
