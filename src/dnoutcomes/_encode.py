"""Integer codes of key columns (private): each id column, with the columns that refer to
it, becomes int32 codes into one dictionary, once, so that duplicate tests, references,
joins and group-bys work on integers rather than hashing text again.

:func:`encode_shared` hashes in Arrow, or, for the usual sorted export of fixed-width ids,
hashes nothing (binary search on ids read as 64-bit integers); :func:`run_categorical`
reads a column whose ids come in runs as a categorical, one id looked at per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from dnoutcomes._frames import _text_chunks, blocks, category_codes

__all__ = ["encode", "encode_shared", "run_categorical", "unique_categories"]


def _run_starts(chunk: pa.Array) -> NDArray[np.int64]:
    n = len(chunk)
    changed = pc.fill_null(pc.not_equal(chunk.slice(1), chunk.slice(0, n - 1)), True)
    return np.flatnonzero(np.asarray(changed.to_numpy(zero_copy_only=False), dtype=bool)) + 1


def _runs(chunk: pa.Array) -> NDArray[np.int64] | None:
    """Where each run of equal values starts in ``chunk`` (each missing value is a run of
    its own); None when the runs are too short to be worth it (judged on the first rows
    before looking at all of them)."""
    n = len(chunk)
    if n < 4 or 2 * len(_run_starts(chunk.slice(0, 1024))) >= min(n, 1024):
        return None
    starts = _run_starts(chunk)
    if 2 * len(starts) >= n:
        return None
    return np.concatenate([np.zeros(1, dtype=np.int64), starts])


def unique_categories(categories: pd.Index) -> pd.CategoricalDtype:
    """A categorical dtype of ``categories`` known to be unique and without missing values,
    built without pandas' uniqueness check: that check builds a hash table of the
    categories, which the dtype then keeps (about 70 bytes per value: 0.4 GiB for six
    million ids); a table is built later only if a look-up by value needs one."""
    from_fastpath = getattr(pd.CategoricalDtype, "_from_fastpath", None)
    if from_fastpath is None:  # pragma: no cover - a pandas without the private builder
        return pd.CategoricalDtype(categories)
    dtype: pd.CategoricalDtype = from_fastpath(categories, False)
    return dtype


def run_categorical(values: pa.Array | pa.ChunkedArray) -> pd.Categorical | None:
    """A text column whose equal values sit in runs (the outcomes of one episode
    together) as a categorical of its distinct values, in order of first appearance
    (missing: code -1); only the first value of each run is hashed. None when the runs
    are too short to be worth it (:func:`_runs`).

    At a million episodes the outcomes' ``episode_id`` is 19M cells of text, 297 MiB as
    Arrow strings, and 94 MiB as int32 codes into its million distinct ids.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    firsts: list[pa.Array] = []
    lengths: list[NDArray[np.int64]] = []
    for chunk in chunks:
        if not len(chunk):
            continue
        starts = _runs(chunk)
        if starts is None:
            return None
        firsts.append(chunk.take(pa.array(starts)))
        lengths.append(np.diff(np.append(starts, len(chunk))))
    if not firsts:
        return None
    heads = pa.chunked_array(firsts, type=firsts[0].type).combine_chunks()
    del firsts
    present = np.asarray(heads.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    dictionary = heads.filter(pa.array(present)) if heads.null_count else heads
    m = len(dictionary)
    if m < 2 or pc.all(pc.greater(dictionary.slice(1), dictionary.slice(0, m - 1))).as_py():
        # a sorted file: each run a new id, in order; nothing to hash (a hash table of
        # six million session ids costs Arrow about 0.75 GiB for a moment)
        run_codes = np.cumsum(present, dtype=np.int32) - 1
        run_codes[~present] = -1
    else:
        encoded = pc.dictionary_encode(heads)
        run_codes = _indices(encoded)
        dictionary = encoded.dictionary
        del encoded
    del heads
    codes = np.repeat(run_codes, np.concatenate(lengths))
    categories = pd.Index(pd.array(dictionary, dtype="str"), copy=False)
    return pd.Categorical.from_codes(codes, dtype=unique_categories(categories), validate=False)


def _indices(encoded: pa.DictionaryArray) -> NDArray[np.int32]:
    """The indices of a dictionary array as int32, -1 where missing."""
    indices = pc.fill_null(encoded.indices, -1) if encoded.null_count else encoded.indices
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32)


