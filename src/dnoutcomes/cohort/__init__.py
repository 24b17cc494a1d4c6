"""Comparison sets: which episodes enter a comparison of two arms, their values at baseline
and at a later timepoint, and the patient flow that accounts for every episode left out.

The unit of analysis is the episode of care. Patient-level covariates (age, sex, condition,
symptom weeks, chronicity, contraindications and any extra patient columns) and the site
come from the patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.cohort._codes import (
    comparison_positions,
    comparison_values,
    episode_dictionary,
    episode_values,
)
from dnoutcomes.cohort._covariates import (
    BASELINE_PREFIX,
    CONTRACT_COVARIATES,
    as_names,
    check_covariates,
    covariate_names,
    with_covariates,
)
from dnoutcomes.errors import RequestError
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.contract.measures import Measure
    from dnoutcomes.dataset import Dataset

__all__ = [
    "flow_from_counts",
    "BASELINE_PREFIX",
    "CONTRACT_COVARIATES",
    "FOLLOWUP_TIMEPOINTS",
    "PatientFlow",
    "as_names",
    "check_arms",
    "check_covariates",
    "values_at",
    "with_covariates",
    "comparison_episodes",
    "covariate_names",
    "get_measure",
    "improvement_of",
    "part_of_export",
    "outcome_pairs",
    "patient_flow",
]

#: Timepoints that hold at most one value per episode and measure after baseline.
FOLLOWUP_TIMEPOINTS: tuple[str, ...] = (
    "discharge",
    "followup_4w",
    "followup_12w",
    "followup_26w",
    "followup_52w",
)

#: The episode columns every comparison frame starts with, in this order.
EPISODE_COLUMNS: tuple[str, ...] = (
    "episode_id",
    "patient_id",
    "site_id",
    "therapist_id",
    "arm",
    "treated",
    "age",
    "age_top_coded",
    "sex",
    "condition",
    "symptom_weeks",
    "chronicity",
    "contraindications",
    "start_date",
    "end_date",
)


#: True inside :func:`part_of_export`: an arm may be absent from the dataset.
_PART: ContextVar[bool] = ContextVar("dnoutcomes_part_of_export", default=False)


@contextmanager
def part_of_export() -> Iterator[None]:
    """Within this block, an arm absent from the dataset is not an error for
    :func:`check_arms`: the dataset is one partition of an export (the Dask engine's
    report), whose sums over the partitions are the export's, and a partition may hold
    episodes of one compared arm only.
    """
    token = _PART.set(True)
    try:
        yield
    finally:
        _PART.reset(token)


def _arm_counts(dataset: Dataset) -> pd.Series:
    """Episodes per arm (an episode without any arm counts as ``"(none)"``)."""
    arms = dataset.episodes["arm"].astype("string").fillna("(none)")
    counts: pd.Series = arms.value_counts(sort=True)
    return counts


def _describe_counts(counts: pd.Series) -> str:
    return ", ".join(f"{arm} ({int(n)} episodes)" for arm, n in counts.items())


def check_arms(dataset: Dataset, reference: str, comparator: str) -> None:
    """Raise :class:`~dnoutcomes.errors.RequestError` unless both arms exist and differ.

    Parameters
    ----------
    dataset
        The loaded dataset.
    reference, comparator
        Arm labels.

    Raises
    ------
    RequestError
        When an arm has no episode in the dataset (the message lists the arms present with
        their counts; or says that the dataset has no episodes at all) or when both arms
        are the same.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> check_arms(dataset, "dn_only", "dn_manual_exercise")  # both present: nothing happens
    >>> check_arms(dataset, "dn_only", "dry_needling")
    Traceback (most recent call last):
        ...
    dnoutcomes.errors.RequestError: comparison of arms: unknown comparator arm 'dry_needling';
    expected one of the arms in the dataset: dn_manual_exercise (137 episodes), dn_only
    (77 episodes), manual_exercise (76 episodes), other (10 episodes). Pick one of those.
    """
    if reference == comparator:
        raise RequestError(
            f"comparison of arms: reference and comparator must differ; got {reference!r} "
            "for both. Choose two different arms (e.g. --reference dn_only --comparator "
            "dn_manual_exercise)."
        )
    counts = _arm_counts(dataset)
    if counts.empty:  # every episode rejected (quarantine), or an export without episodes
        raise RequestError(
            "comparison of arms: the dataset has no episodes, so there is no arm to "
            "compare (in quarantine mode every episode may have been rejected). Run "
            "'dnoutcomes validate --quarantine PATH' to see why the rows were rejected."
        )
    for role, arm in (("reference", reference), ("comparator", comparator)):
        if _PART.get() and arm != "(none)":
            continue
        if arm not in counts.index or arm == "(none)":
            raise RequestError(
                f"comparison of arms: unknown {role} arm {arm!r}; expected one of the arms in "
                f"the dataset: {_describe_counts(counts)}. Pick one of those."
            )


def get_measure(dataset: Dataset, measure: str) -> Measure:
    """Return the registry entry of ``measure`` or raise a clear request error.

    Parameters
    ----------
    dataset
        A loaded dataset (its ``registry`` is used).
    measure
        The measure's name.

    Returns
    -------
    Measure
        The registry entry (direction, MCID, responder values…).

    Raises
    ------
    RequestError
        When the measure is not in the dataset's registry (the message lists the registered
        names).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> odi = get_measure(dataset, "odi")
    >>> odi.label, odi.direction, odi.mcid_points
    ('Oswestry Disability Index', 'lower', 10.0)
    """
    registry = dataset.registry
    try:
        return registry[measure]
    except (KeyError, TypeError):
        try:
            names = sorted(str(name) for name in registry)
        except TypeError:  # pragma: no cover - registry without iteration
            names = []
        raise RequestError(
            f"measure {measure!r} is not registered; expected one of {', '.join(names)}. "
            "Check the spelling, or register the measure with registry.with_measure(...)."
        ) from None


def _check_timepoint(timepoint: str) -> None:
    if timepoint not in FOLLOWUP_TIMEPOINTS:
        raise RequestError(
            f"timepoint {timepoint!r} cannot be compared with baseline; expected one of "
            f"{', '.join(FOLLOWUP_TIMEPOINTS)} (one value per episode). Session values are "
            "analysed by the mixed model and the time-to-response analysis."
        )


def comparison_episodes(
    dataset: Dataset, *, reference: str = "dn_only", comparator: str = "dn_manual_exercise"
) -> pd.DataFrame:
    """Return the episodes of two arms with the patient covariates joined.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms compared; every effect reads "comparator minus reference".

    Returns
    -------
    pandas.DataFrame
        One row per episode of the two arms, in the order of ``dataset.episodes``:
        ``episode_id``, ``patient_id``, ``site_id``, ``therapist_id`` (str); ``arm`` (str);
        ``treated`` (int 0/1, 1 = comparator); ``age`` (float, years, ``90+`` as 90);
        ``age_top_coded`` (bool); ``sex``, ``condition`` (category); ``symptom_weeks``
        (float); ``chronicity`` (ordered category); ``contraindications`` (tuple of str);
        ``start_date``, ``end_date`` (datetime64); then any extra columns of the episodes
        and patients tables (usable as covariates).

    Raises
    ------
    RequestError
        For an arm that has no episode (the message lists the arms present with their
        counts) or when ``reference == comparator``.

    Notes
    -----
    Episodes of other arms, and episodes with no arm (no declared arm and no sessions), are
    left out; :func:`patient_flow` counts them.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> comparison_episodes(dataset)["arm"].value_counts().to_dict()
    {'dn_manual_exercise': 137, 'dn_only': 77}
    """
    check_arms(dataset, reference, comparator)
    built: pd.DataFrame = dataset._cached(
        ("comparison_episodes", reference, comparator),
        lambda: _comparison_episodes(dataset, reference, comparator),
    )
    return built.copy(deep=False)  # copy-on-write: a caller's change stays its own


def _comparison_episodes(dataset: Dataset, reference: str, comparator: str) -> pd.DataFrame:
    episodes = dataset.episodes
    chosen = episodes.take(comparison_positions(dataset, reference, comparator))
    patients = dataset.patients
    patient_cols = [c for c in patients.columns if c not in chosen.columns or c == "patient_id"]
    merged = chosen.merge(patients[patient_cols], on="patient_id", how="left", validate="m:1")
    merged["arm"] = merged["arm"].astype(str)
    merged["treated"] = (merged["arm"] == comparator).astype(int)
    standard = [c for c in EPISODE_COLUMNS if c in merged.columns]
    skip = set(standard) | {
        "arm_declared",
        "arm_derived",
        "discharge_reason",
        "n_sessions",
        "dn_sessions",
    }
    extra = [c for c in merged.columns if c not in skip]
    result: pd.DataFrame = merged[[*standard, *extra]].reset_index(drop=True)
    return result


def values_at(dataset: Dataset, measure: str, timepoint: str) -> pd.Series:
    """The value of ``measure`` at ``timepoint`` per episode (index: episode_id).

    Built once per dataset, measure and timepoint (every analysis of one
    :class:`~dnoutcomes.stats.Analysis` shares it); ``session`` values, of which an episode
    may have many, give the first.
    """
    values: pd.Series = dataset._cached(
        ("values_at", measure, timepoint), lambda: _values_at(dataset, measure, timepoint)
    )
    return values


def _values_at(dataset: Dataset, measure: str, timepoint: str) -> pd.Series:
    wide = episode_values(dataset, measure, timepoint)[:-1]
    held = np.flatnonzero(~np.isnan(wide))
    ids = pd.Index(pd.array(episode_dictionary(dataset).take(held), dtype="str"))
    return pd.Series(wide[held], index=ids.rename("episode_id"), name="value")


def improvement_of(measure_spec: Measure, baseline: Any, later: Any) -> Any:
    """Direction-aware improvement, positive when the patient got better.

    Parameters
    ----------
    measure_spec
        A registry entry (its ``direction``: ``"lower"`` or ``"higher"`` is better).
    baseline, later
        Numbers or aligned Series.

    Returns
    -------
    float or pandas.Series
        ``baseline - later`` when lower is better, else ``later - baseline``; missing
        values propagate.

    Examples
    --------
    >>> from dnoutcomes import default_registry
    >>> registry = default_registry()
    >>> improvement_of(registry["nprs"], 7, 3)  # pain: lower is better
    4
    >>> improvement_of(registry["lumbar_flexion_deg"], 40.0, 55.0)  # range: higher is better
    15.0
    """
    if getattr(measure_spec, "direction", "lower") == "higher":
        return later - baseline
    return baseline - later


def outcome_pairs(
    dataset: Dataset,
    *,
    measure: str,
    timepoint: str = "discharge",
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
) -> pd.DataFrame:
    """Return each comparison episode's baseline and later value of one measure.

    Parameters
    ----------
    dataset
        A loaded dataset.
    measure
        A registered measure name (``"nprs"``, ``"odi"``…).
    timepoint
        ``"discharge"`` or a follow-up timepoint (``"followup_12w"``…).
    reference, comparator
        The arms compared.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`comparison_episodes`, then ``baseline`` (float, the
        ``baseline`` value), ``value`` (float, the value at ``timepoint``) and
        ``improvement`` (float: ``baseline - value`` for lower-is-better measures,
        ``value - baseline`` for higher-is-better ones). Missing values are NaN; the frame
        keeps every comparison episode so the caller can count who is missing what.

    Raises
    ------
    RequestError
        For an unknown measure, an unknown or non-comparable timepoint, or an unknown arm.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> pairs = outcome_pairs(dataset, measure="nprs")
    >>> int(pairs[["baseline", "value", "improvement"]].notna().all(axis=1).sum())
    182
    """
    spec = get_measure(dataset, measure)
    _check_timepoint(timepoint)
    frame = comparison_episodes(dataset, reference=reference, comparator=comparator)
    frame["baseline"] = comparison_values(dataset, measure, "baseline", reference, comparator)
    frame["value"] = comparison_values(dataset, measure, timepoint, reference, comparator)
    frame["improvement"] = improvement_of(spec, frame["baseline"], frame["value"])
    return frame


@dataclass(frozen=True, repr=False)
class PatientFlow(ResultMixin):
    """CONSORT-style flow of episodes into one comparison, per arm.

    Attributes
    ----------
    reference, comparator, measure, timepoint
        What the flow is for.
    frame
        One row per arm and stage: ``arm`` (str; ``"all"`` for the loaded total),
        ``stage`` (``loaded``, ``in_compared_arms``, ``with_baseline``, ``with_outcome``,
        ``analysed``), ``n`` (int, episodes at this stage), ``excluded`` (int, episodes lost
        since the previous stage), ``reason`` (str, why they were lost; empty when none).
    """

    reference: str
    comparator: str
    measure: str
    timepoint: str
    frame: pd.DataFrame
    n: int
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def _frame(self) -> pd.DataFrame:  # type: ignore[override]
        return self.frame

    @property
    def title(self) -> str:  # type: ignore[override]
        return (
            f"Patient flow: {self.comparator} vs {self.reference}, "
            f"{self.measure} at {self.timepoint}"
        )

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw the CONSORT-style flow diagram.

        Hands off to :func:`dnoutcomes.plots.plot_flow`; keyword arguments go to it.
        """
        from dnoutcomes.plots.flow import plot_flow

        return plot_flow(self, ax=ax, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The flow as JSON-ready records."""
        return {
            "reference": self.reference,
            "comparator": self.comparator,
            "measure": self.measure,
            "timepoint": self.timepoint,
            "stages": jsonable(self.frame.to_dict(orient="records")),
        }


def flow_from_counts(
    counts: pd.Series,
    per_arm: dict[str, tuple[int, int, int]],
    *,
    reference: str,
    comparator: str,
    measure: str,
    timepoint: str,
    episodes_used: tuple[str, ...] = (),
) -> PatientFlow:
    """:class:`PatientFlow` from counts (:func:`patient_flow`; the Dask engine's report
    adds the counts over partitions).

    Parameters
    ----------
    counts
        Episodes per arm, every arm (``"(none)"`` for no arm), largest first.
    per_arm
        For the reference and the comparator: episodes, with a baseline value, with both
        the baseline and the ``timepoint`` value.
    reference, comparator, measure, timepoint
        What the flow is for.
    episodes_used
        The ids of the analysed episodes (empty when only counts are known).

    Returns
    -------
    PatientFlow
    """
    total = int(counts.sum())
    others = counts.drop([reference, comparator], errors="ignore")
    rows: list[dict[str, Any]] = [
        {"arm": "all", "stage": "loaded", "n": total, "excluded": 0, "reason": ""},
        {
            "arm": "all",
            "stage": "in_compared_arms",
            "n": total - int(others.sum()),
            "excluded": int(others.sum()),
            "reason": ("other arms: " + _describe_counts(others)) if len(others) else "",
        },
    ]
    for arm in (reference, comparator):
        n_arm, n_base, n_both = per_arm[arm]
        rows.extend(
            [
                {"arm": arm, "stage": "in_compared_arms", "n": n_arm, "excluded": 0, "reason": ""},
                {
                    "arm": arm,
                    "stage": "with_baseline",
                    "n": n_base,
                    "excluded": n_arm - n_base,
                    "reason": f"no baseline {measure}" if n_arm > n_base else "",
                },
                {
                    "arm": arm,
                    "stage": "with_outcome",
                    "n": n_both,
                    "excluded": n_base - n_both,
                    "reason": f"no {measure} at {timepoint}" if n_base > n_both else "",
                },
                {"arm": arm, "stage": "analysed", "n": n_both, "excluded": 0, "reason": ""},
            ]
        )
    frame = pd.DataFrame(rows, columns=["arm", "stage", "n", "excluded", "reason"])
    frame["n"] = frame["n"].astype(np.int64)
    frame["excluded"] = frame["excluded"].astype(np.int64)
    lost = frame.loc[frame["excluded"] > 0]
    notes = tuple(
        f"{n} {'' if arm == 'all' else arm + ' '}episodes left out: {reason}."
        for arm, n, reason in zip(lost["arm"], lost["excluded"], lost["reason"], strict=True)
    )
    return PatientFlow(
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        frame=frame,
        n=sum(per_arm[a][2] for a in (reference, comparator)),
        episodes_used=episodes_used,
        notes=notes,
    )


def patient_flow(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    measure: str = "nprs",
    timepoint: str = "discharge",
) -> PatientFlow:
    """Account for every episode on the way into a baseline-vs-timepoint comparison.

    Parameters
    ----------
    dataset
        A loaded dataset.
    reference, comparator
        The arms compared.
    measure, timepoint
        The outcome whose availability is counted.

    Returns
    -------
    PatientFlow
        ``frame`` with the columns ``arm``, ``stage``, ``n``, ``excluded``, ``reason``.

    Raises
    ------
    RequestError
        For an unknown arm, measure or timepoint.

    Notes
    -----
    Stages: episodes loaded (all arms) → in the compared arms (the others are counted by
    arm) → with a baseline value → with a value at the timepoint → analysed (both values
    present: the complete cases of the ANCOVA and responder analyses).

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> flow = patient_flow(dataset)
    >>> flow.frame[["arm", "stage", "n", "excluded"]]
                      arm             stage    n  excluded
    0                 all            loaded  300         0
    1                 all  in_compared_arms  214        86
    2             dn_only  in_compared_arms   77         0
    3             dn_only     with_baseline   77         0
    4             dn_only      with_outcome   69         8
    5             dn_only          analysed   69         0
    6  dn_manual_exercise  in_compared_arms  137         0
    7  dn_manual_exercise     with_baseline  137         0
    8  dn_manual_exercise      with_outcome  113        24
    9  dn_manual_exercise          analysed  113         0
    """
    pairs = outcome_pairs(
        dataset, measure=measure, timepoint=timepoint, reference=reference, comparator=comparator
    )
    has_base = pairs["baseline"].notna()
    has_value = pairs["value"].notna()
    per_arm = {}
    for arm in (reference, comparator):
        in_arm = (pairs["arm"] == arm).to_numpy()
        per_arm[arm] = (
            int(in_arm.sum()),
            int((in_arm & has_base).sum()),
            int((in_arm & has_base & has_value).sum()),
        )
    used = pairs.loc[has_base & has_value, "episode_id"]
    return flow_from_counts(
        _arm_counts(dataset),
        per_arm,
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        episodes_used=id_tuple(used),
    )
