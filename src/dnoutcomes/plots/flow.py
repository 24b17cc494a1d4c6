"""CONSORT-style patient flow diagram: boxes per arm with counts and reasons for exclusion."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import (
    MUTED,
    arm_colour,
    arm_label,
    measure_name,
    new_axes,
    plot_style,
    timepoint_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_flow"]

_STAGE_ORDER = ("loaded", "in_compared_arms", "with_baseline", "with_outcome", "analysed")


def _stage_text(stage: str, measure: str, timepoint: str) -> str:
    words = {
        "loaded": "Episodes loaded",
        "in_compared_arms": "In the compared arms",
        "with_baseline": f"With a baseline {measure}",
        "with_outcome": f"With {measure} at {timepoint}",
        "analysed": "Analysed",
    }
    return words.get(stage, stage.replace("_", " ").capitalize())


def plot_flow(
    flow: Any,
    *,
    measure: str | None = None,
    timepoint: str | None = None,
    registry: Any | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the patient flow as boxes: the loaded total on top, then one column per arm.

    Parameters
    ----------
    flow
        A :class:`~dnoutcomes.cohort.PatientFlow`, or its ``frame``: columns ``arm``
        (``"all"`` for the whole dataset), ``stage`` (``loaded``, ``in_compared_arms``,
        ``with_baseline``, ``with_outcome``, ``analysed``; other names are drawn in the
        frame's order after these), ``n``, ``excluded`` and ``reason``.
    measure, timepoint
        Named in the boxes' text; default the result's own.
    registry
        The measure registry for the measure's name.
    ax
        Axes to draw on (its axis is turned off); a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Each box is a ``Text`` whose ``gid`` is ``"<arm>:<stage>"`` and whose text ends with
        ``n = <n>``; each exclusion is a ``Text`` with gid ``"<arm>:<stage>:excluded"``
        reading ``<excluded> left out: <reason>``; arrows join the boxes.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    Nothing is computed: every count is the frame's. Stages of an arm with nothing left out
    have no exclusion box.

    Examples
    --------
    >>> from dnoutcomes.cohort import patient_flow
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_flow(patient_flow(dataset))
    >>> boxes = {text.get_gid(): text.get_text() for text in ax.texts if text.get_gid()}
    >>> boxes["dn_only:with_outcome"], boxes["dn_only:with_outcome:excluded"]
    ('With NPRS at discharge\\nn = 69', '8 left out: no nprs at discharge')
    """
    frame = tidy_frame(
        flow,
        attributes=("frame", "to_frame"),
        required=("arm", "stage", "n", "excluded", "reason"),
        figure="patient flow diagram",
    )
    measure = str(measure or attribute(flow, "measure") or "")
    timepoint = str(timepoint or attribute(flow, "timepoint") or "")
    measure_text = measure_name(measure, registry, short=True) if measure else "the outcome"
    timepoint_text = timepoint_label(timepoint).lower() if timepoint else "the timepoint"
    records: list[dict[Any, Any]] = frame.to_dict(orient="records")
    top = [r for r in records if r["arm"] == "all"]
    arms = list(dict.fromkeys(str(r["arm"]) for r in records if r["arm"] != "all"))
    stages = list(dict.fromkeys(str(r["stage"]) for r in records if r["arm"] != "all"))
    rank = {stage: i for i, stage in enumerate(_STAGE_ORDER)}
    arm_stages = sorted(stages, key=lambda s: rank.get(s, len(_STAGE_ORDER)))
    by_arm = {(str(r["arm"]), str(r["stage"])): r for r in records if r["arm"] != "all"}
    rows = len(top) + len(arm_stages)
    step = 1.0 / (rows + 0.4)
    with plot_style():
        fig, ax = new_axes(ax, size=(4.2 + 3.4 * max(len(arms), 1), 1.0 + 1.05 * rows))
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        y = 1.0 - 0.6 * step
        previous: tuple[float, float] | None = None
        for record in top:
            words = _stage_text(str(record["stage"]), measure_text, timepoint_text)
            gid = f"all:{record['stage']}"
            _box(ax, 0.5, y, f"{words}\nn = {record['n']}", gid=gid, colour=MUTED)
            if previous is not None:
                _arrow(ax, previous, (0.5, y), step)
            _exclusion(ax, (0.5, y), step, record, gid)
            previous = (0.5, y)
            y -= step
        width = 1.0 / max(len(arms), 1)
        for j, arm in enumerate(arms):
            x = width * (j + 0.5)
            ay = y
            last = previous
            head = True
            for stage in arm_stages:
                if (arm, stage) not in by_arm:
                    continue
                record = by_arm[(arm, stage)]
                words = arm_label(arm) if head else _stage_text(stage, measure_text, timepoint_text)
                gid = f"{arm}:{stage}"
                colour = arm_colour(arm)
                _box(ax, x, ay, f"{words}\nn = {record['n']}", gid=gid, colour=colour, head=head)
                if last is not None:
                    _arrow(ax, last, (x, ay), step)
                _exclusion(ax, (x, ay), step, record, gid)
                last = (x, ay)
                ay -= step
                head = False
    return ax


def _box(
    ax: Axes, x: float, y: float, text: str, *, gid: str, colour: str, head: bool = False
) -> None:
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold" if head else "normal",
        gid=gid,
        bbox={
            "boxstyle": "round,pad=0.45",
            "facecolor": "white",
            "edgecolor": colour,
            "linewidth": 2.0 if head else 1.0,
        },
        zorder=3,
    )


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], step: float) -> None:
    ax.annotate(
        "",
        xy=(end[0], end[1] + 0.28 * step),
        xytext=(start[0], start[1] - 0.28 * step),
        arrowprops={"arrowstyle": "-|>", "color": MUTED, "linewidth": 1.0},
        zorder=1,
    )


def _exclusion(
    ax: Axes, at: tuple[float, float], step: float, record: dict[Any, Any], gid: str
) -> None:
    n = int(record["excluded"])
    if n <= 0:
        return
    reason = str(record["reason"] or "")
    ax.text(
        at[0] + 0.04,
        at[1] + 0.5 * step,
        textwrap.fill(f"{n} left out: {reason}" if reason else f"{n} left out", 42),
        ha="left",
        va="center",
        fontsize=8.5,
        color="#333333",
        gid=f"{gid}:excluded",
        bbox={"boxstyle": "square,pad=0.3", "facecolor": "#F4F4F4", "edgecolor": "none"},
        zorder=2,
    )