def encode_shared(columns: Sequence[pd.Series]) -> tuple[list[NDArray[np.int32]], pa.Array]:
    """Integer codes of several key columns in one code space, and the values they stand for.

    Parameters
    ----------
    columns
        Text columns (pandas ``str`` / ``string``), categoricals, or any columns whose
        values are compared as text; e.g. a table's id and the columns referring to it.

    Returns
    -------
    codes : list of numpy.ndarray
        One int32 array per column, one entry per row: the position of the row's value in
        ``dictionary``; -1 where the value is missing. Equal values get equal codes, in
        every column.
    dictionary : pyarrow.Array
        The distinct values (``large_string``, no missing values), in order of first
        appearance across the columns (a categorical contributes its categories, in their
        order, including those no row holds).

    Notes
    -----
    The columns are hashed together, once, in Arrow
    (:func:`pyarrow.compute.dictionary_encode` over their chunks, without copying the
    text); a categorical hashes only its categories and spreads them by its codes, and
    where equal values sit next to each other (an export sorted by episode) only the first
    of each run is hashed. The usual sorted export hashes nothing: when the first column
    is strictly increasing, has no missing value, and every id has one length of at most
    sixteen bytes (``S0000001``, ``c1_S0000001``), each text is read as a 64-bit integer
    ordered as the text is (two words ranked, :func:`_sortable`), and the other columns'
    values are found by binary search (about 5× faster at a million episodes; the same
    codes and dictionary). The codes then serve for duplicate
    tests (:func:`numpy.bincount`), joins (the same code is the same value) and group-bys,
    with no further hashing.
    """
    fast = _sorted_fixed(columns)
    return fast if fast is not None else _hashed(columns)


def _hashed(columns: Sequence[pd.Series]) -> tuple[list[NDArray[np.int32]], pa.Array]:
    """:func:`encode_shared` by one Arrow hash table over every column."""
    # the pieces hashed: a categorical's categories, a text chunk, or (sorted exports,
    # where equal ids sit together) the first value of each run of a chunk
    pieces: list[pa.Array] = []
    runs: list[NDArray[np.int64] | None] = []  # run lengths of a piece, or None
    owner: list[int] = []  # the column of each piece
    for k, col in enumerate(columns):
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = np.asarray(col.cat.categories.astype("str"), dtype=object)
            pieces.append(pa.array(cats, pa.large_string()))
            runs.append(None)
            owner.append(k)
            continue
        text = col if isinstance(col.dtype, pd.StringDtype) else col.astype("str")
        for chunk in _text_chunks(text):
            starts = _runs(chunk)
            if starts is None:
                pieces.append(chunk)
                runs.append(None)
            else:
                pieces.append(chunk.take(pa.array(starts)))
                runs.append(np.diff(np.append(starts, len(chunk))))
            owner.append(k)
    # one hash table over every piece, no copy of the text; every chunk of the result
    # holds the final dictionary (empty chunks may be left out, so split by length)
    encoded = pc.dictionary_encode(pa.chunked_array(pieces, type=pa.large_string()))
    indices = [_indices(chunk) for chunk in encoded.chunks]
    flat = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int32)
    del indices
    split = np.split(flat, np.cumsum([len(x) for x in pieces])[:-1]) if pieces else []
    per_column: list[list[NDArray[np.int32]]] = [[] for _ in columns]
    for part, lengths, k in zip(split, runs, owner, strict=True):
        per_column[k].append(part if lengths is None else np.repeat(part, lengths))
    codes = []
    for col, parts in zip(columns, per_column, strict=True):
        joined = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
        if isinstance(col.dtype, pd.CategoricalDtype):
            joined = np.append(joined, np.int32(-1))[category_codes(col)]
        codes.append(joined)
    last = encoded.chunks[-1].dictionary if encoded.num_chunks else pa.array([], pa.string())
    return codes, last.cast(pa.large_string())


