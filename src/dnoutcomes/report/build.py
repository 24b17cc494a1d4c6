"""Build a :class:`~dnoutcomes.report.model.Report` from a loaded dataset.

The report covers the episodes *discharged* (episode ``end_date``) in its period, at one
site or at all, and compares them with the previous period of the same kind; its control
charts show the trailing 24 months up to the period's end. Every table and chart label is
suppressed (:func:`dnoutcomes.qi.suppress_counts`) before it enters the report, so nothing
that leaves the package shows a count below the threshold.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from dnoutcomes._frames import _is_text, arrow_text, isin
from dnoutcomes.errors import DnOutcomesError, RequestError
from dnoutcomes.report import sections as sec
from dnoutcomes.report._disclose import protect_report
from dnoutcomes.report.methods import methods_section
from dnoutcomes.report.model import Report, Section, Table
from dnoutcomes.report.period import Period, default_period, parse_period
from dnoutcomes.report.provenance import make_provenance

if TYPE_CHECKING:
    import datetime as dt

    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.stats.analysis import Analysis

__all__ = [
    "DEFAULT_TITLE",
    "assemble_report",
    "build_report",
    "resolve_period",
    "select_site",
    "subset_dataset",
]

DEFAULT_TITLE = "Dry needling for low back pain: quality-improvement report"

Progress = Callable[[str], None]

_LOG = logging.getLogger("dnoutcomes.report")


def _quiet(_: str) -> None:
    return None


def subset_dataset(dataset: Dataset, episode_ids: pd.Series | pd.Index) -> Dataset:
    """The dataset restricted to some episodes, their patients, sessions, outcomes and
    adverse events.

    Parameters
    ----------
    dataset
        The loaded dataset.
    episode_ids
        The episodes kept.

    Returns
    -------
    Dataset
        A new dataset (the input is not changed) with the same registry, accounting,
        problems, warnings and sources; ``adverse_events`` stays ``None`` when it was.
    """
    ids = pd.Index(episode_ids)
    episodes = dataset.episodes[isin(dataset.episodes["episode_id"], ids)]
    patients = dataset.patients[isin(dataset.patients["patient_id"], episodes["patient_id"])]
    in_sessions, in_outcomes = _rows_of_episodes(dataset, ids)
    sessions = dataset.sessions[in_sessions]
    outcomes = dataset.outcomes[in_outcomes]
    events = dataset.adverse_events
    if events is not None:
        events = events[isin(events["session_id"], sessions["session_id"])].reset_index(drop=True)
    return dataclasses.replace(
        dataset,
        patients=patients.reset_index(drop=True),
        episodes=episodes.reset_index(drop=True),
        sessions=sessions.reset_index(drop=True),
        outcomes=outcomes.reset_index(drop=True),
        adverse_events=events,
    )


def _rows_of_episodes(dataset: Dataset, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the sessions and the outcomes whose ``episode_id`` is in ``ids``
    (a missing id never is): the same as :func:`~dnoutcomes._frames.isin` on each table,
    but each distinct episode id is looked up once, through the episode codes the analyses
    share (:mod:`dnoutcomes.cohort._codes`), not once per row (19M outcome rows at a
    million episodes)."""
    if not _is_text(ids):
        return (
            isin(dataset.sessions["episode_id"], ids),
            isin(dataset.outcomes["episode_id"], ids),
        )
    from dnoutcomes.cohort._codes import episode_codes, episode_dictionary

    dictionary = episode_dictionary(dataset)
    if len(ids) == 0:
        hit = np.zeros(len(dictionary), dtype=bool)
    else:
        found = pc.is_in(
            dictionary, value_set=arrow_text(ids).cast(dictionary.type), skip_nulls=True
        )
        hit = np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    chosen = np.append(hit, False)  # code -1 (a missing id) picks the last entry
    return chosen[episode_codes(dataset, "sessions")], chosen[episode_codes(dataset, "outcomes")]


