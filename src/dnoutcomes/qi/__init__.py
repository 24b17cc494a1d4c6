"""Quality-improvement statistics (analysis plan, section 9 and "Small numbers").

Control charts (:func:`i_chart`, :func:`mr_chart`, :func:`p_chart`, :func:`u_chart`) with
Anhøj's runs rules (:func:`anhoj_rules`). Nothing here imports matplotlib; a chart's
``.plot()`` hands off to :mod:`dnoutcomes.plots.control`.
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
from dnoutcomes.qi.runs import RunsResult, anhoj_rules, crossings_limit, longest_run_limit

__all__ = [
    "ChartSignals",
    "ControlChart",
    "RunsResult",
    "anhoj_rules",
    "crossings_limit",
    "i_chart",
    "longest_run_limit",
    "mr_chart",
    "p_chart",
    "u_chart",
]
