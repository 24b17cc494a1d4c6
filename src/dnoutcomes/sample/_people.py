"""Patients, episodes, baseline measures, arms and treatment trajectories (numbers only).

Everything here is NumPy arrays indexed by patient or by episode; :mod:`._tables` turns
them into the contract's tables. One :class:`numpy.random.Generator` is passed through
and used in a fixed order, so one seed gives one clinic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dnoutcomes.sample._params import ARMS, SampleParams, site_names

__all__ = ["Calendar", "Episodes", "Patients", "Visits", "draw_episodes", "draw_patients"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: NPRS sd used to standardise baseline NPRS in the assignment model.
NPRS_SCALE = 1.7
#: ODI points per NPRS point of the slope modifiers (ODI moves ~5x NPRS in Griswold 2019).
ODI_PER_NPRS = 5.0


def _logistic(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass(frozen=True)
class Calendar:
    """The calendar span: day 0 is ``start``; ``span_days`` to the end of the last month."""

    start: np.datetime64
    span_days: int
    shift_site: int
    shift_day: int
    shift_month: str


@dataclass(frozen=True)
class Patients:
    """One element per patient."""

    site: IntArray
    sex: IntArray
    age: IntArray
    condition: IntArray
    symptom_weeks: IntArray
    contraindication: IntArray  # -1 = none recorded, else index into CONTRAINDICATIONS


@dataclass(frozen=True)
class Visits:
    """One element per *planned* session (episodes in order, visits in order)."""

    episode: IntArray
    index: IntArray  # 0-based visit number within the episode
    day: IntArray  # days after the episode start
    noise: FloatArray  # standard-normal NPRS visit noise


@dataclass(frozen=True)
class Episodes:
    """One element per episode, sorted by start day."""

    patient: IntArray
    start_day: IntArray
    site: IntArray
    therapist: IntArray
    chronic: BoolArray
    contraindicated: BoolArray
    planned: IntArray  # planned number of visits
    first_visit: IntArray  # offset of the first planned visit in Visits
    last_day: IntArray  # day of the last planned visit (planned discharge)
    nprs_level: FloatArray  # latent baseline pain level
    nprs0: FloatArray
    odi0: FloatArray
    flexion0: FloatArray
    ppt0: FloatArray
    analgesic0: BoolArray
    doses0: FloatArray
    opioid0: BoolArray
    mme0: FloatArray
    arm: IntArray  # index into ARMS
    modifier: FloatArray  # NPRS/week added to every arm's slope (covariates, site, shift…)
    shifted: BoolArray


def draw_patients(
    rng: np.random.Generator, p: SampleParams, n_patients: int, n_sites: int
) -> Patients:
    """Draw the patient-level covariates."""
    weights = 1.0 / (np.arange(n_sites) + 1.5)
    site = rng.choice(n_sites, size=n_patients, p=weights / weights.sum())
    sex = rng.choice(4, size=n_patients, p=np.asarray(p.sex_shares) / sum(p.sex_shares))
    age = np.maximum(16, np.rint(rng.normal(p.age_mean, p.age_sd, n_patients))).astype(np.int64)
    shares = np.asarray(p.condition_shares)
    condition = rng.choice(len(shares), size=n_patients, p=shares / shares.sum())
    weeks = np.exp(rng.normal(np.log(p.symptom_weeks_median), p.symptom_weeks_sigma, n_patients))
    symptom_weeks = np.clip(np.rint(weeks), 1, p.symptom_weeks_max).astype(np.int64)
    has_ci = rng.random(n_patients) < p.contraindication_share
    ci = rng.integers(0, 7, n_patients)
    ci = np.where((ci == 0) & (sex != 0), 2, ci)  # pregnancy only for women
    return Patients(
        site=site.astype(np.int64),
        sex=sex.astype(np.int64),
        age=age,
        condition=condition.astype(np.int64),
        symptom_weeks=symptom_weeks,
        contraindication=np.where(has_ci, ci, -1).astype(np.int64),
    )


def _episode_starts(
    rng: np.random.Generator, p: SampleParams, n: int, n_patients: int, span_days: int
) -> tuple[IntArray, IntArray]:
    """Which patient each episode belongs to and its start day (sorted by start day)."""
    repeats = rng.integers(0, n_patients, size=n - n_patients)
    counts = 1 + np.bincount(repeats, minlength=n_patients)
    patient = np.repeat(np.arange(n_patients), counts)
    k = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    last_start = span_days - 91  # leaves room for up to 12 weekly visits
    gap = rng.uniform(120.0, 240.0, n_patients)
    gap = np.minimum(gap, last_start / np.maximum(counts, 2))
    first = rng.random(n_patients) * (last_start - (counts - 1) * gap)
    start = np.floor(first[patient] + k * gap[patient]).astype(np.int64)
    order = np.lexsort((patient, start))
    return patient[order], start[order]


def _visits(
    rng: np.random.Generator, p: SampleParams, n: int
) -> tuple[Visits, IntArray, IntArray, IntArray]:
    planned = np.clip(np.rint(rng.normal(p.sessions_mean, p.sessions_sd, n)), 3, 12)
    planned = planned.astype(np.int64)
    # Longer courses are booked more densely: the course lasts about ``weeks`` (uniform),
    # at 1 to 2 visits a week, so 12 visits take 5.5 to 11 weeks and 3 visits 1 to 2.
    weeks = rng.uniform(p.course_weeks[0], p.course_weeks[1], n)
    per_week = np.clip((planned - 1) / weeks, p.visits_per_week[0], p.visits_per_week[1])
    first = np.cumsum(planned) - planned
    episode = np.repeat(np.arange(n), planned)
    index = np.arange(int(planned.sum())) - first[episode]
    gaps = np.maximum(2.0, np.rint(7.0 / per_week[episode] + rng.uniform(-1.5, 1.5, len(index))))
    gaps[index == 0] = 0.0
    cum = np.cumsum(gaps).astype(np.int64)
    day = cum - cum[first][episode]
    noise = rng.standard_normal(len(index))
    last_day = day[first + planned - 1]
    visits = Visits(episode=episode, index=index, day=day, noise=noise)
    return visits, planned, first, last_day


def draw_episodes(
    rng: np.random.Generator,
    p: SampleParams,
    pats: Patients,
    *,
    n: int,
    cal: Calendar,
    n_sites: int,
    confounding: float,
) -> tuple[Episodes, Visits]:
    """Draw episodes, their planned visits, baseline measures, arm and slope modifiers."""
    n_patients = len(pats.site)
    patient, start_day = _episode_starts(rng, p, n, n_patients, cal.span_days)
    site = pats.site[patient]
    therapist = site * p.therapists_per_site + rng.integers(0, p.therapists_per_site, n)
    weeks = pats.symptom_weeks[patient].astype(np.float64)
    chronic = weeks >= 12
    contraindicated = pats.contraindication[patient] >= 0
    visits, planned, first, last_day = _visits(rng, p, n)

    # Baseline measures: one latent pain level drives NPRS, ODI and the rest.
    z = rng.standard_normal((4, n))
    level = p.nprs_mean + p.nprs_sd_between * z[0]
    nprs0 = np.clip(np.rint(level + p.nprs_sd_within * visits.noise[first]), 0, 10)
    rho = p.odi_nprs_corr
    odi_latent = p.odi_mean + p.odi_sd * (rho * z[0] + np.sqrt(1 - rho**2) * z[1])
    odi0 = np.clip(2 * np.rint(odi_latent / 2), 0, 100)
    odi_z = (odi0 - p.odi_mean) / p.odi_sd
    age = pats.age[patient].astype(np.float64)
    flexion0 = p.flexion_mean + p.flexion_sd * (-0.3 * odi_z + 0.95 * z[2]) - 0.1 * (age - 49)
    flexion0 = np.round(np.clip(flexion0, 5, 110), 1)
    female = pats.sex[patient] == 0
    ppt0 = p.ppt_mean + p.ppt_sd * (-0.2 * z[0] + 0.98 * z[3]) - 0.4 * (female - 0.58)
    ppt0 = np.round(np.clip(ppt0, 0.5, 15), 1)
    nprs_z = (nprs0 - p.nprs_mean) / NPRS_SCALE

    def _logit(share: float) -> float:
        return float(np.log(share / (1 - share)))

    u = rng.random((2, n))
    analgesic0 = u[0] < _logistic(_logit(p.analgesic_use_share) + 0.5 * nprs_z)
    opioid0 = u[1] < _logistic(_logit(p.opioid_use_share) + 0.5 * nprs_z + 0.4 * (chronic - 0.4))
    doses0 = np.where(analgesic0, 1.0 + rng.poisson(p.analgesic_doses_mean - 1.0, n), 0.0)
    mme = np.exp(rng.normal(np.log(p.opioid_mme_median), 0.6, n))
    mme0 = np.where(opioid0, np.round(np.clip(mme, 2.5, 300), 1), 0.0)

    # Arms: multinomial logit (Gumbel-max); only the combination-vs-DN contrast is
    # confounded, and only through covariates the propensity model sees.
    shares = np.asarray(p.arm_shares) / sum(p.arm_shares)
    eta = np.tile(np.log(shares / shares[0]), (n, 1))
    site_offset = np.zeros(n_sites)
    k = min(n_sites, len(p.assign_site))
    site_offset[:k] = p.assign_site[:k]
    weeks_centre = p.symptom_weeks_median * np.exp(p.symptom_weeks_sigma**2 / 2)
    eta[:, 1] += confounding * (
        p.assign_nprs * nprs_z
        + p.assign_odi * odi_z
        + p.assign_symptom_week * (weeks - weeks_centre)
        + site_offset[site]
    )
    eta[:, 2] += p.assign_contraindicated_me * contraindicated
    arm = np.argmax(eta + rng.gumbel(size=(n, len(ARMS))), axis=1).astype(np.int64)

    # Slope modifiers shared by every arm: chronicity, baseline ODI, site, therapist,
    # the episode itself, and the QI shift.
    site_eff = rng.normal(0.0, p.nprs_weekly_site_sd, n_sites)
    ther_eff = rng.normal(0.0, p.nprs_weekly_therapist_sd, n_sites * p.therapists_per_site)
    episode_eff = rng.normal(0.0, p.nprs_weekly_episode_sd, n)
    shifted = (site == cal.shift_site) & (start_day >= cal.shift_day)
    if p.benchmarking:
        # A child generator: the main stream (and so the default sample) is untouched.
        aux = rng.spawn(1)[0]
        names = therapist_names(p, n_sites)
        therapist = route_therapists(aux, p, names, site, therapist, chronic, odi_z)
        ther_eff = ther_eff + np.array([p.therapist_effects.get(t, 0.0) for t in names])
    modifier = (
        p.nprs_weekly_chronic * chronic
        + p.nprs_weekly_odi_sd * odi_z
        + site_eff[site]
        + ther_eff[therapist]
        + episode_eff
        + p.shift_nprs_weekly * shifted
    )
    eps = Episodes(
        patient=patient,
        start_day=start_day,
        site=site,
        therapist=therapist,
        chronic=chronic,
        contraindicated=contraindicated,
        planned=planned,
        first_visit=first,
        last_day=last_day,
        nprs_level=level,
        nprs0=nprs0,
        odi0=odi0,
        flexion0=flexion0,
        ppt0=ppt0,
        analgesic0=analgesic0,
        doses0=doses0,
        opioid0=opioid0,
        mme0=mme0,
        arm=arm,
        modifier=modifier,
        shifted=shifted,
    )
    return eps, visits


def therapist_names(p: SampleParams, n_sites: int) -> list[str]:
    """Therapist ids ``<site>_pt<k>`` in index order."""
    return [
        f"{site}_pt{k + 1}" for site in site_names(n_sites) for k in range(p.therapists_per_site)
    ]


def route_therapists(
    aux: np.random.Generator,
    p: SampleParams,
    names: list[str],
    site: IntArray,
    therapist: IntArray,
    chronic: BoolArray,
    odi_z: FloatArray,
) -> IntArray:
    """Therapist-specific case mix: route the more severe episodes of a site to the
    therapists named in ``p.therapist_casemix`` (see :class:`SampleParams`)."""
    unknown = sorted((set(p.therapist_effects) | set(p.therapist_casemix)) - set(names))
    if unknown:
        from dnoutcomes.errors import RequestError

        raise RequestError(
            f"therapist_effects / therapist_casemix: unknown therapist id(s) {unknown}; "
            f"expected ids such as {', '.join(names[:3])}. Use <site>_pt<k>."
        )
    out = therapist.copy()
    per = p.therapists_per_site
    severity = 2.0 * (chronic - 0.5) + odi_z
    base = float(np.log(1.0 / (per - 1))) if per > 1 else 0.0
    for name in sorted(p.therapist_casemix):
        k = names.index(name)
        at_site = site == k // per
        prob = _logistic(base + p.therapist_casemix[name] * severity)
        routed = at_site & (aux.random(len(site)) < prob)
        others = np.array([j for j in range(per) if (k // per) * per + j != k], dtype=np.int64)
        moved = at_site & ~routed & (out == k)
        if others.size:
            out[moved] = (k // per) * per + others[aux.integers(0, others.size, int(moved.sum()))]
        out[routed] = k
    return out
