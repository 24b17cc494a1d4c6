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
    "RequestError",
    "UnreadableInputError",
    "ValidationReport",
    "__version__",
    "default_registry",
    "load",
    "validate",
]
