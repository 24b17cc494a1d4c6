"""The quality-improvement report on the Dask engine (``dnoutcomes report PATH --engine
dask``): each partition of a partitioned export is loaded on a worker and reduced to
additive report summaries (counts, sums and value counts); the driver adds them up and
builds the report's sections from the sums with the same table code and the same
report-wide suppression (:func:`~dnoutcomes.report.build.assemble_report`) as the
in-memory report.

Sections built from summaries: the headline figures (median visits from the value counts
of ``n_sessions``), data quality (rows and warnings added over the partitions), the
patient flow (episodes per arm and stage), the caseload (episodes per group and arm;
medians from value counts); from the period's analysis rebuilt out of partition sums
(:mod:`dnoutcomes.network._report_stats`), Table 1, the comparisons (ANCOVA, responders,
IPTW by iterated summaries) and safety; and from monthly aggregates
(:mod:`dnoutcomes.network._report_charts`), the control charts and the summary page.
Benchmarking is left out and listed in the report's ``omitted`` with the reason
(:data:`NOT_FROM_SUMMARIES`).
"""

from __future__ import annotations

import dataclasses
import operator
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from dnoutcomes.errors import InsufficientDataError, RequestError

if TYPE_CHECKING:
    import datetime as dt

    from dnoutcomes.network.dask_engine import Partition
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.report.model import Report
    from dnoutcomes.report.period import Period

__all__ = ["DASK_SECTIONS", "NOT_FROM_SUMMARIES", "median_of_counts", "report_partitions"]

#: The sections the Dask report builds from partition summaries.
DASK_SECTIONS: tuple[str, ...] = (
    "summary",
    "headline",
    "data_quality",
    "flow",
    "caseload",
    "table1",
    "comparisons",
    "safety",
    "control_charts",
)

#: The sections the Dask report leaves out, with the reason printed in the report.
NOT_FROM_SUMMARIES: dict[str, str] = {
    "funnel": "not built from partition summaries yet (the Dask engine's report)",
    "benchmarking": "the case-mix model is fitted on every row (iterative); not computed by "
    "the Dask engine",
}

_CASELOAD = (("site_id", "site"), ("therapist_id", "therapist"), ("condition", "condition"))


