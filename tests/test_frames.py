"""Tests of dnoutcomes._frames: the Arrow ``isin`` gives pandas' answers, only faster."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnoutcomes._encode import encode, encode_shared
from dnoutcomes._frames import blocks, isin

TEXT = st.lists(st.one_of(st.none(), st.text(alphabet="abcé_1", max_size=3)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(keys=TEXT, values=st.lists(st.text(alphabet="abcé_1", max_size=3), max_size=10))
def test_matches_pandas_on_text(keys: list[str | None], values: list[str]) -> None:
    column = pd.Series(keys, dtype="str")
    expected = column.isin(values).to_numpy(dtype=bool) & column.notna().to_numpy()
    for look_up in (values, pd.Series(values, dtype="str"), pd.Index(values, dtype="str")):
        got = isin(column, look_up)
        assert got.dtype == np.bool_ and got.shape == (len(keys),)
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("keys", "values", "expected"),
    [
        (pd.Series([1, 2, 3]), [2, 5], [False, True, False]),
        (pd.Series(["a", "b"], dtype="category"), ["b"], [False, True]),
        (pd.Series(["a", None], dtype="string"), pd.Series(["a"], dtype="str"), [True, False]),
        (pd.Series(["a", "b"], dtype="str"), [], [False, False]),
        (pd.Series(["a", "b"], dtype="str"), pd.Series([], dtype="str"), [False, False]),
        (pd.Series(["a", "b"], dtype="str"), pd.Series(["b"], dtype=object), [False, True]),
    ],
)
def test_other_dtypes_and_empty_sets(keys: pd.Series, values: object, expected: list[bool]) -> None:
    np.testing.assert_array_equal(isin(keys, values), np.array(expected))  # type: ignore[arg-type]


def test_large_look_up_set_is_hashed_not_iterated() -> None:
    # pandas 3 turns each look-up value into a Python scalar (about 1 s per 100k ids on
    # this machine); the Arrow path must stay well below that for 200k ids.
    ids = pd.Series([f"E{i:07d}" for i in range(200_000)], dtype="str")
    keys = ids.iloc[::2].reset_index(drop=True)
    began = time.perf_counter()
    got = isin(keys, ids.iloc[::4])
    elapsed = time.perf_counter() - began
    np.testing.assert_array_equal(got, np.arange(len(keys)) % 2 == 0)
    assert elapsed < 0.5


# --- encode / encode_shared / blocks ------------------------------------------------------

KEYS = st.lists(st.one_of(st.none(), st.text(alphabet="ab_1é", max_size=3)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(columns=st.lists(KEYS, min_size=1, max_size=4), as_category=st.lists(st.booleans()))
def test_shared_codes_match_values(
    columns: list[list[str | None]], as_category: list[bool]
) -> None:
    series = [
        pd.Series(values, dtype="category" if k < len(as_category) and as_category[k] else "str")
        for k, values in enumerate(columns)
    ]
    codes, dictionary = encode_shared(series)
    words = dictionary.to_pylist()
    assert len(set(words)) == len(words) and None not in words
    for values, got in zip(columns, codes, strict=True):
        assert got.dtype == np.int32 and len(got) == len(values)
        # a code is the value's position in the dictionary; -1 exactly where missing
        assert [None if c < 0 else words[c] for c in got] == values
    # every non-missing value of every column is in the dictionary, and nothing else
    # (a categorical may add categories no row holds, never here)
    assert set(words) == {v for values in columns for v in values if v is not None}


def test_encode_orders_by_first_appearance_and_takes_a_categorical_as_is() -> None:
    codes, dictionary = encode(pd.Series(["b", None, "a", "b"], dtype="str"))
    assert codes.tolist() == [0, -1, 1, 0] and dictionary.to_pylist() == ["b", "a"]
    cat = pd.Series(pd.Categorical(["x", None, "x"], categories=["y", "x"]))
    codes, dictionary = encode(cat)
    assert codes.tolist() == [1, -1, 1] and dictionary.to_pylist() == ["y", "x"]
    codes, dictionary = encode(pd.Series([3, 1, 3]))  # other dtypes compare as text
    assert codes.tolist() == [0, 1, 0] and dictionary.to_pylist() == ["3", "1"]
    (a, b), dictionary = encode_shared([pd.Series([], dtype="str"), pd.Series(["z"])])
    assert a.tolist() == [] and b.tolist() == [0] and dictionary.to_pylist() == ["z"]


def test_encode_spans_the_chunks_of_a_parquet_column() -> None:
    import pyarrow as pa

    chunked = pa.chunked_array([["E1", "E2"], ["E2", None, "E3"], []], type=pa.large_string())
    column = pa.table({"k": chunked}).to_pandas()["k"]
    codes, dictionary = encode(column)
    assert codes.tolist() == [0, 1, 1, -1, 2]
    assert dictionary.to_pylist() == ["E1", "E2", "E3"]


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
def test_blocks_cover_every_row_once(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import dnoutcomes._frames

    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", 3)
    covered = np.concatenate([np.arange(n)[b] for b in blocks(n)] + [np.zeros(0, int)])
    np.testing.assert_array_equal(covered, np.arange(n))
    assert all(b.stop - b.start <= 3 for b in blocks(n))


def test_runs_of_equal_ids_give_the_codes_of_hashing_every_row() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(3)
    values = np.repeat(rng.choice(["E1", "E2", "E10", None], 300), rng.integers(1, 9, 300))
    # sorted exports repeat each id on consecutive rows: only the first of a run is hashed
    column = pd.Series(values.tolist(), dtype="str")
    empty = pa.table({"k": pa.chunked_array([], type=pa.large_string())}).to_pandas()["k"]
    (codes, none, again), dictionary = encode_shared([column, empty, column.iloc[::-1]])
    plain = pc.dictionary_encode(pa.array(values.tolist(), pa.large_string()))
    expected = np.asarray(plain.indices.fill_null(-1).to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(codes, expected)
    np.testing.assert_array_equal(again, expected[::-1])
    assert len(none) == 0 and dictionary.to_pylist() == plain.dictionary.to_pylist()


FIXED = st.text(alphabet="ab0Zé", min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    parent=st.lists(FIXED, min_size=1, max_size=40, unique=True),
    children=st.lists(st.lists(st.one_of(st.none(), FIXED), max_size=60), min_size=1, max_size=3),
    sort=st.booleans(),
)
def test_sorted_fixed_width_ids_give_the_codes_of_hashing(
    parent: list[str], children: list[list[str | None]], sort: bool
) -> None:
    """The binary-search path (sorted parent, one byte length) agrees with hashing: the
    same codes and dictionary, orphans after the parent's values; it is taken only when
    the columns qualify, and otherwise the hash path answers."""
    from dnoutcomes._encode import _hashed, _sorted_fixed

    keys = sorted(parent, key=lambda v: v.encode()) if sort else parent
    columns = [pd.Series(keys, dtype="str")] + [pd.Series(c, dtype="str") for c in children]
    lengths = {len(v.encode()) for c in [keys, *children] for v in c if v is not None}
    byte_sorted = all(a.encode() < b.encode() for a, b in zip(keys, keys[1:], strict=False))
    qualifies = len(keys) >= 2 and len(lengths) == 1 and byte_sorted
    assert (_sorted_fixed(columns) is not None) == qualifies
    got, got_values = encode_shared(columns)
    want, want_values = _hashed(columns)
    assert got_values.equals(want_values)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int32
        np.testing.assert_array_equal(g, w)


def test_sorted_fixed_width_ids_over_chunks_with_orphans() -> None:
    import pyarrow as pa

    from dnoutcomes._encode import _hashed, _sorted_fixed

    parent = pd.Series([f"S{i:07d}" for i in range(1000)], dtype="str")
    chunks = pa.chunked_array(
        [
            pa.array([f"S{i:07d}" for i in range(0, 2000, 3)] + [None], pa.large_string()),
            pa.array(["S0000005", None, "S9999999", "S0001999"], pa.large_string()),
        ]
    )
    child = pd.Series(pd.arrays.ArrowStringArray(chunks))
    assert _sorted_fixed([parent, child]) is not None
    (p, c), values = encode_shared([parent, child])
    np.testing.assert_array_equal(p, np.arange(1000))
    assert c[1] == 3 and c[-4] == 5 and c[-3] == -1
    assert values[int(c[-2])].as_py() == "S9999999" and values[int(c[-1])].as_py() == "S0001999"
    want, want_values = _hashed([parent, child])
    np.testing.assert_array_equal(c, want[1])
    assert values.equals(want_values)


def test_sorted_fixed_width_runs_are_searched_once_with_the_same_codes() -> None:
    from dnoutcomes._encode import _hashed, _sorted_fixed

    parent = pd.Series([f"E{i:03d}" for i in range(0, 300, 2)], dtype="str")
    ids = [f"E{i:03d}" for i in range(300) for _ in range(i % 4 + 1)]  # runs, orphans (odd)
    child = pd.Series(ids + [None, None] + ids[:7], dtype="str")
    assert _sorted_fixed([parent, child]) is not None
    got, values = encode_shared([parent, child])
    want, want_values = _hashed([parent, child])
    np.testing.assert_array_equal(got[1], want[1])
    assert values.equals(want_values)


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 17), prefix=st.sampled_from(["", "c1_", "CLINIC-"]), data=st.data())
def test_sorted_fixed_long_ids_give_the_codes_of_hashing(
    width: int, prefix: str, data: st.DataObject
) -> None:
    """Ids of 9 to 16 bytes (two words: a rank of the first eight bytes, then the rest)
    give the hashing path's codes and dictionary; the path is taken exactly when the key is
    strictly increasing and the rank and the rest fit in 64 bits."""
    from dnoutcomes._encode import _hashed, _sorted_fixed

    size = max(width - len(prefix), 1)
    ids = st.text(alphabet="ab0Z", min_size=size, max_size=size).map(lambda v: prefix + v)
    parent = sorted(data.draw(st.lists(ids, min_size=1, max_size=40, unique=True)))
    if data.draw(st.booleans()):  # sometimes not in order
        parent = parent[::-1]
    children = data.draw(st.lists(st.lists(st.one_of(st.none(), ids), max_size=60), max_size=3))
    columns = [pd.Series(parent, dtype="str")] + [pd.Series(c, dtype="str") for c in children]
    n_bytes = len(parent[0].encode())
    increasing = all(a < b for a, b in zip(parent, parent[1:], strict=False))
    firsts = {v.encode()[:8] for v in parent}
    fits = n_bytes <= 8 or len(firsts).bit_length() + 8 * (n_bytes - 8) <= 64
    qualifies = len(parent) >= 2 and increasing and n_bytes <= 16 and fits
    assert (_sorted_fixed(columns) is not None) == qualifies
    got, got_values = encode_shared(columns)
    want, want_values = _hashed(columns)
    assert got_values.equals(want_values)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_sorted_fixed_two_word_ids_over_chunks_with_orphans_and_runs() -> None:
    """Chunk-prefixed ids (``c1_S0000001``, 11 bytes: the 5M benchmark's) take the
    binary-search path; orphans (an unknown prefix, an unknown number) are hashed after."""
    import pyarrow as pa

    from dnoutcomes._encode import _hashed, _sorted_fixed

    parent = pd.Series([f"c{k}_S{i:07d}" for k in range(3) for i in range(400)], dtype="str")
    ids = [f"c{k}_S{i:07d}" for k in range(4) for i in range(0, 500, 7) for _ in range(i % 3 + 1)]
    chunks = pa.chunked_array(
        [
            pa.array(ids[:300] + [None], pa.large_string()),
            pa.array([None, None], pa.large_string()),
            pa.array(ids[300:], pa.large_string()),
        ]
    )
    child = pd.Series(pd.arrays.ArrowStringArray(chunks))
    assert _sorted_fixed([parent, child]) is not None
    got, values = encode_shared([parent, child])
    want, want_values = _hashed([parent, child])
    np.testing.assert_array_equal(got[0], np.arange(len(parent)))
    np.testing.assert_array_equal(got[1], want[1])
    assert values.equals(want_values)
    assert (got[1] >= len(parent)).any()  # orphans were found and numbered after


def test_run_categorical_holds_the_text_it_was_made_from() -> None:
    """Runs of ids (an outcome file sorted by episode), over chunks and with missing
    cells, become a categorical equal to the text, categories in order of first
    appearance; short runs are left as text (None)."""
    import pyarrow as pa

    from dnoutcomes._encode import run_categorical

    ids = [f"E{i:03d}" for i in (5, 2, 9, 2) for _ in range(4)]
    text = ids[:6] + [None, None] + ids[6:] + [None]
    chunked = pa.chunked_array([pa.array(text[:5]), pa.array([], pa.string()), pa.array(text[5:])])
    cat = run_categorical(chunked)
    assert cat is not None
    assert list(cat.categories) == ["E005", "E002", "E009"]  # E002 again: the same code
    got = pd.Series(cat).astype("str")
    pd.testing.assert_series_equal(got, pd.Series(text, dtype="str"))
    assert cat.codes.dtype.itemsize <= 4  # pandas narrows them to the categories
    assert run_categorical(pa.array([f"S{i}" for i in range(2000)])) is None  # no runs
    # a sorted file: each run a new id (nothing hashed), missing cells between runs
    ordered = [None, *(f"S{i:03d}" for i in range(7) for _ in range(3)), None, "S010", "S010"]
    cat = run_categorical(pa.chunked_array([pa.array(ordered[:8]), pa.array(ordered[8:])]))
    assert cat is not None
    assert list(cat.categories) == [f"S{i:03d}" for i in range(7)] + ["S010"]
    pd.testing.assert_series_equal(pd.Series(cat).astype("str"), pd.Series(ordered, dtype="str"))
    assert run_categorical(pa.chunked_array([], pa.string())) is None


@settings(max_examples=100, deadline=None)
@given(
    parent=st.lists(FIXED, min_size=2, max_size=30, unique=True),
    child=st.lists(st.one_of(st.none(), FIXED), max_size=80),
)
def test_sorted_fixed_with_a_categorical_child_gives_the_codes_of_hashing(
    parent: list[str], child: list[str | None]
) -> None:
    """A reference column read as a categorical (its runs' ids, :func:`run_categorical`)
    is looked up by its categories and gets the hashing path's codes."""
    from dnoutcomes._encode import _hashed

    keys = sorted(parent, key=lambda v: v.encode())
    runs = [v for v in child for _ in range(3)]  # runs of three: a categorical
    text = pd.Series(runs, dtype="str")
    cat = text.astype("category")
    cat = cat.cat.set_categories(cat.cat.categories.astype("str"))
    for columns in ([pd.Series(keys, dtype="str"), cat], [pd.Series(keys, dtype="str"), text]):
        got, got_values = encode_shared(columns)
        want, want_values = _hashed(columns)
        assert got_values.equals(want_values)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    # and the categorical's codes name the same values as the text's
    (_, c_cat), v_cat = encode_shared([pd.Series(keys, dtype="str"), cat])
    (_, c_txt), v_txt = encode_shared([pd.Series(keys, dtype="str"), text])
    named = [None if c < 0 else v_cat[int(c)].as_py() for c in c_cat]
    assert named == [None if c < 0 else v_txt[int(c)].as_py() for c in c_txt] == runs


@pytest.mark.parametrize("prefix", ["", "clinic_"])  # one 64-bit word, two words
@pytest.mark.parametrize("block", [1, 2, 3, 7, 10_000])
def test_sorted_fixed_width_block_by_block_gives_the_codes_of_hashing(
    block: int, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packed and looked up a block at a time, the codes and dictionary are those of one
    hash over every row: runs of an id across a block boundary, missing values, orphans
    repeated in several blocks and chunks (numbered in order of first appearance), an
    empty column; one block (10 000 rows) as well as many."""
    import pyarrow as pa

    import dnoutcomes._frames
    from dnoutcomes._encode import _hashed, _sorted_fixed

    monkeypatch.setattr(dnoutcomes._frames, "BLOCK_ROWS", block)
    parent = pd.Series([f"{prefix}E{i:03d}" for i in range(0, 60, 2)], dtype="str")
    ids: list[str | None] = [f"{prefix}E{i:03d}" for i in range(60) for _ in range(i % 3 + 1)]
    ids[5:5] = [None, f"{prefix}E999", None]
    chunks = pa.chunked_array(
        [
            pa.array(ids[:50], pa.large_string()),
            pa.array([], pa.large_string()),
            pa.array(ids[50:] + [f"{prefix}E999", f"{prefix}E001", None], pa.large_string()),
        ]
    )
    child = pd.Series(pd.arrays.ArrowStringArray(chunks))
    empty = pd.Series([], dtype="str")
    columns = [parent, child, empty, pd.Series(ids[::-1], dtype="str")]
    assert _sorted_fixed(columns) is not None
    got, values = encode_shared(columns)
    want, want_values = _hashed(columns)
    assert values.equals(want_values)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.int32
        np.testing.assert_array_equal(g, w)
