"""Property tests of the loader: random corruption of a valid export only ever loads or
raises DatasetError (never another exception), and row accounting always balances."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_data import small_export, write_export

import dnoutcomes
from dnoutcomes import DatasetError

TABLES = small_export()
NASTY = [
    "",
    " ",
    "abc",
    "-1",
    "0",
    "1e309",
    "nan",
    "NaN",
    "inf",
    "90",
    "93",
    "90+",
    "2.5",
    "2025-13-45",
    "2025-02-30",
    "31/01/2025",
    "x@y.org",
    "555-123-4567",
    "123-45-6789",
    "+44 20 7946 0958",
    "true",
    "maybe",
    ";",
    ";;",
    '"',
    "'",
    "E1",
    "P1",
    "S1",
    "S99",
    "baseline",
    "discharge",
    "nprs",
    "odi",
    "dn_only",
    "heat;laser",
    "ünïcödé",
    "\t",
    "1,5",
]

cell = st.tuples(
    st.sampled_from(sorted(TABLES)),
    st.integers(0, 20),
    st.integers(0, 20),
    st.one_of(st.sampled_from(NASTY), st.text(max_size=6)),
).map(lambda t: ("cell", *t))
structural = st.tuples(
    st.sampled_from(["drop_column", "duplicate_row", "delete_row", "extra_column"]),
    st.sampled_from(sorted(TABLES)),
    st.integers(0, 20),
    st.sampled_from(["note", "Email", "phone", "zzz", "value"]),
)
operations = st.lists(st.one_of(cell, structural), min_size=1, max_size=4)


def _apply(ops: list[tuple[object, ...]]) -> dict[str, pd.DataFrame]:
    tables = {k: v.copy() for k, v in TABLES.items()}
    for op in ops:
        kind, table = op[0], str(op[1])
        frame = tables[table]
        if kind == "cell":
            _, _, row, col, value = op
            if len(frame) and frame.shape[1]:
                frame.iloc[int(row) % len(frame), int(col) % frame.shape[1]] = str(value)
        elif kind == "drop_column" and frame.shape[1] > 1:
            tables[table] = frame.drop(columns=frame.columns[int(op[2]) % frame.shape[1]])
        elif kind == "duplicate_row" and len(frame):
            tables[table] = pd.concat([frame, frame.iloc[[int(op[2]) % len(frame)]]])
        elif kind == "delete_row" and len(frame):
            tables[table] = frame.drop(index=frame.index[int(op[2]) % len(frame)])
        elif kind == "extra_column":
            frame[str(op[3])] = "x"
    return {k: v.reset_index(drop=True) for k, v in tables.items()}


SUSPECT = ["x@y.org", "555-123-4567", "123-45-6789", "+44 20 7946 0958"]


def _no_suspect_shown(*frames: pd.DataFrame) -> None:
    for frame in frames:
        text = [str(t) for t in frame.to_numpy(dtype=object).ravel()]
        for value in SUSPECT:
            assert not any(value in t for t in text), value


def _check(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        try:
            ds = dnoutcomes.load(path)
        except DatasetError as exc:
            assert len(exc.problems) >= 1
            _no_suspect_shown(exc.problems)
            assert not any(v in str(exc) for v in SUSPECT)
            assert list(exc.problems.columns) == [
                "table",
                "file",
                "line",
                "column",
                "rule",
                "message",
            ]
        else:
            assert ds.problems.empty
            assert (ds.accounting["rejected"] == 0).all()
        try:
            ds = dnoutcomes.load(path, mode="quarantine")
        except dnoutcomes.UnreadableInputError:
            return
        acc = ds.accounting.set_index("table")
        assert (acc["loaded"] + acc["rejected"] == acc["read"]).all()
        for name in acc.index:
            frame = getattr(ds, name)
            assert frame is not None and len(frame) == acc.loc[name, "loaded"]
        assert len(ds.rejects) == acc["rejected"].sum()
        _no_suspect_shown(ds.problems, ds.rejects, ds.warnings)
        # what loaded is consistent: every reference resolves among loaded rows
        assert ds.episodes["patient_id"].isin(ds.patients["patient_id"]).all()
        assert ds.sessions["episode_id"].isin(ds.episodes["episode_id"]).all()
        assert ds.outcomes["episode_id"].isin(ds.episodes["episode_id"]).all()
        given_session = ds.outcomes["session_id"].dropna()
        assert given_session.isin(ds.sessions["session_id"]).all()
        assert ds.patients["patient_id"].is_unique and ds.sessions["session_id"].is_unique


@pytest.mark.slow  # 5-10 s on a busy machine (dozens of exports written and loaded)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, fmt=st.sampled_from(["csv", "semicolon_bom"]))
def test_random_cell_and_column_corruption(ops: list[tuple[object, ...]], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_export(_apply(ops), Path(tmp), fmt)  # type: ignore[arg-type]
        _check(path)


@pytest.mark.slow  # 5-10 s on a busy machine (dozens of exports written and loaded)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=st.sampled_from(sorted(TABLES)),
    start=st.integers(0, 400),
    junk=st.binary(min_size=0, max_size=12),
    cut=st.booleans(),
)
def test_random_byte_corruption(table: str, start: int, junk: bytes, cut: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_export(small_export(), Path(tmp), "csv")
        file = path / f"{table}.csv"
        data = file.read_bytes()
        start = start % (len(data) + 1)
        data = data[:start] if cut else data[:start] + junk + data[start + len(junk) :]
        file.write_bytes(data)
        _check(path)