def median_of_counts(counts: pd.Series) -> float:
    """The median of the values a value count describes (pandas' median of the rows).

    Parameters
    ----------
    counts
        ``value → count`` (missing values left out).

    Returns
    -------
    float
        NaN when there is no value; else the middle value, or the mean of the two middle
        values for an even count.
    """
    counts = counts[counts > 0].sort_index()
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    ends = np.cumsum(counts.to_numpy())
    values = counts.index.to_numpy(dtype="float64")
    low = values[np.searchsorted(ends, (n - 1) // 2, side="right")]
    high = values[np.searchsorted(ends, n // 2, side="right")]
    return float((low + high) / 2)


def _site_rows(dataset: Any, site: str | None) -> Any:
    if site is None:
        return dataset
    from dnoutcomes.report.build import subset_dataset

    sites = dataset.episodes["site_id"].astype("string")
    return subset_dataset(
        dataset, dataset.episodes.loc[(sites == site).fillna(False), "episode_id"]
    )


def _scan(part: Partition, protocol: Protocol, site: str | None) -> dict[str, Any]:
    """First pass (on a worker): the partition's discharge dates and arms at the site."""
    from dnoutcomes.network.dask_engine import _load

    local = _site_rows(_load(part, protocol), site)
    ends = pd.to_datetime(local.episodes["end_date"]).dropna().unique()
    return {
        "end_dates": pd.Series(ends),
        "arms": set(local.episodes["arm"].astype("string").dropna()),
        "episodes": len(local.episodes),
    }


def _headline_parts(dataset: Any) -> dict[str, Any]:
    from dnoutcomes.report.headline import headline_figures

    figures = headline_figures(dataset, dataset.episodes["episode_id"])
    visits = dataset.episodes["n_sessions"].astype("float64").dropna().value_counts()
    return {
        "episodes": figures.episodes,
        "visits": visits,
        "nprs_pairs": figures.nprs_pairs,
        "responders": figures.nprs_responders,
        "improvement_sum": (
            figures.mean_nprs_improvement * figures.nprs_pairs if figures.nprs_pairs else 0.0
        ),
        "dn_sessions": figures.dn_sessions,
        "adverse_events": figures.adverse_events,
        "complete": figures.complete_outcomes,
    }


def _caseload_parts(dataset: Any, by: str, reference: str, comparator: str) -> pd.Series:
    """Episodes per (group, arm kind, visits); the report's grouping and labels."""
    episodes = dataset.episodes
    patients = dataset.patients.set_index("patient_id")
    column = episodes[by] if by in episodes else episodes["patient_id"].map(patients[by])
    groups = column.astype("string").fillna("(not recorded)").astype(object)
    arms = episodes["arm"].astype("string").fillna("(none)")
    kind = np.select(
        [arms == reference, arms == comparator], ["reference", "comparator"], default="other_arms"
    )
    frame = pd.DataFrame(
        {
            "group": groups.to_numpy(),
            "kind": kind,
            "visits": episodes["n_sessions"].astype("float64").to_numpy(),
        }
    )
    counts: pd.Series = frame.groupby(["group", "kind", "visits"], dropna=False).size()
    return counts


def _flow_parts(
    dataset: Any, reference: str, comparator: str, measure: str, timepoint: str
) -> dict[str, Any]:
    """Episodes per arm, and per compared arm: episodes, with a baseline value, with both
    values (the counts of :func:`~dnoutcomes.cohort.patient_flow`)."""
    from dnoutcomes.cohort import _arm_counts
    from dnoutcomes.cohort._codes import episode_codes, episode_values

    arms = dataset.episodes["arm"].astype("string").fillna("(none)").to_numpy()
    per_arm = {}
    if len(dataset.episodes):
        codes = episode_codes(dataset, "episodes")
        base = ~np.isnan(episode_values(dataset, measure, "baseline")[codes])
        both = base & ~np.isnan(episode_values(dataset, measure, timepoint)[codes])
    for arm in (reference, comparator):
        in_arm = arms == arm
        per_arm[arm] = (
            (int(in_arm.sum()), int((in_arm & base).sum()), int((in_arm & both).sum()))
            if len(arms)
            else (0, 0, 0)
        )
    return {"counts": _arm_counts(dataset), "per_arm": per_arm}


def _parts(
    part: Partition,
    protocol: Protocol,
    site: str | None,
    period: Period,
    previous: Period,
    reference: str,
    comparator: str,
) -> tuple[dict[str, Any], Any, str | None]:
    """Second pass (on a worker): the partition's additive report summaries, its rows of
    the weighted comparison (they stay on the worker) and whether it has any (``None``),
    or why they could not be prepared."""
    from dnoutcomes.network._report_charts import chart_parts
    from dnoutcomes.network._report_stats import period_parts
    from dnoutcomes.network.dask_engine import _load, _prepare_iptw
    from dnoutcomes.report.build import subset_dataset

    dataset = _load(part, protocol)
    local = _site_rows(dataset, site)
    ends = local.episodes["end_date"]
    current = subset_dataset(local, local.episodes.loc[period.contains(ends), "episode_id"])
    before = subset_dataset(local, local.episodes.loc[previous.contains(ends), "episode_id"])
    warned = dataset.warnings
    by_rule = (
        warned.groupby(["table", "rule"], observed=True, sort=True).size().rename("warnings")
        if len(warned)
        else pd.Series(dtype="int64", name="warnings")
    )
    analysis = period_parts(current, protocol)
    weighted: Any = None
    if analysis is not None:
        from dnoutcomes.cohort import part_of_export

        with part_of_export():
            weighted = _prepare_iptw(current, protocol)
    status = weighted if isinstance(weighted, str) else None if weighted is None else "ok"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = {
            "name": part.name,
            "accounting": dataset.accounting[["table", "read", "loaded", "rejected"]].copy(),
            "warnings": by_rule,
            "mode": getattr(dataset, "mode", "strict"),
            "has_events": dataset.adverse_events is not None,
            "headline": [_headline_parts(current), _headline_parts(before)],
            "caseload": {
                by: _caseload_parts(current, by, reference, comparator) for by, _ in _CASELOAD
            },
            "flow": _flow_parts(
                current,
                reference,
                comparator,
                protocol.primary.measure,
                protocol.primary.timepoint,
            ),
            "analysis": analysis,
            "registry": dataset.registry,
            "charts": chart_parts(local),
        }
    return summary, weighted, status


def _headline(parts: Sequence[dict[str, Any]], which: int) -> Any:
    from dnoutcomes.report.headline import Headline

    items = [p["headline"][which] for p in parts]
    total = {
        k: int(sum(int(i[k]) for i in items))
        for k in ("episodes", "nprs_pairs", "responders", "dn_sessions", "complete")
    }
    visits = pd.concat([i["visits"] for i in items]).groupby(level=0).sum()
    pairs = total["nprs_pairs"]
    improvement = float(sum(i["improvement_sum"] for i in items))
    recorded = all(i["adverse_events"] is not None for i in items)
    return Headline(
        episodes=total["episodes"],
        median_visits=median_of_counts(visits),
        nprs_pairs=pairs,
        nprs_responders=total["responders"],
        mean_nprs_improvement=improvement / pairs if pairs else float("nan"),
        dn_sessions=total["dn_sessions"],
        adverse_events=int(sum(int(i["adverse_events"]) for i in items)) if recorded else None,
        complete_outcomes=total["complete"],
    )


def _caseload(parts: Sequence[dict[str, Any]], by: str) -> tuple[pd.DataFrame, pd.Series, float]:
    counts = pd.concat([p["caseload"][by] for p in parts])
    counts = counts.groupby(level=[0, 1, 2], dropna=False).sum()
    frame = counts.rename("n").reset_index()
    per_kind = (
        frame.groupby(["group", "kind"])["n"]
        .sum()
        .unstack("kind")
        .reindex(columns=["reference", "comparator", "other_arms"])
        .fillna(0)
        .astype("int64")
        .sort_index()
    )
    per_kind.index = pd.Index(per_kind.index.astype(str), name=by)
    per_kind.columns.name = None
    by_visits = frame.dropna(subset=["visits"]).groupby(["group", "visits"])["n"].sum()
    medians = pd.Series(
        {
            g: median_of_counts(by_visits.xs(g, level="group"))
            for g in by_visits.index.get_level_values("group").unique()
        },
        dtype="float64",
    )
    overall = median_of_counts(by_visits.groupby(level="visits").sum())
    return per_kind, medians, overall


def _flow(parts: Sequence[dict[str, Any]], protocol: Protocol, arms: tuple[str, str]) -> Any:
    from dnoutcomes.cohort import flow_from_counts

    counts = pd.concat([p["flow"]["counts"] for p in parts]).groupby(level=0).sum()
    # the order of _arm_counts: largest first, ties in order of appearance
    counts = counts.sort_values(ascending=False, kind="stable")
    per_arm = {
        arm: tuple(int(sum(p["flow"]["per_arm"][arm][i] for p in parts)) for i in range(3))
        for arm in arms
    }
    return flow_from_counts(
        counts,
        per_arm,  # type: ignore[arg-type]
        reference=arms[0],
        comparator=arms[1],
        measure=protocol.primary.measure,
        timepoint=protocol.primary.timepoint,
    )


def _analysis(
    parts: Sequence[dict[str, Any]], protocol: Protocol, weighted: dict[str, Any]
) -> tuple[Any, str]:
    """The period's analysis from the partitions' sums
    (:func:`~dnoutcomes.network._report_stats.pooled_analysis`), or ``None`` and why."""
    from dnoutcomes.network._report_stats import pooled_analysis

    arms = (protocol.reference, protocol.comparator)
    counts = pd.concat([p["flow"]["counts"] for p in parts]).groupby(level=0).sum()
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    return pooled_analysis(
        [p["analysis"] for p in parts],
        protocol,
        flow=_flow(parts, protocol, arms),
        arm_counts=counts,
        weighted=weighted,
    )


def _sections(parts: Sequence[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    from dnoutcomes.report import charts, comparisons, safety, table1
    from dnoutcomes.report import sections as sec
    from dnoutcomes.report.model import Paragraph, Section
    from dnoutcomes.report.summary import summary_section

    now, then = _headline(parts, 0), _headline(parts, 1)
    accounting = (
        pd.concat([p["accounting"] for p in parts])
        .groupby("table", sort=False)[["read", "loaded", "rejected"]]
        .sum()
        .reset_index()
    )
    rules = [p["warnings"] for p in parts if len(p["warnings"])]
    by_rule = (
        pd.concat(rules).groupby(level=[0, 1]).sum().sort_index().reset_index() if rules else None
    )
    modes = {p["mode"] for p in parts}
    mode = modes.pop() if len(modes) == 1 else "strict"

    def caseload(context: Any) -> Any:
        tables = [
            sec.caseload_table(context, by, label, *_caseload(parts, by)) for by, label in _CASELOAD
        ]
        lead = Paragraph(
            "Who was treated in the period: episodes discharged, by site, by therapist and by "
            "the patient's condition, with the arms compared."
        )
        return sec.SectionOutcome(Section("caseload", "Caseload", (lead, *tables)))

    return [
        ("summary", "the summary of indicators", summary_section),
        ("headline", "the headline figures", lambda c: sec.headline_outcome(c, now, then)),
        (
            "data_quality",
            "data quality",
            lambda c: sec.data_quality_outcome(c, accounting, by_rule, mode),
        ),
        ("flow", "the patient flow", sec.flow_section),
        ("caseload", "the caseload", caseload),
        ("table1", "Table 1", table1.table1_section),
        ("comparisons", "the comparisons", comparisons.comparisons_section),
        ("safety", "safety", safety.safety_section),
        ("control_charts", "the control charts", charts.control_charts_section),
    ]


def _weighted(
    client: Any, sites: list[Any], statuses: Sequence[str | None], protocol: Protocol
) -> dict[str, Any]:
    """The period's weighted comparison by iterated summaries (with its balance table),
    or ``{"failed": why}``."""
    from dnoutcomes.network.iptw import iterated_iptw
    from dnoutcomes.stats.iptw import MIN_PER_ARM

    failed = [s for s in statuses if s not in (None, "ok")]
    if failed:
        return {"failed": failed[0]}
    if not sites:
        return {"failed": "no episode of the compared arms in the period."}
    primary = protocol.outcomes()[0]
    try:
        return iterated_iptw(
            ask=lambda f: client.gather(client.map(f, sites, pure=False)),
            estimand=protocol.weighting.estimand,
            min_per_arm=MIN_PER_ARM,
            labels=(protocol.reference, protocol.comparator, primary.measure, primary.timepoint),
            balance=True,
        )
    except InsufficientDataError as exc:
        return {"failed": str(exc)}


def report_partitions(
    path: str | Path,
    *,
    protocol: Protocol | None = None,
    period: Period | str | None = None,
    site: str | None = None,
    reference: str | None = None,
    comparator: str | None = None,
    min_cell: int | None = None,
    run_time: str | dt.datetime | None = None,
    title: str | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    progress: Any = None,
) -> Report:
    """Build the quality-improvement report of a partitioned export on a Dask cluster.

    Parameters
    ----------
    path
        The partitioned export (:func:`~dnoutcomes.network.dask_engine.find_partitions`).
    protocol, period, site, reference, comparator, min_cell, run_time, title
        As :func:`~dnoutcomes.report.build.build_report`.
    scheduler
        Address of a running scheduler; ``None`` starts a ``LocalCluster``.
    n_workers, processes
        Of the ``LocalCluster``.
    progress
        Called with a short line before each step.

    Returns
    -------
    Report
        The sections of :data:`DASK_SECTIONS`, equal to the in-memory report's (the same
        tables and the same report-wide suppression over them); the others are listed in
        ``report.omitted`` with the reason.

    Raises
    ------
    RequestError
        An unknown site or arm, a period without discharges, an unreachable scheduler.

    Notes
    -----
    Each task loads one partition and returns only sums and value counts, so a worker
    holds one partition at a time. Without ``period`` the partitions are read twice (the
    first pass finds the discharge dates that choose the default period).
    """
    from dnoutcomes.network.dask_engine import _client, find_partitions
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.report import sections as sec
    from dnoutcomes.report.build import DEFAULT_TITLE, assemble_report, resolve_period

    say = progress or (lambda _: None)
    protocol = (protocol or default_protocol()).with_arms(reference, comparator)
    reference, comparator = protocol.reference, protocol.comparator
    min_cell = protocol.report.min_cell if min_cell is None else min_cell
    if min_cell < 1:
        raise RequestError(
            f"--min-cell: the suppression threshold must be at least 1; got {min_cell}. "
            "The analysis plan uses 11."
        )
    parts = find_partitions(path)
    client, cluster = _client(scheduler, n_workers, processes)
    try:
        say("scanning the partitions' discharge dates and arms")
        scans = client.gather(client.map(_scan, parts, protocol=protocol, site=None, pure=False))
        local_scans = scans
        if site is not None:
            local_scans = client.gather(
                client.map(_scan, parts, protocol=protocol, site=site, pure=False)
            )
            if not sum(s["episodes"] for s in local_scans):
                raise RequestError(
                    f"--site: unknown site {site!r}; no partition holds an episode of it. "
                    "Check the spelling (site ids are case-sensitive)."
                )
        arms = set().union(*(s["arms"] for s in local_scans))
        for arm in (reference, comparator):
            if arm not in arms:
                raise RequestError(
                    f"arm {arm!r} is not in the data; expected one of {', '.join(sorted(arms))}."
                )
        ends = pd.concat([s["end_dates"] for s in local_scans], ignore_index=True)
        chosen, period_note = resolve_period(period, ends)
        previous = chosen.previous()
        if not chosen.contains(ends).any():
            raise RequestError(
                f"report: no episode was discharged in {chosen.label} "
                f"({chosen.start:%Y-%m-%d} to {chosen.end:%Y-%m-%d}); choose a period with "
                "discharges with --period or --from/--to."
            )
        say(f"summarising {len(parts)} partitions on Dask")
        done = client.map(
            _parts,
            parts,
            protocol=protocol,
            site=site,
            period=chosen,
            previous=previous,
            reference=reference,
            comparator=comparator,
            pure=False,
        )
        summed = client.gather([client.submit(operator.itemgetter(0), f, pure=False) for f in done])
        statuses = client.gather(
            [client.submit(operator.itemgetter(2), f, pure=False) for f in done]
        )
        # the weighted comparison's rows stay on the workers; only sums travel
        sites = [
            client.submit(operator.itemgetter(1), f, pure=False)
            for f, status in zip(done, statuses, strict=True)
            if status == "ok"
        ]
        del done
        say("the weighted comparison (IPTW) by rounds of summaries")
        weighted = _weighted(client, sites, statuses, protocol)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    analysis, failure = _analysis(summed, protocol, weighted)
    recorded = all(p["has_events"] for p in summed)
    # what the sections read of the period's data: the measures and whether adverse
    # events are recorded
    current = SimpleNamespace(
        registry=summed[0]["registry"], adverse_events=() if recorded else None
    )
    context = sec.Context(
        dataset=cast(Any, None),
        local=cast(Any, None),
        current=cast(Any, current),
        previous=cast(Any, None),
        period=chosen,
        previous_period=previous,
        site=site,
        reference=reference,
        comparator=comparator,
        min_cell=min_cell,
        figures=False,
        protocol=protocol,
        analysis=analysis,
        analysis_failure=failure,
    )
    from dnoutcomes.network._report_charts import pooled_charts

    local, cache = pooled_charts([p["charts"] for p in summed], chosen, context)
    context = dataclasses.replace(context, local=cast(Any, local))
    context.cache.update(cache)
    sources = {
        f"{p.name}/{table}": file
        for p in parts
        for table, file in (p.files or _folder_files(p.path))
    }
    omitted = [(k, v) for k, v in NOT_FROM_SUMMARIES.items() if k not in ("funnel",)]
    return assemble_report(
        context,
        _sections(summed),
        title=title or DEFAULT_TITLE,
        period_note=period_note,
        sources=sources,
        mode=summed[0]["mode"],
        run_time=run_time,
        progress=say,
        omitted=omitted,
        engine="dask",
    )


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    from dnoutcomes.io import _find_files

    return sorted(_find_files(folder).items())
