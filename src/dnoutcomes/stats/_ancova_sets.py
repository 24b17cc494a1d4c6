"""Several ANCOVAs at once: the outcomes of one report with Holm's correction across the
secondary ones, and one outcome for every pair of arms (re-exported by
:mod:`dnoutcomes.stats.ancova`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
from statsmodels.stats.multitest import multipletests

from dnoutcomes.cohort import as_names, get_measure
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._ancova_fit import AncovaResult, compare_ancova
from dnoutcomes.stats.results import ResultMixin, jsonable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dnoutcomes.dataset import Dataset

__all__ = [
    "DEFAULT_OUTCOMES",
    "STANDARD_ARMS",
    "OutcomesResult",
    "PairsResult",
    "compare_outcomes",
    "compare_pairs",
]

#: The outcomes of one report: the first is primary, the rest secondary (Holm-adjusted).
DEFAULT_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("nprs", "discharge"),
    ("odi", "discharge"),
    ("nprs", "followup_12w"),
    ("lumbar_flexion_deg", "discharge"),
    ("ppt_kg_cm2", "discharge"),
)


def _effect_columns(results: Sequence[AncovaResult]) -> dict[str, list[Any]]:
    """The arm coefficient of each result, one list per tidy column (with ``n`` first)."""
    return {
        "n": [r.n for r in results],
        "estimate": [r.estimate for r in results],
        "std_error": [r.std_error for r in results],
        "statistic": [r.statistic for r in results],
        "df": [r.df for r in results],
        "p_value": [r.p_value for r in results],
        "conf_low": [r.conf_low for r in results],
        "conf_high": [r.conf_high for r in results],
    }


@dataclass(frozen=True, repr=False)
class OutcomesResult(ResultMixin):
    """ANCOVAs of several outcomes of one report, Holm-adjusted across the secondary ones.

    Attributes
    ----------
    results
        One :class:`AncovaResult` per outcome analysed, in the order requested.
    frame
        One row per outcome: ``measure``, ``timepoint``, ``role`` (primary / secondary),
        ``n``, ``estimate``, ``std_error``, ``statistic``, ``df``, ``p_value``, ``p_holm``
        (Holm-adjusted p among the secondary outcomes; equal to ``p_value`` for the
        primary), ``conf_low``, ``conf_high``, ``adjusted_mean_reference``,
        ``adjusted_mean_comparator``, ``hedges_g``.
    """

    reference: str
    comparator: str
    results: tuple[AncovaResult, ...]
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"ANCOVA by outcome: {self.comparator} minus {self.reference}"

    def plot(self, **kwargs: Any) -> Figure:
        """Draw the forest plot of every outcome's adjusted difference.

        Hands off to :func:`dnoutcomes.plots.plot_effects`; keyword arguments go to it.
        """
        from dnoutcomes.plots.forest import plot_effects

        return plot_effects(self, **kwargs)

    def to_dict(self) -> list[dict[str, Any]]:
        """The plan's ``ancova`` list (one entry per outcome, with ``p_holm``)."""
        out = []
        for result, p_holm, role in zip(
            self.results, self.frame["p_holm"], self.frame["role"], strict=True
        ):
            entry = result.to_dict()
            entry["p_holm"] = jsonable(p_holm)
            entry["role"] = role
            out.append(entry)
        return out


def compare_outcomes(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    outcomes: Sequence[tuple[str, str]] | None = None,
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
    optional: Sequence[bool] | None = None,
    outcome_covariates: Sequence[Sequence[str]] | None = None,
) -> OutcomesResult:
    """ANCOVA for several measure/timepoint pairs with Holm's correction.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    outcomes
        ``(measure, timepoint)`` pairs; the first is the primary outcome. ``None`` uses
        :data:`DEFAULT_OUTCOMES` and skips the secondary ones the data do not record (each
        skip is stated in ``notes``); the primary outcome, and pairs given explicitly, must
        be analysable.
    covariates
        Extra adjustment columns for every model.
    conf_level
        Confidence level.
    optional
        One flag per outcome (with ``outcomes``): an optional outcome the data cannot
        support is skipped with a note instead of raising (the primary never is).
    outcome_covariates
        One covariate list per outcome (with ``outcomes``), replacing ``covariates``: a
        protocol's per-outcome covariates.

    Returns
    -------
    OutcomesResult

    Raises
    ------
    RequestError
        Unknown arm, measure, timepoint or covariate; an empty ``outcomes``.
    InsufficientDataError
        The primary outcome, or an explicitly requested one, without enough data.

    Notes
    -----
    Holm's step-down adjustment is applied to the p-values of the secondary outcomes (all
    but the first analysed); the primary keeps its unadjusted p.
    """
    explicit = outcomes is not None
    wanted = tuple(outcomes) if outcomes is not None else DEFAULT_OUTCOMES
    if not wanted:
        raise RequestError("compare_outcomes: no outcomes requested; give at least one pair.")
    skippable = list(optional) if optional is not None else [not explicit] * len(wanted)
    per_outcome = (
        [tuple(c) for c in outcome_covariates]
        if outcome_covariates is not None
        else [tuple(as_names(covariates))] * len(wanted)
    )
    if len(skippable) != len(wanted) or len(per_outcome) != len(wanted):
        raise RequestError(
            "compare_outcomes: optional= and outcome_covariates= need one entry per outcome; "
            f"got {len(skippable)} and {len(per_outcome)} for {len(wanted)} outcomes."
        )
    results: list[AncovaResult] = []
    notes: list[str] = []
    for (measure, timepoint), skip, covs in zip(wanted, skippable, per_outcome, strict=True):
        get_measure(dataset, measure)
        try:
            results.append(
                compare_ancova(
                    dataset,
                    reference=reference,
                    comparator=comparator,
                    measure=measure,
                    timepoint=timepoint,
                    covariates=covs,
                    conf_level=conf_level,
                )
            )
        except InsufficientDataError as exc:
            if not skip or not results and (measure, timepoint) == wanted[0]:
                raise  # an outcome asked for by name, or the primary outcome
            notes.append(f"{measure} at {timepoint} not analysed: {exc}")
    if not results:
        raise InsufficientDataError(
            "ANCOVA: none of the default outcomes ("
            + ", ".join(f"{m} at {t}" for m, t in wanted)
            + ") has enough data; needs at least 2 complete episodes per arm."
        )
    frame = pd.DataFrame(
        {
            "measure": [r.measure for r in results],
            "timepoint": [r.timepoint for r in results],
            "role": ["primary"] + ["secondary"] * (len(results) - 1),
            **_effect_columns(results),
            "adjusted_mean_reference": [
                float(r.adjusted_means["estimate"].iloc[0]) for r in results
            ],
            "adjusted_mean_comparator": [
                float(r.adjusted_means["estimate"].iloc[1]) for r in results
            ],
            "hedges_g": [r.hedges_g for r in results],
        }
    )
    p_holm = frame["p_value"].to_numpy(dtype=float).copy()
    if len(results) > 1:
        p_holm[1:] = multipletests(p_holm[1:], method="holm")[1]
    frame.insert(int(list(frame.columns).index("p_value")) + 1, "p_holm", p_holm)
    used = sorted({e for r in results for e in r.episodes_used})
    notes.extend(notes_ for r in results for notes_ in r.notes)
    return OutcomesResult(
        reference=reference,
        comparator=comparator,
        results=tuple(results),
        frame=frame,
        n=len(used),
        episodes_used=tuple(used),
        notes=tuple(notes),
    )


