"""dnoutcomes: outcomes of dry needling for low back pain, from clinic exports.

Load and check a clinic's de-identified export (:func:`load`), compare dry needling alone
with dry needling plus manual and exercise therapy, draw the figures, and write periodic
quality-improvement reports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dnoutcomes.contract.measures import Measure, MeasureRegistry, default_registry
from dnoutcomes.dataset import Dataset
from dnoutcomes.errors import (
    DataQualityWarning,
    DatasetError,
    DnOutcomesError,
    DnOutcomesWarning,
    InsufficientDataError,
    ProtocolError,
    RequestError,
    UnreadableInputError,
)
from dnoutcomes.protocol import Protocol, default_protocol
from dnoutcomes.qi import qi_charts, suppress_counts
from dnoutcomes.report import Report, build_report
from dnoutcomes.stats.iptw import compare_iptw
from dnoutcomes.stats.meta import compare_sites
from dnoutcomes.stats.mixed import compare_trajectories, fit_random_intercept
from dnoutcomes.stats.safety import compare_safety
from dnoutcomes.validate import ValidationReport, load, validate

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dnoutcomes.stats.analysis import Analysis, analyze


def __getattr__(name: str) -> Any:
    # analyze and Analysis import statsmodels: only when first used (PEP 562)
    if name in ("Analysis", "analyze"):
        from dnoutcomes.stats import analysis

        value = getattr(analysis, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Analysis",
    "DataQualityWarning",
    "Dataset",
    "DatasetError",
    "DnOutcomesError",
    "DnOutcomesWarning",
    "InsufficientDataError",
    "Measure",
    "MeasureRegistry",
    "Protocol",
    "ProtocolError",
    "Report",
    "RequestError",
    "UnreadableInputError",
    "ValidationReport",
    "__version__",
    "analyze",
    "build_report",
    "compare_iptw",
    "compare_safety",
    "compare_sites",
    "compare_trajectories",
    "default_protocol",
    "default_registry",
    "fit_random_intercept",
    "load",
    "qi_charts",
    "suppress_counts",
    "validate",
]
