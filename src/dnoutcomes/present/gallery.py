"""Every figure of one :class:`~dnoutcomes.stats.Analysis`: what ``dnoutcomes figures``
writes.

The gallery renders an analysis: each figure takes a result the analysis already holds and
hands it to its drawing function in :mod:`dnoutcomes.plots`; nothing here computes a
statistic. (The two descriptive figures, improvement points and individual trajectories,
also draw the episodes' values from the dataset.)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import pandas as pd

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.plots._export import fit_to_width, smallest_font
from dnoutcomes.plots._style import ImageFormat, figure_size, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dnoutcomes.dataset import Dataset
    from dnoutcomes.stats.analysis import Analysis

__all__ = [
    "EXTRA_FIGURE_NAMES",
    "FIGURE_NAMES",
    "FigureOutcome",
    "figure_names",
    "iter_figures",
    "trajectory_lines",
    "write_figures",
]

#: Stable file stems of the figures, in the order they are drawn.
FIGURE_NAMES: tuple[str, ...] = (
    "01-patient-flow",
    "02-nprs-trajectories",
    "03-nprs-improvement",
    "04-nprs-responder-curves",
    "05-effects-forest",
    "06-site-forest",
    "07-time-to-response",
    "08-covariate-balance",
    "09-adverse-events-by-type",
    "10-adverse-events-by-severity",
)

#: Figures of the routine-care sections, drawn after :data:`FIGURE_NAMES` when the
#: protocol asks for their section (key of :class:`~dnoutcomes.stats.Analysis`).
EXTRA_FIGURE_NAMES: dict[str, str] = {
    "tipping": "11-tipping-point",
    "aipw": "12-aipw-balance",
}


@dataclass(frozen=True)
class FigureOutcome:
    """One figure of the gallery: drawn (``figure``) or skipped (``reason``).

    Attributes
    ----------
    name
        The stable file stem (one of :data:`FIGURE_NAMES`).
    figure
        The drawn figure, or None when skipped.
    reason
        Why the figure was skipped ("" when drawn).
    path
        Where :func:`write_figures` wrote it (None when not written).
    smallest_font
        The smallest text of the figure as written, in points (None when not written):
        journals ask for at least :data:`~dnoutcomes.plots._export.MIN_FONT_PT`.
    """

    name: str
    figure: Figure | None
    reason: str = ""
    path: Path | None = None
    smallest_font: float | None = None


def trajectory_lines(
    dataset: Dataset,
    *,
    arms: tuple[str, str],
    measure: str = "nprs",
    timepoints: Sequence[str] = ("baseline", "session", "discharge"),
) -> pd.DataFrame:
    """Return every value of a measure during care with its week, for individual lines.

    Parameters
    ----------
    dataset
        A loaded dataset.
    arms
        The arms to keep.
    measure
        The measure.
    timepoints
        The timepoints whose rows are drawn (the mixed model's).

    Returns
    -------
    pandas.DataFrame
        ``episode_id``, ``arm``, ``weeks`` (days from the episode start / 7) and ``value``
        for the rows at ``timepoints``, as the mixed model uses them.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> lines = trajectory_lines(dataset, arms=("dn_only", "dn_manual_exercise"))
    >>> lines.shape, lines["episode_id"].nunique()
    ((1331, 4), 214)
    """
    out = dataset.outcomes
    rows = out.loc[
        (out["measure"] == measure) & out["timepoint"].isin(list(timepoints)),
        ["episode_id", "assessed_on", "value"],
    ]
    episodes = dataset.episodes.loc[dataset.episodes["arm"].isin(arms)]
    rows = rows.merge(episodes[["episode_id", "arm", "start_date"]], on="episode_id")
    weeks = (rows["assessed_on"] - rows["start_date"]).dt.days / 7.0
    return pd.DataFrame(
        {
            "episode_id": rows["episode_id"].astype(str),
            "arm": rows["arm"].astype(str),
            "weeks": weeks.astype(float),
            "value": rows["value"].astype(float),
        }
    )


def figure_names(analysis: Analysis) -> tuple[str, ...]:
    """The file stems of an analysis's figures (:data:`FIGURE_NAMES` for the built-in
    protocol; the measure's name replaces ``nprs`` for another primary measure), then those
    of :data:`EXTRA_FIGURE_NAMES` whose section the protocol asked for."""
    names = {
        "nprs-trajectories": analysis.protocol.trajectory_measure(),
        "nprs-improvement": analysis.protocol.primary.measure,
        "nprs-responder-curves": analysis.protocol.responder_outcome()[0],
    }
    out = []
    for name in FIGURE_NAMES:
        number, stem = name.split("-", 1)
        if stem in names:
            stem = stem.replace("nprs", names[stem].replace("_", "-"), 1)
        out.append(f"{number}-{stem}")
    out.extend(n for k, n in EXTRA_FIGURE_NAMES.items() if k in analysis.extra_sections)
    return tuple(out)


def iter_figures(analysis: Analysis, dataset: Dataset) -> Iterator[FigureOutcome]:
    """Draw each figure of an analysis, one at a time.

    Parameters
    ----------
    analysis
        The analysis (:func:`dnoutcomes.stats.analyze`).
    dataset
        The dataset it was run on (for the episodes' own values in the descriptive
        figures).

    Yields
    ------
    FigureOutcome
        In the order of :func:`figure_names`. A figure whose section the analysis could
        not run, or that has nothing to draw, is skipped with the reason.

    Examples
    --------
    Figures are drawn one at a time, as they are asked for:

    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import analyze
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> first = next(iter_figures(analyze(dataset), dataset))
    >>> first.name, first.reason, len(first.figure.axes)
    ('01-patient-flow', '', 1)
    """
    from dnoutcomes import plots
    from dnoutcomes.cohort import outcome_pairs

    reference, comparator = analysis.reference, analysis.comparator
    protocol = analysis.protocol
    primary = protocol.primary

    def need(key: str) -> Any:
        result = getattr(analysis, key)
        if result is None:
            raise _Skip(analysis.failures.get(key, f"{key} was not analysed"))
        return result

    def flow() -> Figure:
        return _fig(plots.plot_flow(analysis.flow))

    def trajectories() -> Figure:
        result = need("lmm")
        lines = trajectory_lines(
            dataset,
            arms=(reference, comparator),
            measure=result.measure,
            timepoints=result.timepoints,
        )
        # observed means per week as well, for the weeks with at least 5 values (min_n)
        return _fig(plots.plot_trajectories(result, observed=result.observed, individual=lines))

    def improvement() -> Figure:
        pairs = outcome_pairs(
            dataset,
            measure=primary.measure,
            timepoint=primary.timepoint,
            reference=reference,
            comparator=comparator,
        )
        if not pairs["improvement"].notna().any():
            raise _Skip(f"no episode has a baseline and a {primary.timepoint} {primary.measure}")
        ax = plots.plot_improvement(
            pairs,
            measure=primary.measure,
            timepoint=primary.timepoint,
            arms=(reference, comparator),
        )
        return _fig(ax)

    def responder_curves() -> Figure:
        return _fig(plots.plot_responder_curves(need("responders")))

    def effects() -> Figure:
        figure: Figure = plots.plot_effects(need("ancova"))
        return figure

    def sites() -> Figure:
        return _fig(plots.plot_site_forest(need("site_meta")))

    def time_to_response() -> Figure:
        return _fig(plots.plot_time_to_response(need("time_to_response")))

    def balance() -> Figure:
        return _fig(plots.plot_balance(need("iptw")))

    def safety_by(by: str) -> Callable[[], Figure]:
        def draw() -> Figure:
            result = need("safety")
            if not result.recorded:
                raise _Skip("adverse events are not recorded in this export")
            if int(result.table["events"].sum()) == 0:
                raise _Skip("no adverse event was recorded in the compared arms")
            return _fig(plots.plot_safety(result, by=by))

        return draw

    def tipping() -> Figure:
        from dnoutcomes.plots.tipping import plot_tipping_point

        return _fig(plot_tipping_point(need("tipping")))

    def aipw_balance() -> Figure:
        return _fig(plots.plot_balance(need("aipw").balance))

    extra = {"tipping": tipping, "aipw": aipw_balance}
    builders: tuple[Callable[[], Figure], ...] = (
        flow,
        trajectories,
        improvement,
        responder_curves,
        effects,
        sites,
        time_to_response,
        balance,
        safety_by("type"),
        safety_by("severity"),
        *(extra[k] for k in EXTRA_FIGURE_NAMES if k in analysis.extra_sections),
    )
    for name, build in zip(figure_names(analysis), builders, strict=True):
        try:
            figure = build()
        except (_Skip, InsufficientDataError) as exc:
            yield FigureOutcome(name=name, figure=None, reason=str(exc))
            continue
        yield FigureOutcome(name=name, figure=figure)


class _Skip(Exception):
    """A figure with nothing to draw (its analysis did not run, or no data)."""


def write_figures(
    analysis: Analysis,
    out: str | os.PathLike[str],
    *,
    dataset: Dataset,
    format: ImageFormat = "png",
    dpi: float | None = None,
    size: Literal["single", "double"] | float | None = None,
) -> list[FigureOutcome]:
    """Draw every figure of an analysis and write each to ``out/<name>.<format>``.

    Parameters
    ----------
    analysis
        The analysis (:func:`dnoutcomes.stats.analyze`).
    out
        The folder to write into (created when missing).
    dataset
        The dataset the analysis ran on.
    format
        ``"png"``, ``"svg"``, ``"pdf"``, ``"tiff"`` or ``"eps"`` (see
        :func:`~dnoutcomes.plots._export.save_figure`).
    dpi
        Resolution of raster output (default 200 for PNG, 300 for TIFF).
    size
        A journal column: ``"single"`` (85 mm wide), ``"double"`` (170 mm) or a width in
        millimetres; each figure is drawn at its own size and then scaled as a whole to
        that width (:func:`~dnoutcomes.plots._export.fit_to_width`). Default: the drawn
        size (6.4 inches wide for most).

    Returns
    -------
    list of FigureOutcome
        One per figure, in order, with ``path`` and ``smallest_font`` set for those
        written (each figure is closed once written, so ``figure`` is None).

    Raises
    ------
    RequestError
        For an unknown arm, format or size, a resolution that is not positive, or when
        ``out`` exists and is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import analyze
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = write_figures(analyze(dataset), tmp, dataset=dataset, format="svg")
    >>> len(written), written[0].path.name, [o.name for o in written if o.path is None]
    (10, '01-patient-flow.svg', [])
    """
    import matplotlib.pyplot as plt

    if format not in get_args(ImageFormat):
        raise RequestError(
            f"figures: the format must be one of {', '.join(get_args(ImageFormat))}; got "
            f"{format!r}. Use one of those."
        )
    if dpi is not None and not dpi > 0:
        raise RequestError(f"figures: dpi must be positive; got {dpi}. Give, say, 300.")
    if size is not None:
        figure_size(size)  # an unknown preset or a width that is not positive is refused
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise RequestError(
            f"figures: the output {folder} exists and is not a folder; expected a folder "
            "to write the figures into. Choose another --out."
        )
    folder.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for outcome in iter_figures(analysis, dataset):
        path, font = None, None
        if outcome.figure is not None:
            if size is not None:
                fit_to_width(outcome.figure, size)
            target = folder / f"{outcome.name}.{format}"
            path = save_figure(outcome.figure, target, format=format, dpi=dpi)
            font = smallest_font(outcome.figure)
            plt.close(outcome.figure)
        outcomes.append(
            FigureOutcome(
                name=outcome.name,
                figure=None,
                reason=outcome.reason,
                path=path,
                smallest_font=font,
            )
        )
    return outcomes


def _fig(ax: Any) -> Figure:
    figure: Figure = ax.get_figure(root=True)
    return figure
