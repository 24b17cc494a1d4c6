"""Section 7 of the analysis plan: the ANCOVA within each site, pooled by DerSimonian–Laird
random effects (the estimate a multi-site clinic group would report, with the spread
between sites made explicit)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset
    from dnoutcomes.stats._ancova_fit import AncovaResult

__all__ = ["PooledEstimate", "SiteMetaResult", "compare_sites", "pool_dersimonian_laird"]

#: Sites needed for a pooled estimate.
MIN_SITES = 2


@dataclass(frozen=True)
class PooledEstimate(ResultMixin):
    """A DerSimonian–Laird random-effects pooled estimate.

    Attributes
    ----------
    estimate, std_error, statistic, p_value, conf_low, conf_high
        The random-effects estimate, its SE, Wald z, two-sided p and normal interval.
    fixed_estimate, fixed_std_error
        The inverse-variance (fixed-effect) estimate and SE.
    tau2
        Between-study variance, the moment estimate truncated at 0.
    i2
        Share of the total variability due to heterogeneity, in percent (0–100).
    q, q_df, q_p_value
        Cochran's Q, its degrees of freedom ``k - 1`` and its chi-squared p-value.
    k
        Number of estimates pooled.
    weights
        Random-effects weights in percent, in the order of the inputs.
    notes
        Empty: pooling numbers leaves nobody out (``compare_sites`` notes left-out sites).

    ``to_frame()`` gives two rows, ``term`` ``random_effects`` and ``fixed_effect``, with
    ``estimate``, ``std_error``, ``statistic``, ``p_value``, ``conf_low``, ``conf_high``
    (the fixed-effect row has the estimate and SE only), then ``tau2``, ``i2``, ``q``,
    ``q_df``, ``q_p_value`` and ``k`` on both rows.
    """

    estimate: float
    std_error: float
    statistic: float
    p_value: float
    conf_low: float
    conf_high: float
    fixed_estimate: float
    fixed_std_error: float
    tau2: float
    i2: float
    q: float
    q_df: int
    q_p_value: float
    k: int
    weights: tuple[float, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        nan = float("nan")
        return pd.DataFrame(
            {
                "term": ["random_effects", "fixed_effect"],
                "estimate": [self.estimate, self.fixed_estimate],
                "std_error": [self.std_error, self.fixed_std_error],
                "statistic": [self.statistic, nan],
                "p_value": [self.p_value, nan],
                "conf_low": [self.conf_low, nan],
                "conf_high": [self.conf_high, nan],
                "tau2": self.tau2,
                "i2": self.i2,
                "q": self.q,
                "q_df": self.q_df,
                "q_p_value": self.q_p_value,
                "k": self.k,
            }
        )

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"DerSimonian-Laird random-effects pool of {self.k} estimates"


def pool_dersimonian_laird(
    estimates: ArrayLike, std_errors: ArrayLike, *, conf_level: float = 0.95
) -> PooledEstimate:
    """Pool estimates by DerSimonian–Laird random effects.

    Parameters
    ----------
    estimates
        One estimate per study (site).
    std_errors
        Their standard errors (> 0).
    conf_level
        Level of the normal interval, in (0, 1).

    Returns
    -------
    PooledEstimate

    Raises
    ------
    RequestError
        Lengths differ, values are not finite, an SE is not positive, or ``conf_level`` is
        outside (0, 1).
    InsufficientDataError
        Fewer than two estimates.

    Notes
    -----
    With ``w_i = 1 / se_i^2``: fixed-effect ``mu_F = sum w y / sum w``;
    ``Q = sum w (y - mu_F)^2``; ``tau2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))``
    (DerSimonian & Laird 1986: truncated at 0, unlike statsmodels' ``combine_effects``);
    ``w*_i = 1 / (se_i^2 + tau2)``, ``mu = sum w* y / sum w*``, ``SE = sqrt(1 / sum w*)``.
    ``I2 = 100 tau2 / (tau2 + s2)`` with the typical within-study variance
    ``s2 = (k - 1) sum w / ((sum w)^2 - sum w^2)`` (metafor's definition; for DL it equals
    ``100 max(0, (Q - (k - 1)) / Q)``). Missing values are not allowed.

    References
    ----------
    DerSimonian R, Laird N. Meta-analysis in clinical trials. Control Clin Trials
    1986;7:177-188. Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis.
    Stat Med 2002;21:1539-1558.

    Examples
    --------
    Three sites that agree more than their standard errors require: tau2 is truncated at 0.

    >>> p = pool_dersimonian_laird([-0.59, -0.86, -0.95], [0.30, 0.26, 0.31])
    >>> round(p.estimate, 3), round(p.std_error, 3), p.tau2, p.i2, round(p.q, 3)
    (-0.803, 0.166, 0.0, 0.0, 0.777)

    Four that disagree:

    >>> p = pool_dersimonian_laird([-1.2, 0.1, -0.9, 0.4], [0.2, 0.25, 0.3, 0.2])
    >>> round(p.estimate, 3), round(p.tau2, 3), round(p.i2, 1), round(p.q, 2)
    (-0.395, 0.638, 92.2, 38.7)
    """
    y = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    if y.ndim != 1 or y.shape != se.shape:
        raise RequestError(
            "pool_dersimonian_laird: estimates and std_errors must be 1-d of the same "
            f"length; got shapes {y.shape} and {se.shape}."
        )
    if not (np.isfinite(y).all() and np.isfinite(se).all() and (se > 0).all()):
        raise RequestError(
            "pool_dersimonian_laird: estimates must be finite and standard errors finite and "
            "positive; drop the studies without a usable estimate first."
        )
    check_conf_level(conf_level, where="pool_dersimonian_laird")
    k = int(y.shape[0])
    if k < MIN_SITES:
        raise InsufficientDataError(
            f"pool_dersimonian_laird: {k} estimate(s) given; pooling needs at least {MIN_SITES}. "
            "Pool estimates from two or more sites, or report the single estimate as it is."
        )
    w = 1.0 / se**2
    sum_w = float(w.sum())
    fixed = float(w @ y) / sum_w
    q = float(w @ (y - fixed) ** 2)
    c = sum_w - float(w @ w) / sum_w
    tau2 = max(0.0, (q - (k - 1)) / c)
    w_star = 1.0 / (se**2 + tau2)
    estimate = float(w_star @ y) / float(w_star.sum())
    std_error = math.sqrt(1.0 / float(w_star.sum()))
    s2 = (k - 1) * sum_w / (sum_w**2 - float(w @ w))
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    statistic = estimate / std_error
    return PooledEstimate(
        estimate=estimate,
        std_error=std_error,
        statistic=statistic,
        p_value=float(2.0 * stats.norm.sf(abs(statistic))),
        conf_low=estimate - z * std_error,
        conf_high=estimate + z * std_error,
        fixed_estimate=fixed,
        fixed_std_error=math.sqrt(1.0 / sum_w),
        tau2=tau2,
        i2=100.0 * tau2 / (tau2 + s2),
        q=q,
        q_df=k - 1,
        q_p_value=float(stats.chi2.sf(q, k - 1)),
        k=k,
        weights=tuple((100.0 * w_star / w_star.sum()).tolist()),
    )


@dataclass(frozen=True, repr=False, eq=False)
class SiteMetaResult(ResultMixin):
    """Per-site ANCOVA estimates and their DerSimonian–Laird pooled estimate.

    Attributes
    ----------
    reference, comparator, measure, timepoint
        What was compared.
    sites
        One row per pooled site: ``site_id`` (str), ``n``, ``n_reference``,
        ``n_comparator`` (int), ``estimate``, ``std_error``, ``statistic`` (t), ``df``,
        ``p_value``, ``conf_low``, ``conf_high`` (the site's ANCOVA arm coefficient, t
        interval), ``weight`` (random-effects weight, percent).
    pooled
        The pooled estimate (see :class:`PooledEstimate`).
    sites_left_out
        Sites without enough episodes in both arms for an ANCOVA.
    estimate, std_error, conf_low, conf_high, tau2, i2, q
        Shortcuts to the same attributes of ``pooled``.
    """

    reference: str
    comparator: str
    measure: str
    timepoint: str
    sites: pd.DataFrame
    pooled: PooledEstimate
    sites_left_out: tuple[str, ...]
    n: int
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def estimate(self) -> float:
        """The pooled random-effects estimate."""
        return self.pooled.estimate

    @property
    def std_error(self) -> float:
        """Its standard error."""
        return self.pooled.std_error

    @property
    def conf_low(self) -> float:
        """Lower limit of its normal interval."""
        return self.pooled.conf_low

    @property
    def conf_high(self) -> float:
        """Upper limit of its normal interval."""
        return self.pooled.conf_high

    @property
    def tau2(self) -> float:
        """Between-site variance (DerSimonian-Laird, truncated at 0)."""
        return self.pooled.tau2

    @property
    def i2(self) -> float:
        """I² in percent."""
        return self.pooled.i2

    @property
    def q(self) -> float:
        """Cochran's Q."""
        return self.pooled.q

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        p = self.pooled
        pooled_row = pd.DataFrame(
            {
                "term": ["pooled (DerSimonian-Laird)"],
                "n": [self.n],
                "estimate": [p.estimate],
                "std_error": [p.std_error],
                "statistic": [p.statistic],
                "df": [np.nan],
                "p_value": [p.p_value],
                "conf_low": [p.conf_low],
                "conf_high": [p.conf_high],
                "weight": [100.0],
            }
        )
        per_site = self.sites.rename(columns={"site_id": "term"})[list(pooled_row.columns)]
        return pd.concat([per_site, pooled_row], ignore_index=True)

    @property
    def title(self) -> str:  # type: ignore[override]
        p = self.pooled
        return (
            f"{self.measure} at {self.timepoint} by site: {self.comparator} minus "
            f"{self.reference}, ANCOVA per site pooled by DerSimonian-Laird; "
            f"tau2 = {p.tau2:.3g}, I2 = {p.i2:.1f} %, Q = {p.q:.3g} on {p.q_df} df "
            f"(p = {p.q_p_value:.3g})"
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the site forest plot with the pooled diamond.

        Hands off to :func:`dnoutcomes.plots.plot_site_forest`; keyword arguments go to it.
        """
        from dnoutcomes.plots.forest import plot_site_forest

        return plot_site_forest(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``site_meta`` section (plus the fixed-effect estimate and Q's p)."""
        p = self.pooled
        sites = [
            {"site_id": s, "n": n, "estimate": e, "se": se}
            for s, n, e, se in zip(
                self.sites["site_id"],
                self.sites["n"],
                self.sites["estimate"],
                self.sites["std_error"],
                strict=True,
            )
        ]
        out: dict[str, Any] = jsonable(
            {
                "sites": sites,
                "estimate": p.estimate,
                "se": p.std_error,
                "ci_low": p.conf_low,
                "ci_high": p.conf_high,
                "tau2": p.tau2,
                "i2": p.i2,
                "q": p.q,
                "q_p": p.q_p_value,
                "fixed_estimate": p.fixed_estimate,
                "fixed_se": p.fixed_std_error,
                "sites_left_out": list(self.sites_left_out),
            }
        )
        return out


def compare_sites(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    conf_level: float = 0.95,
) -> SiteMetaResult:
    """ANCOVA of ``measure`` at ``timepoint`` within each site, pooled across sites.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms compared; estimates read "comparator minus reference".
    measure, timepoint
        The outcome (default NPRS at discharge, as the plan).
    conf_level
        Level of the per-site t intervals and of the pooled normal interval.

    Returns
    -------
    SiteMetaResult
        ``sites`` (site_id, n, n_reference, n_comparator, estimate, std_error, statistic,
        df, p_value, conf_low, conf_high, weight) and ``pooled``.

    Raises
    ------
    RequestError
        An unknown arm, measure or timepoint; ``conf_level`` outside (0, 1).
    InsufficientDataError
        Fewer than two sites with an estimable ANCOVA.

    Notes
    -----
    Within each site, :func:`dnoutcomes.stats.ancova.fit_ancova` fits
    ``value ~ arm + baseline`` by OLS on the episodes with both values (complete cases);
    a site whose ANCOVA cannot be fitted (too few episodes in an arm) is left out and named
    in ``notes``. The site estimates are pooled by :func:`pool_dersimonian_laird`.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_sites(dataset).to_dict()
    >>> [site["site_id"] for site in result["sites"]], round(result["estimate"], 2)
    (['central', 'north', 'south'], -0.48)
    """
    check_conf_level(conf_level, where="compare_sites")
    # Imported here: the ANCOVA module loads statsmodels, which `import dnoutcomes` avoids.
    from dnoutcomes.stats.ancova import fit_ancova

    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    complete = pairs.loc[pairs["baseline"].notna() & pairs["value"].notna()]
    rows: list[dict[str, Any]] = []
    left_out: list[str] = []
    notes: list[str] = []
    used: list[str] = []
    for site, group in complete.groupby("site_id", sort=True):  # one fit per site
        try:
            fit = fit_ancova(
                group,
                conf_level=conf_level,
                measure=measure,
                timepoint=timepoint,
                reference=reference,
                comparator=comparator,
            )
        except InsufficientDataError as exc:
            left_out.append(str(site))
            notes.append(f"Site {site} was left out: {exc}")
            continue
        used.extend(fit.episodes_used)
        rows.append(site_row(str(site), fit))
    if len(rows) < MIN_SITES:
        raise InsufficientDataError(
            f"site meta-analysis of {measure} at {timepoint}: {len(rows)} site(s) have enough "
            f"episodes of both arms for an ANCOVA (sites in the data: "
            f"{', '.join(sorted(map(str, pairs['site_id'].unique())))}); pooling needs at "
            f"least {MIN_SITES}."
        )
    sites = pd.DataFrame(
        rows, columns=["site_id", "n", "n_reference", "n_comparator", *TIDY_COLUMNS[1:]]
    )
    pooled = pool_dersimonian_laird(sites["estimate"], sites["std_error"], conf_level=conf_level)
    sites["weight"] = pooled.weights
    n_missing = len(pairs) - len(complete)
    if n_missing:
        notes.insert(
            0,
            f"{n_missing} episodes without both a baseline and a {timepoint} {measure} were "
            "left out.",
        )
    return SiteMetaResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        sites=sites,
        pooled=pooled,
        sites_left_out=tuple(left_out),
        n=int(sites["n"].sum()),
        conf_level=conf_level,
        episodes_used=tuple(used),
        notes=tuple(notes),
    )


def site_row(site: str, fit: AncovaResult) -> dict[str, Any]:
    """One site's row of :attr:`SiteMetaResult.sites` from its ANCOVA (before the weight)."""
    return {
        "site_id": site,
        "n": fit.n,
        "n_reference": fit.n_reference,
        "n_comparator": fit.n_comparator,
        "estimate": fit.estimate,
        "std_error": fit.std_error,
        "statistic": fit.statistic,
        "df": fit.df,
        "p_value": fit.p_value,
        "conf_low": fit.conf_low,
        "conf_high": fit.conf_high,
    }
