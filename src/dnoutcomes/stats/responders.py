"""Section 3 of the analysis plan: responders, with the risk difference, risk ratio, odds
ratio and number needed to treat, and the cumulative distribution of improvement per arm.

:func:`risk_measures` works on four counts; :func:`compare_responders` builds them from a
:class:`~dnoutcomes.dataset.Dataset`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from dnoutcomes.cohort import get_measure, outcome_pairs
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level, check_threshold, z_critical
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = [
    "ResponderDefinition",
    "ResponderResult",
    "compare_responders",
    "improvement_distribution",
    "nnt_interval",
    "responder_flags",
    "risk_measures",
]

#: How a responder is defined: improvement ≥ the MCID in points, improvement ≥ the
#: measure's MCID in percent of baseline, or a later value among the measure's responder
#: values (PGIC 1–2).
ResponderDefinition = Literal["points", "percent", "values"]


def risk_measures(
    responders_reference: int,
    n_reference: int,
    responders_comparator: int,
    n_comparator: int,
    *,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Risk difference, risk ratio and odds ratio of responding, comparator vs reference.

    Parameters
    ----------
    responders_reference, n_reference
        Responders and episodes analysed in the reference arm.
    responders_comparator, n_comparator
        The same for the comparator arm.
    conf_level
        Confidence level of the Wald intervals.

    Returns
    -------
    pandas.DataFrame
        Three rows, ``term`` = ``risk_difference``, ``risk_ratio``, ``odds_ratio``, with
        ``estimate``, ``std_error`` (of the RD; of log RR; of log OR), ``statistic`` (the
        Wald z on that scale), ``p_value``, ``conf_low``, ``conf_high`` (on the natural
        scale).

    Raises
    ------
    RequestError
        For counts that are negative or exceed their n, or an empty arm.

    Notes
    -----
    With p₁ = a/n₁ (comparator) and p₀ = c/n₀ (reference), b = n₁ − a, d = n₀ − c:
    RD = p₁ − p₀, SE = √(p₁(1 − p₁)/n₁ + p₀(1 − p₀)/n₀) (Wald);
    RR = p₁/p₀, SE(log RR) = √(1/a − 1/n₁ + 1/c − 1/n₀);
    OR = ad/(bc), SE(log OR) = √(1/a + 1/b + 1/c + 1/d) (Woolf).
    A zero cell makes the ratio or its interval 0 or infinite; those come back as inf/NaN.

    Examples
    --------
    Indomethacin vs placebo for post-ERCP pancreatitis (Elmunzer et al., NEJM 2012):

    >>> frame = risk_measures(52, 307, 27, 295).set_index("term")
    >>> round(float(frame.loc["risk_difference", "estimate"]), 4)
    -0.0779
    >>> round(float(frame.loc["odds_ratio", "conf_high"]), 3)
    0.811
    """
    z = z_critical(conf_level)
    counts = (responders_reference, n_reference, responders_comparator, n_comparator)
    if (
        min(counts) < 0
        or responders_reference > n_reference
        or (responders_comparator > n_comparator)
    ):
        raise RequestError(
            f"responder counts must satisfy 0 <= responders <= n; got {counts}. "
            "Pass (responders_reference, n_reference, responders_comparator, n_comparator)."
        )
    if n_reference == 0 or n_comparator == 0:
        raise RequestError(
            f"responder analysis needs episodes in both arms; got n_reference={n_reference}, "
            f"n_comparator={n_comparator}. Compare arms that both have episodes."
        )
    a, n1 = float(responders_comparator), float(n_comparator)
    c, n0 = float(responders_reference), float(n_reference)
    b, d = n1 - a, n0 - c
    p1, p0 = a / n1, c / n0
    with np.errstate(divide="ignore", invalid="ignore"):
        rd = p1 - p0
        se_rd = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        log_rr = np.log(np.float64(p1)) - np.log(np.float64(p0))
        se_rr = np.sqrt(
            np.float64(1 / a if a else np.inf) - 1 / n1 + (1 / c if c else np.inf) - 1 / n0
        )
        log_or = np.log(np.float64(a * d)) - np.log(np.float64(b * c))
        inv = [1 / x if x else np.inf for x in (a, b, c, d)]
        se_or = np.sqrt(np.float64(sum(inv)))
        est = np.array([rd, log_rr, log_or], dtype=float)
        se = np.array([se_rd, se_rr, se_or], dtype=float)
        stat = est / se
        p = 2 * sps.norm.sf(np.abs(stat))
        low = est - z * se
        high = est + z * se
    natural = np.array([False, True, True])
    frame = pd.DataFrame(
        {
            "term": ["risk_difference", "risk_ratio", "odds_ratio"],
            "estimate": np.where(natural, np.exp(est), est),
            "std_error": se,
            "statistic": stat,
            "p_value": p,
            "conf_low": np.where(natural, np.exp(low), low),
            "conf_high": np.where(natural, np.exp(high), high),
        }
    )
    return frame


