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

from dnoutcomes.contract.parse import TableChecks, empty_problems, lookup
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
    mismatch = (declared.isin(ARMS_STANDARD) & derived.notna() & (declared != derived)).to_numpy(
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
    contra = pd.Series(
        [", ".join(c) for c in p["contraindications"]],
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
    limits = pd.DataFrame(
        [(m, pts, days) for m, (pts, days) in IMPLAUSIBLE_CHANGE.items()],
        columns=["measure", "points", "days"],
    ).set_index("measure")
    sub = o.loc[o["measure"].isin(limits.index), ["episode_id", "measure", "assessed_on", "value"]]
    if len(sub):
        sub = sub.assign(_row=np.arange(len(o))[o["measure"].isin(limits.index).to_numpy()])
        sub = sub.sort_values(["episode_id", "measure", "assessed_on", "_row"], kind="stable")
        same = (
            sub["episode_id"].eq(sub["episode_id"].shift())
            & sub["measure"].eq(sub["measure"].shift())
        ).to_numpy(dtype=bool)
        change = sub["value"].diff().to_numpy()
        gap = sub["assessed_on"].diff().dt.days.to_numpy(dtype=float)
        pts = sub["measure"].map(limits["points"]).to_numpy(dtype=float)
        win = sub["measure"].map(limits["days"]).to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            fast = same & (np.abs(change) > pts) & (gap <= win)
        mask = np.zeros(len(o), dtype=bool)
        mask[sub["_row"].to_numpy()[fast]] = True
        expected = np.empty(len(o), dtype=object)
        prev = sub["value"].shift().to_numpy()
        text = (
            sub["measure"].astype(str).to_numpy(dtype=object)
            + " changed from "
            + pd.Series(prev).map("{:g}".format).to_numpy(dtype=object)
            + " to "
            + sub["value"].map("{:g}".format).to_numpy(dtype=object)
            + " within "
            + pd.Series(gap).map("{:g}".format).to_numpy(dtype=object)
            + " days (more than "
            + pd.Series(pts).map("{:g}".format).to_numpy(dtype=object)
            + " points within "
            + pd.Series(win).map("{:g}".format).to_numpy(dtype=object)
            + " days is implausible); check the value"
        )
        expected[sub["_row"].to_numpy()[fast]] = text[fast]
        co.add(mask, "value", "implausible_change", expected, reject=False)
    parts.append(co.frame())
    out = pd.concat(parts, ignore_index=True)
    return out if len(out) else empty_problems()
