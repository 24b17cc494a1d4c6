"""The random-intercept linear mixed model on arrays, fitted by REML with two engines.

``y = X beta + u[group] + e`` behind one function, :func:`fit_random_intercept`:

* ``"fast"`` (default) — a random-intercept REML fit that exploits the model's structure:
  per-episode sufficient statistics, the restricted log-likelihood profiled over the single
  variance ratio ``theta = sd_episode**2 / sd_residual**2``, and closed-form generalised
  least squares for the fixed effects given ``theta``;
* ``"statsmodels"`` — :class:`statsmodels.regression.mixed_linear_model.MixedLM`, the general
  optimiser, kept as the cross-check.

Nothing here knows about arms or datasets; :mod:`dnoutcomes.stats.mixed` builds the
trajectory model on a dataset and re-exports these names.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dnoutcomes.errors import InsufficientDataError, RequestError

__all__ = ["Engine", "RandomInterceptFit", "fit_random_intercept"]

Engine = Literal["fast", "statsmodels"]

# log(theta) search range of the fast engine: theta from ~2e-9 to ~5e8.
_LOG_THETA_LOW = -20.0
_LOG_THETA_HIGH = 20.0
_GRID_POINTS = 41


@dataclass(frozen=True, eq=False)
class RandomInterceptFit:
    """A random-intercept linear mixed model fitted by REML.

    Attributes
    ----------
    coef
        Fixed effects, in the order of the columns of ``X``.
    cov
        Their covariance matrix, ``sd_residual**2 * (X' V0^-1 X)^-1`` at the REML estimates.
    sd_group
        Standard deviation of the random intercepts.
    sd_residual
        Residual standard deviation.
    theta
        Variance ratio ``sd_group**2 / sd_residual**2``.
    reml_criterion
        ``-2`` times the restricted log-likelihood at the estimates (as lme4's REML
        criterion; ``nan`` for the statsmodels engine, which drops a constant).
    n_obs, n_groups
        Observations and groups used.
    converged
        Whether the optimiser reports convergence.
    engine
        ``"fast"`` or ``"statsmodels"``.
    messages
        What the optimiser said, when it was not a clean convergence.
    """

    coef: NDArray[np.float64]
    cov: NDArray[np.float64]
    sd_group: float
    sd_residual: float
    theta: float
    reml_criterion: float
    n_obs: int
    n_groups: int
    converged: bool
    engine: str
    messages: tuple[str, ...] = ()

    @property
    def std_errors(self) -> NDArray[np.float64]:
        """Standard errors of the fixed effects (square roots of the diagonal of ``cov``)."""
        return np.sqrt(np.diag(self.cov))


def fit_random_intercept(
    y: ArrayLike,
    X: ArrayLike,
    groups: ArrayLike,
    *,
    engine: Engine = "fast",
) -> RandomInterceptFit:
    """Fit ``y = X beta + u[group] + e`` by REML, with ``u ~ N(0, s_u^2)``, ``e ~ N(0, s_e^2)``.

    Parameters
    ----------
    y
        Outcome, shape ``(n,)``; finite.
    X
        Fixed-effect design matrix, shape ``(n, p)``, full column rank (include the
        intercept column yourself).
    groups
        Group label of each row, shape ``(n,)``; any hashable values.
    engine
        ``"fast"`` (profiled REML on per-group sufficient statistics) or ``"statsmodels"``
        (``statsmodels.MixedLM(...).fit(reml=True)``).

    Returns
    -------
    RandomInterceptFit
        Fixed effects, their covariance, the two standard deviations, convergence.

    Raises
    ------
    RequestError
        Shapes that do not match, non-finite values, an unknown engine.
    InsufficientDataError
        No more rows than fixed effects, a design matrix that is not of full rank, or (the
        statsmodels engine) data MixedLM cannot fit.

    Notes
    -----
    With ``theta = s_u^2 / s_e^2`` and ``w_i = theta / (1 + n_i theta)`` for a group of
    ``n_i`` rows, ``V_i = s_e^2 (I + theta 11')`` has ``V_i^-1 = (I - w_i 11') / s_e^2`` and
    ``log|V_i| = n_i log s_e^2 + log(1 + n_i theta)``. From the per-group sums
    ``S_x,i = X_i'1`` and ``S_y,i = y_i'1``::

        A(theta) = X'X - sum_i w_i S_x,i S_x,i'
        b(theta) = X'y - sum_i w_i S_x,i S_y,i
        beta(theta) = A^-1 b,   RSS(theta) = y'y - sum_i w_i S_y,i^2 - b' beta
        s_e^2(theta) = RSS / (n - p)
        -2 l_R(theta) = (n - p) (1 + log(2 pi s_e^2)) + sum_i log(1 + n_i theta) + log|A|

    The sums are taken of ``y - X b0`` (``b0`` the OLS fit, added back at the end) so that
    no digits are lost to a large outcome mean. ``-2 l_R`` is minimised over ``log theta``
    (a grid to bracket the minimum, then bounded Brent), and compared with the boundary
    ``theta = 0`` (no group variance). The fixed effects' covariance is ``s_e^2 A^-1``.
    Every step is vectorised over groups; the cost is one pass over the rows plus
    ``O(groups * p^2)`` per evaluation. The user must drop
    missing values first (non-finite values are refused, not silently dropped).

    References
    ----------
    Bates D, Mächler M, Bolker B, Walker S. Fitting linear mixed-effects models using lme4.
    J Stat Softw 2015;67(1). (The profiled REML criterion.)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> groups = np.repeat(np.arange(300), 3)
    >>> weeks = rng.uniform(0, 8, 900)
    >>> X = np.column_stack([np.ones(900), weeks])
    >>> y = 6.0 - 0.4 * weeks + rng.normal(0, 1.5, 300)[groups] + rng.normal(0, 1.0, 900)
    >>> fit = fit_random_intercept(y, X, groups)
    >>> fit.converged, fit.n_groups
    (True, 300)
    >>> fit.coef.round(2), round(fit.sd_group, 2), round(fit.sd_residual, 2)
    (array([ 5.97, -0.39]), 1.56, 1.03)
    """
    y_arr, x_arr, codes, n_groups = _check_inputs(y, X, groups)
    if engine == "fast":
        return _fit_fast(y_arr, x_arr, codes, n_groups)
    if engine == "statsmodels":
        return _fit_statsmodels(y_arr, x_arr, codes, n_groups)
    raise RequestError(
        f"fit_random_intercept: engine must be 'fast' or 'statsmodels'; got {engine!r}. "
        "Use 'fast' (profiled REML, the default) or 'statsmodels' (MixedLM)."
    )


def _check_inputs(
    y: ArrayLike, X: ArrayLike, groups: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp], int]:
    y_arr = np.asarray(y, dtype=np.float64)
    x_arr = np.asarray(X, dtype=np.float64)
    if x_arr.ndim == 1:
        x_arr = x_arr[:, None]
    group_arr = np.asarray(groups)
    if y_arr.ndim != 1 or x_arr.ndim != 2 or group_arr.ndim != 1:
        raise RequestError(
            "fit_random_intercept: y and groups must be one-dimensional and X two-dimensional; "
            f"got shapes y {y_arr.shape}, X {x_arr.shape}, groups {group_arr.shape}."
        )
    n = y_arr.shape[0]
    if x_arr.shape[0] != n or group_arr.shape[0] != n:
        raise RequestError(
            "fit_random_intercept: y, X and groups must have the same number of rows; got "
            f"{n}, {x_arr.shape[0]} and {group_arr.shape[0]}. Align them before fitting."
        )
    if not (np.isfinite(y_arr).all() and np.isfinite(x_arr).all()):
        raise RequestError(
            "fit_random_intercept: y and X must be finite; got missing or infinite values. "
            "Drop incomplete rows before fitting."
        )
    p = x_arr.shape[1]
    if n <= p:
        raise InsufficientDataError(
            f"fit_random_intercept: the model has {p} fixed effects and needs more rows than "
            f"that; got {n} rows."
        )
    if np.linalg.matrix_rank(x_arr) < p:
        raise InsufficientDataError(
            f"fit_random_intercept: the design matrix has {p} columns but rank "
            f"{np.linalg.matrix_rank(x_arr)}; an effect cannot be estimated from these rows "
            "(for example an arm without any rows). Remove the redundant column."
        )
    codes, uniques = pd.factorize(pd.Series(group_arr), sort=False)
    if (codes < 0).any():
        raise RequestError(
            "fit_random_intercept: groups contains missing labels; give every row a group."
        )
    return y_arr, x_arr, codes.astype(np.intp, copy=False), len(uniques)


@dataclass(frozen=True, eq=False)
class _Suffstats:
    n_obs: int
    p: int
    n_i: NDArray[np.float64]
    sx: NDArray[np.float64]  # (groups, p): X_i' 1
    sy: NDArray[np.float64]  # (groups,): y_i' 1
    # (groups, p*p + p + 1): per group S_x S_x' (flattened), S_x S_y and S_y^2, so that every
    # weighted sum over groups is one product w @ products (see _weighted_sums).
    products: NDArray[np.float64]
    xtx: NDArray[np.float64]
    xty: NDArray[np.float64]
    yty: float
    # clusters per row of n_i when the rows are cluster sizes with their clusters' sums
    # added (the network's summaries); None: one row per cluster
    count: NDArray[np.float64] | None = None

    def over_groups(self, values: NDArray[np.float64]) -> float:
        """The sum over clusters of a per-row value (weighted by ``count`` if given)."""
        return float(values.sum() if self.count is None else self.count @ values)


def _suffstats(
    y: NDArray[np.float64], X: NDArray[np.float64], codes: NDArray[np.intp], g: int
) -> _Suffstats:
    n_i = np.bincount(codes, minlength=g).astype(np.float64)
    sx = np.empty((g, X.shape[1]))
    for j in range(X.shape[1]):  # a loop over the few columns, not over rows or groups
        sx[:, j] = np.bincount(codes, weights=X[:, j], minlength=g)
    sy = np.bincount(codes, weights=y, minlength=g).astype(np.float64)
    p = X.shape[1]
    products = np.column_stack(
        [(sx[:, :, None] * sx[:, None, :]).reshape(g, p * p), sx * sy[:, None], sy * sy]
    )
    return _Suffstats(
        n_obs=y.shape[0],
        p=p,
        n_i=n_i,
        sx=sx,
        sy=sy,
        products=products,
        xtx=X.T @ X,
        xty=X.T @ y,
        yty=float(y @ y),
    )


def _weighted_sums(
    s: _Suffstats, w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """``sum w S_x S_x'``, ``sum w S_x S_y`` and ``sum w S_y^2`` over groups.

    One einsum (NumPy's own loop, not a threaded BLAS call: on a busy machine BLAS threads
    cost more than these thin products).
    """
    p = s.p
    tot = np.einsum("g,gk->k", w, s.products)
    return tot[: p * p].reshape(p, p), tot[p * p : p * p + p], float(tot[-1])


def _profile(
    s: _Suffstats, theta: float
) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
    """Return (-2 l_R, beta, A^-1, sigma_e^2) at ``theta``."""
    w = theta / (1.0 + s.n_i * theta)
    sxx, sxy, syy = _weighted_sums(s, w)
    a = s.xtx - sxx
    b = s.xty - sxy
    c = s.yty - syy
    chol = np.linalg.cholesky(a)
    a_inv: NDArray[np.float64] = np.asarray(np.linalg.inv(a), dtype=np.float64)
    beta = a_inv @ b
    rss = c - float(b @ beta)
    dof = s.n_obs - s.p
    sigma2 = max(rss, 0.0) / dof
    if sigma2 <= 0.0:
        return math.inf, beta, a_inv, sigma2
    crit = (
        dof * (1.0 + math.log(2.0 * math.pi * sigma2))
        + s.over_groups(np.log1p(s.n_i * theta))
        + 2.0 * float(np.log(np.diag(chol)).sum())
    )
    return crit, beta, a_inv, sigma2


def _profile_slope(s: _Suffstats, theta: float) -> float:
    """Derivative of ``-2 l_R`` with respect to ``theta`` (its sign is that of the slope in
    ``log theta``).

    With ``w_i' = 1 / (1 + n_i theta)^2``: ``A' = -sum w_i' S_x S_x'``,
    ``b' = -sum w_i' S_x S_y``, ``RSS' = -sum w_i' S_y^2 - 2 beta' b' + beta' A' beta`` and
    ``d(-2 l_R) = (n - p) RSS' / RSS + sum n_i / (1 + n_i theta) + tr(A^-1 A')``.
    """
    _, beta, a_inv, sigma2 = _profile(s, theta)
    if sigma2 <= 0.0:
        return math.inf
    dw = 1.0 / (1.0 + s.n_i * theta) ** 2
    sxx, sxy, syy = _weighted_sums(s, dw)
    da, db = -sxx, -sxy
    drss = -syy - 2.0 * float(beta @ db) + float(beta @ da @ beta)
    rss = sigma2 * (s.n_obs - s.p)
    return (
        (s.n_obs - s.p) * drss / rss
        + s.over_groups(s.n_i / (1.0 + s.n_i * theta))
        + float(np.sum(a_inv * da))
    )


def _optimise(s: _Suffstats) -> tuple[float, float, bool, list[str]]:
    """The REML estimate of ``theta`` from sufficient statistics: (theta, -2 l_R,
    converged, messages). Shared by the row-level fit and the network's pooled fit
    (:mod:`dnoutcomes.network._trajectory`)."""

    def objective(log_theta: float) -> float:
        return _profile(s, math.exp(log_theta))[0]

    grid = np.linspace(_LOG_THETA_LOW, _LOG_THETA_HIGH, _GRID_POINTS)
    values = np.array([objective(t) for t in grid])  # 41 evaluations on sufficient statistics
    best = int(np.argmin(values))
    low = grid[max(best - 1, 0)]
    high = grid[min(best + 1, _GRID_POINTS - 1)]
    opt = optimize.minimize_scalar(
        objective, bounds=(low, high), method="bounded", options={"xatol": 1e-10}
    )
    messages: list[str] = []
    converged = bool(opt.success)
    if not converged:
        messages.append(f"the REML optimiser did not converge: {opt.message}")
    log_theta, crit = float(opt.x), float(opt.fun)
    # Polish: the criterion is flat at its minimum, so Brent's x is good to ~sqrt(eps);
    # the root of the analytic derivative inside the same bracket is good to rounding.
    if _profile_slope(s, math.exp(low)) < 0.0 < _profile_slope(s, math.exp(high)):
        root = optimize.brentq(
            lambda t: _profile_slope(s, math.exp(t)), low, high, xtol=1e-14, rtol=1e-15
        )
        crit_root = objective(root)
        if crit_root <= crit:
            log_theta, crit = float(root), crit_root
    theta = math.exp(log_theta)
    crit_zero = _profile(s, 0.0)[0]
    if crit_zero <= crit:
        theta, crit = 0.0, crit_zero
        messages.append(
            "the group variance is estimated at its boundary, 0 (a singular fit: the episodes "
            "do not differ more than the residual variation explains)"
        )
    elif log_theta >= _LOG_THETA_HIGH - 1e-6:
        converged = False
        messages.append(
            "the variance ratio ran to the upper end of its search range; the residual "
            "variance is close to 0 and the fit is unreliable"
        )
    return theta, crit, converged, messages


def _fit_fast(
    y: NDArray[np.float64], X: NDArray[np.float64], codes: NDArray[np.intp], g: int
) -> RandomInterceptFit:
    # Work on OLS residuals: y - X b0 lies in the same model (the fixed effects absorb X b0),
    # so theta and the residuals are unchanged, while y'y shrinks to the scale of the RSS
    # and y'y - b'beta no longer loses digits when the outcome has a large mean or trend.
    b0 = np.linalg.lstsq(X, y, rcond=None)[0]
    y = y - X @ b0
    s = _suffstats(y, X, codes, g)
    theta, crit, converged, messages = _optimise(s)
    _, beta, a_inv, _ = _profile(s, theta)
    # Residual sum of squares recomputed from residuals (no cancellation in y'y - b'beta).
    resid = y - X @ beta
    r_sum = np.bincount(codes, weights=resid, minlength=g)
    w = theta / (1.0 + s.n_i * theta)
    rss = float(resid @ resid) - float(w @ (r_sum * r_sum))
    sigma2 = rss / (s.n_obs - s.p)
    return RandomInterceptFit(
        coef=beta + b0,
        cov=sigma2 * a_inv,
        sd_group=math.sqrt(theta * sigma2),
        sd_residual=math.sqrt(sigma2),
        theta=theta,
        reml_criterion=crit,
        n_obs=s.n_obs,
        n_groups=g,
        converged=converged,
        engine="fast",
        messages=tuple(messages),
    )


def _fit_statsmodels(
    y: NDArray[np.float64], X: NDArray[np.float64], codes: NDArray[np.intp], g: int
) -> RandomInterceptFit:
    from statsmodels.regression.mixed_linear_model import MixedLM

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = MixedLM(endog=y, exog=X, groups=codes).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise InsufficientDataError(
                f"mixed model (statsmodels engine): MixedLM could not fit these data ({exc}); "
                "expected a fit. Try engine='fast', which handles the boundary cases."
            ) from exc
    p = X.shape[1]
    messages = tuple(dict.fromkeys(f"statsmodels: {w.message}" for w in caught))
    scale = float(result.scale)
    group_var = float(np.asarray(result.cov_re)[0, 0])
    cov = np.asarray(result.cov_params())[:p, :p]
    return RandomInterceptFit(
        coef=np.asarray(result.fe_params, dtype=np.float64),
        cov=np.asarray(cov, dtype=np.float64),
        sd_group=math.sqrt(max(group_var, 0.0)),
        sd_residual=math.sqrt(scale),
        theta=max(group_var, 0.0) / scale,
        reml_criterion=math.nan,
        n_obs=y.shape[0],
        n_groups=g,
        converged=bool(result.converged),
        engine="statsmodels",
        messages=messages,
    )
