"""The study protocol: what is asked of an export, declared once.

A :class:`Protocol` names the two arms, any measures beyond the built-in registry, the
primary and secondary outcomes (measure, timepoint, covariates), the responder definition,
the timepoints of the trajectory and time-to-response analyses, the confounding
adjustment (covariates and estimand) and the report's suppression threshold. It is read
from a TOML file (:meth:`Protocol.from_toml`) or built in Python; :func:`default_protocol`
is the built-in analysis, and running with it gives the same numbers as running with no
protocol at all. The file format is documented in ``docs/protocols.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dnoutcomes.contract.measures import Measure, MeasureRegistry, default_registry

__all__ = [
    "DEFAULT_SECONDARY",
    "DEFAULT_WEIGHTING_COVARIATES",
    "Estimand",
    "MedicationSpec",
    "OutcomeSpec",
    "Protocol",
    "ReportSpec",
    "ResponderRule",
    "ResponderSpec",
    "TimeToResponseSpec",
    "TrajectorySpec",
    "WeightingSpec",
    "default_protocol",
]

Estimand = Literal["ate", "att", "ato"]
ResponderRule = Literal["mcid", "percent", "values"]

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
    """The mixed model over visits: which measure, and the timepoints whose rows enter."""

    measure: str | None = None
    timepoints: tuple[str, ...] = ("baseline", "session", "discharge")


@dataclass(frozen=True)
class TimeToResponseSpec:
    """Time to response: the measure and the post-baseline timepoints that can respond."""

    measure: str | None = None
    timepoints: tuple[str, ...] = ("session", "discharge")


@dataclass(frozen=True)
class WeightingSpec:
    """Confounding adjustment of the primary outcome by propensity-score weights.

    ``estimand``: ``"ate"`` (stabilised inverse-probability weights), ``"att"`` (the
    comparator arm's patients) or ``"ato"`` (overlap weights).
    """

    estimand: Estimand = "ate"
    covariates: tuple[str, ...] = DEFAULT_WEIGHTING_COVARIATES


@dataclass(frozen=True)
class MedicationSpec:
    """Medication use (an extension of the protocol file): ``timepoint`` ``None`` means
    the primary outcome's timepoint."""

    timepoint: str | None = None


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


@dataclass(frozen=True)
class Protocol:
    """A study protocol: every question the analysis answers, declared once.

    Attributes
    ----------
    title
        A one-line description shown in outputs (may be empty).
    reference, comparator
        The arms; effects read comparator minus reference.
    measures
        Measures declared by the protocol (new ones, or built-in ones overridden).
    primary, secondary
        The ANCOVA outcomes; secondary outcomes are Holm-corrected together.
    responders, trajectory, time_to_response, weighting, medication, report
        The settings of those analyses.
    allow_columns
        Column names the de-identification screen lets through (a clinic's known-safe
        extra columns); their values are still screened.
    source
        The file the protocol was read from (``None`` when built in Python).
    lines
        Line of each key in the source file (dotted key path, e.g. ``"primary.measure"``,
        ``"secondary.0.timepoint"``), for messages; empty when built in Python.
    """

    title: str = ""
    reference: str = "dn_only"
    comparator: str = "dn_manual_exercise"
    measures: tuple[Measure, ...] = ()
    primary: OutcomeSpec = OutcomeSpec("nprs", "discharge", ())
    secondary: tuple[OutcomeSpec, ...] = ()
    responders: ResponderSpec = ResponderSpec()
    trajectory: TrajectorySpec = TrajectorySpec()
    time_to_response: TimeToResponseSpec = TimeToResponseSpec()
    weighting: WeightingSpec = WeightingSpec()
    medication: MedicationSpec = MedicationSpec()
    report: ReportSpec = ReportSpec()
    allow_columns: tuple[str, ...] = ()
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    def registry(self, base: MeasureRegistry | None = None) -> MeasureRegistry:
        """The measure registry: ``base`` (default: the built-in one) plus the protocol's
        measures (a declared measure replaces a built-in one of the same name)."""
        registry = base if base is not None else default_registry()
        for measure in self.measures:
            registry = registry.with_measure(measure, replace=True)
        return registry

    def outcomes(self) -> tuple[OutcomeSpec, ...]:
        """The primary then the secondary outcomes, each with its covariates resolved
        (a secondary's ``None`` becomes the primary's)."""
        primary_cov = self.primary.covariates or ()
        resolved = [OutcomeSpec(self.primary.measure, self.primary.timepoint, primary_cov)]
        for spec in self.secondary:
            cov = primary_cov if spec.covariates is None else spec.covariates
            resolved.append(OutcomeSpec(spec.measure, spec.timepoint, cov, spec.optional))
        return tuple(resolved)

    def responder_outcome(self) -> tuple[str, str]:
        """The responder analysis' measure and timepoint (defaults: the primary's)."""
        return (
            self.responders.measure or self.primary.measure,
            self.responders.timepoint or self.primary.timepoint,
        )

    def trajectory_measure(self) -> str:
        """The mixed model's measure (default: the primary's)."""
        return self.trajectory.measure or self.primary.measure

    def time_to_response_measure(self) -> str:
        """The time-to-response measure (default: the primary's)."""
        return self.time_to_response.measure or self.primary.measure

    def medication_timepoint(self) -> str:
        """The timepoint of the medication analyses (default: the primary's)."""
        return self.medication.timepoint or self.primary.timepoint

    def with_arms(self, reference: str | None, comparator: str | None) -> Protocol:
        """A copy with the arms replaced where given (the command line's ``--reference``
        and ``--comparator`` override the file)."""
        from dataclasses import replace

        return replace(
            self,
            reference=reference if reference is not None else self.reference,
            comparator=comparator if comparator is not None else self.comparator,
        )


def default_protocol(
    *, reference: str = "dn_only", comparator: str = "dn_manual_exercise"
) -> Protocol:
    """The built-in analysis as a protocol.

    NPRS at discharge (primary); ODI at discharge, NPRS at 12 weeks, lumbar flexion and
    pressure pain threshold at discharge where recorded (secondary); responders by the
    NPRS MCID; the NPRS trajectory over baseline, session and discharge rows; time to an
    NPRS response; stabilised ATE weights on the analysis plan's covariates.

    Examples
    --------
    >>> p = default_protocol()
    >>> p.primary.measure, p.primary.timepoint, len(p.secondary)
    ('nprs', 'discharge', 4)
    """
    return Protocol(
        title="NPRS at discharge: dry needling with manual and exercise therapy vs alone",
        reference=reference,
        comparator=comparator,
        secondary=DEFAULT_SECONDARY,
    )
