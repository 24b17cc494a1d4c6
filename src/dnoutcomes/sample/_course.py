"""The course of care: visit-by-visit pain, dropout, discharge and follow-up values.

Discharge and follow-up values are computed by one function of the arm, so the same noise
gives the observed value (the episode's own arm) and the potential outcomes under
``dn_only`` and ``dn_manual_exercise`` for every episode: the truth is then the average
difference of those potential outcomes, after rounding and clipping to each measure's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dnoutcomes.sample._params import ARMS, SampleParams
from dnoutcomes.sample._people import (
    ODI_PER_NPRS,
    BoolArray,
    Episodes,
    FloatArray,
    IntArray,
    Visits,
    _logistic,
)

__all__ = ["Course", "Discharge", "run_course"]

#: measures written at discharge (and, for nprs and odi, at the 12-week follow-up)
DISCHARGE_MEASURES = (
    "nprs",
    "odi",
    "lumbar_flexion_deg",
    "ppt_kg_cm2",
    "analgesic_use",
    "opioid_use",
    "analgesic_doses_week",
    "opioid_mme_day",
)
FOLLOWUP_MEASURES = ("nprs", "odi")


@dataclass(frozen=True)
class Discharge:
    """Values at the planned discharge visit and at the 12-week follow-up, for one arm."""

    values: dict[str, FloatArray]  # measure -> per episode, at discharge
    followup: dict[str, FloatArray]  # measure -> per episode, at followup_12w


@dataclass(frozen=True)
class Course:
    """What happened in each episode (observed arm) and the potential outcomes."""

    nprs_visit: FloatArray  # per planned visit, the episode's own arm
    attended: BoolArray  # per planned visit
    last_visit: IntArray  # per episode: index of the last attended visit
    completed: BoolArray  # per episode: reached the planned discharge visit
    followed: BoolArray  # per episode: has a 12-week follow-up
    followup_day: IntArray  # per episode (meaningful where followed)
    observed: Discharge
    potential: dict[str, Discharge]  # arm name -> values had every episode had that arm
    slope: dict[str, FloatArray]  # arm name -> NPRS change per week of every episode
    scale_slope: dict[str, float]  # arm name -> within-episode slope on the 0-10 scale


def _nprs(
    p: SampleParams, level: FloatArray, slope: FloatArray, day: FloatArray, noise: FloatArray
) -> FloatArray:
    out: FloatArray = np.clip(np.rint(level + slope * day / 7.0 + p.nprs_sd_within * noise), 0, 10)
    return out


def _by_arm(values: object) -> FloatArray:
    mapping = dict(values)  # type: ignore[call-overload]
    return np.array([mapping[a] for a in ARMS], dtype=np.float64)


def run_course(rng: np.random.Generator, p: SampleParams, eps: Episodes, visits: Visits) -> Course:
    """Play out every episode: visits, dropout, discharge and follow-up values."""
    n = len(eps.arm)
    nprs_slope = _by_arm(p.nprs_weekly)
    own_slope = nprs_slope[eps.arm] + eps.modifier
    e = visits.episode
    nprs_visit = _nprs(
        p, eps.nprs_level[e], own_slope[e], visits.day.astype(np.float64), visits.noise
    )

    # Dropout after the second visit, depending on the pain reported there (MAR).
    pain2 = nprs_visit[eps.first_visit + 1]
    eligible = eps.planned >= p.dropout_min_planned
    z_odi = (eps.odi0 - p.odi_mean) / p.odi_sd
    p_drop = _logistic(
        p.dropout_intercept
        + p.dropout_per_nprs * (pain2 - 5.0)
        + _by_arm(p.dropout_per_odi)[eps.arm] * z_odi
    )
    dropped = eligible & (rng.random(n) < p_drop)
    stop = rng.integers(1, np.maximum(eps.planned - 1, 2))
    last_visit = np.where(dropped, stop, eps.planned - 1).astype(np.int64)
    attended = visits.index <= last_visit[e]
    completed = ~dropped
    followed = completed & (rng.random(n) < p.followup_share)
    followup_day = np.maximum(
        84 + rng.integers(-7, 8, n), eps.last_day + 7 + rng.integers(0, 7, n)
    ).astype(np.int64)

    # Noise shared by every arm's potential outcome.
    z = rng.standard_normal((8, n))
    u = rng.random((2, n))
    new_doses = 1.0 + rng.poisson(5.0, n)
    new_mme = np.round(np.exp(rng.normal(np.log(15.0), 0.5, n)), 1)
    weeks = eps.last_day / 7.0
    last_noise = visits.noise[eps.first_visit + eps.planned - 1]
    mod = eps.modifier
    odi_rate = _by_arm(p.odi_weekly)
    flex_rate = _by_arm(p.flexion_weekly)
    ppt_rate = _by_arm(p.ppt_weekly)
    log_or = _by_arm(p.medication_log_or)
    kept = _by_arm(p.dose_kept)

    def discharge(arm: IntArray) -> Discharge:
        slope = nprs_slope[arm] + mod
        odi_slope = odi_rate[arm] + ODI_PER_NPRS * mod
        nprs1 = _nprs(p, eps.nprs_level, slope, eps.last_day.astype(np.float64), last_noise)
        odi_raw = eps.odi0 + odi_slope * weeks + p.odi_sd_within * z[0]
        flex = eps.flexion0 + (flex_rate[arm] - 2.0 * mod) * weeks + p.flexion_sd_within * z[1]
        ppt = eps.ppt0 + (ppt_rate[arm] - 0.2 * mod) * weeks + p.ppt_sd_within * z[2]
        an1 = u[0] < _logistic(
            p.analgesic_intercept + p.analgesic_carry * eps.analgesic0 + log_or[arm] + 2.0 * mod
        )
        op1 = u[1] < _logistic(
            p.opioid_intercept + p.opioid_carry * eps.opioid0 + log_or[arm] + 2.0 * mod
        )
        doses_kept = np.maximum(1.0, np.rint(eps.doses0 * kept[arm] * np.exp(0.25 * z[3])))
        doses1 = np.where(an1, np.where(eps.analgesic0, doses_kept, new_doses), 0.0)
        mme_kept = np.round(np.clip(eps.mme0 * kept[arm] * np.exp(0.2 * z[4]), 1.0, 300.0), 1)
        mme1 = np.where(op1, np.where(eps.opioid0, mme_kept, new_mme), 0.0)
        values = {
            "nprs": nprs1,
            "odi": np.clip(2 * np.rint(odi_raw / 2), 0, 100),
            "lumbar_flexion_deg": np.round(np.clip(flex, 0, 120), 1),
            "ppt_kg_cm2": np.round(np.clip(ppt, 0.1, 20), 1),
            "analgesic_use": an1.astype(np.float64),
            "opioid_use": op1.astype(np.float64),
            "analgesic_doses_week": doses1,
            "opioid_mme_day": mme1,
        }
        fu_nprs = np.clip(
            np.rint(
                eps.nprs_level + slope * weeks + p.nprs_followup_regain + p.nprs_sd_within * z[5]
            ),
            0,
            10,
        )
        fu_odi_raw = eps.odi0 + odi_slope * weeks + p.odi_followup_regain + p.odi_sd_within * z[6]
        followup = {"nprs": fu_nprs, "odi": np.clip(2 * np.rint(fu_odi_raw / 2), 0, 100)}
        return Discharge(values=values, followup=followup)

    observed = discharge(eps.arm)
    potential = {a: discharge(np.full(n, i, dtype=np.int64)) for i, a in enumerate(ARMS[:2])}
    slope = {a: nprs_slope[i] + mod for i, a in enumerate(ARMS)}
    # Within-episode least-squares slope on the 0-10 integer scale (rounding and clipping
    # flatten the latent line a little): what a random-intercept mixed model recovers.
    wk = visits.day / 7.0
    count = np.bincount(e, minlength=n)
    wk_c = wk - (np.bincount(e, wk, minlength=n) / count)[e]
    scale_slope = {}
    for a in ARMS[:2]:
        y = _nprs(p, eps.nprs_level[e], slope[a][e], visits.day.astype(np.float64), visits.noise)
        y_c = y - (np.bincount(e, y, minlength=n) / count)[e]
        scale_slope[a] = float((wk_c * y_c).sum() / (wk_c * wk_c).sum())
    return Course(
        nprs_visit=nprs_visit,
        attended=attended,
        last_visit=last_visit,
        completed=completed,
        followed=followed,
        followup_day=followup_day,
        observed=observed,
        potential=potential,
        slope=slope,
        scale_slope=scale_slope,
    )
