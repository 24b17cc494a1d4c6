"""Imports from the systems clinics keep their data in, into a contract export.

* :func:`import_redcap` — a REDCap project: its data dictionary, a records export (raw or
  label, longitudinal events, repeating instruments, checkboxes) and a TOML mapping that
  says which field becomes which contract column or measure;
* :func:`import_fhir` — a FHIR R4 Bundle of Patient, EpisodeOfCare, Encounter, Procedure,
  Condition, Observation, QuestionnaireResponse and AdverseEvent resources, with a TOML
  mapping of codes to measures and values.

Both return an :class:`ImportResult` (the contract tables and a report of everything that
could not be mapped) and write nothing; :func:`write_import` writes the tables as a
contract export (CSV folder), atomically, after the de-identification screen of
:mod:`dnoutcomes.validate` has passed on them. Identifiers never pass through: see
``docs/imports.md``.
"""

from __future__ import annotations

from dnoutcomes.importers._result import ImportResult
from dnoutcomes.importers._write import write_import
from dnoutcomes.importers.fhir import import_fhir
from dnoutcomes.importers.redcap import import_redcap

__all__ = ["ImportResult", "import_fhir", "import_redcap", "write_import"]
