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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dnoutcomes.contract.measures import Measure, MeasureRegistry, default_registry

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "CASEMIX_COVARIATES",
    "CASEMIX_TARGETS",
    "DEFAULT_SECONDARY",
    "DEFAULT_WEIGHTING_COVARIATES",
    "CaseMixSpec",
    "ClusteringSpec",
    "Estimand",
    "MedicationSpec",
    "MissingDataSpec",
    "MmrmSpec",
    "OutcomeSpec",
    "Protocol",
    "ReportSpec",
    "ResponderRule",
    "ResponderSpec",
    "TimeToResponseSpec",
    "TrajectorySpec",
    "WeightingSpec",
    "builtin_toml",
    "default_protocol",
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
    responders, trajectory, time_to_response, weighting, medication, report, casemix
        The settings of those analyses.
    missing_data, mmrm, clustering
        The routine-care methods (multiple imputation and the tipping point, the MMRM,
        cluster-robust SEs); all off by default.
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
    casemix: CaseMixSpec = CaseMixSpec()
    allow_columns: tuple[str, ...] = ()
    missing_data: MissingDataSpec = MissingDataSpec()
    mmrm: MmrmSpec = MmrmSpec()
    clustering: ClusteringSpec = ClusteringSpec()
    source: str | None = field(default=None, compare=False)
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_toml(cls, path: str | Path) -> Protocol:
        """Read and check a protocol file.

        Parameters
        ----------
        path
            A TOML file in the format of ``docs/protocols.md``.

        Returns
        -------
        Protocol
            With ``source`` (the path as given) and ``lines`` (the line of each key).

        Raises
        ------
        ProtocolError
            Listing every problem of the file at once, each with its key and line: not
            TOML, an unknown key, a value of the wrong type or outside its choices, an
            unknown measure, equal arms, a covariate derived from the outcome….
        UnreadableInputError
            The file does not exist or is not UTF-8 text.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = pathlib.Path(tmp, "study.toml")
        ...     _ = path.write_text('[primary]\\nmeasure = "odi"\\ntimepoint = "followup_12w"\\n')
        ...     p = Protocol.from_toml(path)
        >>> p.primary.measure, p.primary.timepoint, p.lines["primary.timepoint"]
        ('odi', 'followup_12w', 3)
        """
        from dnoutcomes._protocol_toml import parse_text
        from dnoutcomes.errors import UnreadableInputError

        source = str(path)
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise UnreadableInputError(
                f"The protocol file {source} does not exist; check the path, or write the "
                "built-in one with `dnoutcomes protocol init --out FILE`."
            ) from None
        except IsADirectoryError:
            raise UnreadableInputError(
                f"The protocol {source} is a folder; expected a .toml file."
            ) from None
        except UnicodeDecodeError as exc:
            raise UnreadableInputError(
                f"The protocol file {source} is not UTF-8 text (byte {exc.start}); save it "
                "as UTF-8."
            ) from None
        return parse_text(text.removeprefix("\ufeff"), source=source)

    @classmethod
    def from_dict(
        cls,
        mapping: Mapping[str, Any],
        *,
        source: str | None = None,
        lines: Mapping[str, int] | None = None,
    ) -> Protocol:
        """Build and check a protocol from the file's structure (nested dicts and lists,
        as ``tomllib`` returns or :meth:`to_dict` gives; ``None`` counts as absent).

        Parameters
        ----------
        mapping
            The keys of ``docs/protocols.md``; ``primary`` is required.
        source, lines
            Where the mapping came from, for messages (see :meth:`from_toml`).

        Returns
        -------
        Protocol

        Raises
        ------
        ProtocolError
            Listing every problem at once.

        Examples
        --------
        >>> p = Protocol.from_dict({"primary": {"measure": "nprs"}})
        >>> p == Protocol()
        True
        >>> Protocol.from_dict(default_protocol().to_dict()) == default_protocol()
        True
        """
        from dnoutcomes._protocol_toml import parse

        return parse(mapping, source=source, lines=lines)

    def to_dict(self) -> dict[str, Any]:
        """The protocol as plain dicts and lists (JSON-ready), every default filled in.

        Returns
        -------
        dict
            The TOML file's structure: ``title``, ``arms``, ``measures``, ``primary``,
            ``secondary``, ``responders``, ``trajectory``, ``time_to_response``,
            ``weighting``, ``medication``, ``report``, ``casemix``, ``deidentification``, and the
            routine-care settings (``missing_data``, ``mmrm``, ``clustering`` and their
            keys in ``trajectory``, ``time_to_response``, ``weighting``) where they differ
            from their defaults. ``None``
            (JSON null) where a setting means "the primary outcome's" (a secondary's
            ``covariates``, the responders', trajectory's and time to response's
            ``measure``…) or a measure has no MCID. ``source`` and ``lines`` are left out.

        Examples
        --------
        >>> d = default_protocol().to_dict()
        >>> d["primary"], d["weighting"]["estimand"]
        ({'measure': 'nprs', 'timepoint': 'discharge', 'covariates': []}, 'ate')
        """
        from dnoutcomes._protocol_write import to_dict

        return to_dict(self)

    def to_toml(self, *, commented: bool = False) -> str:
        """The protocol as TOML text; ``Protocol.from_toml`` of it gives an equal protocol.

        Parameters
        ----------
        commented
            Add a comment above each key (its meaning and choices), as in
            :func:`builtin_toml`.

        Returns
        -------
        str
            Keys whose value is ``None`` (the primary's) are left out.

        Examples
        --------
        >>> print(Protocol().to_toml().split("\\n\\n")[2])
        [primary]
        measure = "nprs"
        timepoint = "discharge"
        covariates = []
        """
        from dnoutcomes._protocol_write import to_toml

        return to_toml(self, commented=commented)

    def sha256(self) -> str:
        """The protocol's checksum: SHA-256 of the canonical JSON of :meth:`to_dict`
        (sorted keys, no spaces, defaults filled in, numbers of ranges, MCIDs and percentages
        as floats). Comments, spacing, key and table order, and spelled-out defaults do not
        change it; the order of list items does. ``source`` and ``lines`` do not enter. A
        ``[casemix]`` table left at its defaults does not enter either, so a protocol
        written before that table existed keeps its checksum.

        Examples
        --------
        >>> default_protocol().sha256() == Protocol.from_toml_text(builtin_toml()).sha256()
        True
        """
        from dnoutcomes._protocol_write import checksum

        return checksum(self)

    @classmethod
    def from_toml_text(cls, text: str, *, source: str | None = None) -> Protocol:
        """Parse a protocol from TOML text (see :meth:`from_toml`).

        Examples
        --------
        >>> Protocol.from_toml_text('[primary]\\nmeasure = "odi"').primary.measure
        'odi'
        """
        from dnoutcomes._protocol_toml import parse_text

        return parse_text(text, source=source)

    def describe(self) -> list[str]:
        """The protocol in a few plain sentences, for the report's methods section.

        Examples
        --------
        >>> for line in default_protocol().describe()[1:3]:
        ...     print(line[:60])
        Arms: dn_manual_exercise compared with dn_only (effects read
        Primary outcome (ANCOVA): Numeric Pain Rating Scale at disch
        """
        from dnoutcomes._protocol_write import describe

        return describe(self)

    def check_data(
        self, dataset: Dataset, *, raise_errors: bool = False
    ) -> list[tuple[str, int | None, str]]:
        """Check that a loaded export can answer this protocol.

        Parameters
        ----------
        dataset
            The export, loaded with this protocol's registry (``load(path, protocol=p)``).
        raise_errors
            Raise :class:`~dnoutcomes.errors.ProtocolError` instead of returning problems.

        Returns
        -------
        list of (key, line, message)
            Empty when the data fit: both arms exist (else the arms present, with their
            episode counts); the primary outcome, every non-optional secondary outcome and
            the responder outcome have values in both arms; at least one later timepoint
            of the trajectory and of time to response has values (and every visit of an
            enabled MMRM, and the baseline of every MI auxiliary); every covariate can be
            named in this dataset (else the names that can be, never an outcome-derived
            one).

        Examples
        --------
        >>> from dnoutcomes.sample import generate
        >>> dataset = generate(episodes=300, seed=1).to_dataset()
        >>> default_protocol().check_data(dataset)
        []
        >>> [p[0] for p in default_protocol(comparator="dry_needling").check_data(dataset)]
        ['arms.comparator']
        """
        from dnoutcomes._protocol_check import check_data
        from dnoutcomes.errors import ProtocolError

        problems = check_data(self, dataset)
        if problems and raise_errors:
            raise ProtocolError(problems, self.source)
        return problems

    def registry(self, base: MeasureRegistry | None = None) -> MeasureRegistry:
        """The measure registry: ``base`` (default: the built-in one) plus the protocol's
        measures (a declared measure replaces a built-in one of the same name)."""
        registry = base if base is not None else default_registry()
        for measure in self.measures:
            registry = registry.with_measure(measure, replace=True)
        return registry

    def outcomes(self) -> tuple[OutcomeSpec, ...]:
        """The primary then the secondary outcomes, each with its covariates resolved
        (a secondary's ``None`` becomes the primary's, less ``baseline:<its own measure>``,
        which is always in its model).

        Examples
        --------
        >>> p = Protocol(
        ...     primary=OutcomeSpec("nprs", "discharge", ("age", "baseline:odi")),
        ...     secondary=(OutcomeSpec("odi", "discharge", None),),
        ... )
        >>> [o.covariates for o in p.outcomes()]
        [('age', 'baseline:odi'), ('age',)]
        """
        primary_cov = self.primary.covariates or ()
        resolved = [OutcomeSpec(self.primary.measure, self.primary.timepoint, primary_cov)]
        for spec in self.secondary:
            if spec.covariates is None:
                own = f"baseline:{spec.measure}"
                cov = tuple(c for c in primary_cov if c != own)
            else:
                cov = spec.covariates
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

    def casemix_outcome(self) -> tuple[str, str]:
        """The benchmarked measure and timepoint (defaults: the primary's)."""
        return (
            self.casemix.measure or self.primary.measure,
            self.casemix.timepoint or self.primary.timepoint,
        )

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


def builtin_toml() -> str:
    """The built-in protocol as a commented TOML file (what ``dnoutcomes protocol init``
    prints): every key with a comment on its meaning and choices; it parses back to
    exactly :func:`default_protocol`.

    Examples
    --------
    >>> Protocol.from_toml_text(builtin_toml()) == default_protocol()
    True
    """
    return default_protocol().to_toml(commented=True)
