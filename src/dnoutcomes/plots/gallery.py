"""Every figure of one comparison, from a dataset: what ``dnoutcomes figures`` writes.

This is the one module of :mod:`dnoutcomes.plots` that runs analyses: it calls the
``compare_*`` functions of :mod:`dnoutcomes.stats` (imported when called) and hands each
result to its drawing function. The drawing functions themselves still compute nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.plots._style import ImageFormat, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dnoutcomes.dataset import Dataset

__all__ = ["FIGURE_NAMES", "FigureOutcome", "iter_figures", "trajectory_lines", "write_figures"]

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
    """

    name: str
    figure: Figure | None
    reason: str = ""
    path: Path | None = None


def trajectory_lines(
    dataset: Dataset, *, arms: tuple[str, str], measure: str = "nprs"
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

    Returns
    -------
    pandas.DataFrame
        ``episode_id``, ``arm``, ``weeks`` (days from the episode start / 7) and ``value``
        for the ``baseline``, ``session`` and ``discharge`` rows, as the mixed model uses.

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
        (out["measure"] == measure) & out["timepoint"].isin(["baseline", "session", "discharge"]),
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


def iter_figures(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
) -> Iterator[FigureOutcome]:
    """Run each analysis and draw its figure, one at a time.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms compared.

    Yields
    ------
    FigureOutcome
        In the order of :data:`FIGURE_NAMES`. A figure whose analysis finds too few data
        (:class:`~dnoutcomes.errors.InsufficientDataError`) is skipped with the reason;
        a wrong request (unknown arm) raises.

    Raises
    ------
    RequestError
        For an unknown arm (checked before anything is drawn).

    Examples
    --------
    Figures are drawn one at a time, as they are asked for:

    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> first = next(iter_figures(dataset))
    >>> first.name, first.reason, len(first.figure.axes)
    ('01-patient-flow', '', 1)
    """
    from dnoutcomes import plots
    from dnoutcomes.cohort import check_arms, outcome_pairs, patient_flow
    from dnoutcomes.stats import ancova, iptw, meta, mixed, responders, safety, survival

    check_arms(dataset, reference, comparator)

    def flow() -> Figure:
        return _fig(
            plots.plot_flow(patient_flow(dataset, reference=reference, comparator=comparator))
        )

    def trajectories() -> Figure:
        result = mixed.compare_trajectories(dataset, reference=reference, comparator=comparator)
        lines = trajectory_lines(dataset, arms=(reference, comparator))
        # observed means per week as well, for the weeks with at least 5 values (min_n)
        return _fig(plots.plot_trajectories(result, observed=result.observed, individual=lines))

    def improvement() -> Figure:
        pairs = outcome_pairs(
            dataset,
            measure="nprs",
            timepoint="discharge",
            reference=reference,
            comparator=comparator,
        )
        ax = plots.plot_improvement(
            pairs, measure="nprs", timepoint="discharge", arms=(reference, comparator)
        )
        return _fig(ax)

    def responder_curves() -> Figure:
        return _fig(
            plots.plot_responder_curves(
                responders.compare_responders(dataset, reference=reference, comparator=comparator)
            )
        )

    def effects() -> Figure:
        return plots.plot_effects(
            ancova.compare_outcomes(dataset, reference=reference, comparator=comparator)
        )

    def sites() -> Figure:
        return _fig(
            plots.plot_site_forest(
                meta.compare_sites(dataset, reference=reference, comparator=comparator)
            )
        )

    def time_to_response() -> Figure:
        return _fig(
            plots.plot_time_to_response(
                survival.compare_time_to_response(
                    dataset, reference=reference, comparator=comparator
                )
            )
        )

    def balance() -> Figure:
        return _fig(
            plots.plot_balance(
                iptw.compare_iptw(dataset, reference=reference, comparator=comparator)
            )
        )

    safety_result: list[Any] = []

    def _safety() -> Any:
        if not safety_result:
            safety_result.append(
                safety.compare_safety(dataset, reference=reference, comparator=comparator)
            )
        return safety_result[0]

    def safety_type() -> Figure:
        return _fig(plots.plot_safety(_safety(), by="type"))

    def safety_severity() -> Figure:
        return _fig(plots.plot_safety(_safety(), by="severity"))

    builders: tuple[Callable[[], Figure], ...] = (
        flow,
        trajectories,
        improvement,
        responder_curves,
        effects,
        sites,
        time_to_response,
        balance,
        safety_type,
        safety_severity,
    )
    for name, build in zip(FIGURE_NAMES, builders, strict=True):
        try:
            figure = build()
        except InsufficientDataError as exc:
            yield FigureOutcome(name=name, figure=None, reason=str(exc))
            continue
        yield FigureOutcome(name=name, figure=figure)


def write_figures(
    dataset: Dataset,
    out: str | os.PathLike[str],
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    format: ImageFormat = "png",
) -> list[FigureOutcome]:
    """Draw every figure of a comparison and write each to ``out/<name>.<format>``.

    Parameters
    ----------
    dataset
        A loaded dataset.
    out
        The folder to write into (created when missing).
    reference, comparator
        The arms compared.
    format
        ``"png"`` or ``"svg"``.

    Returns
    -------
    list of FigureOutcome
        One per figure, in order, with ``path`` set for those written (each figure is
        closed once written, so ``figure`` is None).

    Raises
    ------
    RequestError
        For an unknown arm or format, or when ``out`` exists and is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     written = write_figures(dataset, tmp, format="svg")
    >>> len(written), written[0].path.name, [o.name for o in written if o.path is None]
    (10, '01-patient-flow.svg', [])
    """
    import matplotlib.pyplot as plt

    if format not in ("png", "svg"):
        raise RequestError(
            f"figures: the format must be png or svg; got {format!r}. Use --format png or svg."
        )
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise RequestError(
            f"figures: the output {folder} exists and is not a folder; expected a folder "
            "to write the figures into. Choose another --out."
        )
    folder.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for outcome in iter_figures(dataset, reference=reference, comparator=comparator):
        path = None
        if outcome.figure is not None:
            path = save_figure(outcome.figure, folder / f"{outcome.name}.{format}", format=format)
            plt.close(outcome.figure)
        outcomes.append(
            FigureOutcome(name=outcome.name, figure=None, reason=outcome.reason, path=path)
        )
    return outcomes


def _fig(ax: Any) -> Figure:
    figure: Figure = ax.get_figure(root=True)
    return figure
