"""The routine-care sections of :func:`~dnoutcomes.stats.analysis.analyze`: what the
protocol's ``[missing_data]``, ``[mmrm]``, ``[clustering]`` and the routine-care keys of
``[trajectory]``, ``[time_to_response]`` and ``[weighting]`` ask for (all off by default).

Each section is run through the caller's ``optional`` wrapper, so a section the data
cannot support is ``None`` with the reason in the notes, as for the plan's own sections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from dnoutcomes.protocol import DEFAULT_WEIGHTING_COVARIATES
from dnoutcomes.stats.results import HEADLINE_COLUMNS

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = ["EXTRA_SECTIONS", "PROTOCOL_SECTION", "extra_headline", "requested", "run_extra"]

T = TypeVar("T")
Optional = Callable[[str, str, Callable[[], Any]], Any]

#: The routine-care sections, in the order they are shown, with their labels.
EXTRA_SECTIONS: tuple[tuple[str, str], ...] = (
    ("mi_ancova", "ANCOVA: complete cases and multiple imputation"),
    ("mi_responders", "Responders: complete cases and multiple imputation"),
    ("mi_iptw", "IPTW: complete cases and multiple imputation"),
    ("tipping", "Tipping point (missing not at random)"),
    ("mmrm", "MMRM (repeated measures)"),
    ("trajectory_flex", "Mixed model, random slopes"),
    ("cox", "Time to response: Cox model and RMST"),
    ("aipw", "Doubly robust (AIPW)"),
    ("clustered", "ANCOVA with cluster-robust SEs"),
    ("clustered_iptw", "IPTW with cluster-robust SEs"),
)

#: The protocol file's table behind each routine-care section.
PROTOCOL_SECTION: dict[str, str] = {
    "mi_ancova": "missing_data",
    "mi_responders": "missing_data",
    "mi_iptw": "missing_data",
    "tipping": "missing_data",
    "mmrm": "mmrm",
    "trajectory_flex": "trajectory",
    "cox": "time_to_response",
    "aipw": "weighting",
    "clustered": "clustering",
    "clustered_iptw": "clustering",
}

_CLUSTER_COLUMN = {"therapist": "therapist_id", "site": "site_id"}


def requested(protocol: Protocol) -> tuple[str, ...]:
    """The routine-care sections the protocol asks for, in :data:`EXTRA_SECTIONS` order."""
    p = protocol
    primary_nprs = (p.primary.measure, p.primary.timepoint) == ("nprs", "discharge")
    wanted = {
        "mi_ancova": p.missing_data.method == "mi",
        "mi_responders": p.missing_data.method == "mi",
        "mi_iptw": p.missing_data.method == "mi",
        "tipping": p.missing_data.method == "mi" and p.missing_data.tipping,
        "mmrm": p.mmrm.enabled,
        "trajectory_flex": p.trajectory.random_slopes,
        "cox": p.time_to_response.cox,
        "aipw": p.weighting.method == "aipw",
        "clustered": p.clustering.cluster != "none",
        "clustered_iptw": p.clustering.cluster != "none" and primary_nprs,
    }
    return tuple(key for key, _ in EXTRA_SECTIONS if wanted[key])


def run_extra(
    dataset: Dataset,
    protocol: Protocol,
    *,
    conf_level: float,
    optional: Optional,
    notes: list[str],
) -> dict[str, Any]:
    """Run the routine-care sections the protocol asks for.

    Returns
    -------
    dict
        Section key → result (``None`` when it could not be run); only the sections of
        :func:`requested`.
    """
    from dnoutcomes.stats.aipw import compare_aipw
    from dnoutcomes.stats.clustered import compare_clustered
    from dnoutcomes.stats.cox import compare_cox
    from dnoutcomes.stats.mi import (
        compare_ancova_mi,
        compare_iptw_mi,
        compare_responders_mi,
        tipping_point,
    )
    from dnoutcomes.stats.mmrm import compare_mmrm
    from dnoutcomes.stats.trajectory_flex import compare_trajectory_flex

    p = protocol
    ref, comp, level = p.reference, p.comparator, conf_level
    primary = p.outcomes()[0]
    covariates = tuple(primary.covariates or ())
    md = p.missing_data
    mi_args: dict[str, Any] = {
        "reference": ref,
        "comparator": comp,
        "auxiliaries": md.auxiliaries,
        "m": md.m,
        "maxit": md.maxit,
        "rng": md.seed,
        "conf_level": level,
    }
    runs: dict[str, Callable[[], Any]] = {
        "mi_ancova": lambda: compare_ancova_mi(
            dataset,
            measure=primary.measure,
            timepoint=primary.timepoint,
            covariates=covariates,
            **mi_args,
        ),
        "tipping": lambda: tipping_point(
            dataset,
            measure=primary.measure,
            timepoint=primary.timepoint,
            covariates=covariates,
            shifted=md.tipping_shifted,
            deltas=np.array(md.tipping_deltas) if md.tipping_deltas else None,
            **mi_args,
        ),
        "mmrm": lambda: compare_mmrm(
            dataset,
            reference=ref,
            comparator=comp,
            measure=primary.measure,
            visits=p.mmrm.visits or None,
            conf_level=level,
            df=p.mmrm.df,
        ),
        "trajectory_flex": lambda: compare_trajectory_flex(
            dataset,
            reference=ref,
            comparator=comp,
            measure=p.trajectory_measure(),
            time=p.trajectory.time,
            spline_df=p.trajectory.spline_df,
            weeks=p.trajectory.contrast_weeks,
            extrapolate=p.trajectory.extrapolate,
            conf_level=level,
        ),
        "cox": lambda: compare_cox(
            dataset,
            reference=ref,
            comparator=comp,
            measure=p.time_to_response_measure(),
            tau=p.time_to_response.rmst_horizon,
            timepoints=p.time_to_response.timepoints,
            conf_level=level,
        ),
        "aipw": lambda: compare_aipw(
            dataset, reference=ref, comparator=comp, trim=p.weighting.trim, conf_level=level
        ),
    }
    cluster = _CLUSTER_COLUMN.get(p.clustering.cluster, "")
    for key, weighting in (("clustered", "none"), ("clustered_iptw", "iptw")):
        runs[key] = _clustered(compare_clustered, dataset, p, cluster, weighting, level)
    definition = p.responders.definition
    responder_measure, responder_timepoint = p.responder_outcome()
    runs["mi_responders"] = _noted_unless(
        _MI_RESPONDERS_VALUES if definition == "values" else None,
        notes,
        lambda: compare_responders_mi(
            dataset,
            measure=responder_measure,
            timepoint=responder_timepoint,
            definition="points" if definition == "mcid" else "percent",
            threshold=p.responders.percent if definition == "percent" else None,
            **mi_args,
        ),
    )
    runs["mi_iptw"] = _noted_unless(
        None if _mi_plan_set(p) else _MI_IPTW_OFF_PLAN,
        notes,
        lambda: compare_iptw_mi(dataset, **mi_args),
    )
    out: dict[str, Any] = {}
    labels = dict(EXTRA_SECTIONS)
    for key in requested(p):
        out[key] = optional(key, labels[key], runs[key])
    if "clustered" in out and covariates:
        notes.append(
            "ANCOVA with cluster-robust SEs: adjusted for the baseline only, not for the "
            "primary outcome's covariates."
        )
    return out


def _clustered(
    compare: Callable[..., Any],
    dataset: Dataset,
    p: Protocol,
    cluster: str,
    weighting: str,
    level: float,
) -> Callable[[], Any]:
    def run() -> Any:
        return compare(
            dataset,
            reference=p.reference,
            comparator=p.comparator,
            measure=p.primary.measure,
            timepoint=p.primary.timepoint,
            cluster=cluster,
            weighting=weighting,
            type=p.clustering.type,
            conf_level=level,
        )

    return run


def _noted_unless(
    reason: str | None, notes: list[str], run: Callable[[], Any]
) -> Callable[[], Any]:
    """``run``, or (when ``reason`` is given) a section that adds ``reason`` to the notes
    and returns ``None``, when it is run."""

    def guarded() -> Any:
        if reason is not None:
            notes.append(reason)
            return None
        return run()

    return guarded


#: Why a routine-care section under multiple imputation is not run.
_MI_RESPONDERS_VALUES = (
    "Responders under multiple imputation: not run for definition 'values' (the "
    "imputed outcome is continuous; the responder values are categories)."
)
_MI_IPTW_OFF_PLAN = (
    "IPTW under multiple imputation: not run; it is implemented for NPRS at "
    "discharge with the plan's ATE weights and covariates."
)


def _mi_plan_set(p: Protocol) -> bool:
    """IPTW under MI is implemented for NPRS at discharge with the plan's ATE weights."""
    return (
        (p.primary.measure, p.primary.timepoint) == ("nprs", "discharge")
        and p.weighting.estimand == "ate"
        and p.weighting.covariates == DEFAULT_WEIGHTING_COVARIATES
    )


