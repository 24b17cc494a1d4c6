"""The loaded frames (private): from the tables that passed (or were quarantined by) the
contract's rules, the typed frames of the rows that load, the derived columns (chronicity,
site, arms, session counts), the id columns the Dataset holds as categoricals, and the
links between the loaded rows; the columns as read are let go as soon as nothing needs
them. :func:`dnoutcomes.validate.validate` calls :func:`build`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from dnoutcomes._encode import unique_categories
from dnoutcomes._frames import blocks, release_unused_memory
from dnoutcomes.contract.quality import Links
from dnoutcomes.contract.references import Codes, KeyCodes, Rows
from dnoutcomes.contract.specs import RUN_COLUMNS, TABLE_KEYS, TABLES
from dnoutcomes.contract.tables import PreparedTable as _Table
from dnoutcomes.dataset import chronicity, session_arms

__all__ = ["build", "link", "rows_of"]


def _after(frame: pd.DataFrame, column: str) -> int:
    return list(frame.columns).index(column) + 1


#: the positions of a table's rows that load; None when every row loads
_Loaded = NDArray[np.signedinteger[Any]] | None


def _kept(frame: pd.DataFrame, rows: _Loaded) -> pd.DataFrame:
    """The rows of ``frame`` that load, renumbered; no copy when every row loads."""
    if rows is None:
        return frame.copy(deep=False)  # copy-on-write: the columns are shared until changed
    return frame.take(rows).reset_index(drop=True)


def rows_of(values: np.ndarray, rows: _Loaded) -> np.ndarray:
    return values if rows is None else values[rows]


def link(
    t: dict[str, _Table],
    kept: dict[str, _Loaded],
    child: str,
    column: str,
    parent: str,
) -> Rows:
    """For each loaded ``child`` row, its parent's position among the loaded ``parent``
    rows (-1 when its parent did not load), from the rows the cross-table rules found."""
    pos: Rows = t[child].refs[column]
    rows, parent_rows = kept[child], kept[parent]
    if rows is not None:
        pos = pos[rows]
    if parent_rows is None:  # every parent row loaded: positions unchanged
        return pos
    n = t[parent].checks.n
    renumber: Rows = np.full(n + 1, -1, dtype=np.int32 if n < 2**31 - 1 else np.int64)
    renumber[parent_rows] = np.arange(len(parent_rows))
    return renumber[pos]  # the last entry: no parent


def _loaded_rows(bad: NDArray[np.bool_]) -> _Loaded:
    """The positions of the rows that load, int32 when they fit (half of NumPy's int64
    positions: 78 MB for the 19M outcome rows of a million episodes, kept until the
    Dataset is built); None when every row loads (no positions held at all)."""
    if not bad.any():
        return None
    dtype = np.int32 if len(bad) < 2**31 - 1 else np.int64
    return np.flatnonzero(~bad).astype(dtype, copy=False)


def _text_ids(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its id columns as text, but those the Dataset holds as categoricals
    (:data:`RUN_COLUMNS`, made so by :func:`_as_categories`): an id column read as a
    categorical (a Parquet dictionary column, or a run column) is text in the Dataset."""
    for spec in TABLES[table]:
        col = spec.name
        if (
            spec.kind == "id"
            and col in frame.columns
            and col not in RUN_COLUMNS.get(table, ())
            and isinstance(frame[col].dtype, pd.CategoricalDtype)
        ):
            frame[col] = frame[col].astype("str")
    return frame


