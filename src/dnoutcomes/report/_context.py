"""What every section builder receives and returns, and the helpers they share."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from dnoutcomes.errors import DnOutcomesError
from dnoutcomes.qi import cells
from dnoutcomes.qi.suppress import SuppressedTable, format_count, suppress_counts
from dnoutcomes.report.model import HIDDEN, Figure, Paragraph, Section, Table

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.report.period import Period
    from dnoutcomes.stats.analysis import Analysis

__all__ = [
    "Context",
    "SectionOutcome",
    "analysed",
    "count_text",
    "draw",
    "safe",
    "scrub_counts",
    "suppress",
    "suppress_text",
]


@dataclass(frozen=True, eq=False)
class Context:
    """The data of one report, as every section builder sees it.

    Attributes
    ----------
    dataset
        The whole dataset loaded (every site, every date): for data quality.
    local
        The dataset at the site reported (all of it when no site is chosen): for trends.
    current
        ``local`` restricted to the episodes discharged in the period.
    previous
        ``local`` restricted to the episodes discharged in the previous period.
    period, previous_period
        The two periods.
    site, reference, comparator, min_cell
        The report's parameters.
    figures
        Draw the figures (False leaves them out: a faster run for the numbers only).
    cache
        Results shared between sections (the QI charts feed two sections).
    analysis
        The :class:`~dnoutcomes.stats.Analysis` of the period's episodes (``None`` when
        the comparison cannot run at all; ``analysis_failure`` says why): the sections
        render it and compute no statistic themselves.
    previous_analysis
        The previous period's :class:`~dnoutcomes.stats.Analysis`, for a caller that has
        one. :func:`~dnoutcomes.report.build.build_report` leaves it ``None``: no section
        reads it (the headline compares the previous period's QI figures, from
        ``previous``), and analysing the previous period cost ~4–9 CPU s at 1M episodes.
    protocol
        The study protocol the analyses ran.
    benchmark
        ``"adjusted"`` (the case-mix adjusted benchmarking section) or ``"raw"`` (the
        unadjusted therapist funnel).
    log
        Notes for the person running the report, never for the report itself (a figure
        that could not be drawn, with the error's own words, which may name ids or small
        counts): :func:`~dnoutcomes.report.build.build_report` passes them to its
        ``progress`` and to the ``dnoutcomes.report`` logger.
    """

    dataset: Dataset
    local: Dataset
    current: Dataset
    previous: Dataset
    period: Period
    previous_period: Period
    site: str | None
    reference: str
    comparator: str
    min_cell: int
    figures: bool = True
    cache: dict[str, Any] = field(default_factory=dict)
    analysis: Analysis | None = None
    previous_analysis: Analysis | None = None
    analysis_failure: str = ""
    protocol: Protocol | None = None
    benchmark: str = "adjusted"
    log: list[str] = field(default_factory=list)


def analysed(context: Context, key: str, what: str) -> tuple[Any, Paragraph | None]:
    """One result of the period's analysis, or the sentence saying why there is none.

    Parameters
    ----------
    context
        The report's context.
    key
        The attribute of :class:`~dnoutcomes.stats.Analysis` (``"ancova"``, ``"iptw"``,
        ``"flow"``…).
    what
        The analysis in words, for the sentence.

    Returns
    -------
    (result, None) or (None, Paragraph)
    """
    analysis = context.analysis
    if analysis is None:
        reason = context.analysis_failure
    else:
        result = getattr(analysis, key)
        if result is not None:
            return result, None
        reason = analysis.failures.get(key, "")
    reason = suppress_text(reason, context)
    return None, Paragraph(f"{what} could not be computed for this period: {reason}")


@dataclass(frozen=True)
class SectionOutcome:
    """What a section builder returns: the section (``None`` when left out), the reason it
    was left out, extra numbers for the JSON document, control-chart blocks, and listings
    that name episodes (``restricted``: never rendered into the circulated outputs, only
    into ``--restricted FILE``)."""

    section: Section | None
    omitted: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    spc: Mapping[str, Any] = field(default_factory=dict)
    restricted: tuple[Table, ...] = ()


def suppress(
    frame: pd.DataFrame,
    context: Context,
    *,
    counts: Sequence[Hashable],
    percents: Mapping[Hashable, tuple[Hashable, Hashable | float]] | None = None,
    totals: Mapping[Hashable, Sequence[Hashable]] | None = None,
    total_row: Hashable | None = None,
    follow: Mapping[Hashable, Hashable] | None = None,
) -> SuppressedTable:
    """Suppress a table with :func:`dnoutcomes.qi.suppress_counts` at the report's threshold.

    Parameters
    ----------
    frame, counts, percents, totals, total_row
        As :func:`~dnoutcomes.qi.suppress_counts`.
    context
        Gives the threshold.
    follow
        ``{column: count column}``: a summary (a mean, a median, a rate) of a group is
        hidden as ``[c]`` when the group's count is itself below the threshold, so that
        no figure describes fewer people than the threshold.

    Returns
    -------
    SuppressedTable
    """
    result = suppress_counts(
        frame,
        counts=list(counts),
        percents=percents,
        totals=totals,
        total_row=total_row,
        threshold=context.min_cell,
    )
    if not follow:
        return result
    table = result.table.copy()
    mask = result.suppressed.copy()
    for column, count in (follow or {}).items():
        small = result.primary[count]
        values = table[column].astype(object)
        values[small] = HIDDEN
        table[column] = values
        mask[column] = mask[column] | small
    return SuppressedTable(
        table=table,
        suppressed=mask,
        primary=result.primary,
        threshold=result.threshold,
        notes=result.notes,
    )


def scrub_counts(value: Any, context: Context) -> Any:
    """Replace every small count in a JSON-ready block of an analysis by ``"<11"``
    (:func:`dnoutcomes.qi.cells.scrub_counts`: every whole number is a count unless its key
    is declared a non-count, whatever its name); everything else is kept.

    Only blocks without shares or counts of a subgroup should go through this (estimates,
    intervals, p-values and their ``n``): a share beside a hidden count could reveal it.
    """
    return cells.scrub_counts(value, context.min_cell)


def suppress_text(text: str, context: Context) -> str:
    """Write the counts inside a sentence from an analysis through the threshold.

    Every whole number from 1 to ``min_cell - 1`` in the text is taken to be a count and
    written ``<11`` ("dn_only has 3 and", "arm 'dn_only' has 5 episodes", "other arms:
    usual_care (4 episodes)"), except a requirement ("at least 2 per arm"), a decimal
    (``0.5``), a percentage and a number inside a word (``followup_12w``): hiding a
    number that was not a count costs a word, showing a count costs a patient's privacy.

    Examples
    --------
    >>> import dataclasses
    >>> ctx = dataclasses.make_dataclass("C", [("min_cell", int)])(11)
    >>> suppress_text("dn_only has 3 and other has 40 at followup_12w; needs at least 2", ctx)
    'dn_only has <11 and other has 40 at followup_12w; needs at least 2'
    >>> suppress_text("arm 'a' has 5. Shares 0.5 and 7 %; usual_care (4 episodes)", ctx)
    "arm 'a' has <11. Shares 0.5 and 7 %; usual_care (<11 episodes)"
    >>> suppress_text("propensities near 0 or 1, as R's glm gives them", ctx)
    "propensities near 0 or 1, as R's glm gives them"
    """
    import re

    def replace(match: re.Match[str]) -> str:
        return count_text(int(match.group(0)), context)

    # "propensities near 0 or 1" is a probability, not a count.
    pattern = r"(?<![\w.,])(?<!at least )(?<!at most )(?<!near 0 or )(\d+)(?!\w|[.,]\d|\s?%)"
    return re.sub(pattern, replace, text)


def count_text(value: float | int | None, context: Context) -> str:
    """A count for a sentence: ``<11`` when small, else the number."""
    return format_count(value, threshold=context.min_cell)


def draw(key: str, painter: Callable[[], Any]) -> str:
    """Run ``painter`` (which draws one figure and returns its Axes or Figure) and return
    the figure as inline SVG."""
    from dnoutcomes.report._svg import figure_to_svg

    drawn = painter()
    figure = drawn.get_figure(root=True) if hasattr(drawn, "get_figure") else drawn
    return figure_to_svg(figure, key=key)


def safe(what: str, compute: Callable[[], Any], context: Context) -> tuple[Any, Paragraph | None]:
    """Run an analysis; when the data are too few or unsuitable, return a sentence instead.

    Returns
    -------
    (result, None) or (None, Paragraph)
        The paragraph says what could not be computed and why, in the error's own words
        with their counts through the threshold (:func:`suppress_text`: "got 1" month of
        a site's chart is ``got <11``).
        Only the package's own errors (:class:`~dnoutcomes.errors.DnOutcomesError`: too
        few data, a request the data cannot answer) are expected; any other exception,
        a bare ``ValueError`` or ``ZeroDivisionError`` included, is a bug and propagates
        rather than becoming report text.
    """
    try:
        return compute(), None
    except DnOutcomesError as exc:
        reason = suppress_text(str(exc) or type(exc).__name__, context)
        return None, Paragraph(f"{what} could not be computed for this period: {reason}")


def small_any(frame: pd.DataFrame, columns: Sequence[str], context: Context) -> bool:
    """True when a count in ``columns`` is from 1 to ``min_cell - 1`` (a figure drawing
    those counts would reveal them)."""
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    small = cells.is_small(values, context.min_cell)
    return bool(small.to_numpy().any())


def figure_block(
    context: Context,
    key: str,
    title: str,
    alt: str,
    painter: Callable[[], Any],
    data: pd.DataFrame | None = None,
) -> list[Figure | Paragraph]:
    """A figure (in a list, empty when the report is built without figures), or a sentence
    when drawing fails (a figure is never worth a crash).

    The sentence is fixed: the error's own words (which may hold an id, a small count or a
    value of the data) go to ``context.log``, the run's notes, never into the report."""
    if not context.figures:
        return []
    try:
        svg = draw(key, painter)
    except (DnOutcomesError, ValueError) as exc:
        context.log.append(f"the figure {key!r} could not be drawn: {type(exc).__name__}: {exc}")
        return [Paragraph(f"The figure “{title}” could not be drawn from these data.")]
    return [Figure(key=key, title=title, svg=svg, alt=alt, data=data)]
