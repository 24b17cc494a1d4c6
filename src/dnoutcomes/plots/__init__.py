"""Figures of the analyses: drawing only.

Each function takes a result object (or its tidy frame) and an optional ``ax`` and returns
the Axes (or the Figure for a multi-panel figure). No function here computes a statistic:
the numbers drawn are the numbers of the result. Every figure is drawn inside
:func:`plot_style`, so one look holds everywhere without touching global rcParams.
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

__all__ = [
    "ARM_COLOURS",
    "ARM_LABELS",
    "OKABE_ITO",
    "STYLE_FILE",
    "arm_colour",
    "arm_label",
    "measure_label",
    "plot_style",
    "save_figure",
]
