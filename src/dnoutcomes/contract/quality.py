"""Data-quality warnings: legal data that deserve a second look, never fatal.

* ``arm_mismatch`` — an episode declares one of the standard arms but its sessions describe
  another (the declared arm is used);
* ``contraindicated_needling`` — dry needling recorded at a session of a patient with a
  recorded contraindication;
* ``implausible_change`` — a measure changing faster than :data:`IMPLAUSIBLE_CHANGE` allows
  between two consecutive assessments of the same episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from dnoutcomes._encode import encode
from dnoutcomes._frames import blocks, isin
from dnoutcomes.contract.arrow import positions
from dnoutcomes.contract.problems import TableChecks, empty_problems
from dnoutcomes.contract.specs import ARMS_STANDARD

__all__ = ["IMPLAUSIBLE_CHANGE", "Links", "links_of", "quality_warnings"]

#: measure → (points, days): a change of more than ``points`` between two consecutive
#: assessments at most ``days`` apart is implausible. ODI: more than 60 of 100 points within
#: a week (the issue's example; about 4 times the ODI's MCID of 10 and beyond the largest
#: weekly changes reported in trials of acute low back pain); NPRS: more than 6 of 10 points
#: within a week (3 times its MCID of 2).
IMPLAUSIBLE_CHANGE: dict[str, tuple[float, int]] = {"odi": (60.0, 7), "nprs": (6.0, 7)}


@dataclass(frozen=True)
class Links:
    """Row positions linking the loaded frames, so that no id is hashed again.

    Attributes
    ----------
    episode_patient
        For each episode, the position of its patient in ``patients`` (-1: none).
    session_episode
        For each session, the position of its episode in ``episodes`` (-1: none).
    outcome_episode
        For each outcome, the position of its episode in ``episodes`` (-1: none).
    outcome_measure
        Integer codes of the outcomes' ``measure`` (-1 when missing) and the names they
        stand for; ``None`` to look the names up.
    """

    episode_patient: NDArray[np.signedinteger[Any]]
    session_episode: NDArray[np.signedinteger[Any]]
    outcome_episode: NDArray[np.signedinteger[Any]]
    outcome_measure: tuple[NDArray[np.signedinteger[Any]], pa.Array] | None = None


def links_of(frames: Mapping[str, pd.DataFrame]) -> Links:
    """The :class:`Links` of loaded frames, by looking their ids up.

    Parameters
    ----------
    frames
        ``patients``, ``episodes``, ``sessions`` and ``outcomes`` with their id columns.

    Returns
    -------
    Links
        Each row's parent as the position of the first parent row with its id (-1 for a
        missing or unknown id); the measure codes are left to :func:`quality_warnings`.
    """
    e = frames["episodes"]["episode_id"]
    return Links(
        episode_patient=positions(
            frames["episodes"]["patient_id"], frames["patients"]["patient_id"]
        ),
        session_episode=positions(frames["sessions"]["episode_id"], e),
        outcome_episode=positions(frames["outcomes"]["episode_id"], e),
    )


def quality_warnings(
    frames: Mapping[str, pd.DataFrame],
    lines: Mapping[str, np.ndarray],
    files: Mapping[str, str],
    *,
    links: Links | None = None,
) -> pd.DataFrame:
    """Find the data-quality warnings of a loaded export.

    Parameters
    ----------
    frames
        Typed frames of the rows that loaded (``patients``, ``episodes``, ``sessions``,
        ``outcomes``), with the derived ``arm_declared`` and ``arm_derived``.
    lines
        File line number of each loaded row, per table.
    files
        File name per table, for messages.
    links
        Each row's parent row, as the loader found them (default: :func:`links_of`, which
        looks the ids up; ids are unique among rows that loaded).

    Returns
    -------
    pandas.DataFrame
        One row per warning: ``table``, ``file``, ``line``, ``column``, ``rule``,
        ``message``.

    Notes
    -----
    Missing values never warn: an episode without sessions has no derived arm, a missing
    value has no change. For ``implausible_change`` the assessments of one episode and
    measure are ordered by ``assessed_on`` (ties in file order) and each one is compared
    with the one before it; the later row is named.
    """
    links = links_of(frames) if links is None else links
    parts = [
        _arm_mismatch(frames["episodes"], lines["episodes"], files["episodes"]),
        _contraindicated(frames, links, lines["sessions"], files["sessions"]),
        _implausible(frames["outcomes"], links, lines["outcomes"], files["outcomes"]),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out if len(out) else empty_problems()


def _arm_mismatch(e: pd.DataFrame, lines: np.ndarray, file: str) -> pd.DataFrame:
    ce = TableChecks("episodes", file, lines)
    declared = e["arm_declared"]
    derived = e["arm_derived"]
    mismatch = isin(declared, ARMS_STANDARD) & (derived.notna() & (declared != derived)).to_numpy(
        dtype=bool
    )
    ce.add(
        mismatch,
        "arm",
        "arm_mismatch",
        lambda i: (
            "the declared arm differs from the arm the sessions describe ("
            + derived.iloc[i].fillna("").to_numpy(dtype=object)
            + "); the declared arm is used"
        ),
        declared,
        reject=False,
    )
    return ce.frame()


def _contraindicated(
    frames: Mapping[str, pd.DataFrame], links: Links, lines: np.ndarray, file: str
) -> pd.DataFrame:
    p, s = frames["patients"], frames["sessions"]
    cs = TableChecks("sessions", file, lines)
    # join each distinct tuple once (a handful of combinations), not once per patient
    codes, combos = pd.factorize(p["contraindications"].to_numpy(dtype=object))
    joined = np.array([", ".join(c) for c in combos] + [""], dtype=object)
    patient = np.append(links.episode_patient, -1)[links.session_episode]
    recorded = np.append(codes, -1)[patient]  # -1: no patient, or nothing recorded
    needled = s["dn_performed"].to_numpy(dtype=bool) & (joined != "")[recorded]
    cs.add(
        needled,
        "dn_performed",
        "contraindicated_needling",
        lambda i: (
            "dry needling was recorded although the patient has a recorded contraindication ("
            + joined[recorded[i]]
            + ")"
        ),
        reject=False,
    )
    return cs.frame()


def _measure_positions(o: pd.DataFrame, links: Links, names: list[str]) -> NDArray[np.int8]:
    """For each outcome, the position of its measure in ``names`` (-1: another)."""
    codes, values = links.outcome_measure or encode(o["measure"])
    found = pc.index_in(values, value_set=pa.array(names, pa.large_string()))
    at = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int8)
    return np.append(at, np.int8(-1))[codes]


def _sort_key(group: NDArray[np.int64], when: NDArray[np.int64]) -> tuple[int, int] | None:
    """Turn ``group`` (in place) into one int64 key ordering by group, then date:
    ``group * span + when - low``; returns ``(span, low)``, by which ``key // span`` is
    the group and ``key % span`` the date - low. None (``group`` untouched) when it would
    not fit, or a date is missing."""
    low, high = int(when.min()), int(when.max())
    span = high - low + 1
    if low == np.iinfo(np.int64).min or (int(group.max()) + 1) * span >= 2**62:
        return None
    group *= span
    group += when
    group -= low
    return span, low


def _days(stamps: np.ndarray) -> NDArray[np.int64]:
    """Dates (``datetime64``, a fresh array) as whole days since 1970-01-01, int64; NaT
    stays NaT's integer. Nanosecond dates without NaT are divided in place (flooring, as
    the cast to ``datetime64[D]`` does), with no second full-length array."""
    if stamps.dtype == np.dtype("datetime64[ns]"):
        ns = stamps.view(np.int64)
        if len(ns) and ns.min() != np.iinfo(np.int64).min:
            ns //= 86_400 * 10**9
            return ns
    return stamps.astype("datetime64[D]").view(np.int64)


def _implausible(o: pd.DataFrame, links: Links, lines: np.ndarray, file: str) -> pd.DataFrame:
    co = TableChecks("outcomes", file, lines)
    names = list(IMPLAUSIBLE_CHANGE)
    points = np.array([IMPLAUSIBLE_CHANGE[n][0] for n in names], dtype=float)
    days = np.array([IMPLAUSIBLE_CHANGE[n][1] for n in names], dtype=np.int64)
    pos = _measure_positions(o, links, names)
    rows = np.flatnonzero(pos >= 0)
    if len(rows) < 2:  # no pair to compare
        return co.frame()
    # one group per episode and measure (an outcome without a known episode: its own)
    group = links.outcome_episode[rows].astype(np.int64, copy=False)  # a fresh gather
    if (group < 0).any():
        group = np.where(group >= 0, group, -1 - np.arange(len(rows)))
        group -= group.min()
    group *= len(names)
    group += pos[rows]
    del pos
    when = _days(o["assessed_on"].to_numpy()[rows])
    packed = _sort_key(group, when)  # group and date in one int64 (in place), if they fit
    if packed is None:  # several keys: the same order
        order = np.lexsort((rows, when, group))
    else:
        order = np.argsort(group, kind="stable")  # ties stay in file order
        del when  # both are in the key now (one full-length array fewer at the peak)
    value = o["value"].to_numpy(dtype=float)
    # each assessment against the one before it in the same episode and measure, block by
    # block along the sorted order (pairs k-1, k); keep only the pairs that warn
    found: list[tuple[np.ndarray, ...]] = []
    for b in blocks(len(order) - 1):
        k = order[b.start : b.stop + 1]
        if packed is None:
            g, w = group[k], when[k]
        else:
            g, w = np.divmod(group[k], packed[0])
        v = value[rows[k]]
        m = g[1:] % len(names)
        with np.errstate(invalid="ignore"):
            fast = (g[1:] == g[:-1]) & (np.abs(np.diff(v)) > points[m]) & (np.diff(w) <= days[m])
        hit = np.flatnonzero(fast)
        found.append((rows[k[hit + 1]], m[hit], v[hit], v[hit + 1], w[hit + 1] - w[hit]))
    reported, measure, before, after, gap = (
        np.concatenate(part) for part in zip(*found, strict=True)
    )
    by_row = np.argsort(reported)
    texts = np.array(
        [
            f"{names[j]} changed from {b:g} to {a:g} within {float(d):g} days (more than "
            f"{points[j]:g} points within {float(days[j]):g} days is implausible); check the "
            "value"
            for j, b, a, d in zip(
                measure[by_row], before[by_row], after[by_row], gap[by_row], strict=True
            )
        ],
        dtype=object,
    )
    reported = reported[by_row]
    mask = np.zeros(len(o), dtype=bool)
    mask[reported] = True
    co.add(
        mask,
        "value",
        "implausible_change",
        lambda i: np.asarray(texts[np.searchsorted(reported, i)]),
        reject=False,
    )
    return co.frame()
