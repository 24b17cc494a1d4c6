"""Descriptive statistics: Table 1 by arm with standardised mean differences, and outcome
summaries by arm × timepoint.

:func:`smd_continuous` and :func:`smd_categorical` work on plain arrays; a categorical SMD
stays correct when a level is absent from one arm (its share there is 0, not dropped).
They live in the private ``_smd`` module and Table 1 (:func:`describe_baseline`) in
``_table_one``; both are re-exported here beside the outcome summaries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dnoutcomes.cohort import comparison_episodes, get_measure
from dnoutcomes.cohort._codes import (
    comparison_index,
    measure_categorical,
    measure_codes,
    timepoint_mask,
)
from dnoutcomes.stats._smd import smd_categorical, smd_continuous
from dnoutcomes.stats._table_one import TABLE_ONE_COLUMNS as TABLE_ONE_COLUMNS
from dnoutcomes.stats._table_one import BaselineTable, describe_baseline
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "BaselineTable",
    "OutcomeSummary",
    "describe_baseline",
    "smd_categorical",
    "smd_continuous",
    "summarize_outcomes",
]

# doctest.testmod(descriptives) also runs the examples of the re-exported SMD functions.
__test__ = {"smd_categorical": smd_categorical, "smd_continuous": smd_continuous}

#: Timepoints that hold one value per episode and measure.
_ONE_PER_EPISODE = (
    "baseline",
    "discharge",
    "followup_4w",
    "followup_12w",
    "followup_26w",
    "followup_52w",
)


@dataclass(frozen=True, repr=False)
class OutcomeSummary(ResultMixin):
    """Outcome values by measure, arm and timepoint.

    Attributes
    ----------
    frame
        One row per measure × timepoint × arm: ``measure``, ``timepoint``, ``arm``,
        ``n`` (episodes with a value), ``missing`` (episodes of the arm without one),
        ``mean``, ``sd``, ``median``, ``q1``, ``q3``.
    """

    reference: str
    comparator: str
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Outcomes by arm and timepoint: {self.reference} vs {self.comparator}"

    def to_dict(self) -> dict[str, Any]:
        """The summaries as JSON-ready records."""
        return {"rows": jsonable(self.frame.to_dict(orient="records"))}


def summarize_outcomes(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measures: Sequence[str] | None = None,
) -> OutcomeSummary:
    """Summaries of every measure at every one-per-episode timepoint, per arm.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms.
    measures
        Measures to summarise; ``None`` = every measure recorded in the two arms, in
        registry order.

    Returns
    -------
    OutcomeSummary

    Raises
    ------
    RequestError
        Unknown arm or measure.

    Notes
    -----
    Timepoints: baseline, discharge and the follow-ups (session values, several per
    episode, are left to the mixed model). SD with n − 1; quartiles by linear
    interpolation (R's type 7). Only timepoints with at least one value appear.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> summary = summarize_outcomes(dataset, measures=["nprs"])
    >>> summary.frame[["timepoint", "arm", "n", "missing", "mean"]].round(2)
          timepoint                 arm    n  missing  mean
    0      baseline             dn_only   77        0  5.40
    1      baseline  dn_manual_exercise  137        0  6.55
    2     discharge             dn_only   69        8  3.17
    3     discharge  dn_manual_exercise  113       24  3.42
    4  followup_12w             dn_only   36       41  3.56
    5  followup_12w  dn_manual_exercise   64       73  3.50
    """
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    if measures is not None:
        for name in measures:
            get_measure(dataset, name)
        wanted = list(dict.fromkeys(measures))
        order = list(measures)
    else:
        wanted = list(measure_codes(dataset)[1])
    # on integer codes: no text merge, and the group keys are categoricals, not text; one
    # measure at a time (no group spans two), so that only one measure's rows and group
    # sort are in memory at once (0.6 GiB less at a million episodes)
    parts = {
        name: _summary_stats(rows)
        for name, rows in _summary_blocks(dataset, episodes, wanted, reference, comparator)
    }
    if measures is None:
        order = [m for m in dataset.registry if m in parts]
    if not parts:  # the empty frame the statistics of no rows give
        none = np.zeros(0, dtype=np.intp)
        parts[""] = _summary_stats(_summary_rows(dataset, episodes, none, reference, comparator))
    frame = pd.concat(list(parts.values()), ignore_index=True)
    for column in ("measure", "timepoint", "arm"):  # the few group keys back to text
        frame[column] = frame[column].astype(str)
    arm_size = episodes["arm"].value_counts()
    frame.insert(4, "missing", frame["arm"].map(arm_size).astype(np.int64) - frame["n"])
    frame["measure"] = pd.Categorical(frame["measure"], categories=order)
    frame["timepoint"] = pd.Categorical(frame["timepoint"], categories=list(_ONE_PER_EPISODE))
    frame["arm"] = pd.Categorical(frame["arm"], categories=[reference, comparator])
    frame = frame.sort_values(["measure", "timepoint", "arm"]).reset_index(drop=True)
    for column in ("measure", "timepoint", "arm"):
        frame[column] = frame[column].astype(str)
    frame["n"] = frame["n"].astype(np.int64)
    return OutcomeSummary(
        reference=reference,
        comparator=comparator,
        frame=frame,
        n=len(episodes),
        episodes_used=id_tuple(episodes["episode_id"]),
    )


def _summary_blocks(
    dataset: Dataset,
    episodes: pd.DataFrame,
    wanted: Sequence[str],
    reference: str,
    comparator: str,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """The rows to summarise, one frame per measure of ``wanted`` with any (in that order,
    each built when the previous is done with): ``measure``, ``timepoint``, ``arm``
    (categoricals) and ``value``."""
    codes, lookup = measure_codes(dataset)
    index = comparison_index(dataset, "outcomes", reference, comparator)
    candidate = timepoint_mask(dataset, _ONE_PER_EPISODE)
    candidate &= index >= 0
    for name in wanted:  # a few measures, not rows
        if name not in lookup:
            continue
        keep = codes == lookup[name]
        keep &= candidate
        rows = np.flatnonzero(keep)
        del keep
        if len(rows):
            yield name, _summary_rows(dataset, episodes, rows, reference, comparator)


def _summary_rows(
    dataset: Dataset,
    episodes: pd.DataFrame,
    rows: NDArray[np.intp],
    reference: str,
    comparator: str,
) -> pd.DataFrame:
    """Outcome rows ``rows`` (all in the comparison) with their group keys and value."""
    out = dataset.outcomes
    at = comparison_index(dataset, "outcomes", reference, comparator)[rows]
    treated = episodes["treated"].to_numpy().astype(np.int8)  # 0/1, one byte per episode
    return pd.DataFrame(
        {
            "measure": measure_categorical(dataset, rows),
            "timepoint": out["timepoint"].array.take(rows),
            "arm": pd.Categorical.from_codes(
                treated[at], categories=pd.Index([reference, comparator])
            ),
            "value": out["value"].array.take(rows).to_numpy(dtype=np.float64, na_value=np.nan),
        }
    )


def _summary_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Count, mean, SD and quartiles of ``value`` per measure × timepoint × arm of ``rows``."""
    grouped = rows.groupby(["measure", "timepoint", "arm"], sort=False, observed=True)["value"]
    frame: pd.DataFrame = grouped.agg(
        n="count",
        mean="mean",
        sd="std",
        median="median",
        q1=lambda v: v.quantile(0.25),
        q3=lambda v: v.quantile(0.75),
    ).reset_index()
    return frame
