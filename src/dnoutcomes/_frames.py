"""Fast frame helpers shared by the analyses and the report (private).

pandas 3 stores text as Arrow strings; its ``Series.isin`` on such a column turns every
value of the *look-up set* into a Python object first (one ``pyarrow.scalar`` each), which
costs about a second per 100,000 ids: at network scale (a million episodes) the analyses
spent most of their time there. :func:`isin` hashes both sides in Arrow instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

__all__ = ["isin"]


def _arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    arr = pa.array(values.array)  # zero-copy for Arrow-backed text
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.string() else arr.cast(pa.string())


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
        hit = pc.is_in(_arrow_text(keys), value_set=_arrow_text(other), skip_nulls=True)
        return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(keys.isin(other).fillna(False).to_numpy(), dtype=bool)
