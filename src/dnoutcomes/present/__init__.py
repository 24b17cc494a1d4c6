"""Renderers of an :class:`~dnoutcomes.stats.Analysis`: the figure gallery and the tables
for manuscripts (:class:`Table`, written to Word, LaTeX, Markdown or HTML; Table 1 is
:func:`dnoutcomes.table_one`, in the module :mod:`dnoutcomes.present.table_one`). Everything here
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
from dnoutcomes.present.table_one import DEFAULT_VARIABLES, VARIABLE_LABELS

# The Table 1 function is ``dnoutcomes.table_one`` (and ``dnoutcomes.present.table_one.
# table_one``): binding it here would hide its module of the same name, which
# ``import dnoutcomes.present.table_one`` and ``mock.patch`` must still reach.

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
    "trajectory_lines",
    "write_figures",
]
