"""Figures of the analyses: drawing only.

Each function takes a result object (or its tidy frame) and an optional ``ax`` and returns
the Axes (or the Figure for a multi-panel figure). No drawing function computes a statistic:
the numbers drawn are the numbers of the result. Every figure is drawn inside
:func:`plot_style`, so one look holds everywhere without touching global rcParams.
The gallery of every figure of an analysis is :mod:`dnoutcomes.present.gallery`.
"""

from __future__ import annotations

from dnoutcomes.plots._style import (
    ARM_COLOURS,
    ARM_LABELS,
    OKABE_ITO,
    STYLE_FILE,
    arm_colour,
    arm_label,
    measure_label,
    plot_style,
    save_figure,
)
from dnoutcomes.plots.balance import plot_balance
from dnoutcomes.plots.flow import plot_flow
from dnoutcomes.plots.forest import (
    plot_adjusted_means,
    plot_effects,
    plot_forest,
    plot_site_forest,
)
from dnoutcomes.plots.improvement import plot_improvement, plot_responder_curves
from dnoutcomes.plots.safety import plot_safety
from dnoutcomes.plots.survival import plot_time_to_response
from dnoutcomes.plots.tables import StyledTable, results_table, table_one
from dnoutcomes.plots.trajectories import plot_trajectories

__all__ = [
    "ARM_COLOURS",
    "ARM_LABELS",
    "OKABE_ITO",
    "STYLE_FILE",
    "StyledTable",
    "arm_colour",
    "arm_label",
    "measure_label",
    "plot_adjusted_means",
    "plot_balance",
    "plot_effects",
    "plot_flow",
    "plot_forest",
    "plot_improvement",
    "plot_responder_curves",
    "plot_safety",
    "plot_site_forest",
    "plot_style",
    "plot_time_to_response",
    "plot_trajectories",
    "results_table",
    "save_figure",
    "table_one",
]
