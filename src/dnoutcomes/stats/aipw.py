"""Doubly robust adjustment for confounding: augmented inverse probability weighting (AIPW)
for the average treatment effect (section 10 of the analysis plan).

:func:`aipw` works on arrays (outcome, arm, propensity, outcome-model design);
:func:`compare_aipw` builds them from a dataset on the set of section 6 (NPRS at discharge
with a baseline ODI and the propensity covariates) and adds the balance table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._balance import balance_table, indicator_columns
from dnoutcomes.stats._inference import check_conf_level, wald_table, z_critical
from dnoutcomes.stats._propensity import _drop_reference_levels, propensity_weights
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = ["AipwResult", "aipw", "compare_aipw", "propensity_frame"]

#: The propensity covariates of section 6 (continuous, then categorical).
PS_CONTINUOUS: tuple[str, ...] = ("age", "symptom_weeks", "nprs_baseline", "odi_baseline")
PS_CATEGORICAL: tuple[str, ...] = ("sex", "condition", "site_id")
#: Minimum episodes per arm.
MIN_PER_ARM = 10


def aipw(
    y: ArrayLike,
    treated: ArrayLike,
    propensity: ArrayLike,
    design: ArrayLike,
    *,
    conf_level: float = 0.95,
) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """AIPW estimate of the average treatment effect with its influence-function SE.

    Parameters
    ----------
    y
        Outcome per row.
    treated
        1 (comparator) or 0 (reference).
    propensity
        e(x), the fitted probability of being a comparator, in (0, 1).
    design
        n x k outcome-model design with its intercept column (baseline and covariates).
    conf_level
        Level of the normal intervals.

    Returns
    -------
    frame : pandas.DataFrame
        Tidy rows ``mean_reference``, ``mean_comparator`` (the AIPW potential-outcome
        means) and ``ate`` (their difference), with normal (Wald) inference (``df`` NaN).
    phi : numpy.ndarray
        The influence-function values of the ATE, ``phi_i - psi`` (mean 0).

    Raises
    ------
    RequestError
        Shapes that disagree, missing values, a propensity outside (0, 1), ``treated`` not
        0/1.
    InsufficientDataError
        An arm with fewer rows than outcome-model columns.

    Notes
    -----
    ``m1``, ``m0``: OLS of y on the design in each arm separately, predicted for every row;
    a column aliased with earlier ones within an arm (e.g. a level absent from it) is
    dropped there, as R's ``lm`` does (its coefficient NA counts as 0 in ``predict``).
    ``psi = mean(m1 - m0 + T (Y - m1) / e - (1 - T) (Y - m0) / (1 - e))``;
    ``SE = sqrt(var(phi) / n)`` with ``var`` the sample variance (``n - 1``); normal
    interval (Robins, Rotnitzky & Zhao 1994; Glynn & Quinn 2010). The estimate is
    consistent if either the propensity or the outcome model is right.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> x = rng.normal(size=400)
    >>> e = 1 / (1 + np.exp(-x))
    >>> t = (rng.uniform(size=400) < e).astype(float)
    >>> y = 2 * t + x + rng.normal(size=400)
    >>> frame, _ = aipw(y, t, e, np.column_stack([np.ones(400), x]))
    >>> frame.loc[2, ["estimate", "std_error"]].astype(float).round(2).tolist()
    [1.95, 0.12]
    """
    check_conf_level(conf_level, where="aipw")
    yv = np.asarray(y, dtype=np.float64)
    t = np.asarray(treated, dtype=np.float64)
    e = np.asarray(propensity, dtype=np.float64)
    x = np.asarray(design, dtype=np.float64)
    n = yv.shape[0]
    if not (t.shape == e.shape == (n,) and x.ndim == 2 and x.shape[0] == n):
        raise RequestError(
            f"aipw: y, treated and propensity need one value per design row; got {yv.shape}, "
            f"{t.shape}, {e.shape} and design {x.shape}."
        )
    if not (np.isfinite(yv).all() and np.isfinite(x).all() and np.isin(t, (0.0, 1.0)).all()):
        raise RequestError("aipw: missing values or a treated value other than 0/1; drop them.")
    if not ((e > 0) & (e < 1)).all():
        raise RequestError(
            "aipw: propensities must lie strictly between 0 and 1; trim them "
            "(compare_aipw(trim=0.01)) or drop the separated episodes."
        )
    preds = []
    for flag in (1.0, 0.0):
        rows = t == flag
        if rows.sum() <= x.shape[1]:
            raise InsufficientDataError(
                f"aipw: {int(rows.sum())} rows in arm {int(flag)} for an outcome model with "
                f"{x.shape[1]} columns; it needs more rows than columns."
            )
        cols = _estimable_columns(x[rows])
        coef, *_ = np.linalg.lstsq(x[rows][:, cols], yv[rows], rcond=None)
        preds.append(x[:, cols] @ coef)
    m1, m0 = preds
    pot1 = m1 + t * (yv - m1) / e
    pot0 = m0 + (1.0 - t) * (yv - m0) / (1.0 - e)
    psi = np.column_stack([pot0, pot1, pot1 - pot0])
    est = psi.mean(axis=0)
    se = np.sqrt(psi.var(axis=0, ddof=1) / n)
    frame = wald_table(
        ("mean_reference", "mean_comparator", "ate"), est, se, z_critical(conf_level)
    )
    return frame, psi[:, 2] - est[2]


def _estimable_columns(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Columns kept as R's ``lm`` keeps them: each column that raises the rank of the
    columns kept before it (an aliased column gets coefficient NA in R, 0 in prediction)."""
    keep = np.zeros(x.shape[1], dtype=bool)
    rank = 0
    for j in range(x.shape[1]):  # over the few design columns, not rows
        keep[j] = True
        new = int(np.linalg.matrix_rank(x[:, keep], tol=None))
        if new == rank:
            keep[j] = False
        rank = max(rank, new)
    return keep


