"""The design matrix, calibration table and C-statistic of
:mod:`dnoutcomes.qi.casemix` (see that module for the case-mix variables)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from dnoutcomes._frames import category_codes
from dnoutcomes.errors import RequestError

__all__ = ["c_statistic"]

_NUMERIC = frozenset({"age", "symptom_weeks", "baseline", "contraindications"})
_CATEGORICAL = frozenset({"sex", "condition", "chronicity"})


def _column_of(name: str) -> str:
    if name.startswith("baseline:"):
        return "baseline_" + name.split(":", 1)[1]
    if name == "contraindications":
        return "contraindicated"
    return name


def _level_positions(column: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    """For each row, the position in ``levels`` of the row's value as text
    (``astype("string")``), -1 when it is missing or not a level. The distinct values are
    converted and looked up, then spread back by their codes: the same answer as comparing
    the text of every row with each level, without converting a million rows to text."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = category_codes(column)
        uniques = pd.Index(column.cat.categories)
    else:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        uniques = pd.Index(uniques)
    text = pd.Series(uniques, dtype=uniques.dtype).astype("string")
    found = pd.Index(list(levels), dtype="string").get_indexer(text)
    found = np.where(text.isna().to_numpy(), -1, found)
    lookup = np.append(found, -1)  # code -1 (missing) reads the last entry
    return np.asarray(lookup[codes], dtype=np.intp)


@dataclass(frozen=True)
class _Design:
    """How covariates become columns of the design matrix (fixed at fit time).

    ``columns`` in covariate order: ``(column, None)`` for a number, ``(column, levels)``
    for a category (reference level first, one indicator per other level). ``aliased``:
    terms left out because the fitting data cannot tell them from the others (a constant
    column, a level that coincides with another term); ``terms`` are the others."""

    columns: tuple[tuple[str, tuple[str, ...] | None], ...]
    terms: tuple[str, ...]
    aliased: tuple[str, ...] = ()

    @property
    def levels(self) -> dict[str, tuple[str, ...]]:
        """Category columns and their levels (reference first)."""
        return {col: lev for col, lev in self.columns if lev is not None}

    def matrix(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The design matrix (intercept first) and a mask of rows that have every value."""
        n = len(frame)
        parts: list[np.ndarray] = [np.ones((n, 1))]
        ok = np.ones(n, dtype=bool)
        for col, levels in self.columns:
            if levels is None:
                x = pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()
                ok &= np.isfinite(x)
                parts.append(x.reshape(-1, 1))
                continue
            position = _level_positions(frame[col], levels)
            ok &= position >= 0
            for k in range(1, len(levels)):
                parts.append((position == k).astype(float).reshape(-1, 1))
        x = np.hstack(parts)
        if self.aliased:
            names = ["(intercept)"]
            for col, levels in self.columns:
                names.extend([col] if levels is None else [f"{col}[{lv}]" for lv in levels[1:]])
            x = x[:, [name not in self.aliased for name in names]]
        x[~ok] = np.nan
        return x, ok

    def without_aliased(self, x: np.ndarray) -> _Design:
        """This design less the terms the rows of ``x`` (a full design matrix with every
        value) cannot identify: in order (intercept first, covariates in order), a column
        is kept unless the columns kept before it explain all but 1e-9 of its sum of
        squares (a column of zeros, a constant, a copy or a sum of others). Computed on the
        cross-product matrix, so the cost is one pass over the rows."""
        gram = x.T @ x
        norms = np.sqrt(np.diag(gram))
        kept: list[int] = []
        for j in range(x.shape[1]):
            if norms[j] == 0:
                continue
            own = 1.0
            if kept:
                scale = norms[kept]
                inner = gram[np.ix_(kept, kept)] / np.outer(scale, scale)
                cross = gram[kept, j] / (scale * norms[j])
                own = 1.0 - float(cross @ np.linalg.lstsq(inner, cross, rcond=None)[0])
            if own > 1e-9:
                kept.append(j)
        if len(kept) == x.shape[1]:
            return self
        aliased = tuple(t for j, t in enumerate(self.terms) if j not in kept)
        terms = tuple(t for j, t in enumerate(self.terms) if j in kept)
        return _Design(columns=self.columns, terms=terms, aliased=aliased)


def _design(frame: pd.DataFrame, covariates: Sequence[str]) -> _Design:
    columns: list[tuple[str, tuple[str, ...] | None]] = []
    terms = ["(intercept)"]
    for name in covariates:
        col = _column_of(name)
        if col not in frame.columns:
            raise RequestError(
                f"case mix: covariate {name!r} is not a column of the episodes or patients "
                f"table; expected one of {', '.join(sorted(map(str, frame.columns)))} or "
                "'baseline:<measure>'. Check the [casemix] covariates of the protocol."
            )
        series = frame[col]
        is_numeric = name in _NUMERIC or (
            name not in _CATEGORICAL
            and (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))
        )
        if is_numeric:
            columns.append((col, None))
            terms.append(col)
            continue
        # the distinct values first, then their text: the same set as the text of every
        # value, without a Python string per row
        present = set(series.dropna().drop_duplicates().astype(str))
        if isinstance(series.dtype, pd.CategoricalDtype):
            order = [str(c) for c in series.cat.categories if str(c) in present]
        else:
            order = sorted(present)
        columns.append((col, tuple(order)))
        terms.extend(f"{col}[{level}]" for level in order[1:])
    return _Design(columns=tuple(columns), terms=tuple(terms))


def c_statistic(observed: np.ndarray, predicted: np.ndarray) -> float:
    """The C-statistic (area under the ROC curve): the chance that a random responder has a
    higher predicted probability than a random non-responder (ties count one half).

    Examples
    --------
    >>> c_statistic(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y = np.asarray(observed, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ranks = stats.rankdata(p)
    n1 = float((y == 1).sum())
    n0 = float((y == 0).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _calibration(observed: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
    groups = min(10, len(np.unique(expected)))
    order = stats.rankdata(expected, method="ordinal")
    decile = np.ceil(order * groups / len(expected)).astype(int)
    table = (
        pd.DataFrame({"decile": decile, "expected": expected, "observed": observed})
        .groupby("decile")
        .agg(
            n=("observed", "size"),
            mean_expected=("expected", "mean"),
            mean_observed=("observed", "mean"),
        )
        .reset_index()
    )
    return table
