"""Ordinary least squares on arrays, and the covariate design columns that feed it.

The ANCOVA of :mod:`dnoutcomes.stats.ancova` builds its design matrix here and fits it
with :func:`fit_ols`; nothing in this module knows about arms, datasets or results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import NDArray
from scipy import stats as sps

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._inference import linear_combinations
from dnoutcomes.stats.results import TIDY_COLUMNS

__all__ = ["OlsFit", "design_matrix", "fit_ols"]


def design_matrix(
    frame: pd.DataFrame, *, columns: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Turn covariate columns into numeric model columns.

    Parameters
    ----------
    frame
        The analysed rows.
    columns
        Column names. Numeric and boolean columns enter as they are, and so do text
        columns whose every value is a number (extra export columns arrive as text);
        categorical and other text columns enter as 0/1 indicators of every level but the
        first (categories in their declared order, text levels sorted), named
        ``"<column>=<level>"``.

    Returns
    -------
    (pandas.DataFrame, dict)
        The float model columns (same index as ``frame``) and a map from each model column
        to the covariate it came from.

    Raises
    ------
    RequestError
        For a column holding lists (such as ``contraindications``).
    """
    parts: list[pd.DataFrame] = []
    origin: dict[str, str] = {}
    for column in columns:
        series = frame[column]
        if series.map(lambda v: isinstance(v, tuple | list)).any():
            raise RequestError(
                f"covariate {column!r} holds lists (e.g. contraindications); expected one "
                "value per episode. Derive a 0/1 or numeric column from it first."
            )
        if not isinstance(series.dtype, pd.CategoricalDtype) and not (
            pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)
        ):
            # extra export columns arrive as text: numbers stay numbers
            numbers = pd.to_numeric(series, errors="coerce")
            if numbers.notna().sum() == series.notna().sum() and series.notna().any():
                series = numbers
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            parts.append(series.astype(float).to_frame(column))
            origin[column] = column
            continue
        if isinstance(series.dtype, pd.CategoricalDtype):
            levels = [lv for lv in series.cat.categories if (series == lv).any()]
        else:
            levels = sorted(series.dropna().astype(str).unique())
            series = series.astype(str)
        dummies = pd.DataFrame(
            {f"{column}={lv}": (series == lv).astype(float) for lv in levels[1:]},
            index=frame.index,
        )
        parts.append(dummies)
        origin.update(dict.fromkeys(dummies.columns, column))
    if not parts:
        return pd.DataFrame(index=frame.index), origin
    return pd.concat(parts, axis=1), origin


@dataclass(frozen=True, eq=False)
class OlsFit:
    """An OLS fit: the tidy coefficient table and what predictions need.

    Attributes
    ----------
    coefficients
        One row per column of the design: ``term``, ``estimate``, ``std_error``,
        ``statistic`` (t), ``df``, ``p_value``, ``conf_low``, ``conf_high``.
    params, cov
        β̂ and its estimated covariance σ̂²(XᵀX)⁻¹.
    df_resid
        n − p.
    tcrit
        The t quantile of the intervals, t_{n−p, (1 + conf_level) / 2}.
    """

    coefficients: pd.DataFrame
    params: NDArray[np.float64]
    cov: NDArray[np.float64]
    df_resid: float
    tcrit: float

    def predict(self, grid: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Linear predictions at the rows of ``grid`` and their standard errors.

        Parameters
        ----------
        grid
            One row per prediction, one column per design column.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            gβ̂ and sqrt(g Var(β̂) gᵀ) for each row g.
        """
        return linear_combinations(grid, self.params, self.cov)


def fit_ols(
    x: NDArray[np.floating[Any]],
    y: NDArray[np.floating[Any]],
    *,
    terms: Sequence[str],
    conf_level: float,
) -> OlsFit:
    """Fit y = Xβ + ε by ordinary least squares with classical t inference.

    Parameters
    ----------
    x
        The n × p design matrix, of full column rank (the caller checks).
    y
        The n outcomes.
    terms
        A name for each column of ``x``.
    conf_level
        Confidence level of the t-intervals, in (0, 1).

    Returns
    -------
    OlsFit

    Notes
    -----
    β̂ = (XᵀX)⁻¹Xᵀy, σ̂² = RSS / (n − p), Var(β̂) = σ̂²(XᵀX)⁻¹ (statsmodels ``OLS``);
    t = β̂ / SE with n − p df. A perfect fit (SE 0) gives t = ±inf or NaN without a
    warning. No missing values are allowed: the caller keeps complete rows.
    """
    fit = sm.OLS(y, x).fit()
    params = np.asarray(fit.params)
    cov = np.asarray(fit.cov_params())
    se = np.sqrt(np.diag(cov))
    df_resid = float(fit.df_resid)
    tcrit = float(sps.t.ppf(0.5 + conf_level / 2, df_resid))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = params / se  # se = 0 only for a perfect fit: t is then inf or NaN
    pvals = 2 * sps.t.sf(np.abs(tstat), df_resid)
    coefficients = pd.DataFrame(
        {
            "term": list(terms),
            "estimate": params,
            "std_error": se,
            "statistic": tstat,
            "df": df_resid,
            "p_value": pvals,
            "conf_low": params - tcrit * se,
            "conf_high": params + tcrit * se,
        },
        columns=list(TIDY_COLUMNS),
    )
    return OlsFit(coefficients=coefficients, params=params, cov=cov, df_resid=df_resid, tcrit=tcrit)
