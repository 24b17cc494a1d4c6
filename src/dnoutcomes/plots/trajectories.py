"""A measure over the weeks of care by arm: the mixed model's means, observed means, and
optionally each episode's own trajectory as a thin line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._style import (
    _lookup_measure,
    arm_colour,
    arm_label,
    measure_label,
    new_axes,
    plot_style,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_trajectories"]


def _measure_range(measure: str, registry: Any | None) -> tuple[float, float] | None:
    entry = _lookup_measure(measure, registry)
    low, high = getattr(entry, "low", None), getattr(entry, "high", None)
    if low is None or high is None:
        return None
    return float(low), float(high)


def plot_trajectories(
    trajectory: Any,
    *,
    observed: pd.DataFrame | None = None,
    individual: pd.DataFrame | None = None,
    measure: str | None = None,
    registry: Any | None = None,
    full_range: bool = True,
    max_lines: int | None = 200,
    rng: np.random.Generator | int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw the mean of a measure over weeks by arm: model-based means with 95 % bands.

    Parameters
    ----------
    trajectory
        The mixed-model result (:class:`~dnoutcomes.stats.mixed.TrajectoryResult`; its
        ``means``), or a frame with ``arm``, ``weeks``, ``estimate``, ``conf_low``,
        ``conf_high``.
    observed
        Optional observed means to draw as points with error bars: ``arm``, ``weeks``,
        ``estimate``, ``conf_low``, ``conf_high`` (``n`` optional), such as the result's
        ``observed`` (which :meth:`TrajectoryResult.plot` passes by default). Which weeks
        to show is decided where the frame is made (``compare_trajectories(min_n=...)``);
        every row given is drawn, a point without a bar where the interval is missing.
    individual
        Optional raw values, one row per assessment: ``episode_id``, ``arm``, ``weeks``,
        ``value``; each episode is drawn as a thin faint line.
    max_lines
        The most individual lines drawn per arm: an arm with more episodes shows a random
        sample of this many (without replacement), and the legend says so, so that tens of
        thousands of episodes do not merge into a solid block. ``None`` draws every episode.
    rng
        The random generator (or seed) of that sample; default ``numpy.random.default_rng(0)``
        so that a figure draws the same lines on every run.
    measure
        The measure, for the y label (default the result's).
    registry
        The measure registry for the label, unit and range.
    full_range
        Set the y-axis to the measure's whole range from the registry (0–10 for NPRS), so
        that differences look as large as they are; widened when the model's band or an
        observed mean's interval leaves the range.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Per arm: a ``Line2D`` labelled with the arm in words ("model") through
        (``weeks``, ``estimate``), a band (``PolyCollection``) from ``conf_low`` to
        ``conf_high``; observed means as an errorbar container labelled "<arm>, observed";
        the legend (above the axes) is titled with what is drawn and the numbers of
        episodes and values; the
        individual lines in one ``LineCollection`` per arm (gid ``individual:<arm>``), one
        segment per episode drawn; when an arm was sampled, the legend title ends with
        "Thin lines: a random N of M episodes per arm" (M per arm when they differ).

    Raises
    ------
    RequestError
        When a column is missing or a frame is empty.

    Notes
    -----
    Nothing is computed: the model means and intervals are the result's, the observed means
    are the frame given, and individual lines join an episode's values in week order.
    Values with a missing week are not drawn.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_trajectories
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_trajectories(compare_trajectories(dataset))
    >>> ax.get_legend().get_title().get_text()
    'Mixed-model means with 95% CI (n = 214 episodes, 1331 values)'
    """
    means = tidy_frame(
        trajectory,
        attributes=("means",),
        required=("arm", "weeks", "estimate", "conf_low", "conf_high"),
        figure="trajectory plot",
    )
    measure = str(measure or attribute(trajectory, "measure") or "nprs")
    arms = [str(a) for a in pd.unique(means["arm"].astype(str))]
    with plot_style():
        fig, ax = new_axes(ax)
        sampled: list[tuple[int, int]] = []
        if individual is not None:
            sampled = _individual_lines(ax, individual, arms, max_lines=max_lines, rng=rng)
        for arm in arms:
            rows = means.loc[means["arm"].astype(str) == arm].sort_values("weeks")
            colour = arm_colour(arm)
            ax.fill_between(
                rows["weeks"].to_numpy(dtype=float),
                rows["conf_low"].to_numpy(dtype=float),
                rows["conf_high"].to_numpy(dtype=float),
                color=colour,
                alpha=0.18,
                linewidth=0,
            )
            ax.plot(
                rows["weeks"].to_numpy(dtype=float),
                rows["estimate"].to_numpy(dtype=float),
                color=colour,
                marker="o",
                label=arm_label(arm),
            )
        drawn = _observed_points(ax, observed, arms) if observed is not None else None
        ax.set_xlabel("Weeks since the start of care")
        ax.set_ylabel(f"Mean {measure_label(measure, registry)}")
        limits = _measure_range(measure, registry) if full_range else None
        if limits is not None:
            # the whole scale, widened only if the model's band leaves it (a linear model
            # can extrapolate past a floor) or an observed interval does
            lows, highs = [means["conf_low"]], [means["conf_high"]]
            if drawn is not None:
                lows.append(drawn["conf_low"])
                highs.append(drawn["conf_high"])
            low = min(limits[0], float(np.nanmin(np.concatenate(lows, dtype=float))))
            high = max(limits[1], float(np.nanmax(np.concatenate(highs, dtype=float))))
            ax.set_ylim(low, high)
        ax.set_xlim(left=min(0.0, float(means["weeks"].min())) - 0.3)
        n_obs, n_episodes = attribute(trajectory, "n_obs"), attribute(trajectory, "n_episodes")
        parts = ["Mixed-model means with 95% CI"]
        if drawn is not None:
            parts = ["Mixed-model means (lines) and observed means (squares) with 95% CI"]
        if n_obs is not None and n_episodes is not None:
            parts.append(f"(n = {n_episodes} episodes, {n_obs} values)")
        # with observed means the title is long: the counts go on a second line
        title = ("\n" if drawn is not None else " ").join(parts)
        if any(shown < total for shown, total in sampled):
            totals = " and ".join(f"{total:,}" for _, total in sampled)
            title += (
                f"\nThin lines: a random {max(s for s, _ in sampled):,} of {totals} episodes "
                "per arm"
            )
        ax.legend(
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            title=title,
            alignment="left",
            borderaxespad=0.2,
        )
    return ax


