"""dnoutcomes: outcomes of dry needling for low back pain, from clinic exports.

Load and check a clinic's de-identified export (:func:`load`), compare dry needling alone
with dry needling plus manual and exercise therapy (:func:`analyze`, or one analysis at a
time: :func:`compare_ancova`, :func:`describe_baseline` …), write the tables and figures of
a manuscript (:func:`table_one`, :func:`write_figures`), import REDCap or FHIR exports, and
write periodic quality-improvement reports. ``__all__`` is the curated public API; the
subpackages (``dnoutcomes.stats``, ``dnoutcomes.qi``, ``dnoutcomes.plots``,
``dnoutcomes.present``, ``dnoutcomes.sample`` …) hold the rest. Names that need
statsmodels, matplotlib or python-docx are imported when first used, so ``import
dnoutcomes`` stays quick.
"""

from __future__ import annotations

import importlib
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
    from dnoutcomes.importers import ImportResult, import_fhir, import_redcap, write_import
    from dnoutcomes.plots._export import figure_size, save_figure
    from dnoutcomes.present.gallery import write_figures
    from dnoutcomes.present.result_tables import results_table, safety_table
    from dnoutcomes.present.table import Table
    from dnoutcomes.present.table_one import table_one
    from dnoutcomes.stats.aipw import compare_aipw
    from dnoutcomes.stats.analysis import Analysis, analyze
    from dnoutcomes.stats.ancova import compare_ancova, compare_outcomes
    from dnoutcomes.stats.clustered import compare_clustered
    from dnoutcomes.stats.cox import compare_cox
    from dnoutcomes.stats.descriptives import describe_baseline, summarize_outcomes
    from dnoutcomes.stats.medication import compare_medication
    from dnoutcomes.stats.mmrm import compare_mmrm
    from dnoutcomes.stats.responders import compare_responders
    from dnoutcomes.stats.survival import compare_time_to_response

#: Names imported when first used (PEP 562): they pull in statsmodels, SciPy, matplotlib
#: or python-docx, which ``import dnoutcomes`` alone does not need.
_LAZY: dict[str, str] = {
    "Analysis": "dnoutcomes.stats.analysis",
    "ImportResult": "dnoutcomes.importers",
    "Table": "dnoutcomes.present.table",
    "analyze": "dnoutcomes.stats.analysis",
    "compare_aipw": "dnoutcomes.stats.aipw",
    "compare_ancova": "dnoutcomes.stats.ancova",
    "compare_clustered": "dnoutcomes.stats.clustered",
    "compare_cox": "dnoutcomes.stats.cox",
    "compare_medication": "dnoutcomes.stats.medication",
    "compare_mmrm": "dnoutcomes.stats.mmrm",
    "compare_outcomes": "dnoutcomes.stats.ancova",
    "compare_responders": "dnoutcomes.stats.responders",
    "compare_time_to_response": "dnoutcomes.stats.survival",
    "describe_baseline": "dnoutcomes.stats.descriptives",
    "figure_size": "dnoutcomes.plots._export",
    "import_fhir": "dnoutcomes.importers",
    "import_redcap": "dnoutcomes.importers",
    "results_table": "dnoutcomes.present.result_tables",
    "safety_table": "dnoutcomes.present.result_tables",
    "save_figure": "dnoutcomes.plots._export",
    "summarize_outcomes": "dnoutcomes.stats.descriptives",
    "table_one": "dnoutcomes.present.table_one",
    "write_figures": "dnoutcomes.present.gallery",
    "write_import": "dnoutcomes.importers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


#: The public API, grouped as the API reference shows it (a test keeps it importable).
__all__ = [
    "__version__",
    # loading and checking an export
    "load",
    "validate",
    "Dataset",
    "ValidationReport",
    "Protocol",
    "default_protocol",
    "Measure",
    "MeasureRegistry",
    "default_registry",
    # the analyses
    "analyze",
    "Analysis",
    "describe_baseline",
    "summarize_outcomes",
    "compare_ancova",
    "compare_outcomes",
    "compare_trajectories",
    "fit_random_intercept",
    "compare_mmrm",
    "compare_responders",
    "compare_time_to_response",
    "compare_cox",
    "compare_iptw",
    "compare_aipw",
    "compare_clustered",
    "compare_sites",
    "compare_medication",
    "compare_safety",
    # tables and figures for manuscripts
    "Table",
    "table_one",
    "results_table",
    "safety_table",
    "write_figures",
    "save_figure",
    "figure_size",
    # quality improvement and reports
    "qi_charts",
    "suppress_counts",
    "Report",
    "build_report",
    # REDCap and FHIR imports
    "import_redcap",
    "import_fhir",
    "write_import",
    "ImportResult",
    # errors and warnings
    "DnOutcomesError",
    "DatasetError",
    "UnreadableInputError",
    "RequestError",
    "InsufficientDataError",
    "ProtocolError",
    "DnOutcomesWarning",
    "DataQualityWarning",
]
