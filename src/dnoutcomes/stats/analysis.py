"""The whole analysis plan in one call: :func:`analyze` runs every section for one pair of
arms and returns an :class:`Analysis` whose :meth:`Analysis.to_dict` is the JSON document
``dnoutcomes analyze --json`` prints.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import pandas as pd

from dnoutcomes._frames import release_unused_memory
from dnoutcomes.cohort import (
    PatientFlow,
    check_arms,
    comparison_episodes,
    covariate_names,
    patient_flow,
)
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._analysis_extra import (
    EXTRA_SECTIONS,
    PROTOCOL_SECTION,
    extra_headline,
    run_extra,
)
from dnoutcomes.stats.ancova import OutcomesResult, compare_outcomes
from dnoutcomes.stats.descriptives import (
    BaselineTable,
    OutcomeSummary,
    describe_baseline,
    summarize_outcomes,
)
from dnoutcomes.stats.iptw import IptwResult, compare_iptw
from dnoutcomes.stats.medication import MedicationResult, compare_medication
from dnoutcomes.stats.meta import SiteMetaResult, compare_sites
from dnoutcomes.stats.mixed import TrajectoryResult, compare_trajectories
from dnoutcomes.stats.responders import (
    ResponderDefinition,
    ResponderResult,
    compare_responders,
)
from dnoutcomes.stats.results import (
    HEADLINE_COLUMNS,
    ResultMixin,
    format_p,
    id_tuple,
    jsonable,
)
from dnoutcomes.stats.safety import SafetyResult, compare_safety
from dnoutcomes.stats.survival import TimeToResponseResult, compare_time_to_response

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.stats.aipw import AipwResult
    from dnoutcomes.stats.clustered import ClusteredResult
    from dnoutcomes.stats.cox import CoxResult
    from dnoutcomes.stats.mi import MiResult, TippingPointResult
    from dnoutcomes.stats.mmrm import MmrmResult
    from dnoutcomes.stats.trajectory_flex import TrajectoryFlexResult

__all__ = ["Analysis", "analyze"]

T = TypeVar("T")

#: Sections in the order of the plan, with the attribute holding each.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("ancova", "ANCOVA"),
    ("lmm", "Mixed model"),
    ("responders", "Responders"),
    ("time_to_response", "Time to response"),
    ("medication", "Medication"),
    ("iptw", "Adjustment for confounding (IPTW)"),
    ("site_meta", "Sites pooled"),
    ("safety", "Safety"),
)


@dataclass(frozen=True, repr=False)
class Analysis(ResultMixin):
    """Every section of the analysis plan for one comparison.

    Attributes
    ----------
    reference, comparator
        The arms; effects read comparator minus reference (ratios comparator over
        reference).
    protocol
        The protocol the analysis ran (its arms are ``reference`` and ``comparator``).
    n_reference, n_comparator
        Episodes of each arm.
    flow
        Patient flow into the primary analysis (NPRS at discharge).
    baseline
        Table 1.
    outcome_summary
        Outcomes by arm × timepoint.
    ancova, lmm, responders, time_to_response, medication, iptw, site_meta, safety
        The sections' results; a section the data cannot support is ``None`` and
        ``notes`` says why (``failures`` maps its key to the reason).
    frame
        The headline of every section, one row per effect: ``section``, ``measure``,
        ``timepoint``, ``term``, ``n``, ``estimate``, ``conf_low``, ``conf_high``,
        ``p_value``.
    mi_ancova, mi_responders, mi_iptw, tipping, mmrm, trajectory_flex, cox, aipw, \
