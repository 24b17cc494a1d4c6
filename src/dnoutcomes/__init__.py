"""dnoutcomes: outcomes of dry needling for low back pain, from clinic exports.

Load and check a clinic's de-identified export (:func:`load`), compare dry needling alone
with dry needling plus manual and exercise therapy, draw the figures, and write periodic
quality-improvement reports.
"""

from __future__ import annotations

from dnoutcomes.contract.measures import Measure, MeasureRegistry, default_registry
from dnoutcomes.dataset import Dataset
from dnoutcomes.errors import (
    DataQualityWarning,
    DatasetError,
    DnOutcomesError,
    DnOutcomesWarning,
    InsufficientDataError,
    RequestError,
    UnreadableInputError,
)
from dnoutcomes.qi import qi_charts, suppress_counts
from dnoutcomes.report import Report, build_report
from dnoutcomes.stats.iptw import compare_iptw
from dnoutcomes.stats.meta import compare_sites
from dnoutcomes.stats.mixed import compare_trajectories, fit_random_intercept
from dnoutcomes.stats.safety import compare_safety
from dnoutcomes.validate import ValidationReport, load, validate

__version__ = "0.1.0"

__all__ = [
    "DataQualityWarning",
    "Dataset",
    "DatasetError",
    "DnOutcomesError",
    "DnOutcomesWarning",
    "InsufficientDataError",
    "Measure",
    "MeasureRegistry",
    "Report",
    "RequestError",
    "UnreadableInputError",
    "ValidationReport",
    "__version__",
    "build_report",
    "compare_iptw",
    "compare_safety",
    "compare_sites",
    "compare_trajectories",
    "default_registry",
    "fit_random_intercept",
    "load",
    "qi_charts",
    "suppress_counts",
    "validate",
]
