"""The :class:`Dataset` a loaded export becomes, and the columns derived for analysis.

Build one with :func:`dnoutcomes.load`; the derivations here (arm, chronicity, session
counts, the patient's site on each episode) are pure functions of typed frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from dnoutcomes._encode import encode_shared
from dnoutcomes.contract.measures import MeasureRegistry
from dnoutcomes.contract.specs import CHRONICITY

__all__ = ["Dataset", "chronicity", "derive_arms", "session_arms"]

#: keys of :attr:`Dataset._cache` under which the loader leaves its integer links
EPISODE_CODES = ("episode_codes",)
MEASURE_CODES = ("measure_codes",)
EVENT_SESSIONS = ("event_sessions",)

PROBLEM_COLUMNS: tuple[str, ...] = ("table", "file", "line", "column", "rule", "message")
REJECT_COLUMNS: tuple[str, ...] = ("table", "file", "line", "id", "reason")
ACCOUNTING_COLUMNS: tuple[str, ...] = ("table", "read", "loaded", "rejected")


def chronicity(symptom_weeks: pd.Series) -> pd.Series:
    """Chronicity of low back pain from its duration.

    Parameters
    ----------
    symptom_weeks
        Weeks since symptoms began.

    Returns
    -------
    pandas.Series
        Ordered category ``acute < subacute < chronic``.

    Notes
    -----
    acute: < 6 weeks; subacute: 6 to < 12 weeks; chronic: >= 12 weeks (the contract's
    thresholds, with left-closed intervals). A missing duration gives a missing chronicity.
    """
    weeks = symptom_weeks.to_numpy(dtype=float)
    codes = np.select([weeks < 6, weeks < 12, weeks >= 12], [0, 1, 2], default=-1)
    return pd.Series(
        pd.Categorical.from_codes(
            codes.astype(np.int64), categories=pd.Index(list(CHRONICITY)), ordered=True
        ),
        index=symptom_weeks.index,
        name="chronicity",
    )


def derive_arms(episode_ids: pd.Series, sessions: pd.DataFrame) -> pd.DataFrame:
    """The arm each episode's sessions describe, and its session counts.

    Parameters
    ----------
    episode_ids
        The episodes to describe.
    sessions
        Typed sessions with ``episode_id``, ``dn_performed``, ``manual_therapy`` and
        ``exercise_therapy`` (bool).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``episode_ids``, with ``arm_derived`` (str; NA for an episode without
        sessions), ``n_sessions`` and ``dn_sessions`` (int64).

    Notes
    -----
    DN at some session and neither manual nor exercise therapy at any → ``dn_only``; DN,
    manual therapy and exercise therapy each at some session → ``dn_manual_exercise``; no
    DN, manual and exercise therapy each at some session → ``manual_exercise``; anything
    else → ``other``. A missing flag counts as not given; a session whose ``episode_id`` is
    missing belongs to no episode; an id listed twice gets the same values twice.
    """
    (e_codes, s_codes), values = encode_shared([episode_ids, sessions["episode_id"]])
    per_id = session_arms(s_codes, len(values), sessions)
    spread = np.append(np.arange(len(values)), -1)[e_codes]  # -1: a missing episode id
    n = per_id["n_sessions"].to_numpy()
    dn = per_id["dn_sessions"].to_numpy()
    return pd.DataFrame(
        {
            "arm_derived": pd.Series(per_id["arm_derived"].array.take(spread, allow_fill=True)),
            "n_sessions": np.append(n, 0)[spread],
            "dn_sessions": np.append(dn, 0)[spread],
        }
    ).set_axis(episode_ids.index)


def session_arms(
    episode: NDArray[np.signedinteger[Any]], n_episodes: int, sessions: pd.DataFrame
) -> pd.DataFrame:
    """:func:`derive_arms` when each session's episode is known by position.

    Parameters
    ----------
    episode
        For each row of ``sessions``, the position of its episode (0 to ``n_episodes -
        1``), or -1 for none.
    n_episodes
        The number of episodes.
    sessions
        Typed sessions with ``dn_performed``, ``manual_therapy`` and ``exercise_therapy``.

    Returns
    -------
    pandas.DataFrame
        One row per episode position (a ``RangeIndex``): ``arm_derived`` (str; NA without
        sessions), ``n_sessions`` and ``dn_sessions`` (int64).

    Notes
    -----
    The rule of :func:`derive_arms`, counted with :func:`numpy.bincount` (no hashing).
    """
    bins = episode + 1  # bin 0 holds the sessions of no episode, dropped below

    def count(flag: str | None) -> NDArray[np.int64]:
        # the flagged sessions' bins counted (no float weights: a full-length float copy)
        chosen = bins if flag is None else bins[sessions[flag].to_numpy(dtype=bool, na_value=False)]
        counted = np.bincount(chosen, minlength=n_episodes + 1)[1:]
        return np.asarray(counted, dtype=np.int64)

    n_sessions = count(None)
    dn_sessions = count("dn_performed")
    manual = count("manual_therapy") > 0
    exercise = count("exercise_therapy") > 0
    any_dn = dn_sessions > 0
    code = np.select(
        [any_dn & ~manual & ~exercise, any_dn & manual & exercise, ~any_dn & manual & exercise],
        [0, 1, 2],
        default=3,
    )
    labels = pa.array(["dn_only", "dn_manual_exercise", "manual_exercise", "other"])
    arm = labels.take(pa.array(code, mask=n_sessions == 0))
    return pd.DataFrame(
        {
            "arm_derived": pd.Series(pd.array(arm, dtype="str")),
            "n_sessions": n_sessions,
            "dn_sessions": dn_sessions,
        }
    )


def narrow_codes(codes: NDArray[np.signedinteger[Any]], n: int) -> NDArray[np.signedinteger[Any]]:
    """``codes`` (0 to ``n - 1``, -1 for none) in the narrowest integer type that holds
    them: a registry's few measures fit in int8, a quarter of the int32 codes' memory
    (74 MB → 19 MB for the 19M outcome rows of a million episodes)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n <= np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="str") for c in columns})


