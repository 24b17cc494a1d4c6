"""Medication use and safety from site summaries.

Medication (plan, section 5): the logistic model of any use on the arm and the baseline use
has two 0/1 regressors, so the 2 × 2 × 2 table of (arm, baseline use, use) counts is
sufficient: the pooled fit is the row-level fit on the pooled table. Amounts are ANCOVAs
(the cross-products of :func:`~dnoutcomes.network._blocks.ancova_entries`).
Safety (section 8): adverse events, DN sessions, episodes and contraindicated-needling
episodes per arm, and events per arm by type, severity and reporter, are counts that add.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import InsufficientDataError

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.stats.medication import MedicationResult
    from dnoutcomes.stats.safety import SafetyResult

__all__ = ["medication_blocks", "pooled_medication", "pooled_safety", "safety_blocks"]


def _sites_of(frame: pd.DataFrame) -> np.ndarray:
    return frame["site_id"].astype(str).to_numpy()


def medication_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per site: ``timepoint``; ``use``: per use measure the data record, ``counts``
    [arm][baseline use][use] of episodes with both values; ``doses``: per amount measure,
    an ANCOVA entry (baseline-adjusted, as ``compare_medication``)."""
    from dnoutcomes.cohort import outcome_pairs
    from dnoutcomes.network._blocks import ancova_entries
    from dnoutcomes.protocol import OutcomeSpec
    from dnoutcomes.stats.medication import DOSE_MEASURES, USE_MEASURES

    ref, comp = protocol.reference, protocol.comparator
    timepoint = protocol.medication_timepoint()
    out: dict[str, dict[str, Any]] = {
        s: {"timepoint": timepoint, "use": [], "doses": []} for s in sites
    }
    for measure in USE_MEASURES:
        if measure not in dataset.registry:
            continue
        pairs = outcome_pairs(
            dataset, measure=measure, timepoint=timepoint, reference=ref, comparator=comp
        )
        ok = pairs[["value", "baseline", "treated"]].notna().all(axis=1).to_numpy()
        arm = pairs["treated"].to_numpy()[ok].astype(int)
        base = pairs["baseline"].to_numpy(dtype=float)[ok]
        use = pairs["value"].to_numpy(dtype=float)[ok]
        if not (np.isin(base, (0, 1)).all() and np.isin(use, (0, 1)).all()):
            continue  # the row-level model refuses it too (values other than 0/1)
        cell = arm * 4 + base.astype(int) * 2 + use.astype(int)
        site_of = _sites_of(pairs)[ok]
        for site in sites:
            counts = np.bincount(cell[site_of == site], minlength=8).reshape(2, 2, 2)
            out[site]["use"].append({"measure": measure, "counts": counts.tolist()})
    for measure in DOSE_MEASURES:
        if measure not in dataset.registry:
            continue
        spec = OutcomeSpec(measure=measure, timepoint=timepoint, optional=True)
        entries = ancova_entries(dataset, protocol, spec, "medication", sites)
        for site in sites:
            out[site]["doses"].append(entries[site])
    return out