def propensity_frame(
    dataset: Dataset, *, reference: str, comparator: str
) -> tuple[pd.DataFrame, list[str]]:
    """The section-6 analysis set: one row per comparison episode with a baseline and a
    discharge NPRS, a baseline ODI and every propensity covariate.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The columns of :func:`~dnoutcomes.cohort.comparison_episodes` plus
        ``nprs_baseline``, ``nprs_discharge``, ``odi_baseline``; and notes on who was left
        out.

    Raises
    ------
    InsufficientDataError
        Fewer than 10 such episodes in an arm.
    """
    pairs = outcome_pairs(
        dataset, measure="nprs", timepoint="discharge", reference=reference, comparator=comparator
    )
    odi = outcome_pairs(
        dataset, measure="odi", timepoint="discharge", reference=reference, comparator=comparator
    )
    frame = pairs.assign(
        nprs_baseline=pairs["baseline"],
        nprs_discharge=pairs["value"],
        odi_baseline=odi["baseline"].to_numpy(),
    )
    needed = ["nprs_discharge", *PS_CONTINUOUS, *PS_CATEGORICAL]
    complete = frame[needed].notna().all(axis=1)
    notes: list[str] = []
    for arm in (reference, comparator):
        in_arm = frame["arm"] == arm
        left, kept = int((in_arm & ~complete).sum()), int((in_arm & complete).sum())
        if left:
            notes.append(
                f"{left} {arm} episodes without a baseline and discharge NPRS, a baseline "
                "ODI or a propensity covariate were left out."
            )
        if kept < MIN_PER_ARM:
            raise InsufficientDataError(
                f"AIPW: arm {arm!r} has {kept} episodes with a baseline and discharge NPRS, a "
                f"baseline ODI and the propensity covariates; needs at least {MIN_PER_ARM}."
            )
    return frame.loc[complete].reset_index(drop=True), notes