clustered, clustered_iptw
        The routine-care sections, computed only when the protocol asks
        (``[missing_data] method = "mi"``, ``tipping``, ``[mmrm] enabled``,
        ``[trajectory] random_slopes``, ``[time_to_response] cox``, ``[weighting] method =
        "aipw"``, ``[clustering] cluster``); ``None`` otherwise. ``extra_sections`` lists
        those asked for. The MI results hold the complete-case and the MI rows side by side.
    """

    reference: str
    comparator: str
    protocol: Protocol
    n_reference: int
    n_comparator: int
    flow: PatientFlow
    baseline: BaselineTable
    outcome_summary: OutcomeSummary
    ancova: OutcomesResult | None
    lmm: TrajectoryResult | None
    responders: ResponderResult | None
    time_to_response: TimeToResponseResult | None
    medication: MedicationResult | None
    iptw: IptwResult | None
    site_meta: SiteMetaResult | None
    safety: SafetyResult | None
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    failures: Mapping[str, str] = field(default_factory=dict)
    mi_ancova: MiResult | None = None
    mi_responders: MiResult | None = None
    mi_iptw: MiResult | None = None
    tipping: TippingPointResult | None = None
    mmrm: MmrmResult | None = None
    trajectory_flex: TrajectoryFlexResult | None = None
    cox: CoxResult | None = None
    aipw: AipwResult | None = None
    clustered: ClusteredResult | None = None
    clustered_iptw: ClusteredResult | None = None
    extra_sections: tuple[str, ...] = ()

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"{self.comparator} (n = {self.n_comparator}) vs {self.reference} "
            f"(n = {self.n_reference}): every section of the analysis plan"
        )

    def sections(self) -> dict[str, ResultMixin | None]:
        """The section results by JSON key (``None`` for a section not analysed), the
        routine-care sections the protocol asked for after the plan's."""
        return {key: getattr(self, key) for key, _ in self._shown()}

    def _shown(self) -> list[tuple[str, str]]:
        """The plan's sections, then the routine-care ones the protocol asked for."""
        return [*SECTIONS, *((k, v) for k, v in EXTRA_SECTIONS if k in self.extra_sections)]

    def __str__(self) -> str:
        parts = [
            f"dnoutcomes analysis: {self.comparator} compared with {self.reference}",
            f"Episodes: {self.reference} {self.n_reference}, {self.comparator} "
            f"{self.n_comparator}. Effects read {self.comparator} minus {self.reference} "
            "(ratios: over).",
            self._primary_sentence(),
            "",
            "Headline estimates",
            self._format_frame().to_string(index=False),
        ]
        parts.extend(["", str(self.flow), "", str(self.baseline)])
        for key, label in self._shown():
            result = getattr(self, key)
            parts.extend(["", f"== {label} =="])
            parts.append(str(result) if result is not None else "not analysed (see notes)")
        if self.notes:
            parts.extend(["", "Notes"])
            parts.extend(f"- {note}" for note in self.notes)
        return "\n".join(parts)

    def _primary_sentence(self) -> str:
        if self.ancova is None:
            return "Primary outcome: not analysed (" + self.failures.get("ancova", "") + ")."
        r = self.ancova.results[0]
        pct = f"{100 * r.conf_level:g}"
        direction = "lower" if r.estimate < 0 else "higher"
        p_text = format_p(r.p_value)
        p_text = f"p < {p_text[1:]}" if p_text.startswith("<") else f"p = {p_text}"
        return (
            f"Primary outcome: {r.measure} at {r.timepoint} was {abs(r.estimate):.2f} points "
            f"{direction} with {self.comparator} than with {self.reference}, adjusted for "
            f"baseline{''.join(' and ' + ', '.join(r.covariates) for _ in [0] if r.covariates)} "
            f"({pct} % CI {r.conf_low:.2f} to {r.conf_high:.2f}; n = {r.n}; "
            f"{p_text})."
        )

    def _repr_html_(self) -> str:
        parts = [super()._repr_html_(), self.flow._repr_html_(), self.baseline._repr_html_()]
        for key, label in self._shown():
            result = getattr(self, key)
            body = result._repr_html_() if result is not None else "<p>not analysed</p>"
            parts.append(f"<h4>{html.escape(label)}</h4>{body}")
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the analysis plan ("Machine-readable results").

        Returns
        -------
        dict
            ``reference``, ``comparator``, ``n_episodes``, ``ancova``, ``lmm``,
            ``responders``, ``time_to_response``, ``medication``, ``iptw``, ``site_meta``,
            ``safety`` (``null`` for a section not analysed), plus ``medication_doses``
            (ANCOVA of amounts), ``patient_flow`` and ``notes``; then the routine-care
            sections the protocol asked for (``mi_ancova``, ``mi_responders``, ``mi_iptw``
            with ``complete_case`` and ``multiple_imputation`` entries side by side,
            ``tipping``, ``mmrm``, ``trajectory_flex``, ``cox``, ``aipw``, ``clustered``,
            ``clustered_iptw``), absent when not asked for.
        """
        doc: dict[str, Any] = {
            "protocol": self.protocol.to_dict(),
            "protocol_sha256": self.protocol.sha256(),
            "reference": self.reference,
            "comparator": self.comparator,
            "n_episodes": {"reference": self.n_reference, "comparator": self.n_comparator},
        }
        for key, _ in SECTIONS:
            result = getattr(self, key)
            doc[key] = result.to_dict() if result is not None else None
        doc["medication_doses"] = (
            self.medication.doses_to_dict() if self.medication is not None else None
        )
        doc["patient_flow"] = self.flow.to_dict()
        for key, _ in EXTRA_SECTIONS:
            if key in self.extra_sections:
                result = getattr(self, key)
                doc[key] = result.to_dict() if result is not None else None
        doc["notes"] = list(self.notes)
        document: dict[str, Any] = jsonable(doc)
        return document


def _headline_part(section: str, frame: pd.DataFrame, **columns: Any) -> pd.DataFrame:
    """The headline columns of one section's result frame; ``columns`` sets the others."""
    return frame.assign(section=section, **columns).reindex(columns=HEADLINE_COLUMNS)