def build(
    t: dict[str, _Table], keys: KeyCodes
) -> tuple[dict[str, pd.DataFrame], Links, dict[str, _Loaded]]:
    """Typed frames of the rows that load, with the derived columns, the links between
    them (row positions) for the warnings, and which input rows they are.

    The outcomes' and sessions' id columns become categoricals (:func:`_as_categories`)
    and the columns as read are let go (:func:`_release_read_columns`) first, before the
    derived columns are built: at a million episodes the text ids so freed are 0.7 GiB,
    which would otherwise be held at the peak of the build.
    """
    kept = {name: _loaded_rows(tab.checks.bad) for name, tab in t.items()}
    keep = {name: _text_ids(name, _kept(tab.typed, kept[name])) for name, tab in t.items()}
    links = Links(
        episode_patient=link(t, kept, "episodes", "patient_id", "patients"),
        session_episode=link(t, kept, "sessions", "episode_id", "episodes"),
        outcome_episode=link(t, kept, "outcomes", "episode_id", "episodes"),
        outcome_measure=_loaded_measures(keys, kept["outcomes"]),
    )
    outcome_session = (
        link(t, kept, "outcomes", "session_id", "sessions")
        if "session_id" in t["outcomes"].refs
        else None
    )
    links = _as_categories(keep, links, outcome_session)
    del outcome_session
    _release_read_columns(t)
    release_unused_memory()  # the text the categoricals replaced
    p = keep["patients"]
    p.insert(_after(p, "symptom_weeks"), "chronicity", chronicity(p["symptom_weeks"]))
    s = keep["sessions"]
    e = keep["episodes"].rename(columns={"arm": "arm_declared"})
    site = p["site_id"].array.take(links.episode_patient, allow_fill=True)
    e.insert(3, "site_id", pd.Series(site, index=e.index).astype("str"))
    arms = session_arms(links.session_episode, len(e), s)
    pos = _after(e, "arm_declared")
    e.insert(pos, "arm_derived", arms["arm_derived"])
    e.insert(pos + 1, "arm", e["arm_declared"].fillna(arms["arm_derived"]).astype("str"))
    after = _after(e, "discharge_reason")
    e.insert(after, "n_sessions", arms["n_sessions"])
    e.insert(after + 1, "dn_sessions", arms["dn_sessions"])
    keep["episodes"] = e
    return keep, links, kept


