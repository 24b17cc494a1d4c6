"""The result of a control chart: :class:`ControlChart` and its :class:`ChartSignals`,
and the assembly every chart function of :mod:`dnoutcomes.qi.charts` ends with (the tidy
frame, the points outside the limits, Anhøj's runs rules on the included points)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.runs import RunsResult, anhoj_rules
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FRAME_COLUMNS", "ChartKind", "ChartSignals", "ControlChart", "Labels"]

ChartKind = Literal["i", "mr", "p", "u"]

#: Labels of the points (periods) or units: a list, an Index or a Series.
Labels = Sequence[Any] | pd.Index | pd.Series | None

#: The frame columns of every chart, in this order.
FRAME_COLUMNS: tuple[str, ...] = (
    "period",
    "value",
    "n",
    "centre",
    "lcl",
    "ucl",
    "outside_limits",
    "baseline",
    "included",
)

_TITLES: dict[str, str] = {
    "i": "I chart (individuals, XmR)",
    "mr": "Moving-range chart",
    "p": "P chart (proportion)",
    "u": "U chart (rate)",
}


@dataclass(frozen=True)
class ChartSignals:
    """The signals of one control chart.

    Attributes
    ----------
    outside_limits
        Labels (as text) of the periods whose value lies strictly above the upper or below
        the lower limit.
    longest_run, longest_run_limit, crossings, crossings_limit
        Anhøj's runs rules on the included points (see :func:`~dnoutcomes.qi.anhoj_rules`);
        ``None`` when no point is useful.
    runs_signal
        True when the longest run exceeds its limit or the crossings fall below theirs
        (always False for a moving-range chart, whose points are not independent).
    """

    outside_limits: tuple[str, ...]
    longest_run: int | None
    longest_run_limit: int | None
    crossings: int | None
    crossings_limit: int | None
    runs_signal: bool

    @property
    def any_signal(self) -> bool:
        """True when a point lies outside the limits or the runs rules signal a shift."""
        return bool(self.outside_limits) or self.runs_signal

    def to_dict(self) -> dict[str, Any]:
        """The report's ``signals`` block: ``outside_limits`` (list of period labels),
        ``longest_run``, ``longest_run_limit``, ``crossings``, ``crossings_limit``."""
        return {
            "outside_limits": list(self.outside_limits),
            "longest_run": self.longest_run,
            "longest_run_limit": self.longest_run_limit,
            "crossings": self.crossings,
            "crossings_limit": self.crossings_limit,
        }


@dataclass(frozen=True, repr=False)
class ControlChart(ResultMixin):
    """A control chart: the points, the centre line, the limits and the signals.

    Attributes
    ----------
    chart
        ``"i"``, ``"mr"``, ``"p"`` or ``"u"``.
    frame
        One row per period: ``period`` (the label given), ``value`` (float, the charted
        value; NaN when the period has no data), ``n`` (float: subgroup size, exposure or
        the count behind the value; NaN when not given), ``centre``, ``lcl``, ``ucl``
        (float; NaN where undefined), ``outside_limits`` (bool, strictly beyond a limit),
        ``baseline`` (bool, used for the centre and limits), ``included`` (bool, False for
        excluded points).
    signals
        :class:`ChartSignals`.
    runs
        The full :class:`~dnoutcomes.qi.runs.RunsResult` (with ``n_useful``).
    label
        What is charted, in words (axis label of the plot).
    per
        For a U chart, the rate's unit (events per ``per`` units of exposure); 1 otherwise.
    method
        How the limits were computed, in words.
    notes
        Sentences on what was left out and why.
    """

    chart: ChartKind
    frame: pd.DataFrame
    signals: ChartSignals
    runs: RunsResult
    label: str
    per: float = 1.0
    method: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"{_TITLES[self.chart]}: {self.label}"

    @property
    def periods(self) -> list[str]:
        """The period labels as text (``"2025-07"`` for monthly periods)."""
        return [_period_label(p) for p in self.frame["period"]]

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON block for this chart.

        Returns
        -------
        dict
            ``months`` (period labels), ``values``, ``n``, ``centre``, ``lcl``, ``ucl``
            (one number when the same for every period, else a list with one entry per
            period) and ``signals`` (see :meth:`ChartSignals.to_dict`). Missing numbers
            are ``None``.
        """
        frame = self.frame
        return {
            "months": self.periods,
            "values": jsonable(frame["value"].to_numpy()),
            "n": jsonable([_int_if_whole(v) for v in frame["n"].to_numpy()]),
            "centre": _scalar_or_list(frame["centre"]),
            "lcl": _scalar_or_list(frame["lcl"]),
            "ucl": _scalar_or_list(frame["ucl"]),
            "signals": self.signals.to_dict(),
        }

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the chart with its signals marked (see
        :func:`dnoutcomes.plots.control.plot_control_chart`)."""
        from dnoutcomes.plots.control import plot_control_chart

        return plot_control_chart(self, ax=ax)


def _period_labels(periods: Labels, size: int) -> list[Any]:
    if periods is None:
        return list(range(1, size + 1))
    labels = list(periods)
    if len(labels) != size:
        raise RequestError(
            f"control chart: periods must have one label per point; got {len(labels)} labels "
            f"for {size} points. Pass as many periods as values."
        )
    return labels


def _period_label(period: Any) -> str:
    """A period as text: ``"2025-07"`` for a month (Period or date), else ``str``."""
    if isinstance(period, pd.Period):
        return str(period)
    if isinstance(period, pd.Timestamp | np.datetime64):
        return pd.Timestamp(period).strftime("%Y-%m")
    return str(period)


def _finish(
    kind: ChartKind,
    value: np.ndarray,
    n: np.ndarray,
    centre: np.ndarray,
    lcl: np.ndarray,
    ucl: np.ndarray,
    periods: Labels,
    base: np.ndarray,
    include: np.ndarray,
    label: str,
    *,
    per: float = 1.0,
    method: str = "",
    notes: Sequence[str] = (),
    runs_can_signal: bool = True,
) -> ControlChart:
    """Assemble the frame, the signals and the result."""
    labels = _period_labels(periods, value.size)
    with np.errstate(invalid="ignore"):
        outside = (value > ucl) | (value < lcl)
    outside = np.where(np.isfinite(value), outside, False)
    frame = pd.DataFrame(
        {
            "period": pd.Series(labels) if labels else pd.Series([], dtype=object),
            "value": value.astype(float),
            "n": n.astype(float),
            "centre": centre.astype(float),
            "lcl": lcl.astype(float),
            "ucl": ucl.astype(float),
            "outside_limits": outside.astype(bool),
            "baseline": base,
            "included": include,
        }
    )
    runs = anhoj_rules(value[include], centre[include])
    signals = ChartSignals(
        outside_limits=tuple(_period_label(p) for p, o in zip(labels, outside, strict=True) if o),
        longest_run=runs.longest_run,
        longest_run_limit=runs.longest_run_limit,
        crossings=runs.crossings,
        crossings_limit=runs.crossings_limit,
        runs_signal=runs.runs_signal and runs_can_signal,
    )
    all_notes = list(notes)
    empty = int((~np.isfinite(value)).sum()) - (1 if kind == "mr" and value.size else 0)
    if empty > 0:
        all_notes.append(f"{empty} period(s) without data are shown as gaps.")
    if not include.all():
        all_notes.append(
            f"{int((~include).sum())} point(s) excluded from the centre, limits and runs rules."
        )
    return ControlChart(
        chart=kind,
        frame=frame,
        signals=signals,
        runs=runs,
        label=label,
        per=per,
        method=method,
        notes=tuple(all_notes),
    )


def _scalar_or_list(column: pd.Series) -> Any:
    """One number when every period has the same value, else the list (None for NaN)."""
    values = column.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size and np.all(np.isfinite(values)) and np.all(finite == finite[0]):
        return float(finite[0])
    return jsonable(values)


def _int_if_whole(value: float) -> float | int | None:
    if not np.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else float(value)