def _headline(analysis_parts: dict[str, Any]) -> pd.DataFrame:
    ancova: OutcomesResult | None = analysis_parts["ancova"]
    parts = [_headline_part("ancova", pd.DataFrame(columns=HEADLINE_COLUMNS))]
    if ancova is not None:
        parts = [_headline_part("ancova", ancova.frame, term="mean difference")]
    lmm: TrajectoryResult | None = analysis_parts["lmm"]
    if lmm is not None:
        fixed = lmm.table.loc[lmm.table["term"].isin(["arm", "arm_x_weeks"])]
        parts.append(
            _headline_part("lmm", fixed, measure=lmm.measure, timepoint="weeks", n=lmm.n_episodes)
        )
    resp: ResponderResult | None = analysis_parts["responders"]
    if resp is not None:
        parts.append(
            _headline_part(
                "responders", resp.frame, measure=resp.measure, timepoint=resp.timepoint, n=resp.n
            )
        )
    ttr: TimeToResponseResult | None = analysis_parts["time_to_response"]
    if ttr is not None:
        parts.append(
            _headline_part(
                "time_to_response",
                ttr.frame,
                measure=ttr.measure,
                timepoint="days",
                term="median " + ttr.frame["arm"].astype(str),
                estimate=ttr.frame["median"],
                p_value=ttr.logrank_p,
            )
        )
    med: MedicationResult | None = analysis_parts["medication"]
    if med is not None:
        term = np.where(med.frame["model"] == "logistic", "odds ratio", "mean difference")
        parts.append(_headline_part("medication", med.frame, timepoint=med.timepoint, term=term))
    iptw: IptwResult | None = analysis_parts["iptw"]
    if iptw is not None:
        parts.append(
            _headline_part(
                "iptw", iptw.table, measure=iptw.measure, timepoint=iptw.timepoint, n=iptw.n
            )
        )
    meta: SiteMetaResult | None = analysis_parts["site_meta"]
    if meta is not None:
        pooled = meta.to_dict()
        row = {
            "section": "site_meta",
            "measure": meta.measure,
            "timepoint": meta.timepoint,
            "term": "pooled (DerSimonian-Laird)",
            "n": meta.n,
            "estimate": pooled["estimate"],
            "conf_low": pooled["ci_low"],
            "conf_high": pooled["ci_high"],
            "p_value": float("nan"),
        }
        parts.append(pd.DataFrame([row], columns=HEADLINE_COLUMNS))
    parts.extend(extra_headline(analysis_parts))
    frame = pd.concat(parts, ignore_index=True)
    frame["p_value"] = frame["p_value"].astype(float)
    return frame


