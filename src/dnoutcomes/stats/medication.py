"""Section 5 of the analysis plan: medication use at discharge.

Any use (``opioid_use``, ``analgesic_use``; 0/1) by logistic regression on the arm and the
baseline use; amounts (``opioid_mme_day``, ``analgesic_doses_week``) by the ANCOVA of
section 1. The logistic model of use lives in the private ``_use_logistic`` module and is
re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.stats._use_logistic import UseResult, compare_medication_use, fit_use_logistic
from dnoutcomes.stats.ancova import AncovaResult, compare_ancova
from dnoutcomes.stats.results import ResultMixin

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "DOSE_MEASURES",
    "USE_MEASURES",
    "MedicationResult",
    "UseResult",
    "compare_medication",
    "compare_medication_use",
    "fit_use_logistic",
]

#: Binary measures of any use in the past week.
USE_MEASURES: tuple[str, ...] = ("opioid_use", "analgesic_use")
#: Amounts analysed by ANCOVA.
DOSE_MEASURES: tuple[str, ...] = ("opioid_mme_day", "analgesic_doses_week")


_R = TypeVar("_R")


def _each_measure(
    measures: Sequence[str], *, explicit: bool, analyse: Callable[[str], _R]
) -> tuple[list[_R], list[str]]:
    """Analyse each measure in turn; one without enough data raises when it was named
    explicitly and is otherwise skipped with a note."""
    results: list[_R] = []
    notes: list[str] = []
    for measure in measures:
        try:
            results.append(analyse(measure))
        except InsufficientDataError as exc:
            if explicit:
                raise
            notes.append(f"{measure} not analysed: {exc}")
    return results, notes


@dataclass(frozen=True, repr=False)
class MedicationResult(ResultMixin):
    """Medication use and amounts at one timepoint.

    Attributes
    ----------
    use
        One :class:`UseResult` per use measure analysed.
    doses
        One :class:`~dnoutcomes.stats.ancova.AncovaResult` per amount analysed.
    frame
        One row per measure: ``measure``, ``model`` (``logistic`` / ``ancova``), ``n``,
        ``estimate`` (odds ratio; adjusted mean difference), ``conf_low``, ``conf_high``,
        ``p_value``, ``value_reference``, ``value_comparator`` (proportion using; adjusted
        mean).
    """

    reference: str
    comparator: str
    timepoint: str
    use: tuple[UseResult, ...]
    doses: tuple[AncovaResult, ...]
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Medication at {self.timepoint}: {self.comparator} vs {self.reference}"

    def to_dict(self) -> list[dict[str, Any]]:
        """The plan's ``medication`` list (the logistic models)."""
        return [result.to_dict() for result in self.use]

    def doses_to_dict(self) -> list[dict[str, Any]]:
        """The ANCOVA entries of the amounts (same keys as the plan's ``ancova``)."""
        return [result.to_dict() for result in self.doses]


def compare_medication(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    use_measures: Sequence[str] | None = None,
    dose_measures: Sequence[str] | None = None,
    timepoint: str = "discharge",
    conf_level: float = 0.95,
) -> MedicationResult:
    """Medication use (logistic) and amounts (ANCOVA) between two arms (plan, section 5).

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    use_measures
        0/1 measures; ``None`` = :data:`USE_MEASURES`, skipping those the data lack.
    dose_measures
        Amount measures; ``None`` = :data:`DOSE_MEASURES`, skipping those the data lack.
    timepoint
        ``"discharge"`` or a follow-up timepoint.
    conf_level
        Confidence level.

    Returns
    -------
    MedicationResult

    Raises
    ------
    RequestError
        Unknown arm, measure or timepoint.
    InsufficientDataError
        A measure named explicitly that cannot be analysed.

    Notes
    -----
    Defaults the data do not record (or cannot support) are skipped and said in ``notes``.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> rows = compare_medication(dataset).to_dict()
    >>> [(row["measure"], row["n"]) for row in rows]
    [('opioid_use', 167), ('analgesic_use', 171)]
    """
    use_list = tuple(use_measures) if use_measures is not None else USE_MEASURES
    dose_list = tuple(dose_measures) if dose_measures is not None else DOSE_MEASURES
    use, notes = _each_measure(
        use_list,
        explicit=use_measures is not None,
        analyse=lambda measure: compare_medication_use(
            dataset,
            reference=reference,
            comparator=comparator,
            measure=measure,
            timepoint=timepoint,
            conf_level=conf_level,
        ),
    )
    doses, dose_notes = _each_measure(
        dose_list,
        explicit=dose_measures is not None,
        analyse=lambda measure: compare_ancova(
            dataset,
            reference=reference,
            comparator=comparator,
            measure=measure,
            timepoint=timepoint,
            conf_level=conf_level,
        ),
    )
    notes.extend(dose_notes)
    rows = [
        {
            "measure": r.measure,
            "model": "logistic",
            "n": r.n,
            "estimate": r.odds_ratio,
            "conf_low": r.conf_low,
            "conf_high": r.conf_high,
            "p_value": r.p_value,
            "value_reference": r.prop_reference,
            "value_comparator": r.prop_comparator,
        }
        for r in use
    ] + [
        {
            "measure": r.measure,
            "model": "ancova",
            "n": r.n,
            "estimate": r.estimate,
            "conf_low": r.conf_low,
            "conf_high": r.conf_high,
            "p_value": r.p_value,
            "value_reference": float(r.adjusted_means["estimate"].iloc[0]),
            "value_comparator": float(r.adjusted_means["estimate"].iloc[1]),
        }
        for r in doses
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "measure",
            "model",
            "n",
            "estimate",
            "conf_low",
            "conf_high",
            "p_value",
            "value_reference",
            "value_comparator",
        ],
    )
    every: list[UseResult | AncovaResult] = [*use, *doses]
    for r in every:
        notes.extend(f"{r.measure}: {note}" for note in r.notes)
    used = sorted({e for r in every for e in r.episodes_used})
    return MedicationResult(
        reference=reference,
        comparator=comparator,
        timepoint=timepoint,
        use=tuple(use),
        doses=tuple(doses),
        frame=frame,
        n=len(used),
        episodes_used=tuple(used),
        notes=tuple(notes),
    )
