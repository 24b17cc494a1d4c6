"""Mixed model for repeated measures (MMRM): the outcome at each scheduled visit with an
unstructured covariance, fitted by REML, and the arm contrast at each visit with
Satterthwaite degrees of freedom (section 10 of the analysis plan).

:func:`fit_mmrm` works on arrays (a wide outcome matrix, one row per episode);
:func:`compare_mmrm` builds them from a dataset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize
from scipy import stats as sps

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["MmrmFit", "MmrmResult", "compare_mmrm", "fit_mmrm"]

_DEFAULT_VISITS: tuple[str, ...] = ("discharge", "followup_4w", "followup_12w")
_STEP = 1e-4  # central-difference step on the log-Cholesky parameters


@dataclass(frozen=True)
class MmrmFit:
    """An MMRM fit: coefficients, their covariance, the visit covariance matrix and the
    function giving Satterthwaite df for a contrast."""

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
    [1.0, 2.0]
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

    def pieces(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64], NDArray[np.float64], float]:
        sigma = _sigma_of(theta, n_visits)
        xtvx = np.zeros((p, p))
        xtvy = np.zeros(p)
        ytvy = 0.0
        logdet = 0.0
        for pat, ys, xs in groups:  # over missingness patterns, not subjects
            inv = np.linalg.inv(sigma[np.ix_(pat, pat)])
            logdet += ys.shape[0] * np.linalg.slogdet(sigma[np.ix_(pat, pat)])[1]
            xtvx += np.einsum("ijp,jk,ikq->pq", xs, inv, xs)
            xtvy += np.einsum("ijp,jk,ik->p", xs, inv, ys)
            ytvy += float(np.einsum("ij,jk,ik->", ys, inv, ys))
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
        inv: NDArray[np.float64] = np.linalg.inv(pieces(theta)[1])
        return inv

    sd0 = np.nanstd(yy, axis=0, ddof=1)
    start = np.zeros(n_visits * (n_visits + 1) // 2)
    diag_pos = [i * (i + 1) // 2 + i for i in range(n_visits)]
    start[diag_pos] = np.log(np.where(sd0 > 0, sd0, 1.0))
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
    cov = np.linalg.inv(xtvx)
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
        _theta_cov=theta_cov,
    )


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
                f(x + eye[i] + eye[j]) - f(x + eye[i] - eye[j]) - f(x - eye[i] + eye[j])
                + f(x - eye[i] - eye[j])
            ) / (4 * h * h)
            hess[i, j] = hess[j, i] = val
    return grad, hess


@dataclass(frozen=True, repr=False, eq=False)
class MmrmResult(ResultMixin):
    """The arm contrast at each visit from an MMRM.

    Attributes
    ----------
    contrasts
        One row per visit: ``term`` (``"arm@<visit>"``), ``estimate`` (comparator minus
        reference), ``std_error``, ``statistic`` (t), ``df`` (Satterthwaite), ``p_value``,
        ``conf_low``, ``conf_high``; plus ``visit``.
    means
        Adjusted means: ``arm``, ``visit``, ``estimate``, ``std_error``, ``df``,
        ``conf_low``, ``conf_high`` at the mean baseline of the analysed episodes.
    covariance
        The estimated visit covariance matrix (rows and columns: the visits).
    df_method
        ``"satterthwaite"``.
    """

    reference: str
    comparator: str
    measure: str
    visits: tuple[str, ...]
    contrasts: pd.DataFrame
    means: pd.DataFrame
    covariance: pd.DataFrame
    n_episodes: int
    n_obs: int
    converged: bool
    df_method: str
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.contrasts

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"MMRM of {self.measure} at {', '.join(self.visits)} (unstructured covariance, "
            f"REML, {self.df_method} df): {self.comparator} minus {self.reference}, "
            f"{self.n_episodes} episodes, {self.n_obs} values"
        )

    def to_dict(self) -> dict[str, Any]:
        """Contrasts per visit and the sizes."""
        out: dict[str, Any] = jsonable(
            {
                "measure": self.measure,
                "n_episodes": self.n_episodes,
                "n_obs": self.n_obs,
                "df_method": self.df_method,
                "converged": self.converged,
                "contrasts": [
                    {
                        "visit": r.visit,
                        "estimate": r.estimate,
                        "se": r.std_error,
                        "df": r.df,
                        "ci_low": r.conf_low,
                        "ci_high": r.conf_high,
                        "p": r.p_value,
                    }
                    for r in self.contrasts.itertuples()
                ],
            }
        )
        return out


def mmrm_frame(
    dataset: Dataset,
    *,
    reference: str,
    comparator: str,
    measure: str,
    visits: Sequence[str],
) -> pd.DataFrame:
    """Long rows of the MMRM: ``episode_id``, ``arm``, ``treated``, ``baseline``, ``visit``
    (category in the order of ``visits``), ``value`` — one row per observed visit value of
    a comparison episode that has a baseline value."""
    get_measure(dataset, measure)
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    out = dataset.outcomes
    rows = out.loc[out["measure"] == measure, ["episode_id", "timepoint", "value"]]
    rows = rows.assign(timepoint=rows["timepoint"].astype(str)).dropna(subset=["value"])
    base = rows.loc[rows["timepoint"] == "baseline"].groupby("episode_id")["value"].first()
    later = rows.loc[rows["timepoint"].isin(list(visits))]
    later = later.groupby(["episode_id", "timepoint"], as_index=False)["value"].first()
    frame = later.merge(episodes[["episode_id", "arm", "treated"]], on="episode_id")
    frame = frame.assign(baseline=frame["episode_id"].map(base).astype(float))
    frame = frame.loc[frame["baseline"].notna()]
    frame = frame.rename(columns={"timepoint": "visit"})
    frame["visit"] = pd.Categorical(frame["visit"], categories=list(visits))
    return frame.sort_values(["episode_id", "visit"])[
        ["episode_id", "arm", "treated", "baseline", "visit", "value"]
    ].reset_index(drop=True)


def compare_mmrm(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    visits: Sequence[str] | None = None,
    conf_level: float = 0.95,
) -> MmrmResult:
    """MMRM of ``measure`` at the scheduled visits with the arm contrast at each.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; contrasts read "comparator minus reference".
    measure
        A registered measure.
    visits
        Post-baseline timepoints (default: those of discharge, followup_4w, followup_12w
        that have values of the measure).
    conf_level
        Level of the t-intervals.

    Returns
    -------
    MmrmResult

    Raises
    ------
    RequestError
        Unknown arm or measure, ``baseline`` among the visits, bad ``conf_level``.
    InsufficientDataError
        A requested visit without values, or fewer than 2 episodes per arm.

    Notes
    -----
    Model ``y_v = a_v + b_v arm + c_v baseline + e`` for each visit v (the cell-means form of
    ``arm * visit + baseline * visit``), ``e`` unstructured across visits within an
    episode, REML (:func:`fit_mmrm`); episodes enter with every visit they have (missing
    at random given the observed ones; Mallinckrodt et al. 2008). The arm contrast at v is
    ``b_v`` with a t-interval on Satterthwaite (1946) df. Adjusted means per arm and visit
    at the mean baseline of the analysed episodes.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_mmrm(dataset, visits=["discharge", "followup_12w"])
    >>> result.visits
    ('discharge', 'followup_12w')
    """
    check_conf_level(conf_level, where="compare_mmrm")
    get_measure(dataset, measure)
    wanted = list(visits) if visits is not None else list(_DEFAULT_VISITS)
    if "baseline" in wanted or not wanted:
        raise RequestError(
            f"compare_mmrm: visits must be post-baseline timepoints (the baseline value is "
            f"the covariate); got {wanted!r}. Use e.g. visits=['discharge', 'followup_12w']."
        )
    frame = mmrm_frame(
        dataset, reference=reference, comparator=comparator, measure=measure, visits=wanted
    )
    counts = frame["visit"].value_counts()
    empty = [v for v in wanted if counts.get(v, 0) == 0]
    notes: list[str] = []
    if empty and visits is not None:
        raise InsufficientDataError(
            f"compare_mmrm: no {measure} values at {', '.join(empty)} with a baseline; "
            f"visits with values: {', '.join(v for v in wanted if v not in empty) or 'none'}."
        )
    if empty:
        notes.append(f"Visits without {measure} values were left out: {', '.join(empty)}.")
    used = [v for v in wanted if v not in empty]
    if not used:
        raise InsufficientDataError(f"compare_mmrm: no post-baseline {measure} values.")
    frame["visit"] = pd.Categorical(frame["visit"].astype(str), categories=used)
    for arm in (reference, comparator):
        n_arm = frame.loc[frame["arm"] == arm, "episode_id"].nunique()
        if n_arm < 2:
            raise InsufficientDataError(
                f"compare_mmrm: arm {arm!r} has {n_arm} episodes with a baseline and a visit "
                f"value of {measure}; needs at least 2."
            )
    ids, subject = np.unique(frame["episode_id"].astype(str).to_numpy(), return_inverse=True)
    n_sub, n_vis = len(ids), len(used)
    vis = frame["visit"].cat.codes.to_numpy()
    y = np.full((n_sub, n_vis), np.nan)
    y[subject, vis] = frame["value"].to_numpy(dtype=np.float64)
    arm_sub = np.zeros(n_sub)
    arm_sub[subject] = frame["treated"].to_numpy(dtype=np.float64)
    base_sub = np.zeros(n_sub)
    base_sub[subject] = frame["baseline"].to_numpy(dtype=np.float64)
    eye = np.eye(n_vis)
    design = np.concatenate(
        [
            np.broadcast_to(eye, (n_sub, n_vis, n_vis)),
            eye[None] * arm_sub[:, None, None],
            eye[None] * base_sub[:, None, None],
        ],
        axis=2,
    )
    fit = fit_mmrm(y, design)
    if not fit.converged:
        notes.append("MMRM: the REML optimisation did NOT converge; treat estimates with caution.")
    p = design.shape[2]
    alpha_half = 0.5 + conf_level / 2.0
    rows = []
    mean_rows = []
    base_mean = float(base_sub.mean())
    for v, visit in enumerate(used):  # over the few visits
        ell = np.zeros(p)
        ell[n_vis + v] = 1.0
        rows.append(_t_row(f"arm@{visit}", ell, fit, alpha_half) | {"visit": visit})
        for flag, arm in ((0.0, reference), (1.0, comparator)):
            m = np.zeros(p)
            m[v], m[n_vis + v], m[2 * n_vis + v] = 1.0, flag, base_mean
            row = _t_row("mean", m, fit, alpha_half)
            mean_rows.append({"arm": arm, "visit": visit, **{k: row[k] for k in row if k != "term"}})
    contrasts = pd.DataFrame(rows, columns=[*TIDY_COLUMNS, "visit"])
    means = pd.DataFrame(mean_rows)[
        ["arm", "visit", "estimate", "std_error", "df", "conf_low", "conf_high"]
    ]
    return MmrmResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        visits=tuple(used),
        contrasts=contrasts,
        means=means,
        covariance=pd.DataFrame(fit.sigma, index=used, columns=used),
        n_episodes=fit.n_subjects,
        n_obs=fit.n_obs,
        converged=fit.converged,
        df_method="satterthwaite",
        conf_level=conf_level,
        episodes_used=id_tuple(pd.Index(ids)),
        notes=tuple(notes),
    )


def _t_row(term: str, ell: NDArray[np.float64], fit: MmrmFit, alpha_half: float) -> dict[str, Any]:
    est = float(ell @ fit.coef)
    se = float(math.sqrt(ell @ fit.cov @ ell))
    df = fit.satterthwaite_df(ell)
    crit = float(sps.t.ppf(alpha_half, df))
    return {
        "term": term,
        "estimate": est,
        "std_error": se,
        "statistic": est / se,
        "df": df,
        "p_value": float(2.0 * sps.t.sf(abs(est / se), df)),
        "conf_low": est - crit * se,
        "conf_high": est + crit * se,
    }