def pooled_medication(
    blocks: Sequence[Mapping[str, Any]], *, arms: tuple[str, str], conf_level: float
) -> MedicationResult:
    """The network's medication section: each use measure's logistic model fitted to the
    pooled 2 × 2 × 2 table (:func:`~dnoutcomes.stats.medication.fit_use_logistic` on the
    rows the table stands for) and each amount's ANCOVA from pooled cross-products."""
    from dnoutcomes.network._ancova import fit_crossproducts, pool_entries
    from dnoutcomes.stats.medication import MedicationResult, UseResult, fit_use_logistic

    ref, comp = arms
    timepoint = blocks[0]["timepoint"]
    if any(b["timepoint"] != timepoint for b in blocks):
        raise InsufficientDataError(
            "medication: the summaries count use at different timepoints; every site must "
            "summarise with the network's protocol."
        )
    notes: list[str] = []
    use: list[UseResult] = []
    # by name: a measure a site's data do not record adds no episode there
    measures = list(dict.fromkeys(u["measure"] for b in blocks for u in b["use"]))
    for measure in measures:
        tables = [u["counts"] for b in blocks for u in b["use"] if u["measure"] == measure]
        counts = np.sum(tables, axis=0).reshape(-1)
        pattern = np.array([(a, b, u) for a in (0, 1) for b in (0, 1) for u in (0, 1)])
        rows = np.repeat(pattern, counts.astype(np.int64), axis=0)
        frame = pd.DataFrame(rows, columns=["treated", "baseline", "value"])
        try:
            use.append(
                fit_use_logistic(
                    frame,
                    conf_level=conf_level,
                    measure=measure,
                    timepoint=timepoint,
                    reference=ref,
                    comparator=comp,
                    id_column="",
                )
            )
        except InsufficientDataError as exc:
            notes.append(f"{measure} not analysed: {exc}")
    doses = []
    dose_measures = list(dict.fromkeys(d["measure"] for b in blocks for d in b["doses"]))
    for measure in dose_measures:
        cp = pool_entries([d for b in blocks for d in b["doses"] if d["measure"] == measure])
        try:
            doses.append(
                fit_crossproducts(cp, conf_level=conf_level, reference=ref, comparator=comp)
            )
        except InsufficientDataError as exc:
            notes.append(f"{cp.measure} not analysed: {exc}")
    rows_out = [
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
    columns = [
        "measure",
        "model",
        "n",
        "estimate",
        "conf_low",
        "conf_high",
        "p_value",
        "value_reference",
        "value_comparator",
    ]
    fitted: list[Any] = [*use, *doses]
    for r in fitted:
        notes.extend(f"{r.measure}: {note}" for note in r.notes)
    if not use and not doses:
        raise InsufficientDataError(
            f"medication at {timepoint}: no use or amount measure could be analysed over the "
            "network."
        )
    return MedicationResult(
        reference=ref,
        comparator=comp,
        timepoint=timepoint,
        use=tuple(use),
        doses=tuple(doses),
        frame=pd.DataFrame(rows_out, columns=columns),
        # the episodes of the measure analysed in most episodes (the row level counts the
        # union of the measures' episodes, which needs their ids)
        n=max([int(r.n) for r in fitted], default=0),
        episodes_used=(),
        notes=tuple(notes),
    )


def safety_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per site and arm ([reference, comparator]): ``episodes``, ``dn_sessions``,
    ``contraindicated_episodes``, and (when the export records adverse events) ``events``
    after DN sessions, ``other_events`` (after sessions without DN) and ``by_type``,
    ``by_severity``, ``by_reporter`` (level → counts per arm); ``recorded`` False without
    an adverse_events table."""
    from dnoutcomes.cohort import comparison_episodes
    from dnoutcomes.cohort._codes import comparison_rows
    from dnoutcomes.stats.safety import _events_of

    ref, comp = protocol.reference, protocol.comparator
    episodes = comparison_episodes(dataset, reference=ref, comparator=comp)
    session_rows, at = comparison_rows(dataset, "sessions", None, ref, comp)
    dn = dataset.sessions["dn_performed"].astype(bool).to_numpy()
    dn_sessions = np.bincount(at[dn[session_rows]], minlength=len(episodes))
    arm = episodes["treated"].to_numpy(dtype=int)
    if "contraindications" in episodes.columns:
        recorded = episodes["contraindications"]
        has_any = (recorded.notna() & (recorded.str.len().fillna(0) > 0)).to_numpy(dtype=bool)
    else:
        has_any = np.zeros(len(episodes), dtype=bool)
    contra = has_any & (dn_sessions > 0)
    site_of = _sites_of(episodes)
    events = None
    if dataset.adverse_events is not None:
        events = _events_of(dataset, episodes, ref, comp)
        site_map = pd.Series(site_of, index=episodes["episode_id"].to_numpy())
        events = events.assign(
            site=events["episode_id"].map(site_map).astype(str).to_numpy(),
            treated=(events["arm"].astype(str) == comp).astype(int).to_numpy(),
        )
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        here = site_of == site
        block: dict[str, Any] = {
            "recorded": events is not None,
            "episodes": [int((here & (arm == a)).sum()) for a in (0, 1)],
            "dn_sessions": [int(dn_sessions[here & (arm == a)].sum()) for a in (0, 1)],
            "contraindicated_episodes": [int((contra & here & (arm == a)).sum()) for a in (0, 1)],
        }
        if events is not None:
            mine = events.loc[events["site"] == site]
            after = mine.loc[mine["dn_performed"]]
            block["events"] = [int((after["treated"] == a).sum()) for a in (0, 1)]
            block["other_events"] = [int((mine["treated"] == a).sum()) for a in (0, 1)]
            block["other_events"] = [
                o - e for o, e in zip(block["other_events"], block["events"], strict=True)
            ]
            for column in ("type", "severity", "reporter"):
                sizes = after.groupby([after[column].astype(str), "treated"]).size()
                wide = sizes.unstack(fill_value=0).reindex(columns=[0, 1], fill_value=0)
                block[f"by_{column}"] = {
                    str(level): [int(c0), int(c1)]
                    for level, c0, c1 in zip(wide.index, wide[0], wide[1], strict=True)
                }
        out[site] = block
    return out


def pooled_safety(
    blocks: Sequence[Mapping[str, Any]], *, arms: tuple[str, str], conf_level: float
) -> SafetyResult:
    """The network's safety section from summed counts: rates per 100 DN sessions with
    exact Poisson intervals per arm and by type, severity and reporter (as
    :func:`~dnoutcomes.stats.safety.compare_safety`); the listings of notable events and
    of contraindicated needling are rows and are not pooled (empty frames)."""
    from dnoutcomes.stats.safety import (
        _EVENT_COLUMNS,
        _RATE_COLUMNS,
        SEVERITIES,
        SafetyResult,
        poisson_rate_ci,
    )

    def total(key: str) -> np.ndarray:
        return np.sum([b[key] for b in blocks], axis=0).astype(np.int64)

    recorded = all(b["recorded"] for b in blocks)
    rates = pd.DataFrame(
        {"arm": list(arms), "episodes": total("episodes"), "dn_sessions": total("dn_sessions")}
    )
    exposure = pd.Series(rates["dn_sessions"].to_numpy(), index=list(arms))
    notes = [
        f"{a} has no dry-needling sessions: it has no adverse-event rate."
        for a, t in zip(arms, rates["dn_sessions"], strict=True)
        if t == 0
    ]
    contra = total("contraindicated_episodes")
    if contra.sum():
        notes.append(
            f"{int(contra.sum())} episodes had dry needling despite a recorded "
            "contraindication (not listed: the list is rows and stays at the sites)."
        )
    rates["contraindicated_episodes"] = contra
    empty = pd.DataFrame(columns=["arm", "type", *_RATE_COLUMNS])
    frames: dict[str, pd.DataFrame] = {
        "type": empty,
        "severity": empty.rename(columns={"type": "severity"}),
        "reporter": empty.rename(columns={"type": "reporter"}),
    }
    if not recorded:
        if any(b["recorded"] for b in blocks):
            notes.append("Adverse events are recorded at some sites only: not pooled.")
        notes.insert(0, "Adverse events not recorded (no adverse_events table at a site).")
        rates["events"] = pd.array([pd.NA] * 2, dtype="Int64")
        for column in ("rate_per_100", "conf_low", "conf_high"):
            rates[column] = np.nan
    else:
        other = int(total("other_events").sum())
        if other:
            notes.append(
                f"{other} adverse events followed sessions without dry needling and are not "
                "counted in the rates."
            )
        rates["events"] = pd.array(total("events"), dtype="Int64")
        rate, low, high = poisson_rate_ci(
            rates["events"].to_numpy(dtype=np.float64), rates["dn_sessions"], conf_level=conf_level
        )
        rates["rate_per_100"], rates["conf_low"], rates["conf_high"] = rate, low, high
        for column in ("type", "severity", "reporter"):
            counts: dict[str, np.ndarray] = {}
            for b in blocks:
                for level, pair in b[f"by_{column}"].items():
                    counts[level] = counts.get(level, np.zeros(2, np.int64)) + np.asarray(pair)
            if column == "severity":
                levels = list(SEVERITIES)
            else:  # most frequent first, ties alphabetically (as the row level)
                levels = sorted(counts, key=lambda lv: (-int(counts[lv].sum()), lv))
            frame = pd.DataFrame(
                {
                    "arm": np.repeat(list(arms), len(levels)),
                    column: levels * 2,
                    "events": [
                        int(counts.get(lv, np.zeros(2, np.int64))[a])
                        for a in (0, 1)
                        for lv in levels
                    ],
                }
            )
            frame["events"] = frame["events"].astype("Int64")
            frame["dn_sessions"] = frame["arm"].map(exposure).astype(np.int64)
            rate, low, high = poisson_rate_ci(
                frame["events"].to_numpy(dtype=np.float64),
                frame["dn_sessions"],
                conf_level=conf_level,
            )
            frame["rate_per_100"], frame["conf_low"], frame["conf_high"] = rate, low, high
            frames[column] = frame[["arm", column, *_RATE_COLUMNS]]
    rates = rates[["arm", "episodes", *_RATE_COLUMNS, "contraindicated_episodes"]]
    return SafetyResult(
        reference=arms[0],
        comparator=arms[1],
        recorded=recorded,
        rates=rates,
        by_type=frames["type"],
        by_severity=frames["severity"],
        by_reporter=frames["reporter"],
        notable_events=pd.DataFrame(columns=_EVENT_COLUMNS),
        contraindicated=pd.DataFrame(
            columns=["episode_id", "patient_id", "arm", "contraindications", "dn_sessions"]
        ),
        n=int(rates["episodes"].sum()),
        conf_level=conf_level,
        episodes_used=(),
        notes=tuple(notes),
    )
