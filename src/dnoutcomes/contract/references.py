"""The rules across tables: unique ids, references, dates within the episode, one
baseline / discharge / follow-up per episode and measure, and the quarantine cascade.

Keys are matched by hashing in Arrow (:func:`~dnoutcomes.contract.parse.isin`,
:func:`~dnoutcomes.contract.parse.lookup`); messages are built only for the rows that break
a rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes.contract.arrow import arrow_strings, duplicated, positions
from dnoutcomes.contract.specs import TABLE_KEYS
from dnoutcomes.contract.tables import PreparedTable as _Table

__all__ = ["cascade", "cross_checks"]


def _lines_by_key(keys: pd.Series, lines: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row in ``rows``, the lines of every row sharing its key ("3, 7")."""
    sub = pd.Series(lines[rows].astype(str), index=keys.iloc[rows].to_numpy(dtype=object))
    joined = sub.groupby(level=0, sort=False).agg(", ".join)
    return joined.reindex(sub.index).to_numpy(dtype=object)


def _duplicates(t: _Table, column: str) -> None:
    ids = t.typed[column]
    dup = duplicated(ids)
    t.repeated = dup
    if not dup.any():
        return
    rows = np.flatnonzero(dup)
    lines = _lines_by_key(ids, t.checks.lines, rows)
    expected = np.empty(t.checks.n, dtype=object)
    expected[rows] = f"{column} must be unique; the same value is on lines " + lines
    t.checks.add(
        dup,
        column,
        "duplicate_id",
        expected,
        ids,
        fix="Keep one row per id, or give each row its own id.",
    )


