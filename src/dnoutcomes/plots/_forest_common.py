"""Pieces shared by the forest plots: p-value and number text, "favours" labels."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

from dnoutcomes.plots._style import OKABE_ITO, _lookup_measure, arm_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["POINT", "favours", "fmt", "format_p"]

POINT = OKABE_ITO["black"]


def format_p(p: float) -> str:
    """Format a p-value for a figure: ``p = 0.012``, ``p < 0.001``, ``""`` when missing."""
    if p is None or not np.isfinite(p):
        return ""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt(value: float) -> str:
    """A number with two decimals and a true minus sign."""
    return f"{value:.2f}".replace("-", "\u2212")


def favours(
    measure: str,
    registry: Any | None,
    reference: str | None,
    comparator: str | None,
) -> tuple[str, str] | None:
    """The ("favours …" left, "favours …" right) labels of a difference comparator minus
    reference, or None when the measure's direction is unknown.

    For a measure where lower is better, a negative difference (left) favours the
    comparator; where higher is better, a positive difference (right) does.
    """
    entry = _lookup_measure(measure, registry)
    direction = getattr(entry, "direction", None)
    if direction not in ("lower", "higher"):
        return None
    ref = arm_label(reference) if reference else "reference"
    comp = arm_label(comparator) if comparator else "comparator"
    left, right = (comp, ref) if direction == "lower" else (ref, comp)
    return f"\u2190 favours {left}", f"favours {right} \u2192"


def draw_favours(
    ax: Axes, labels: tuple[str, str], *, null: float = 0.0, offset: float = -26.0
) -> None:
    """Write the two labels under the x-axis on either side of the line of no effect.

    The left label ends just left of ``null`` and the right one starts just right of it,
    each wrapped to lines of at most 28 characters, ``offset`` points below the axis.
    """
    for text, ha, shift in ((labels[0], "right", -4.0), (labels[1], "left", 4.0)):
        ax.annotate(
            "\n".join(textwrap.wrap(text, 28)),
            xy=(null, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(shift, offset),
            textcoords="offset points",
            ha=ha,
            va="top",
            fontsize=8.5,
            style="italic",
            color="#444444",
            gid="favours",
        )