@dataclass(frozen=True)
class Dataset:
    """A loaded, validated clinic export.

    Attributes
    ----------
    patients, episodes, sessions, outcomes
        Typed frames, one row per input row that loaded (see ``docs/architecture.md`` for
        every column and dtype); extra input columns follow the contract's, as text. The
        outcomes' ``episode_id``, ``session_id`` and ``measure`` and the sessions'
        ``episode_id`` are loaded as ``category`` columns of text, categories in text
        order (codes instead of 26M text cells at a million episodes): ``==``, ``isin``,
        ``merge`` and ``groupby`` work as on text; ``value_counts`` lists every category;
        cast with ``.astype("str")`` before assigning a value that is not a category.
    adverse_events
        Typed frame, or ``None`` when the export has no such table ("not recorded").
    rejects
        One row per rejected input row: ``table``, ``file``, ``line``, ``id``, ``reason``
        (empty in strict mode).
    problems
        Every error found: ``table``, ``file``, ``line``, ``column``, ``rule``, ``message``.
    warnings
        Data-quality warnings, same columns as ``problems``.
    accounting
        One row per table: ``table``, ``read``, ``loaded``, ``rejected``.
    registry
        The measure registry used.
    sources
        ``{table: path}`` of the files read.
    sha256
        ``{table: checksum}`` of the files read.
    path
        The folder or workbook loaded.
    mode
        ``"strict"`` or ``"quarantine"``.
    outcomes_form
        ``"long"`` or ``"wide"``: how the outcomes arrived (the frame is always long).
    """

    patients: pd.DataFrame
    episodes: pd.DataFrame
    sessions: pd.DataFrame
    outcomes: pd.DataFrame
    adverse_events: pd.DataFrame | None
    registry: MeasureRegistry
    rejects: pd.DataFrame = field(default_factory=lambda: _empty(REJECT_COLUMNS))
    problems: pd.DataFrame = field(default_factory=lambda: _empty(PROBLEM_COLUMNS))
    warnings: pd.DataFrame = field(default_factory=lambda: _empty(PROBLEM_COLUMNS))
    accounting: pd.DataFrame = field(default_factory=lambda: _empty(ACCOUNTING_COLUMNS))
    sources: Mapping[str, str] = field(default_factory=dict)
    sha256: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    mode: str = "strict"
    outcomes_form: str = "long"
    #: Comparison sets and per-episode values already built from these frames, so that the
    #: analyses of one :class:`~dnoutcomes.stats.Analysis` build each only once. Not an
    #: argument: :func:`dataclasses.replace` (a subset) starts with an empty cache.
    _cache: dict[Any, Any] = field(
        init=False, default_factory=dict, repr=False, compare=False, hash=False
    )

    def _cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """The value built once per key for this dataset (frames are never mutated)."""
        cache = self._cache
        if key not in cache:
            cache[key] = build()
        return cache[key]

    def _seed_codes(
        self,
        *,
        session_episode: NDArray[np.signedinteger[Any]],
        outcome_episode: NDArray[np.signedinteger[Any]],
        outcome_measure: tuple[NDArray[np.signedinteger[Any]], pa.Array] | None,
        event_session: NDArray[np.signedinteger[Any]] | None,
    ) -> None:
        """Hand the analyses the integer links the loader already found, so that no id is
        hashed again (``dnoutcomes.cohort._codes`` builds the same otherwise).

        The episode code of a row is its episode's position in ``episodes`` (-1: none):
        the loaded episode ids are unique and every loaded outcome and session refers to
        a loaded episode, so these are codes in one space, as hashing would give.
        """
        n = len(self.episodes)
        codes = {
            "episodes": np.arange(n, dtype=np.int32 if n < 2**31 - 1 else np.int64),
            "outcomes": outcome_episode,
            "sessions": session_episode,
        }
        ids = pa.array(self.episodes["episode_id"].array)
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        self._cache[EPISODE_CODES] = (codes, ids.cast(pa.large_string()))
        if outcome_measure is not None:
            m_codes, names = outcome_measure
            lookup = {str(name): k for k, name in enumerate(names.to_pylist())}
            self._cache[MEASURE_CODES] = (narrow_codes(m_codes, len(lookup)), lookup)
        if event_session is not None:
            self._cache[EVENT_SESSIONS] = event_session

    @property
    def n_patients(self) -> int:
        """Number of patients loaded."""
        return len(self.patients)

    @property
    def n_episodes(self) -> int:
        """Number of episodes loaded."""
        return len(self.episodes)

    def summary(self) -> pd.DataFrame:
        """Rows per table.

        Returns
        -------
        pandas.DataFrame
            The ``accounting`` frame (``table``, ``read``, ``loaded``, ``rejected``), a copy.
        """
        return self.accounting.copy()

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{row.table}={row.loaded}" for row in self.accounting.itertuples(index=False)
        )
        extra = f", {len(self.rejects)} rejected" if len(self.rejects) else ""
        warn = f", {len(self.warnings)} warnings" if len(self.warnings) else ""
        return f"Dataset({counts}{extra}{warn})"

    def _repr_html_(self) -> str:
        return (
            f"<p><b>dnoutcomes Dataset</b> from <code>{self.path}</code> ({self.mode}), "
            f"{len(self.problems)} problems, {len(self.warnings)} warnings</p>"
            + self.accounting.to_html(index=False)
        )
