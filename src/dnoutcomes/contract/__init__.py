"""The data contract: column specifications, the measure registry, pandera schemas of the
typed tables, and the de-identification screen."""

from __future__ import annotations

from dnoutcomes.contract.measures import Measure, MeasureRegistry, default_registry
from dnoutcomes.contract.specs import TABLES, ColumnSpec

__all__ = ["TABLES", "ColumnSpec", "Measure", "MeasureRegistry", "default_registry"]