def _observed_points(ax: Axes, observed: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    frame = tidy_frame(
        observed,
        attributes=(),
        required=("arm", "weeks", "estimate", "conf_low", "conf_high"),
        figure="trajectory plot (observed means)",
    )
    for i, arm in enumerate(arms):
        rows = frame.loc[frame["arm"].astype(str) == arm]
        if rows.empty:  # no legend entry for an arm without observed means
            continue
        est = rows["estimate"].to_numpy(dtype=float)
        err = np.vstack(
            [est - rows["conf_low"].to_numpy(dtype=float), rows["conf_high"].to_numpy() - est]
        )
        ax.errorbar(
            rows["weeks"].to_numpy(dtype=float) + (0.08 if i % 2 else -0.08),
            est,
            yerr=err,
            fmt="s",
            markersize=4,
            markerfacecolor="white",
            color=arm_colour(arm),
            linewidth=1,
            label=f"{arm_label(arm)}, observed",
        )
    return frame


def _individual_lines(
    ax: Axes,
    individual: pd.DataFrame,
    arms: list[str],
    *,
    max_lines: int | None,
    rng: np.random.Generator | int | None,
) -> list[tuple[int, int]]:
    """Draw each arm's episodes (a sample of ``max_lines`` when there are more); return
    (episodes drawn, episodes present) per arm with values."""
    from matplotlib.collections import LineCollection

    frame = tidy_frame(
        individual,
        attributes=(),
        required=("episode_id", "arm", "weeks", "value"),
        figure="trajectory plot (individual lines)",
    )
    if max_lines is not None and max_lines < 1:
        raise RequestError(
            f"trajectory plot: max_lines must be at least 1 or None; got {max_lines}. "
            "Give, say, 200."
        )
    generator = (
        rng
        if isinstance(rng, np.random.Generator)
        else np.random.default_rng(0 if rng is None else rng)
    )
    frame = frame.loc[frame["weeks"].notna() & frame["value"].notna()]
    frame = frame.sort_values(["episode_id", "weeks"], kind="stable")
    counts: list[tuple[int, int]] = []
    for arm in arms:
        rows = frame.loc[frame["arm"].astype(str) == arm]
        if rows.empty:
            continue
        episodes = pd.unique(rows["episode_id"])
        if max_lines is not None and len(episodes) > max_lines:
            keep = generator.choice(len(episodes), size=max_lines, replace=False)
            rows = rows.loc[rows["episode_id"].isin(episodes[np.sort(keep)])]
        counts.append((int(rows["episode_id"].nunique()), len(episodes)))
        xy = rows[["weeks", "value"]].to_numpy(dtype=float)
        ids = rows["episode_id"].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        segments = np.split(xy, starts[1:])
        ax.add_collection(
            LineCollection(
                segments,
                colors=arm_colour(arm),
                linewidths=0.5,
                alpha=0.08 if len(segments) > 50 else 0.25,
                gid=f"individual:{arm}",
                rasterized=True,  # hundreds of faint lines: keep SVG files small
                zorder=0,
            )
        )
    return counts
