"""Standardised mean differences between two groups, on plain arrays (re-exported by
:mod:`dnoutcomes.stats.descriptives`).

A categorical SMD stays correct when a level is absent from one arm (its share there is 0,
not dropped).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = ["smd_categorical", "smd_continuous"]


def smd_continuous(reference: ArrayLike, comparator: ArrayLike) -> float:
    """Standardised mean difference of a numeric variable, comparator minus reference.

    Parameters
    ----------
    reference, comparator
        Values of each group; missing values are ignored.

    Returns
    -------
    float
        (x̄_c − x̄_r) / √((s²_c + s²_r) / 2) with sample variances (n − 1); 0 when both
        variances are 0 and the means are equal; NaN when a group has fewer than 2 values.

    Examples
    --------
    >>> round(smd_continuous([1, 2, 3], [2, 3, 4]), 3)
    1.0
    """
    r = pd.Series(reference, dtype=float).dropna().to_numpy()
    c = pd.Series(comparator, dtype=float).dropna().to_numpy()
    if len(r) < 2 or len(c) < 2:
        return math.nan
    diff = float(c.mean() - r.mean())
    pooled = math.sqrt((float(c.var(ddof=1)) + float(r.var(ddof=1))) / 2)
    return _scaled(diff, pooled)


def smd_categorical(reference: ArrayLike, comparator: ArrayLike) -> float:
    """Standardised difference of a categorical variable over all its levels.

    Parameters
    ----------
    reference, comparator
        Labels of each group; missing values are ignored.

    Returns
    -------
    float
        The multivariate SMD of Yang & Dalton (2012), ≥ 0; NaN when a group is empty;
        infinite when the groups do not overlap at all (each has a single, different
        level), where S below is singular in the direction of the difference.

    Notes
    -----
    Levels are the union of the levels seen in either group, so a level absent from one
    group enters with a share of 0 there (rather than misaligning the vectors). With p_c
    and p_r the shares of every level but the first, and
    S = [diag(p_c) − p_c p_cᵀ + diag(p_r) − p_r p_rᵀ] / 2,
    SMD = √((p_c − p_r)ᵀ S⁻¹ (p_c − p_r)). For two levels this is the binary SMD
    |p_c − p_r| / √((p_c(1 − p_c) + p_r(1 − p_r)) / 2). A single level gives 0.

    Examples
    --------
    A level ("b") missing from the comparator still counts:

    >>> round(smd_categorical(["a", "a", "b", "c"], ["a", "c", "c", "c"]), 3)
    1.283
    """
    r = pd.Series(reference, dtype=object).dropna().astype(str)
    c = pd.Series(comparator, dtype=object).dropna().astype(str)
    counts_r = {str(k): int(n) for k, n in r.value_counts().items()}
    counts_c = {str(k): int(n) for k, n in c.value_counts().items()}
    return smd_categorical_counts(counts_r, counts_c)


def smd_categorical_counts(reference: dict[str, int], comparator: dict[str, int]) -> float:
    """:func:`smd_categorical` from each group's count of every label.

    Parameters
    ----------
    reference, comparator
        ``{label: count}`` of each group (labels as text; missing values not counted).

    Returns
    -------
    float
        The same number :func:`smd_categorical` gives for labels with these counts.
    """
    total_r = sum(reference.values())
    total_c = sum(comparator.values())
    if total_r == 0 or total_c == 0:
        return math.nan
    levels = sorted(
        k for k in set(reference) | set(comparator) if reference.get(k, 0) + comparator.get(k, 0)
    )
    if len(levels) < 2:
        return 0.0
    pr = np.array([reference.get(k, 0) for k in levels], dtype=np.float64)[1:] / total_r
    pc = np.array([comparator.get(k, 0) for k in levels], dtype=np.float64)[1:] / total_c
    return smd_shares(pr, pc)


def smd_shares(pr: np.ndarray, pc: np.ndarray) -> float:
    """The multi-level SMD of :func:`smd_categorical` from the shares of every level but the
    first (levels in text order), reference ``pr`` and comparator ``pc``; the network
    pooling (:mod:`dnoutcomes.network`) computes it from pooled counts."""
    s = (np.diag(pc) - np.outer(pc, pc) + np.diag(pr) - np.outer(pr, pr)) / 2
    d = pc - pr
    if not d.any():
        return 0.0
    s_inv = np.linalg.pinv(s)
    if np.abs(d - s @ s_inv @ d).max() > 1e-9:
        # the arms share no variation along d (e.g. each arm has a single, different
        # level): the distributions are separated and the SMD is infinite
        return math.inf
    value = float(d @ s_inv @ d)
    return math.sqrt(max(value, 0.0))


def _binary_smd(p_ref: float, p_comp: float) -> float:
    if math.isnan(p_ref) or math.isnan(p_comp):
        return math.nan
    pooled = math.sqrt((p_ref * (1 - p_ref) + p_comp * (1 - p_comp)) / 2)
    diff = p_comp - p_ref
    return _scaled(diff, pooled)


def _scaled(diff: float, pooled: float) -> float:
    """``diff / pooled``; with ``pooled == 0``, 0 for no difference and ±inf otherwise."""
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / pooled