def _sorted_categories(ids: pd.Series) -> tuple[pd.CategoricalDtype, NDArray[np.int64] | None]:
    """A categorical dtype whose categories are ``ids`` (unique, none missing) in text
    order, and each id's rank in that order (None when ``ids`` are in order already).

    Text order, so that a group-by, ``sort_values`` or ``unique`` of the categorical gives
    the order the text column gave. The categories are not hashed here: pandas checks a
    new dtype's categories for uniqueness by building a hash table of them, which it
    keeps (about 70 bytes per id: 0.4 GiB for the six million session ids of a million
    episodes); the loaded ids are unique already (the rule ``duplicate_id``), so the
    dtype is built without the check and a table is built only if a look-up by value
    (``==``, ``isin``) needs one.
    """
    arr = pa.array(ids.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    rank = None
    if n > 1 and not pc.all(pc.greater(arr.slice(1), arr.slice(0, n - 1))).as_py():
        order = pc.sort_indices(arr).to_numpy()
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        categories = pd.Index(pd.array(arr.take(order), dtype="str"), copy=False)
    else:
        categories = pd.Index(ids.array, copy=False)
    return unique_categories(categories), rank


def _categorical(
    codes: NDArray[np.signedinteger[Any]],
    dtype: pd.CategoricalDtype,
    rank: NDArray[np.int64] | None,
    index: pd.Index,
) -> pd.Series:
    """A categorical column from the row positions of its values among the categories'
    source (-1: missing), renumbered by ``rank`` when the categories were sorted; the
    codes are shared, not copied, when no renumbering is needed."""
    if rank is not None:  # gathered in the codes' own type: no full-length int64 copy
        codes = np.append(rank, -1).astype(codes.dtype)[codes]
    values = pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
    return pd.Series(values, index=index, copy=False)


def _as_categories(
    frames: dict[str, pd.DataFrame],
    links: Links,
    outcome_session: NDArray[np.signedinteger[Any]] | None,
) -> Links:
    """Store the outcomes' ``episode_id``, ``session_id`` and ``measure`` and the
    sessions' ``episode_id`` as categoricals, in place of text.

    At a million episodes these four columns are 26M rows of text (about 1 GiB as
    Arrow strings); as categoricals they are integer codes into the episodes' ids, the
    sessions' ids and the measure names (int32, int32, int8), which the loader has already
    found (``links``). Returns the links with the measure codes renumbered to the
    categorical's (sorted) categories, so that the analyses share its codes.
    """
    e, s, o = frames["episodes"], frames["sessions"], frames["outcomes"]
    e_dtype, e_rank = _sorted_categories(e["episode_id"])
    s["episode_id"] = _categorical(links.session_episode, e_dtype, e_rank, s.index)
    o["episode_id"] = _categorical(links.outcome_episode, e_dtype, e_rank, o.index)
    if outcome_session is not None:
        s_dtype, s_rank = _sorted_categories(s["session_id"])
        o["session_id"] = _categorical(outcome_session, s_dtype, s_rank, o.index)
    if links.outcome_measure is None:
        return links
    m_codes, names = links.outcome_measure
    # the names of loaded rows only (a rejected row's unknown measure is not a category)
    counts = np.zeros(len(names) + 1, dtype=np.int64)
    for b in blocks(len(m_codes)):  # block by block: no full-length temporary
        counts += np.bincount(m_codes[b] + 1, minlength=len(names) + 1)
    used = np.flatnonzero(counts[1:])
    order = used[pc.sort_indices(names.take(used)).to_numpy()]
    m_rank = np.full(len(names), -1, dtype=np.int64)
    m_rank[order] = np.arange(len(order))
    if len(names) < 127:  # gathered straight into the categorical's int8 codes
        m_codes, m_rank = m_codes.astype(np.int8, copy=False), m_rank.astype(np.int8)
    m_dtype = pd.CategoricalDtype(pd.Index(pd.array(names.take(order), dtype="str")))
    o["measure"] = _categorical(m_codes, m_dtype, m_rank, o.index)
    measure = (o["measure"].array.codes, names.take(order))
    return replace(links, outcome_measure=measure)


def _emptied(frame: pd.DataFrame) -> pd.DataFrame:
    """An empty frame with the columns and dtypes of ``frame``, sharing none of its memory.

    ``frame.iloc[:0]`` is a view: its NumPy columns (a categorical's codes too) keep their
    whole base array alive, its Arrow columns a zero-length slice of the whole buffers, so
    nothing would be freed. A deep copy gives the NumPy columns fresh empty arrays (a
    categorical keeps its dtype object: a new empty column of that dtype would hash its
    categories, 0.5 GiB and 3 s for six million session ids); an Arrow column, which a copy
    still shares, is made anew."""
    out = frame.iloc[:0].copy()
    for i in range(frame.shape[1]):
        column = out.iloc[:, i]
        if hasattr(column.array, "_pa_array"):  # Arrow-backed (text): a fresh empty array
            out.isetitem(i, pd.Series([], dtype=column.dtype).array)
    return out


def _release_read_columns(t: dict[str, _Table]) -> None:
    """Let go of the columns as read (and their text form) once the typed frames are
    built: nothing after the build reads them, and at a million episodes the read
    columns the typed ones do not share (dates, timepoints as read…) are a large part of
    the load's peak memory, which the data-quality warnings would otherwise add to."""
    for name, tab in t.items():
        tab.raw = replace(tab.raw, frame=_emptied(tab.raw.frame), text_table=None)
        tab.text = _emptied(tab.text)
        if name not in ("sessions", "outcomes"):
            continue
        # the typed frames as prepared: the loaded frames hold what loads (the outcomes'
        # ids now as categoricals), the rejects need only the rejected rows' keys
        key = TABLE_KEYS[name]
        if not tab.checks.bad.any():
            tab.typed = _emptied(tab.typed)
        elif key in tab.typed:
            tab.typed = tab.typed[[key]]
        tab.refs = {}  # the links between loaded rows were taken from them


def _loaded_measures(keys: KeyCodes, rows: _Loaded) -> Codes | None:
    """The measure codes of the outcome rows that load (the cross-table rules' codes)."""
    found = keys.get(("outcomes", "measure"))
    if found is None:
        return None
    codes, values = found
    return (codes if rows is None else codes[rows]), values
