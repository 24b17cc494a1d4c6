"""Section 8 of the analysis plan: adverse events after dry-needling sessions per arm, with
exact Poisson intervals; serious and notable events listed; needling despite a recorded
contraindication counted and listed.

When the dataset has no ``adverse_events`` table the result says "not recorded": counts
and rates are missing (JSON ``null``), never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from dnoutcomes.cohort import comparison_episodes
from dnoutcomes.cohort._codes import comparison_index, comparison_rows, event_sessions
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._inference import check_conf_level
from dnoutcomes.stats.results import ResultMixin, id_tuple, jsonable, table_alias

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from dnoutcomes.dataset import Dataset

__all__ = ["NOTABLE_TYPES", "SafetyResult", "compare_safety", "poisson_rate_ci"]

#: Event types always listed individually, whatever their severity.
NOTABLE_TYPES: tuple[str, ...] = ("pneumothorax", "infection", "nerve_injury")
#: Severity levels of the data contract, mildest first.
SEVERITIES: tuple[str, ...] = ("mild", "significant", "serious")

_RATE_COLUMNS = ["events", "dn_sessions", "rate_per_100", "conf_low", "conf_high"]
_EVENT_COLUMNS = [
    "event_id",
    "session_id",
    "episode_id",
    "arm",
    "session_date",
    "dn_performed",
    "type",
    "severity",
    "reporter",
    "resolved_days",
]


def poisson_rate_ci(
    events: ArrayLike,
    exposure: ArrayLike,
    *,
    conf_level: float = 0.95,
    per: float = 100.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Event rates with exact (Garwood) Poisson confidence intervals, as R's
    ``poisson.test(x, T)``.

    Parameters
    ----------
    events
        Event counts (whole numbers >= 0).
    exposure
        Exposure (here DN sessions) of each count, >= 0.
    conf_level
        Level of the two-sided interval, in (0, 1).
    per
        Rates are per this much exposure (100 sessions).

    Returns
    -------
    rate, conf_low, conf_high : numpy.ndarray
        ``per * events / exposure`` and its limits; all NaN where the exposure is 0 (no
        rate exists).

    Raises
    ------
    RequestError
        Negative or non-integer counts, negative exposure, ``conf_level`` outside (0, 1).

    Notes
    -----
    With ``a = 1 - conf_level``: lower ``= G^-1(a/2; x) / T`` (0 when ``x = 0``), upper
    ``= G^-1(1 - a/2; x + 1) / T``, ``G^-1(p; s)`` the quantile of a gamma distribution of
    shape ``s`` and scale 1 (Garwood 1936). Missing counts or exposures give NaN.

    Examples
    --------
    >>> rate, low, high = poisson_rate_ci([424, 0], [1758, 1064])
    >>> rate.round(2), low.round(2), high.round(2)
    (array([24.12,  0.  ]), array([21.88,  0.  ]), array([26.53,  0.35]))
    """
    x = np.asarray(events, dtype=np.float64)
    t = np.asarray(exposure, dtype=np.float64)
    check_conf_level(conf_level, where="poisson_rate_ci")
    finite = np.isfinite(x) & np.isfinite(t)
    if (x[finite] < 0).any() or (x[finite] != np.round(x[finite])).any() or (t[finite] < 0).any():
        raise RequestError(
            "poisson_rate_ci: events must be whole numbers >= 0 and exposure >= 0; got "
            "negative or fractional values."
        )
    alpha = 1.0 - conf_level
    ok = finite & (t > 0)
    safe_t = np.where(ok, t, 1.0)
    with np.errstate(invalid="ignore"):
        lower = np.where(x > 0, stats.gamma.ppf(alpha / 2.0, np.where(x > 0, x, 1.0)), 0.0)
        upper = stats.gamma.ppf(1.0 - alpha / 2.0, np.where(finite, x, 0.0) + 1.0)
    rate = np.where(ok, per * x / safe_t, np.nan)
    return (
        rate,
        np.where(ok, per * lower / safe_t, np.nan),
        np.where(ok, per * upper / safe_t, np.nan),
    )


