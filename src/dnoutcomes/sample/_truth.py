"""The ground truth of a generated dataset: what the analyses should find."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from dnoutcomes.sample._course import DISCHARGE_MEASURES, FOLLOWUP_MEASURES, Course
from dnoutcomes.sample._params import ARMS, OPTIONAL_FIELDS, SampleParams
from dnoutcomes.sample._people import Calendar, Episodes, therapist_names

__all__ = ["SampleTruth", "make_truth"]

CONFOUNDING_DIRECTION = (
    "dn_manual_exercise is given more often to episodes with higher baseline NPRS and ODI, "
    "longer symptoms and at the first site; chronic episodes and those with a higher "
    "baseline ODI improve more slowly whatever the arm, so the naive comparison (and the "
    "ANCOVA adjusted for baseline NPRS only) understates the benefit of the combination; "
    "inverse probability weighting on the covariates the assignment used moves the "
    "estimate back toward the true effect."
)


@dataclass(frozen=True)
class SampleTruth:
    """What is true in a generated dataset (all effects: ``dn_manual_exercise`` minus
    ``dn_only``).

    Attributes
    ----------
    seed, episodes, sites, start, months, confounding
        The arguments the dataset was generated with.
    arm_counts
        Episodes per arm as generated (``other`` = mixed care).
    nprs_weekly
        Structural NPRS change per week per arm at the reference covariates (not chronic,
        baseline ODI 30, site and therapist effects 0, no shift).
    nprs_weekly_mean
        Mean over *all* episodes of each arm's NPRS change per week had every episode had
        that arm (what a correctly specified mixed model estimates without confounding).
    nprs_weekly_difference
        ``dn_manual_exercise`` minus ``dn_only`` in NPRS change per week (the same for every
        episode: the ``arm × weeks`` term of the mixed model).
    effects
        ``"<measure>@<timepoint>"`` → ``{"all", "compared", "completers"}``: the mean
        difference of the potential outcomes (after rounding and clipping to the measure's
        scale; for ``*_use`` a risk difference) over all episodes, over episodes of the two
        compared arms, and over those of them with the measurement (completed the episode;
        for ``followup_12w``, followed up).
    dropout, shift, adverse_events
        Realised dropout, the deliberate QI shift, adverse-event rates and counts.
    contraindicated_dn_episodes
        Episodes given needling although the patient has a recorded contraindication.
    confounding_direction
        In words: who gets the combination and which way a naive estimate is biased.
    parameters
        Every number of :class:`SampleParams` used (the benchmarking fields only when
        switched on).
    therapists
        Only when therapist effects or therapist-specific case mix are switched on
        (``None`` otherwise, and then absent from ``truth.json``): therapist id →
        ``site_id``, ``episodes``, ``effect_nprs_weekly`` (the fixed effect given, 0 if
        none), ``effect_nprs_improvement`` (that effect over the planned course, in NPRS
        points of improvement at the planned discharge, averaged over her episodes;
        positive = her patients improve more), ``casemix_strength``, ``chronic_share``,
        ``mean_odi_baseline``.
    """

    seed: int
    episodes: int
    sites: tuple[str, ...]
    start: str
    months: int
    confounding: float
    arm_counts: Mapping[str, int]
    nprs_weekly: Mapping[str, float]
    nprs_weekly_mean: Mapping[str, float]
    nprs_weekly_difference: float
    nprs_weekly_scale: Mapping[str, float]
    effects: Mapping[str, Mapping[str, float]]
    dropout: Mapping[str, Any]
    shift: Mapping[str, Any]
    adverse_events: Mapping[str, Any]
    contraindicated_dn_episodes: tuple[str, ...]
    confounding_direction: str
    parameters: Mapping[str, Any]
    therapists: Mapping[str, Mapping[str, Any]] | None = None

    def __repr__(self) -> str:
        nprs = self.effects["nprs@discharge"]["compared"]
        effect = "n/a" if nprs is None else f"{nprs:+.2f}"
        return (
            f"SampleTruth(NPRS at discharge {effect} (combination - DN alone), "
            f"slope difference {self.nprs_weekly_difference:+.2f}/week, "
            f"dropout {self.dropout['rate']:.1%}, shift at {self.shift['site_id']} from "
            f"{self.shift['from_month']}, confounding {self.confounding:g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (mappings become dicts, tuples lists)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not (f.name == "therapists" and self.therapists is None)
        }

    def to_json(self) -> str:
        """The truth as JSON text (sorted keys, 2-space indent, trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _round(float(value))
    if isinstance(value, float):
        return _round(value)
    return value


def _round(x: float) -> float:
    return float(f"{x:.10g}")


def _mean(x: np.ndarray, mask: np.ndarray) -> float | None:
    return float(np.mean(x[mask])) if mask.any() else None


def make_truth(
    p: SampleParams,
    *,
    seed: int,
    start: str,
    months: int,
    confounding: float,
    sites: tuple[str, ...],
    eps: Episodes,
    course: Course,
    cal: Calendar,
    extra: Mapping[str, Any],
) -> SampleTruth:
    """Summarise what was built in, from the potential outcomes of every episode."""
    n = len(eps.arm)
    everyone = np.ones(n, dtype=bool)
    compared = eps.arm <= 1
    dn, combo = course.potential[ARMS[0]], course.potential[ARMS[1]]
    effects: dict[str, dict[str, float | None]] = {}
    for measure in DISCHARGE_MEASURES:
        diff = combo.values[measure] - dn.values[measure]
        effects[f"{measure}@discharge"] = {
            "all": _mean(diff, everyone),
            "compared": _mean(diff, compared),
            "completers": _mean(diff, compared & course.completed),
        }
    for measure in FOLLOWUP_MEASURES:
        diff = combo.followup[measure] - dn.followup[measure]
        effects[f"{measure}@followup_12w"] = {
            "all": _mean(diff, everyone),
            "compared": _mean(diff, compared),
            "completers": _mean(diff, compared & course.followed),
        }
    dropped = ~course.completed
    dropout = {
        "rate": float(dropped.mean()),
        "by_arm": {a: _mean(dropped.astype(float), eps.arm == i) for i, a in enumerate(ARMS)},
        "model": (
            f"after visit 2 of episodes planned for {p.dropout_min_planned} or more visits: "
            "logit P(drop) = "
            f"{p.dropout_intercept} + {p.dropout_per_nprs} * (NPRS at visit 2 - 5)"
            + _odi_term(p)
            + "; the last visit attended is uniform between visit 2 and the one before the "
            "planned discharge; missing at random given the observed pain"
            + (" and the baseline ODI" if any(p.dropout_per_odi.values()) else "")
        ),
    }
    # effect of the shift on NPRS improvement at the planned discharge of shifted episodes
    weeks = eps.last_day / 7.0
    shift = {
        "site_id": sites[cal.shift_site],
        "from_month": cal.shift_month,
        "from_date": str(cal.start + np.timedelta64(cal.shift_day, "D")),
        "nprs_weekly_change": p.shift_nprs_weekly,
        "episodes_affected": int(eps.shifted.sum()),
        "mean_improvement_lost": _mean(p.shift_nprs_weekly * weeks, eps.shifted),
        "what": (
            "from this month on, episodes starting at this site improve more slowly "
            "(NPRS change per week less negative by nprs_weekly_change, ODI by 5 times that)"
        ),
    }
    ae = dict(extra["adverse_events"])
    dn_sessions = int(extra["dn_sessions"])
    adverse_events = {
        "dn_sessions": dn_sessions,
        "counts": ae,
        "rate_per_100_dn_sessions": {
            sev: 100.0 * sum(by_type.values()) / max(dn_sessions, 1) for sev, by_type in ae.items()
        },
        "rates_per_dn_session": {
            "mild": dict(p.ae_mild),
            "significant": dict(p.ae_significant),
            "serious": dict(p.ae_serious),
        },
    }
    params = {
        f.name: _plain(getattr(p, f.name))
        for f in dataclasses.fields(p)
        if p.benchmarking or f.name not in OPTIONAL_FIELDS
    }
    therapists = _therapists(p, sites, eps) if p.benchmarking else None
    return SampleTruth(
        seed=seed,
        episodes=n,
        sites=sites,
        start=start,
        months=months,
        confounding=confounding,
        arm_counts=MappingProxyType({a: int((eps.arm == i).sum()) for i, a in enumerate(ARMS)}),
        nprs_weekly=MappingProxyType(dict(p.nprs_weekly)),
        nprs_weekly_mean=MappingProxyType({a: float(course.slope[a].mean()) for a in ARMS}),
        nprs_weekly_difference=float(p.nprs_weekly[ARMS[1]] - p.nprs_weekly[ARMS[0]]),
        nprs_weekly_scale=MappingProxyType(
            {
                **course.scale_slope,
                "difference": course.scale_slope[ARMS[1]] - course.scale_slope[ARMS[0]],
            }
        ),
        effects=MappingProxyType(effects),  # type: ignore[arg-type]
        dropout=MappingProxyType(dropout),
        shift=MappingProxyType(shift),
        adverse_events=MappingProxyType(adverse_events),
        contraindicated_dn_episodes=tuple(extra["contraindicated_dn_episodes"]),
        confounding_direction=CONFOUNDING_DIRECTION,
        parameters=MappingProxyType(params),
        therapists=therapists,
    )


def _therapists(
    p: SampleParams, sites: tuple[str, ...], eps: Episodes
) -> Mapping[str, Mapping[str, Any]]:
    """The benchmarking truth per therapist."""
    names = therapist_names(p, len(sites))
    weeks = eps.last_day / 7.0
    out: dict[str, Mapping[str, Any]] = {}
    for k, name in enumerate(names):
        mine = eps.therapist == k
        effect = float(p.therapist_effects.get(name, 0.0))
        out[name] = MappingProxyType(
            {
                "site_id": sites[k // p.therapists_per_site],
                "episodes": int(mine.sum()),
                "effect_nprs_weekly": effect,
                "effect_nprs_improvement": _mean(-effect * weeks, mine),
                "casemix_strength": float(p.therapist_casemix.get(name, 0.0)),
                "chronic_share": _mean(eps.chronic.astype(float), mine),
                "mean_odi_baseline": _mean(eps.odi0, mine),
            }
        )
    return MappingProxyType(out)


def _odi_term(p: SampleParams) -> str:
    """The baseline-ODI term of the dropout model, or ``""`` when it is switched off."""
    if not any(p.dropout_per_odi.values()):
        return ""
    by_arm = ", ".join(f"{a} {v:g}" for a, v in p.dropout_per_odi.items())
    return f" + b_arm * (baseline ODI - {p.odi_mean:g}) / {p.odi_sd:g} with b_arm: {by_arm}"