#: the longest ids (in bytes) that :func:`_sorted_fixed` packs into one 64-bit integer
_PACKED_BYTES = 8
#: the longest ids (in bytes) that :func:`_sorted_fixed` reads as two 64-bit words
_TWO_WORD_BYTES = 16

Words = tuple[NDArray[np.uint64], NDArray[np.uint64] | None, int]


def _word(rows: NDArray[np.uint8]) -> NDArray[np.uint64]:
    """Each row of bytes as one unsigned integer (big-endian: ordered as the bytes are)."""
    out = np.zeros(len(rows), dtype=np.uint64)
    for j in range(rows.shape[1]):
        out <<= np.uint64(8)
        out |= rows[:, j]
    return out


def _packed(chunk: pa.Array, width: int | None) -> Words | None:
    """The non-missing values of a ``large_string`` chunk as unsigned integers whose order
    is the texts' byte order, and their common length in bytes: None unless every value
    has the same length (``width`` when given), at most :data:`_TWO_WORD_BYTES`, and every
    missing value is empty (as Arrow writes it). Equal texts give equal integers.

    Returns ``(high, low, size)``: ``high`` the first eight bytes of each value, ``low``
    the rest (None for values of at most eight bytes); the pairs order as the texts do."""
    n = len(chunk)
    offsets = np.frombuffer(
        chunk.buffers()[1], dtype=np.int64, count=n + 1, offset=chunk.offset * 8
    )
    if n == 0:
        return np.zeros(0, dtype=np.uint64), None, width or 0
    if chunk.null_count:
        lengths = np.diff(offsets)
        valid = np.asarray(chunk.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        if lengths[~valid].any():
            return None
        lengths = lengths[valid]
        if len(lengths) == 0:
            return np.zeros(0, dtype=np.uint64), None, width or 0
        size = int(lengths[0]) if width is None else width
        if not 0 < size <= _TWO_WORD_BYTES or not bool((lengths == size).all()):
            return None
    else:
        size = int(offsets[1] - offsets[0]) if width is None else width
        if not 0 < size <= _TWO_WORD_BYTES or not _one_length(offsets, size):
            return None
    data = chunk.buffers()[2]
    body = np.frombuffer(
        data, dtype=np.uint8, count=int(offsets[-1] - offsets[0]), offset=int(offsets[0])
    )
    if size == _PACKED_BYTES:  # big-endian: the integers order as the bytes do
        return body.view(">u8").astype(np.uint64), None, size
    rows = body.reshape(-1, size)
    if size < _PACKED_BYTES:
        return _word(rows), None, size
    high = np.ascontiguousarray(rows[:, :_PACKED_BYTES]).view(">u8").ravel().astype(np.uint64)
    return high, _word(rows[:, _PACKED_BYTES:]), size


def _one_length(offsets: NDArray[np.int64], size: int) -> bool:
    """Whether every value whose ``offsets`` these are is ``size`` bytes long, checked a
    block at a time (no full-length array of lengths: at 19 million rows, 155 MB of fresh
    pages)."""
    if int(offsets[-1] - offsets[0]) != size * (len(offsets) - 1):
        return False
    step = 1 << 20
    for start in range(0, len(offsets) - 1, step):
        block = offsets[start : start + step + 1]
        if not bool((np.diff(block) == size).all()):
            return False
    return True


def _look_up(keys: NDArray[np.uint64], values: NDArray[np.uint64]) -> NDArray[np.int32]:
    """The position of each of ``values`` in the strictly increasing ``keys``, -2 where
    absent; a run of equal values (a sorted export) is searched once."""
    n = len(values)
    if n > 1:
        starts = np.flatnonzero(values[1:] != values[:-1]) + 1
        if 2 * len(starts) < n:  # runs: search the first value of each
            starts = np.concatenate([np.zeros(1, dtype=starts.dtype), starts])
            first = _look_up(keys, values[starts])
            return np.repeat(first, np.diff(np.append(starts, n)))
    found = np.searchsorted(keys, values)
    found[found == len(keys)] = len(keys) - 1
    return np.where(keys[found] == values, found, -2).astype(np.int32)


def _sortable(
    high: NDArray[np.uint64], low: NDArray[np.uint64] | None, width: int
) -> (
    tuple[
        NDArray[np.uint64],
        Callable[[NDArray[np.uint64], NDArray[np.uint64] | None], NDArray[np.uint64]],
    ]
    | None
):
    """A key column's values (as :func:`_packed` words) as one strictly increasing 64-bit
    integer each, and the function that turns other values' words into the same integers
    (a value the key lacks gets an integer no key has); None unless the key is strictly
    increasing and its integers fit.

    Values of at most eight bytes are their own integer. Longer ones (two words) become
    ``rank(high) << bits | low``, ``rank`` counting the distinct first words (few: ids
    share their leading bytes) and ``bits`` the length of ``low``: the pairs' order is
    kept, as long as the rank and ``low`` fit in 64 bits together.
    """
    if low is None:
        if not bool((high[1:] > high[:-1]).all()):
            return None
        return high, lambda values, _: values
    bits = 8 * (width - _PACKED_BYTES)
    changed = high[1:] != high[:-1]
    if not bool(((high[1:] > high[:-1]) | (~changed & (low[1:] > low[:-1]))).all()):
        return None
    starts = np.flatnonzero(changed) + 1
    firsts = np.concatenate([high[:1], high[starts]])  # the distinct first words, increasing
    if len(firsts).bit_length() + bits > 64:
        return None
    rank = np.zeros(len(high), dtype=np.uint64)
    rank[starts] = 1
    np.cumsum(rank, out=rank)
    shift = np.uint64(bits)

    def key_of(values: NDArray[np.uint64], rest: NDArray[np.uint64] | None) -> NDArray[np.uint64]:
        if rest is None:  # no value in this chunk (every cell missing)
            return values
        at = np.searchsorted(firsts, values)
        at[at == len(firsts)] = 0
        at[firsts[at] != values] = len(firsts)  # no key has this rank
        out = at.astype(np.uint64)
        out <<= shift
        out |= rest
        return out

    rank <<= shift
    rank |= low
    return rank, key_of


def _sorted_fixed(columns: Sequence[pd.Series]) -> tuple[list[NDArray[np.int32]], pa.Array] | None:
    """:func:`encode_shared` without hashing, for the usual sorted export: the first column
    is text with no missing value, every value of every column has one length of at most
    sixteen bytes (ids such as ``S0000001`` or ``c1_S0000001``), and the first column is
    strictly increasing (so it is unique, and row ``i`` holds code ``i``). Each value of
    the other columns is then found by binary search on 64-bit integers that order as the
    texts do (:func:`_sortable`); values the first column lacks are hashed (Arrow), in
    order of first appearance, after its codes. The result is the one the hashing path
    gives. None when the columns do not qualify.

    A categorical column among the others (text categories, :func:`run_categorical`) has
    its categories looked up, in their order, and the codes spread to its rows, as the
    hashing path hashes a categorical's categories."""
    if not columns or not isinstance(columns[0].dtype, pd.StringDtype):
        return None
    if not all(isinstance(_text_of(c).dtype, pd.StringDtype) for c in columns[1:]):
        return None
    first = _text_chunks(columns[0])
    if any(chunk.null_count for chunk in first) or sum(map(len, first)) < 2:
        return None
    highs, lows = [], []
    width: int | None = None
    for chunk in first:
        packed = _packed(chunk, width)
        if packed is None:
            return None
        highs.append(packed[0])
        if packed[1] is not None:
            lows.append(packed[1])
        width = packed[2]
    high = np.concatenate(highs) if len(highs) > 1 else highs[0]
    low = (np.concatenate(lows) if len(lows) > 1 else lows[0]) if lows else None
    del highs, lows
    sortable = _sortable(high, low, width or 0)
    if sortable is None:
        return None
    keys, key_of = sortable
    del high, low
    n = len(keys)
    codes: list[NDArray[np.int32]] = [np.arange(n, dtype=np.int32)]
    strays: list[pa.Array] = []  # the values the first column lacks, in order
    stray_rows: list[tuple[int, NDArray[np.int64]]] = []
    for k, col in enumerate(columns[1:], start=1):
        text = _text_of(col)  # a categorical's categories
        out = np.empty(len(text), dtype=np.int32)
        start = 0
        for chunk in _text_chunks(text):
            # packed and looked up a block at a time: a whole chunk's 64-bit integers and
            # their look-up temporaries were 0.4 GiB for 19M outcome rows read as text (a
            # CSV export of a million episodes); the codes are the same
            for b in blocks(len(chunk)):
                piece = chunk.slice(b.start, b.stop - b.start)
                packed = _packed(piece, width)
                if packed is None:
                    return None
                found = _look_up(keys, key_of(packed[0], packed[1]))
                del packed
                part = out[start + b.start : start + b.stop]
                if piece.null_count:
                    valid = np.asarray(piece.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
                    part[~valid] = -1
                    part[valid] = found
                else:
                    part[:] = found
                if (found == -2).any():
                    at = np.flatnonzero(part == -2)
                    strays.append(piece.take(pa.array(at)))
                    stray_rows.append((k, at + start + b.start))
            start += len(chunk)
        codes.append(out)
    # one chunk (a Parquet column) is the dictionary as it is: combining copies it (92 MB
    # for the six million session ids of a million episodes, held through the checks)
    dictionary = (
        first[0]
        if len(first) == 1
        else pa.chunked_array(first, type=pa.large_string()).combine_chunks()
    )
    if strays:
        encoded = pc.dictionary_encode(pa.chunked_array(strays, type=pa.large_string()))
        more = np.concatenate([_indices(c) for c in encoded.chunks]) + n
        done = 0
        for (k, rows), piece in zip(stray_rows, strays, strict=True):
            codes[k][rows] = more[done : done + len(piece)]
            done += len(piece)
        last = encoded.chunks[-1].dictionary.cast(pa.large_string())
        dictionary = pa.concat_arrays([dictionary, last])
    for k, col in enumerate(columns):
        if isinstance(col.dtype, pd.CategoricalDtype):  # the categories' codes, to the rows
            codes[k] = np.append(codes[k], np.int32(-1))[category_codes(col)]
    return codes, dictionary


def _text_of(column: pd.Series) -> pd.Series:
    """A column's text: itself, or a categorical's categories."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Series(column.cat.categories, copy=False)
    return column


def encode(values: pd.Series) -> tuple[NDArray[np.int32], pa.Array]:
    """Integer codes of one key column; see :func:`encode_shared`.

    Parameters
    ----------
    values
        A text column, a categorical, or any column whose values are compared as text.

    Returns
    -------
    codes : numpy.ndarray
        int32, one per row: the position of the row's value in ``dictionary``; -1 where
        the value is missing.
    dictionary : pyarrow.Array
        The distinct values (``large_string``).
    """
    codes, dictionary = encode_shared([values])
    return codes[0], dictionary
