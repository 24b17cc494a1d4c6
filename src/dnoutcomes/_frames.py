"""Fast frame helpers shared by the analyses and the report (private).

pandas 3 stores text as Arrow strings; its ``Series.isin`` on such a column turns every
value of the *look-up set* into a Python object first (one ``pyarrow.scalar`` each), which
costs about a second per 100,000 ids: at network scale (a million episodes) the analyses
spent most of their time there. :func:`isin` hashes both sides in Arrow instead; key
columns become integer codes once in :mod:`dnoutcomes._encode`. Also here: work a block of
rows at a time (:func:`blocks`), hand freed memory back (:func:`release_unused_memory`),
and read a categorical's codes without a copy (:func:`category_codes`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = [
    "BLOCK_ROWS",
    "arrow_text",
    "blocks",
    "category_codes",
    "isin",
    "release_unused_memory",
]

#: rows per block in :func:`blocks`: temporaries of a few megabytes, which the allocator
#: reuses from one block to the next instead of mapping fresh pages for each array
BLOCK_ROWS = 1 << 20


def release_unused_memory() -> None:
    """Give the memory freed so far back to the operating system.

    Notes
    -----
    Freed memory is kept by the allocators for reuse: Arrow's memory pool (mimalloc or
    jemalloc) keeps freed pages, and the C library's ``malloc`` (behind NumPy's arrays
    smaller than its mapping threshold, up to 32 MiB) keeps freed blocks in its heap.
    Neither can reuse what the other keeps, so a load that frees Arrow text and then
    allocates NumPy arrays grows by both. At a million episodes this kept memory was a
    third of the loaded process's resident set. ``release_unused`` asks the Arrow pool to
    return its free pages, and the system pool's does the same for ``malloc``
    (``malloc_trim`` where the C library has it); both are no-ops elsewhere. A few
    milliseconds per call: call it between phases, not in loops.
    """
    pool = pa.default_memory_pool()
    pool.release_unused()
    system = pa.system_memory_pool()
    if system.backend_name != pool.backend_name:
        system.release_unused()


def category_codes(column: pd.Series) -> NDArray[np.signedinteger]:
    """The codes of a categorical column (-1 where missing), read-only, without a copy.

    In pandas 3, ``Series.cat.codes`` builds a new Series, and a Series made from a NumPy
    array copies it (Copy-on-Write): at a million episodes a load asked for the codes of
    the outcomes' 19M-row columns 22 times, 0.5 s and 1.6 GiB of fresh pages in copies.

    Parameters
    ----------
    column
        A Series of categorical dtype.

    Returns
    -------
    numpy.ndarray
        The categorical's own codes (a read-only view: copy before writing to it).
    """
    categorical: pd.Categorical = column.array
    return categorical.codes


def blocks(n: int) -> Iterator[slice]:
    """Consecutive slices of at most :data:`BLOCK_ROWS` rows covering ``range(n)``.

    Parameters
    ----------
    n
        The number of rows.

    Returns
    -------
    iterator of slice
        ``slice(0, BLOCK_ROWS)``, ``slice(BLOCK_ROWS, 2 * BLOCK_ROWS)``, … up to ``n``.

    Notes
    -----
    Element-wise work on tens of millions of rows creates one full-length temporary per
    NumPy operation; each is fresh memory the kernel must map (page faults, often costing
    more than the arithmetic). Doing the same work block by block keeps the temporaries
    small and reused; the loop runs once per million rows, not once per row.
    """
    return (slice(a, min(a + BLOCK_ROWS, n)) for a in range(0, n, BLOCK_ROWS))


def arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    """A text column or index as one Arrow ``string`` array (zero-copy for pandas ``str``).

    Parameters
    ----------
    values
        Text (pandas ``str`` / ``string``); missing values become nulls.

    Returns
    -------
    pyarrow.Array
        One ``string`` array (chunks combined, ``large_string`` cast down).
    """
    arr = pa.array(values.array)  # zero-copy for Arrow-backed text
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.string() else arr.cast(pa.string())


def _text_chunks(values: pd.Series) -> list[pa.Array]:
    """A text column as ``large_string`` Arrow chunks, without copying the text."""
    arr = pa.array(values.array)
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    return [c if c.type == pa.large_string() else c.cast(pa.large_string()) for c in chunks]


def _is_text(values: pd.Series | pd.Index) -> bool:
    return isinstance(values.dtype, pd.StringDtype)


def isin(keys: pd.Series, values: pd.Series | pd.Index | Sequence[str]) -> NDArray[np.bool_]:
    """Whether each key is one of ``values``, as a NumPy boolean array.

    Parameters
    ----------
    keys
        The column to test, one entry per row.
    values
        The allowed values (a column, an index or a list).

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per key; ``False`` for a missing key.

    Notes
    -----
    Same answer as ``keys.isin(values).to_numpy()`` with missing keys never matching. When
    both sides hold text (pandas ``str`` / ``string`` columns) the test runs as one Arrow
    hash look-up (:func:`pyarrow.compute.is_in`); any other dtype goes to
    :meth:`pandas.Series.isin`.
    """
    other = values if isinstance(values, pd.Series | pd.Index) else pd.Series(list(values))
    if _is_text(keys) and (_is_text(other) or other.dtype == object and len(other) == 0):
        if len(other) == 0:
            return np.zeros(len(keys), dtype=bool)
        hit = pc.is_in(arrow_text(keys), value_set=arrow_text(other), skip_nulls=True)
        return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(keys.isin(other).fillna(False).to_numpy(), dtype=bool)
