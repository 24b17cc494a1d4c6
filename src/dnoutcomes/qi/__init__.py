"""Quality-improvement statistics (analysis plan, section 9 and "Small numbers").

* Control charts with Shewhart limits and Anhøj's runs rules: :func:`i_chart` (XmR),
  :func:`mr_chart`, :func:`p_chart`, :func:`u_chart`; the rules alone in
  :func:`anhoj_rules`.
* Funnel plots with exact binomial limits: :func:`funnel_chart`, :func:`funnel_limits`.
* Small-cell suppression for every table that leaves the package: :func:`suppress_counts`,
  :func:`format_count`.
* The plan's monthly indicators from a Dataset: :func:`qi_charts` (and the frames behind
  it: :func:`monthly_outcomes`, :func:`monthly_adverse_events`,
  :func:`therapist_responders`).

Nothing here imports matplotlib; ``.plot()`` on a chart hands off to
:mod:`dnoutcomes.plots.control`.
"""

from __future__ import annotations

from dnoutcomes.qi.charts import (
    ChartSignals,
    ControlChart,
    i_chart,
    mr_chart,
    p_chart,
    u_chart,
)
from dnoutcomes.qi.funnel import FunnelChart, funnel_chart, funnel_limits
from dnoutcomes.qi.indicators import (
    QICharts,
    monthly_adverse_events,
    monthly_outcomes,
    qi_charts,
    therapist_responders,
)
from dnoutcomes.qi.runs import RunsResult, anhoj_rules, crossings_limit, longest_run_limit
from dnoutcomes.qi.suppress import (
    DEFAULT_THRESHOLD,
    SECONDARY_MARK,
    SuppressedTable,
    format_count,
    suppress_counts,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "SECONDARY_MARK",
    "ChartSignals",
    "ControlChart",
    "FunnelChart",
    "QICharts",
    "RunsResult",
    "SuppressedTable",
    "anhoj_rules",
    "crossings_limit",
    "format_count",
    "funnel_chart",
    "funnel_limits",
    "i_chart",
    "longest_run_limit",
    "monthly_adverse_events",
    "monthly_outcomes",
    "mr_chart",
    "p_chart",
    "qi_charts",
    "suppress_counts",
    "therapist_responders",
    "u_chart",
]