@table_alias("estimates")
@dataclass(frozen=True, repr=False, eq=False)
class AipwResult(ResultMixin):
    """AIPW average treatment effect of the comparator on NPRS at discharge.

    Attributes
    ----------
    estimates
        Tidy rows ``mean_reference``, ``mean_comparator``, ``ate`` (normal inference).
    balance
        ``covariate``, ``smd_before``, ``smd_after`` (inverse-probability weights
        ``1/e``, ``1/(1-e)``), ``balanced_after``: the Love-plot data.
    weights
        ``episode_id``, ``arm``, ``treated``, ``propensity``, ``weight`` (ATE, unstabilised),
        ``influence`` (phi).
    trim
        The trimming bound a (episodes with e outside [a, 1 - a] were dropped), or NaN.
    """

    reference: str
    comparator: str
    measure: str
    timepoint: str
    estimates: pd.DataFrame
    balance: pd.DataFrame
    weights: pd.DataFrame
    n: int
    n_trimmed: int
    trim: float
    ps_converged: bool
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        ate = self._frame.set_index("term").loc["ate"]
        return (
            f"AIPW effect on {self.measure} at {self.timepoint}: {self.comparator} minus "
            f"{self.reference} = {ate['estimate']:.3f} (SE {ate['std_error']:.3f}), n = {self.n}"
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the Love plot of |SMD| before and after inverse-probability weighting.

        Hands off to :func:`dnoutcomes.plots.plot_balance` (keyword arguments go to it).
        """
        from dnoutcomes.plots.balance import plot_balance

        return plot_balance(self.balance, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The ATE with SE, interval and p, the potential-outcome means and balance."""
        rows = self._frame.set_index("term")
        keys = self.balance["covariate"]
        out: dict[str, Any] = jsonable(
            {
                "n": self.n,
                "n_trimmed": self.n_trimmed,
                "trim": self.trim,
                "estimate": rows.loc["ate", "estimate"],
                "se": rows.loc["ate", "std_error"],
                "ci_low": rows.loc["ate", "conf_low"],
                "ci_high": rows.loc["ate", "conf_high"],
                "p": rows.loc["ate", "p_value"],
                "mean_reference": rows.loc["mean_reference", "estimate"],
                "mean_comparator": rows.loc["mean_comparator", "estimate"],
                "smd_before": dict(zip(keys, self.balance["smd_before"], strict=True)),
                "smd_after": dict(zip(keys, self.balance["smd_after"], strict=True)),
                "converged": self.ps_converged,
            }
        )
        return out


def compare_aipw(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    trim: float | None = None,
    conf_level: float = 0.95,
) -> AipwResult:
    """Doubly robust (AIPW) effect of the comparator on NPRS at discharge.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms; the ATE reads "comparator minus reference".
    measure
        Only ``"nprs"`` (the section-6 set); other values raise.
    trim
        Optional bound a in (0, 0.5): episodes whose propensity lies outside [a, 1 - a] are
        dropped (the propensity model is not refitted) before the outcome models are fitted.
    conf_level
        Level of the intervals.

    Returns
    -------
    AipwResult

    Raises
    ------
    RequestError
        Unknown arm, a measure other than NPRS, ``trim`` outside (0, 0.5), bad
        ``conf_level``.
    InsufficientDataError
        Fewer than 10 analysed episodes in an arm (before or after trimming).

    Notes
    -----
    Propensity: the logistic model of section 6 (:mod:`dnoutcomes.stats._propensity`).
    Outcome models: OLS of discharge NPRS on the same covariates (baseline NPRS among them;
    the first level of each categorical dropped) in each arm. Then :func:`aipw`. Balance:
    SMDs before and after ATE weighting (:func:`~dnoutcomes.stats._balance.balance_table`).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> compare_aipw(dataset).n
    178
    """
    check_conf_level(conf_level, where="compare_aipw")
    if measure != "nprs":
        raise RequestError(
            f"compare_aipw: the AIPW set of the plan is NPRS at discharge; got measure "
            f"{measure!r}. Use measure='nprs'."
        )
    if trim is not None and not (isinstance(trim, float | int) and 0 < trim < 0.5):
        raise RequestError(f"compare_aipw: trim must lie in (0, 0.5), e.g. 0.01; got {trim!r}.")
    data, notes = propensity_frame(dataset, reference=reference, comparator=comparator)
    treated = data["treated"].to_numpy(dtype=np.float64)
    covariates = indicator_columns(data, continuous=PS_CONTINUOUS, categorical=PS_CATEGORICAL)
    ps, _, converged, messages = propensity_weights(covariates, treated)
    notes.extend(f"Propensity model: {m}." for m in messages)
    n_trimmed = 0
    if trim is not None:
        keep = (ps >= trim) & (ps <= 1.0 - trim)
        n_trimmed = int((~keep).sum())
        if n_trimmed:
            notes.append(
                f"{n_trimmed} episodes with a propensity outside [{trim:g}, {1 - trim:g}] were "
                "dropped (trimming; the estimand is the effect in the remaining population)."
            )
        data, covariates, treated, ps = (
            data.loc[keep],
            covariates.loc[keep],
            treated[keep],
            ps[keep],
        )
        for flag, arm in ((0.0, reference), (1.0, comparator)):
            if (treated == flag).sum() < MIN_PER_ARM:
                raise InsufficientDataError(
                    f"AIPW: after trimming at {trim:g}, arm {arm!r} keeps "
                    f"{int((treated == flag).sum())} episodes; needs {MIN_PER_ARM}. Trim less."
                )
    design_cols = _drop_reference_levels(covariates)
    design = np.column_stack([np.ones(len(treated)), design_cols.to_numpy(dtype=np.float64)])
    for flag, arm in ((0.0, reference), (1.0, comparator)):
        rank = np.linalg.matrix_rank(design[treated == flag])
        if rank < design.shape[1]:
            notes.append(
                f"Outcome model in {arm}: the design has rank {rank} of {design.shape[1]} "
                "(a covariate level absent from the arm); minimum-norm least squares was used."
            )
    frame, phi = aipw(
        data["nprs_discharge"].to_numpy(dtype=np.float64),
        treated,
        ps,
        design,
        conf_level=conf_level,
    )
    w = np.where(treated == 1.0, 1.0 / ps, 1.0 / (1.0 - ps))
    return AipwResult(
        reference=reference,
        comparator=comparator,
        measure="nprs",
        timepoint="discharge",
        estimates=frame,
        balance=balance_table(covariates, treated, w),
        weights=pd.DataFrame(
            {
                "episode_id": data["episode_id"].astype(str).to_numpy(),
                "arm": data["arm"].astype(str).to_numpy(),
                "treated": treated.astype(np.int64),
                "propensity": ps,
                "weight": w,
                "influence": phi,
            }
        ),
        n=len(treated),
        n_trimmed=n_trimmed,
        trim=float(trim) if trim is not None else math.nan,
        ps_converged=converged,
        conf_level=conf_level,
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
    )