def nnt_interval(rd: float, rd_low: float, rd_high: float) -> tuple[float, float, float, str]:
    """Number needed to treat from a risk difference and its interval.

    Parameters
    ----------
    rd, rd_low, rd_high
        Risk difference (comparator − reference, responders: positive = comparator better)
        and its confidence limits.

    Returns
    -------
    (nnt, low, high, text)
        ``nnt = 1 / rd`` (positive: number needed to treat for one extra responder;
        negative: number needed to harm); the limits ``1 / rd_high`` and ``1 / rd_low``
        when the interval excludes 0, NaN when it crosses 0; and the interval in words
        (Altman 1998): ``"NNT benefit 4.7 to ∞ to NNT harm 20"`` when it crosses 0.

    Examples
    --------
    >>> nnt_interval(0.05, -0.05, 1 / 4.7)[3]
    'NNT benefit 20.0 (NNT benefit 4.7 to ∞ to NNT harm 20.0)'
    """
    nnt = 1 / rd if rd != 0 else math.inf
    if rd_low > 0 or rd_high < 0:
        low, high = sorted((1 / rd_high, 1 / rd_low))
        if rd > 0:
            text = f"NNT benefit {nnt:.1f} ({low:.1f} to {high:.1f})"
        else:
            text = f"NNT harm {abs(nnt):.1f} ({abs(high):.1f} to {abs(low):.1f})"
        return nnt, low, high, text
    benefit = 1 / rd_high if rd_high > 0 else math.inf
    harm = 1 / abs(rd_low) if rd_low < 0 else math.inf
    point = (
        "no difference (NNT ∞)"
        if rd == 0
        else (f"NNT benefit {nnt:.1f}" if rd > 0 else f"NNT harm {abs(nnt):.1f}")
    )
    text = f"{point} (NNT benefit {benefit:.1f} to ∞ to NNT harm {harm:.1f})"
    return nnt, math.nan, math.nan, text


