"""What one site computes from its rows: per ``site_id``, the sufficient statistics of
each analysis as plain JSON-ready values (nothing row-level leaves this module).

Every block reuses the row-level analysis' own preparation (complete cases of
:func:`~dnoutcomes.cohort.outcome_pairs`, the responder rule of
:func:`~dnoutcomes.stats.responders.responder_flags`, the response times of
:func:`~dnoutcomes.stats.survival.response_times`, the rows of Table 1), so that the pooled
statistics are those of the whole export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.cohort import (
    BASELINE_PREFIX,
    check_covariates,
    comparison_episodes,
    get_measure,
    outcome_pairs,
    values_at,
    with_covariates,
)
from dnoutcomes.network._design import full_design

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol

__all__ = [
    "ancova_blocks",
    "baseline_blocks",
    "grid_index",
    "monthly_blocks",
    "responder_blocks",
    "survival_blocks",
]

#: The protocol's responder rules and the names of compare_responders.
RESPONDER_DEFINITIONS = {"mcid": "points", "percent": "percent", "values": "values"}

#: Categorical rows of Table 1 (the numeric ones are age and symptom weeks).
CATEGORICAL = ("sex", "condition", "chronicity", "site_id")
NUMERIC = ("age", "symptom_weeks")


def _sites(frame: pd.DataFrame) -> pd.Series:
    return frame["site_id"].astype(str)


def ancova_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Cross-products of each protocol outcome's full design, per site.

    Returns
    -------
    dict
        Site → one entry per outcome (primary first): ``measure``, ``timepoint``,
        ``covariates``, ``columns`` (name, covariate, level, order of each design column),
        ``n`` ([reference, comparator] complete rows), ``xtx``, ``xty``, ``yty``,
        ``y_sum`` and ``y_sumsq`` per arm.
    """
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in sites}
    for spec, role in ancova_specs(protocol):
        for site, entry in ancova_entries(dataset, protocol, spec, role, sites).items():
            out[site].append(entry)
    return out


def ancova_specs(protocol: Protocol) -> list[tuple[Any, str]]:
    """The protocol's outcomes with their role (``primary``, ``secondary``, and
    ``site_model``: the primary with the baseline only, for DerSimonian-Laird, when the
    primary has covariates)."""
    specs = [
        (spec, "primary" if i == 0 else "secondary") for i, spec in enumerate(protocol.outcomes())
    ]
    primary = specs[0][0]
    if primary.covariates:
        # the per-site models pooled by DerSimonian-Laird adjust for the baseline only
        specs.append((replace(primary, covariates=(), optional=True), "site_model"))
    return specs


