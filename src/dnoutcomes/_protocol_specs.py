"""The protocol's settings, one frozen dataclass a table (``[primary]``,
``[responders]``, ``[trajectory]`` … ``[clustering]``), with the built-in defaults.

Kept apart from :mod:`dnoutcomes.protocol` (which re-exports every name here and holds the
:class:`~dnoutcomes.protocol.Protocol` that gathers them) so that the modules reading,
writing and checking a protocol file can take the settings without importing the
protocol itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CASEMIX_COVARIATES",
    "CASEMIX_TARGETS",
    "DEFAULT_SECONDARY",
    "DEFAULT_WEIGHTING_COVARIATES",
    "CaseMixSpec",
    "ClusterBy",
    "ClusterType",
    "ClusteringSpec",
    "Estimand",
    "MedicationSpec",
    "MissingDataSpec",
    "MissingMethod",
    "MmrmSpec",
    "OutcomeSpec",
    "ReportSpec",
    "ResponderRule",
    "ResponderSpec",
    "ShiftedArm",
    "TimeShape",
    "TimeToResponseSpec",
    "TrajectorySpec",
    "WeightingMethod",
    "WeightingSpec",
]

Estimand = Literal["ate", "att", "ato"]
ResponderRule = Literal["mcid", "percent", "values"]
MissingMethod = Literal["complete_case", "mi"]
ShiftedArm = Literal["comparator", "reference"]
TimeShape = Literal["spline", "linear"]
WeightingMethod = Literal["iptw", "aipw"]
ClusterBy = Literal["none", "therapist", "site"]
ClusterType = Literal["HC1", "HC0", "CR2"]

#: Propensity-model covariates of the built-in analysis (analysis plan, section 6).
DEFAULT_WEIGHTING_COVARIATES: tuple[str, ...] = (
    "age",
    "sex",
    "condition",
    "symptom_weeks",
    "baseline:nprs",
    "baseline:odi",
    "site_id",
)


@dataclass(frozen=True)
class OutcomeSpec:
    """One outcome compared by ANCOVA: a measure at a timepoint, with its covariates.

    Attributes
    ----------
    measure
        A registered measure (built in or declared in the protocol).
    timepoint
        ``discharge`` or a follow-up timepoint (compared with ``baseline``).
    covariates
        Adjustment covariates beyond the outcome's own baseline (always in the model).
        For a secondary outcome ``None`` means "the primary's".
    optional
        Analysed only where the data record it (the built-in secondaries); an outcome that
        is not optional and has no data is an error.
    """

    measure: str
    timepoint: str = "discharge"
    covariates: tuple[str, ...] | None = ()
    optional: bool = False


@dataclass(frozen=True)
class ResponderSpec:
    """The responder analysis: who counts as improved.

    ``measure``/``timepoint`` ``None`` mean the primary outcome's. ``definition``:
    ``"mcid"`` (improvement ≥ the measure's MCID in points), ``"percent"`` (improvement ≥
    ``percent`` % of baseline) or ``"values"`` (a later value among the measure's
    ``responder_values``, e.g. PGIC 1–2).
    """

    measure: str | None = None
    timepoint: str | None = None
    definition: ResponderRule = "mcid"
    percent: float = 30.0


@dataclass(frozen=True)
class TrajectorySpec:
    """The mixed model over visits: which measure, and the timepoints whose rows enter.

    With ``random_slopes`` the analysis adds a random-intercept-and-slope model with
    ``time`` linear or a natural spline of ``spline_df`` columns, and reports the arm
    contrast at ``contrast_weeks`` (weeks past the 95th percentile of follow-up only with
    ``extrapolate``, then marked).
    """

    measure: str | None = None
    timepoints: tuple[str, ...] = ("baseline", "session", "discharge")
    random_slopes: bool = False
    time: TimeShape = "spline"
    spline_df: int = 3
    contrast_weeks: tuple[float, ...] = (0.0, 2.0, 4.0, 6.0, 8.0)
    extrapolate: bool = False


@dataclass(frozen=True)
class TimeToResponseSpec:
    """Time to response: the measure and the post-baseline timepoints that can respond.

    ``cox``: add the Cox hazard ratio (Efron ties, Schoenfeld test) and the restricted
    mean time to response up to ``rmst_horizon`` days (``None``: the largest horizon at
    which both arms' curves are defined).
    """

    measure: str | None = None
    timepoints: tuple[str, ...] = ("session", "discharge")
    cox: bool = False
    rmst_horizon: float | None = None


@dataclass(frozen=True)
class WeightingSpec:
    """Confounding adjustment of the primary outcome by propensity-score weights.

    ``estimand``: ``"ate"`` (stabilised inverse-probability weights), ``"att"`` (the
    comparator arm's patients) or ``"ato"`` (overlap weights). ``method`` ``"aipw"`` adds
    the doubly robust (augmented IPW) estimate of NPRS at discharge, with episodes whose
    propensity lies outside [``trim``, 1 - ``trim``] dropped when ``trim`` is given.
    """

    estimand: Estimand = "ate"
    covariates: tuple[str, ...] = DEFAULT_WEIGHTING_COVARIATES
    method: WeightingMethod = "iptw"
    trim: float | None = None


@dataclass(frozen=True)
class MissingDataSpec:
    """Handling of missing outcomes and covariates.

    ``method`` ``"complete_case"`` (the default: each analysis uses the episodes with its
    values) or ``"mi"``: the primary ANCOVA, the responders and (for NPRS at discharge with
    the plan's ATE weights) IPTW are also run under multiple imputation by chained
    equations (``m`` imputations, ``maxit`` iterations, ``seed``; the baseline and primary
    timepoint values of ``auxiliaries`` enter the imputation models) and shown beside the
    complete cases. ``tipping``: add the delta-adjustment tipping-point analysis of the
    primary ANCOVA, shifting the imputed outcomes of the ``tipping_shifted`` arm by each of
    ``tipping_deltas`` (empty: an automatic grid).
    """

    method: MissingMethod = "complete_case"
    m: int = 20
    maxit: int = 10
    seed: int = 2026
    auxiliaries: tuple[str, ...] = ()
    tipping: bool = False
    tipping_shifted: ShiftedArm = "comparator"
    tipping_deltas: tuple[float, ...] = ()


@dataclass(frozen=True)
class MmrmSpec:
    """The mixed model for repeated measures of the primary measure (when ``enabled``):
    unstructured covariance by REML, the arm contrast at each of ``visits`` (empty:
    discharge, followup_4w and followup_12w where recorded) with ``df`` degrees of
    freedom (``"satterthwaite"``, or ``"kenward-roger"``: Kenward & Roger's adjusted
    standard errors and df, for small samples)."""

    enabled: bool = False
    visits: tuple[str, ...] = ()
    df: Literal["satterthwaite", "kenward-roger"] = "satterthwaite"


@dataclass(frozen=True)
class ClusteringSpec:
    """Cluster-robust standard errors for the primary ANCOVA and IPTW: ``cluster``
    ``"none"``, ``"therapist"`` or ``"site"``; ``type`` ``"HC1"`` (CR1), ``"HC0"`` or
    ``"CR2"`` (Bell–McCaffrey, with Satterthwaite df: for few clusters)."""

    cluster: ClusterBy = "none"
    type: ClusterType = "HC1"


@dataclass(frozen=True)
class MedicationSpec:
    """Medication use (an extension of the protocol file): ``timepoint`` ``None`` means
    the primary outcome's timepoint."""

    timepoint: str | None = None


#: Case-mix variables of the built-in benchmarking (as
#: :data:`dnoutcomes.qi.casemix.DEFAULT_COVARIATES`; a test keeps the two equal).
CASEMIX_COVARIATES: tuple[str, ...] = (
    "age",
    "sex",
    "condition",
    "chronicity",
    "symptom_weeks",
    "contraindications",
    "baseline",
)

#: The summary page's indicators that may have a target (assurance icons): mean
#: improvement (points), responders (a share 0–1), adverse events (per 100 DN sessions).
CASEMIX_TARGETS: tuple[str, ...] = ("mean_improvement", "responders", "adverse_events")


@dataclass(frozen=True)
class CaseMixSpec:
    """Case-mix adjusted benchmarking and the summary page's targets (``[casemix]``).

    Attributes
    ----------
    covariates
        Case-mix variables of the expected-outcome model (see
        :mod:`dnoutcomes.qi.casemix`): ``baseline`` is the measure's own baseline.
    model
        ``"linear"`` (expected improvement, OLS) or ``"logistic"`` (expected chance of
        responding).
    measure, timepoint
        The indicator benchmarked; ``None`` means the primary outcome's.
    reference_from, reference_to
        The reference window the model is fitted on (ISO dates of the episodes'
        ``end_date``); ``None``: from the first discharge, and up to the report period's end.
    overdispersion
        The funnels' limits: ``"additive"`` (Spiegelhalter's random-effects τ²),
        ``"multiplicative"`` (φ) or ``"none"``.
    targets
        ``(indicator, target)`` pairs for the assurance icons of the summary page
        (indicators of :data:`CASEMIX_TARGETS`); an indicator without one has no
        assurance icon and the report says "no target set".
    phases
        ``(first month, name)`` of each deliberate change to the process
        (``("2025-01", "new exercise programme")``), in month order: the summary page's
        charts recompute their limits from each.
    """

    covariates: tuple[str, ...] = CASEMIX_COVARIATES
    model: Literal["linear", "logistic"] = "linear"
    measure: str | None = None
    timepoint: str | None = None
    reference_from: str | None = None
    reference_to: str | None = None
    overdispersion: Literal["additive", "multiplicative", "none"] = "additive"
    targets: tuple[tuple[str, float], ...] = ()
    phases: tuple[tuple[str, str], ...] = ()

    def target_map(self) -> dict[str, float]:
        """The targets as ``{indicator: target}``."""
        return dict(self.targets)


@dataclass(frozen=True)
class ReportSpec:
    """The report's settings: counts from 1 to ``min_cell - 1`` are suppressed."""

    min_cell: int = 11


#: The built-in secondary outcomes, each analysed where the data record it.
DEFAULT_SECONDARY: tuple[OutcomeSpec, ...] = (
    OutcomeSpec("odi", "discharge", None, optional=True),
    OutcomeSpec("nprs", "followup_12w", None, optional=True),
    OutcomeSpec("lumbar_flexion_deg", "discharge", None, optional=True),
    OutcomeSpec("ppt_kg_cm2", "discharge", None, optional=True),
)
