"""The analysis behind the Dask report's comparisons, Table 1 and safety: what one
partition's episodes of the period contribute (counts, sums, cross-products and value
counts; :func:`period_parts`, on a worker), and the result objects of the in-memory
analysis rebuilt from their sums (:func:`pooled_analysis`, on the driver), so that the
report's own section code renders them.

Exact: the ANCOVA of every protocol outcome and Holm's correction (cross-products), the
responders (2×2 counts), Table 1 (counts, moments, and the quartiles of symptom weeks from
value counts) and safety (events, DN sessions and episodes per arm and severity; the
notable and contraindicated listings, which go to the restricted file only). Iterative:
the weighted (IPTW) comparison, by iterated summaries (:mod:`dnoutcomes.network.iptw`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import DnOutcomesError, InsufficientDataError

if TYPE_CHECKING:
    from dnoutcomes.protocol import Protocol

__all__ = ["period_parts", "pooled_analysis", "quantile_of_counts"]

_CATEGORICAL = ("sex", "condition", "chronicity", "site_id")


def quantile_of_counts(counts: pd.Series, q: float) -> float:
    """The ``q`` quantile (linear interpolation, R's type 7, pandas' default) of the values
    a value count describes.

    Parameters
    ----------
    counts
        ``value → count`` (missing values left out).
    q
        In [0, 1].

    Returns
    -------
    float
        NaN when there is no value.
    """
    counts = counts[counts > 0].sort_index()
    n = int(counts.sum())
    if n == 0:
        return float("nan")
    ends = np.cumsum(counts.to_numpy())
    values = counts.index.to_numpy(dtype="float64")
    h = (n - 1) * q
    low = int(math.floor(h))
    high = min(low + 1, n - 1)
    a = values[np.searchsorted(ends, low, side="right")]
    b = values[np.searchsorted(ends, high, side="right")]
    return float(a + (h - low) * (b - a))


# -- on a worker: one partition's episodes of the period ------------------------------------


def _moments(values: np.ndarray) -> list[float]:
    present = values[~np.isnan(values)]
    return [
        float(present.size),
        float(np.isnan(values).sum()),
        float(present.sum()),
        float(present @ present),
    ]


def _labels(series: pd.Series) -> dict[str, int]:
    from dnoutcomes.stats._table_one import _label_counts

    return _label_counts(series)


def _table1_parts(dataset: Any, protocol: Protocol) -> dict[str, Any]:
    """Table 1's sums: per arm ([reference, comparator]) episodes, moments of age and of
    each baseline measure, level counts, value counts of symptom weeks, contraindications."""
    from dnoutcomes.cohort import comparison_episodes
    from dnoutcomes.cohort._codes import comparison_values

    ref, comp = protocol.reference, protocol.comparator
    episodes = comparison_episodes(dataset, reference=ref, comparator=comp)
    is_ref = (episodes["arm"] == ref).to_numpy()
    masks = (is_ref, ~is_ref)
    out: dict[str, Any] = {"episodes": [int(m.sum()) for m in masks]}
    age = episodes["age"].astype("float64").to_numpy()
    out["age"] = [_moments(age[m]) for m in masks]
    weeks = episodes["symptom_weeks"].astype("float64")
    out["symptom_weeks"] = [
        (weeks[m].dropna().value_counts(), int(weeks[m].isna().sum())) for m in masks
    ]
    categorical = {}
    for name in _CATEGORICAL:
        column = episodes[name]
        order = (
            [str(c) for c in column.cat.categories]
            if isinstance(column.dtype, pd.CategoricalDtype)
            else None
        )
        arms = [_labels(column[m]) for m in masks]
        missing = [int(column[m].isna().sum()) for m in masks]
        categorical[name] = {"order": order, "counts": arms, "missing": missing}
    out["categorical"] = categorical
    if "contraindications" in episodes.columns:
        lists = episodes["contraindications"].map(
            lambda v: tuple(v) if isinstance(v, tuple | list) else ()
        )
        exploded = lists.explode().dropna().astype(str)
        any_flag = lists.map(len).gt(0).to_numpy()
        kinds: dict[str, list[int]] = {}
        for kind in sorted(set(exploded)):
            flag = np.zeros(len(episodes), dtype=bool)
            flag[exploded.index[exploded == kind].unique()] = True
            kinds[kind] = [int(flag[m].sum()) for m in masks]
        out["contraindications"] = {"any": [int(any_flag[m].sum()) for m in masks], **kinds}
    measures: dict[str, Any] = {}
    for name in dataset.registry:
        values = comparison_values(dataset, name, "baseline", ref, comp)
        if np.isnan(values).all():
            continue
        spec = dataset.registry[name]
        if getattr(spec, "low", None) == 0 and getattr(spec, "high", None) == 1:
            measures[name] = {
                "binary": [
                    [int((values[m] == 1.0).sum()), int((~np.isnan(values[m])).sum())]
                    for m in masks
                ]
            }
        else:
            measures[name] = {"moments": [_moments(values[m]) for m in masks]}
    out["measures"] = measures
    out["registry_order"] = list(dataset.registry)
    return out


def _safety_parts(dataset: Any, protocol: Protocol) -> dict[str, Any]:
    from dnoutcomes.stats.safety import compare_safety

    result = compare_safety(dataset, reference=protocol.reference, comparator=protocol.comparator)
    return {
        "recorded": result.recorded,
        "rates": result.table[
            ["arm", "episodes", "dn_sessions", "events", "contraindicated_episodes"]
        ],
        "by_type": result.by_type[["arm", "type", "events"]],
        "by_severity": result.by_severity[["arm", "severity", "events"]],
        "by_reporter": result.by_reporter[["arm", "reporter", "events"]],
        "notable_events": result.notable_events,
        "contraindicated": result.contraindicated,
    }


def _try(compute: Any) -> Any:
    try:
        return compute()
    except DnOutcomesError as exc:
        return str(exc)


def _ancova_part(
    dataset: Any, protocol: Protocol, spec: Any, role: str, sites: Sequence[str]
) -> dict[str, Any]:
    from dnoutcomes.network import _blocks

    left_out: list[int] = []
    entries = _blocks.ancova_entries(dataset, protocol, spec, role, sites, left_out)
    return {"entries": list(entries.values()), "left_out": left_out}


def period_parts(dataset: Any, protocol: Protocol) -> dict[str, Any] | None:
    """What one partition's episodes of the period add to the comparisons, Table 1 and
    safety (runs on a worker); ``None`` when it holds no episode of the compared arms.

    Parameters
    ----------
    dataset
        The partition's episodes discharged in the period (at the site reported).
    protocol
        The protocol (its arms are compared).

    Returns
    -------
    dict or None
        ``ancova`` (per protocol outcome, the block entries of every site, or the error's
        text), ``responders`` (the same), ``table1`` and ``safety`` sums.
    """
    from dnoutcomes.cohort import part_of_export
    from dnoutcomes.network import _blocks

    ref, comp = protocol.reference, protocol.comparator
    arms = dataset.episodes["arm"].astype("string")
    chosen = arms.isin([ref, comp]).fillna(False).to_numpy(dtype=bool)
    if not chosen.any():
        return None
    sites = sorted(dataset.episodes.loc[chosen, "site_id"].astype(str).unique())
    with part_of_export(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ancova = [
            _try(lambda spec=spec, role=role: _ancova_part(dataset, protocol, spec, role, sites))
            for spec, role in _blocks.ancova_specs(protocol)
            if role != "site_model"
        ]
        responders = _try(lambda: list(_blocks.responder_blocks(dataset, protocol, sites).values()))
        return {
            "ancova": ancova,
            "responders": responders,
            "table1": _try(lambda: _table1_parts(dataset, protocol)),
            "safety": _try(lambda: _safety_parts(dataset, protocol)),
        }


# -- on the driver: the sums, as the in-memory analysis' results ----------------------------


def _entries(parts: Sequence[dict[str, Any]], pick: Any) -> tuple[list[Any], str]:
    """The entries of every partition that could compute them, and the first error."""
    entries: list[Any] = []
    errors: list[str] = []
    for part in parts:
        value = pick(part)
        if isinstance(value, str):
            errors.append(value)
        else:
            entries.extend(value)
    return entries, errors[0] if errors else ""


def _ancova(
    parts: Sequence[dict[str, Any]], protocol: Protocol, conf_level: float
) -> tuple[Any, str, list[str]]:
    """The :class:`~dnoutcomes.stats.ancova.OutcomesResult` of the protocol's outcomes
    (``compare_outcomes``'s rules for the optional ones), or ``None`` and why."""
    from statsmodels.stats.multitest import multipletests

    from dnoutcomes.network._ancova import fit_crossproducts, pool_entries
    from dnoutcomes.stats._ancova_sets import OutcomesResult, _effect_columns

    ref, comp = protocol.reference, protocol.comparator
    results = []
    notes: list[str] = []
    for i, spec in enumerate(protocol.outcomes()):
        entries, error = _entries(
            parts,
            lambda p, i=i: p["ancova"][i] if isinstance(p["ancova"][i], str) else [p["ancova"][i]],
        )
        try:
            if not any(e["entries"] for e in entries):
                raise InsufficientDataError(error or f"{spec.measure} at {spec.timepoint}")
            fitted = fit_crossproducts(
                pool_entries([x for e in entries for x in e["entries"]]),
                conf_level=conf_level,
                reference=ref,
                comparator=comp,
            )
            results.append(_with_left_out(fitted, [e["left_out"] for e in entries]))
        except InsufficientDataError as exc:
            if not spec.optional or not results and i == 0:
                return None, str(exc), []
            notes.append(f"{spec.measure} at {spec.timepoint} not analysed: {exc}")
    frame = pd.DataFrame(
        {
            "measure": [r.measure for r in results],
            "timepoint": [r.timepoint for r in results],
            "role": ["primary"] + ["secondary"] * (len(results) - 1),
            **_effect_columns(results),
            "adjusted_mean_reference": [
                float(r.adjusted_means["estimate"].iloc[0]) for r in results
            ],
            "adjusted_mean_comparator": [
                float(r.adjusted_means["estimate"].iloc[1]) for r in results
            ],
            "hedges_g": [r.hedges_g for r in results],
        }
    )
    p_holm = frame["p_value"].to_numpy(dtype=float).copy()
    if len(results) > 1:
        p_holm[1:] = multipletests(p_holm[1:], method="holm")[1]
    frame.insert(int(list(frame.columns).index("p_value")) + 1, "p_holm", p_holm)
    notes.extend(n for r in results for n in r.notes)
    result = OutcomesResult(
        reference=ref,
        comparator=comp,
        results=tuple(results),
        frame=frame,
        n=max(r.n for r in results),
        episodes_used=(),
        notes=tuple(notes),
    )
    return result, "", list(result.notes)


def _with_left_out(result: Any, counts: Sequence[Sequence[int]]) -> Any:
    """The ANCOVA result with ``compare_ancova``'s notes on the episodes left out."""
    import dataclasses

    incomplete = sum(c[0] for c in counts)
    dropped = sum(c[1] for c in counts)
    notes = [n for n in result.notes if n.startswith("Covariate ")]
    if incomplete:
        notes.append(
            f"{incomplete} episodes without both a baseline and a {result.timepoint} "
            f"{result.measure} were left out."
        )
    if dropped:
        notes.append(f"{dropped} episodes with a missing covariate were left out.")
    notes.extend(n for n in result.notes if not n.startswith("Covariate "))
    return dataclasses.replace(result, notes=tuple(notes))


def _responders(
    parts: Sequence[dict[str, Any]], protocol: Protocol, conf_level: float
) -> tuple[Any, str]:
    from dnoutcomes.network._sections import pooled_responders
    from dnoutcomes.stats.responders import ResponderResult

    entries, error = _entries(parts, lambda p: p["responders"])
    if not entries:
        return None, error or "responders: no episode of the compared arms."
    ref, comp = protocol.reference, protocol.comparator
    blocks = {str(i): {"responders": e} for i, e in enumerate(entries)}
    try:
        pooled = pooled_responders(blocks, conf_level)
    except InsufficientDataError:
        measure, timepoint = protocol.responder_outcome()
        arm = ref if sum(e["n"][0] for e in entries) == 0 else comp
        return None, (
            f"responders of {measure} at {timepoint}: {arm} has 0 episodes with the values "
            "needed; needs at least 1 per arm."
        )
    frame = pooled["frame"]
    counts = pd.DataFrame(
        {
            "arm": [ref, comp],
            "role": ["reference", "comparator"],
            "n": pooled["n"],
            "responders": pooled["responders"],
        }
    )
    counts["proportion"] = counts["responders"] / counts["n"]
    notes = []
    if (frame["std_error"].isna() | ~np.isfinite(frame["std_error"])).any():
        notes.append("A zero cell: some ratio intervals are undefined (reported as null).")
    threshold = pooled["threshold"]
    return (
        ResponderResult(
            measure=pooled["measure"],
            timepoint=pooled["timepoint"],
            definition=pooled["definition"],
            threshold=math.nan if threshold is None else float(threshold),
            responder_values=(),
            reference=ref,
            comparator=comp,
            conf_level=conf_level,
            frame=frame,
            counts=counts,
            distribution=pd.DataFrame(),
            nnt=pooled["nnt"],
            nnt_conf_low=pooled["nnt_conf_low"],
            nnt_conf_high=pooled["nnt_conf_high"],
            nnt_text=pooled["nnt_text"],
            n=int(sum(pooled["n"])),
            episodes_used=(),
            notes=tuple(notes),
        ),
        "",
    )


def iptw_result(weighted: Mapping[str, Any], protocol: Protocol, conf_level: float) -> Any:
    """:func:`~dnoutcomes.network.iptw.iterated_iptw`'s answer (with its balance table)
    as an :class:`~dnoutcomes.stats.iptw.IptwResult` (no weights: they are rows)."""
    from dnoutcomes.stats._evalue import e_value
    from dnoutcomes.stats.iptw import IptwResult

    primary = protocol.outcomes()[0]
    estimates = weighted["estimates"]
    adjusted = estimates.set_index("term").loc["iptw"]
    sd = float(weighted["sd_outcome"])
    scale = 0.91 / sd if sd > 0 else math.nan
    ev, ev_ci = e_value(
        math.exp(scale * float(adjusted["estimate"])),
        math.exp(scale * float(adjusted["conf_low"])),
        math.exp(scale * float(adjusted["conf_high"])),
    )
    return IptwResult(
        reference=protocol.reference,
        comparator=protocol.comparator,
        measure=primary.measure,
        timepoint=primary.timepoint,
        estimand=weighted["estimand"],
        covariates=tuple(weighted["covariates"]),
        estimates=estimates,
        balance=weighted["balance"],
        weights=pd.DataFrame(columns=["episode_id", "arm", "treated", "propensity", "weight"]),
        n=int(weighted["n"]),
        ess_reference=float(weighted["ess_reference"]),
        ess_comparator=float(weighted["ess_comparator"]),
        e_value=ev,
        e_value_ci=ev_ci,
        sd_outcome=sd,
        ps_converged=bool(weighted["ps_converged"]),
        conf_level=conf_level,
        episodes_used=(),
        notes=_iptw_notes(weighted, protocol),
    )


def _iptw_notes(weighted: Mapping[str, Any], protocol: Protocol) -> tuple[str, ...]:
    """``compare_iptw``'s notes, in its order, from the iterated answer."""
    from dnoutcomes.stats._propensity import _IRLS_MAXIT

    primary = protocol.outcomes()[0]
    notes = [
        f"{left} {arm} episodes without a baseline and {primary.timepoint} {primary.measure} "
        "or a propensity covariate were left out."
        for arm, left in zip(
            (protocol.reference, protocol.comparator), weighted["left_out"], strict=True
        )
        if left
    ]
    given = list(weighted["notes"])
    notes.extend(n for n in given if n.startswith("Covariate "))
    balance = weighted["balance"]
    x_sum = balance.attrs.get("x_sum")
    if x_sum is not None:
        one_arm = [
            (c, x_sum[0][j] + x_sum[1][j])
            for j, c in enumerate(balance["covariate"])
            if "=" in c and (x_sum[0][j] == 0 or x_sum[1][j] == 0)
        ]
        if one_arm:
            notes.append(
                "Propensity model: "
                + ", ".join(f"{c} ({int(round(n))} episodes)" for c, n in one_arm)
                + " occur in one arm only, so the model separates them from the other arm "
                "(propensities near 0 or 1, as R's glm gives them)."
            )
    converged = bool(weighted["ps_converged"])
    if any("singular" in n for n in given):
        notes.append(
            "Propensity model: the propensity design is singular (a covariate level is aliased)."
        )
    elif not converged:
        notes.append(
            f"Propensity model: the logistic regression did not converge in {_IRLS_MAXIT} "
            "iterations."
        )
    if weighted.get("extreme_propensities"):
        notes.append(
            "Propensity model: fitted propensities of 0 or 1 occurred (a covariate separates "
            "the arms); the weights of those episodes are extreme."
        )
    if not converged:
        notes.append("Propensity model: the logistic regression did NOT converge.")
    return tuple(notes)


def _numeric_row(variable: str, moments: Sequence[Sequence[float]], summary: str) -> dict[str, Any]:
    from dnoutcomes.stats._smd import _scaled
    from dnoutcomes.stats._table_one import _empty_row

    row = _empty_row(variable, "", summary)
    mean, var = [], []
    for prefix, (n, missing, total, squares) in zip(
        ("reference", "comparator"), moments, strict=True
    ):
        row[f"{prefix}_n"] = int(n)
        row[f"{prefix}_missing"] = int(missing)
        mean.append(total / n if n else math.nan)
        v = (squares - total * total / n) / (n - 1) if n > 1 else math.nan
        if n > 1 and v <= 1e-12 * max(squares / n, 1.0):
            v = 0.0  # a constant variable: rounding may leave a tiny variance
        var.append(v)
        if summary == "mean_sd":
            row[f"{prefix}_estimate"] = mean[-1]
            row[f"{prefix}_sd"] = math.sqrt(v) if n > 1 else math.nan
    if min(moments[0][0], moments[1][0]) < 2:
        row["smd"] = math.nan
    else:
        row["smd"] = _scaled(mean[1] - mean[0], math.sqrt((var[1] + var[0]) / 2))
    return row


def _categorical_rows(
    variable: str, counts: Sequence[dict[str, int]], missing: Sequence[int], levels: Sequence[str]
) -> list[dict[str, Any]]:
    from dnoutcomes.stats._smd import _binary_smd, smd_categorical_counts
    from dnoutcomes.stats._table_one import _empty_row

    present = [sum(c.values()) for c in counts]
    head = _empty_row(variable, "", "categorical")
    for a, prefix in enumerate(("reference", "comparator")):
        head[f"{prefix}_n"] = present[a]
        head[f"{prefix}_missing"] = missing[a]
    head["smd"] = smd_categorical_counts(dict(counts[0]), dict(counts[1]))
    rows = [head]
    for level in levels:
        row = _empty_row(variable, str(level), "n_pct")
        for a, prefix in enumerate(("reference", "comparator")):
            count = counts[a].get(str(level), 0)
            row[f"{prefix}_n"] = count
            row[f"{prefix}_estimate"] = 100 * count / present[a] if present[a] else math.nan
            row[f"{prefix}_missing"] = missing[a]
        row["smd"] = _binary_smd(row["reference_estimate"] / 100, row["comparator_estimate"] / 100)
        rows.append(row)
    return rows


def _add_counts(dicts: Sequence[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _table1(items: Sequence[dict[str, Any]], protocol: Protocol) -> Any:
    """:func:`~dnoutcomes.stats.descriptives.describe_baseline` from the partitions' sums."""
    from dnoutcomes.stats._smd import _binary_smd
    from dnoutcomes.stats._table_one import TABLE_ONE_COLUMNS, BaselineTable, _empty_row

    def moments(pick: Any) -> list[list[float]]:
        return [[float(sum(pick(i)[a][k] for i in items)) for k in range(4)] for a in (0, 1)]

    episodes = [sum(i["episodes"][a] for i in items) for a in (0, 1)]
    count = _empty_row("episodes", "", "count")
    count.update(reference_n=episodes[0], comparator_n=episodes[1], reference_missing=0)
    count.update(comparator_missing=0)
    rows: list[dict[str, Any]] = [count]
    rows.append(_numeric_row("age", moments(lambda i: i["age"]), "mean_sd"))
    for name in _CATEGORICAL:
        entries = [i["categorical"][name] for i in items]
        counts = [_add_counts([e["counts"][a] for e in entries]) for a in (0, 1)]
        missing = [sum(e["missing"][a] for e in entries) for a in (0, 1)]
        seen = {k for c in counts for k, v in c.items() if v > 0}
        order = next((e["order"] for e in entries if e["order"] is not None), None)
        levels = [lv for lv in order if lv in seen] if order is not None else sorted(seen)
        rows.extend(_categorical_rows(name, counts, missing, levels))
    weeks = [
        pd.concat([i["symptom_weeks"][a][0] for i in items]).groupby(level=0).sum()
        if items
        else pd.Series(dtype="int64")
        for a in (0, 1)
    ]
    weeks_missing = [sum(i["symptom_weeks"][a][1] for i in items) for a in (0, 1)]
    row = _numeric_row(
        "symptom_weeks",
        [
            [
                float(w.sum()),
                float(m),
                float((w.index.to_numpy(float) * w.to_numpy()).sum()),
                float((w.index.to_numpy(float) ** 2 * w.to_numpy()).sum()),
            ]
            for w, m in zip(weeks, weeks_missing, strict=True)
        ],
        "median_iqr",
    )
    for a, prefix in enumerate(("reference", "comparator")):
        row[f"{prefix}_estimate"] = quantile_of_counts(weeks[a], 0.5)
        row[f"{prefix}_q1"] = quantile_of_counts(weeks[a], 0.25)
        row[f"{prefix}_q3"] = quantile_of_counts(weeks[a], 0.75)
    rows.append(row)
    with_contra = [i["contraindications"] for i in items if "contraindications" in i]
    if with_contra:
        kinds = sorted({k for c in with_contra for k in c if k != "any"})
        for kind in ["any", *kinds]:
            row = _empty_row("contraindications", kind, "n_pct")
            for a, prefix in enumerate(("reference", "comparator")):
                hits = sum(c.get(kind, [0, 0])[a] for c in with_contra)
                row[f"{prefix}_n"] = hits
                row[f"{prefix}_estimate"] = 100 * hits / episodes[a] if episodes[a] else math.nan
                row[f"{prefix}_missing"] = 0
            row["smd"] = _binary_smd(
                row["reference_estimate"] / 100, row["comparator_estimate"] / 100
            )
            rows.append(row)
    order = items[0]["registry_order"] if items else []
    for name in order:
        entries = [i["measures"][name] for i in items if name in i["measures"]]
        if not entries:
            continue
        if "binary" in entries[0]:
            yes = [sum(e["binary"][a][0] for e in entries) for a in (0, 1)]
            present = [sum(e["binary"][a][1] for e in entries) for a in (0, 1)]
            counts = [{"yes": yes[a], "no": present[a] - yes[a]} for a in (0, 1)]
            counts = [{k: v for k, v in c.items() if v} for c in counts]
            missing = [episodes[a] - present[a] for a in (0, 1)]
            rows.append(_categorical_rows(f"{name} (baseline)", counts, missing, ["yes"])[1])
            continue
        rows.append(_numeric_row(f"{name} (baseline)", _partial_moments(items, name), "mean_sd"))
    frame = pd.DataFrame(rows, columns=list(TABLE_ONE_COLUMNS))
    for column in ("reference_missing", "comparator_missing"):
        frame[column] = frame[column].fillna(0).astype(np.int64)
    return BaselineTable(
        reference=protocol.reference,
        comparator=protocol.comparator,
        frame=frame,
        n=int(sum(episodes)),
        episodes_used=(),
        notes=(
            "Contraindication rows count episodes; an episode may have several, so they "
            "can sum to more than the 'any' row.",
        ),
    )


def _partial_moments(items: Sequence[dict[str, Any]], name: str) -> list[list[float]]:
    """Moments of a measure some partitions have no baseline value of (those count their
    episodes as missing)."""
    out = []
    for a in (0, 1):
        total = [0.0, 0.0, 0.0, 0.0]
        for i in items:
            if name in i["measures"]:
                for k in range(4):
                    total[k] += i["measures"][name]["moments"][a][k]
            else:
                total[1] += i["episodes"][a]
        out.append(total)
    return out


def _safety(items: Sequence[dict[str, Any]], protocol: Protocol, conf_level: float) -> Any:
    """:func:`~dnoutcomes.stats.safety.compare_safety` from the partitions' counts (the
    listings of notable and contraindicated episodes are added up as they are: they go
    to the restricted file only)."""
    from dnoutcomes.stats.safety import (
        _RATE_COLUMNS,
        SEVERITIES,
        SafetyResult,
        poisson_rate_ci,
    )

    arms = [protocol.reference, protocol.comparator]
    summed = (
        pd.concat([i["rates"] for i in items])
        .astype({"events": "float64"})
        .groupby("arm", sort=False)
        .sum(min_count=1)
        .reindex(arms)
        .fillna({"episodes": 0, "dn_sessions": 0, "contraindicated_episodes": 0})
    )
    recorded = all(i["recorded"] for i in items)
    rates = pd.DataFrame(
        {
            "arm": arms,
            "episodes": summed["episodes"].to_numpy(dtype=np.int64),
            "dn_sessions": summed["dn_sessions"].to_numpy(dtype=np.int64),
        }
    )
    exposure = pd.Series(rates["dn_sessions"].to_numpy(), index=arms)
    notes = [
        f"{arm} has no dry-needling sessions: it has no adverse-event rate."
        for arm, t in zip(arms, rates["dn_sessions"], strict=True)
        if t == 0
    ]
    contraindicated = pd.concat([i["contraindicated"] for i in items], ignore_index=True)
    if len(contraindicated):
        notes.append(
            f"{len(contraindicated)} episodes had dry needling despite a recorded "
            "contraindication (listed)."
        )
    contra = summed["contraindicated_episodes"].to_numpy(dtype=np.int64)
    if recorded:
        events = summed["events"].fillna(0).to_numpy(dtype=np.float64)
        rates["events"] = pd.array(events.astype(np.int64), dtype="Int64")
        rate, low, high = poisson_rate_ci(events, rates["dn_sessions"], conf_level=conf_level)
    else:
        notes.insert(0, "Adverse events not recorded in this dataset (no adverse_events table).")
        rates["events"] = pd.array([pd.NA] * len(arms), dtype="Int64")
        rate = low = high = np.full(len(arms), np.nan)
    rates["rate_per_100"], rates["conf_low"], rates["conf_high"] = rate, low, high
    rates["contraindicated_episodes"] = contra
    rates = rates[["arm", "episodes", *_RATE_COLUMNS, "contraindicated_episodes"]]

    def by(column: str, levels: list[str] | None) -> pd.DataFrame:
        if not recorded:
            return pd.DataFrame(columns=["arm", column, *_RATE_COLUMNS])
        counts = (
            pd.concat([i[f"by_{column}"] for i in items])
            .astype({"events": "int64"})
            .groupby(["arm", column], sort=False)["events"]
            .sum()
        )
        if levels is None:  # most frequent first, ties in text order
            totals = counts.groupby(level=column).sum()
            totals = totals[totals > 0]
            ordered = pd.DataFrame({"level": totals.index.astype(str), "n": totals.to_numpy()})
            levels = list(ordered.sort_values(["n", "level"], ascending=[False, True])["level"])
        index = pd.MultiIndex.from_product([arms, levels], names=["arm", column])
        frame = counts.reindex(index, fill_value=0).rename("events").reset_index()
        frame["events"] = frame["events"].astype("Int64")
        frame["dn_sessions"] = frame["arm"].map(exposure).astype(np.int64)
        rate, low, high = poisson_rate_ci(
            frame["events"].to_numpy(dtype=np.float64), frame["dn_sessions"], conf_level=conf_level
        )
        frame["rate_per_100"], frame["conf_low"], frame["conf_high"] = rate, low, high
        return frame[["arm", column, *_RATE_COLUMNS]]

    notable = pd.concat([i["notable_events"] for i in items], ignore_index=True)
    if len(notable):
        notable = notable.sort_values(["session_date", "event_id"], kind="stable")
    return SafetyResult(
        reference=protocol.reference,
        comparator=protocol.comparator,
        recorded=recorded,
        rates=rates,
        by_type=by("type", None),
        by_severity=by("severity", list(SEVERITIES)),
        by_reporter=by("reporter", None),
        notable_events=notable.reset_index(drop=True),
        contraindicated=contraindicated,
        n=int(rates["episodes"].sum()),
        conf_level=conf_level,
        episodes_used=(),
        notes=tuple(notes),
    )


def _collect(parts: Sequence[dict[str, Any]], key: str) -> tuple[list[dict[str, Any]], str]:
    items = [p[key] for p in parts]
    errors = [i for i in items if isinstance(i, str)]
    return [i for i in items if not isinstance(i, str)], errors[0] if errors else ""


def pooled_analysis(
    parts: Sequence[dict[str, Any] | None],
    protocol: Protocol,
    *,
    flow: Any,
    arm_counts: pd.Series,
    weighted: Mapping[str, Any] | None,
    conf_level: float = 0.95,
) -> tuple[Any, str]:
    """The period's analysis as the report's sections read it (``ancova``,
    ``responders``, ``iptw``, ``baseline``, ``safety``, ``flow``, ``failures``,
    ``protocol``), from the partitions' :func:`period_parts`; or ``None`` and why, as
    :func:`~dnoutcomes.report.build.build_report` when the two arms cannot be compared.

    Parameters
    ----------
    parts
        :func:`period_parts` of every partition (``None`` for one without the arms).
    protocol
        The protocol.
    flow
        The pooled patient flow.
    arm_counts
        Episodes per arm in the period (largest first).
    weighted
        :func:`~dnoutcomes.network.iptw.iterated_iptw`'s answer, or ``{"failed": why}``.
    conf_level
        Of every interval.

    Returns
    -------
    (analysis or None, str)
    """
    from dnoutcomes.cohort import _describe_counts

    for role, arm in (("reference", protocol.reference), ("comparator", protocol.comparator)):
        if arm not in arm_counts.index:
            return None, (
                f"comparison of arms: unknown {role} arm {arm!r}; expected one of the arms "
                f"in the dataset: {_describe_counts(arm_counts)}. Pick one of those."
            )
    present = [p for p in parts if p is not None]
    failures: dict[str, str] = {}
    ancova, why, _ = _ancova(present, protocol, conf_level)
    if ancova is None:
        failures["ancova"] = why
    responders, why = _responders(present, protocol, conf_level)
    if responders is None:
        failures["responders"] = why
    iptw = None
    if weighted is None or "failed" in weighted:
        failures["iptw"] = "" if weighted is None else str(weighted["failed"])
    else:
        iptw = iptw_result(weighted, protocol, conf_level)
    items, why = _collect(present, "table1")
    baseline = _table1(items, protocol) if items and not why else None
    if baseline is None:
        failures["baseline"] = why
    items, why = _collect(present, "safety")
    safety = _safety(items, protocol, conf_level) if items and not why else None
    if safety is None:
        failures["safety"] = why
    analysis = SimpleNamespace(
        protocol=protocol,
        flow=flow,
        ancova=ancova,
        responders=responders,
        iptw=iptw,
        baseline=baseline,
        safety=safety,
        failures=failures,
        extra_sections=(),
    )
    return analysis, ""
