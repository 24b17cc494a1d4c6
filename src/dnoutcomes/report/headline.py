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

from dnoutcomes._frames import isin
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


def _pair_values(outcomes: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Baseline and discharge value per episode (columns ``baseline``, ``discharge``)."""
    rows = outcomes[
        (outcomes["measure"] == measure)
        & outcomes["timepoint"].isin(["baseline", "discharge"])  # on the categories
    ]
    wide = rows.pivot_table(
        index="episode_id",
        columns=rows["timepoint"].astype("string"),
        values="value",
        aggfunc="first",
        observed=True,
    )
    return wide.reindex(columns=["baseline", "discharge"])


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
    episodes = dataset.episodes[isin(dataset.episodes["episode_id"], ids)]
    outcomes = dataset.outcomes[isin(dataset.outcomes["episode_id"], ids)]

    pairs = _pair_values(outcomes, "nprs").dropna()
    improvement = nprs.improvement(pairs["baseline"], pairs["discharge"])
    if nprs.mcid_points is None:
        raise RequestError(
            "report: the registry's nprs measure has no mcid_points; expected the "
            "improvement that makes a responder (2 points in the contract). Set it."
        )
    mcid = float(nprs.mcid_points)
    responders = int((improvement >= mcid).sum())

    complete = pd.Series(True, index=ids)
    for measure in COMPLETE_MEASURES:
        both = _pair_values(outcomes, measure).notna().all(axis=1)
        complete &= both.reindex(ids, fill_value=False)

    sessions = dataset.sessions[isin(dataset.sessions["episode_id"], ids)]
    dn = sessions[sessions["dn_performed"].astype(bool)]
    events: int | None = None
    if dataset.adverse_events is not None:
        events = int(isin(dataset.adverse_events["session_id"], dn["session_id"]).sum())

    visits = episodes["n_sessions"].astype("float64")
    return Headline(
        episodes=len(episodes),
        median_visits=float(visits.median()) if len(visits) else float("nan"),
        nprs_pairs=len(pairs),
        nprs_responders=responders,
        mean_nprs_improvement=float(improvement.mean()) if len(pairs) else float("nan"),
        dn_sessions=len(dn),
        adverse_events=events,
        complete_outcomes=int(complete.sum()),
    )
