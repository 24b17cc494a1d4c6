"""Checking a protocol against a loaded export: arms, outcomes with data, covariates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from dnoutcomes._protocol_values import TIMEPOINTS, derived_covariate, line_of

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = ["check_data"]

Problem = tuple[str, int | None, str]


def _counts(dataset: Dataset, arms: tuple[str, str]) -> pd.DataFrame:
    """Values per measure × timepoint × arm (outcomes of the compared arms only)."""
    episodes = dataset.episodes[["episode_id", "arm"]].astype({"arm": "str"})
    episodes = episodes[episodes["arm"].isin(arms)]
    outcomes = dataset.outcomes
    has = outcomes[outcomes["value"].notna()][["episode_id", "measure", "timepoint"]]
    merged = has.astype(str).merge(episodes.astype(str), on="episode_id", how="inner")
    return merged.groupby(["measure", "timepoint", "arm"]).size().rename("n").reset_index()


def check_data(p: Protocol, dataset: Dataset) -> list[Problem]:
    """See :meth:`dnoutcomes.protocol.Protocol.check_data`."""
    from dnoutcomes.cohort import covariate_names

    problems: list[Problem] = []

    def add(key: str, message: str) -> None:
        problems.append((key, line_of(p.lines, key), message))

    arm_counts = dataset.episodes["arm"].astype("string").fillna("(none)").value_counts()
    present = ", ".join(f"{a} ({int(n)} episodes)" for a, n in arm_counts.items())
    for key, arm in (("arms.reference", p.reference), ("arms.comparator", p.comparator)):
        if arm not in arm_counts.index:
            add(key, f"arm {arm!r} has no episode in the data; the arms present are {present}.")
    arms = (p.reference, p.comparator)
    counts = _counts(dataset, arms)
    table = counts.set_index(["measure", "timepoint", "arm"])["n"]
    compared = all(a in arm_counts.index for a in arms)

    def n(measure: str, timepoint: str, arm: str) -> int:
        return int(table.get((measure, timepoint, arm), 0))

    def recorded(measure: str) -> str:
        found = counts.loc[counts["measure"] == measure, "timepoint"].unique().tolist()
        found.sort(key=lambda t: TIMEPOINTS.index(t) if t in TIMEPOINTS else 99)
        return ", ".join(found) if found else "no timepoint"

    def outcome(key: str, measure: str, timepoint: str) -> None:
        if not compared:
            return
        got = [n(measure, timepoint, a) for a in arms]
        if min(got) == 0:
            add(
                key,
                f"no {measure} values at {timepoint} in "
                + " and ".join(f"{a} ({g})" for a, g in zip(arms, got, strict=True))
                + f"; the compared arms record {measure} at {recorded(measure)}. Choose a "
                "timepoint the data record.",
            )

    def key_of(prefix: str) -> str:
        timepoint = f"{prefix}.timepoint"
        return timepoint if timepoint in p.lines or not p.lines else prefix

    outcome(key_of("primary"), p.primary.measure, p.primary.timepoint)
    for i, spec in enumerate(p.secondary):
        if not spec.optional:
            outcome(key_of(f"secondary.{i}"), spec.measure, spec.timepoint)
    responder = p.responder_outcome()
    if responder != (p.primary.measure, p.primary.timepoint):
        outcome(key_of("responders"), *responder)
    for key, measure, timepoints in (
        ("trajectory", p.trajectory_measure(), p.trajectory.timepoints),
        ("time_to_response", p.time_to_response_measure(), p.time_to_response.timepoints),
    ):
        later = [t for t in timepoints if t != "baseline"]
        if compared and later and all(n(measure, t, a) == 0 for t in later for a in arms):
            add(
                f"{key}.timepoints",
                f"no {measure} values at {', '.join(later)} in the compared arms; they record "
                f"{measure} at {recorded(measure)}. List timepoints the data record.",
            )

    for i, visit in enumerate(p.mmrm.visits if p.mmrm.enabled else ()):
        if compared and all(n(p.primary.measure, visit, a) == 0 for a in arms):
            add(
                "mmrm.visits",
                f"no {p.primary.measure} values at {visit} (visit {i + 1}) in the compared "
                f"arms; they record {p.primary.measure} at {recorded(p.primary.measure)}.",
            )
    if p.missing_data.method == "mi":
        for aux in p.missing_data.auxiliaries:
            if compared and all(n(aux, "baseline", a) == 0 for a in arms):
                add(
                    "missing_data.auxiliaries",
                    f"auxiliary {aux!r} has no baseline values in the compared arms; they "
                    f"record {aux} at {recorded(aux)}. List measures the data record.",
                )

    names = covariate_names(dataset)
    measures = frozenset(p.registry())
    nameable = [c for c in names if derived_covariate(c, measures) is None]
    listed = ", ".join(nameable)
    groups: list[tuple[str, tuple[str, ...] | None]] = [
        ("primary.covariates", p.primary.covariates),
        *((f"secondary.{i}.covariates", s.covariates) for i, s in enumerate(p.secondary)),
        ("weighting.covariates", p.weighting.covariates),
        # the benchmarked measure's own baseline and "any contraindication" are derived
        (
            "casemix.covariates",
            tuple(c for c in p.casemix.covariates if c not in ("baseline", "contraindications")),
        ),
    ]
    for key, covariates in groups:
        for name in covariates or ():
            if name not in names:
                add(
                    key,
                    f"covariate {name!r} is not in this export; the names it offers are {listed}.",
                )
    return problems
