"""Propensity scores by logistic regression (R's ``glm`` IRLS) and stabilised ATE weights
(re-exported by :mod:`dnoutcomes.stats.iptw`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.stats._balance import _check_arms_and_covariates

__all__ = ["propensity_weights"]

# R's glm.control() defaults.
_IRLS_EPSILON = 1e-8
_IRLS_MAXIT = 25


def propensity_weights(
    covariates: pd.DataFrame, treated: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], bool, tuple[str, ...]]:
    """Propensity scores by logistic regression and stabilised ATE weights.

    Parameters
    ----------
    covariates
        Numeric columns as from :func:`indicator_columns` (all levels of a categorical may
        be given: the first level of each ``"<column>=..."`` group is dropped as reference).
    treated
        1 for comparator episodes, 0 for reference ones.

    Returns
    -------
    ps : numpy.ndarray
        Propensity of being a comparator episode.
    weights : numpy.ndarray
        ``p / ps`` for comparator episodes and ``(1 - p) / (1 - ps)`` for reference ones,
        ``p`` the share of comparator episodes.
    converged : bool
        Whether the logistic regression (IRLS) converged.
    messages : tuple of str
        Problems met: non-convergence, a singular design, fitted propensities of 0 or 1.

    Raises
    ------
    RequestError
        Lengths that differ, ``treated`` not 0/1, missing values, fewer than two rows in
        an arm.

    Notes
    -----
    ``logit(ps) = b0 + X b`` fitted by maximum likelihood with the iteratively reweighted
    least squares of R's ``glm(family = binomial)``: start at ``mu = (t + 0.5) / 2``, stop
    when ``|dev - dev_old| / (|dev| + 0.1) < 1e-8`` or after 25 iterations (R's
    ``glm.control()``), so the weights agree with R's to rounding even when the likelihood
    is flat (a rare level nearly separating the arms). The tests check it against
    statsmodels' GLM.
    """
    t, _ = _check_arms_and_covariates(covariates, treated, "propensity_weights")
    design = _drop_reference_levels(covariates)
    exog = np.column_stack([np.ones(len(t)), design.to_numpy(dtype=np.float64)])
    del design  # a copy of the covariates as large as the design: not kept during the fit
    ps, converged, messages = _logistic_irls(t, exog)
    share = float(t.mean())
    weights = np.where(t == 1.0, share / ps, (1.0 - share) / (1.0 - ps))
    return ps, weights, converged, messages


def _logistic_irls(
    t: NDArray[np.float64], exog: NDArray[np.float64]
) -> tuple[NDArray[np.float64], bool, tuple[str, ...]]:
    """Fitted probabilities of a logistic regression by R's IRLS (``glm.fit``)."""
    mu = (t + 0.5) / 2.0
    eta = np.log(mu / (1.0 - mu))
    dev_old = _binomial_deviance(t, mu)
    messages: list[str] = []
    converged = False
    xw: NDArray[np.float64] | None = None
    for _ in range(_IRLS_MAXIT):  # iterations of the fit, not a loop over rows
        mu_eta = _logit_mu_eta(eta)
        w = mu_eta * mu_eta / (mu * (1.0 - mu))
        z = eta + (t - mu) / mu_eta
        if xw is None:  # the first product sets the layout the later ones reuse
            xw = exog * w[:, None]
        else:  # in place: no second design-sized product alive while the first is freed
            np.multiply(exog, w[:, None], out=xw)
        try:
            beta = np.linalg.solve(exog.T @ xw, xw.T @ z)
        except np.linalg.LinAlgError:
            messages.append("the propensity design is singular (a covariate level is aliased)")
            break
        eta = exog @ beta
        mu = _logit_linkinv(eta)
        dev = _binomial_deviance(t, mu)
        if abs(dev - dev_old) / (abs(dev) + 0.1) < _IRLS_EPSILON:
            converged = True
            break
        dev_old = dev
    else:
        messages.append(f"the logistic regression did not converge in {_IRLS_MAXIT} iterations")
    eps = 10.0 * np.finfo(np.float64).eps
    if ((mu < eps) | (mu > 1.0 - eps)).any():
        messages.append(
            "fitted propensities of 0 or 1 occurred (a covariate separates the arms); the "
            "weights of those episodes are extreme"
        )
    return mu, converged, tuple(messages)


_EPS = float(np.finfo(np.float64).eps)
_ETA_LIMIT = 30.0  # R's THRESH / MTHRESH in family.c


def _logit_linkinv(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse logit clamped away from 0 and 1 as R's ``binomial()$linkinv``."""
    e = np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))
    e = np.where(eta < -_ETA_LIMIT, _EPS, np.where(eta > _ETA_LIMIT, 1.0 / _EPS, e))
    return np.asarray(e / (1.0 + e), dtype=np.float64)


def _logit_mu_eta(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """d mu / d eta as R's ``binomial()$mu.eta`` (at least machine epsilon)."""
    e = np.exp(np.clip(eta, -_ETA_LIMIT, _ETA_LIMIT))
    d = np.where(np.abs(eta) > _ETA_LIMIT, _EPS, e / (1.0 + e) ** 2)
    return np.asarray(np.maximum(d, _EPS), dtype=np.float64)


def _binomial_deviance(t: NDArray[np.float64], mu: NDArray[np.float64]) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(t == 1.0, np.log(mu), np.log1p(-mu))
    return float(-2.0 * ll.sum())


def _drop_reference_levels(covariates: pd.DataFrame) -> pd.DataFrame:
    seen: set[str] = set()
    keep: list[str] = []
    for name in covariates.columns:
        prefix = name.split("=", 1)[0] if "=" in name else None
        if prefix is None:
            keep.append(name)
        elif prefix in seen:
            keep.append(name)
        else:
            seen.add(prefix)
    return covariates[keep]
