"""Shared machinery of the frozen result objects.

Every analysis returns a frozen dataclass that inherits :class:`ResultMixin`. A result keeps
its numbers unrounded in tidy frames with fixed snake_case columns; formatting happens only
when it is shown (``__str__``, ``_repr_html_``) or rendered by :mod:`dnoutcomes.report`.

A subclass provides:

* ``_frame`` — the main tidy frame, returned (as a copy) by :attr:`ResultMixin.table` and
  :meth:`ResultMixin.to_frame`;
* ``title`` — a one-line description used as the caption;
* ``notes`` — a tuple of sentences: who was left out and why, convergence problems;
* ``to_dict()`` — the keys of the analysis plan's JSON document for this section.

One vocabulary
--------------
Frames, ``to_dict()``, ``analyze --json`` and the report's workbook name the same things
the same way: ``estimate, std_error, statistic, df, p_value, conf_low, conf_high``
(:data:`TIDY_COLUMNS`). Every result's main frame is ``.table``, whatever its type; the
type-specific names of the main frame (``coefficients``, ``fixed``, ``estimates``,
``contrasts``, ``grid``, ``rates``) are deprecated aliases for one release
(:func:`table_alias`: reading one warns with a :class:`DeprecationWarning`); ``frame`` is
not yet warned about. The analysis plan's first JSON keys ``se``,
``ci_low``, ``ci_high`` and ``p`` are kept beside the new ones as deprecated aliases for
one release (:data:`DICT_ALIASES`, also as the end of a prefixed key such as
``naive_se`` or ``rd_ci_low``): each ``to_dict()`` of a subclass is wrapped so that
wherever it writes ``se`` it also writes ``std_error`` with the same value, and so on.
A dict key cannot warn when read: the old keys are deprecated by documentation only
(``docs/analysis-plan.md``), and go in the release after next.
"""

from __future__ import annotations

import functools
import html
import math
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

__all__ = [
    "DICT_ALIASES",
    "HEADLINE_COLUMNS",
    "TIDY_COLUMNS",
    "ResultMixin",
    "id_tuple",
    "jsonable",
    "shared_ids",
    "table_alias",
    "vocabulary_key",
    "with_vocabulary",
]

#: Column names a coefficient-like frame uses, in this order, whenever they apply.
TIDY_COLUMNS: tuple[str, ...] = (
    "term",
    "estimate",
    "std_error",
    "statistic",
    "df",
    "p_value",
    "conf_low",
    "conf_high",
)


#: The columns of a headline frame (:attr:`Analysis.results
#: <dnoutcomes.stats.analysis.Analysis.results>`, the network's pooled headline), in order:
#: one row per effect.
HEADLINE_COLUMNS: list[str] = [
    "section",
    "measure",
    "timepoint",
    "term",
    "n",
    "estimate",
    "conf_low",
    "conf_high",
    "p_value",
]


#: The analysis plan's first JSON keys (deprecated) and the vocabulary's name for each: a
#: ``to_dict()`` writes both for one release, the new key first.
DICT_ALIASES: dict[str, str] = {
    "se": "std_error",
    "ci_low": "conf_low",
    "ci_high": "conf_high",
    "p": "p_value",
}


def vocabulary_key(key: Any) -> Any:
    """The vocabulary's name for a deprecated ``to_dict()`` key, or None.

    ``se``, ``ci_low``, ``ci_high`` and ``p`` (:data:`DICT_ALIASES`), alone or as the end of
    a prefixed key: ``naive_se`` → ``naive_std_error``, ``rd_ci_low`` → ``rd_conf_low``,
    ``logrank_p`` → ``logrank_p_value``.

    Examples
    --------
    >>> [vocabulary_key(k) for k in ("se", "rr_ci_high", "logrank_p", "p_holm", "estimate")]
    ['std_error', 'rr_conf_high', 'logrank_p_value', None, None]
    """
    if not isinstance(key, str):
        return None
    if key in DICT_ALIASES:
        return DICT_ALIASES[key]
    for old, new in DICT_ALIASES.items():
        if key.endswith(f"_{old}"):
            return f"{key[: -len(old)]}{new}"
    return None


def with_vocabulary(value: Any) -> Any:
    """Add the vocabulary's key beside every deprecated key of a JSON-ready document.

    Parameters
    ----------
    value
        A ``to_dict()`` document: dicts, lists and plain values, nested.

    Returns
    -------
    Any
        The same document (new dicts and lists) where a dict holding ``se``, ``ci_low``,
        ``ci_high`` or ``p`` (or a key ending ``_se``, ``_ci_low``, ``_ci_high``, ``_p``:
        :func:`vocabulary_key`) also holds ``std_error``, ``conf_low``, ``conf_high`` or
        ``p_value`` with the same value, placed just before the old key. A dict that
        already holds the new key keeps its own value.

    Examples
    --------
    >>> with_vocabulary({"estimate": -1.2, "se": 0.3, "rows": [{"p": 0.04}]})
    {'estimate': -1.2, 'std_error': 0.3, 'se': 0.3, 'rows': [{'p_value': 0.04, 'p': 0.04}]}
    """
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            item = with_vocabulary(item)
            new = vocabulary_key(key)
            if new is not None and new not in value:
                out[new] = item
            out[key] = item
        return out
    if isinstance(value, list):
        return [with_vocabulary(item) for item in value]
    return value


