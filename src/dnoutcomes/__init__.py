"""dnoutcomes: outcomes of dry needling for low back pain, from clinic exports.

Load and check a clinic's de-identified export (:func:`load`), compare dry needling alone
with dry needling plus manual and exercise therapy, draw the figures, and write periodic
quality-improvement reports.
"""

from __future__ import annotations

from dnoutcomes.errors import (
    DataQualityWarning,
    DatasetError,
    DnOutcomesError,
    DnOutcomesWarning,
    InsufficientDataError,
    RequestError,
    UnreadableInputError,
)

__version__ = "0.1.0"

__all__ = [
    "DataQualityWarning",
    "DatasetError",
    "DnOutcomesError",
    "DnOutcomesWarning",
    "InsufficientDataError",
    "RequestError",
    "UnreadableInputError",
    "__version__",
]
