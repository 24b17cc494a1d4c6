"""Model columns a site can sum and a network can pool: every level of a categorical
covariate gets its own 0/1 column (the reference level is chosen after pooling, as the
row-level :func:`~dnoutcomes.stats.ancova.design_matrix` chooses it on the whole data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError

__all__ = ["Column", "full_design"]


@dataclass(frozen=True)
class Column:
    """One model column of the full design.

    Attributes
    ----------
    name
        ``intercept``, ``arm``, ``baseline``, a numeric covariate, or ``"<covariate>=<level>"``.
    covariate
        The covariate it comes from (the name itself for the three fixed columns).
    level
        The level of a categorical column, else ``None``.
    order
        Sort key of the level among the covariate's levels (declared category order, or
        text order), so that the pooled reference level is the row-level one.
    """

    name: str
    covariate: str
    level: str | None = None
    order: str = ""


def _as_numbers(series: pd.Series) -> pd.Series | None:
    """The series as floats when it is numeric, boolean, or text whose every value is a
    number (the rule of :func:`~dnoutcomes.stats.ancova.design_matrix`); else ``None``."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().sum() == series.notna().sum() and series.notna().any():
        return numbers.astype(float)
    return None


def full_design(frame: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[Column]]:
    """The full design ``[1, arm, baseline, covariates…]`` of complete rows.

    Parameters
    ----------
    frame
        Complete rows with ``treated``, ``baseline`` and the covariate columns.
    covariates
        Covariate names.

    Returns
    -------
    (numpy.ndarray, list of Column)
        The n × p matrix and its columns. A categorical covariate contributes one column per
        level seen in ``frame`` (no level dropped).

    Raises
    ------
    RequestError
        For a covariate holding lists.
    """
    blocks = [
        np.ones(len(frame)),
        frame["treated"].to_numpy(dtype=float),
        frame["baseline"].to_numpy(dtype=float),
    ]
    columns = [
        Column("intercept", "intercept"),
        Column("arm", "arm"),
        Column("baseline", "baseline"),
    ]
    for name in covariates:
        series = frame[name]
        if series.map(lambda v: isinstance(v, tuple | list)).any():
            raise RequestError(
                f"covariate {name!r} holds lists (e.g. contraindications); expected one "
                "value per episode. Derive a 0/1 or numeric column from it first."
            )
        numbers = _as_numbers(series)
        if numbers is not None:
            blocks.append(numbers.to_numpy(dtype=float))
            columns.append(Column(name, name))
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = [str(c) for c in series.cat.categories]
            rank = {c: f"{i:06d}" for i, c in enumerate(cats)}
            text = series.astype(str)
            levels = [c for c in cats if (text == c).any()]
        else:
            text = series.astype(str)
            levels = sorted(text.unique())
            rank = {c: c for c in levels}
        for level in levels:
            blocks.append((text == level).to_numpy(dtype=float))
            columns.append(Column(f"{name}={level}", name, level, rank[level]))
    return np.column_stack(blocks), columns