def select_site(dataset: Dataset, site: str | None) -> Dataset:
    """The dataset restricted to one site's episodes (all of it when ``site`` is None).

    Parameters
    ----------
    dataset
        The loaded dataset.
    site
        A site id, or ``None``.

    Returns
    -------
    Dataset
        See :func:`subset_dataset`.

    Raises
    ------
    RequestError
        When no patient belongs to ``site`` (the message lists the sites present).
    """
    if site is None:
        return dataset
    sites = dataset.episodes["site_id"].astype("string")
    if not (sites == site).any():
        present = sorted(str(s) for s in sites.dropna().unique())
        raise RequestError(
            f"--site: unknown site {site!r}; expected one of the sites in the data: "
            f"{', '.join(present)}. Check the spelling (site ids are case-sensitive)."
        )
    return subset_dataset(dataset, dataset.episodes.loc[sites == site, "episode_id"])


def _discharged_in(dataset: Dataset, period: Period) -> pd.Series:
    episodes = dataset.episodes
    ids: pd.Series = episodes.loc[period.contains(episodes["end_date"]), "episode_id"]
    return ids


def _span(dataset: Dataset) -> str:
    ends = pd.to_datetime(dataset.episodes["end_date"]).dropna()
    if ends.empty:
        return "the data hold no discharge"
    return f"the data hold discharges from {ends.min():%Y-%m-%d} to {ends.max():%Y-%m-%d}"


def _analyse(dataset: Dataset, protocol: Protocol) -> tuple[Analysis | None, str]:
    """The period's analysis (``require_primary=False``: a small period keeps what it can),
    or ``None`` and why when the two arms cannot be compared at all."""
    from dnoutcomes.stats.analysis import analyze

    try:
        return analyze(dataset, protocol, require_primary=False), ""
    except DnOutcomesError as exc:
        return None, str(exc)


def resolve_period(period: Period | str | None, end_dates: pd.Series) -> tuple[Period, str]:
    """The period reported and the sentence saying how it was chosen.

    Parameters
    ----------
    period
        As :func:`build_report`'s.
    end_dates
        The discharge dates at the site reported (any order; repeated dates may be left
        out: only the set of dates matters).

    Returns
    -------
    (Period, str)
    """
    if isinstance(period, str):
        period = parse_period(period)
    if period is not None:
        return period, f"Period asked for: {period.label}."
    period = default_period(end_dates)
    latest = pd.to_datetime(end_dates).max().date()
    if latest < period.end:
        return period, (
            "No period was asked for, and no quarter in the data is complete yet (the "
            f"last discharge is on {latest:%Y-%m-%d}), so this report covers the quarter "
            f"of the latest discharges, {period.label}, which is not complete."
        )
    return period, (
        "No period was asked for, so this report covers the last complete quarter "
        f"with discharges in the data: {period.label}."
    )


