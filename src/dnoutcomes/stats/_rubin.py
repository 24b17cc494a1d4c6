"""Rubin's rules: pool estimates from multiply imputed data sets, with the Barnard–Rubin
small-sample degrees of freedom (as R's ``mice::pool``; re-exported by
:mod:`dnoutcomes.stats.mi`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats.results import TIDY_COLUMNS

__all__ = ["POOL_COLUMNS", "barnard_rubin_df", "pool_rubin"]

#: Columns of :func:`pool_rubin`'s frame after the tidy ones.
POOL_COLUMNS: tuple[str, ...] = ("ubar", "b", "t", "dfcom", "riv", "lambda_", "fmi", "m")

#: mice's floor on lambda inside the df formula (``barnard.rubin``).
_LAMBDA_FLOOR = 1e-4


def barnard_rubin_df(
    m: int, b: NDArray[np.float64], t: NDArray[np.float64], dfcom: float
) -> NDArray[np.float64]:
    """Barnard–Rubin (1999) degrees of freedom of a pooled estimate.

    Parameters
    ----------
    m
        Number of imputations.
    b, t
        Between-imputation variance and total variance of each estimate.
    dfcom
        Degrees of freedom of the complete-data analysis (``inf`` for a normal-theory
        estimate such as a risk difference or an HC0 sandwich SE).

    Returns
    -------
    numpy.ndarray
        ν = ν_old ν_obs / (ν_old + ν_obs), with λ = (1 + 1/m) b / t (at least 1e-4, as
        mice), ν_old = (m − 1) / λ², ν_obs = (ν_com + 1) / (ν_com + 3) ν_com (1 − λ); for
        ν_com = ∞, ν = ν_old (Rubin 1987).

    Examples
    --------
    λ = 1.2 · 0.5 / 1.6 = 0.375, ν_old = 4 / 0.375² = 28.44, ν_obs = 101/103 · 100 · 0.625
    = 61.29:

    >>> round(float(barnard_rubin_df(5, np.array([0.5]), np.array([1.6]), 100.0)[0]), 4)
    19.4276
    """
    lam = np.maximum((1.0 + 1.0 / m) * b / t, _LAMBDA_FLOOR)
    dfold = (m - 1) / lam**2
    if math.isinf(dfcom):
        return np.asarray(dfold, dtype=np.float64)
    dfobs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
    return np.asarray(dfold * dfobs / (dfold + dfobs), dtype=np.float64)


def pool_rubin(
    estimates: ArrayLike,
    variances: ArrayLike,
    *,
    dfcom: float,
    terms: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Pool per-imputation estimates and their variances by Rubin's rules.

    Parameters
    ----------
    estimates
        m × k array (or length-m vector for one term): the estimate of each term in each
        imputed data set.
    variances
        The same shape: each estimate's squared standard error.
    dfcom
        Complete-data degrees of freedom (``n − p`` for OLS; ``inf`` for normal-theory
        estimates).
    terms
        A name per column (``term_1``… when omitted).
    conf_level
        Level of the t intervals.

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term``, ``estimate`` (q̄), ``std_error`` (√T), ``statistic``
        (q̄/√T), ``df`` (Barnard–Rubin), ``p_value`` (two-sided t), ``conf_low``,
        ``conf_high``, then ``ubar``, ``b``, ``t``, ``dfcom``, ``riv``, ``lambda_``,
        ``fmi``, ``m``.

    Raises
    ------
    RequestError
        Fewer than 2 imputations, shapes that differ, non-finite inputs or negative
        variances, a ``dfcom`` of 0 or less, a ``conf_level`` outside (0, 1).

    Notes
    -----
    With Q̂ₗ, Uₗ the estimate and variance from imputed set l = 1…m (Rubin 1987;
    van Buuren 2018, §2.3):

    * q̄ = Σ Q̂ₗ / m, ū = Σ Uₗ / m, b = Σ (Q̂ₗ − q̄)² / (m − 1), T = ū + (1 + 1/m) b;
    * riv r = (1 + 1/m) b / ū, λ = (1 + 1/m) b / T;
    * df ν by :func:`barnard_rubin_df` (Barnard & Rubin 1999);
    * fmi γ = (r + 2 / (ν + 3)) / (r + 1);
    * the p-value uses the t distribution with max(ν, 0.001) df, the interval
      q̄ ± t_{ν, (1 + conf_level)/2} √T.

    These are the formulas of ``mice::pool`` (mice 3.15, rule ``"rubin1987"``); the tests
    check them against it at 1e-6.

    Examples
    --------
    q̄ = 1.1, b = 0.025, T = 0.04 + 1.2 · 0.025 = 0.07:

    >>> frame = pool_rubin([1.0, 1.2, 0.9, 1.1, 1.3], [0.04] * 5, dfcom=50, terms=["arm"])
    >>> round(float(frame.loc[0, "estimate"]), 3), round(float(frame.loc[0, "std_error"]), 4)
    (1.1, 0.2646)
    """
    check_conf_level(conf_level, where="pool_rubin")
    q = np.asarray(estimates, dtype=np.float64)
    u = np.asarray(variances, dtype=np.float64)
    if q.ndim == 1:
        q = q[:, None]
    if u.ndim == 1:
        u = u[:, None]
    if q.shape != u.shape or q.ndim != 2:
        raise RequestError(
            f"pool_rubin: estimates and variances must be m x k arrays of one shape; got "
            f"{q.shape} and {u.shape}. Pass one row per imputed data set."
        )
    m, k = q.shape
    if m < 2:
        raise RequestError(
            f"pool_rubin: Rubin's rules need at least 2 imputed data sets; got {m}. "
            "Impute with m >= 2 (20 is the default)."
        )
    if not (np.isfinite(q).all() and np.isfinite(u).all() and (u >= 0).all()):
        raise RequestError(
            "pool_rubin: estimates and variances must be finite, variances >= 0; got "
            "NaN, infinite or negative values. Check the per-imputation fits."
        )
    if not dfcom > 0:
        raise RequestError(f"pool_rubin: dfcom must be above 0 (n - p, or inf); got {dfcom!r}.")
    names = list(terms) if terms is not None else [f"term_{i + 1}" for i in range(k)]
    if len(names) != k:
        raise RequestError(f"pool_rubin: {len(names)} term names for {k} columns of estimates.")
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1.0 + 1.0 / m) * b
    df = barnard_rubin_df(m, b, t, float(dfcom))
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1.0 + 1.0 / m) * b / ubar
        lam = (1.0 + 1.0 / m) * b / t
        fmi = (riv + 2.0 / (df + 3.0)) / (riv + 1.0)
        se = np.sqrt(t)
        statistic = qbar / se
    p_value = 2.0 * sps.t.sf(np.abs(statistic), np.maximum(df, 0.001))
    crit = sps.t.ppf(0.5 + conf_level / 2.0, df)
    frame = pd.DataFrame(
        {
            "term": names,
            "estimate": qbar,
            "std_error": se,
            "statistic": statistic,
            "df": df,
            "p_value": p_value,
            "conf_low": qbar - crit * se,
            "conf_high": qbar + crit * se,
            "ubar": ubar,
            "b": b,
            "t": t,
            "dfcom": float(dfcom),
            "riv": riv,
            "lambda_": lam,
            "fmi": fmi,
            "m": m,
        },
        columns=[*TIDY_COLUMNS, *POOL_COLUMNS],
    )
    return frame
