"""Property tests of the identifier screen: random Unicode disguises of identifiers, put in
random cells and headers of a valid export, are each caught and never shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnoutcomes.contract.deid_text import fold_str
from dnoutcomes.contract.measures import default_registry
from dnoutcomes.contract.tables import prepare_table
from dnoutcomes.io import RawDataset, read_export
from dnoutcomes.sample import generate
from dnoutcomes.validate import validate_export

BASES = (
    "jo.bloggs@example.com",
    "07946 095800",
    "07946095800",
    "+44 20 7946 0958",
    "0044 20 7946 0958",
    "123-45-6789",
    "(555) 123-4567",
    "555-123-4567",
)
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e")
DASHES = ("-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d")
ATS = ("@", "\uff20", "\ufe6b", " @ ", "[at]", " (at) ", "{at}")
SPACES = (" ", "\u00a0", "\u2009", "\u3000", "\u202f")
CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """One identifier, each character possibly written in another Unicode form."""
    base = draw(st.sampled_from(BASES))
    out = []
    for ch in base:
        how = draw(st.integers(0, 3))
        if ch == "-":
            ch = draw(st.sampled_from(DASHES))
        elif ch == "@":
            ch = draw(st.sampled_from(ATS))
        elif ch == " ":
            ch = draw(st.sampled_from(SPACES))
        elif how == 1 and "!" <= ch <= "~":
            ch = chr(ord(ch) + 0xFEE0)  # fullwidth
        elif how == 2 and ch in CYRILLIC:
            ch = CYRILLIC[ch]
        elif how == 3 and ch.isdigit():
            ch = chr(0x1D7CE + int(ch))  # mathematical bold digit
        out.append(ch)
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(ZERO_WIDTH)))
    return "".join(out)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> RawDataset:
    folder = generate(episodes=12, seed=5).write(tmp_path_factory.mktemp("deid"))
    return read_export(Path(folder), _text_only=True)


def _shown(report: object) -> str:
    problems = report.problems  # type: ignore[attr-defined]
    text = "\n".join(problems["message"]) + "\n" + "\n".join(problems["column"])
    text += "\n".join(report.warnings["message"])  # type: ignore[attr-defined]
    dataset = report.dataset  # type: ignore[attr-defined]
    if dataset is not None:
        text += dataset.rejects.to_string()
    return text


def _never_shown(secret: str, text: str) -> None:
    for form in {secret, secret.lower(), fold_str(secret), fold_str(secret).lower()}:
        assert form not in text


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=disguised(), pick=st.data())
def test_disguised_identifiers_in_cells_are_caught_and_never_shown(
    export: RawDataset, secret: str, pick: st.DataObject
) -> None:
    table = pick.draw(st.sampled_from(sorted(export.tables)))
    raw = export.tables[table]
    column = pick.draw(st.sampled_from(list(raw.frame.columns)))
    row = pick.draw(st.integers(0, len(raw.frame) - 1))
    around = pick.draw(st.sampled_from(("{}", "call {} today", "{}.")))
    frame = raw.frame.copy()
    frame[column] = frame[column].astype("str")
    frame.iloc[row, frame.columns.get_loc(column)] = around.format(secret)
    # the table's own rules and screen (the whole-export runs are in the header test and
    # in tests/test_hostile_inputs.py; this keeps each example fast)
    prepared = prepare_table(dataclasses.replace(raw, frame=frame), default_registry())
    problems = prepared.checks.frame()
    found = problems[problems["rule"] == "identifier_value"]
    where = found[["table", "column", "line"]].astype(object).values.tolist()
    assert [table, column, int(raw.lines[row])] in where
    reasons = "\n".join(prepared.checks.reasons())
    _never_shown(secret, "\n".join(problems["message"]) + "\n" + reasons)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=disguised(), pick=st.data())
def test_disguised_identifiers_as_headers_are_refused_and_never_shown(
    export: RawDataset, secret: str, pick: st.DataObject
) -> None:
    table = pick.draw(st.sampled_from(sorted(export.tables)))
    raw = export.tables[table]
    frame = raw.frame.copy()
    frame[secret.strip().lower()] = pd.Series(np.full(len(frame), "1"), dtype="str")
    changed = dataclasses.replace(raw, frame=frame, columns_as_read=(*raw.columns_as_read, secret))
    report = validate_export(RawDataset(export.path, {**export.tables, table: changed}))
    refused = report.problems[report.problems["rule"] == "identifier_column"]
    assert refused["table"].tolist() == [table]
    assert refused["column"].str.endswith("(name not shown)").all()
    _never_shown(secret, _shown(report))
