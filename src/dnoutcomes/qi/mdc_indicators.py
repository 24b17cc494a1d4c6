"""The report's indicators as Making-Data-Count charts, from a Dataset: the summary page of
indicators with their variation and assurance icons.

Three monthly indicators (the same episodes and sessions as :func:`dnoutcomes.qi.qi_charts`):

* ``mean_improvement`` — mean improvement of the measure at discharge (I chart; higher is
  better);
* ``responders`` — share of responders (P chart; higher is better; a target is a share
  from 0 to 1);
* ``adverse_events`` — adverse events per ``per`` DN sessions (U chart; lower is better);
  absent when adverse events are not recorded or there is no DN session.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi._indicator_frames import MonthLike, monthly_adverse_events, monthly_outcomes
from dnoutcomes.qi.mdc import MDCChart, mdc_chart, mdc_summary
from dnoutcomes.qi.mdc_rules import Direction

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["INDICATORS", "MDCIndicators", "mdc_indicators"]

#: The indicators, their direction of improvement and chart.
INDICATORS: dict[str, tuple[Direction, str]] = {
    "mean_improvement": ("increase", "i"),
    "responders": ("increase", "p"),
    "adverse_events": ("decrease", "u"),
}


@dataclass(frozen=True, repr=False)
class MDCIndicators:
    """The indicators' MDC charts and their summary table.

    Attributes
    ----------
    charts
        ``{indicator: MDCChart}`` in the order of :data:`INDICATORS` (``adverse_events``
        missing when not recorded).
    summary
        :func:`dnoutcomes.qi.mdc.mdc_summary` of the charts: one row per indicator with
        the latest value, limits, target and both icons (code and plain words).
    notes
        What was left out and why.
    """

    charts: Mapping[str, MDCChart]
    summary: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    def to_frame(self) -> pd.DataFrame:
        """A copy of the summary table."""
        return self.summary.copy()

    def to_dict(self) -> dict[str, Any]:
        """The report's ``"indicators"`` block: ``summary`` (records) and ``charts``
        (each :meth:`MDCChart.to_dict`)."""
        from dnoutcomes.stats.results import jsonable

        return {
            "summary": jsonable(self.summary.to_dict(orient="records")),
            "charts": {name: chart.to_dict() for name, chart in self.charts.items()},
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        icons = ", ".join(
            f"{name}: {chart.variation_icon}/{chart.assurance_icon}"
            for name, chart in self.charts.items()
        )
        return f"MDCIndicators({icons})"

    def _repr_html_(self) -> str:
        table = self.summary.to_html(index=False, border=0, classes="dnoutcomes", na_rep="")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return f"<div>{table}<ul>{notes}</ul></div>"


def mdc_indicators(
    dataset: Dataset,
    *,
    measure: str = "nprs",
    site: str | None = None,
    start: MonthLike | None = None,
    end: MonthLike | None = None,
    targets: Mapping[str, float] | None = None,
    phases: Mapping[Any, str] | Sequence[tuple[Any, str]] = (),
    annotations: Mapping[Any, str] | None = None,
    highlight: tuple[MonthLike, MonthLike] | None = None,
    run_chart_below: int = 12,
    per: float = 100.0,
) -> MDCIndicators:
    """Build the indicators' Making-Data-Count charts and their summary.

    Parameters
    ----------
    dataset
        A loaded dataset.
    measure
        The outcome measure (with an MCID in points); default ``"nprs"``.
    site, start, end
        As :func:`dnoutcomes.qi.qi_charts` (one site; first and last month).
    targets
        ``{indicator: target}`` for any of ``mean_improvement`` (points),
        ``responders`` (a share 0–1), ``adverse_events`` (per ``per`` sessions).
    phases
        ``{first month: name}`` of process changes (limits recomputed from each).
    annotations
        ``{month: text}``.
    highlight
        ``(first month, last month)`` of the report period.
    run_chart_below
        Phases with fewer months with data are run charts (default 12).
    per
        Adverse events per ``per`` DN sessions (default 100).

    Returns
    -------
    MDCIndicators
        ``charts``, ``summary``, ``notes``.

    Raises
    ------
    RequestError
        For an unknown indicator in ``targets``, and as :func:`dnoutcomes.qi.qi_charts`.
    InsufficientDataError
        When no month has an episode with both values.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ind = mdc_indicators(dataset, targets={"responders": 0.5})
    >>> ind.summary["indicator"].tolist()
    ['mean_improvement', 'responders', 'adverse_events']
    """
    targets = dict(targets or {})
    unknown = sorted(set(targets) - set(INDICATORS))
    if unknown:
        raise RequestError(
            f"MDC indicators: unknown target(s) {unknown}; expected keys among "
            f"{', '.join(INDICATORS)}."
        )
    monthly = monthly_outcomes(dataset, measure=measure, site=site, start=start, end=end)
    if int((monthly["episodes"] > 0).sum()) == 0:
        raise InsufficientDataError(
            f"MDC indicators: no month has an episode with a baseline and a discharge {measure}."
        )
    name = measure.upper() if len(measure) <= 5 else measure.replace("_", " ")
    common: dict[str, Any] = {
        "phases": phases,
        "annotations": annotations,
        "highlight": highlight,
        "run_chart_below": run_chart_below,
    }
    months = monthly["month"]
    charts: dict[str, MDCChart] = {
        "mean_improvement": mdc_chart(
            monthly["mean_improvement"],
            periods=months,
            improvement="increase",
            target=targets.get("mean_improvement"),
            label=f"mean {name} improvement (points)",
            **common,
        ),
        "responders": mdc_chart(
            monthly["responders"],
            n=monthly["episodes"],
            kind="p",
            periods=months,
            improvement="increase",
            target=targets.get("responders"),
            label=f"{name} responders",
            **common,
        ),
    }
    notes: list[str] = []
    ae = monthly_adverse_events(dataset, site=site, start=start, end=end)
    if ae is None:
        notes.append("Adverse events are not recorded in this export: no safety indicator.")
    elif int(ae["dn_sessions"].sum()) == 0:
        notes.append("No dry-needling session in the period: no safety indicator.")
    else:
        charts["adverse_events"] = mdc_chart(
            ae["adverse_events"],
            n=ae["dn_sessions"],
            kind="u",
            per=per,
            periods=ae["month"],
            improvement="decrease",
            target=targets.get("adverse_events"),
            label=f"adverse events per {per:g} DN sessions",
            **common,
        )
    for key, chart in charts.items():
        notes.extend(f"{key}: {note}" for note in chart.notes)
    return MDCIndicators(charts=charts, summary=mdc_summary(charts), notes=tuple(notes))
