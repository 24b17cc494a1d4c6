"""Cluster-robust (sandwich) covariance of an ordinary or weighted least-squares fit, for
episodes nested in therapists or sites (section 10 of the analysis plan).

:func:`cluster_vcov` is the array-level function the ANCOVA and IPTW code call with their
design matrix, residuals, weights and a cluster id per row.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.errors import InsufficientDataError, RequestError

__all__ = ["ClusterType", "cluster_vcov"]

#: ``"HC1"``: CR1, the default of R's ``sandwich::vcovCL``; ``"HC0"``: the G/(G-1)
#: adjustment only.
ClusterType = Literal["HC0", "HC1"]


def cluster_vcov(
    design: ArrayLike,
    resid: ArrayLike,
    cluster: ArrayLike,
    weights: ArrayLike | None = None,
    type: ClusterType = "HC1",
) -> NDArray[np.float64]:
    """Cluster-robust covariance of (weighted) least-squares coefficients.

    Parameters
    ----------
    design
        The n x k design matrix X of the fit (with its intercept column).
    resid
        The n residuals ``y - X beta`` (unweighted).
    cluster
        One cluster id per row (therapist, site...); any hashable values, no missing ones.
    weights
        Case weights of a weighted fit (``None``: ordinary least squares).
    type
        ``"HC1"`` (default; CR1) or ``"HC0"``.

    Returns
    -------
    numpy.ndarray
        The k x k covariance matrix.

    Raises
    ------
    RequestError
        Shapes that disagree, missing or non-finite values, negative weights, an unknown
        ``type``.
    InsufficientDataError
        Fewer than 2 clusters.

    Notes
    -----
    With bread ``B = (X'WX)^-1`` and the score of cluster g ``u_g = sum_{i in g} w_i x_i e_i``,

    ``V = c B (sum_g u_g u_g') B``,  ``c = G / (G - 1)`` for HC0 and
    ``c = G / (G - 1) * (n - 1) / (n - k)`` for HC1,

    as R's ``sandwich::vcovCL(fit, cluster = ~ id, type = "HC1")`` (``cadjust = TRUE``)
    computes it, ``G`` the number of clusters, ``n`` the rows with a positive weight and
    ``k`` the columns of X (Cameron & Miller 2015).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.column_stack([np.ones(6), [0, 1, 0, 1, 0, 1]])
    >>> resid = np.array([0.5, -0.5, 1.0, -1.0, -1.5, 1.5])
    >>> v = cluster_vcov(x, resid, cluster=["a", "a", "b", "b", "c", "c"])
    >>> v.shape
    (2, 2)
    """
    if type not in ("HC0", "HC1"):
        raise RequestError(f"cluster_vcov: type must be 'HC0' or 'HC1'; got {type!r}.")
    x = np.asarray(design, dtype=np.float64)
    e = np.asarray(resid, dtype=np.float64)
    if x.ndim != 2 or e.ndim != 1 or x.shape[0] != e.shape[0]:
        raise RequestError(
            "cluster_vcov: design must be n x k and resid of length n; got design "
            f"{x.shape} and resid {e.shape}."
        )
    n_rows, k = x.shape
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    ids = pd.Series(np.asarray(cluster, dtype=object))
    if w.shape != (n_rows,) or len(ids) != n_rows:
        raise RequestError(
            f"cluster_vcov: weights and cluster need one value per row ({n_rows}); got "
            f"{w.shape[0]} weights and {len(ids)} cluster ids."
        )
    if not (np.isfinite(x).all() and np.isfinite(e).all() and np.isfinite(w).all()):
        raise RequestError("cluster_vcov: design, resid and weights must be finite.")
    if (w < 0).any() or ids.isna().any():
        raise RequestError(
            "cluster_vcov: weights must be >= 0 and every row needs a cluster id; drop the "
            "rows without one first."
        )
    codes, uniques = pd.factorize(ids)
    n_clusters = len(uniques)
    if n_clusters < 2:
        raise InsufficientDataError(
            f"cluster_vcov: {n_clusters} cluster; cluster-robust errors need at least 2 "
            "(and are unreliable below about 30)."
        )
    xw = x * w[:, None]
    bread = np.linalg.inv(x.T @ xw)
    scores = np.zeros((n_clusters, k))
    np.add.at(scores, codes, xw * e[:, None])
    meat = scores.T @ scores
    adjust = n_clusters / (n_clusters - 1.0)
    if type == "HC1":
        n = int((w > 0).sum())
        adjust *= (n - 1.0) / (n - k)
    vcov: NDArray[np.float64] = adjust * (bread @ meat @ bread)
    return vcov