def extra_headline(parts: dict[str, Any]) -> list[pd.DataFrame]:
    """Headline rows of the routine-care sections that were run (one per effect)."""
    rows: list[dict[str, Any]] = []

    def add(section: str, measure: str, timepoint: str, frame: pd.DataFrame, **fixed: Any) -> None:
        for r in frame.to_dict(orient="records"):
            rows.append(
                {
                    "section": section,
                    "measure": measure,
                    "timepoint": timepoint,
                    "term": r.get("term"),
                    "n": r.get("n"),
                    "estimate": r["estimate"],
                    "conf_low": r["conf_low"],
                    "conf_high": r["conf_high"],
                    "p_value": r.get("p_value", float("nan")),
                    **fixed,
                }
            )

    for key in ("mi_ancova", "mi_responders", "mi_iptw"):
        result = parts.get(key)
        if result is not None:
            frame = result.table.assign(term=result.table["method"])
            add(key, result.measure, result.timepoint, frame)
    if parts.get("mmrm") is not None:
        r = parts["mmrm"]
        add("mmrm", r.measure, "visit", r.table, n=r.n_episodes)
    if parts.get("trajectory_flex") is not None:
        r = parts["trajectory_flex"]
        add("trajectory_flex", r.measure, "weeks", r.table, n=r.n_episodes)
    if parts.get("cox") is not None:
        r = parts["cox"]
        estimates = r.table
        keep = estimates.loc[estimates["term"].isin(["hazard_ratio", "rmst_difference"])]
        add("cox", r.measure, "days", keep, n=r.n)
    if parts.get("aipw") is not None:
        r = parts["aipw"]
        estimates = r.table
        keep = estimates.loc[estimates["term"] == "ate"]
        add("aipw", r.measure, r.timepoint, keep, n=r.n)
    for key in ("clustered", "clustered_iptw"):
        r = parts.get(key)
        if r is not None:
            add(key, r.measure, r.timepoint, r.table, n=r.n)
    if not rows:
        return []
    return [pd.DataFrame(rows, columns=HEADLINE_COLUMNS)]
