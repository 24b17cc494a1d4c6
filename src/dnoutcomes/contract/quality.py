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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from dnoutcomes._frames import encode, isin
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

    episode_patient: NDArray[np.int64]
    session_episode: NDArray[np.int64]
    outcome_episode: NDArray[np.int64]
    outcome_measure: tuple[NDArray[np.int64], pa.Array] | None = None


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


def _measure_positions(o: pd.DataFrame, links: Links, names: list[str]) -> NDArray[np.int64]:
    """For each outcome, the position of its measure in ``names`` (-1: another)."""
    codes, values = links.outcome_measure or encode(o["measure"])
    found = pc.index_in(values, value_set=pa.array(names, pa.large_string()))
    at = np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.append(at, -1)[codes]


def _order(group: NDArray[np.int64], when: NDArray[np.int64]) -> NDArray[np.int64]:
    """Positions sorted by ``group``, then ``when``, then position (a stable sort of one
    int64 key; several keys when the key would not fit, or a date is missing)."""
    if len(when) == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = int(when.min()), int(when.max())
    span = high - low + 1
    if low == np.iinfo(np.int64).min or (int(group.max()) + 1) * span >= 2**62:
        return np.lexsort((np.arange(len(when)), when, group))
    return np.argsort(group * span + (when - low), kind="stable")


def _implausible(o: pd.DataFrame, links: Links, lines: np.ndarray, file: str) -> pd.DataFrame:
    co = TableChecks("outcomes", file, lines)
    names = list(IMPLAUSIBLE_CHANGE)
    pos = _measure_positions(o, links, names)
    rows = np.flatnonzero(pos >= 0)
    if len(rows) == 0:
        return co.frame()
    m_rows = pos[rows]
    # one group per episode and measure; an outcome without a known episode is its own
    episode = links.outcome_episode[rows]
    episode = np.where(episode >= 0, episode, -1 - np.arange(len(rows)))
    group = (episode - episode.min()) * len(names) + m_rows
    when = o["assessed_on"].iloc[rows].to_numpy(dtype="datetime64[D]").astype(np.int64)
    order = _order(group, when)
    r, g, m_c, w = rows[order], group[order], m_rows[order], when[order]
    value = o["value"].to_numpy(dtype=float)[r]
    same = np.zeros(len(r), dtype=bool)
    same[1:] = g[1:] == g[:-1]
    change = np.full(len(r), np.nan)
    gap = np.full(len(r), np.nan)
    change[1:] = value[1:] - value[:-1]
    gap[1:] = (w[1:] - w[:-1]).astype(float)
    pts = np.array([IMPLAUSIBLE_CHANGE[n][0] for n in names])[m_c]
    win = np.array([IMPLAUSIBLE_CHANGE[n][1] for n in names], dtype=float)[m_c]
    with np.errstate(invalid="ignore"):
        fast = same & (np.abs(change) > pts) & (gap <= win)
    hits = np.flatnonzero(fast)
    by_row = np.argsort(r[hits])
    hits = hits[by_row]
    texts = np.array(
        [
            f"{names[m_c[k]]} changed from {value[k - 1]:g} to {value[k]:g} within "
            f"{gap[k]:g} days (more than {pts[k]:g} points within {win[k]:g} days is "
            "implausible); check the value"
            for k in hits
        ],
        dtype=object,
    )
    mask = np.zeros(len(o), dtype=bool)
    mask[r[hits]] = True
    reported = r[hits]
    co.add(
        mask,
        "value",
        "implausible_change",
        lambda i: np.asarray(texts[np.searchsorted(reported, i)]),
        reject=False,
    )
    return co.frame()
