"""The rules across tables: unique ids, references, dates within the episode, one
baseline / discharge / follow-up per episode and measure, and the quarantine cascade."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dnoutcomes.contract.parse import lookup
from dnoutcomes.contract.specs import TABLE_KEYS
from dnoutcomes.contract.tables import PreparedTable as _Table

__all__ = ["cascade", "cross_checks"]


def _duplicates(t: _Table, column: str) -> None:
    ids = t.typed[column]
    dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
    if not dup.any():
        return
    lines = pd.Series(t.checks.lines[dup], index=ids[dup].to_numpy())
    joined = lines.astype(str).groupby(level=0).agg(", ".join)
    where = ids[dup].map(joined).to_numpy(dtype=object)
    expected = np.empty(t.checks.n, dtype=object)
    expected[dup] = f"{column} must be unique; the same value is on lines " + where
    t.checks.add(
        dup,
        column,
        "duplicate_id",
        expected,
        ids,
        fix="Keep one row per id, or give each row its own id.",
    )


def _references(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
    ids = child.typed[column]
    known = ids.isin(parent.typed[parent_column].dropna()).to_numpy(dtype=bool)
    orphan = ids.notna().to_numpy() & ~known
    child.checks.add(
        orphan,
        column,
        "orphan",
        f"{column} must name a row of {parent.name} ({parent.raw.file})",
        ids,
        fix=f"Add the missing {parent.name} row, or correct the id.",
    )


def _unique_lookup(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    return (
        frame.loc[frame[key].notna(), [key, *columns]]
        .drop_duplicates(key, keep=False)
        .set_index(key)
    )


def cross_checks(t: dict[str, _Table]) -> None:
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
        "end_date must be on or after start_date ("
        + ed["start_date"].dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
        + ")",
        e.text["end_date"] if "end_date" in e.text else None,
    )
    episodes = _unique_lookup(ed, "episode_id", ["start_date", "end_date"])
    sd = s.typed
    start = lookup(sd["episode_id"], episodes["start_date"])
    end = lookup(sd["episode_id"], episodes["end_date"])
    outside = ((sd["session_date"] < start) | (sd["session_date"] > end)).to_numpy(dtype=bool)
    period = (
        start.dt.strftime("%Y-%m-%d").fillna("?")
        + " to "
        + end.dt.strftime("%Y-%m-%d").fillna("open")
    ).to_numpy(dtype=object)
    s.checks.add(
        outside,
        "session_date",
        "session_outside_episode",
        "session_date must fall within its episode (" + period + ")",
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
    o_start = lookup(od["episode_id"], episodes["start_date"])
    days = (od["assessed_on"] - o_start).dt.days.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        off = (days < -30) | (days > 400)
    o.checks.add(
        off,
        "assessed_on",
        "outcome_outside_window",
        "assessed_on must be from 30 days before to 400 days after the episode start ("
        + o_start.dt.strftime("%Y-%m-%d").fillna("?").to_numpy(dtype=object)
        + ")",
        o.text.get("assessed_on"),
    )
    sessions = _unique_lookup(sd, "session_id", ["episode_id"])
    s_episode = lookup(od["session_id"], sessions["episode_id"])
    other = (s_episode.notna() & (s_episode != od["episode_id"])).to_numpy(dtype=bool)
    o.checks.add(
        other,
        "session_id",
        "session_other_episode",
        "session_id must be a session of the same episode (it belongs to "
        + s_episode.fillna("").to_numpy(dtype=object)
        + ")",
        o.text.get("session_id"),
    )
    tp = od["timepoint"]
    single = (
        tp.notna() & (tp != "session") & od["episode_id"].notna() & od["measure"].notna()
    ).to_numpy(dtype=bool)
    keys = od.loc[single, ["episode_id", "measure", "timepoint"]].astype("str")
    dup_sub = keys.duplicated(keep=False).to_numpy()
    if dup_sub.any():
        rows = np.flatnonzero(single)[dup_sub]
        k = keys[dup_sub].agg("|".join, axis=1)
        joined = pd.Series(o.checks.lines[rows], index=k.to_numpy()).astype(str)
        joined = joined.groupby(level=0).agg(", ".join)
        expected = np.empty(o.checks.n, dtype=object)
        expected[rows] = (
            "only one "
            + keys[dup_sub]["timepoint"].to_numpy(dtype=object)
            + " "
            + keys[dup_sub]["measure"].to_numpy(dtype=object)
            + " is allowed per episode; "
            + keys[dup_sub]["episode_id"].to_numpy(dtype=object)
            + " has one on lines "
            + k.map(joined).to_numpy(dtype=object)
        )
        mask = np.zeros(o.checks.n, dtype=bool)
        mask[rows] = True
        o.checks.add(
            mask,
            "timepoint",
            "duplicate_timepoint",
            expected,
            o.text.get("timepoint"),
            fix="Keep one row, or mark repeated measurements as timepoint session.",
        )


def cascade(t: dict[str, _Table], *, record: bool) -> None:
    """Reject rows whose parent row was rejected (patients → episodes → sessions → …)."""

    def depend(child: _Table, column: str, parent: _Table, parent_column: str) -> None:
        ids = child.typed[column]
        loaded = parent.typed.loc[~parent.checks.bad, parent_column]
        dep = (ids.notna() & ~ids.isin(loaded)).to_numpy(dtype=bool) & ~child.checks.bad
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
