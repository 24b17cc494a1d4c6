"""Key matching and lookups on text columns, hashed in Arrow (pyarrow.compute).

pandas' ``isin``/``map`` on Arrow-backed strings go through Python objects; these helpers
keep the work in Arrow's hash tables. Membership tests use :func:`dnoutcomes._frames.isin`,
shared with the analyses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow_strings", "duplicated", "lookup", "positions"]


def arrow_strings(values: pd.Series | pd.Index | Sequence[str]) -> pa.Array:
    """Text values as one Arrow string array (zero-copy for pandas ``str`` columns).

    Parameters
    ----------
    values
        A column, an index or a list of text values; other dtypes are cast to ``str``.

    Returns
    -------
    pyarrow.Array
        One ``string`` array, nulls where a value is missing.
    """
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, pd.Index):
        series = values.to_series(index=pd.RangeIndex(len(values)))
    else:
        series = pd.Series(list(values), dtype="str")
    if not isinstance(series.dtype, pd.StringDtype):
        series = series.astype("str")
    arr = pa.array(series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def positions(keys: pd.Series, values: pd.Series | pd.Index | Sequence[str]) -> np.ndarray:
    """Position of each key in ``values``, by Arrow hashing.

    Parameters
    ----------
    keys
        The text column to look up.
    values
        The values searched (a column, an index or a list).

    Returns
    -------
    numpy.ndarray
        int64, one entry per key: the position of its first match in ``values``; -1 for a
        key that is absent or missing.
    """
    pos = pc.index_in(arrow_strings(keys), value_set=arrow_strings(values), skip_nulls=True)
    return np.asarray(pos.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def duplicated(keys: pd.Series) -> np.ndarray:
    """Rows whose key occurs more than once.

    Parameters
    ----------
    keys
        A text key column.

    Returns
    -------
    numpy.ndarray
        Boolean, one entry per row: True for every row of a repeated key (all of them,
        not only the later ones); missing keys are never repeated.
    """
    arr = arrow_strings(keys)
    counts = pc.value_counts(arr.drop_null())
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return np.zeros(len(keys), dtype=bool)
    hit = pc.is_in(arr, value_set=repeated, skip_nulls=True)
    return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def lookup(keys: pd.Series, table: pd.Series) -> pd.Series:
    """``table[key]`` for each key, aligned to ``keys``.

    Parameters
    ----------
    keys
        The text keys to look up.
    table
        The values, indexed by a unique text index.

    Returns
    -------
    pandas.Series
        Indexed like ``keys``, with ``table``'s dtype and name; NA for an unknown or missing
        key.

    Notes
    -----
    Unlike ``Series.map`` this keeps the dtype of ``table`` even when it is empty, and
    hashes in Arrow.
    """
    pos = positions(keys, table.index)
    if len(table) == 0:
        return pd.Series(index=keys.index, dtype=table.dtype, name=table.name)
    picked = table.iloc[np.where(pos >= 0, pos, 0)]
    out = pd.Series(picked.to_numpy(), index=keys.index, dtype=table.dtype, name=table.name)
    return out.where(pos >= 0)
