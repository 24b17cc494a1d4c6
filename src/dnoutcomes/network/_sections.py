"""The network's other sections from pooled summaries: responders, time to response on the
grid, Table 1's SMDs, the per-site models pooled by DerSimonian–Laird, and the monthly
chart data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.network._ancova import CrossProducts, fit_crossproducts
from dnoutcomes.stats._smd import _binary_smd, _scaled, smd_shares
from dnoutcomes.stats.results import TIDY_COLUMNS

__all__ = ["pooled_baseline", "pooled_monthly", "pooled_responders", "pooled_survival", "site_meta"]

Blocks = Mapping[str, Mapping[str, Any]]


def pooled_responders(blocks: Blocks, conf_level: float) -> dict[str, Any]:
    """Summed 2×2 counts and the risk difference, ratio, odds ratio and NNT."""
    from dnoutcomes.stats.responders import nnt_interval, risk_measures

    first = next(iter(blocks.values()))["responders"]
    n = np.sum([b["responders"]["n"] for b in blocks.values()], axis=0).astype(int)
    r = np.sum([b["responders"]["responders"] for b in blocks.values()], axis=0).astype(int)
    for a in (0, 1):
        if n[a] == 0:
            raise InsufficientDataError(
                f"responders of {first['measure']} at {first['timepoint']}: an arm has 0 "
                "episodes with the values needed over the network."
            )
    frame = risk_measures(int(r[0]), int(n[0]), int(r[1]), int(n[1]), conf_level=conf_level)
    rd = frame.iloc[0]
    nnt, low, high, text = nnt_interval(
        float(rd["estimate"]), float(rd["conf_low"]), float(rd["conf_high"])
    )
    return {
        "measure": first["measure"],
        "timepoint": first["timepoint"],
        "definition": first["definition"],
        "threshold": first["threshold"],
        "n": [int(n[0]), int(n[1])],
        "responders": [int(r[0]), int(r[1])],
        "frame": frame,
        "nnt": nnt,
        "nnt_conf_low": low,
        "nnt_conf_high": high,
        "nnt_text": text,
    }


def grouped_rows(
    grid: np.ndarray, events: np.ndarray, censored: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Times and event flags of grouped data: ``events[k]`` responses and
    ``censored[k]`` censorings at ``grid[k]`` (what the grid counts stand for)."""
    time = np.concatenate([np.repeat(grid, events), np.repeat(grid, censored)])
    event = np.concatenate([np.ones(int(events.sum()), int), np.zeros(int(censored.sum()), int)])
    return time, event


def pooled_survival(blocks: Blocks, conf_level: float, arms: tuple[str, str]) -> dict[str, Any]:
    """Kaplan–Meier per arm and the log-rank test on the grid, from summed counts.

    Notes
    -----
    With every time moved to the end of its grid interval, the grid counts are the grouped
    data themselves: the estimates are those of :func:`~dnoutcomes.stats.survival.kaplan_meier`
    and :func:`~dnoutcomes.stats.survival.logrank_test` on the grouped times, exactly.
    """
    from dnoutcomes.stats._km import kaplan_meier, km_quantile, logrank_test

    first = next(iter(blocks.values()))["time_to_response"]
    grid = np.asarray(first["grid"], dtype=float)
    events = np.sum([b["time_to_response"]["events"] for b in blocks.values()], axis=0)
    censored = np.sum([b["time_to_response"]["censored"] for b in blocks.values()], axis=0)
    rows = []
    curves = []
    times, flags, groups = [], [], []
    for a, (role, arm) in enumerate(zip(("reference", "comparator"), arms, strict=True)):
        t, e = grouped_rows(grid, events[a], censored[a])
        if len(t) == 0:
            raise InsufficientDataError(
                f"time to response: {arm} has 0 episodes with a baseline and a later value "
                "over the network; needs at least 1 per arm."
            )
        km = kaplan_meier(t, e, conf_level=conf_level)
        median, low, high = km_quantile(km, 0.5)
        rows.append(
            {
                "arm": arm,
                "role": role,
                "n": len(t),
                "events": int(e.sum()),
                "median": median,
                "conf_low": low,
                "conf_high": high,
            }
        )
        curves.append(km.assign(arm=arm))
        times.append(t)
        flags.append(e)
        groups.append(np.full(len(t), a))
    test = logrank_test(np.concatenate(times), np.concatenate(flags), np.concatenate(groups))
    curve_frame = pd.concat(curves, ignore_index=True)
    curve_frame = curve_frame[["arm", *[c for c in curve_frame.columns if c != "arm"]]]
    table = pd.DataFrame(
        {
            "time": grid,
            "events_reference": events[0],
            "censored_reference": censored[0],
            "events_comparator": events[1],
            "censored_comparator": censored[1],
        }
    )
    return {
        "measure": first["measure"],
        "grid": grid,
        "frame": pd.DataFrame(rows),
        "curves": curve_frame,
        "table": table,
        "logrank_chisq": test.chisq,
        "logrank_df": test.df,
        "logrank_p": test.p_value,
    }