def improvement_distribution(frame: pd.DataFrame, *, arms: tuple[str, str]) -> pd.DataFrame:
    """Cumulative share of episodes reaching each level of improvement, per arm.

    Parameters
    ----------
    frame
        Columns ``arm`` and ``improvement`` (NaN rows are ignored).
    arms
        The arms, in display order.

    Returns
    -------
    pandas.DataFrame
        One row per arm and level: ``arm``, ``improvement`` (every distinct level seen in
        either arm, ascending), ``share`` (the fraction of the arm's episodes whose
        improvement is at least that level), ``n`` (episodes of the arm).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {
    ...         "arm": ["dn_only", "dn_only", "dn_manual_exercise", "dn_manual_exercise"],
    ...         "improvement": [1.0, 3.0, 3.0, 4.0],
    ...     }
    ... )
    >>> improvement_distribution(frame, arms=("dn_only", "dn_manual_exercise"))
                      arm  improvement  share  n
    0             dn_only          1.0    1.0  2
    1             dn_only          3.0    0.5  2
    2             dn_only          4.0    0.0  2
    3  dn_manual_exercise          1.0    1.0  2
    4  dn_manual_exercise          3.0    1.0  2
    5  dn_manual_exercise          4.0    0.5  2
    """
    data = frame.dropna(subset=["improvement"])
    levels = np.unique(data["improvement"].to_numpy(dtype=float))
    parts = []
    for arm in arms:
        values = np.sort(data.loc[data["arm"] == arm, "improvement"].to_numpy(dtype=float))
        n = len(values)
        below = np.searchsorted(values, levels, side="left")
        share = (n - below) / n if n else np.full(len(levels), np.nan)
        parts.append(pd.DataFrame({"arm": arm, "improvement": levels, "share": share, "n": n}))
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True, repr=False)
class ResponderResult(ResultMixin):
    """A responder analysis of one measure at one timepoint.

    Attributes
    ----------
    frame
        :func:`risk_measures` (``term``, ``estimate``, ``std_error``, ``statistic``,
        ``p_value``, ``conf_low``, ``conf_high``).
    counts
        ``arm``, ``role``, ``n``, ``responders``, ``proportion``.
    distribution
        :func:`improvement_distribution` of the analysed episodes.
    nnt, nnt_conf_low, nnt_conf_high, nnt_text
        See :func:`nnt_interval`.
    """

    measure: str
    timepoint: str
    definition: str
    threshold: float
    responder_values: tuple[float, ...]
    reference: str
    comparator: str
    conf_level: float
    frame: pd.DataFrame
    counts: pd.DataFrame
    distribution: pd.DataFrame
    nnt: float
    nnt_conf_low: float
    nnt_conf_high: float
    nnt_text: str
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        unit = {"points": " points", "percent": " %", "values": ""}[self.definition]
        rule = (
            f"{self.measure} value in {', '.join(f'{v:g}' for v in self.responder_values)}"
            if self.definition == "values"
            else f"improvement >= {self.threshold:g}{unit}"
        )
        return (
            f"Responders ({rule}): {self.measure} at {self.timepoint}, "
            f"{self.comparator} vs {self.reference} (n = {self.n})"
        )

    def __str__(self) -> str:
        counts = "; ".join(
            f"{arm}: {r} of {n}"
            for arm, r, n in zip(
                self.counts["arm"], self.counts["responders"], self.counts["n"], strict=True
            )
        )
        return super().__str__() + f"\nResponders {counts}. {self.nnt_text}."

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the cumulative responder curves with the threshold marked.

        Hands off to :func:`dnoutcomes.plots.plot_responder_curves`; keyword arguments go to it.
        """
        from dnoutcomes.plots.improvement import plot_responder_curves

        return plot_responder_curves(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The plan's ``responders`` section (plus NNT limits, words and the definition)."""
        est = self.frame.set_index("term")
        counts = self.counts.set_index("role")
        return jsonable(
            {
                "measure": self.measure,
                "timepoint": self.timepoint,
                "mcid": self.threshold if self.definition != "values" else None,
                "definition": self.definition,
                "n_reference": counts.loc["reference", "n"],
                "n_comparator": counts.loc["comparator", "n"],
                "responders_reference": counts.loc["reference", "responders"],
                "responders_comparator": counts.loc["comparator", "responders"],
                "risk_difference": est.loc["risk_difference", "estimate"],
                "rd_ci_low": est.loc["risk_difference", "conf_low"],
                "rd_ci_high": est.loc["risk_difference", "conf_high"],
                "risk_ratio": est.loc["risk_ratio", "estimate"],
                "rr_ci_low": est.loc["risk_ratio", "conf_low"],
                "rr_ci_high": est.loc["risk_ratio", "conf_high"],
                "odds_ratio": est.loc["odds_ratio", "estimate"],
                "or_ci_low": est.loc["odds_ratio", "conf_low"],
                "or_ci_high": est.loc["odds_ratio", "conf_high"],
                "nnt": self.nnt,
                "nnt_ci_low": self.nnt_conf_low,
                "nnt_ci_high": self.nnt_conf_high,
                "nnt_text": self.nnt_text,
            }
        )


