"""Cluster-robust standard errors for the ANCOVA (section 1) and the IPTW-weighted ANCOVA
(section 6): episodes are nested in therapists and sites, so their outcomes are not
independent (section 10 of the analysis plan).

The array-level functions are :func:`~dnoutcomes.stats._cluster.cluster_vcov` and
:func:`~dnoutcomes.stats._cluster.cr2_vcov` (re-exported here); :func:`compare_clustered`
gives the arm effect with its classical (or HC0) and its cluster-robust standard error side
by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as sps

from dnoutcomes.cohort import get_measure, outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._balance import indicator_columns
from dnoutcomes.stats._cluster import ClusterType, cluster_vcov, cr2_vcov
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._propensity import propensity_weights
from dnoutcomes.stats.aipw import PS_CATEGORICAL, PS_CONTINUOUS, propensity_frame
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["ClusteredResult", "cluster_vcov", "compare_clustered", "cr2_vcov"]

#: The df of the cluster-robust interval for each type.
_DF_METHOD = {"HC0": "clusters - 1", "HC1": "clusters - 1", "CR2": "satterthwaite"}

Weighting = Literal["none", "iptw"]


@table_alias("estimates")
@dataclass(frozen=True, repr=False, eq=False)
class ClusteredResult(ResultMixin):
    """The arm effect with its usual and its cluster-robust standard error.

    Attributes
    ----------
    estimates
        Two tidy rows: ``term`` ``"model"`` (classical OLS SE with a t(n - k) interval, or
        for IPTW the HC0 SE with a normal interval, as sections 1 and 6 report them) and
        ``"cluster_robust"`` (CR1 or HC0 SE with a t interval on G - 1 df, or the CR2 SE
        with a t interval on its Satterthwaite df).
    cluster
        The column clustered on; ``n_clusters`` its number of distinct values.
    cluster_type
        ``"HC1"`` (CR1), ``"HC0"`` or ``"CR2"``.
    df_method
        The df of the cluster-robust row: ``"clusters - 1"`` (HC0, HC1) or
        ``"satterthwaite"`` (CR2; Bell & McCaffrey 2002).
    """

    reference: str
    comparator: str
    measure: str
    timepoint: str
    weighting: str
    cluster: str
    cluster_type: str
    estimates: pd.DataFrame
    n: int
    n_clusters: int
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())
    df_method: str = "clusters - 1"

    @property
    def title(self) -> str:  # type: ignore[override]
        how = "IPTW-weighted ANCOVA" if self.weighting == "iptw" else "ANCOVA"
        return (
            f"{how} of {self.measure} at {self.timepoint} with SEs clustered by "
            f"{self.cluster} ({self.n_clusters} clusters, {self.cluster_type}, "
            f"{self.df_method} df): "
            f"{self.comparator} minus {self.reference}, n = {self.n}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Both rows keyed by term, with the clustering."""
        rows = self._frame.set_index("term")
        out: dict[str, Any] = jsonable(
            {
                "measure": self.measure,
                "timepoint": self.timepoint,
                "weighting": self.weighting,
                "cluster": self.cluster,
                "type": self.cluster_type,
                "df_method": self.df_method,
                "n": self.n,
                "n_clusters": self.n_clusters,
                **{
                    term: {
                        "estimate": rows.loc[term, "estimate"],
                        "se": rows.loc[term, "std_error"],
                        "df": rows.loc[term, "df"],
                        "ci_low": rows.loc[term, "conf_low"],
                        "ci_high": rows.loc[term, "conf_high"],
                        "p": rows.loc[term, "p_value"],
                    }
                    for term in rows.index
                },
            }
        )
        return out


def _row(term: str, est: float, se: float, df: float, conf_level: float) -> dict[str, float | str]:
    dist = sps.norm if math.isnan(df) else sps.t(df)
    crit = float(dist.ppf(0.5 + conf_level / 2.0))
    stat = est / se
    return {
        "term": term,
        "estimate": est,
        "std_error": se,
        "statistic": stat,
        "df": df,
        "p_value": float(2.0 * dist.sf(abs(stat))),
        "conf_low": est - crit * se,
        "conf_high": est + crit * se,
    }