def _vocabulary_to_dict(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def to_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
        return with_vocabulary(method(self, *args, **kwargs))

    to_dict.__dnoutcomes_vocabulary__ = True  # type: ignore[attr-defined]
    return to_dict


class ResultMixin:
    """Behaviour shared by every result: a tidy frame, text, HTML and JSON-ready dicts."""

    title: str
    notes: tuple[str, ...]
    _frame: pd.DataFrame

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap a subclass's own ``to_dict`` with :func:`with_vocabulary`."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("to_dict")
        if callable(own) and not getattr(own, "__dnoutcomes_vocabulary__", False):
            cls.to_dict = _vocabulary_to_dict(own)  # type: ignore[attr-defined]

    @property
    def table(self) -> pd.DataFrame:
        """The result's main tidy frame (a copy, numbers unrounded): the same name for
        every result type, with the columns of :data:`TIDY_COLUMNS` where they apply."""
        return self.to_frame()

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the result's main tidy frame (numbers unrounded)."""
        return self._frame.copy()

    def _format_frame(self) -> pd.DataFrame:
        frame = self._frame.copy()
        for column in frame.columns:
            if pd.api.types.is_float_dtype(frame[column]):
                if column == "p_value" or column.startswith("p_"):
                    frame[column] = frame[column].map(format_p)
                else:
                    frame[column] = frame[column].map(lambda v: f"{v:.3g}" if pd.notna(v) else "")
        return frame

    def __repr__(self) -> str:
        """A one-line summary (class, title, size of the tidy frame, number of notes).

        ``print(result)`` shows the whole table; a notebook shows it as HTML.
        """
        rows, cols = self._frame.shape
        notes = len(self.notes)
        return (
            f"<{type(self).__name__}: {self.title} ({rows} rows x {cols} columns"
            f"{f', {notes} note' + ('s' if notes != 1 else '') if notes else ''}); "
            "print() it for the table>"
        )

    def __str__(self) -> str:
        lines = [self.title, ""]
        lines.append(self._format_frame().to_string(index=False))
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        table = self._format_frame().to_html(index=False, border=0, classes="dnoutcomes")
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        notes_html = f"<ul>{notes}</ul>" if notes else ""
        return f"<div><strong>{html.escape(self.title)}</strong>{table}{notes_html}</div>"


_R = TypeVar("_R", bound=type)


class _TableAlias:
    """A result's former name for its main frame (``estimates``, ``coefficients`` …): the
    stored frame, with a :class:`DeprecationWarning` pointing to ``.table``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        caller = sys._getframe(1)
        # the dataclass's own __eq__ and dataclasses.replace/asdict read every field
        if caller.f_code.co_filename != "<string>" and caller.f_globals.get("__name__") not in (
            "dataclasses",
            __name__,
        ):
            warnings.warn(
                f"{type(obj).__name__}.{self.name} is deprecated and will be removed in the "
                "release after next; use .table (the same frame, as a copy).",
                DeprecationWarning,
                stacklevel=2,
            )
        return obj.__dict__[self.name]

    def __set__(self, obj: Any, value: Any) -> None:  # the dataclass's __init__
        obj.__dict__[self.name] = value


def table_alias(name: str) -> Callable[[_R], _R]:
    """Class decorator (above ``@dataclass``): the field ``name`` is the result's main
    frame, read as ``.table``; reading ``name`` itself still works for one release, with a
    :class:`DeprecationWarning`. The constructor keeps the keyword ``name``."""

    def wrap(cls: _R) -> _R:
        setattr(cls, name, _TableAlias(name))
        cls._frame = property(lambda self: self.__dict__[name])  # type: ignore[attr-defined]
        cls.__dnoutcomes_table_alias__ = name  # type: ignore[attr-defined]
        return cls

    return wrap


def format_p(p: float) -> str:
    """Format a p-value for people: three significant digits, ``<0.001`` below that."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return ""
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}"


def jsonable(value: Any) -> Any:
    """Turn NumPy / pandas scalars and containers into plain JSON values.

    NaN, infinities and missing values become ``None`` (JSON ``null``).
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def id_tuple(ids: pd.Series | pd.Index) -> tuple[str, ...]:
    """Identifiers as a tuple of ``str`` for a result's ``episodes_used``.

    Goes through ``tolist()`` (one C-level conversion) rather than iterating the column,
    which for Arrow-backed text builds each value in Python: about 5x faster, 0.1 s
    instead of 0.6 s per million episodes.

    The strings are interned (:func:`shared_ids`): the ~20 results of one ``analyze``
    each list most of the comparison's episodes, and without it each held its own copy
    of every id (about 0.6 GiB of Python strings at a million episodes).
    """
    return shared_ids(ids.astype("str").tolist())


def id_array(ids: pd.Series | pd.Index) -> np.ndarray:
    """The strings of :func:`id_tuple` as a 1-D object array, for a caller that hands
    several results selections of the same ids (``tuple(array[mask])``: the same interned
    strings, not each result's ids converted again)."""
    out = np.empty(len(ids), dtype=object)
    out[:] = id_tuple(ids)
    return out


def shared_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """``tuple(ids)`` with each string interned (:func:`sys.intern`), so that the results
    of one analysis share one string object per id instead of a copy each; the values,
    and so every output, are unchanged (interned strings are freed with their last use)."""
    return tuple(map(sys.intern, ids))
