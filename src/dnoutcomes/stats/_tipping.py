"""Delta-adjustment tipping-point analysis: how far must the imputed outcomes of one arm
move away from what missing-at-random predicts before the conclusion changes?
(re-exported by :mod:`dnoutcomes.stats.mi`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats._mi_frame import ancova_sets, impute_episodes, mi_frame
from dnoutcomes.stats._mice import DEFAULT_M, DEFAULT_MAXIT, crossprod, matvec
from dnoutcomes.stats._rubin import pool_rubin
from dnoutcomes.stats.results import TIDY_COLUMNS, ResultMixin, jsonable, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = ["TippingPointResult", "tipping_point"]

Role = Literal["reference", "comparator"]


@table_alias("grid")
@dataclass(frozen=True, repr=False, eq=False)
class TippingPointResult(ResultMixin):
    """The pooled ANCOVA effect as the imputed outcomes of one arm are shifted by δ.

    Attributes
    ----------
    grid
        One row per δ: ``delta``, ``estimate``, ``std_error``, ``statistic``, ``df``,
        ``p_value``, ``conf_low``, ``conf_high``, ``fmi``, ``conclusion``
        (``"comparator higher"``, ``"comparator lower"`` or ``"no difference"``: the sign
        of the interval, or that it holds 0).
    tipping_delta
        The δ, between grid points found exactly, at which the conclusion first differs
        from the one at δ = 0 (NaN when it does not within the grid).
    sign_delta
        The δ at which the pooled estimate changes sign (the estimate is linear in δ).
    shifted
        ``"comparator"`` or ``"reference"``: whose imputed outcomes were shifted.
    n_shifted
        Imputed outcomes shifted in each imputed set.
    """

    measure: str
    timepoint: str
    reference: str
    comparator: str
    shifted: Role
    covariates: tuple[str, ...]
    auxiliaries: tuple[str, ...]
    conf_level: float
    grid: pd.DataFrame
    tipping_delta: float
    sign_delta: float
    conclusion_at_zero: str
    n_shifted: int
    m: int
    maxit: int
    seed: int
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        arm = self.comparator if self.shifted == "comparator" else self.reference
        return (
            f"Tipping point: ANCOVA of {self.measure} at {self.timepoint} with the imputed "
            f"outcomes of {arm} shifted by delta (m = {self.m})"
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the pooled effect and its interval against δ, marking the tipping point.

        Hands off to :func:`dnoutcomes.plots.tipping.plot_tipping_point`.
        """
        from dnoutcomes.plots.tipping import plot_tipping_point

        return plot_tipping_point(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The tipping δ, the sign-change δ, the conclusion at δ = 0 and the grid."""
        return jsonable(
            {
                "measure": self.measure,
                "timepoint": self.timepoint,
                "shifted_arm": self.comparator if self.shifted == "comparator" else self.reference,
                "tipping_delta": self.tipping_delta,
                "sign_delta": self.sign_delta,
                "conclusion_at_zero": self.conclusion_at_zero,
                "n_shifted": self.n_shifted,
                "m": self.m,
                "seed": self.seed,
                "grid": self._frame.to_dict(orient="records"),
            }
        )


def _conclusion(low: NDArray[np.float64], high: NDArray[np.float64]) -> NDArray[np.str_]:
    return np.where(
        low > 0, "comparator higher", np.where(high < 0, "comparator lower", "no difference")
    )


def tipping_point(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    auxiliaries: Sequence[str] = (),
    shifted: Role = "comparator",
    deltas: ArrayLike | None = None,
    m: int = DEFAULT_M,
    maxit: int = DEFAULT_MAXIT,
    rng: int | np.random.Generator | None = None,
    conf_level: float = 0.95,
) -> TippingPointResult:
    """Delta-adjustment (MNAR) sensitivity analysis of the MI ANCOVA.

    Parameters
    ----------
    dataset, reference, comparator, measure, timepoint, covariates, auxiliaries
        As :func:`~dnoutcomes.stats.mi.compare_ancova_mi`.
    shifted
        Whose imputed outcomes are shifted: ``"comparator"`` (the default: "the
        comparator's dropouts did worse than the MAR imputation assumes", the usual
        question when the comparator looks better) or ``"reference"``.
    deltas
        The shifts, in the measure's units, added to the imputed outcomes (observed values
        are never changed). By default 61 values from 0 to three times the δ at which the
        pooled estimate changes sign, i.e. toward and past no effect.
    m, maxit, rng, conf_level
        As :func:`~dnoutcomes.stats.mi.compare_ancova_mi`.

    Returns
    -------
    TippingPointResult

    Raises
    ------
    RequestError
        As ``compare_ancova_mi``; ``shifted`` not reference/comparator; ``deltas`` empty
        or not finite.
    InsufficientDataError
        As ``compare_ancova_mi``.

    Notes
    -----
    The data are imputed once under MAR; for each δ, every imputed outcome of the shifted
    arm becomes y + δ, the ANCOVA is refitted in each set and pooled by Rubin's rules
    (Carpenter & Kenward 2013, ch. 10; van Buuren 2018, §9.2). Because the design does not
    change with δ, each set's arm coefficient is β(δ) = β(0) + δ g and its residual sum of
    squares a quadratic in δ, so the whole grid costs one fit per set, and the δ at which
    the conclusion changes (an interval limit reaching 0) is found exactly by root finding
    between the grid points that bracket it.
    """
    check_conf_level(conf_level, where="tipping_point")
    if shifted not in ("reference", "comparator"):
        raise RequestError(
            f"tipping_point: shifted must be 'reference' or 'comparator'; got {shifted!r}."
        )
    covariates = tuple([covariates] if isinstance(covariates, str) else covariates)
    auxiliaries = tuple([auxiliaries] if isinstance(auxiliaries, str) else auxiliaries)
    label = f"tipping point of {measure} at {timepoint}"
    frame = mi_frame(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        covariates=covariates,
        auxiliaries=auxiliaries,
    )
    imp = impute_episodes(frame, m=m, maxit=maxit, rng=rng, label=label)
    arm_value = 1 if shifted == "comparator" else 0
    missing = frame["value"].isna().to_numpy()
    shift = (missing & (frame["treated"].to_numpy() == arm_value)).astype(np.float64)
    parts = []
    dfcom = math.nan
    for x, y, _ in ancova_sets(imp, covariates):
        n, p = x.shape
        dfcom = float(n - p)
        xtx_inv = np.linalg.inv(crossprod(x))
        beta, g = (xtx_inv @ crossprod(x, np.column_stack([y, shift]))).T
        r0, q = y - matvec(x, beta), shift - matvec(x, g)
        sums = [float(np.einsum("i,i->", a, b)) for a, b in ((r0, r0), (r0, q), (q, q))]
        parts.append((beta[1], g[1], sums[0], 2.0 * sums[1], sums[2], xtx_inv[1, 1]))
    b0, g1, rss0, rss1, rss2, h11 = (np.array(col) for col in zip(*parts, strict=True))

    def pooled_at(grid: NDArray[np.float64]) -> pd.DataFrame:
        d = grid[None, :]
        est = b0[:, None] + d * g1[:, None]
        rss = rss0[:, None] + d * rss1[:, None] + d * d * rss2[:, None]
        var = rss / dfcom * h11[:, None]
        return pool_rubin(est, var, dfcom=dfcom, conf_level=conf_level)

    at_zero = pooled_at(np.zeros(1)).iloc[0]
    slope = float(g1.mean())
    sign_delta = -float(at_zero["estimate"]) / slope if slope != 0 else math.nan
    if deltas is None:
        top = 3.0 * sign_delta if math.isfinite(sign_delta) and sign_delta != 0 else 1.0
        grid = np.linspace(0.0, top, 61)
    else:
        grid = np.atleast_1d(np.asarray(deltas, dtype=np.float64))
        if grid.size == 0 or not np.isfinite(grid).all():
            raise RequestError(
                f"tipping_point: deltas must be finite numbers; got {deltas!r}. Pass e.g. "
                "deltas=numpy.linspace(0, 3, 31)."
            )
    pooled = pooled_at(grid)
    table = pooled[list(TIDY_COLUMNS[1:]) + ["fmi"]].copy()
    table.insert(0, "delta", grid)
    table["conclusion"] = _conclusion(table["conf_low"].to_numpy(), table["conf_high"].to_numpy())
    base = str(_conclusion(np.array([at_zero["conf_low"]]), np.array([at_zero["conf_high"]]))[0])
    tipping = _tipping(table, base, pooled_at)
    notes = [
        f"Imputed outcomes shifted: {int(shift.sum())} per imputed set "
        f"({comparator if shifted == 'comparator' else reference}).",
        f"Multiple imputation: m = {imp.m}, {imp.maxit} iterations, seed {imp.seed}.",
    ]
    if not math.isfinite(tipping):
        notes.append(
            "The conclusion did not change within the grid of deltas; widen deltas to find "
            "the tipping point."
        )
    return TippingPointResult(
        measure=measure,
        timepoint=timepoint,
        reference=reference,
        comparator=comparator,
        shifted=shifted,
        covariates=covariates,
        auxiliaries=auxiliaries,
        conf_level=conf_level,
        grid=table.reset_index(drop=True),
        tipping_delta=tipping,
        sign_delta=sign_delta,
        conclusion_at_zero=base,
        n_shifted=int(shift.sum()),
        m=imp.m,
        maxit=imp.maxit,
        seed=imp.seed,
        notes=tuple(notes),
    )


def _tipping(table: pd.DataFrame, base: str, pooled_at: Any) -> float:
    """The δ where the conclusion first differs from ``base`` along the grid (ordered by
    distance from 0), refined between the bracketing grid points by Brent's method."""
    order = np.argsort(np.abs(table["delta"].to_numpy()), kind="stable")
    ordered = table.iloc[order]
    changed = np.flatnonzero(ordered["conclusion"].to_numpy() != base)
    if changed.size == 0:
        return math.nan
    j = int(changed[0])
    hi = float(ordered["delta"].iloc[j])
    if j == 0:
        return hi
    lo = float(ordered["delta"].iloc[j - 1])
    row = ordered.iloc[j]
    # which interval limit crossed 0: the one whose sign differs between lo and hi
    low_side = (float(ordered["conf_low"].iloc[j - 1]) > 0) != (float(row["conf_low"]) > 0)
    column = "conf_low" if low_side else "conf_high"

    def limit(delta: float) -> float:
        return float(pooled_at(np.array([delta]))[column].iloc[0])

    try:
        return float(optimize.brentq(limit, lo, hi, xtol=1e-10))
    except ValueError:  # the limit touches 0 without crossing: keep the grid point
        return hi
