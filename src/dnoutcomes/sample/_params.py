"""The parameters of the synthetic clinic: every number the generator builds in.

Each field says where its value comes from; ``docs/sample-data.md`` gives the full
references. Change one with :func:`dataclasses.replace` and pass the result to
:func:`dnoutcomes.sample.generate` as ``params=``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "AE_TYPES",
    "ARMS",
    "CONDITIONS",
    "CONTRAINDICATIONS",
    "MUSCLES",
    "OPTIONAL_FIELDS",
    "SEXES",
    "SampleParams",
    "baseline_dropout_params",
    "site_names",
]

#: The arms the generator assigns (``other`` = mixed care, left out of arm comparisons).
ARMS: Final = ("dn_only", "dn_manual_exercise", "manual_exercise", "other")
SEXES: Final = ("female", "male", "other", "unknown")
CONDITIONS: Final = (
    "muscle_strain",
    "ligament_sprain",
    "myofascial_pain",
    "disc_herniation",
    "sciatica",
    "spinal_stenosis",
    "postural",
    "other",
)
CONTRAINDICATIONS: Final = (
    "pregnancy",
    "bleeding_disorder",
    "anticoagulants",
    "immunocompromised",
    "skin_infection",
    "metal_allergy",
    "uncontrolled_diabetes",
)
MUSCLES: Final = (
    "lumbar_multifidus",
    "erector_spinae",
    "quadratus_lumborum",
    "gluteus_maximus",
    "gluteus_medius",
    "gluteus_minimus",
    "piriformis",
    "iliopsoas",
    "thoracolumbar_paraspinals",
    "hamstrings",
)
#: Adverse-event types in the order the generator draws them.
AE_TYPES: Final = (
    "bruising",
    "bleeding",
    "pain_during",
    "soreness",
    "aggravation",
    "fatigue",
    "headache",
    "nausea",
    "fainting",
    "paraesthesia",
    "infection",
    "nerve_injury",
    "retained_needle",
    "pneumothorax",
    "other",
)

_FIRST_SITES: Final = ("north", "central", "south")


def site_names(n: int) -> tuple[str, ...]:
    """Site ids: ``north``, ``central``, ``south``, then ``site_04``, ``site_05``…"""
    return tuple(_FIRST_SITES[i] if i < 3 else f"site_{i + 1:02d}" for i in range(n))


def _ro(d: dict[str, float]) -> MappingProxyType[str, float]:
    return MappingProxyType(d)


@dataclass(frozen=True)
class SampleParams:
    """Every number the synthetic clinic is built from (defaults: see docs/sample-data.md).

    Slopes are NPRS points *per week* (negative = pain falls, as the mixed model reports
    them); rates of ODI, flexion and pressure pain threshold are change per week in the
    measure's own units (improvement direction noted per field).
    """

    # --- people -------------------------------------------------------------------------
    #: share female / male / other / unknown (LBP physiotherapy cohorts are ~55-60 % women)
    sex_shares: tuple[float, float, float, float] = (0.58, 0.405, 0.005, 0.01)
    #: age ~ Normal(mean, sd) rounded, floored at 16; 90 and over written as ``90+``
    age_mean: float = 49.0
    age_sd: float = 15.0
    #: condition shares in the order of :data:`CONDITIONS`
    condition_shares: tuple[float, ...] = (0.18, 0.05, 0.20, 0.12, 0.14, 0.07, 0.12, 0.12)
    #: symptom weeks ~ lognormal(log(median), sigma), whole weeks, clipped to [1, max]
    symptom_weeks_median: float = 10.0
    symptom_weeks_sigma: float = 0.9
    symptom_weeks_max: int = 260
    #: share of patients with one recorded contraindication to needling
    contraindication_share: float = 0.04
    #: share of episodes that are a patient's second or later course of care
    repeat_episode_share: float = 0.08

    # --- baseline measures --------------------------------------------------------------
    #: NPRS = latent level (mean, sd_between) + visit noise (sd_within); total sd ~1.7
    nprs_mean: float = 6.0
    nprs_sd_between: float = 1.35
    nprs_sd_within: float = 1.0
    odi_mean: float = 30.0
    odi_sd: float = 12.0
    #: correlation of baseline ODI with the latent pain level
    odi_nprs_corr: float = 0.5
    flexion_mean: float = 48.0
    flexion_sd: float = 11.0
    ppt_mean: float = 4.2
    ppt_sd: float = 1.3
    analgesic_use_share: float = 0.55
    analgesic_doses_mean: float = 11.0
    opioid_use_share: float = 0.12
    opioid_mme_median: float = 25.0
    #: chance that one non-NPRS measure at one timepoint was not recorded (MCAR)
    measure_missing_share: float = 0.03

    # --- care pathway ---------------------------------------------------------------------
    #: arm shares at average covariates (multinomial logit intercepts come from these)
    arm_shares: tuple[float, float, float, float] = (0.30, 0.40, 0.25, 0.05)
    #: share of episodes whose arm is declared in episodes.csv (others: derive from visits)
    arm_declared_share: float = 0.7
    #: planned sessions ~ Normal(mean, sd) rounded, clipped to [3, 12]
    sessions_mean: float = 6.5
    sessions_sd: float = 2.0
    #: intended course length in weeks, uniform per episode; visits per week are
    #: (planned visits - 1) / course weeks, kept within ``visits_per_week``
    course_weeks: tuple[float, float] = (2.0, 6.0)
    visits_per_week: tuple[float, float] = (1.0, 2.0)
    #: log-odds of dn_manual_exercise vs dn_only per SD of baseline NPRS (1.7), per SD of
    #: baseline ODI (12) and per week of symptoms; the site offsets below; all times
    #: ``confounding`` (0 = arms assigned as in a trial)
    assign_nprs: float = 0.35
    assign_odi: float = 0.45
    assign_symptom_week: float = 0.02
    assign_site: tuple[float, ...] = (0.4, 0.0, -0.4)
    #: log-odds of manual_exercise (no needling) when a contraindication is recorded
    assign_contraindicated_me: float = 3.0

    # --- outcomes ---------------------------------------------------------------------------
    #: NPRS change per week by arm at the reference covariates (not chronic, ODI 30)
    nprs_weekly: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {
                "dn_only": -0.65,
                "dn_manual_exercise": -0.93,
                "manual_exercise": -0.70,
                "other": -0.60,
            }
        )
    )
    #: slope modifiers (NPRS/week, positive = slower improvement): chronic (>= 12 weeks),
    #: per SD of baseline ODI; sd of site, therapist and episode random slopes
    nprs_weekly_chronic: float = 0.15
    nprs_weekly_odi_sd: float = 0.08
    nprs_weekly_site_sd: float = 0.05
    nprs_weekly_therapist_sd: float = 0.06
    nprs_weekly_episode_sd: float = 0.12
    #: NPRS regain between discharge and the 12-week follow-up
    nprs_followup_regain: float = 0.3
    followup_share: float = 0.5
    #: ODI improvement per week by arm (points/week; Griswold 2019 -14.5 in 3 weeks)
    odi_weekly: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {
                "dn_only": -4.3,
                "dn_manual_exercise": -5.0,
                "manual_exercise": -4.5,
                "other": -4.0,
            }
        )
    )
    odi_sd_within: float = 6.0
    odi_followup_regain: float = 2.0
    #: flexion gain (degrees/week) and PPT gain (kg/cm2/week) by arm
    flexion_weekly: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {"dn_only": 1.0, "dn_manual_exercise": 1.5, "manual_exercise": 1.4, "other": 1.0}
        )
    )
    flexion_sd_within: float = 4.0
    ppt_weekly: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {"dn_only": 0.10, "dn_manual_exercise": 0.13, "manual_exercise": 0.08, "other": 0.08}
        )
    )
    ppt_sd_within: float = 0.6
    #: medication at discharge: logit = intercept + carry * use at baseline + arm log-OR
    analgesic_intercept: float = -1.8
    analgesic_carry: float = 2.5
    opioid_intercept: float = -2.8
    opioid_carry: float = 3.0
    medication_log_or: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {"dn_only": 0.0, "dn_manual_exercise": -0.3, "manual_exercise": -0.2, "other": 0.0}
        )
    )
    #: dose kept by continuing users (doses/week and MME/day multiply by this)
    dose_kept: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {"dn_only": 0.75, "dn_manual_exercise": 0.65, "manual_exercise": 0.7, "other": 0.75}
        )
    )

    # --- dropout, calendar, safety --------------------------------------------------------------
    #: dropout after visit 2 (only episodes planned for >= 4 visits):
    #: logit = dropout_intercept + dropout_per_nprs * (NPRS at visit 2 - 5)
    dropout_intercept: float = -1.9
    dropout_per_nprs: float = 0.35
    #: extra log-odds of dropout per SD of baseline ODI ((ODI - odi_mean) / odi_sd), by arm:
    #: all 0 by default; :func:`baseline_dropout_params` sets the "missing at random given
    #: baseline" scenario in which complete cases are biased (docs/sample-data.md)
    #: only episodes planned for at least this many visits can drop out
    dropout_min_planned: int = 4
    dropout_per_odi: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {"dn_only": 0.0, "dn_manual_exercise": 0.0, "manual_exercise": 0.0, "other": 0.0}
        )
    )
    #: QI shift: at the second site, episodes starting in or after month ``shift_month``
    #: (0-based, default: the middle of the span) improve more slowly by this much
    shift_nprs_weekly: float = 0.6
    shift_month: int | None = None
    therapists_per_site: int = 3
    #: mild adverse events per DN session (Brady 2014, 7,629 treatments)
    ae_mild: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {
                "bruising": 0.0755,
                "bleeding": 0.0465,
                "pain_during": 0.0301,
                "soreness": 0.0219,
                "aggravation": 0.0088,
                "fatigue": 0.0030,
                "headache": 0.0014,
                "nausea": 0.0013,
                "paraesthesia": 0.0001,
                "other": 0.0007,
            }
        )
    )
    #: significant (major) events per DN session: 1 per 1,000 in total (Boyce 2020: 20 in
    #: 20,464), split over types
    ae_significant: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {
                "aggravation": 0.0004,
                "bleeding": 0.0002,
                "fainting": 0.00015,
                "paraesthesia": 0.0001,
                "headache": 0.00005,
                "nausea": 0.00005,
                "nerve_injury": 0.00005,
            }
        )
    )
    #: serious events per DN session (acupuncture surveillance: ~1 per 100,000 each)
    ae_serious: MappingProxyType[str, float] = field(
        default_factory=lambda: _ro(
            {
                "pneumothorax": 0.00001,
                "infection": 0.00001,
                "nerve_injury": 0.000005,
                "retained_needle": 0.000005,
            }
        )
    )
    #: share of events reported by the patient (the rest by the clinician)
    ae_patient_reported: float = 0.25

    # --- benchmarking scenario (off by default; see docs/sample-data.md) -------------------
    #: therapist id (``<site>_pt<k>``) -> fixed NPRS change per week added to every episode
    #: she treats (negative = her patients improve faster), on top of the random therapist
    #: slope. Empty: no fixed effects (the default sample).
    therapist_effects: MappingProxyType[str, float] = field(default_factory=lambda: _ro({}))
    #: therapist id -> strength ``s`` with which the more severe episodes of her site are
    #: routed to her: P(her) = logistic(logit(1/therapists_per_site) + s * severity), with
    #: severity = 2 * (chronic - 1/2) + z_ODI; the rest of her site's episodes go to the
    #: site's other therapists at random. Empty: therapists uniform within the site.
    therapist_casemix: MappingProxyType[str, float] = field(default_factory=lambda: _ro({}))

    @property
    def benchmarking(self) -> bool:
        """True when therapist effects or therapist-specific case mix are switched on."""
        return bool(self.therapist_effects) or bool(self.therapist_casemix)


#: Fields that are left out of ``truth.json`` while they hold their (empty) default, so the
#: default sample's files do not change when the benchmarking scenario is added.
OPTIONAL_FIELDS: Final = ("therapist_effects", "therapist_casemix")


def baseline_dropout_params(strength: float = 1.5, **changes: object) -> SampleParams:
    """The "missing at random given baseline" dropout scenario.

    Dropout after visit 2 no longer depends on the pain reported there, and every episode
    can drop out (not only those planned for 4 or more visits: the course length, which no
    analysis sees, would otherwise select who can); its log-odds are ``-0.7 + strength *
    z`` in ``dn_manual_exercise`` and ``-0.7 - strength * z`` in the other arms, with ``z``
    the baseline ODI in SDs. Slow improvers (high ODI)
    leave the comparator arm and stay in the reference arm, so an ANCOVA of the completers
    adjusted for baseline NPRS alone flatters the comparator, while analyses that use the
    baseline ODI (multiple imputation with ODI as auxiliary, AIPW) recover the effect: the
    data are missing at random given arm and baseline ODI. The truth (``effects``) is the
    same as without dropout.

    Parameters
    ----------
    strength
        Log-odds of dropout per SD of baseline ODI (0: dropout at random).
    changes
        Any other :class:`SampleParams` field.

    Examples
    --------
    >>> p = baseline_dropout_params()
    >>> p.dropout_per_odi["dn_manual_exercise"], p.dropout_per_nprs
    (1.5, 0.0)
    """
    from dataclasses import replace

    per_odi = {a: (strength if a == "dn_manual_exercise" else -strength) for a in ARMS}
    fields: dict[str, object] = {
        "dropout_intercept": -0.7,
        "dropout_per_nprs": 0.0,
        "dropout_per_odi": _ro(per_odi),
        "dropout_min_planned": 3,
        **changes,
    }
    return replace(SampleParams(), **fields)  # type: ignore[arg-type]
