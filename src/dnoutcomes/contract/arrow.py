"""Key matching on text columns, hashed in Arrow (pyarrow.compute).

pandas' ``isin``/``map`` on Arrow-backed strings go through Python objects; these helpers
keep the work in Arrow's hash tables. Membership tests use :func:`dnoutcomes._frames.isin`
and the cross-table rules :func:`dnoutcomes._encode.encode_shared` (each key column hashed
once, into integer codes), both shared with the analyses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dnoutcomes._frames import arrow_text

__all__ = ["arrow_strings", "positions"]


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
    return arrow_text(series)


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
