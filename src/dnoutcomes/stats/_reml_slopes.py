"""REML for a linear mixed model with a correlated random intercept and slope per group,
``y = X beta + Z b + e`` with ``Z = [1, t]``, vectorised over groups (the fast engine of
:mod:`dnoutcomes.stats.trajectory_flex`).

The likelihood is written as lme4 writes it: ``b_g ~ N(0, s2 L L')`` with L the 2 x 2 lower
triangular relative Cholesky factor (theta = its three entries, diagonal >= 0) and
``e ~ N(0, s2 I)``; ``s2`` and ``beta`` are profiled out, so only theta is optimised. Every
group contributes through its 2 x 2 sums ``Z'Z``, ``Z'X``, ``Z'y``, so one evaluation costs a
few array operations whatever the number of groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

__all__ = ["SlopesFit", "fit_slopes_reml"]


@dataclass(frozen=True)
class SlopesFit:
    """Estimates of the random-slopes model (see :func:`fit_slopes_reml`)."""

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    cov_re: NDArray[np.float64]
    scale: float
    theta: NDArray[np.float64]
    converged: bool


@dataclass(frozen=True)
class _Sums:
    xx: NDArray[np.float64]
    xy: NDArray[np.float64]
    yy: float
    zz: NDArray[np.float64]  # (k, 2, 2)
    zx: NDArray[np.float64]  # (k, 2, p)
    zy: NDArray[np.float64]  # (k, 2)
    n: int
    p: int


def _sums(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    codes: NDArray[np.intp],
    k: int,
) -> _Sums:
    def by_group(values: NDArray[np.float64]) -> NDArray[np.float64]:
        flat = values.reshape(len(values), -1)
        out = np.stack(
            [np.bincount(codes, weights=flat[:, j], minlength=k) for j in range(flat.shape[1])],
            axis=1,
        )
        return out.reshape((k, *values.shape[1:]))

    return _Sums(
        xx=x.T @ x,
        xy=x.T @ y,
        yy=float(y @ y),
        zz=by_group(z[:, :, None] * z[:, None, :]),
        zx=by_group(z[:, :, None] * x[:, None, :]),
        zy=by_group(z * y[:, None]),
        n=len(y),
        p=x.shape[1],
    )


def _lambda(theta: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


def _profile(
    s: _Sums, theta: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
    """-2 REML log-likelihood profiled over beta and s2; also beta, (X'V~^-1 X)^-1, s2."""
    lam = _lambda(theta)
    m = lam.T @ s.zz @ lam + np.eye(2)  # I + L'Z'ZL per group
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    inv = np.stack([m[:, 1, 1], -m[:, 0, 1], -m[:, 1, 0], m[:, 0, 0]], axis=1).reshape(-1, 2, 2)
    inv /= det[:, None, None]
    lzx = lam.T @ s.zx  # L'Z'X, (k, 2, p)
    lzy = s.zy @ lam  # (L'Z'y)' per group, (k, 2)
    solved_x = inv @ lzx
    solved_y = (inv @ lzy[:, :, None])[:, :, 0]
    flat_x = lzx.reshape(-1, s.p)
    xvx = s.xx - flat_x.T @ solved_x.reshape(-1, s.p)
    xvy = s.xy - flat_x.T @ solved_y.ravel()
    yvy = s.yy - float(lzy.ravel() @ solved_y.ravel())
    xvx_inv = np.asarray(np.linalg.inv(xvx), dtype=np.float64)
    beta = xvx_inv @ xvy
    rss = yvy - float(xvy @ beta)
    dof = s.n - s.p
    scale = rss / dof
    sign, logdet_x = np.linalg.slogdet(xvx)
    if sign <= 0 or scale <= 0 or (det <= 0).any():
        return math.inf, beta, xvx_inv, scale
    value = float(np.log(det).sum()) + logdet_x + dof * (1.0 + math.log(2.0 * math.pi * scale))
    return value, beta, xvx_inv, scale


def fit_slopes_reml(
    y: ArrayLike, design: ArrayLike, slope: ArrayLike, groups: ArrayLike
) -> SlopesFit:
    """REML fit of ``y = X beta + b0_g + b1_g t + e`` (lme4's ``(1 + t | g)``).

    Parameters
    ----------
    y, design, slope, groups
        Outcome, fixed-effects design (with intercept), the variable with a random slope,
        and the group of each row.

    Returns
    -------
    SlopesFit
        ``coef``, ``cov`` (``s2 (X'V~^-1 X)^-1``, as lme4's ``vcov``), ``cov_re``
        (``s2 L L'``), ``scale`` (s2), ``theta``, ``converged``.

    Notes
    -----
    With ``M_g = I + L'Z_g'Z_g L``: ``V~_g^-1 = I - Z_g L M_g^-1 L'Z_g'`` and
    ``log|V~_g| = log|M_g|``, so ``-2 l_R = sum log|M_g| + log|X'V~^-1 X| + (N - p)(1 +
    log(2 pi s2))`` with ``s2 = r'V~^-1 r / (N - p)``. Minimised over theta by L-BFGS-B
    (diagonal of L >= 0) from theta = (1, 0, 0.1), then by Nelder–Mead from there.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(200), 5)
    >>> t = np.tile(np.arange(5.0), 200)
    >>> b0, b1 = rng.normal(0, 1.0, 200), rng.normal(0, 0.3, 200)
    >>> y = 2 + 0.5 * t + b0[g] + b1[g] * t + rng.normal(0, 0.5, 1000)
    >>> fit = fit_slopes_reml(y, np.column_stack([np.ones(1000), t]), t, g)
    >>> np.round(fit.coef, 1).tolist(), round(float(np.sqrt(fit.cov_re[1, 1])), 1)
    ([2.0, 0.5], 0.3)
    """
    yv = np.asarray(y, dtype=np.float64)
    x = np.asarray(design, dtype=np.float64)
    t = np.asarray(slope, dtype=np.float64)
    codes, uniques = pd.factorize(pd.Series(np.asarray(groups)))
    z = np.column_stack([np.ones_like(t), t])
    s = _sums(yv, x, z, np.asarray(codes, dtype=np.intp), len(uniques))

    def objective(theta: NDArray[np.float64]) -> float:
        return _profile(s, theta)[0]

    bounds = [(0.0, None), (None, None), (0.0, None)]
    first = optimize.minimize(
        objective,
        np.array([1.0, 0.0, 0.1]),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500},
    )
    second = optimize.minimize(
        objective,
        first.x,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000},
    )
    best = second if second.fun <= first.fun else first
    theta = np.array(best.x, dtype=np.float64)
    if theta[0] < 0 or theta[2] < 0:  # Nelder-Mead ignores bounds; the sign is immaterial
        theta = np.abs(theta) * np.array([1.0, np.sign(theta[0]) or 1.0, 1.0])
    _, beta, xvx_inv, scale = _profile(s, theta)
    lam = _lambda(theta)
    return SlopesFit(
        coef=beta,
        cov=scale * xvx_inv,
        cov_re=scale * (lam @ lam.T),
        scale=scale,
        theta=theta,
        converged=bool(first.success or second.success),
    )
