"""The rules across tables: unique ids, references, dates within the episode, one
baseline / discharge / follow-up per episode and measure, and the quarantine cascade.

Each key column is encoded once, together with the columns that refer to it
(:func:`dnoutcomes._encode.encode_shared`: integer codes in one code space per key, so the
same code is the same id in every table; hashed, or, for sorted ids of one length, found
by binary search); duplicate ids are a :func:`numpy.bincount`, a
reference is the parent's first row of the child's code, and every later step (parent
values, the same-episode rule, duplicate baselines, the cascade, the Dataset's derived
columns and the warnings) works on the integer row positions kept in
``PreparedTable.refs``. Messages are built only for the rows that break a rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from dnoutcomes._encode import encode, encode_shared
from dnoutcomes._frames import blocks, category_codes
from dnoutcomes.contract.specs import TABLE_KEYS
from dnoutcomes.contract.tables import PreparedTable as _Table

__all__ = ["Codes", "KeyCodes", "Rows", "cascade", "cross_checks"]

#: integer row positions or codes (int32 unless a table has 2**31 rows); -1 means none
Rows = NDArray[np.signedinteger[Any]]
#: integer codes of a column (-1 where missing) and the distinct values they stand for
Codes = tuple[Rows, pa.Array]
#: the codes of each key column, by ``(table, column)``
KeyCodes = dict[tuple[str, str], Codes]

#: the columns hashed together: a table's id first, then the columns that refer to it
_SHARED = (
    (("patients", "patient_id"), ("episodes", "patient_id")),
    (("episodes", "episode_id"), ("sessions", "episode_id"), ("outcomes", "episode_id")),
    (("sessions", "session_id"), ("outcomes", "session_id"), ("adverse_events", "session_id")),
    (("adverse_events", "event_id"),),
)


def _encode_keys(t: dict[str, _Table]) -> KeyCodes:
    keys: KeyCodes = {}
    for group in _SHARED:
        present = [(name, col) for name, col in group if name in t]
        if not present:
            continue
        codes, values = encode_shared([t[name].typed[col] for name, col in present])
        keys.update({where: (c, values) for where, c in zip(present, codes, strict=True)})
    return keys


def _codes(keys: KeyCodes, t: _Table, column: str) -> Codes:
    """The codes of ``t.typed[column]``, computed once."""
    found = keys.get((t.name, column))
    if found is None:
        found = encode(t.typed[column])
        keys[(t.name, column)] = found
    return found


def _after(values: np.ndarray, fill: Any = -1) -> np.ndarray:
    """``values`` with one more entry, ``fill``, at the end: then ``out[pos]`` with
    ``pos == -1`` gives ``fill`` (NumPy's -1 is the last element), without a mask."""
    return np.append(values, np.array([fill], dtype=values.dtype))


def _counts(codes: Rows, n_values: int) -> NDArray[np.int64]:
    """How many rows hold each code; the last entry (code -1, missing) is 0."""
    counts = np.bincount(codes + 1, minlength=n_values + 1)
    return np.append(counts[1:], np.int64(0))


def _first_rows(codes: Rows, n_values: int) -> Rows:
    """The first row holding each code (-1 for a code no row holds)."""
    n = len(codes)
    first = np.full(n_values, n, dtype=np.int64)  # ufunc.at is fast on matching types
    valid = np.flatnonzero(codes >= 0)
    np.minimum.at(first, codes[valid].astype(np.intp), valid)
    first[first == n] = -1
    return first.astype(np.int32) if n < 2**31 - 1 else first


def _lines_by_key(keys: np.ndarray, lines: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row in ``rows``, the lines of every row sharing its key ("3, 7")."""
    sub = pd.Series(lines[rows].astype(str), index=keys[rows])
    joined = sub.groupby(level=0, sort=False).agg(", ".join)
    return joined.reindex(sub.index).to_numpy(dtype=object)


def _at_rows(rows: np.ndarray, texts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The message texts of ``rows`` as a function of the rows reported (a subset)."""
    return lambda idx: np.asarray(texts[np.searchsorted(rows, idx)])


def _identity(codes: Rows) -> bool:
    """Whether row ``i`` holds code ``i``: every id present, unique, and the table's own
    codes come first in its code space (the usual case, checked in one pass)."""
    n = len(codes)
    return n == 0 or (
        int(codes[0]) == 0
        and int(codes[-1]) == n - 1
        and bool(np.array_equal(codes, np.arange(n, dtype=codes.dtype)))
    )


def _duplicates(t: _Table, column: str, keys: KeyCodes) -> None:
    codes, values = _codes(keys, t, column)
    if _identity(codes):
        t.repeated = np.zeros(len(codes), dtype=bool)
        return
    dup = _counts(codes, len(values))[codes] > 1
    t.repeated = dup
    if not dup.any():
        return
    rows = np.flatnonzero(dup)
    lines = _lines_by_key(codes, t.checks.lines, rows)
    t.checks.add(
        dup,
        column,
        "duplicate_id",
        _at_rows(rows, f"{column} must be unique; the same value is on lines " + lines),
        t.typed[column],
        fix="Keep one row per id, or give each row its own id.",
    )


def _references(
    child: _Table, column: str, parent: _Table, parent_column: str, keys: KeyCodes
) -> None:
    """Find each reference's parent row once (kept in ``child.refs``); name the orphans.

    Child and parent share a code space (:data:`_SHARED`); a value the parent holds more
    than once points at its first row (as a look-up by value would).
    """
    codes, _ = _codes(keys, child, column)
    p_codes, p_values = _codes(keys, parent, parent_column)
    n = len(p_codes)
    if not _identity(p_codes):
        pos = _after(_first_rows(p_codes, len(p_values)))[codes]  # missing or absent: -1
    elif len(codes) and int(codes.max()) >= n:  # parent row i holds code i
        pos = np.where(codes < n, codes, -1).astype(codes.dtype)
    else:  # and no orphan: the codes are the rows
        child.refs[column] = codes
        return
    child.refs[column] = pos
    orphan = (codes >= 0) & (pos < 0)
    child.checks.add(
        orphan,
        column,
        "orphan",
        f"{column} must name a row of {parent.name} ({parent.raw.file})",
        child.typed[column],
        fix=f"Add the missing {parent.name} row, or correct the id.",
    )


def _parent_rows(child: _Table, column: str, parent: _Table) -> Rows:
    """Each child row's parent row; -1 without one, or when the parent's key is repeated
    (which of the rows would be meant is unknown)."""
    pos: Rows = child.refs[column]
    if parent.repeated is None or not parent.repeated.any():
        return pos
    unusable = np.append(parent.repeated, True)[pos]  # pos -1 -> True
    return np.where(unusable, -1, pos).astype(pos.dtype, copy=False)


def _withheld_at(parent: _Table, column: str, pos: np.ndarray) -> np.ndarray:
    """Whether the parent cell each child row points to is a withheld (suspect) value."""
    held = parent.checks.withheld.get(column)
    if held is None:
        return np.zeros(len(pos), dtype=bool)
    return np.append(held, False)[pos]


def _iso(dates: pd.Series, pos: np.ndarray, missing: str) -> np.ndarray:
    """The dates at ``pos`` as ``YYYY-MM-DD`` text; ``missing`` for NaT or position -1."""
    picked = pd.Series(dates.array.take(np.asarray(pos), allow_fill=True))
    return picked.dt.strftime("%Y-%m-%d").fillna(missing).to_numpy(dtype=object)


def _datetimes(values: pd.Series) -> np.ndarray:
    """A date column as NumPy datetime64 (NaT where missing), in its own unit."""
    arr = values.to_numpy()
    return arr if arr.dtype.kind == "M" else values.to_numpy(dtype="datetime64[ns]")


def cross_checks(t: dict[str, _Table]) -> KeyCodes:
    """Apply the rules that involve more than one row or table.

    Parameters
    ----------
    t
        The prepared tables by name; problems are added to their ``checks``, each
        reference's parent row to ``refs`` and repeated keys to ``repeated``.

    Returns
    -------
    dict
        The integer codes of every key column hashed, by ``(table, column)``: a NumPy
        int32 array (-1 where missing) and the distinct values (a ``pyarrow.Array``,
        shared by the columns hashed together). ``refs`` hold int32 row positions too.

    Notes
    -----
    Unique ids (every row of a repeated id is named, with the other lines); references
    (episodes → patients, sessions and outcomes → episodes, outcomes and adverse events →
    sessions); end_date on or after start_date; session dates within their episode;
    needles only with dry needling; outcome dates from 30 days before to 400 days after the
    episode start; an outcome's session in the same episode; at most one baseline,
    discharge and follow-up of each kind per episode and measure. A missing or unparsable
    value takes part in no comparison (its own rule reports it). Dates are looked up only
    from episodes whose id is unique.
    """
    keys = _encode_keys(t)
    for name in t:
        if name != "outcomes":
            _duplicates(t[name], TABLE_KEYS[name], keys)
    p, e, s, o = t["patients"], t["episodes"], t["sessions"], t["outcomes"]
    _references(e, "patient_id", p, "patient_id", keys)
    _references(s, "episode_id", e, "episode_id", keys)
    _references(o, "episode_id", e, "episode_id", keys)
    _references(o, "session_id", s, "session_id", keys)
    if "adverse_events" in t:
        _references(t["adverse_events"], "session_id", s, "session_id", keys)

    ed = e.typed
    e_start, e_end = _datetimes(ed["start_date"]), _datetimes(ed["end_date"])
    e.checks.add(
        e_end < e_start,
        "end_date",
        "date_order",
        lambda i: "end_date must be on or after start_date (" + _iso(ed["start_date"], i, "") + ")",
        e.text["end_date"] if "end_date" in e.text else None,
    )
    _session_rules(s, e, e_start, e_end)
    _outcome_rules(o, e, s, e_start, keys)
    _one_per_episode(o, keys)
    return keys


def _session_rules(s: _Table, e: _Table, e_start: np.ndarray, e_end: np.ndarray) -> None:
    sd = s.typed
    pos = _parent_rows(s, "episode_id", e)
    date = _datetimes(sd["session_date"])
    start, end = _after(e_start, "NaT"), _after(e_end, "NaT")
    outside = np.empty(len(date), dtype=bool)
    for b in blocks(len(date)):  # no full-length gathered dates (46 MB each at 1M episodes)
        at = pos[b]
        outside[b] = (date[b] < start[at]) | (date[b] > end[at])
    s.checks.add(
        outside,
        "session_date",
        "session_outside_episode",
        lambda i: (
            "session_date must fall within its episode ("
            + _iso(e.typed["start_date"], pos[i], "?")
            + " to "
            + _iso(e.typed["end_date"], pos[i], "open")
            + ")"
        ),
        s.text.get("session_date"),
    )
    needles = (sd["needles"] > 0).to_numpy(dtype=bool, na_value=False)
    s.checks.add(
        needles & ~sd["dn_performed"].to_numpy(dtype=bool),
        "needles",
        "needles_without_dn",
        "needles must be 0 or empty when dn_performed is false",
        s.text.get("needles"),
    )


def _outside_window(assessed: np.ndarray, e_start: np.ndarray, pos: Rows) -> NDArray[np.bool_]:
    """Whether each date is more than 30 days before or 400 days after its episode's start
    (in whole days, floored as ``Timedelta.days``); False when either date is unknown."""
    unit = np.promote_types(assessed.dtype, e_start.dtype)
    nat = np.iinfo(np.int64).min
    start = _after(e_start.astype(unit).view(np.int64), nat)
    day = int(np.timedelta64(1, "D").astype(unit.str.replace("M8", "m8")).astype(np.int64))
    off = np.empty(len(assessed), dtype=bool)
    for b in blocks(len(assessed)):
        ticks = assessed[b].astype(unit, copy=False).view(np.int64)
        since = start[pos[b]]
        known = (since != nat) & (ticks != nat)
        np.subtract(ticks, since, out=since)  # meaningless where unknown, masked below
        off[b] = ((since < -30 * day) | (since >= 401 * day)) & known
    return off


def _outcome_rules(o: _Table, e: _Table, s: _Table, e_start: np.ndarray, keys: KeyCodes) -> None:
    od = o.typed
    pos = _parent_rows(o, "episode_id", e)
    o.checks.add(
        _outside_window(_datetimes(od["assessed_on"]), e_start, pos),
        "assessed_on",
        "outcome_outside_window",
        lambda i: (
            "assessed_on must be from 30 days before to 400 days after the episode "
            "start (" + _iso(e.typed["start_date"], pos[i], "?") + ")"
        ),
        o.text.get("assessed_on"),
    )
    # the episode id of each outcome's session (the codes of both tables' episode_id are
    # shared): -1 when unknown (no session, a repeated one, or a missing episode_id); a
    # missing episode_id of the outcome differs from any
    session = _parent_rows(o, "session_id", s)
    theirs = _after(_codes(keys, s, "episode_id")[0])
    mine = _codes(keys, o, "episode_id")[0]
    other = np.empty(o.checks.n, dtype=bool)
    for b in blocks(o.checks.n):
        episode = theirs[session[b]]
        other[b] = (episode >= 0) & (episode != mine[b])
    s_episode = s.typed["episode_id"]

    def belongs(i: np.ndarray) -> np.ndarray:
        rows = session[i]
        names = s_episode.iloc[rows].astype("str").fillna("").to_numpy(dtype=object)
        return np.where(_withheld_at(s, "episode_id", rows), "another episode", names)

    o.checks.add(
        other,
        "session_id",
        "session_other_episode",
        lambda i: (
            "session_id must be a session of the same episode (it belongs to " + belongs(i) + ")"
        ),
        o.text.get("session_id"),
    )


def _measure_codes(keys: KeyCodes, o: _Table) -> Codes:
    """The codes of the outcomes' ``measure`` (computed once, as :func:`_codes`), int8 when
    the few names fit: the typed measure is a categorical, whose categories are encoded and
    spread by its own codes, with no full-length int32 array (74 MB for the 19M outcome
    rows of a million episodes; the Dataset's categorical keeps int8 codes)."""
    found = keys.get((o.name, "measure"))
    if found is not None:
        return found
    column = o.typed["measure"]
    if isinstance(column.dtype, pd.CategoricalDtype) and len(column.cat.categories) < 127:
        # the codes and names that encoding the whole column gives (a categorical is
        # encoded by its categories, in their order)
        spread, values = encode(pd.Series(column.cat.categories.astype("str")))
        small = np.append(spread, -1).astype(np.int8)
        found = (small[category_codes(column)], values)
    else:
        codes, values = encode(column)
        found = (codes.astype(np.int8) if len(values) < 127 else codes), values
    keys[(o.name, "measure")] = found
    return found


def _repeats(keys: NDArray[np.signedinteger[Any]]) -> NDArray[np.signedinteger[Any]]:
    """Sort ``keys`` in place and return the keys held more than once (a key held ``k``
    times appears ``k - 1`` times)."""
    keys.sort()
    return keys[1:][keys[1:] == keys[:-1]]


def episode_blocks(episode: Rows) -> list[slice] | None:
    """Consecutive spans of rows, each of whole episodes and about
    :data:`~dnoutcomes._frames.BLOCK_ROWS` rows, when the rows are in episode order.

    Parameters
    ----------
    episode
        Each row's episode (its row position among the episodes; -1: none).

    Returns
    -------
    list of slice or None
        Slices covering every row once, in order, none splitting an episode's rows; None
        unless ``episode`` is non-decreasing with no -1 (as in an export sorted by
        episode), when an episode's rows may lie anywhere.
    """
    n = len(episode)
    if n == 0:
        return []
    if int(episode[0]) < 0:
        return None
    for b in blocks(n):  # one block (and the next block's first row) at a time
        piece = episode[b.start : b.stop + 1]
        if not bool((piece[1:] >= piece[:-1]).all()):
            return None
    starts = np.array([b.start for b in blocks(n)], dtype=np.int64)
    # each block start moved back to the first row of its episode
    cuts = np.unique(np.append(np.searchsorted(episode, episode[starts], side="left"), n))
    return [slice(int(a), int(z)) for a, z in zip(cuts[:-1], cuts[1:], strict=True)]


def _one_per_episode(o: _Table, keys: KeyCodes) -> None:
    od = o.typed
    timepoint = od["timepoint"]
    n_tp = len(timepoint.cat.categories)
    tp = category_codes(timepoint)  # -1 when missing
    m_code, m_values = _measure_codes(keys, o)
    e_code = o.refs["episode_id"]  # the episode's row; -1 for an orphan (reported already)
    session = list(timepoint.cat.categories).index("session")
    # episode, measure and timepoint in one int32 key when every key fits (half the
    # int64 keys' memory: 148 -> 74 MB at a million episodes); the same keys either way
    n_keys = (int(e_code.max()) + 1 if len(e_code) else 1) * (len(m_values) + 1) * n_tp
    key_type = np.int32 if n_keys < 2**31 else np.int64

    def block_keys(b: slice) -> tuple[NDArray[np.intp], NDArray[np.signedinteger[Any]]]:
        """The rows of block ``b`` that can collide (a session timepoint may repeat), and
        their key: episode, measure and timepoint in one integer (``key_type``)."""
        can = (tp[b] >= 0) & (tp[b] != session) & (m_code[b] >= 0) & (e_code[b] >= 0)
        at = np.flatnonzero(can) + b.start
        part = e_code[at].astype(key_type)
        part *= len(m_values) + 1
        part += m_code[at]
        part *= n_tp
        part += tp[at]
        return at, part

    spans = episode_blocks(e_code)
    if spans is not None:
        # outcomes in episode order (a sorted export): a repeated key lies within one span
        # of whole episodes, so each span's keys are sorted on their own (no full-length
        # key array: 74 MB at a million episodes, at the cross-table rules' peak)
        found = [_repeats(block_keys(b)[1]) for b in spans]
        again = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=key_type)
    else:
        # the keys, sorted in place: a repeated key sits next to itself (the array is sized
        # for every row; the pages past the keys written are never touched)
        key: NDArray[np.signedinteger[Any]] = np.empty(len(tp), dtype=key_type)
        filled = 0
        for b in blocks(len(tp)):
            part = block_keys(b)[1]
            key[filled : filled + len(part)] = part
            filled += len(part)
        again = np.unique(_repeats(key[:filled]))
        del key
    if len(again) == 0:
        return
    # only now, the rows holding a repeated key (a second pass over the blocks)
    rows_found, keys_found = [], []
    for b in blocks(len(tp)):
        at, part = block_keys(b)
        hit = np.isin(part, again)
        rows_found.append(at[hit])
        keys_found.append(part[hit])
    dup_rows = np.concatenate(rows_found)
    dup_keys = np.concatenate(keys_found)
    lines = _lines_by_key(dup_keys, o.checks.lines[dup_rows], np.arange(len(dup_rows)))
    held = o.checks.withheld.get("episode_id")
    episode = od["episode_id"].iloc[dup_rows].to_numpy(dtype=object)
    if held is not None:
        episode = np.where(held[dup_rows], "this episode", episode)
    texts = (
        "only one "
        + timepoint.iloc[dup_rows].astype(str).to_numpy(dtype=object)
        + " "
        + od["measure"].iloc[dup_rows].astype(str).to_numpy(dtype=object)
        + " is allowed per episode; "
        + episode
        + " has one on lines "
        + lines
    )
    dup = np.zeros(o.checks.n, dtype=bool)
    dup[dup_rows] = True
    o.checks.add(
        dup,
        "timepoint",
        "duplicate_timepoint",
        _at_rows(dup_rows, texts),
        o.text.get("timepoint"),
        fix="Keep one row, or mark repeated measurements as timepoint session.",
    )


def cascade(t: dict[str, _Table], *, record: bool) -> None:
    """Reject rows whose parent row was rejected (patients → episodes → sessions → …).

    Parameters
    ----------
    t
        The prepared tables, after :func:`cross_checks`.
    record
        List the consequences as ``rejected_parent`` problems (quarantine mode) or only
        mark the rows (strict mode, where they are not errors of their own).
    """

    def depend(child: _Table, column: str, parent: _Table) -> None:
        pos = child.refs[column]
        dep = np.append(parent.checks.bad, False)[pos] & ~child.checks.bad
        child.checks.add(
            dep,
            column,
            "rejected_parent",
            f"the {parent.name} row this row depends on was rejected, so this row is too",
            child.typed[column],
            fix=f"Fix the {parent.name} row (see {parent.raw.file}).",
            record=record,
        )

    depend(t["episodes"], "patient_id", t["patients"])
    depend(t["sessions"], "episode_id", t["episodes"])
    depend(t["outcomes"], "episode_id", t["episodes"])
    depend(t["outcomes"], "session_id", t["sessions"])
    if "adverse_events" in t:
        depend(t["adverse_events"], "session_id", t["sessions"])
