"""Covariates by name: what a protocol or a ``compare_*`` call may adjust for, and the
columns that carry them into a comparison frame.

A covariate is a contract column of the patients or episodes table (``age``, ``sex``,
``condition``, ``symptom_weeks``, ``chronicity``, ``site_id``, ``therapist_id``), an extra
column of either table (numeric columns enter as numbers, text columns as categories) or
``baseline:<measure>``, that measure's baseline value. Names derived from the outcome
(its later value, its improvement, a responder flag) are refused: adjusting for the
outcome itself makes every effect zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from dnoutcomes.cohort._codes import (
    episode_dictionary,
    episode_values,
    measure_codes,
    timepoint_mask,
)
from dnoutcomes.errors import RequestError

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = [
    "BASELINE_PREFIX",
    "CONTRACT_COVARIATES",
    "OUTCOME_DERIVED",
    "as_names",
    "baseline_values",
    "check_covariates",
    "covariate_names",
    "with_covariates",
]

#: Prefix of a covariate naming another measure's baseline value.
BASELINE_PREFIX = "baseline:"

#: Contract columns of the patients and episodes tables that can be named as covariates.
CONTRACT_COVARIATES: tuple[str, ...] = (
    "age",
    "sex",
    "condition",
    "symptom_weeks",
    "chronicity",
    "site_id",
    "therapist_id",
)

#: Column names of a comparison frame that come from the outcome or the arm.
OUTCOME_DERIVED: frozenset[str] = frozenset(
    {"value", "improvement", "baseline", "responder", "treated", "arm"}
)

#: Columns of the typed patients/episodes frames that are neither covariates nor extras:
#: keys, dates, the arm and what happened during or after treatment.
_NOT_COVARIATES: frozenset[str] = frozenset(
    {
        "patient_id",
        "episode_id",
        "age_top_coded",
        "contraindications",
        "start_date",
        "end_date",
        "arm",
        "arm_declared",
        "arm_derived",
        "discharge_reason",
        "n_sessions",
        "dn_sessions",
    }
)


def as_names(covariates: Sequence[str] | str | None) -> tuple[str, ...]:
    """Covariate names as a tuple; one name given as a plain string is one covariate."""
    if covariates is None:
        return ()
    return (covariates,) if isinstance(covariates, str) else tuple(covariates)


def covariate_names(dataset: Dataset) -> tuple[str, ...]:
    """Every name a protocol may give as a covariate for this dataset.

    Parameters
    ----------
    dataset
        A loaded dataset.

    Returns
    -------
    tuple of str
        The contract covariates (:data:`CONTRACT_COVARIATES`), the extra columns of the
        patients and episodes tables (in table order), then ``baseline:<measure>`` for
        every measure with at least one ``baseline`` value.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> covariate_names(dataset)[:7]
    ('age', 'sex', 'condition', 'symptom_weeks', 'chronicity', 'site_id', 'therapist_id')
    >>> "baseline:odi" in covariate_names(dataset)
    True
    """

    def build() -> tuple[str, ...]:
        names = list(CONTRACT_COVARIATES)
        for frame in (dataset.patients, dataset.episodes):
            names.extend(
                str(c)
                for c in frame.columns
                if c not in _NOT_COVARIATES and c not in names and c not in OUTCOME_DERIVED
            )
        names.extend(f"{BASELINE_PREFIX}{m}" for m in _baseline_measures(dataset))
        return tuple(names)

    names: tuple[str, ...] = dataset._cached(("covariate_names",), build)
    return names


def _baseline_measures(dataset: Dataset) -> list[str]:
    """The measures with at least one ``baseline`` row, sorted by name.

    On the measure codes of the baseline rows: converting those rows' measures to text
    first (4M strings at a million episodes) took 0.4 GiB for a moment.
    """
    outcomes = dataset.outcomes
    at_baseline = timepoint_mask(dataset, ("baseline",))
    if not isinstance(outcomes["measure"].dtype, pd.CategoricalDtype):
        return sorted(pd.unique(outcomes.loc[at_baseline, "measure"].astype(str)))
    codes, lookup = measure_codes(dataset)
    held = np.unique(codes[at_baseline])
    if (held < 0).any():  # a missing measure: as the text conversion treats it
        return sorted(pd.unique(outcomes.loc[at_baseline, "measure"].astype(str)))
    name = {k: m for m, k in lookup.items()}
    return sorted(name[int(k)] for k in held)


def _why_not(dataset: Dataset, name: str) -> str:
    """Why ``name`` cannot be a covariate, in words."""
    registry = dataset.registry
    if name in OUTCOME_DERIVED or name in registry or name.endswith(("_later", "_improvement")):
        return "is derived from the outcome or the arm (adjusting for it would remove the effect)"
    if name.startswith(BASELINE_PREFIX):
        measure = name[len(BASELINE_PREFIX) :]
        if measure not in registry:
            return f"names the unknown measure {measure!r}"
        return f"names {measure}, which has no baseline value in the data"
    if name == "contraindications":
        return (
            "holds lists, not one value per episode (derive a 0/1 extra column from it, "
            "such as anticoagulants = yes/no)"
        )
    if name in _NOT_COVARIATES:
        return "is a key, a date, the arm or a record of what happened during treatment"
    return "is not a column of the patients or episodes tables"


def check_covariates(
    dataset: Dataset, covariates: Sequence[str] | str | None, *, where: str
) -> tuple[str, ...]:
    """Return the covariate names, or raise naming every one that cannot be used.

    Parameters
    ----------
    dataset
        A loaded dataset.
    covariates
        Names (see the module docstring); one name may be given as a string.
    where
        The analysis, for the message (``"ANCOVA"``, ``"weighting"``…).

    Returns
    -------
    tuple of str
        The names, duplicates removed, in order.

    Raises
    ------
    RequestError
        For a name that is not a covariate (derived from the outcome, an unknown column
        or measure); the message lists what can be named, never outcome-derived names.
    """
    names = tuple(dict.fromkeys(as_names(covariates)))
    allowed = covariate_names(dataset)
    bad = [name for name in names if name not in allowed]
    if bad:
        reasons = "; ".join(f"{name!r} {_why_not(dataset, name)}" for name in bad)
        raise RequestError(
            f"{where} covariates: {reasons}. Expected some of: {', '.join(allowed)}. The "
            "outcome's own baseline is always in the model and need not be named."
        )
    return names


def baseline_values(dataset: Dataset, measure: str) -> pd.Series:
    """The baseline value of ``measure`` per episode (index: episode_id)."""
    from dnoutcomes.cohort import values_at

    return values_at(dataset, measure, "baseline")


def with_covariates(
    frame: pd.DataFrame, dataset: Dataset, covariates: Sequence[str]
) -> pd.DataFrame:
    """``frame`` with a column for every ``baseline:<measure>`` covariate not yet in it.

    Parameters
    ----------
    frame
        A comparison frame with ``episode_id`` (contract and extra columns are already
        there).
    dataset
        The dataset the frame came from.
    covariates
        Checked names (:func:`check_covariates`).

    Returns
    -------
    pandas.DataFrame
        A new frame; the input is not changed.
    """
    wanted = [c for c in covariates if c.startswith(BASELINE_PREFIX) and c not in frame.columns]
    if not wanted:
        return frame
    ids = frame["episode_id"]
    if not isinstance(ids.dtype, pd.StringDtype):
        added = {
            name: ids.map(baseline_values(dataset, name[len(BASELINE_PREFIX) :])).astype(float)
            for name in wanted
        }
        return frame.assign(**added)
    # the ids' episode codes, then the per-episode wide table: what mapping the ids on the
    # text-indexed baseline_values gives, without that Series and the hash table its index
    # builds (both kept in the dataset's cache: 0.1 GiB per measure at a million episodes)
    code = _episode_code_of(dataset, ids)
    added = {
        name: pd.Series(
            episode_values(dataset, name[len(BASELINE_PREFIX) :], "baseline")[code],
            index=frame.index,
            name="episode_id",
        )
        for name in wanted
    }
    return frame.assign(**added)


def _episode_code_of(dataset: Dataset, ids: pd.Series) -> NDArray[np.intp]:
    """The episode code of each id in ``ids`` (text), -1 for a missing or unknown id (one
    Arrow hash look-up in the dataset's episode dictionary)."""
    keys = pa.array(ids.array)
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    dictionary = episode_dictionary(dataset)
    found = pc.index_in(keys.cast(dictionary.type), value_set=dictionary)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)