def build_report(
    dataset: Dataset,
    *,
    period: Period | str | None = None,
    site: str | None = None,
    protocol: Protocol | None = None,
    reference: str | None = None,
    comparator: str | None = None,
    min_cell: int | None = None,
    run_time: str | dt.datetime | None = None,
    title: str = DEFAULT_TITLE,
    figures: bool = True,
    progress: Progress | None = None,
    benchmark: str = "adjusted",
) -> Report:
    """Build the quality-improvement report of one period.

    Parameters
    ----------
    dataset
        The loaded dataset (:func:`dnoutcomes.load`).
    period
        The period reported: a :class:`~dnoutcomes.report.period.Period`, or text such as
        ``"2025-Q3"`` or ``"2025-07"``; ``None`` picks the last complete quarter with
        discharges in the data (:func:`~dnoutcomes.report.period.default_period`) and the
        report says so.
    site
        Report on one site only; ``None`` for all sites.
    protocol
        The study protocol (:class:`~dnoutcomes.protocol.Protocol`): what the comparisons
        ask; ``None`` is the built-in analysis plan.
    reference, comparator
        Override the protocol's arms ("comparator minus reference").
    min_cell
        Suppression threshold: counts from 1 to ``min_cell - 1`` show as ``<min_cell``;
        ``None`` takes the protocol's (11 by default).
    run_time
        When the report is made (ISO 8601 text or a datetime); it is printed in the report
        and recorded in the provenance. Pass a fixed value for a reproducible file;
        ``None`` takes the current time.
    title
        The report's title.
    figures
        Draw the figures (default). False builds the numbers only, faster: for a
        ``--data`` document or tests of the numbers.
    progress
        Called with a short line before each step (the command line prints them).
    benchmark
        ``"adjusted"`` (default): the case-mix adjusted benchmarking of therapists and
        sites (:mod:`~dnoutcomes.report.benchmarking`), the raw funnel beside the adjusted
        one; ``"raw"``: the unadjusted therapist funnel plot instead.

    Returns
    -------
    Report
        Every number, table, sentence and figure; ``report.to_html()`` gives the page,
        ``report.to_dict()`` the numbers.

    Raises
    ------
    RequestError
        For an unknown site, a period without discharged episodes, a threshold below 1,
        arms that are not in the data, or a ``benchmark`` that is neither choice.
    InsufficientDataError
        When no episode has a discharge date (no default period).

    Notes
    -----
    Sections, in order: the summary of indicators (Making-Data-Count icons), headline
    figures against the previous period, data quality, patient flow, caseload, Table 1,
    comparisons (primary and secondary, with the weighted estimate beside the naive one),
    safety, control charts, benchmarking (case-mix adjusted; or, with
    ``benchmark="raw"``, the therapist funnel plot), methods and provenance. A section
    whose analysis fails for lack of data keeps a sentence saying so; a section whose
    module is not available is left out and listed in :attr:`Report.omitted`.

    Examples
    --------
    >>> import dnoutcomes
    >>> data = dnoutcomes.load("data/sample")  # doctest: +SKIP
    >>> report = dnoutcomes.build_report(data, period="2025-Q3", run_time="2025-10-01")
    ... # doctest: +SKIP
    >>> report.table("headline").frame  # doctest: +SKIP
    """
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.report.benchmarking import BENCHMARK_MODES

    if benchmark not in BENCHMARK_MODES:
        raise RequestError(
            f"--benchmark: expected 'adjusted' (case-mix adjusted benchmarking) or 'raw' "
            f"(the unadjusted therapist funnel); got {benchmark!r}."
        )
    say = progress or _quiet
    protocol = (protocol or default_protocol()).with_arms(reference, comparator)
    reference, comparator = protocol.reference, protocol.comparator
    if min_cell is None:
        min_cell = protocol.report.min_cell
    if min_cell < 1:
        raise RequestError(
            f"--min-cell: the suppression threshold must be at least 1; got {min_cell}. "
            "The analysis plan uses 11."
        )
    say("selecting the site and period")
    local = select_site(dataset, site)
    from dnoutcomes.cohort import check_arms

    check_arms(local, reference, comparator)
    period, period_note = resolve_period(period, local.episodes["end_date"])
    previous = period.previous()
    current_ids = _discharged_in(local, period)
    if current_ids.empty:
        where = f" at site {site}" if site else ""
        raise RequestError(
            f"report: no episode was discharged in {period.label} ({period.start:%Y-%m-%d} "
            f"to {period.end:%Y-%m-%d}){where}; {_span(local)}. Choose a period inside that "
            "span with --period or --from/--to."
        )
    current = subset_dataset(local, current_ids)
    before = subset_dataset(local, _discharged_in(local, previous))
    say("analysing the period")
    analysis, failure = _analyse(current, protocol)
    context = sec.Context(
        dataset=dataset,
        local=local,
        current=current,
        previous=before,
        period=period,
        previous_period=previous,
        site=site,
        reference=reference,
        comparator=comparator,
        min_cell=min_cell,
        figures=figures,
        analysis=analysis,
        analysis_failure=failure,
        protocol=protocol,
        benchmark=benchmark,
    )

    return assemble_report(
        context,
        sec.all_builders(),
        title=title,
        period_note=period_note,
        sources=dataset.sources,
        mode=getattr(dataset, "mode", "strict"),
        run_time=run_time,
        progress=say,
    )