def _references(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
    """Find each reference's parent row once (kept in ``child.refs``); name the orphans."""
    ids = child.typed[column]
    pos = positions(ids, parent.typed[parent_column])
    child.refs[column] = pos
    orphan = ids.notna().to_numpy() & (pos < 0)
    child.checks.add(
        orphan,
        column,
        "orphan",
        f"{column} must name a row of {parent.name} ({parent.raw.file})",
        ids,
        fix=f"Add the missing {parent.name} row, or correct the id.",
    )


def _from_parent(child: _Table, column: str, parent: _Table, value: str) -> pd.Series:
    """``parent.typed[value]`` of each child row's parent; NA without one, or when the
    parent's key is repeated (which of the rows would be meant is unknown)."""
    pos = child.refs[column]
    values = parent.typed[value]
    repeated = parent.repeated if parent.repeated is not None else np.zeros(len(values), bool)
    ok = pos >= 0
    ok[ok] = ~repeated[pos[ok]]
    if len(values) == 0:
        return pd.Series(index=pd.RangeIndex(len(pos)), dtype=values.dtype)
    take = np.where(ok, pos, 0)
    if isinstance(values.dtype, pd.StringDtype):
        # stay in Arrow: no Python string objects for a million rows
        taken = arrow_strings(values).take(pa.array(take))
        masked = pc.if_else(pa.array(ok), taken, pa.scalar(None, pa.string()))
        return pa.table({"v": masked}).to_pandas()["v"]
    picked = values.to_numpy()[take]
    out = pd.Series(picked, dtype=values.dtype)
    return out.where(ok)


def _withheld_at(parent: _Table, column: str, pos: np.ndarray) -> np.ndarray:
    """Whether the parent cell each child row points to is a withheld (suspect) value."""
    held = parent.checks.withheld.get(column)
    out = np.zeros(len(pos), dtype=bool)
    if held is not None:
        has = pos >= 0
        out[has] = held[pos[has]]
    return out


def _iso(dates: pd.Series, idx: np.ndarray, missing: str) -> np.ndarray:
    return dates.iloc[idx].dt.strftime("%Y-%m-%d").fillna(missing).to_numpy(dtype=object)


def cross_checks(t: dict[str, _Table]) -> None:
    """Apply the rules that involve more than one row or table.

    Parameters
    ----------
    t
        The prepared tables by name; problems are added to their ``checks``.

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
    for name in t:
        if name != "outcomes":
            _duplicates(t[name], TABLE_KEYS[name])
    p, e, s, o = t["patients"], t["episodes"], t["sessions"], t["outcomes"]
    _references(e, "patient_id", p, "patient_id")
    _references(s, "episode_id", e, "episode_id")
    _references(o, "episode_id", e, "episode_id")
    _references(o, "session_id", s, "session_id")
    if "adverse_events" in t:
        _references(t["adverse_events"], "session_id", s, "session_id")

    ed = e.typed
    e.checks.add(
        (ed["end_date"] < ed["start_date"]).to_numpy(dtype=bool),
        "end_date",
        "date_order",
        lambda i: "end_date must be on or after start_date (" + _iso(ed["start_date"], i, "") + ")",
        e.text["end_date"] if "end_date" in e.text else None,
    )
    sd = s.typed
    start = _from_parent(s, "episode_id", e, "start_date")
    end = _from_parent(s, "episode_id", e, "end_date")
    outside = ((sd["session_date"] < start) | (sd["session_date"] > end)).to_numpy(dtype=bool)
    s.checks.add(
        outside,
        "session_date",
        "session_outside_episode",
        lambda i: (
            "session_date must fall within its episode ("
            + _iso(start, i, "?")
            + " to "
            + _iso(end, i, "open")
            + ")"
        ),
        s.text.get("session_date"),
    )
    needles = sd["needles"].fillna(0).to_numpy(dtype="int64")
    s.checks.add(
        (needles > 0) & ~sd["dn_performed"].to_numpy(dtype=bool),
        "needles",
        "needles_without_dn",
        "needles must be 0 or empty when dn_performed is false",
        s.text.get("needles"),
    )

    od = o.typed
    o_start = _from_parent(o, "episode_id", e, "start_date")
    days = (od["assessed_on"] - o_start).dt.days.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        off = (days < -30) | (days > 400)
    o.checks.add(
        off,
        "assessed_on",
        "outcome_outside_window",
        lambda i: (
            "assessed_on must be from 30 days before to 400 days after the episode "
            "start (" + _iso(o_start, i, "?") + ")"
        ),
        o.text.get("assessed_on"),
    )
    s_episode = _from_parent(o, "session_id", s, "episode_id")
    shown = s_episode.where(~_withheld_at(s, "episode_id", o.refs["session_id"]), "another episode")
    other = (s_episode.notna() & (s_episode != od["episode_id"])).to_numpy(dtype=bool)
    o.checks.add(
        other,
        "session_id",
        "session_other_episode",
        lambda i: (
            "session_id must be a session of the same episode (it belongs to "
            + shown.iloc[i].fillna("").to_numpy(dtype=object)
            + ")"
        ),
        o.text.get("session_id"),
    )
    _one_per_episode(o)


def _one_per_episode(o: _Table) -> None:
    od = o.typed
    tp = od["timepoint"].cat.codes.to_numpy(dtype=np.int64)  # -1 when missing
    measure = pc.dictionary_encode(arrow_strings(od["measure"]))
    m_code = np.asarray(measure.indices.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
    e_code = o.refs["episode_id"]  # the episode's row; -1 for an orphan (reported already)
    session = list(od["timepoint"].cat.categories).index("session")  # repeatable
    single = (tp >= 0) & (tp != session) & (m_code >= 0) & (e_code >= 0)
    if not single.any():
        return
    n_tp = len(od["timepoint"].cat.categories)
    key = (e_code * (len(measure.dictionary) + 1) + m_code) * n_tp + tp
    key_s = pd.Series(np.where(single, key, -1 - np.arange(len(key))))
    dup = key_s.duplicated(keep=False).to_numpy() & single
    if not dup.any():
        return
    rows = np.flatnonzero(dup)
    lines = _lines_by_key(key_s.astype(str), o.checks.lines, rows)
    expected = np.empty(o.checks.n, dtype=object)
    expected[rows] = (
        "only one "
        + od["timepoint"].iloc[rows].astype(str).to_numpy(dtype=object)
        + " "
        + od["measure"].iloc[rows].to_numpy(dtype=object)
        + " is allowed per episode; "
        + np.where(
            o.checks.withheld.get("episode_id", np.zeros(o.checks.n, bool))[rows],
            "this episode",
            od["episode_id"].iloc[rows].to_numpy(dtype=object),
        )
        + " has one on lines "
        + lines
    )
    o.checks.add(
        dup,
        "timepoint",
        "duplicate_timepoint",
        expected,
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

    def depend(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
        ids = child.typed[column]
        pos = child.refs[column]
        has = pos >= 0
        dep = np.zeros(len(pos), dtype=bool)
        dep[has] = parent.checks.bad[pos[has]]
        dep &= ~child.checks.bad
        child.checks.add(
            dep,
            column,
            "rejected_parent",
            f"the {parent.name} row this row depends on was rejected, so this row is too",
            ids,
            fix=f"Fix the {parent.name} row (see {parent.raw.file}).",
            record=record,
        )

    depend(t["episodes"], "patient_id", t["patients"], "patient_id")
    depend(t["sessions"], "episode_id", t["episodes"], "episode_id")
    depend(t["outcomes"], "episode_id", t["episodes"], "episode_id")
    depend(t["outcomes"], "session_id", t["sessions"], "session_id")
    if "adverse_events" in t:
        depend(t["adverse_events"], "session_id", t["sessions"], "session_id")