def ancova_entries(
    dataset: Dataset,
    protocol: Protocol,
    spec: Any,
    role: str,
    sites: Sequence[str],
    left_out: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """The cross-products of one outcome's full design, per site (see
    :func:`ancova_blocks`); ``left_out`` (when given) gets the episodes left out without
    both values and those left out for a missing covariate (the report's notes; not part
    of a site summary)."""
    ref, comp = protocol.reference, protocol.comparator
    get_measure(dataset, spec.measure)
    pairs = outcome_pairs(
        dataset, measure=spec.measure, timepoint=spec.timepoint, reference=ref, comparator=comp
    )
    names = check_covariates(dataset, spec.covariates or (), where="ANCOVA")
    names = tuple(c for c in names if c != f"{BASELINE_PREFIX}{spec.measure}")
    pairs = with_covariates(pairs, dataset, names)
    needed = ["value", "baseline", "treated", *names]
    complete = pairs[needed].notna().all(axis=1)
    data = pairs.loc[complete]
    if left_out is not None:
        dropped_cov = int((pairs[["value", "baseline"]].notna().all(axis=1) & ~complete).sum())
        left_out.extend([len(pairs) - len(data) - dropped_cov, dropped_cov])
    site_of = _sites(data)
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        rows = data.loc[(site_of == site).to_numpy()]
        x, columns = full_design(rows, names)
        y = rows["value"].to_numpy(dtype=float)
        arm = rows["treated"].to_numpy(dtype=int)
        out[site] = {
            "role": role,
            "measure": spec.measure,
            "timepoint": spec.timepoint,
            "optional": bool(spec.optional),
            "covariates": list(names),
            "columns": [
                {
                    "name": c.name,
                    "covariate": c.covariate,
                    "level": c.level,
                    "order": c.order,
                }
                for c in columns
            ],
            "n": [int((arm == 0).sum()), int((arm == 1).sum())],
            "xtx": (x.T @ x).tolist(),
            "xty": (x.T @ y).tolist(),
            "yty": float(y @ y),
            "y_sum": [float(y[arm == 0].sum()), float(y[arm == 1].sum())],
            "y_sumsq": [float(y[arm == 0] @ y[arm == 0]), float(y[arm == 1] @ y[arm == 1])],
        }
    return out


def _responder_flags(
    dataset: Dataset, protocol: Protocol
) -> tuple[pd.DataFrame, pd.Series, pd.Series, float]:
    """:func:`~dnoutcomes.stats.responders.responder_flags` for the protocol's responder
    outcome and definition (the responder and the monthly blocks count from it)."""
    from dnoutcomes.stats.responders import responder_flags

    measure, timepoint = protocol.responder_outcome()
    definition = RESPONDER_DEFINITIONS[protocol.responders.definition]
    return responder_flags(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=measure,
        timepoint=timepoint,
        definition=definition,  # type: ignore[arg-type]
        threshold=protocol.responders.percent if definition == "percent" else None,
    )


def responder_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Responders and classified episodes per arm ([reference, comparator]), per site."""
    measure, timepoint = protocol.responder_outcome()
    definition = RESPONDER_DEFINITIONS[protocol.responders.definition]
    pairs, usable, responder, cut = _responder_flags(dataset, protocol)
    keep = usable.to_numpy(dtype=bool)
    arm = pairs["treated"].to_numpy(dtype=int)[keep]
    hit = responder.to_numpy(dtype=bool)[keep]
    site_of = _sites(pairs).to_numpy()[keep]
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        here = site_of == site
        out[site] = {
            "measure": measure,
            "timepoint": timepoint,
            "definition": definition,
            "threshold": None if np.isnan(cut) else cut,
            "n": [int((here & (arm == 0)).sum()), int((here & (arm == 1)).sum())],
            "responders": [
                int((here & (arm == 0) & hit).sum()),
                int((here & (arm == 1) & hit).sum()),
            ],
        }
    return out


def grid_index(time: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The interval of each time on the grid: k such that ``grid[k-1] < t <= grid[k]``
    (the first interval is ``[0, grid[0]]``); ``len(grid)`` beyond the last point."""
    return np.searchsorted(grid, time, side="left")


def coarsen(time: np.ndarray, event: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times moved to the end of their grid interval; times beyond the horizon (the last
    grid point) censored there. The row-level twin of :func:`survival_blocks`."""
    k = grid_index(np.asarray(time, dtype=float), grid)
    beyond = k >= len(grid)
    return grid[np.minimum(k, len(grid) - 1)], np.where(beyond, 0, np.asarray(event, dtype=int))


def survival_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str], grid: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Events and censorings per grid interval and arm, per site.

    Returns
    -------
    dict
        Site → ``events`` and ``censored`` ([reference counts, comparator counts], one count
        per grid interval).
    """
    from dnoutcomes.stats.survival import response_times

    times = response_times(
        dataset,
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=protocol.time_to_response_measure(),
        timepoints=protocol.time_to_response.timepoints,
    )
    site_map = comparison_episodes(
        dataset, reference=protocol.reference, comparator=protocol.comparator
    ).set_index("episode_id")["site_id"]
    site_of = times["episode_id"].map(site_map).astype(str).to_numpy()
    at, event = coarsen(times["time"].to_numpy(dtype=float), times["event"].to_numpy(), grid)
    k = np.searchsorted(grid, at)
    arm = times["treated"].to_numpy(dtype=int)
    size = len(grid)
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        here = site_of == site
        counts: dict[str, list[list[int]]] = {"events": [], "censored": []}
        for a in (0, 1):
            rows = here & (arm == a)
            for key, flag in (("events", 1), ("censored", 0)):
                chosen = k[rows & (event == flag)]
                counts[key].append(np.bincount(chosen, minlength=size).astype(int).tolist())
        out[site] = counts
    return out


def _moments(values: pd.Series, arm: np.ndarray) -> dict[str, Any]:
    x = values.to_numpy(dtype=float)
    present = ~np.isnan(x)
    parts: dict[str, Any] = {"kind": "numeric", "n": [], "sum": [], "sumsq": [], "missing": []}
    for a in (0, 1):
        v = x[present & (arm == a)]
        parts["n"].append(int(v.size))
        parts["sum"].append(float(v.sum()))
        parts["sumsq"].append(float(v @ v))
        parts["missing"].append(int(((~present) & (arm == a)).sum()))
    return parts


def _levels(series: pd.Series) -> tuple[list[str], list[str]]:
    """The levels of the variable in the row-level order, and their sort keys."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in series.cat.categories]
        return cats, [f"{i:06d}" for i in range(len(cats))]
    levels = sorted(series.dropna().astype(str).unique())
    return levels, list(levels)


def _counts(
    series: pd.Series, arm: np.ndarray, levels: list[str], keys: list[str]
) -> dict[str, Any]:
    text = series.astype(object).where(series.notna())
    present = text.notna().to_numpy()
    as_str = text.astype(str).to_numpy()
    counts = [[int(((as_str == lv) & present & (arm == a)).sum()) for lv in levels] for a in (0, 1)]
    used = [i for i in range(len(levels)) if counts[0][i] + counts[1][i] > 0]
    return {
        "kind": "categorical",
        "levels": [levels[i] for i in used],
        "order": [keys[i] for i in used],
        "counts": [[counts[a][i] for i in used] for a in (0, 1)],
        "missing": [int(((~present) & (arm == a)).sum()) for a in (0, 1)],
    }


def baseline_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per-arm moments (numeric rows) and level counts (categorical rows) of Table 1.

    Returns
    -------
    dict
        Site → ``episodes`` ([reference, comparator]) and ``variables``: Table 1's variable
        name → ``{"kind": "numeric", "n", "sum", "sumsq", "missing"}`` (with
        ``"binary": true`` for a 0/1 measure) or ``{"kind": "categorical", "levels",
        "order", "counts", "missing"}``.
    """
    episodes = comparison_episodes(
        dataset, reference=protocol.reference, comparator=protocol.comparator
    )
    site_of = _sites(episodes).to_numpy()
    arm_all = episodes["treated"].to_numpy(dtype=int)
    ids = episodes["episode_id"]
    base = dataset.outcomes
    recorded = set(
        base.loc[
            (base["timepoint"] == "baseline") & base["episode_id"].isin(ids), "measure"
        ].astype(str)
    )
    measures = [m for m in dataset.registry if m in recorded]
    baseline_values = {
        m: ids.map(values_at(dataset, m, "baseline")).astype(float) for m in measures
    }
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        here = site_of == site
        arm = arm_all[here]
        rows = episodes.loc[here]
        variables: dict[str, Any] = {}
        for name in NUMERIC:
            variables[name] = _moments(rows[name].astype(float), arm)
        for name in CATEGORICAL:
            levels, keys = _levels(episodes[name])
            variables[name] = _counts(rows[name], arm, levels, keys)
        for m in measures:
            spec = get_measure(dataset, m)
            entry = _moments(baseline_values[m].loc[here], arm)
            if getattr(spec, "low", None) == 0 and getattr(spec, "high", None) == 1:
                entry["binary"] = True
            variables[f"{m} (baseline)"] = entry
        out[site] = {
            "episodes": [int((arm == 0).sum()), int((arm == 1).sum())],
            "variables": variables,
        }
    return out


def monthly_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per discharge month (episode ``end_date``), the episodes classified as responder or
    not (both arms) and the responders, and the sum and sum of squares of the primary
    outcome's improvement, per site."""
    pairs, usable, responder, _ = _responder_flags(dataset, protocol)
    keep = usable.to_numpy(dtype=bool) & pairs["end_date"].notna().to_numpy()
    rows = pairs.loc[keep].assign(
        month=pairs.loc[keep, "end_date"].dt.strftime("%Y-%m"),
        responder=responder[keep].astype(int),
        site=_sites(pairs.loc[keep]),
        improvement=pairs.loc[keep, "improvement"].astype(float),
    )
    rows = rows.assign(improvement_sq=rows["improvement"] ** 2)
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        grouped = (
            rows.loc[rows["site"] == site]
            .groupby("month", sort=True)
            .agg(
                n=("responder", "size"),
                responders=("responder", "sum"),
                improvement_sum=("improvement", "sum"),
                improvement_sumsq=("improvement_sq", "sum"),
            )
        )
        out[site] = {
            "months": grouped.index.tolist(),
            "n": grouped["n"].astype(int).tolist(),
            "responders": grouped["responders"].astype(int).tolist(),
            "improvement_sum": grouped["improvement_sum"].astype(float).tolist(),
            "improvement_sumsq": grouped["improvement_sumsq"].astype(float).tolist(),
        }
    return out
