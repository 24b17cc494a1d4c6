"""REML fit of a linear model with an unstructured covariance across visits (the engine of
:mod:`dnoutcomes.stats.mmrm`, re-exported there)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._kenward_roger import KrPieces, Pattern, kr_covariance, kr_pieces

__all__ = ["MmrmFit", "fit_mmrm"]

_STEP = 1e-4  # central-difference step on the log-Cholesky parameters


@dataclass(frozen=True)
class MmrmFit:
    """An MMRM fit: coefficients, their covariance, the visit covariance matrix, the
    function giving Satterthwaite df for a contrast and the Kenward–Roger adjustment."""

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    sigma: NDArray[np.float64]
    theta: NDArray[np.float64]
    neg2_reml: float
    converged: bool
    n_subjects: int
    n_obs: int
    _vcov_at: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    _theta_cov: NDArray[np.float64]
    _patterns: tuple[Pattern, ...] = ()

    def kenward_roger(self) -> tuple[NDArray[np.float64], KrPieces]:
        """The Kenward–Roger (1997) adjusted covariance of the coefficients and the pieces
        for :func:`~dnoutcomes.stats._kenward_roger.kr_df`.

        ``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j)} Phi`` with ``W`` the
        inverse observed REML information of the log-Cholesky parameters (as mmrm's
        ``vcov = "Kenward-Roger-Linear"``; the result does not depend on the
        parameterisation, see :func:`~dnoutcomes.stats._kenward_roger.kr_covariance`).
        """
        n_visits = self.sigma.shape[0]
        low = np.linalg.cholesky(self.sigma)
        rows, cols = np.tril_indices(n_visits)
        dsigma = np.zeros((len(rows), n_visits, n_visits))
        for t, (i, j) in enumerate(zip(rows, cols, strict=True)):  # over the few parameters
            d_low = np.zeros((n_visits, n_visits))
            d_low[i, j] = low[i, i] if i == j else 1.0  # the diagonal is stored as a log
            dsigma[t] = d_low @ low.T + low @ d_low.T
        pieces = kr_pieces(self._patterns, self.sigma, dsigma)
        return kr_covariance(pieces, self._theta_cov), pieces

    def satterthwaite_df(self, contrast: ArrayLike) -> float:
        """Satterthwaite df of ``L beta`` for one contrast row L:
        ``2 (L V L')^2 / (g' A g)``, g the gradient of ``L V(theta) L'`` in theta and A the
        covariance of theta (twice the inverse Hessian of -2 log REML likelihood)."""
        ell = np.asarray(contrast, dtype=np.float64)
        k = len(self.theta)
        grad = np.empty(k)
        for j in range(k):  # over the few covariance parameters
            step = np.zeros(k)
            step[j] = _STEP
            up = ell @ self._vcov_at(self.theta + step) @ ell
            down = ell @ self._vcov_at(self.theta - step) @ ell
            grad[j] = (up - down) / (2 * _STEP)
        var = float(ell @ self.cov @ ell)
        return float(2.0 * var**2 / (grad @ self._theta_cov @ grad))


def _sigma_of(theta: NDArray[np.float64], n_visits: int) -> NDArray[np.float64]:
    low = np.zeros((n_visits, n_visits))
    low[np.tril_indices(n_visits)] = theta
    low[np.diag_indices(n_visits)] = np.exp(np.diag(low))
    sigma: NDArray[np.float64] = low @ low.T
    return sigma


def fit_mmrm(y: ArrayLike, design: ArrayLike) -> MmrmFit:
    """Fit ``y_ij = x_ij' beta + e_ij``, ``e_i ~ N(0, Sigma)`` (unstructured) by REML.

    Parameters
    ----------
    y
        n x J outcome matrix: one row per subject, one column per visit, NaN where missing.
    design
        n x J x p array: the design row of each subject at each visit (rows where ``y`` is
        missing are ignored).

    Returns
    -------
    MmrmFit

    Raises
    ------
    RequestError
        Shapes that disagree or non-finite design values at observed visits.
    InsufficientDataError
        A visit without values, or no more observations than coefficients.

    Notes
    -----
    ``Sigma = L L'`` with L lower triangular, its diagonal stored as logs (theta). Subjects
    are grouped by their pattern of observed visits; for each pattern ``Sigma_O^-1`` is
    computed once and ``X'V^-1 X``, ``X'V^-1 y`` and ``y'V^-1 y`` are summed with einsum.
    ``-2 l_R = sum log|Sigma_O| + r'V^-1 r + log|X'V^-1 X| + (N - p) log(2 pi)`` with beta
    the GLS estimate, minimised by BFGS from the per-visit variances, then polished by
    Newton steps on a central-difference Hessian. ``cov(beta) = (X'V^-1 X)^-1``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> e = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 2]], size=200)
    >>> x = np.tile(np.eye(2), (200, 1, 1))  # a mean per visit
    >>> fit = fit_mmrm(e + [1.0, 2.0], x)
    >>> np.round(fit.coef, 1).tolist()
    [1.1, 2.0]
    """
    yy = np.asarray(y, dtype=np.float64)
    xx = np.asarray(design, dtype=np.float64)
    if yy.ndim != 2 or xx.ndim != 3 or xx.shape[:2] != yy.shape:
        raise RequestError(
            f"fit_mmrm: y must be n x J and design n x J x p; got {yy.shape} and {xx.shape}."
        )
    seen = ~np.isnan(yy)
    n_visits, p = yy.shape[1], xx.shape[2]
    if not seen.any(axis=0).all():
        raise InsufficientDataError("fit_mmrm: a visit has no observed value; drop it.")
    if not np.isfinite(xx[seen]).all():
        raise RequestError("fit_mmrm: the design has missing values at observed visits.")
    keep = seen.any(axis=1)
    yy, xx, seen = yy[keep], xx[keep], seen[keep]
    n_obs = int(seen.sum())
    if n_obs <= p:
        raise InsufficientDataError(f"fit_mmrm: {n_obs} observations for {p} coefficients.")
    patterns, which = np.unique(seen, axis=0, return_inverse=True)
    groups = [
        (pat, yy[which.ravel() == g][:, pat], xx[which.ravel() == g][:, pat, :])
        for g, pat in enumerate(patterns)
    ]

    def pieces(
        theta: NDArray[np.float64],
    ) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
        sigma = _sigma_of(theta, n_visits)
        xtvx = np.zeros((p, p))
        xtvy = np.zeros(p)
        ytvy = 0.0
        logdet = 0.0
        for pat, ys, xs in groups:  # over missingness patterns, not subjects
            inv = np.linalg.inv(sigma[np.ix_(pat, pat)])
            logdet += ys.shape[0] * np.linalg.slogdet(sigma[np.ix_(pat, pat)])[1]
            xv = np.tensordot(xs, inv, axes=([1], [0]))  # (m, p, visits): X_i' Sigma_O^-1
            xtvx += np.tensordot(xv, xs, axes=([0, 2], [0, 1]))
            xtvy += np.tensordot(xv, ys, axes=([0, 2], [0, 1]))
            ytvy += float(np.sum((ys @ inv) * ys))
        return logdet, xtvx, xtvy, ytvy

    def objective(theta: NDArray[np.float64]) -> float:
        logdet, xtvx, xtvy, ytvy = pieces(theta)
        sign, logdet_x = np.linalg.slogdet(xtvx)
        if sign <= 0:
            return math.inf
        beta = np.linalg.solve(xtvx, xtvy)
        quad = ytvy - xtvy @ beta
        return float(logdet + quad + logdet_x + (n_obs - p) * math.log(2 * math.pi))

    def vcov_at(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(np.linalg.inv(pieces(theta)[1]), dtype=np.float64)

    start = _start(yy, xx, seen)
    opt = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-7})
    theta = opt.x
    converged = bool(opt.success)
    for _ in range(4):  # Newton polish on the numerical Hessian
        grad, hess = _grad_hess(objective, theta)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if objective(theta - step) <= objective(theta) + 1e-10:
            theta = theta - step
        if np.abs(step).max() < 1e-9:
            converged = True
            break
    grad, hess = _grad_hess(objective, theta)
    converged = converged or bool(np.abs(grad).max() < 1e-5)
    _, xtvx, xtvy, _ = pieces(theta)
    cov = np.asarray(np.linalg.inv(xtvx), dtype=np.float64)
    try:
        theta_cov = 2.0 * np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        theta_cov = np.full_like(hess, np.nan)
    return MmrmFit(
        coef=cov @ xtvy,
        cov=cov,
        sigma=_sigma_of(theta, n_visits),
        theta=theta,
        neg2_reml=objective(theta),
        converged=converged,
        n_subjects=int(yy.shape[0]),
        n_obs=n_obs,
        _vcov_at=vcov_at,
        _theta_cov=np.asarray(theta_cov, dtype=np.float64),
        _patterns=tuple((pat, xs) for pat, _, xs in groups),
    )


def _start(
    y: NDArray[np.float64], x: NDArray[np.float64], seen: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Log-Cholesky parameters of the pairwise covariance of ordinary least-squares
    residuals (the per-visit variances if that is not positive definite)."""
    n_visits = y.shape[1]
    beta, *_ = np.linalg.lstsq(x[seen], y[seen], rcond=None)
    resid = pd.DataFrame(np.where(seen, y - x @ beta, np.nan))
    cov = resid.cov(min_periods=3).to_numpy()
    diag = np.diag(cov)
    cov = np.where(np.isfinite(cov), cov, 0.0)
    try:
        low = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        low = np.diag(np.sqrt(np.where(diag > 0, diag, 1.0)))
    low[np.diag_indices(n_visits)] = np.log(np.diag(low))
    out: NDArray[np.float64] = low[np.tril_indices(n_visits)]
    return out


def _grad_hess(
    f: Callable[[NDArray[np.float64]], float], x: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Central-difference gradient and Hessian of f at x."""
    k, h = len(x), _STEP
    f0 = f(x)
    grad = np.empty(k)
    hess = np.empty((k, k))
    eye = np.eye(k) * h
    for i in range(k):  # over the few covariance parameters
        fp, fm = f(x + eye[i]), f(x - eye[i])
        grad[i] = (fp - fm) / (2 * h)
        hess[i, i] = (fp - 2 * f0 + fm) / h**2
        for j in range(i):
            val = (
                f(x + eye[i] + eye[j])
                - f(x + eye[i] - eye[j])
                - f(x - eye[i] + eye[j])
                + f(x - eye[i] - eye[j])
            ) / (4 * h * h)
            hess[i, j] = hess[j, i] = val
    return grad, hess
