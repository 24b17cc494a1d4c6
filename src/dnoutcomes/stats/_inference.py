"""Inference pieces shared by the analyses: the confidence-level check, normal critical
values and linear combinations of estimated coefficients."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as sps

from dnoutcomes.errors import RequestError
from dnoutcomes.stats.results import TIDY_COLUMNS

__all__ = [
    "check_conf_level",
    "check_threshold",
    "linear_combinations",
    "wald_table",
    "z_critical",
]


def check_conf_level(conf_level: float, *, where: str = "") -> None:
    """Raise :class:`~dnoutcomes.errors.RequestError` unless 0 < ``conf_level`` < 1.

    Parameters
    ----------
    conf_level
        The requested confidence level.
    where
        The function or analysis asking, named at the start of the message.

    Raises
    ------
    RequestError
        For a level outside the open interval (0, 1).
    """
    if not 0 < conf_level < 1:
        raise RequestError(
            f"{where + ': ' if where else ''}conf_level must lie strictly between 0 and 1; "
            f"got {conf_level!r}. "
            "Use e.g. 0.95 for 95 % intervals."
        )


def check_threshold(threshold: float | None, *, where: str) -> None:
    """Raise :class:`~dnoutcomes.errors.RequestError` unless a response threshold given by
    the caller is a finite number above 0 (``None``, the registry's MCID, passes).

    Parameters
    ----------
    threshold
        The improvement that counts as a response (points or percent), or ``None``.
    where
        The analysis asking, named at the start of the message.

    Raises
    ------
    RequestError
        For NaN, an infinite value or a value of 0 or less (which would count no
        improvement, or a worsening, as a response).
    """
    if threshold is None:
        return
    if not (isinstance(threshold, Real) and math.isfinite(threshold) and threshold > 0):
        raise RequestError(
            f"{where}: threshold must be a finite number above 0 (the improvement that counts "
            f"as a response); got {threshold!r}. Pass e.g. threshold=2, or leave it out to "
            "use the measure's MCID."
        )


def z_critical(conf_level: float) -> float:
    """The two-sided normal critical value z_{(1 + conf_level) / 2}, after the level check.

    Parameters
    ----------
    conf_level
        The requested confidence level, in (0, 1).

    Returns
    -------
    float
        Φ⁻¹(0.5 + conf_level / 2), e.g. 1.959964 for 0.95.

    Raises
    ------
    RequestError
        For a level outside the open interval (0, 1).
    """
    check_conf_level(conf_level)
    return float(sps.norm.ppf(0.5 + conf_level / 2))


def linear_combinations(
    contrasts: NDArray[np.float64], coef: NDArray[np.float64], cov: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Estimates and standard errors of the linear combinations Lβ̂, one per row of L.

    Parameters
    ----------
    contrasts
        The k × p matrix L.
    coef, cov
        The estimates β̂ (length p) and their covariance matrix (p × p).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lβ̂ and sqrt(diag(L Cov(β̂) Lᵀ)), each of length k.
    """
    estimate = contrasts @ coef
    std_error = np.sqrt(np.einsum("ij,jk,ik->i", contrasts, cov, contrasts))
    return estimate, std_error


def wald_table(
    terms: Sequence[str],
    estimate: NDArray[np.float64],
    std_error: NDArray[np.float64],
    z: float,
) -> pd.DataFrame:
    """The tidy coefficient table of estimates with normal (Wald) inference.

    Parameters
    ----------
    terms
        A name per coefficient.
    estimate, std_error
        The estimates and their standard errors.
    z
        The normal critical value of the intervals (see :func:`z_critical`).

    Returns
    -------
    pandas.DataFrame
        One row per term: ``term``, ``estimate``, ``std_error``, ``statistic`` (Wald z =
        estimate / std_error), ``df`` (NaN: normal reference distribution), ``p_value``
        (2 (1 − Φ(|z|))), ``conf_low``, ``conf_high`` (estimate ∓ z · std_error).
    """
    statistic = estimate / std_error
    return pd.DataFrame(
        {
            "term": list(terms),
            "estimate": estimate,
            "std_error": std_error,
            "statistic": statistic,
            "df": np.full(len(terms), np.nan),
            "p_value": 2.0 * sps.norm.sf(np.abs(statistic)),
            "conf_low": estimate - z * std_error,
            "conf_high": estimate + z * std_error,
        },
        columns=list(TIDY_COLUMNS),
    )