def compare_clustered(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    cluster: str = "therapist_id",
    weighting: Weighting = "none",
    type: ClusterType = "HC1",
    conf_level: float = 0.95,
) -> ClusteredResult:
    """The ANCOVA (or IPTW) arm effect with standard errors clustered by therapist or site.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure, timepoint
        The outcome (ANCOVA of section 1). With ``weighting="iptw"`` only NPRS at discharge
        (the set of section 6).
    cluster
        An episode column: ``"therapist_id"`` (default) or ``"site_id"``.
    weighting
        ``"none"``: OLS ``y ~ arm + baseline``; ``"iptw"``: the stabilised-ATE-weighted OLS
        of section 6.
    type
        ``"HC1"`` (CR1, default), ``"HC0"`` or ``"CR2"`` (for few clusters); see
        :func:`~dnoutcomes.stats._cluster.cluster_vcov` and
        :func:`~dnoutcomes.stats._cluster.cr2_vcov`.
    conf_level
        Level of the intervals.

    Returns
    -------
    ClusteredResult

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint, cluster column or weighting; IPTW with another
        outcome than NPRS at discharge.
    InsufficientDataError
        Fewer than 2 clusters or fewer than 3 episodes.

    Notes
    -----
    The arm coefficient is the usual one; only its SE changes: ``V = c B M B`` with the
    cluster sums of the scores (Cameron & Miller 2015), as ``sandwich::vcovCL(fit, cluster
    = ~ therapist_id, type = "HC1")``. The cluster-robust interval is a t interval on G - 1
    degrees of freedom (G clusters; Cameron & Miller's recommendation; with few clusters,
    below about 30, it is still too narrow). ``type="CR2"`` is the small-sample version:
    Bell & McCaffrey's (2002) bias-reduced CR2 covariance with a t interval on the
    Satterthwaite df of the arm coefficient, as ``clubSandwich::coef_test(fit, vcov =
    "CR2", cluster = ~ site_id, test = "Satterthwaite")`` (Imbens & Kolesár 2016;
    Pustejovsky & Tipton 2018); those df fall well below G - 1 when the clusters are
    unequal or one arm sits in few of them. Episodes without a cluster id are left out.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_clustered(dataset, cluster="site_id")
    >>> result.table["term"].tolist()
    ['model', 'cluster_robust']
    """
    check_conf_level(conf_level, where="compare_clustered")
    if weighting not in ("none", "iptw"):
        raise RequestError(
            f"compare_clustered: weighting must be 'none' or 'iptw'; got {weighting!r}."
        )
    if type not in _DF_METHOD:
        raise RequestError(f"compare_clustered: type must be 'HC1', 'HC0' or 'CR2'; got {type!r}.")
    get_measure(dataset, measure)
    notes: list[str] = []
    weights: NDArray[np.float64] | None
    if weighting == "iptw":
        if (measure, timepoint) != ("nprs", "discharge"):
            raise RequestError(
                "compare_clustered: the IPTW analysis is of NPRS at discharge (section 6); "
                f"got {measure} at {timepoint}. Use weighting='none' for other outcomes."
            )
        data, notes = propensity_frame(dataset, reference=reference, comparator=comparator)
        covariates = indicator_columns(data, continuous=PS_CONTINUOUS, categorical=PS_CATEGORICAL)
        _, weights, converged, messages = propensity_weights(covariates, data["treated"])
        notes.extend(f"Propensity model: {m}." for m in messages)
        if not converged:
            notes.append("Propensity model: the logistic regression did NOT converge.")
    else:
        pairs = outcome_pairs(
            dataset,
            measure=measure,
            timepoint=timepoint,
            reference=reference,
            comparator=comparator,
        )
        complete = pairs[["baseline", "value"]].notna().all(axis=1)
        if (~complete).any():
            notes.append(
                f"{int((~complete).sum())} episodes without a baseline and {timepoint} "
                f"{measure} were left out."
            )
        data = pairs.loc[complete].rename(
            columns={"baseline": "nprs_baseline", "value": "nprs_discharge"}
        )
        weights = None
    if cluster not in data.columns:
        raise RequestError(
            f"compare_clustered: cluster column {cluster!r} not found; episodes have "
            f"{', '.join(map(str, data.columns))}. Use 'therapist_id' or 'site_id'."
        )
    has_id = data[cluster].notna().to_numpy()
    if not has_id.all():
        notes.append(f"{int((~has_id).sum())} episodes without a {cluster} were left out.")
        data = data.loc[has_id]
        weights = None if weights is None else weights[has_id]
    if len(data) < 4:
        raise InsufficientDataError(
            f"compare_clustered: {len(data)} analysable episodes; needs at least 4."
        )
    y = data["nprs_discharge"].to_numpy(dtype=np.float64)
    x = np.column_stack(
        [np.ones(len(y)), data["treated"].to_numpy(float), data["nprs_baseline"].to_numpy(float)]
    )
    w = np.ones(len(y)) if weights is None else weights
    xw = x * w[:, None]
    bread = np.linalg.inv(x.T @ xw)
    beta = bread @ (xw.T @ y)
    resid = y - x @ beta
    n, k = x.shape
    if weights is None:
        model_se = math.sqrt(float(resid @ resid) / (n - k) * bread[1, 1])
        model_df = float(n - k)
    else:
        scores = xw * resid[:, None]
        model_se = math.sqrt((bread @ (scores.T @ scores) @ bread)[1, 1])
        model_df = math.nan
    ids = data[cluster].astype(str).to_numpy()
    n_clusters = len(np.unique(ids))
    if type == "CR2":
        vcov, cr2_df = cr2_vcov(x, resid, ids, weights=weights)
        robust_df = float(cr2_df[1])
    else:
        vcov = cluster_vcov(x, resid, ids, weights=weights, type=type)
        robust_df = float(n_clusters - 1)
    if n_clusters < 30 and type != "CR2":
        notes.append(
            f"Only {n_clusters} clusters: cluster-robust SEs are biased downwards with fewer "
            "than about 30 (Cameron & Miller 2015); read the interval as too narrow, or use "
            "type CR2."
        )
    elif type == "CR2" and robust_df < 4:
        notes.append(
            f"CR2 by {cluster}: {robust_df:.1f} Satterthwaite df (fewer than 4): even the "
            "small-sample interval is unreliable with so little between-cluster information "
            "(Pustejovsky & Tipton 2018)."
        )
    est = float(beta[1])
    rows = [
        _row("model", est, model_se, model_df, conf_level),
        _row("cluster_robust", est, math.sqrt(vcov[1, 1]), robust_df, conf_level),
    ]
    return ClusteredResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        weighting=weighting,
        cluster=cluster,
        cluster_type=type,
        estimates=pd.DataFrame(rows, columns=list(TIDY_COLUMNS)),
        n=n,
        n_clusters=n_clusters,
        conf_level=conf_level,
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
        df_method=_DF_METHOD[type],
    )
