"""The mixed model of the trajectory (``measure ~ arm * weeks + (1 | episode)``, REML)
from site summaries: per site, the REML profile's sums **grouped by cluster size**; pooled,
the same profiled fit as :func:`~dnoutcomes.stats.mixed.compare_trajectories`.

Why grouping by cluster size is exact: with ``theta = s_u^2 / s_e^2`` the profile needs
``X'X``, ``X'y``, ``y'y``, the number of rows and, over episodes,
``sum_i w_i S_x,i S_x,i'``, ``sum_i w_i S_x,i S_y,i``, ``sum_i w_i S_y,i^2`` and
``sum_i log(1 + n_i theta)``, with ``w_i = theta / (1 + n_i theta)`` depending on the
episode only through its number of rows ``n_i``. So the sums of ``S_x S_x'``, ``S_x S_y``
and ``S_y^2`` over the episodes of each size ``n``, and the number of such episodes, give
every term for every ``theta``. See ``docs/network.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from dnoutcomes.errors import InsufficientDataError

if TYPE_CHECKING:
    from dnoutcomes.dataset import Dataset
    from dnoutcomes.protocol import Protocol
    from dnoutcomes.stats.mixed import TrajectoryResult

__all__ = ["pooled_trajectory", "trajectory_blocks"]

P = 4  # intercept, arm, weeks, arm x weeks


def trajectory_blocks(
    dataset: Dataset, protocol: Protocol, sites: Sequence[str], *, suppress_below: int = 0
) -> dict[str, dict[str, Any]]:
    """Per site: ``measure``, ``timepoints``, ``episodes`` per arm, ``n_obs``, ``xtx``,
    ``xty``, ``yty``, ``sizes`` (the episode sizes present), ``clusters`` (episodes of each
    size per arm), ``products`` (per size, the sums of ``vec(S_x S_x')``, ``S_x S_y`` and
    ``S_y^2``), ``observed`` (per arm and whole week: ``n``, ``sum``, ``sumsq``; arm-weeks
    with fewer than ``suppress_below`` values left out) and ``weeks_max`` (only when not
    suppressing: the latest week, one row's value)."""
    from dnoutcomes.cohort import comparison_episodes, get_measure
    from dnoutcomes.stats.mixed import trajectory_rows

    ref, comp = protocol.reference, protocol.comparator
    measure = protocol.trajectory_measure()
    timepoints = tuple(protocol.trajectory.timepoints)
    get_measure(dataset, measure)
    episodes = comparison_episodes(dataset, reference=ref, comparator=comp)
    rows = trajectory_rows(dataset, episodes, measure, timepoints, ref, comp)
    site_of = episodes["site_id"].astype(str).to_numpy()[rows["at"].to_numpy()]
    at = rows["at"].to_numpy()
    y = rows["value"].to_numpy(dtype=float)
    t = rows["treated"].to_numpy(dtype=float)
    wk = rows["weeks"].to_numpy(dtype=float)
    x = np.column_stack([np.ones_like(wk), t, wk, t * wk])
    out: dict[str, dict[str, Any]] = {}
    for site in sites:
        here = site_of == site
        xs, ys = x[here], y[here]
        codes, uniques = pd.factorize(at[here])
        g = len(uniques)
        n_i = np.bincount(codes, minlength=g)
        sx = np.column_stack([np.bincount(codes, weights=xs[:, j], minlength=g) for j in range(P)])
        sy = np.bincount(codes, weights=ys, minlength=g)
        prods = np.column_stack(
            [(sx[:, :, None] * sx[:, None, :]).reshape(g, P * P), sx * sy[:, None], sy * sy]
        )
        sizes, size_code = np.unique(n_i, return_inverse=True)
        summed = np.zeros((len(sizes), prods.shape[1]))
        np.add.at(summed, size_code, prods)
        arm_of = (sx[:, 1] > 0).astype(int)  # an episode's rows share its arm
        clusters = [
            np.bincount(size_code[arm_of == a], minlength=len(sizes)).astype(int).tolist()
            for a in (0, 1)
        ]
        week = np.floor(wk[here] + 0.5).astype(np.int64)
        obs = pd.DataFrame({"arm": t[here].astype(int), "week": week, "v": ys, "v2": ys * ys})
        grouped = obs.groupby(["arm", "week"], sort=True).agg(
            n=("v", "size"), sum=("v", "sum"), sumsq=("v2", "sum")
        )
        if suppress_below:
            grouped = grouped.loc[grouped["n"] >= suppress_below]
        block: dict[str, Any] = {
            "measure": measure,
            "timepoints": list(timepoints),
            "episodes": [int(c) for c in (np.bincount(arm_of, minlength=2))],
            "n_obs": int(here.sum()),
            "xtx": (xs.T @ xs).tolist(),
            "xty": (xs.T @ ys).tolist(),
            "yty": float(ys @ ys),
            "sizes": sizes.astype(int).tolist(),
            "clusters": clusters,
            "products": summed.tolist(),
            "observed": {
                "arm": grouped.index.get_level_values("arm").astype(int).tolist(),
                "weeks": grouped.index.get_level_values("week").astype(int).tolist(),
                "n": grouped["n"].astype(int).tolist(),
                "sum": grouped["sum"].astype(float).tolist(),
                "sumsq": grouped["sumsq"].astype(float).tolist(),
            },
        }
        if not suppress_below and here.any():
            block["weeks_max"] = float(wk[here].max())
        out[site] = block
    return out


def _pooled_suffstats(blocks: Sequence[Mapping[str, Any]]) -> tuple[Any, np.ndarray]:
    """The REML engine's sufficient statistics of the pooled episodes, centred on the
    pooled OLS fit ``b0`` (as the row-level fit centres), and ``b0``."""
    from dnoutcomes.stats._reml import _Suffstats

    xtx = np.sum([np.asarray(b["xtx"], float) for b in blocks], axis=0)
    xty = np.sum([np.asarray(b["xty"], float) for b in blocks], axis=0)
    yty = float(np.sum([b["yty"] for b in blocks]))
    n_obs = int(np.sum([b["n_obs"] for b in blocks]))
    by_size: dict[int, np.ndarray] = {}
    count: dict[int, int] = {}
    for b in blocks:
        for size, c0, c1, prod in zip(
            b["sizes"], b["clusters"][0], b["clusters"][1], b["products"], strict=True
        ):
            by_size[size] = by_size.get(size, np.zeros(P * P + P + 1)) + np.asarray(prod, float)
            count[size] = count.get(size, 0) + c0 + c1
    sizes = sorted(by_size)
    prods = np.array([by_size[n] for n in sizes]).reshape(len(sizes), P * P + P + 1)
    b0 = np.linalg.solve(xtx, xty)
    # sums of y - X b0: S_r = S_y - S_x'b0 (per episode, so per size after summing)
    sxx = prods[:, : P * P].reshape(-1, P, P)
    sxy = prods[:, P * P : P * P + P]
    syy = prods[:, -1]
    sxx_b0 = sxx @ b0
    centred = np.column_stack([prods[:, : P * P], sxy - sxx_b0, syy - 2.0 * sxy @ b0 + sxx_b0 @ b0])
    stats_ = _Suffstats(
        n_obs=n_obs,
        p=P,
        n_i=np.asarray(sizes, dtype=float),
        sx=np.zeros((len(sizes), P)),
        sy=np.zeros(len(sizes)),
        products=centred,
        xtx=xtx,
        xty=xty - xtx @ b0,
        yty=yty - 2.0 * float(xty @ b0) + float(b0 @ xtx @ b0),
        count=np.array([count[n] for n in sizes], dtype=float),
    )
    return stats_, b0


def _observed(
    blocks: Sequence[Mapping[str, Any]], arms: tuple[str, str], conf_level: float, min_n: int
) -> tuple[pd.DataFrame, list[str]]:
    """Observed means per arm and whole week from summed moments (as
    :func:`~dnoutcomes.stats.mixed.observed_means`)."""
    from dnoutcomes.stats._observed import OBSERVED_COLUMNS

    parts = [pd.DataFrame(b["observed"]) for b in blocks]
    frame = pd.concat(parts).groupby(["arm", "weeks"], sort=True).sum().reset_index()
    too_few = frame["n"] < min_n
    notes = []
    if too_few.any():
        notes.append(
            f"Observed means: {int(too_few.sum())} arm-week(s) with fewer than {min_n} "
            "values left out."
        )
    frame = frame.loc[~too_few]
    n = frame["n"].to_numpy(dtype=float)
    mean = frame["sum"].to_numpy(dtype=float) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (frame["sumsq"].to_numpy(dtype=float) - n * mean * mean) / (n - 1)
        sd = np.sqrt(np.clip(var, 0.0, None))
        se = sd / np.sqrt(n)
        t = stats.t.ppf(0.5 + conf_level / 2.0, np.where(n >= 2, n - 1, np.nan))
    observed = pd.DataFrame(
        {
            "arm": np.asarray(arms, dtype=object)[frame["arm"].to_numpy(dtype=int)],
            "weeks": frame["weeks"].astype(np.int64).to_numpy(),
            "n": frame["n"].astype(np.int64).to_numpy(),
            "estimate": mean,
            "sd": sd,
            "std_error": se,
            "conf_low": mean - t * se,
            "conf_high": mean + t * se,
        },
        columns=list(OBSERVED_COLUMNS),
    )
    return observed, notes


def pooled_trajectory(
    blocks: Sequence[Mapping[str, Any]], *, arms: tuple[str, str], conf_level: float
) -> TrajectoryResult:
    """The network's mixed model from the sites' ``trajectory`` blocks.

    Raises
    ------
    InsufficientDataError
        Fewer than 2 episodes of an arm, or no more values than episodes, over the network.
    """
    from dnoutcomes.stats._inference import wald_table
    from dnoutcomes.stats._reml import RandomInterceptFit, _optimise, _profile
    from dnoutcomes.stats.mixed import (
        FIXED_TERMS,
        TRAJECTORY_TIMEPOINTS,
        TrajectoryResult,
        _model_means,
    )

    first = blocks[0]
    measure = first["measure"]
    episodes = np.sum([b["episodes"] for b in blocks], axis=0)
    for arm, n_arm in zip(arms, episodes, strict=True):
        if n_arm < 2:
            raise InsufficientDataError(
                f"mixed model of {measure}: arm {arm!r} has {int(n_arm)} episodes with a "
                f"{measure} value over the network; the model needs at least 2 per arm."
            )
    n_obs = int(np.sum([b["n_obs"] for b in blocks]))
    n_episodes = int(episodes.sum())
    if n_obs <= n_episodes:
        raise InsufficientDataError(
            f"mixed model of {measure}: {n_obs} values from {n_episodes} episodes; the model "
            "needs repeated values within episodes (more values than episodes)."
        )
    s, b0 = _pooled_suffstats(blocks)
    theta, crit, converged, messages = _optimise(s)
    _, beta, a_inv, sigma2 = _profile(s, theta)
    fit = RandomInterceptFit(
        coef=beta + b0,
        cov=sigma2 * a_inv,
        sd_group=math.sqrt(theta * sigma2),
        sd_residual=math.sqrt(sigma2),
        theta=theta,
        reml_criterion=crit,
        n_obs=n_obs,
        n_groups=n_episodes,
        converged=converged,
        engine="fast",
        messages=tuple(messages),
    )
    notes = [f"Mixed model: {m}." for m in messages]
    if not converged:
        notes.append("Mixed model: the fit did NOT converge; treat its estimates with caution.")
    timepoints = tuple(first["timepoints"])
    if timepoints == TRAJECTORY_TIMEPOINTS:
        weeks_at = np.array([0.0, 2.0, 4.0, 6.0, 8.0])
    else:
        maxima = [b["weeks_max"] for b in blocks if "weeks_max" in b]
        if len(maxima) < len(blocks):  # disclosure-checked summaries: whole weeks kept
            maxima += [max(b["observed"]["weeks"], default=0) for b in blocks]
            notes.append(
                "Mixed model: the weeks of the model-based means end at the latest whole "
                "week the summaries show (a site's latest value is not disclosed)."
            )
        weeks_at = np.round(np.linspace(0.0, max(max(maxima), 0.0), 5), 1)
    z = float(stats.norm.ppf(0.5 + conf_level / 2.0))
    observed, observed_notes = _observed(blocks, arms, conf_level, 5)
    return TrajectoryResult(
        reference=arms[0],
        comparator=arms[1],
        measure=measure,
        fixed=wald_table(FIXED_TERMS, fit.coef, fit.std_errors, z),
        means=_model_means(fit, arms[0], arms[1], weeks_at, z),
        observed=observed,
        sd_episode=fit.sd_group,
        sd_residual=fit.sd_residual,
        n_obs=n_obs,
        n_episodes=n_episodes,
        n=n_episodes,
        converged=converged,
        engine="fast",
        conf_level=conf_level,
        episodes_used=(),
        notes=tuple(notes + observed_notes),
        timepoints=timepoints,
    )
