"""The analyses of the analysis plan, one module per family.

:func:`analyze` runs the whole plan for one pair of arms; each ``compare_*`` function runs
one section on a :class:`~dnoutcomes.dataset.Dataset`, and the array / tidy-frame cores
(``fit_ancova``, ``risk_measures``, ``kaplan_meier``…) serve analysts with their own data.

Importing this package never imports matplotlib, and imports the analysis modules (and
statsmodels) only when one of their names is first used, so ``import dnoutcomes`` stays
quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives; the module is imported on first use (PEP 562).
_WHERE: dict[str, str] = {
    "Analysis": "dnoutcomes.stats.analysis",
    "AncovaResult": "dnoutcomes.stats.ancova",
    "BaselineTable": "dnoutcomes.stats.descriptives",
    "IptwResult": "dnoutcomes.stats.iptw",
    "LogrankResult": "dnoutcomes.stats.survival",
    "MedicationResult": "dnoutcomes.stats.medication",
    "OutcomeSummary": "dnoutcomes.stats.descriptives",
    "OutcomesResult": "dnoutcomes.stats.ancova",
    "PairsResult": "dnoutcomes.stats.ancova",
    "ResponderResult": "dnoutcomes.stats.responders",
    "SafetyResult": "dnoutcomes.stats.safety",
    "SiteMetaResult": "dnoutcomes.stats.meta",
    "TimeToResponseResult": "dnoutcomes.stats.survival",
    "TrajectoryResult": "dnoutcomes.stats.mixed",
    "UseResult": "dnoutcomes.stats.medication",
    "analyze": "dnoutcomes.stats.analysis",
    "compare_ancova": "dnoutcomes.stats.ancova",
    "compare_iptw": "dnoutcomes.stats.iptw",
    "compare_medication": "dnoutcomes.stats.medication",
    "compare_medication_use": "dnoutcomes.stats.medication",
    "compare_outcomes": "dnoutcomes.stats.ancova",
    "compare_pairs": "dnoutcomes.stats.ancova",
    "compare_responders": "dnoutcomes.stats.responders",
    "compare_safety": "dnoutcomes.stats.safety",
    "compare_sites": "dnoutcomes.stats.meta",
    "compare_time_to_response": "dnoutcomes.stats.survival",
    "compare_trajectories": "dnoutcomes.stats.mixed",
    "describe_baseline": "dnoutcomes.stats.descriptives",
    "e_value": "dnoutcomes.stats.iptw",
    "fit_ancova": "dnoutcomes.stats.ancova",
    "fit_random_intercept": "dnoutcomes.stats.mixed",
    "fit_use_logistic": "dnoutcomes.stats.medication",
    "improvement_distribution": "dnoutcomes.stats.responders",
    "kaplan_meier": "dnoutcomes.stats.survival",
    "km_quantile": "dnoutcomes.stats.survival",
    "logrank_test": "dnoutcomes.stats.survival",
    "nnt_interval": "dnoutcomes.stats.responders",
    "poisson_rate_ci": "dnoutcomes.stats.safety",
    "pool_dersimonian_laird": "dnoutcomes.stats.meta",
    "propensity_weights": "dnoutcomes.stats.iptw",
    "response_times": "dnoutcomes.stats.survival",
    "risk_measures": "dnoutcomes.stats.responders",
    "smd_categorical": "dnoutcomes.stats.descriptives",
    "smd_continuous": "dnoutcomes.stats.descriptives",
    "summarize_outcomes": "dnoutcomes.stats.descriptives",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