@table_alias("rates")
@dataclass(frozen=True, repr=False, eq=False)
class SafetyResult(ResultMixin):
    """Adverse events after dry-needling sessions, per arm.

    Attributes
    ----------
    reference, comparator
        The arms (reference first in every frame).
    recorded
        False when the dataset has no adverse_events table: counts and rates are then
        missing, never 0.
    rates
        One row per arm: ``arm`` (str), ``episodes`` (int), ``dn_sessions`` (int),
        ``events`` (Int64 count; missing when not recorded), ``rate_per_100``, ``conf_low``,
        ``conf_high`` (float; NaN for an arm without DN sessions or when not recorded),
        ``contraindicated_episodes`` (int).
    by_type
        ``arm``, ``type`` (each type seen after a DN session in the compared arms),
        ``events``, ``dn_sessions``, ``rate_per_100``, ``conf_low``, ``conf_high``.
    by_severity
        ``arm``, ``severity`` (mild, significant, serious: always all three), then the same
        columns as ``by_type``.
    by_reporter
        ``arm``, ``reporter`` (``patient``, ``clinician`` as recorded, ``not recorded``
        for events without one), then the same columns as ``by_type``: patient-reported
        rates run higher, so they are kept apart.
    notable_events
        Every ``serious`` event and every pneumothorax, infection or nerve injury in the
        compared arms (after a DN session or not): ``event_id``, ``session_id``,
        ``episode_id``, ``arm``, ``session_date``, ``dn_performed``, ``type``,
        ``severity``, ``reporter``, ``resolved_days``.
    contraindicated
        Episodes of the compared arms with dry needling despite a recorded contraindication:
        ``episode_id``, ``patient_id``, ``arm``, ``contraindications`` (str, ``;``-joined),
        ``dn_sessions`` (int).
    """

    reference: str
    comparator: str
    recorded: bool
    rates: pd.DataFrame
    by_type: pd.DataFrame
    by_severity: pd.DataFrame
    by_reporter: pd.DataFrame
    notable_events: pd.DataFrame
    contraindicated: pd.DataFrame
    n: int
    conf_level: float
    episodes_used: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:  # type: ignore[override]
        if not self.recorded:
            return "Adverse events: not recorded in this dataset"
        return (
            "Adverse events after dry-needling sessions per 100 DN sessions "
            f"(exact Poisson {100 * self.conf_level:g} % CI): "
            f"{self.comparator} vs {self.reference}"
        )

    def __str__(self) -> str:
        text = super().__str__()
        if self.recorded:
            if len(self.notable_events):
                listed = self.notable_events[["event_id", "episode_id", "arm", "type", "severity"]]
                text += "\n\nSerious events, pneumothorax, infection, nerve injury:\n"
                text += listed.to_string(index=False)
            else:
                text += "\n\nNo serious event, pneumothorax, infection or nerve injury."
        if len(self.contraindicated):
            text += "\n\nNeedling despite a recorded contraindication:\n"
            text += self.contraindicated.to_string(index=False)
        return text

    def plot(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Draw adverse events per 100 DN sessions by type (or ``by="severity"``).

        Hands off to :func:`dnoutcomes.plots.plot_safety`; keyword arguments go to it.
        """
        from dnoutcomes.plots.safety import plot_safety

        return plot_safety(self, ax=ax, **kwargs)

    def to_dict(self) -> list[dict[str, Any]]:
        """The plan's ``safety`` section: one entry per arm (plus ``recorded`` and the
        count of contraindicated-needling episodes)."""
        r = self._frame
        out: list[dict[str, Any]] = jsonable(
            [
                {
                    "arm": arm,
                    "events": events,
                    "dn_sessions": sessions,
                    "rate_per_100": rate,
                    "ci_low": low,
                    "ci_high": high,
                    "recorded": self.recorded,
                    "contraindicated_episodes": contra,
                }
                for arm, events, sessions, rate, low, high, contra in zip(
                    r["arm"],
                    r["events"],
                    r["dn_sessions"],
                    r["rate_per_100"],
                    r["conf_low"],
                    r["conf_high"],
                    r["contraindicated_episodes"],
                    strict=True,
                )
            ]
        )
        return out


def compare_safety(
    dataset: Dataset,
    *,
    reference: str = "dn_only",
    comparator: str = "dn_manual_exercise",
    conf_level: float = 0.95,
) -> SafetyResult:
    """Adverse events after dry-needling sessions in two arms.

    Parameters
    ----------
    dataset
        A loaded :class:`~dnoutcomes.dataset.Dataset`.
    reference, comparator
        The arms (any pair; an arm without DN sessions gets no rate).
    conf_level
        Level of the exact Poisson intervals, in (0, 1).

    Returns
    -------
    SafetyResult
        ``rates`` per arm, ``by_type``, ``by_severity``, ``by_reporter``, ``notable_events``,
        ``contraindicated``; ``recorded`` False when there is no adverse_events table.

    Raises
    ------
    RequestError
        An unknown arm, or ``conf_level`` outside (0, 1).

    Notes
    -----
    Exposure: the sessions with ``dn_performed`` of all episodes of the arm. Events: the
    adverse events whose session is such a session (events after sessions without dry
    needling are counted in ``notes``, not in the rates). Rate per 100 DN sessions
    ``100 x / T`` with the exact interval of :func:`poisson_rate_ci`; an arm with ``T = 0``
    has no rate (NaN, JSON ``null``). Without an adverse_events table every count and rate
    is missing and ``notes`` says "not recorded". Contraindicated needling: episodes whose
    patient has at least one recorded contraindication and that have at least one DN
    session.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> rows = compare_safety(dataset).to_dict()
    >>> [(row["arm"], row["events"], row["dn_sessions"]) for row in rows]
    [('dn_only', 96, 501), ('dn_manual_exercise', 144, 732)]
    """
    check_conf_level(conf_level, where="compare_safety")
    episodes = comparison_episodes(dataset, reference=reference, comparator=comparator)
    arms = [reference, comparator]
    # on integer episode codes, no text merge: ``at`` is each session's comparison episode
    session_rows, at = comparison_rows(dataset, "sessions", None, reference, comparator)
    dn = dataset.sessions["dn_performed"].astype(bool).to_numpy()
    episodes = episodes.assign(
        dn_sessions=np.bincount(at[dn[session_rows]], minlength=len(episodes)).astype(np.int64)
    )
    exposure = episodes.groupby("arm")["dn_sessions"].sum().reindex(arms, fill_value=0)
    contraindicated = _contraindicated(episodes, arms)
    rates = pd.DataFrame(
        {
            "arm": arms,
            "episodes": episodes.groupby("arm").size().reindex(arms, fill_value=0).to_numpy(),
            "dn_sessions": exposure.to_numpy(dtype=np.int64),
        }
    )
    notes: list[str] = []
    for arm, t in zip(arms, rates["dn_sessions"], strict=True):
        if t == 0:
            notes.append(f"{arm} has no dry-needling sessions: it has no adverse-event rate.")
    if len(contraindicated):
        notes.append(
            f"{len(contraindicated)} episodes had dry needling despite a recorded "
            "contraindication (listed)."
        )
    counts = contraindicated.groupby("arm").size().reindex(arms, fill_value=0)
    rates["contraindicated_episodes"] = counts.to_numpy(dtype=np.int64)
    used = id_tuple(episodes["episode_id"])

    if dataset.adverse_events is None:
        notes.insert(0, "Adverse events not recorded in this dataset (no adverse_events table).")
        rates["events"] = pd.array([pd.NA] * len(arms), dtype="Int64")
        for column in ("rate_per_100", "conf_low", "conf_high"):
            rates[column] = np.nan
        rates = rates[["arm", "episodes", *_RATE_COLUMNS, "contraindicated_episodes"]]
        empty = pd.DataFrame(columns=["arm", "type", *_RATE_COLUMNS])
        return SafetyResult(
            reference=reference,
            comparator=comparator,
            recorded=False,
            rates=rates,
            by_type=empty,
            by_severity=empty.rename(columns={"type": "severity"}),
            by_reporter=empty.rename(columns={"type": "reporter"}),
            notable_events=pd.DataFrame(columns=_EVENT_COLUMNS),
            contraindicated=contraindicated,
            n=len(episodes),
            conf_level=conf_level,
            episodes_used=used,
            notes=tuple(notes),
        )

    events = _events_of(dataset, episodes, reference, comparator)
    after_dn = events.loc[events["dn_performed"]]
    n_other = len(events) - len(after_dn)
    if n_other:
        notes.append(
            f"{n_other} adverse events followed sessions without dry needling and are not "
            "counted in the rates."
        )
    rates["events"] = pd.array(
        after_dn.groupby("arm").size().reindex(arms, fill_value=0).to_numpy(), dtype="Int64"
    )
    rate, low, high = poisson_rate_ci(
        rates["events"].to_numpy(dtype=np.float64), rates["dn_sessions"], conf_level=conf_level
    )
    rates["rate_per_100"], rates["conf_low"], rates["conf_high"] = rate, low, high
    rates = rates[["arm", "episodes", *_RATE_COLUMNS, "contraindicated_episodes"]]
    types = [str(t) for t in _ordered_levels(after_dn["type"])]
    reporters = [str(r) for r in _ordered_levels(after_dn["reporter"])]
    notable = (events["severity"].astype(str) == "serious") | events["type"].astype(str).isin(
        NOTABLE_TYPES
    )
    return SafetyResult(
        reference=reference,
        comparator=comparator,
        recorded=True,
        rates=rates,
        by_type=_by(after_dn, "type", types, exposure, conf_level),
        by_severity=_by(after_dn, "severity", list(SEVERITIES), exposure, conf_level),
        by_reporter=_by(after_dn, "reporter", reporters, exposure, conf_level),
        notable_events=events.loc[notable, _EVENT_COLUMNS].reset_index(drop=True),
        contraindicated=contraindicated,
        n=len(episodes),
        conf_level=conf_level,
        episodes_used=used,
        notes=tuple(notes),
    )


def _events_of(
    dataset: Dataset, episodes: pd.DataFrame, reference: str, comparator: str
) -> pd.DataFrame:
    """Adverse events of the compared arms' sessions with the session's details: the
    adverse events merged (inner, on ``session_id``) with the comparison's sessions'
    ``episode_id``, ``session_date``, ``dn_performed`` and ``arm``, found by integer
    codes instead of a merge on text ids."""
    adverse_events = dataset.adverse_events
    if adverse_events is None:
        raise InsufficientDataError("the dataset has no adverse_events table.")
    session_of = event_sessions(dataset)
    in_comparison = comparison_index(dataset, "sessions", reference, comparator)
    at = np.where(session_of >= 0, in_comparison[session_of], -1)
    rows = np.flatnonzero(at >= 0)
    session_columns = ["episode_id", "session_date", "dn_performed"]
    detail = dataset.sessions[session_columns].take(session_of[rows]).reset_index(drop=True)
    detail["dn_performed"] = detail["dn_performed"].astype(bool)
    detail["arm"] = episodes["arm"].take(at[rows]).reset_index(drop=True)
    events = pd.concat(
        [
            adverse_events.take(rows).reset_index(drop=True),
            detail.drop(columns=[c for c in detail.columns if c in adverse_events.columns]),
        ],
        axis=1,
    )
    for column in ("reporter", "resolved_days"):
        if column not in events.columns:
            events[column] = pd.NA
    events["reporter"] = events["reporter"].astype("string").fillna("not recorded")
    events["type"] = events["type"].astype(str)
    events["severity"] = events["severity"].astype(str)
    return events.sort_values(["session_date", "event_id"], kind="stable").reset_index(drop=True)


def _ordered_levels(column: pd.Series) -> list[Any]:
    """Levels seen in ``column``, most frequent first (ties alphabetically)."""
    counts = column.astype(str).value_counts()
    frame = pd.DataFrame({"level": counts.index, "n": counts.to_numpy()})
    return list(frame.sort_values(["n", "level"], ascending=[False, True])["level"])


def _by(
    events: pd.DataFrame,
    column: str,
    levels: list[str],
    exposure: pd.Series,
    conf_level: float,
) -> pd.DataFrame:
    """Counts and rates per arm and level (every arm × level, 0 when none)."""
    arms = list(exposure.index)
    index = pd.MultiIndex.from_product([arms, levels], names=["arm", column])
    counts = events.groupby(["arm", column]).size().reindex(index, fill_value=0)
    frame = counts.rename("events").reset_index()
    frame["events"] = frame["events"].astype("Int64")
    frame["dn_sessions"] = frame["arm"].map(exposure).astype(np.int64)
    rate, low, high = poisson_rate_ci(
        frame["events"].to_numpy(dtype=np.float64), frame["dn_sessions"], conf_level=conf_level
    )
    frame["rate_per_100"], frame["conf_low"], frame["conf_high"] = rate, low, high
    return frame[["arm", column, *_RATE_COLUMNS]]


def _contraindicated(episodes: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    columns = ["episode_id", "patient_id", "arm", "contraindications", "dn_sessions"]
    if "contraindications" not in episodes.columns:
        return pd.DataFrame(columns=columns)
    recorded = episodes["contraindications"]
    has_any = recorded.notna() & (recorded.str.len().fillna(0) > 0)
    chosen = episodes.loc[has_any & (episodes["dn_sessions"] > 0)]
    out = chosen.assign(contraindications=chosen["contraindications"].str.join("; "))
    return out[columns].reset_index(drop=True)