def analyze(
    dataset: Dataset,
    protocol: Protocol | None = None,
    *,
    reference: str | None = None,
    comparator: str | None = None,
    conf_level: float = 0.95,
    lmm_engine: Literal["fast", "statsmodels"] = "fast",
    require_primary: bool = True,
) -> Analysis:
    """Run every analysis a protocol asks for: the one hinge between data and outputs.

    ``dnoutcomes analyze``, ``figures`` and ``report`` render the :class:`Analysis` this
    returns; nothing below them computes a statistic again.

    Parameters
    ----------
    dataset
        A loaded dataset (load it with the protocol, ``dnoutcomes.load(path,
        protocol=...)``, so that the protocol's measures are registered).
    protocol
        What to ask (:class:`~dnoutcomes.protocol.Protocol`); ``None`` is the built-in
        analysis plan (:func:`~dnoutcomes.protocol.default_protocol`).
    reference, comparator
        Override the protocol's arms (any pair present in the data).
    conf_level
        Confidence level of every interval.
    lmm_engine
        Fitting engine of the mixed model: ``"fast"`` (the default: profiled REML on
        per-episode sufficient statistics, matching lme4 within 1e-6 relative on the
        reference data and over 100 times faster than MixedLM at network scale) or
        ``"statsmodels"`` (MixedLM, kept as a cross-check).
    require_primary
        Raise when the primary outcome cannot be analysed (default). ``False`` (the
        report's choice for a small period) leaves ``ancova`` as ``None`` with the reason
        in ``notes``.

    Returns
    -------
    Analysis

    Raises
    ------
    RequestError
        An unknown arm, equal arms, a covariate or measure the data cannot supply, or a bad
        ``conf_level``.
    InsufficientDataError
        When the primary outcome cannot be analysed and ``require_primary`` is true.

    Notes
    -----
    The primary and secondary ANCOVAs (secondaries Holm-corrected; an ``optional`` one the
    data do not record is skipped with a note), the mixed model over the protocol's
    trajectory timepoints, responders by its definition, time to response over its
    timepoints, medication at its timepoint, the weighted estimate of the primary outcome
    with its covariates and estimand, the site-pooled primary outcome and safety. A
    section the data cannot support is ``None`` and ``notes`` says why. Each section uses
    its own complete cases (see its ``notes`` and the patient flow). The routine-care
    sections the protocol switches on follow (multiple imputation beside complete cases,
    the tipping point, MMRM, random slopes, Cox and RMST, AIPW, cluster-robust SEs); with
    none switched on, the result is exactly the plan's.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> analysis = analyze(dataset)
    >>> analysis.n, analysis.to_dict()["ancova"][0]["n"]
    (214, 182)
    >>> analysis.frame["section"].unique().tolist()[:3]
    ['ancova', 'lmm', 'responders']
    """
    from dnoutcomes.protocol import default_protocol

    if protocol is None:
        protocol = default_protocol()
    protocol = protocol.with_arms(reference, comparator)
    ref, comp, level = protocol.reference, protocol.comparator, conf_level
    check_arms(dataset, ref, comp)
    notes: list[str] = []
    failures: dict[str, str] = {}

    def declared(section: str) -> bool:
        return any(k == section or k.startswith(f"{section}.") for k in protocol.lines)

    def optional(key: str, label: str, run: Callable[[], T]) -> T | None:
        try:
            return _released(run)
        except (InsufficientDataError, RequestError) as exc:
            # A request error (a measure without the MCID a section needs) stops the run
            # only for a section the protocol file declares; a defaulted one is noted.
            if isinstance(exc, RequestError) and declared(_PROTOCOL_SECTION.get(key, key)):
                raise
            notes.append(f"{label} not analysed: {exc}")
            failures[key] = str(exc)
            return None

    outcomes = protocol.outcomes()
    primary = outcomes[0]
    covariates = primary.covariates or ()

    def run_ancova() -> OutcomesResult:
        return compare_outcomes(
            dataset,
            reference=ref,
            comparator=comp,
            outcomes=[(o.measure, o.timepoint) for o in outcomes],
            optional=[o.optional for o in outcomes],
            outcome_covariates=[o.covariates or () for o in outcomes],
            conf_level=level,
        )

    parts: dict[str, Any] = {}
    if require_primary:
        parts["ancova"] = _released(run_ancova)
    else:
        parts["ancova"] = optional("ancova", "ANCOVA", run_ancova)
    r_measure, r_timepoint = protocol.responder_outcome()
    definition = protocol.responders.definition
    parts["lmm"] = optional(
        "lmm",
        "Mixed model",
        lambda: compare_trajectories(
            dataset,
            reference=ref,
            comparator=comp,
            measure=protocol.trajectory_measure(),
            timepoints=protocol.trajectory.timepoints,
            conf_level=level,
            engine=lmm_engine,
        ),
    )
    parts["responders"] = optional(
        "responders",
        "Responders",
        lambda: compare_responders(
            dataset,
            reference=ref,
            comparator=comp,
            measure=r_measure,
            timepoint=r_timepoint,
            definition=_RESPONDER_DEFINITIONS[definition],
            threshold=protocol.responders.percent if definition == "percent" else None,
            conf_level=level,
        ),
    )
    parts["time_to_response"] = optional(
        "time_to_response",
        "Time to response",
        lambda: compare_time_to_response(
            dataset,
            reference=ref,
            comparator=comp,
            measure=protocol.time_to_response_measure(),
            timepoints=protocol.time_to_response.timepoints,
            conf_level=level,
        ),
    )
    parts["medication"] = optional(
        "medication",
        "Medication",
        lambda: compare_medication(
            dataset,
            reference=ref,
            comparator=comp,
            timepoint=protocol.medication_timepoint(),
            conf_level=level,
        ),
    )
    parts["iptw"] = optional(
        "iptw",
        "IPTW",
        lambda: compare_iptw(
            dataset,
            reference=ref,
            comparator=comp,
            measure=primary.measure,
            timepoint=primary.timepoint,
            covariates=_available(dataset, protocol, notes),
            estimand=protocol.weighting.estimand,
            conf_level=level,
        ),
    )
    parts["site_meta"] = optional(
        "site_meta",
        "Sites pooled",
        lambda: compare_sites(
            dataset,
            reference=ref,
            comparator=comp,
            measure=primary.measure,
            timepoint=primary.timepoint,
            conf_level=level,
        ),
    )
    parts["safety"] = optional(
        "safety",
        "Safety",
        lambda: compare_safety(dataset, reference=ref, comparator=comp, conf_level=level),
    )
    extra = run_extra(dataset, protocol, conf_level=level, optional=optional, notes=notes)
    if covariates and parts["site_meta"] is not None:
        notes.append(
            "Sites pooled: each site's ANCOVA adjusts for the baseline only, not for the "
            "primary outcome's covariates."
        )
    episodes = comparison_episodes(dataset, reference=ref, comparator=comp)
    counts = episodes["arm"].value_counts()
    labels = dict(EXTRA_SECTIONS)
    for key, label in [*SECTIONS, *((k, labels[k]) for k in extra)]:
        result = parts[key] if key in parts else extra[key]
        if result is not None:
            notes.extend(f"{label}: {note}" for note in result.notes)
    return Analysis(
        reference=ref,
        comparator=comp,
        protocol=protocol,
        n_reference=int(counts.get(ref, 0)),
        n_comparator=int(counts.get(comp, 0)),
        flow=patient_flow(
            dataset,
            reference=ref,
            comparator=comp,
            measure=primary.measure,
            timepoint=primary.timepoint,
        ),
        baseline=describe_baseline(dataset, reference=ref, comparator=comp),
        outcome_summary=summarize_outcomes(dataset, reference=ref, comparator=comp),
        frame=_headline({**parts, **extra}),
        n=len(episodes),
        episodes_used=id_tuple(episodes["episode_id"]),
        notes=tuple(notes),
        failures=dict(failures),
        extra_sections=tuple(extra),
        **parts,
        **extra,
    )


