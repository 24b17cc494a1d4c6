"""Renderers of an :class:`~dnoutcomes.stats.Analysis`: the figure gallery and the tables
for manuscripts (:class:`Table`, written to Word, LaTeX, Markdown or HTML). Everything here
draws or formats results that the analysis already holds; no statistic is computed again
(Table 1's optional tests are the one exception: they are descriptive).
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
from dnoutcomes.present.result_tables import results_table, safety_table
from dnoutcomes.present.table import Column, Table, format_cell
from dnoutcomes.present.table_one import DEFAULT_VARIABLES, VARIABLE_LABELS, table_one

__all__ = [
    "DEFAULT_VARIABLES",
    "FIGURE_NAMES",
    "VARIABLE_LABELS",
    "Column",
    "FigureOutcome",
    "Table",
    "figure_names",
    "format_cell",
    "iter_figures",
    "results_table",
    "safety_table",
    "table_one",
    "trajectory_lines",
    "write_figures",
]
