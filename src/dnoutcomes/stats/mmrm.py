"""Mixed model for repeated measures (MMRM): the outcome at each scheduled visit with an
unstructured covariance, fitted by REML, and the arm contrast at each visit with
Satterthwaite or Kenward–Roger degrees of freedom (section 10 of the analysis plan).

:func:`fit_mmrm` works on arrays (a wide outcome matrix, one row per episode);
:func:`compare_mmrm` builds them from a dataset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as sps

from dnoutcomes._frames import category_codes
from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._kenward_roger import KrPieces, kr_df
from dnoutcomes.stats._mmrm_reml import MmrmFit, fit_mmrm
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["DfMethod", "MmrmFit", "MmrmResult", "compare_mmrm", "fit_mmrm"]

#: Degrees of freedom of the contrasts: Satterthwaite (1946) with the model-based
#: covariance, or Kenward & Roger (1997) with their adjusted covariance.
DfMethod = Literal["satterthwaite", "kenward-roger"]
_DF_METHODS: tuple[str, ...] = ("satterthwaite", "kenward-roger")

_DEFAULT_VISITS: tuple[str, ...] = ("discharge", "followup_4w", "followup_12w")


@table_alias("contrasts")
@dataclass(frozen=True, repr=False, eq=False)
class MmrmResult(ResultMixin):
    """The arm contrast at each visit from an MMRM.

    Attributes
    ----------
    contrasts
        One row per visit: ``term`` (``"arm@<visit>"``), ``estimate`` (comparator minus
        reference), ``std_error``, ``statistic`` (t), ``df`` (Satterthwaite or
        Kenward–Roger, see ``df_method``), ``p_value``, ``conf_low``, ``conf_high``; plus
        ``visit``. Under Kenward–Roger ``std_error`` is from the adjusted covariance.
    means
        Adjusted means: ``arm``, ``visit``, ``estimate``, ``std_error``, ``df``,
        ``conf_low``, ``conf_high`` at the mean baseline of the analysed episodes.
    covariance
        The estimated visit covariance matrix (rows and columns: the visits).
    df_method
        ``"satterthwaite"`` or ``"kenward-roger"``.
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
                    for r in self._frame.itertuples()
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
    later = (
        rows.loc[rows["timepoint"].isin(list(visits))]
        .groupby(["episode_id", "timepoint"], as_index=False)["value"]
        .first()
    )
    frame = pd.DataFrame(later).merge(episodes[["episode_id", "arm", "treated"]], on="episode_id")
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
    df: DfMethod = "satterthwaite",
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
    df
        ``"satterthwaite"`` (default) or ``"kenward-roger"`` (Kenward & Roger 1997: the
        adjusted covariance of the coefficients and its df; for small samples).

    Returns
    -------
    MmrmResult

    Raises
    ------
    RequestError
        Unknown arm or measure, ``baseline`` among the visits, bad ``conf_level`` or
        ``df``.
    InsufficientDataError
        A requested visit without values, or fewer than 2 episodes per arm.

    Notes
    -----
    Model ``y_v = a_v + b_v arm + c_v baseline + e`` for each visit v (the cell-means form of
    ``arm * visit + baseline * visit``), ``e`` unstructured across visits within an
    episode, REML (:func:`fit_mmrm`); episodes enter with every visit they have (missing
    at random given the observed ones; Mallinckrodt et al. 2008). The arm contrast at v is
    ``b_v`` with a t-interval on Satterthwaite (1946) df of the model-based covariance
    ``Phi = (X'V^-1 X)^-1``. With ``df="kenward-roger"`` the standard errors come from
    Kenward & Roger's (1997) adjusted covariance
    ``Phi_A = Phi + 2 Phi {sum_hj W_hj (Q_hj - P_h Phi P_j)} Phi`` (``W`` the inverse
    observed REML information of the covariance parameters; the second-derivative term
    ``R_hj``, zero for the unstructured covariance in its elements, is left out, as in
    mmrm's ``"Kenward-Roger-Linear"`` and SAS's ``DDFM=KR`` for ``TYPE=UN``), which
    allows for the uncertainty in the estimated covariance, and the df are Kenward &
    Roger's, which for one contrast equal Satterthwaite's (Halekoh & Højsgaard 2014).
    Only the unstructured covariance is fitted. Adjusted means per arm and visit at the
    mean baseline of the analysed episodes.

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
    return mmrm_from_frame(
        frame,
        reference=reference,
        comparator=comparator,
        measure=measure,
        conf_level=conf_level,
        notes=notes,
        df=df,
    )


def mmrm_from_frame(
    frame: pd.DataFrame,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    conf_level: float = 0.95,
    notes: Sequence[str] = (),
    df: DfMethod = "satterthwaite",
) -> MmrmResult:
    """The MMRM of :func:`compare_mmrm` on a long frame (for analysts' own data).

    Parameters
    ----------
    frame
        One row per observed visit value: ``episode_id``, ``arm`` (``reference`` or
        ``comparator``), ``treated`` (0/1), ``baseline`` (float), ``visit`` (a categorical
        whose categories, in order, are the visits), ``value`` (float). Rows with a
        missing value or baseline are dropped.
    reference, comparator, measure
        Labels for the result.
    conf_level
        Level of the t-intervals.
    notes
        Notes to carry into the result.
    df
        ``"satterthwaite"`` or ``"kenward-roger"`` (see :func:`compare_mmrm`).

    Returns
    -------
    MmrmResult

    Raises
    ------
    RequestError
        Missing columns, ``visit`` not categorical, an unknown ``df``.
    InsufficientDataError
        Fewer than 2 episodes per arm, or a visit without values.
    """
    check_conf_level(conf_level, where="mmrm_from_frame")
    if df not in _DF_METHODS:
        raise RequestError(f"mmrm: df must be 'satterthwaite' or 'kenward-roger'; got {df!r}.")
    needed = ["episode_id", "arm", "treated", "baseline", "visit", "value"]
    missing = [c for c in needed if c not in frame.columns]
    if missing or not isinstance(frame.get("visit", pd.Series()).dtype, pd.CategoricalDtype):
        raise RequestError(
            f"mmrm_from_frame: needs columns {', '.join(needed)} with a categorical visit; "
            f"missing {', '.join(missing) or 'none'}; the frame has {', '.join(frame.columns)}."
        )
    frame = frame.dropna(subset=["value", "baseline", "visit"])
    used = [str(v) for v in frame["visit"].cat.categories]
    notes = list(notes)
    for arm in (reference, comparator):
        n_arm = frame.loc[frame["arm"] == arm, "episode_id"].nunique()
        if n_arm < 2:
            raise InsufficientDataError(
                f"compare_mmrm: arm {arm!r} has {n_arm} episodes with a baseline and a visit "
                f"value of {measure}; needs at least 2."
            )
    ids, subject = np.unique(frame["episode_id"].astype(str).to_numpy(), return_inverse=True)
    n_sub, n_vis = len(ids), len(used)
    vis = category_codes(frame["visit"])
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
    inference = _Inference(fit, df)
    rows = []
    mean_rows = []
    base_mean = float(base_sub.mean())
    for v, visit in enumerate(used):  # over the few visits
        ell = np.zeros(p)
        ell[n_vis + v] = 1.0
        rows.append(_t_row(f"arm@{visit}", ell, inference, alpha_half) | {"visit": visit})
        for flag, arm in ((0.0, reference), (1.0, comparator)):
            m = np.zeros(p)
            m[v], m[n_vis + v], m[2 * n_vis + v] = 1.0, flag, base_mean
            row = _t_row("mean", m, inference, alpha_half)
            mean_rows.append(
                {"arm": arm, "visit": visit, **{k: row[k] for k in row if k != "term"}}
            )
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
        df_method=df,
        conf_level=conf_level,
        episodes_used=id_tuple(pd.Index(ids)),
        notes=tuple(notes),
    )


class _Inference:
    """The covariance and df function of the chosen method."""

    def __init__(self, fit: MmrmFit, method: str) -> None:
        self.coef = fit.coef
        self._fit = fit
        self._pieces: KrPieces | None = None
        self.cov = fit.cov
        if method == "kenward-roger":
            self.cov, self._pieces = fit.kenward_roger()

    def df(self, ell: NDArray[np.float64]) -> float:
        if self._pieces is None:
            return self._fit.satterthwaite_df(ell)
        return kr_df(self._pieces, self._fit._theta_cov, ell)


def _t_row(
    term: str, ell: NDArray[np.float64], fit: _Inference, alpha_half: float
) -> dict[str, Any]:
    est = float(ell @ fit.coef)
    se = float(math.sqrt(ell @ fit.cov @ ell))
    df = fit.df(ell)
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