def responder_flags(
    dataset: Dataset,
    *,
    reference: str,
    comparator: str,
    measure: str,
    timepoint: str,
    definition: ResponderDefinition,
    threshold: float | None,
) -> tuple[pd.DataFrame, pd.Series, pd.Series, float]:
    """Who can be classified and who responded, per comparison episode.

    The one place the responder definition is applied: :func:`compare_responders` and the
    network summaries (:mod:`dnoutcomes.network`) both count from it.

    Returns
    -------
    (pandas.DataFrame, pandas.Series, pandas.Series, float)
        The outcome pairs (:func:`~dnoutcomes.cohort.outcome_pairs`), whether each row has
        the values the definition needs, whether it responded, and the cut (NaN for
        ``"values"``).

    Raises
    ------
    RequestError
        As :func:`compare_responders`.
    """
    spec = get_measure(dataset, measure)
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    if definition == "points":
        cut = threshold if threshold is not None else getattr(spec, "mcid_points", None)
        if cut is None:
            raise RequestError(
                f"responders of {measure}: the measure has no MCID in points; expected a "
                "threshold= or a definition the measure supports ('values' for PGIC)."
            )
        usable = pairs["improvement"].notna()
        responder = pairs["improvement"] >= float(cut)
    elif definition == "percent":
        cut = threshold if threshold is not None else getattr(spec, "mcid_percent", None)
        if cut is None:
            raise RequestError(
                f"responders of {measure}: the measure has no MCID in percent; pass "
                "threshold= (e.g. 30)."
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = 100 * pairs["improvement"] / pairs["baseline"].abs()
        usable = pct.notna() & np.isfinite(pct) & (pairs["baseline"] != 0)
        responder = pct >= float(cut)
    elif definition == "values":
        if threshold is not None:
            raise RequestError("responders by values: threshold= does not apply; remove it.")
        values = tuple(getattr(spec, "responder_values", ()) or ())
        if not values:
            raise RequestError(
                f"responders of {measure}: the measure has no responder values; expected "
                "definition='points' or 'percent' for it."
            )
        cut = math.nan
        usable = pairs["value"].notna()
        responder = pairs["value"].isin(values)
    else:
        raise RequestError(
            f"responder definition {definition!r} is unknown; expected 'points', 'percent' "
            "or 'values'."
        )
    return pairs, usable, responder, float(cut)


def compare_responders(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
    definition: ResponderDefinition = "points",
    threshold: float | None = None,
    conf_level: float = 0.95,
) -> ResponderResult:
    """Compare the share of responders between two arms (analysis plan, section 3).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measure, timepoint
        The outcome and when it is read.
    definition
        ``"points"``: improvement ≥ the measure's MCID in points (NPRS: 2);
        ``"percent"``: improvement ≥ the MCID in percent of the baseline value (30 %);
        ``"values"``: the later value is one of the measure's responder values (PGIC 1, 2;
        no baseline needed).
    threshold
        Overrides the registry's MCID (points or percent; for ``"values"`` not allowed).
    conf_level
        Confidence level.

    Returns
    -------
    ResponderResult

    Raises
    ------
    RequestError
        Unknown arm, measure or timepoint; a measure without the MCID or responder values
        the definition needs; an unknown definition; a threshold that is not a finite
        number above 0.
    InsufficientDataError
        An arm with no analysable episode.

    Notes
    -----
    Improvement is direction-aware (baseline − later when lower is better). Episodes
    without the values the definition needs are left out (counted in ``notes``); with
    ``"percent"``, so are episodes whose baseline is 0 (no relative change). The NNT
    interval inverts the RD limits and is given in words when it crosses zero.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> result = compare_responders(dataset)
    >>> counts = result.to_dict()
    >>> counts["responders_reference"], counts["responders_comparator"]
    (45, 95)
    """
    check_conf_level(conf_level)
    check_threshold(threshold, where=f"responders of {measure}")
    spec = get_measure(dataset, measure)
    pairs, usable, responder, cut = responder_flags(
        dataset,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        definition=definition,
        threshold=threshold,
    )
    data = pairs.loc[usable].assign(responder=responder[usable].astype(int))
    grouped = data.groupby("arm")["responder"].agg(["size", "sum"])
    n_arm = {arm: int(grouped["size"].get(arm, 0)) for arm in (reference, comparator)}
    r_arm = {arm: int(grouped["sum"].get(arm, 0)) for arm in (reference, comparator)}
    for arm in (reference, comparator):
        if n_arm[arm] == 0:
            raise InsufficientDataError(
                f"responders of {measure} at {timepoint}: {arm} has 0 episodes with the "
                f"values needed; needs at least 1 per arm."
            )
    frame = risk_measures(
        r_arm[reference],
        n_arm[reference],
        r_arm[comparator],
        n_arm[comparator],
        conf_level=conf_level,
    )
    rd_row = frame.iloc[0]
    nnt, nnt_low, nnt_high, text = nnt_interval(
        float(rd_row["estimate"]), float(rd_row["conf_low"]), float(rd_row["conf_high"])
    )
    counts = pd.DataFrame(
        {
            "arm": [reference, comparator],
            "role": ["reference", "comparator"],
            "n": [n_arm[reference], n_arm[comparator]],
            "responders": [r_arm[reference], r_arm[comparator]],
        }
    )
    counts["proportion"] = counts["responders"] / counts["n"]
    notes = []
    left_out = int((~usable).sum())
    if left_out:
        notes.append(
            f"{left_out} episodes without the values needed ({measure} at baseline and "
            f"{timepoint}) were left out."
        )
    if (frame["std_error"].isna() | ~np.isfinite(frame["std_error"])).any():
        notes.append("A zero cell: some ratio intervals are undefined (reported as null).")
    threshold_value = float(cut) if definition != "values" else math.nan
    return ResponderResult(
        measure=measure,
        timepoint=timepoint,
        definition=definition,
        threshold=threshold_value,
        responder_values=tuple(float(v) for v in getattr(spec, "responder_values", ()) or ()),
        reference=reference,
        comparator=comparator,
        conf_level=conf_level,
        frame=frame,
        counts=counts,
        distribution=improvement_distribution(data, arms=(reference, comparator)),
        nnt=nnt,
        nnt_conf_low=nnt_low,
        nnt_conf_high=nnt_high,
        nnt_text=text,
        n=int(len(data)),
        episodes_used=id_tuple(data["episode_id"]),
        notes=tuple(notes),
    )