@dataclass(frozen=True, repr=False)
class PairsResult(ResultMixin):
    """The ANCOVA of one outcome for every pair of arms (the plan's three-arm overview).

    Attributes
    ----------
    results
        One :class:`AncovaResult` per pair analysed.
    frame
        One row per pair: ``reference``, ``comparator``, ``n``, ``estimate``,
        ``std_error``, ``statistic``, ``df``, ``p_value``, ``conf_low``, ``conf_high``.
    """

    measure: str
    timepoint: str
    results: tuple[AncovaResult, ...]
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"ANCOVA of {self.measure} at {self.timepoint} for each pair of arms"

    def to_dict(self) -> list[dict[str, Any]]:
        """One plan-style ``ancova`` entry per pair, with ``reference`` and ``comparator``."""
        return [
            {"reference": r.reference, "comparator": r.comparator, **r.to_dict()}
            for r in self.results
        ]


#: The order arms take in a pairwise overview (others follow alphabetically).
STANDARD_ARMS: tuple[str, ...] = ("dn_only", "dn_manual_exercise", "manual_exercise")


def compare_pairs(
    dataset: Dataset,
    *,
    arms: Sequence[str] | None = None,
    measure: str = "nprs",
    timepoint: str = "discharge",
    covariates: Sequence[str] = (),
    conf_level: float = 0.95,
) -> PairsResult:
    """ANCOVA of one outcome for every pair of arms.

    Parameters
    ----------
    dataset
        A loaded dataset.
    arms
        The arms to pair, in order (each pair reads later arm minus earlier arm). ``None``:
        every arm in the data except ``other``, standard arms first (``dn_only``,
        ``dn_manual_exercise``, ``manual_exercise``), then the rest alphabetically.
    measure, timepoint, covariates, conf_level
        As for :func:`compare_ancova`.

    Returns
    -------
    PairsResult

    Raises
    ------
    RequestError
        Fewer than two arms, an unknown arm, measure, timepoint or covariate.
    InsufficientDataError
        When no pair can be analysed (pairs that cannot are otherwise skipped with a note).

    Notes
    -----
    Each pair is its own comparison set (complete cases of those two arms), so a pair's
    numbers equal :func:`compare_ancova` for that pair. No multiplicity adjustment is made.
    """
    if arms is None:
        present = [a for a in dataset.episodes["arm"].dropna().astype(str).unique()]
        present = [a for a in present if a != "other"]
        chosen = [a for a in STANDARD_ARMS if a in present]
        chosen += sorted(a for a in present if a not in STANDARD_ARMS)
    else:
        chosen = list(dict.fromkeys(arms))
    if len(chosen) < 2:
        raise RequestError(
            f"pairwise comparison: needs at least two arms; got {chosen}. Name two or more "
            "arms present in the data."
        )
    results: list[AncovaResult] = []
    notes: list[str] = []
    for i, reference in enumerate(chosen):
        for comparator in chosen[i + 1 :]:
            try:
                results.append(
                    compare_ancova(
                        dataset,
                        reference=reference,
                        comparator=comparator,
                        measure=measure,
                        timepoint=timepoint,
                        covariates=covariates,
                        conf_level=conf_level,
                    )
                )
            except InsufficientDataError as exc:
                notes.append(f"{comparator} vs {reference} not analysed: {exc}")
    if not results:
        raise InsufficientDataError(
            f"pairwise ANCOVA of {measure} at {timepoint}: no pair of {', '.join(chosen)} "
            "has at least 2 complete episodes per arm."
        )
    frame = pd.DataFrame(
        {
            "reference": [r.reference for r in results],
            "comparator": [r.comparator for r in results],
            **_effect_columns(results),
        }
    )
    used = sorted({e for r in results for e in r.episodes_used})
    return PairsResult(
        measure=measure,
        timepoint=timepoint,
        results=tuple(results),
        frame=frame,
        n=len(used),
        episodes_used=tuple(used),
        notes=tuple(notes),
    )
