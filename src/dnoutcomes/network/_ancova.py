"""ANCOVA from pooled cross-products: the fit of :func:`~dnoutcomes.stats.ancova.fit_ancova`
(same design, same checks, same covariates left out) computed from XᵀX, Xᵀy and yᵀy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.stats._ancova_fit import MIN_PER_ARM, AncovaResult, hedges_scale
from dnoutcomes.stats._ols import OlsFit
from dnoutcomes.stats.results import TIDY_COLUMNS

__all__ = ["CrossProducts", "add_site_effects", "fit_crossproducts", "pool_entries"]


@dataclass(frozen=True, eq=False)
class CrossProducts:
    """Pooled sufficient statistics of one ANCOVA over the full design.

    ``columns`` holds ``(name, covariate, level, order)`` per column; ``xtx``, ``xty``,
    ``yty`` the cross-products; ``n``, ``y_sum``, ``y_sumsq`` per arm (reference,
    comparator).
    """

    measure: str
    timepoint: str
    covariates: tuple[str, ...]
    columns: tuple[tuple[str, str, str | None, str], ...]
    xtx: np.ndarray
    xty: np.ndarray
    yty: float
    n: np.ndarray
    y_sum: np.ndarray
    y_sumsq: np.ndarray


def pool_entries(entries: Sequence[Mapping[str, Any]]) -> CrossProducts:
    """Sum block entries of one outcome whose design columns may differ (a level seen at
    one site only): every entry is embedded in the union of the columns."""
    first = entries[0]
    info: dict[str, tuple[str, str, str | None, str]] = {}
    for entry in entries:
        for c in entry["columns"]:
            info.setdefault(c["name"], (c["name"], c["covariate"], c["level"], c["order"]))
    fixed = ["intercept", "arm", "baseline"]
    names = list(fixed)
    for cov in first["covariates"]:
        cols = [v for v in info.values() if v[1] == cov]
        cols.sort(key=lambda v: (v[2] is not None, v[3]))
        names.extend(v[0] for v in cols)
    index = {name: i for i, name in enumerate(names)}
    p = len(names)
    xtx = np.zeros((p, p))
    xty = np.zeros(p)
    yty = 0.0
    n = np.zeros(2)
    y_sum = np.zeros(2)
    y_sumsq = np.zeros(2)
    for entry in entries:
        pos = np.array([index[c["name"]] for c in entry["columns"]], dtype=int)
        xtx[np.ix_(pos, pos)] += np.asarray(entry["xtx"], dtype=float)
        xty[pos] += np.asarray(entry["xty"], dtype=float)
        yty += float(entry["yty"])
        n += np.asarray(entry["n"], dtype=float)
        y_sum += np.asarray(entry["y_sum"], dtype=float)
        y_sumsq += np.asarray(entry["y_sumsq"], dtype=float)
    return CrossProducts(
        measure=first["measure"],
        timepoint=first["timepoint"],
        covariates=tuple(first["covariates"]),
        columns=tuple(info[name] for name in names),
        xtx=xtx,
        xty=xty,
        yty=yty,
        n=n,
        y_sum=y_sum,
        y_sumsq=y_sumsq,
    )


def add_site_effects(
    pooled: CrossProducts, per_site: Mapping[str, CrossProducts], covariate: str = "site_id"
) -> CrossProducts:
    """Append a 0/1 column per site: its cross-products are the site's own intercept row
    (XᵀX[d_s, j] = the site's Σ x_j, d_sᵀd_s = n_s, d_sᵀd_t = 0, d_sᵀy = the site's Σ y), so
    the site fixed-effects model is exact from the per-site blocks."""
    if covariate in pooled.covariates:
        return pooled
    names = [c[0] for c in pooled.columns]
    index = {name: i for i, name in enumerate(names)}
    sites = sorted(per_site)
    p, k = len(names), len(sites)
    xtx = np.zeros((p + k, p + k))
    xtx[:p, :p] = pooled.xtx
    xty = np.concatenate([pooled.xty, np.zeros(k)])
    for s, site in enumerate(sites):
        block = per_site[site]
        row = np.zeros(p)
        pos = [index[c[0]] for c in block.columns]
        row[pos] = block.xtx[0]
        xtx[p + s, :p] = row
        xtx[:p, p + s] = row
        xtx[p + s, p + s] = block.xtx[0, 0]
        xty[p + s] = block.xty[0]
    columns = pooled.columns + tuple((f"{covariate}={s}", covariate, s, s) for s in sites)
    return CrossProducts(
        measure=pooled.measure,
        timepoint=pooled.timepoint,
        covariates=(*pooled.covariates, covariate),
        columns=columns,
        xtx=xtx,
        xty=xty,
        yty=pooled.yty,
        n=pooled.n,
        y_sum=pooled.y_sum,
        y_sumsq=pooled.y_sumsq,
    )


def _rank(xtx: np.ndarray) -> int:
    """The rank of X from XᵀX (scaled to unit diagonal; eigenvalues below 1e-10 of the
    largest count as zero)."""
    d = np.sqrt(np.diag(xtx))
    if (d == 0).any():
        return int(np.linalg.matrix_rank(xtx))
    scaled = xtx / np.outer(d, d)
    eig = np.linalg.eigvalsh(scaled)
    return int((eig > eig.max() * 1e-10).sum())


def _constant(xtx: np.ndarray, n: float, j: int) -> bool:
    """Whether column j takes one value in every row (its variance is zero)."""
    sx, sxx = xtx[0, j], xtx[j, j]
    var = sxx - sx * sx / n
    return bool(var <= 1e-12 * max(sxx, 1.0))


def fit_crossproducts(
    cp: CrossProducts,
    *,
    conf_level: float,
    reference: str,
    comparator: str,
) -> AncovaResult:
    """Fit ``outcome ~ arm + baseline (+ covariates)`` from pooled cross-products.

    Returns
    -------
    AncovaResult
        As :func:`~dnoutcomes.stats.ancova.fit_ancova` would on the pooled rows, with
        ``episodes_used`` empty (no row ids leave a site).

    Raises
    ------
    InsufficientDataError
        The checks of ``fit_ancova``: an arm with fewer than 2 complete episodes, no
        residual degrees of freedom, a constant baseline or outcome, collinear columns.
    """
    label = f"ANCOVA of {cp.measure} at {cp.timepoint}"
    n0, n1 = int(cp.n[0]), int(cp.n[1])
    n = n0 + n1
    if min(n0, n1) < MIN_PER_ARM:
        raise InsufficientDataError(
            f"{label}: {reference} has {n0} and {comparator} has {n1} episodes with both a "
            f"baseline and a {cp.timepoint} value over the network; needs at least "
            f"{MIN_PER_ARM} per arm."
        )
    xtx_all = cp.xtx
    notes: list[str] = []
    keep = [0, 1, 2]
    kept_covs: list[str] = []
    for cov in cp.covariates:
        cols = [
            i
            for i, c in enumerate(cp.columns)
            if c[1] == cov and (c[2] is None or xtx_all[0, i] > 0)
        ]
        if cols and cp.columns[cols[0]][2] is not None:
            cols = cols[1:]  # the first level present over the network is the reference
        if not cols or all(_constant(xtx_all, n, j) for j in cols):
            notes.append(
                f"Covariate {cov!r} was not adjusted for: it takes one value in all {n} "
                "analysed episodes."
            )
            continue
        trial = keep + cols
        if _rank(xtx_all[np.ix_(trial, trial)]) < len(trial):
            notes.append(
                f"Covariate {cov!r} was not adjusted for: it is collinear with the arm, "
                f"the baseline or the covariates before it in the {n} analysed episodes."
            )
            continue
        keep = trial
        kept_covs.append(cov)
    terms = [cp.columns[i][0] for i in keep]
    p = len(keep)
    if n - p < 1:
        raise InsufficientDataError(
            f"{label}: {n} complete episodes for {p} model parameters; needs at least {p + 1}."
        )
    if _constant(xtx_all, n, 2):
        raise InsufficientDataError(
            f"{label}: the baseline takes one value for all {n} analysed episodes, so the "
            "model cannot separate it from the intercept; needs variation."
        )
    y_mean = (cp.y_sum[0] + cp.y_sum[1]) / n
    if cp.yty - n * y_mean**2 <= 1e-12 * max(cp.yty, 1.0):
        raise InsufficientDataError(
            f"{label}: every one of the {n} analysed episodes has the same {cp.measure} at "
            f"{cp.timepoint}; a difference needs outcomes that vary."
        )
    xtx = xtx_all[np.ix_(keep, keep)]
    xty = cp.xty[keep]
    if _rank(xtx) < p:
        raise InsufficientDataError(
            f"{label}: the model columns {', '.join(terms)} are collinear in the {n} "
            "analysed episodes."
        )
    inv = np.linalg.inv(xtx)
    params = inv @ xty
    rss = float(cp.yty - params @ xty)
    df_resid = float(n - p)
    sigma2 = rss / df_resid
    vcov = sigma2 * inv
    se = np.sqrt(np.diag(vcov))
    tcrit = float(sps.t.ppf(0.5 + conf_level / 2, df_resid))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = params / se
    pvals = 2 * sps.t.sf(np.abs(tstat), df_resid)
    coefficients = pd.DataFrame(
        {
            "term": terms,
            "estimate": params,
            "std_error": se,
            "statistic": tstat,
            "df": df_resid,
            "p_value": pvals,
            "conf_low": params - tcrit * se,
            "conf_high": params + tcrit * se,
        },
        columns=list(TIDY_COLUMNS),
    )
    ols = OlsFit(coefficients=coefficients, params=params, cov=vcov, df_resid=df_resid, tcrit=tcrit)
    xbar = xtx[0] / n
    grid = np.vstack([xbar, xbar])
    grid[:, 1] = [0.0, 1.0]
    mean_est, mean_se = ols.predict(grid)
    adjusted_means = pd.DataFrame(
        {
            "arm": [reference, comparator],
            "role": ["reference", "comparator"],
            "n": [n0, n1],
            "estimate": mean_est,
            "std_error": mean_se,
            "conf_low": mean_est - tcrit * mean_se,
            "conf_high": mean_est + tcrit * mean_se,
        }
    )
    var = (cp.y_sumsq - cp.y_sum**2 / cp.n) / (cp.n - 1)
    pooled_sd = float(np.sqrt(((n0 - 1) * var[0] + (n1 - 1) * var[1]) / (n0 + n1 - 2)))
    scale = hedges_scale(n0, n1, pooled_sd)
    arm = coefficients.iloc[1]
    return AncovaResult(
        measure=cp.measure,
        timepoint=cp.timepoint,
        reference=reference,
        comparator=comparator,
        covariates=tuple(kept_covs),
        conf_level=conf_level,
        coefficients=coefficients,
        adjusted_means=adjusted_means,
        estimate=float(arm["estimate"]),
        std_error=float(arm["std_error"]),
        statistic=float(arm["statistic"]),
        df=df_resid,
        p_value=float(arm["p_value"]),
        conf_low=float(arm["conf_low"]),
        conf_high=float(arm["conf_high"]),
        hedges_g=float(arm["estimate"]) * scale,
        hedges_g_conf_low=float(arm["conf_low"]) * scale,
        hedges_g_conf_high=float(arm["conf_high"]) * scale,
        pooled_sd=pooled_sd,
        n=n,
        n_reference=n0,
        n_comparator=n1,
        episodes_used=(),
        notes=tuple(notes),
    )
