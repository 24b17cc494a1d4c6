"""Renderers of an :class:`~dnoutcomes.stats.Analysis`: the figure gallery (and the
tables for manuscripts). Everything here draws or formats results that the analysis
already holds; no statistic is computed again.
"""

from __future__ import annotations

from dnoutcomes.present.gallery import (
    FIGURE_NAMES,
    FigureOutcome,
    figure_names,
    iter_figures,
    trajectory_lines,
    write_figures,
)

__all__ = [
    "FIGURE_NAMES",
    "FigureOutcome",
    "figure_names",
    "iter_figures",
    "trajectory_lines",
    "write_figures",
]
