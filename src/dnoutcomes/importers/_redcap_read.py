"""Reading a REDCap project: the data dictionary and a records export (raw or label).

Both are CSV files as REDCap exports them (the "Data Dictionary" download or the API's
``metadata``; the "CSV / Microsoft Excel (raw data)" or "(labels)" export, or the API's
``record`` with ``rawOrLabel`` and ``rawOrLabelHeaders``). Headers and cells are read as
text; nothing is inferred from the content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnoutcomes.errors import UnreadableInputError
from dnoutcomes.importers._mapping import norm

__all__ = [
    "CHOICE_TYPES",
    "PSEUDO_FIELDS",
    "Field",
    "Records",
    "event_key",
    "read_dictionary",
    "read_records",
]

#: The columns REDCap adds to a records export beside the project's fields.
PSEUDO_FIELDS = (
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
)
#: Their headers in an export with label headers.
_PSEUDO_LABELS = {
    "event_name": "redcap_event_name",
    "repeat_instrument": "redcap_repeat_instrument",
    "repeat_instance": "redcap_repeat_instance",
    "data_access_group": "redcap_data_access_group",
}
#: Field types whose values are choice codes.
CHOICE_TYPES = frozenset({"radio", "dropdown", "checkbox", "yesno", "truefalse"})
_IMPLIED = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
_DICTIONARY_HEADERS = {
    "field": ("variable_field_name", "field_name"),
    "form": ("form_name",),
    "type": ("field_type",),
    "label": ("field_label",),
    "choices": ("choices_calculations_or_slider_labels", "select_choices_or_calculations"),
    "identifier": ("identifier",),
}
_IGNORED_METADATA_TYPES = frozenset({"descriptive"})
_IGNORED_LABELS = frozenset({"complete", "survey_identifier", "survey_timestamp"})


@dataclass(frozen=True)
class Field:
    """One field of the data dictionary."""

    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str] = field(default_factory=dict)
    identifier: bool = False


def _read_csv(path: str | Path, what: str) -> pd.DataFrame:
    file = Path(path)
    try:
        return pd.read_csv(
            file, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=True
        )
    except FileNotFoundError:
        raise UnreadableInputError(
            f"{what} {file}: no such file; expected the REDCap CSV export. Check the path."
        ) from None
    except UnicodeDecodeError:
        raise UnreadableInputError(
            f"{what} {file}: not UTF-8; expected REDCap's CSV export (UTF-8). Export it again "
            "or save it as UTF-8."
        ) from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UnreadableInputError(
            f"{what} {file}: cannot be read as CSV ({type(exc).__name__}); expected REDCap's "
            "CSV export. Export it again."
        ) from None


def _choices(text: str, kind: str) -> dict[str, str]:
    if kind in _IMPLIED:
        return dict(_IMPLIED[kind])
    if kind not in CHOICE_TYPES or not text.strip():
        return {}
    out: dict[str, str] = {}
    for part in text.split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            out[code.strip()] = label.strip()
    return out


def read_dictionary(path: str | Path) -> dict[str, Field]:
    """The fields of a REDCap data dictionary, in its order.

    Parameters
    ----------
    path
        The data dictionary CSV (the web download's headers, ``Variable / Field Name``,
        ``Form Name``…, or the API's ``field_name``, ``form_name``…).

    Returns
    -------
    dict
        Field name → :class:`Field`; ``descriptive`` fields (text shown on a form, no data)
        are left out.

    Raises
    ------
    UnreadableInputError
        When the file cannot be read or lacks the field name, form name or field type
        column.
    """
    raw = _read_csv(path, "dictionary")
    by_norm = {norm(str(c)): str(c) for c in raw.columns}
    cols: dict[str, str] = {}
    for key, names in _DICTIONARY_HEADERS.items():
        found = next((by_norm[n] for n in names if n in by_norm), None)
        if found is not None:
            cols[key] = found
    missing = [k for k in ("field", "form", "type") if k not in cols]
    if missing:
        raise UnreadableInputError(
            f"dictionary {path}: no {', '.join(missing)} column; expected a REDCap data "
            "dictionary (Variable / Field Name, Form Name, Field Type, …). Download the data "
            "dictionary of the project."
        )
    fields: dict[str, Field] = {}
    for row in raw.to_dict("records"):
        name = str(row[cols["field"]]).strip()
        kind = str(row[cols["type"]]).strip().lower()
        if not name or kind in _IGNORED_METADATA_TYPES:
            continue
        fields[name] = Field(
            name=name,
            form=str(row[cols["form"]]).strip(),
            type=kind,
            label=str(row.get(cols.get("label", ""), "")).strip(),
            choices=_choices(str(row.get(cols.get("choices", ""), "")), kind),
            identifier=str(row.get(cols.get("identifier", ""), "")).strip().lower()
            in ("y", "yes", "1", "true"),
        )
    if not fields:
        raise UnreadableInputError(
            f"dictionary {path}: holds no field; expected a REDCap data dictionary. Download "
            "the data dictionary of the project."
        )
    return fields


def event_key(values: pd.Series) -> pd.Series:
    """A REDCap event by name or label, compared without its arm.

    ``baseline_arm_1`` (unique event name, raw export) and ``Baseline (Arm 1: Arm 1)`` (its
    label, label export) are both ``baseline``.
    """
    text = values.astype("str").str.strip()
    text = text.str.replace(r"\s*\(\s*arm\s*\d+[^)]*\)\s*$", "", regex=True, case=False)
    text = text.str.lower().str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")
    return text.str.replace(r"_arm_\d+$", "", regex=True)


@dataclass(frozen=True)
class Records:
    """A records export with canonical headers.

    Attributes
    ----------
    frame
        The rows (text), columns renamed to field names (``field___code`` for checkbox
        choices) and :data:`PSEUDO_FIELDS`.
    lines
        The file line of each row (header = line 1).
    checkbox
        Checkbox field → {choice code: column}.
    unknown
        Headers that are no field of the dictionary (ignored).
    """

    frame: pd.DataFrame
    lines: np.ndarray
    checkbox: dict[str, dict[str, str]]
    unknown: tuple[str, ...]


def _checkbox_column(header: str, fields: dict[str, Field]) -> tuple[str, str] | None:
    m = re.fullmatch(r"(.+?)___(.+)", header)
    if m and m.group(1) in fields and fields[m.group(1)].type == "checkbox":
        fld = fields[m.group(1)]
        suffix = m.group(2).lower()
        for code in fld.choices:
            if code.lower().replace("-", "_") == suffix:
                return fld.name, code
        return None
    m = re.fullmatch(r"(.+?)\s*\(choice=(.+)\)", header, flags=re.S)
    if m:
        for fld in fields.values():
            if fld.type == "checkbox" and norm(fld.label) == norm(m.group(1)):
                for code, label in fld.choices.items():
                    if norm(label) == norm(m.group(2)):
                        return fld.name, code
    return None


def read_records(path: str | Path, fields: dict[str, Field]) -> Records:
    """Read a records export and name its columns after the dictionary's fields.

    Raw headers (field names) and label headers (field labels, ``Label (choice=…)`` for a
    checkbox choice, ``Event Name``, ``Repeat Instrument``…) are both understood; a label
    shared by two fields cannot name a column and is reported as unknown.
    """
    raw = _read_csv(path, "records")
    forms = {f.form for f in fields.values()}
    labels: dict[str, list[str]] = {}
    for f in fields.values():
        if f.type != "checkbox" and f.label:
            labels.setdefault(norm(f.label), []).append(f.name)
    rename: dict[str, str] = {}
    checkbox: dict[str, dict[str, str]] = {}
    unknown: list[str] = []
    for col in map(str, raw.columns):
        header = col.strip()
        box = _checkbox_column(header, fields)
        if header in fields and fields[header].type != "checkbox" or header in PSEUDO_FIELDS:
            rename[col] = header
        elif box is not None:
            name = f"{box[0]}___{box[1]}"
            rename[col] = name
            checkbox.setdefault(box[0], {})[box[1]] = name
        elif header.endswith("_complete") and header[: -len("_complete")] in forms:
            continue  # a form's status (Incomplete / Unverified / Complete)
        elif norm(header) in _PSEUDO_LABELS:
            rename[col] = _PSEUDO_LABELS[norm(header)]
        elif norm(re.sub(r"\.\d+$", "", header)) in _IGNORED_LABELS:
            # a form's status, survey metadata (pandas numbers repeated headers: ".1")
            continue
        elif len(labels.get(norm(header), [])) == 1:
            rename[col] = labels[norm(header)][0]
        else:
            unknown.append(header)
    taken = list(rename.values())
    dup = sorted({c for c in taken if taken.count(c) > 1})
    if dup:
        raise UnreadableInputError(
            f"records {path}: the field(s) {', '.join(dup)} appear in two columns; expected "
            "each field once. Export the records again."
        )
    frame = raw[list(rename)].rename(columns=rename)
    frame = frame.apply(lambda s: s.str.strip())
    keep = (frame != "").any(axis=1).to_numpy()
    lines = np.flatnonzero(keep) + 2
    return Records(frame[keep].reset_index(drop=True), lines, checkbox, tuple(unknown))
