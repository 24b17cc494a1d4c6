"""The analyses of the analysis plan, one module per family.

:func:`analyze` runs the whole plan for one pair of arms; each ``compare_*`` function runs
one section on a :class:`~dnoutcomes.dataset.Dataset`, and the array / tidy-frame cores
(``fit_ancova``, ``risk_measures``, ``kaplan_meier``…) serve analysts with their own data.

Importing this package never imports matplotlib.
"""

from __future__ import annotations

from dnoutcomes.stats.analysis import Analysis, analyze
from dnoutcomes.stats.ancova import (
    AncovaResult,
    OutcomesResult,
    PairsResult,
    compare_ancova,
    compare_outcomes,
    compare_pairs,
    fit_ancova,
)
from dnoutcomes.stats.descriptives import (
    BaselineTable,
    OutcomeSummary,
    describe_baseline,
    smd_categorical,
    smd_continuous,
    summarize_outcomes,
)
from dnoutcomes.stats.iptw import IptwResult, compare_iptw, e_value, propensity_weights
from dnoutcomes.stats.medication import (
    MedicationResult,
    UseResult,
    compare_medication,
    compare_medication_use,
    fit_use_logistic,
)
from dnoutcomes.stats.meta import SiteMetaResult, compare_sites, pool_dersimonian_laird
from dnoutcomes.stats.mixed import TrajectoryResult, compare_trajectories, fit_random_intercept
from dnoutcomes.stats.responders import (
    ResponderResult,
    compare_responders,
    improvement_distribution,
    nnt_interval,
    risk_measures,
)
from dnoutcomes.stats.safety import SafetyResult, compare_safety, poisson_rate_ci
from dnoutcomes.stats.survival import (
    LogrankResult,
    TimeToResponseResult,
    compare_time_to_response,
    kaplan_meier,
    km_quantile,
    logrank_test,
    response_times,
)

__all__ = [
    "Analysis",
    "AncovaResult",
    "BaselineTable",
    "IptwResult",
    "LogrankResult",
    "MedicationResult",
    "OutcomeSummary",
    "OutcomesResult",
    "PairsResult",
    "ResponderResult",
    "SafetyResult",
    "SiteMetaResult",
    "TimeToResponseResult",
    "TrajectoryResult",
    "UseResult",
    "analyze",
    "compare_ancova",
    "compare_iptw",
    "compare_medication",
    "compare_medication_use",
    "compare_outcomes",
    "compare_pairs",
    "compare_responders",
    "compare_safety",
    "compare_sites",
    "compare_time_to_response",
    "compare_trajectories",
    "describe_baseline",
    "e_value",
    "fit_ancova",
    "fit_random_intercept",
    "fit_use_logistic",
    "improvement_distribution",
    "kaplan_meier",
    "km_quantile",
    "logrank_test",
    "nnt_interval",
    "pool_dersimonian_laird",
    "poisson_rate_ci",
    "propensity_weights",
    "response_times",
    "risk_measures",
    "smd_categorical",
    "smd_continuous",
    "summarize_outcomes",
]
