"""Reading a FHIR R4 Bundle: resources by type, references, codings and values.

Only the elements the importer maps are ever read; names, identifiers, telecom, addresses,
photos and free text of a resource are never looked at, so they cannot reach the output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dnoutcomes.errors import UnreadableInputError

__all__ = [
    "MALFORMED",
    "Bundle",
    "code_of",
    "date_of",
    "extension_value",
    "number_of",
    "read_bundle",
    "system_code",
]

Resource = dict[str, Any]
#: What reading an element of the wrong JSON type raises (an object where a list is
#: expected…): the resource is then counted as malformed and skipped.
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class Bundle:
    """The resources of a Bundle, by type, in bundle order, with a reference index."""

    def __init__(self, entries: list[Resource], where: str) -> None:
        self.where = where
        self.by_type: dict[str, list[Resource]] = {}
        self.index: dict[str, str] = {}  # fullUrl or Type/id → Type/id
        self.known: set[str] = set()
        self.malformed = 0
        for entry in entries:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
                self.malformed += 1
                continue
            kind = res["resourceType"]
            self.by_type.setdefault(kind, []).append(res)
            rid = res.get("id")
            if isinstance(rid, str) and rid:
                key = f"{kind}/{rid}"
                self.known.add(key)
                self.index[key] = key
                full = entry.get("fullUrl")
                if isinstance(full, str) and full:
                    self.index[full] = key

    def of(self, kind: str) -> list[Resource]:
        """The resources of one type (empty when none)."""
        return self.by_type.get(kind, [])

    def resolve(self, reference: Any) -> str | None:
        """``Type/id`` of a reference inside the bundle (relative, absolute or
        ``urn:uuid:``), else ``None``."""
        if not isinstance(reference, dict):
            return None
        ref = reference.get("reference")
        if not isinstance(ref, str) or not ref:
            return None
        if ref in self.index:
            return self.index[ref]
        parts = ref.rstrip("/").split("/")
        if "_history" in parts:
            parts = parts[: parts.index("_history")]
        if len(parts) >= 2:
            key = f"{parts[-2]}/{parts[-1]}"
            if key in self.known:
                return key
        return None


def read_bundle(path: str | Path) -> Bundle:
    """Read a FHIR R4 Bundle (JSON) of any type (searchset, collection, transaction…).

    Raises
    ------
    UnreadableInputError
        When the file is missing, not UTF-8 JSON, or not a Bundle.
    """
    file = Path(path)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnreadableInputError(
            f"bundle {file}: no such file; expected a FHIR Bundle (JSON). Check the path."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableInputError(
            f"bundle {file}: cannot be read as JSON ({type(exc).__name__}); expected a FHIR "
            "R4 Bundle in JSON. Export the bundle again as JSON."
        ) from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        got = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise UnreadableInputError(
            f"bundle {file}: resourceType is {got!r}; expected 'Bundle'. Export a Bundle "
            "(searchset or collection) of the resources."
        )
    entries = doc.get("entry", [])
    if not isinstance(entries, list):
        raise UnreadableInputError(
            f"bundle {file}: entry is not a list; expected Bundle.entry to be a JSON array."
        )
    return Bundle(entries, str(file))


def _codings(concepts: Any) -> Iterable[dict[str, Any]]:
    items = concepts if isinstance(concepts, list) else [concepts]
    for concept in items:
        if isinstance(concept, dict):
            codings = concept.get("coding", [])
            if "code" in concept and "system" in concept:  # a Coding itself
                codings = [concept]
            for c in codings if isinstance(codings, list) else []:
                if isinstance(c, dict) and isinstance(c.get("code"), str):
                    yield c


def code_of(concepts: Any, table: dict[str, str]) -> tuple[str | None, str | None]:
    """The mapped value of the first coding found in ``table`` (keys ``system|code`` or
    ``code``), and the first coding as ``system|code`` (for the report); ``(None, None)``
    when there is no coding."""
    first: str | None = None
    for c in _codings(concepts):
        key = f"{c.get('system', '')}|{c['code']}"
        first = first or key
        if key in table:
            return table[key], key
        if c["code"] in table:
            return table[c["code"]], key
    return None, first


def system_code(concepts: Any, system: str) -> str | None:
    """The code of the first coding of ``system``."""
    for c in _codings(concepts):
        if c.get("system") == system:
            return str(c["code"])
    return None


def date_of(value: Any) -> str | None:
    """The ``YYYY-MM-DD`` of a FHIR date or dateTime (its local date; time zone ignored)."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[7] == "-":
        return value[:10]
    return None


def number_of(holder: dict[str, Any]) -> str | None:
    """The value of ``value[x]`` / ``answer`` as number text: valueQuantity.value,
    valueInteger, valueDecimal, valueBoolean (1/0), valueCoding.code, or a valueString that
    is a number (any other text is never read: it may be free text about a person)."""
    q = holder.get("valueQuantity")
    if isinstance(q, dict) and isinstance(q.get("value"), int | float):
        return _num(q["value"])
    for key in ("valueInteger", "valueDecimal"):
        v = holder.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return _num(v)
    if isinstance(holder.get("valueBoolean"), bool):
        return "1" if holder["valueBoolean"] else "0"
    c = holder.get("valueCoding")
    if isinstance(c, dict) and isinstance(c.get("code"), str):
        return c["code"]
    s = holder.get("valueString")
    if isinstance(s, str) and _NUMBER.fullmatch(s.strip()):
        return s.strip()
    return None


def _num(v: int | float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def extension_value(resource: dict[str, Any], url: str | None) -> str | None:
    """The value of the first extension with ``url`` (code, string, number, boolean,
    coding, date), as text; ``None`` when absent."""
    if not url:
        return None
    for ext in resource.get("extension", []) or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            for key in ("valueCode", "valueDate", "valueDateTime"):
                if isinstance(ext.get(key), str):
                    return str(ext[key])
            return number_of(ext)
    return None
