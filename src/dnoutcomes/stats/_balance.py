"""Covariate balance between two arms: numeric covariate columns, standardised mean
differences before and after weighting, and the balance table of the IPTW analysis
(re-exported by :mod:`dnoutcomes.stats.iptw`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.errors import RequestError

__all__ = [
    "BALANCE_THRESHOLD",
    "balance_table",
    "indicator_columns",
    "standardized_mean_differences",
]

#: |SMD| below this is called balanced.
BALANCE_THRESHOLD = 0.1


def indicator_columns(
    frame: pd.DataFrame, *, continuous: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """Covariates as numeric columns: each continuous one as is, each level of a categorical
    one (levels present in ``frame``, sorted) as a 0/1 column named ``"<column>=<level>"``.

    Parameters
    ----------
    frame
        One row per episode.
    continuous, categorical
        Column names.

    Returns
    -------
    pandas.DataFrame
        Float columns in the order: continuous, then each categorical's levels.

    Raises
    ------
    RequestError
        A column that is not in ``frame`` (the message lists those that are).

    Notes
    -----
    Missing values of a continuous column stay NaN; a missing categorical value becomes
    its own level ``"<column>=nan"``. Drop incomplete rows first.
    """
    missing = [c for c in [*continuous, *categorical] if c not in frame.columns]
    if missing:
        raise RequestError(
            f"covariates: column(s) {', '.join(missing)} not found; the frame has "
            f"{', '.join(map(str, frame.columns))}. Name existing columns."
        )
    parts: dict[str, NDArray[np.float64]] = {
        name: frame[name].to_numpy(dtype=np.float64) for name in continuous
    }
    for name in categorical:
        values = frame[name].astype(str).to_numpy()
        for level in sorted(set(values.tolist())):
            parts[f"{name}={level}"] = (values == level).astype(np.float64)
    return pd.DataFrame(parts, index=frame.index)


def standardized_mean_differences(
    covariates: pd.DataFrame, treated: ArrayLike, weights: ArrayLike | None = None
) -> pd.Series:
    """Standardised mean difference of every covariate column, comparator minus reference.

    Parameters
    ----------
    covariates
        Numeric columns (0/1 columns for categorical levels), one row per episode.
    treated
        1 for comparator episodes, 0 for reference ones.
    weights
        Episode weights for the means (``None``: all 1, the "before" balance).

    Returns
    -------
    pandas.Series
        SMD per column (index: the column names).

    Notes
    -----
    ``SMD = (mean_w,c - mean_w,r) / sqrt((s2_c + s2_r) / 2)``, with weighted means and the
    *unweighted* sample variances of each arm (``n - 1`` denominator, binary columns too),
    so that before and after share one denominator. A column constant in both arms has SMD
    0 when its means agree (they then must). No missing values are allowed.

    Raises
    ------
    RequestError
        Lengths that differ, ``treated`` not 0/1, missing values, fewer than two rows in
        an arm.
    """
    t, x = _check_arms_and_covariates(covariates, treated, "standardized_mean_differences")
    w = np.ones_like(t) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != t.shape or not np.isfinite(w).all() or (w < 0).any():
        raise RequestError(
            "standardized_mean_differences: weights must be finite, >= 0 and one per row; "
            f"got {w.shape[0]} weights for {t.shape[0]} rows."
        )
    c, r = t == 1.0, t == 0.0
    mean_c = (w[c] @ x[c]) / w[c].sum()
    mean_r = (w[r] @ x[r]) / w[r].sum()
    pooled = np.sqrt((x[c].var(axis=0, ddof=1) + x[r].var(axis=0, ddof=1)) / 2.0)
    diff = mean_c - mean_r
    with np.errstate(divide="ignore", invalid="ignore"):
        smd = np.where(pooled > 0, diff / np.where(pooled > 0, pooled, 1.0), 0.0)
    return pd.Series(smd, index=covariates.columns, dtype=np.float64)


def _check_arms_and_covariates(
    covariates: pd.DataFrame, treated: ArrayLike, where: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = np.asarray(treated, dtype=np.float64)
    x = covariates.to_numpy(dtype=np.float64)
    if t.ndim != 1 or t.shape[0] != x.shape[0]:
        raise RequestError(
            f"{where}: treated must hold one 0/1 value per covariate row; got {t.shape[0]} "
            f"values for {x.shape[0]} rows."
        )
    if not np.isin(t, (0.0, 1.0)).all():
        raise RequestError(f"{where}: treated must be 0 (reference) or 1 (comparator).")
    if not np.isfinite(x).all():
        raise RequestError(
            f"{where}: the covariates have missing or infinite values; drop incomplete rows."
        )
    counts = (int((t == 0).sum()), int((t == 1).sum()))
    if min(counts) < 2:
        raise RequestError(
            f"{where}: each arm needs at least 2 rows; got {counts[0]} reference and "
            f"{counts[1]} comparator rows."
        )
    return t, x


def balance_table(covariates: pd.DataFrame, treated: ArrayLike, weights: ArrayLike) -> pd.DataFrame:
    """Balance before and after weighting.

    Returns
    -------
    pandas.DataFrame
        ``covariate`` (str), ``smd_before``, ``smd_after`` (float), ``balanced_after``
        (bool: ``|smd_after| < 0.1``).
    """
    before = standardized_mean_differences(covariates, treated)
    after = standardized_mean_differences(covariates, treated, weights)
    return pd.DataFrame(
        {
            "covariate": list(covariates.columns),
            "smd_before": before.to_numpy(),
            "smd_after": after.to_numpy(),
            "balanced_after": (after.abs() < BALANCE_THRESHOLD).to_numpy(),
        }
    )
