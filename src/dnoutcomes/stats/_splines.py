"""R's natural cubic spline basis, ``splines::ns``, so that a model with spline time has the
same columns (and coefficients) as its R counterpart.

patsy's ``cr()`` spans the same space of natural cubic splines when given the same knots,
but with another basis (mgcv's), so coefficients differ from R's; this module builds R's
basis itself from B-splines (SciPy) and the QR projection ``ns`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import BSpline

from dnoutcomes.errors import RequestError

__all__ = ["NaturalSpline", "natural_spline"]


@dataclass(frozen=True)
class NaturalSpline:
    """Knots of an ``ns`` basis; call :meth:`basis` to evaluate it at new values (as R's
    ``predict(ns(...), newx)``), with linear extrapolation outside the boundary knots."""

    knots: tuple[float, ...]
    boundary: tuple[float, float]

    def _bspline(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        all_knots = np.sort(np.r_[[self.boundary[0]] * 4, self.knots, [self.boundary[1]] * 4])
        n_basis = len(all_knots) - 4
        const = BSpline(all_knots, np.eye(n_basis), 3)(np.array(self.boundary), nu=2)[:, 1:]
        q, _ = np.linalg.qr(const.T, mode="complete")
        return all_knots, q

    def basis(self, x: ArrayLike) -> NDArray[np.float64]:
        """The basis at ``x``: ``len(x)`` rows, ``len(knots) + 1`` columns."""
        xv = np.asarray(x, dtype=np.float64)
        if not np.isfinite(xv).all():
            raise RequestError("natural spline: x must be finite.")
        all_knots, q = self._bspline()
        n_basis = len(all_knots) - 4
        spline = BSpline(all_knots, np.eye(n_basis), 3)
        lo, hi = self.boundary
        inside = np.clip(xv, lo, hi)
        raw = spline(inside)
        for edge, mask in ((lo, xv < lo), (hi, xv > hi)):
            if mask.any():
                value = spline(np.array([edge]))[0]
                slope = spline(np.array([edge]), nu=1)[0]
                raw[mask] = value[None, :] + (xv[mask] - edge)[:, None] * slope[None, :]
        out: NDArray[np.float64] = (raw[:, 1:] @ q)[:, 2:]
        return out


def natural_spline(x: ArrayLike, df: int = 3) -> NaturalSpline:
    """Knots of R's ``ns(x, df = df)`` (no intercept column): ``df - 1`` interior knots at
    the quantiles ``1/df, ..., (df-1)/df`` of x (R's type 7), boundary knots at its range.

    Parameters
    ----------
    x
        The values (finite; at least two distinct).
    df
        Columns of the basis, a whole number >= 1.

    Returns
    -------
    NaturalSpline

    Notes
    -----
    The basis is R's: cubic B-splines on the knots (boundary knots repeated four times),
    first column dropped, projected on the orthogonal complement of their second
    derivatives at the two boundary knots (``qr.qty`` of the QR of that 2-row constraint,
    first two rows dropped). NumPy's Householder QR uses LINPACK's sign convention, so the
    columns equal R's, not just their span.

    Examples
    --------
    >>> spline = natural_spline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], df=3)
    >>> spline.knots
    (1.6666666666666665, 3.333333333333333)
    >>> spline.basis([0.0, 5.0]).round(4).tolist()
    [[0.0, 0.0, 0.0], [-0.1429, 0.4286, 0.7143]]
    """
    xv = np.asarray(x, dtype=np.float64)
    if not (isinstance(df, int) and df >= 1):
        raise RequestError(f"natural spline: df must be a whole number >= 1; got {df!r}.")
    if xv.ndim != 1 or not np.isfinite(xv).all() or np.ptp(xv) == 0:
        raise RequestError("natural spline: x must be finite values with at least two distinct.")
    probs = np.arange(1, df) / df
    knots = tuple(float(k) for k in np.quantile(xv, probs))
    return NaturalSpline(knots=knots, boundary=(float(xv.min()), float(xv.max())))