def _released(run: Callable[[], T]) -> T:
    """``run()``, then the memory it freed given back to the operating system.

    A section's temporaries (design matrices, row frames) are freed when it returns, but
    the C library's ``malloc`` keeps freed blocks of arrays below its mapping threshold
    (up to 32 MiB) in its heap, where the next section's differently sized arrays reuse
    them only in part: at a million episodes the resident set grew by 0.3 GiB more than
    the analysis kept. A few milliseconds per section.
    """
    try:
        return run()
    finally:
        release_unused_memory()


#: The protocol file's section behind each analysis key.
_PROTOCOL_SECTION: dict[str, str] = {
    "lmm": "trajectory",
    "iptw": "weighting",
    **PROTOCOL_SECTION,
}

#: The protocol's responder definitions and the names compare_responders uses.
_RESPONDER_DEFINITIONS: dict[str, ResponderDefinition] = {
    "mcid": "points",
    "percent": "percent",
    "values": "values",
}


def _available(dataset: Dataset, protocol: Protocol, notes: list[str]) -> tuple[str, ...]:
    """The weighting covariates; a built-in default the data cannot supply (no baseline
    ODI, say) is left out with a note, a covariate the protocol file names is kept (and
    refused by the analysis when it does not exist)."""
    names = protocol.weighting.covariates
    if "weighting.covariates" in protocol.lines:
        return names
    present = set(covariate_names(dataset))
    missing = [c for c in names if c not in present]
    if missing:
        notes.append(
            "IPTW: the default propensity covariate(s) "
            + ", ".join(missing)
            + " are not in the data and were left out."
        )
    return tuple(c for c in names if c in present)