def _numeric_smd(
    n: np.ndarray, s: np.ndarray, ss: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        var = (ss - s * s / n) / (n - 1)
    if (n < 2).any():
        return mean, np.sqrt(var), math.nan
    diff = float(mean[1] - mean[0])
    return mean, np.sqrt(var), _scaled(diff, math.sqrt((var[1] + var[0]) / 2))


def pooled_baseline(blocks: Blocks) -> pd.DataFrame:
    """Table 1's SMDs (and counts, means, SDs) from summed moments and level counts.

    Returns
    -------
    pandas.DataFrame
        ``variable``, ``level``, ``summary``, ``reference_n``, ``comparator_n``,
        ``reference_estimate``, ``comparator_estimate`` (mean or percent),
        ``reference_sd``, ``comparator_sd``, ``smd``; the rows of
        :func:`~dnoutcomes.stats.descriptives.describe_baseline` that moments determine
        (medians and quartiles need rows and are not pooled).
    """
    episodes = np.sum([b["baseline"]["episodes"] for b in blocks.values()], axis=0)
    names: list[str] = []
    for b in blocks.values():
        names.extend(k for k in b["baseline"]["variables"] if k not in names)
    rows: list[dict[str, Any]] = []
    for name in names:
        parts = [
            (b["baseline"]["variables"].get(name), b["baseline"]["episodes"])
            for b in blocks.values()
        ]
        kind = next(p[0]["kind"] for p in parts if p[0] is not None)
        if kind == "numeric":
            n = np.zeros(2)
            s = np.zeros(2)
            ss = np.zeros(2)
            binary = False
            for var, _ in parts:
                if var is None:
                    continue
                n += var["n"]
                s += var["sum"]
                ss += var["sumsq"]
                binary = binary or bool(var.get("binary"))
            if binary:
                with np.errstate(divide="ignore", invalid="ignore"):
                    share = s / n
                rows.append(
                    {
                        "variable": name,
                        "level": "yes",
                        "summary": "n_pct",
                        "reference_n": int(s[0]),
                        "comparator_n": int(s[1]),
                        "reference_estimate": 100 * share[0],
                        "comparator_estimate": 100 * share[1],
                        "smd": _binary_smd(float(share[0]), float(share[1])),
                    }
                )
                continue
            mean, sd, smd = _numeric_smd(n, s, ss)
            rows.append(
                {
                    "variable": name,
                    "level": "",
                    "summary": "mean_sd",
                    "reference_n": int(n[0]),
                    "comparator_n": int(n[1]),
                    "reference_estimate": mean[0],
                    "comparator_estimate": mean[1],
                    "reference_sd": sd[0],
                    "comparator_sd": sd[1],
                    "smd": smd,
                }
            )
            continue
        order: dict[str, str] = {}
        counts: dict[str, np.ndarray] = {}
        for var, _ in parts:
            if var is None:
                continue
            for lv, key, c0, c1 in zip(
                var["levels"], var["order"], var["counts"][0], var["counts"][1], strict=True
            ):
                order.setdefault(lv, key)
                counts[lv] = counts.get(lv, np.zeros(2)) + np.array([c0, c1], dtype=float)
        levels = sorted(order, key=lambda lv: order[lv])
        table = np.array([counts[lv] for lv in levels]).reshape(len(levels), 2)
        present = table.sum(axis=0)
        head: dict[str, Any] = {
            "variable": name,
            "level": "",
            "summary": "categorical",
            "reference_n": int(present[0]),
            "comparator_n": int(present[1]),
        }
        text_order = sorted(levels)
        shares = table / np.where(present > 0, present, np.nan)
        by_text = {lv: shares[i] for i, lv in enumerate(levels)}
        if (present == 0).any():
            head["smd"] = math.nan
        elif len(levels) < 2:
            head["smd"] = 0.0
        else:
            pr = np.array([by_text[lv][0] for lv in text_order[1:]])
            pc = np.array([by_text[lv][1] for lv in text_order[1:]])
            head["smd"] = smd_shares(pr, pc)
        rows.append(head)
        for i, lv in enumerate(levels):
            rows.append(
                {
                    "variable": name,
                    "level": lv,
                    "summary": "n_pct",
                    "reference_n": int(table[i, 0]),
                    "comparator_n": int(table[i, 1]),
                    "reference_estimate": 100 * shares[i, 0],
                    "comparator_estimate": 100 * shares[i, 1],
                    "smd": _binary_smd(float(shares[i, 0]), float(shares[i, 1])),
                }
            )
    count = {
        "variable": "episodes",
        "level": "",
        "summary": "count",
        "reference_n": int(episodes[0]),
        "comparator_n": int(episodes[1]),
    }
    columns = [
        "variable",
        "level",
        "summary",
        "reference_n",
        "comparator_n",
        "reference_estimate",
        "comparator_estimate",
        "reference_sd",
        "comparator_sd",
        "smd",
    ]
    return pd.DataFrame([count, *rows]).reindex(columns=columns)


def site_meta(
    per_site: Mapping[str, CrossProducts],
    *,
    conf_level: float,
    reference: str,
    comparator: str,
) -> Any:
    """Each site's baseline-adjusted ANCOVA from its own cross-products, pooled by
    DerSimonian–Laird (:func:`~dnoutcomes.stats.meta.compare_sites` on summaries)."""
    from dnoutcomes.stats.meta import (
        MIN_SITES,
        SiteMetaResult,
        pool_dersimonian_laird,
        site_row,
    )

    rows: list[dict[str, Any]] = []
    left_out: list[str] = []
    notes: list[str] = []
    measure = timepoint = ""
    for site in sorted(per_site):
        cp = per_site[site]
        measure, timepoint = cp.measure, cp.timepoint
        base_only = CrossProducts(
            measure=cp.measure,
            timepoint=cp.timepoint,
            covariates=(),
            columns=cp.columns[:3],
            xtx=cp.xtx[:3, :3],
            xty=cp.xty[:3],
            yty=cp.yty,
            n=cp.n,
            y_sum=cp.y_sum,
            y_sumsq=cp.y_sumsq,
        )
        try:
            fit = fit_crossproducts(
                base_only, conf_level=conf_level, reference=reference, comparator=comparator
            )
        except InsufficientDataError as exc:
            left_out.append(site)
            notes.append(f"Site {site} was left out: {exc}")
            continue
        rows.append(site_row(site, fit))
    if len(rows) < MIN_SITES:
        raise InsufficientDataError(
            f"site meta-analysis of {measure} at {timepoint}: {len(rows)} site(s) have enough "
            f"episodes of both arms for an ANCOVA; pooling needs at least {MIN_SITES}."
        )
    sites = pd.DataFrame(
        rows, columns=["site_id", "n", "n_reference", "n_comparator", *TIDY_COLUMNS[1:]]
    )
    pooled = pool_dersimonian_laird(sites["estimate"], sites["std_error"], conf_level=conf_level)
    sites["weight"] = pooled.weights
    return SiteMetaResult(
        reference=reference,
        comparator=comparator,
        measure=measure,
        timepoint=timepoint,
        sites=sites,
        pooled=pooled,
        sites_left_out=tuple(left_out),
        n=int(sites["n"].sum()),
        conf_level=conf_level,
        episodes_used=(),
        notes=tuple(notes),
    )


def pooled_monthly(blocks: Blocks) -> pd.DataFrame:
    """Summed monthly aggregates: ``month``, ``n``, ``responders``, ``proportion``,
    ``mean_improvement``, ``sd_improvement``."""
    parts = [
        pd.DataFrame(
            {
                "month": b["monthly"]["months"],
                "n": b["monthly"]["n"],
                "responders": b["monthly"]["responders"],
                "improvement_sum": b["monthly"]["improvement_sum"],
                "improvement_sumsq": b["monthly"]["improvement_sumsq"],
            }
        )
        for b in blocks.values()
        if "monthly" in b
    ]
    if not parts:
        return pd.DataFrame(
            columns=["month", "n", "responders", "proportion", "mean_improvement", "sd_improvement"]
        )
    frame = pd.concat(parts).groupby("month", sort=True).sum().reset_index()
    n = frame["n"].astype(float)
    frame["proportion"] = frame["responders"] / n
    frame["mean_improvement"] = frame["improvement_sum"] / n
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (frame["improvement_sumsq"] - frame["improvement_sum"] ** 2 / n) / (n - 1)
    frame["sd_improvement"] = np.sqrt(var.clip(lower=0))
    return frame[["month", "n", "responders", "proportion", "mean_improvement", "sd_improvement"]]


def merge_blocks(
    summaries: Sequence[Mapping[str, Mapping[str, Any]]],
) -> dict[str, list[Mapping[str, Any]]]:
    """Site → every block of that site (several when a site's rows are split over
    partitions)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for blocks in summaries:
        for site, block in blocks.items():
            out.setdefault(site, []).append(block)
    return out
