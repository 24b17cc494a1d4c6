"""The report's headline figures for one set of discharged episodes.

Six figures a quality-improvement team follows from period to period: episodes discharged,
median visits, share of NPRS responders, mean NPRS improvement, adverse events per 100
dry-needling sessions and share of episodes with complete baseline and discharge outcomes.
They are plain descriptive counts and summaries of the episodes given (all arms), computed
vectorised from the Dataset's frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dnoutcomes._frames import isin
from dnoutcomes.cohort._codes import episode_codes, episode_values, event_sessions, n_codes
from dnoutcomes.errors import RequestError

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset

__all__ = ["COMPLETE_MEASURES", "Headline", "headline_figures"]

#: The measures an episode needs at baseline and at discharge to count as complete: the
#: primary outcome (NPRS) and the secondary one (ODI) of the analysis plan.
COMPLETE_MEASURES: tuple[str, ...] = ("nprs", "odi")


@dataclass(frozen=True)
class Headline:
    """Headline figures of a set of discharged episodes (numbers unrounded).

    Attributes
    ----------
    episodes
        Episodes in the set.
    median_visits
        Median number of sessions per episode (NaN when there is no episode).
    nprs_pairs
        Episodes with both a baseline and a discharge NPRS.
    nprs_responders
        Of those, episodes whose NPRS improved by at least the registry's MCID (2 points).
    mean_nprs_improvement
        Mean of baseline − discharge NPRS over ``nprs_pairs`` (NaN when none).
    dn_sessions
        Sessions of the set's episodes with dry needling.
    adverse_events
        Adverse events after those sessions; ``None`` when the export has no
        ``adverse_events`` table ("not recorded", never 0).
    complete_outcomes
        Episodes with a baseline and a discharge value of every measure in
        :data:`COMPLETE_MEASURES`.
    """

    episodes: int
    median_visits: float
    nprs_pairs: int
    nprs_responders: int
    mean_nprs_improvement: float
    dn_sessions: int
    adverse_events: int | None
    complete_outcomes: int

    @property
    def responder_share(self) -> float:
        """``nprs_responders / nprs_pairs`` (NaN when there is no pair)."""
        return self.nprs_responders / self.nprs_pairs if self.nprs_pairs else float("nan")

    @property
    def ae_rate_per_100(self) -> float | None:
        """Adverse events per 100 DN sessions; ``None`` when not recorded, NaN when there is
        no DN session."""
        if self.adverse_events is None:
            return None
        if self.dn_sessions == 0:
            return float("nan")
        return 100.0 * self.adverse_events / self.dn_sessions

    @property
    def complete_share(self) -> float:
        """``complete_outcomes / episodes`` (NaN when there is no episode)."""
        return self.complete_outcomes / self.episodes if self.episodes else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain values (NaN as ``None``)."""

        def clean(value: float | None) -> float | None:
            if value is None or not np.isfinite(value):
                return None
            return float(value)

        return {
            "episodes": self.episodes,
            "median_visits": clean(self.median_visits),
            "nprs_pairs": self.nprs_pairs,
            "nprs_responders": self.nprs_responders,
            "responder_share": clean(self.responder_share),
            "mean_nprs_improvement": clean(self.mean_nprs_improvement),
            "dn_sessions": self.dn_sessions,
            "adverse_events": self.adverse_events,
            "ae_rate_per_100": clean(self.ae_rate_per_100),
            "complete_outcomes": self.complete_outcomes,
            "complete_share": clean(self.complete_share),
        }


def headline_figures(dataset: Dataset, episode_ids: pd.Series | pd.Index) -> Headline:
    """Compute the headline figures of the given episodes.

    Parameters
    ----------
    dataset
        The loaded dataset.
    episode_ids
        The episodes of the set (those discharged in the period, at the site reported).

    Returns
    -------
    Headline

    Raises
    ------
    RequestError
        When the registry has no ``nprs`` measure.

    Notes
    -----
    Improvement follows the measure's direction (``Measure.improvement``); a responder
    improved by at least ``mcid_points``. Missing values are not imputed: an episode without
    a baseline or a discharge NPRS is left out of the responder share and the mean
    improvement, and counts as incomplete. Adverse events count when they follow a session
    with dry needling of one of the episodes, and the rate is events / DN sessions × 100.
    """
    try:
        nprs = dataset.registry["nprs"]
    except KeyError:
        raise RequestError(
            "report: the measure registry has no 'nprs'; expected the contract's NPRS "
            "measure for the headline figures. Load with the default registry."
        ) from None
    ids = pd.Index(pd.unique(pd.Series(episode_ids, dtype="string")))
    chosen = isin(dataset.episodes["episode_id"], ids)
    episodes = dataset.episodes[chosen]
    if nprs.mcid_points is None:
        raise RequestError(
            "report: the registry's nprs measure has no mcid_points; expected the "
            "improvement that makes a responder (2 points in the contract). Set it."
        )
    mcid = float(nprs.mcid_points)

    # Everything below is on the dataset's integer episode codes (shared with the
    # analyses of the same dataset): the per-episode first non-missing value of a measure
    # at a timepoint, and which codes are chosen -- no text id is hashed again.
    codes = episode_codes(dataset, "episodes")[chosen]

    def pair(measure: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return (
            episode_values(dataset, measure, "baseline")[codes],
            episode_values(dataset, measure, "discharge")[codes],
        )

    baseline, discharge = pair("nprs")
    paired = ~np.isnan(baseline) & ~np.isnan(discharge)
    improvement = nprs.improvement(
        pd.Series(baseline[paired], dtype="float64"), pd.Series(discharge[paired], dtype="float64")
    )
    responders = int((improvement >= mcid).sum())

    complete = np.ones(len(codes), dtype=bool)
    for measure in COMPLETE_MEASURES:
        before, after = pair(measure)
        complete &= ~np.isnan(before) & ~np.isnan(after)

    picked = np.zeros(n_codes(dataset) + 1, dtype=bool)  # the last entry: code -1
    picked[codes] = True
    picked[-1] = False
    in_set = picked[episode_codes(dataset, "sessions")]
    dn_rows = in_set & dataset.sessions["dn_performed"].to_numpy(dtype=bool, na_value=False)
    events: int | None = None
    if dataset.adverse_events is not None:
        at = event_sessions(dataset)  # the session row of each event, -1: none
        events = int(np.count_nonzero(dn_rows[at[at >= 0]]))

    visits = episodes["n_sessions"].astype("float64")
    return Headline(
        episodes=len(episodes),
        median_visits=float(visits.median()) if len(visits) else float("nan"),
        nprs_pairs=int(np.count_nonzero(paired)),
        nprs_responders=responders,
        mean_nprs_improvement=float(improvement.mean()) if paired.any() else float("nan"),
        dn_sessions=int(np.count_nonzero(dn_rows)),
        adverse_events=events,
        complete_outcomes=int(np.count_nonzero(complete)),
    )
