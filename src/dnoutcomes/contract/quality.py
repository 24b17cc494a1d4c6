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

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from dnoutcomes._frames import isin
from dnoutcomes.contract.arrow import arrow_strings, lookup, positions
from dnoutcomes.contract.problems import TableChecks, empty_problems
from dnoutcomes.contract.specs import ARMS_STANDARD

__all__ = ["IMPLAUSIBLE_CHANGE", "quality_warnings"]

#: measure → (points, days): a change of more than ``points`` between two consecutive
#: assessments at most ``days`` apart is implausible. ODI: more than 60 of 100 points within
#: a week (the issue's example; about 4 times the ODI's MCID of 10 and beyond the largest
#: weekly changes reported in trials of acute low back pain); NPRS: more than 6 of 10 points
#: within a week (3 times its MCID of 2).
IMPLAUSIBLE_CHANGE: dict[str, tuple[float, int]] = {"odi": (60.0, 7), "nprs": (6.0, 7)}


def quality_warnings(
    frames: Mapping[str, pd.DataFrame],
    lines: Mapping[str, np.ndarray],
    files: Mapping[str, str],
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
    parts = []
    e = frames["episodes"]
    ce = TableChecks("episodes", files["episodes"], lines["episodes"])
    declared = e["arm_declared"]
    derived = e["arm_derived"]
    mismatch = isin(declared, ARMS_STANDARD) & (derived.notna() & (declared != derived)).to_numpy(
        dtype=bool
    )
    ce.add(
        mismatch,
        "arm",
        "arm_mismatch",
        "the declared arm differs from the arm the sessions describe ("
        + derived.fillna("").to_numpy(dtype=object)
        + "); the declared arm is used",
        declared,
        reject=False,
    )
    parts.append(ce.frame())

    p, s = frames["patients"], frames["sessions"]
    cs = TableChecks("sessions", files["sessions"], lines["sessions"])
    # join each distinct tuple once (a handful of combinations), not once per patient
    codes, combos = pd.factorize(p["contraindications"].to_numpy(dtype=object))
    joined = np.array([", ".join(c) for c in combos] + [""], dtype=object)
    contra = pd.Series(
        joined[np.where(codes >= 0, codes, len(combos))],
        index=p["patient_id"].to_numpy(),
        dtype="str",
    )
    patient = lookup(s["episode_id"], e.set_index("episode_id")["patient_id"])
    recorded = lookup(patient, contra).fillna("")
    needled = s["dn_performed"].to_numpy(dtype=bool) & (recorded != "").to_numpy(dtype=bool)
    cs.add(
        needled,
        "dn_performed",
        "contraindicated_needling",
        "dry needling was recorded although the patient has a recorded contraindication ("
        + recorded.to_numpy(dtype=object)
        + ")",
        reject=False,
    )
    parts.append(cs.frame())

    o = frames["outcomes"]
    co = TableChecks("outcomes", files["outcomes"], lines["outcomes"])
    names = list(IMPLAUSIBLE_CHANGE)
    pos = positions(o["measure"], names)
    rows = np.flatnonzero(pos >= 0)
    if len(rows):
        episode = pc.dictionary_encode(arrow_strings(o["episode_id"].iloc[rows])).indices
        ep_code = np.asarray(episode.to_numpy(zero_copy_only=False), dtype=np.int64)
        when = o["assessed_on"].iloc[rows].to_numpy(dtype="datetime64[D]").astype(np.int64)
        order = np.lexsort((rows, when, pos[rows], ep_code))
        r, e_c, m_c, w = rows[order], ep_code[order], pos[rows][order], when[order]
        value = o["value"].to_numpy(dtype=float)[r]
        same = np.zeros(len(r), dtype=bool)
        same[1:] = (e_c[1:] == e_c[:-1]) & (m_c[1:] == m_c[:-1])
        change = np.full(len(r), np.nan)
        gap = np.full(len(r), np.nan)
        change[1:] = value[1:] - value[:-1]
        gap[1:] = (w[1:] - w[:-1]).astype(float)
        pts = np.array([IMPLAUSIBLE_CHANGE[n][0] for n in names])[m_c]
        win = np.array([IMPLAUSIBLE_CHANGE[n][1] for n in names], dtype=float)[m_c]
        with np.errstate(invalid="ignore"):
            fast = same & (np.abs(change) > pts) & (gap <= win)
        hits = np.flatnonzero(fast)
        mask = np.zeros(len(o), dtype=bool)
        mask[r[hits]] = True
        expected = np.empty(len(o), dtype=object)
        expected[r[hits]] = [
            f"{names[m_c[k]]} changed from {value[k - 1]:g} to {value[k]:g} within "
            f"{gap[k]:g} days (more than {pts[k]:g} points within {win[k]:g} days is "
            "implausible); check the value"
            for k in hits
        ]
        co.add(mask, "value", "implausible_change", expected, reject=False)
    parts.append(co.frame())
    out = pd.concat(parts, ignore_index=True)
    return out if len(out) else empty_problems()