Builder = Callable[[sec.Context], sec.SectionOutcome]


def assemble_report(
    context: sec.Context,
    builders: Sequence[tuple[str, str, Builder]],
    *,
    title: str,
    period_note: str,
    sources: Mapping[str, Any],
    mode: str,
    run_time: str | dt.datetime | None,
    progress: Progress | None = None,
    omitted: Sequence[tuple[str, str]] = (),
    engine: str | None = None,
) -> Report:
    """Run the section builders, protect the counts across every table, and add the
    methods and provenance: the last steps of :func:`build_report`, shared with the Dask
    engine's report (:func:`dnoutcomes.network.report.report_partitions`).

    Parameters
    ----------
    context
        The report's data and parameters.
    builders
        ``(key, label, builder)`` in reading order (:func:`sections.all_builders`); the
        one of ``funnel`` / ``benchmarking`` that ``context.benchmark`` does not ask for
        is skipped.
    title, period_note
        Printed in the report.
    sources
        ``{table: path}`` of the files read (digested in the provenance).
    mode
        The loading mode (``strict`` or ``quarantine``), recorded in the provenance.
    run_time
        See :func:`~dnoutcomes.report.provenance.parse_run_time`.
    progress
        Called with a short line before each step.
    omitted
        ``(section, reason)`` of sections left out before any builder ran.
    engine
        Recorded in the provenance's parameters when given (``"dask"``).

    Returns
    -------
    Report
    """
    say = progress or _quiet
    period, previous = context.period, context.previous_period
    site, reference, comparator = context.site, context.reference, context.comparator
    min_cell, benchmark = context.min_cell, context.benchmark
    if context.protocol is None:
        from dnoutcomes.protocol import default_protocol

        protocol = default_protocol()
    else:
        protocol = context.protocol
    sections: list[Section] = []
    skipped = "funnel" if benchmark == "adjusted" else "benchmarking"
    left_out: list[tuple[str, str]] = list(omitted)
    extra: dict[str, Any] = {}
    spc: dict[str, Any] = {}
    restricted: list[Table] = []
    for key, label, builder in builders:
        if key == skipped:
            continue
        say(f"building {label}")
        outcome = builder(context)
        if outcome.section is not None:
            sections.append(outcome.section)
        if outcome.omitted:
            left_out.append((key, outcome.omitted))
        extra.update(outcome.extra)
        spc.update(outcome.spc)
        restricted.extend(outcome.restricted)

    for note in context.log:  # for the person running the report, not for the report
        _LOG.warning(note)
        say(f"note (not in the report): {note}")
    say("protecting the counts across tables")
    drawn = {k for k, v in spc.items() if isinstance(v, dict) and "withheld" not in v}
    sections, extra, spc = protect_report(
        sections, extra, spc, reference=reference, comparator=comparator, min_cell=min_cell
    )
    if any(isinstance(spc.get(k), dict) and "withheld" in spc[k] for k in drawn):
        # the summary page's charts are drawn from the control charts' counts
        from dnoutcomes.report.summary import withhold_summary

        sections, extra = withhold_summary(sections, extra, min_cell)
    say("recording provenance")
    parameters: dict[str, Any] = {
        "period": period.label,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "site": site,
        "reference": reference,
        "comparator": comparator,
        "min_cell": min_cell,
        "mode": mode,
        "protocol_sha256": protocol.sha256(),
        "benchmark": benchmark,
    }
    if engine is not None:
        parameters["engine"] = engine
    provenance = make_provenance(sources, parameters=parameters, run_time=run_time)
    sections.append(methods_section(context, provenance, left_out))
    return Report(
        title=title,
        period=period,
        previous=previous,
        period_note=period_note,
        site=site,
        reference=reference,
        comparator=comparator,
        min_cell=min_cell,
        sections=tuple(sections),
        spc=spc,
        provenance=provenance,
        extra=extra,
        omitted=tuple(left_out),
        restricted=tuple(restricted),
    )
