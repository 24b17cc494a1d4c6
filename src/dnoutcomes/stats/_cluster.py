"""Cluster-robust (sandwich) covariance of an ordinary or weighted least-squares fit, for
episodes nested in therapists or sites (section 10 of the analysis plan).

:func:`cluster_vcov` is the array-level function the ANCOVA and IPTW code call with their
design matrix, residuals, weights and a cluster id per row; :func:`cr2_vcov` gives the
small-sample CR2 (Bell–McCaffrey) covariance with Satterthwaite degrees of freedom.

References
----------
Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear regression with
multi-stage samples. *Survey Methodology* 28, 169–181.
Cameron AC, Miller DL (2015). A practitioner's guide to cluster-robust inference. *J Hum
Resour* 50, 317–372.
Imbens GW, Kolesár M (2016). Robust standard errors in small samples: some practical
advice. *Rev Econ Stat* 98, 701–712.
Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. *J Bus Econ Stat* 36, 672–683.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.errors import InsufficientDataError, RequestError

__all__ = ["ClusterType", "cluster_vcov", "cr2_vcov"]

#: ``"HC1"``: CR1, the default of R's ``sandwich::vcovCL``; ``"HC0"``: the G/(G-1)
#: adjustment only; ``"CR2"``: Bell and McCaffrey's bias-reduced estimator (as R's
#: ``clubSandwich::vcovCR(type = "CR2")``), with Satterthwaite df.
ClusterType = Literal["HC0", "HC1", "CR2"]

_EIGEN_TOL = 1e-12  # eigenvalues below this are treated as 0 (clubSandwich's matrix_power)


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
        ``"HC1"`` (default; CR1), ``"HC0"`` or ``"CR2"`` (:func:`cr2_vcov`).

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
    if type not in ("HC0", "HC1", "CR2"):
        raise RequestError(f"cluster_vcov: type must be 'HC0', 'HC1' or 'CR2'; got {type!r}.")
    if type == "CR2":
        return cr2_vcov(design, resid, cluster, weights)[0]
    x, e, w, codes, n_clusters = _checked(design, resid, cluster, weights, "cluster_vcov")
    k = x.shape[1]
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


def cr2_vcov(
    design: ArrayLike,
    resid: ArrayLike,
    cluster: ArrayLike,
    weights: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """CR2 (bias-reduced, Bell–McCaffrey) cluster-robust covariance of (weighted)
    least-squares coefficients and the Satterthwaite df of each coefficient.

    Parameters
    ----------
    design
        The n x k design matrix X of the fit (with its intercept column).
    resid
        The n residuals ``y - X beta`` (unweighted).
    cluster
        One cluster id per row; no missing ones.
    weights
        Case weights of a weighted fit (``None``: ordinary least squares).

    Returns
    -------
    (vcov, df)
        The k x k covariance matrix and, per coefficient, the Satterthwaite degrees of
        freedom of its t statistic.

    Raises
    ------
    RequestError
        Shapes that disagree, missing or non-finite values, negative weights.
    InsufficientDataError
        Fewer than 2 clusters.

    Notes
    -----
    With ``M = (X'WX)^-1``, ``H = X M X'W`` and the working covariance ``Phi = I`` (the
    "target" of clubSandwich), each cluster's residuals are multiplied by
    ``A_g = B_g^{-1/2}``, ``B_g = [(I - H) (I - H)']_gg``
    (``= I - X_g M X_g'`` without weights), so that the estimator is unbiased when the
    working model holds (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018):

    ``V = M {sum_g X_g'W_g A_g e_g e_g' A_g W_g X_g} M``.

    A zero eigenvalue of ``B_g`` (a cluster whose rows fix a coefficient, e.g. the only
    cluster of one arm) gets a zero in the inverse square root, as clubSandwich does. The
    df of ``c' beta`` are ``(tr Omega)^2 / tr(Omega^2)`` with
    ``Omega_gh = q_g'q_h`` and ``q_g' = c'M X_g'W_g A_g (I - H)_g.``: the Satterthwaite
    approximation under the working model (Bell & McCaffrey 2002; it is Imbens & Kolesár's
    2016 df with ``Omega = I``). This equals R's
    ``clubSandwich::vcovCR(fit, cluster = id, type = "CR2")`` and
    ``coef_test(fit, vcov = "CR2", cluster = id, test = "Satterthwaite")`` (weighted fits:
    ``lm(..., weights = w)``, whose default target is also ``I``). ``B_g`` is the identity
    plus a rank-2k update, so ``A_g`` is applied through a k-column QR, never as an
    ``n_g x n_g`` matrix.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.column_stack([np.ones(6), [0, 1, 0, 1, 0, 1]])
    >>> resid = np.array([0.5, -0.5, 1.0, -1.0, -1.5, 1.5])
    >>> v, df = cr2_vcov(x, resid, cluster=["a", "a", "b", "b", "c", "c"])
    >>> v.shape, df.shape
    ((2, 2), (2,))
    """
    x, e, w, codes, n_clusters = _checked(design, resid, cluster, weights, "cr2_vcov")
    k = x.shape[1]
    xw = x * w[:, None]
    m = np.linalg.inv(x.T @ xw)
    kk = xw.T @ xw  # X'W^2X
    c_mat = np.block([[m @ kk @ m, -m], [-m, np.zeros((k, k))]])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_clusters + 1))
    comps = np.empty((n_clusters, k))
    a_sq = np.empty((n_clusters, k))  # |a_g|^2 per coefficient
    u = np.empty((n_clusters, k, k))  # X_g'W_g a_g (rows: design columns; cols: coefficients)
    b = np.empty((n_clusters, k, k))  # M X_g' a_g
    for g in range(n_clusters):  # over clusters, each a block of rows
        rows = order[bounds[g] : bounds[g + 1]]
        xg, wg = x[rows], w[rows]
        half = _inverse_sqrt(np.column_stack([xg, xg * wg[:, None]]), c_mat)
        comps[g] = (xg * wg[:, None]).T @ half(e[rows])
        a_g = half((xg * wg[:, None]) @ m)  # n_g x k: A_g W_g X_g M, one column per coefficient
        a_sq[g] = (a_g**2).sum(axis=0)
        u[g] = (xg * wg[:, None]).T @ a_g
        b[g] = m @ xg.T @ a_g
    vcov: NDArray[np.float64] = m @ (comps.T @ comps) @ m
    cross = np.einsum("gdj,hdj->jgh", u, b)
    omega = -cross - cross.transpose(0, 2, 1) + np.einsum("gdj,de,hej->jgh", b, kk, b)
    omega[:, np.arange(n_clusters), np.arange(n_clusters)] += a_sq.T
    trace = np.einsum("jgg->j", omega)
    df: NDArray[np.float64] = trace**2 / np.einsum("jgh,jgh->j", omega, omega)
    return vcov, df


def _inverse_sqrt(
    u: NDArray[np.float64], c: NDArray[np.float64]
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """``v -> (I + U C U')^{-1/2} v`` (symmetric C; eigenvalues <= 1e-12 mapped to 0)."""
    q, r = np.linalg.qr(u)
    lam, vec = np.linalg.eigh(r @ c @ r.T)
    ev = 1.0 + lam
    scale = np.where(ev > _EIGEN_TOL, 1.0 / np.sqrt(np.where(ev > _EIGEN_TOL, ev, 1.0)), 0.0)
    basis = q @ vec

    def apply(v: NDArray[np.float64]) -> NDArray[np.float64]:
        proj = basis.T @ v
        out: NDArray[np.float64] = (
            v - basis @ proj + basis @ (scale[:, None] * proj if proj.ndim == 2 else scale * proj)
        )
        return out

    return apply


def _checked(
    design: ArrayLike,
    resid: ArrayLike,
    cluster: ArrayLike,
    weights: ArrayLike | None,
    where: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], int]:
    """The arrays as floats, the cluster codes and their number, after the checks."""
    x = np.asarray(design, dtype=np.float64)
    e = np.asarray(resid, dtype=np.float64)
    if x.ndim != 2 or e.ndim != 1 or x.shape[0] != e.shape[0]:
        raise RequestError(
            f"{where}: design must be n x k and resid of length n; got design "
            f"{x.shape} and resid {e.shape}."
        )
    n_rows, k = x.shape
    w = np.ones(n_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    ids = pd.Series(np.asarray(cluster, dtype=object))
    if w.shape != (n_rows,) or len(ids) != n_rows:
        raise RequestError(
            f"{where}: weights and cluster need one value per row ({n_rows}); got "
            f"{w.shape[0]} weights and {len(ids)} cluster ids."
        )
    if not (np.isfinite(x).all() and np.isfinite(e).all() and np.isfinite(w).all()):
        raise RequestError(f"{where}: design, resid and weights must be finite.")
    if (w < 0).any() or ids.isna().any():
        raise RequestError(
            f"{where}: weights must be >= 0 and every row needs a cluster id; drop the "
            "rows without one first."
        )
    codes, uniques = pd.factorize(ids)
    n_clusters = len(uniques)
    if n_clusters < 2:
        raise InsufficientDataError(
            f"{where}: {n_clusters} cluster; cluster-robust errors need at least 2 "
            "(and are unreliable below about 30)."
        )
    return x, e, w, np.asarray(codes, dtype=np.intp), n_clusters
