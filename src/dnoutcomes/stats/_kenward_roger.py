"""Kenward–Roger small-sample inference for a linear model with a covariance ``Sigma(theta)``
across the visits of a subject (the engine behind ``df = "kenward-roger"`` of
:mod:`dnoutcomes.stats.mmrm`).

Subjects are grouped by their pattern of observed visits; each subject's covariance is the
pattern's sub-matrix of ``Sigma``. The functions take the derivatives ``dSigma/dtheta_h``,
so they serve any covariance structure whose derivatives are known (the MMRM uses the
unstructured one; the tests also check compound symmetry against R's pbkrtest).

References
----------
Kenward MG, Roger JH (1997). Small sample inference for fixed effects from restricted
maximum likelihood. *Biometrics* 53, 983–997.
Halekoh U, Højsgaard S (2014). A Kenward–Roger approximation and parametric bootstrap
methods for tests in linear mixed models — the R package pbkrtest. *J Stat Softw* 59(9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["KrPieces", "kr_covariance", "kr_df", "kr_pieces", "reml_expected_information"]

#: One missingness pattern: the observed visits (boolean, length J) and the designs of its
#: subjects (m x visits observed x p).
Pattern = tuple[NDArray[np.bool_], NDArray[np.float64]]


@dataclass(frozen=True)
class KrPieces:
    """The matrices of Kenward & Roger (1997, eq. 2–4), summed over subjects.

    Attributes
    ----------
    phi
        ``(X' V^-1 X)^-1``, the model-based covariance of the coefficients (p x p).
    p
        ``P_h = X' dV^-1/dtheta_h X = -X' V^-1 V_h V^-1 X`` (k x p x p).
    q
        ``Q_hj = X' V^-1 V_h V^-1 V_j V^-1 X`` (k x k x p x p).
    trace
        ``tr(V^-1 V_h V^-1 V_j)`` (k x k), for the expected information.
    """

    phi: NDArray[np.float64]
    p: NDArray[np.float64]
    q: NDArray[np.float64]
    trace: NDArray[np.float64]


def kr_pieces(patterns: Sequence[Pattern], sigma: ArrayLike, dsigma: ArrayLike) -> KrPieces:
    """The Kenward–Roger matrices of a model ``y_i ~ N(X_i beta, S_i' Sigma S_i)``.

    Parameters
    ----------
    patterns
        ``(observed, designs)`` per missingness pattern: ``observed`` a boolean vector over
        the J visits, ``designs`` the m x (visits observed) x p designs of its m subjects.
    sigma
        The J x J covariance at the estimate.
    dsigma
        ``dSigma/dtheta_h`` at the estimate, k x J x J.

    Returns
    -------
    KrPieces
    """
    sig = np.asarray(sigma, dtype=np.float64)
    ds = np.asarray(dsigma, dtype=np.float64)
    k = ds.shape[0]
    p_dim = patterns[0][1].shape[2]
    info = np.zeros((p_dim, p_dim))
    p_mat = np.zeros((k, p_dim, p_dim))
    q_mat = np.zeros((k, k, p_dim, p_dim))
    trace = np.zeros((k, k))
    for observed, xs in patterns:  # over missingness patterns, not subjects
        s_obs = sig[np.ix_(observed, observed)]
        inv = np.linalg.inv(s_obs)
        d_obs = ds[:, observed][:, :, observed]  # k x o x o
        vx = np.einsum("ab,mbp->map", inv, xs)  # V_i^-1 X_i
        # T[a, b] = sum_i (V_i^-1 X_i)[a]' (V_i^-1 X_i)[b]: every sum below is a
        # contraction of T with an o x o matrix (X_i' V^-1 M V^-1 X_i summed over i)
        t = np.einsum("map,mbq->abpq", vx, vx)
        info += np.einsum("ab,abpq->pq", s_obs, t)
        p_mat -= np.einsum("hab,abpq->hpq", d_obs, t)
        k_hj = np.einsum("hab,bc,jcd->hjad", d_obs, inv, d_obs)  # V_h V^-1 V_j
        q_mat += np.einsum("hjab,abpq->hjpq", k_hj, t)
        a = np.einsum("ab,hbc->hac", inv, d_obs)  # V^-1 V_h
        trace += xs.shape[0] * np.einsum("hab,jba->hj", a, a)
    phi = np.asarray(np.linalg.inv(info), dtype=np.float64)
    return KrPieces(phi=phi, p=p_mat, q=q_mat, trace=trace)


def reml_expected_information(pieces: KrPieces) -> NDArray[np.float64]:
    """Expected information of the covariance parameters under REML,
    ``I_hj = 1/2 tr(P V_h P V_j)`` with ``P = V^-1 - V^-1 X Phi X' V^-1``, written as
    ``1/2 [tr(V^-1 V_h V^-1 V_j) - 2 tr(Phi Q_hj) + tr(Phi P_h Phi P_j)]`` (the matrix
    pbkrtest inverts; Halekoh & Højsgaard 2014, sec. 3)."""
    phi, p_mat, q_mat = pieces.phi, pieces.p, pieces.q
    phi_p = np.einsum("ab,hbc->hac", phi, p_mat)
    second = np.einsum("ab,hjba->hj", phi, q_mat)
    third = np.einsum("hab,jba->hj", phi_p, phi_p)
    out: NDArray[np.float64] = 0.5 * (pieces.trace - 2.0 * second + third)
    return out


def kr_covariance(pieces: KrPieces, w: ArrayLike) -> NDArray[np.float64]:
    """The Kenward–Roger adjusted covariance of the coefficients,
    ``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j)} Phi``.

    Parameters
    ----------
    pieces
        From :func:`kr_pieces`.
    w
        The k x k covariance of the covariance-parameter estimates (the inverse of an
        information matrix).

    Notes
    -----
    The term ``-1/4 R_hj`` of Kenward & Roger (1997, eq. 5), with ``R_hj`` built from the
    second derivatives of ``Sigma``, is left out: it is zero for a covariance linear in its
    parameters (as the unstructured one is in its elements, and as pbkrtest assumes), and
    what remains is invariant to how the parameters are written, so the result is the same
    whether ``P``, ``Q`` and ``W`` are in the elements of ``Sigma`` or in another
    parameterisation (mmrm's ``vcov = "Kenward-Roger-Linear"``, SAS's ``DDFM=KR`` for
    ``TYPE=UN``).
    """
    ww = np.asarray(w, dtype=np.float64)
    phi, p_mat, q_mat = pieces.phi, pieces.p, pieces.q
    p_phi_p = np.einsum("hab,bc,jcd->hjad", p_mat, phi, p_mat)
    u = np.einsum("hj,hjab->ab", ww, q_mat - p_phi_p)
    adjusted = phi + 2.0 * phi @ u @ phi
    out: NDArray[np.float64] = 0.5 * (adjusted + adjusted.T)
    return out


def kr_df(pieces: KrPieces, w: ArrayLike, contrast: ArrayLike) -> float:
    """Kenward–Roger denominator df of one contrast ``l' beta``.

    For a single row the general formulas (Kenward & Roger 1997, sec. 4; A1 = A2) reduce to
    ``m = 2 / (a' W a)`` with ``a_h = l' Phi P_h Phi l / l' Phi l`` and the F scaling
    ``lambda = 1`` — the Satterthwaite df of the unadjusted variance ``l' Phi l`` (since
    ``dPhi/dtheta_h = -Phi P_h Phi``); the interval and test use ``l' Phi_A l``.
    """
    ell = np.asarray(contrast, dtype=np.float64)
    ww = np.asarray(w, dtype=np.float64)
    phi_l = pieces.phi @ ell
    a = np.einsum("a,hab,b->h", phi_l, pieces.p, phi_l) / float(ell @ phi_l)
    return float(2.0 / (a @ ww @ a))
