"""Forest plots: estimates with CIs, site estimates pooled, adjusted means by arm
(:func:`plot_effects`, the effects across outcomes, lives in :mod:`dnoutcomes.plots.effects`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import attribute, tidy_frame
from dnoutcomes.plots._forest_common import POINT as _POINT
from dnoutcomes.plots._forest_common import draw_favours, favours, format_p
from dnoutcomes.plots._forest_common import fmt as _fmt
from dnoutcomes.plots._style import (
    MUTED,
    _lookup_measure,
    arm_colour,
    arm_label_n,
    measure_label,
    measure_name,
    measure_unit,
    new_axes,
    plot_style,
    timepoint_label,
    wrap_label,
)
from dnoutcomes.plots.effects import plot_effects

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["format_p", "plot_adjusted_means", "plot_effects", "plot_forest", "plot_site_forest"]


def plot_forest(
    estimates: Any,
    *,
    label: str = "term",
    xlabel: str = "Estimate (95% CI)",
    null: float = 0.0,
    log_scale: bool = False,
    annotate: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Draw estimates with their confidence intervals as a forest plot, one row each.

    Parameters
    ----------
    estimates
        A frame (or a result whose ``to_frame()`` gives one) with the columns ``label``,
        ``estimate``, ``conf_low`` and ``conf_high``; rows are drawn top to bottom in order.
    label
        The column holding the row labels.
    xlabel
        The x-axis label (say the unit).
    null
        Where the line of no effect goes (0 for differences, 1 for ratios).
    log_scale
        Draw the x-axis on a log scale (ratios).
    annotate
        Write "estimate (low to high)" at the right of each row.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Row ``i`` (from the top) is at y = ``n - 1 - i``; each row is one point (a
        ``Line2D``) and one horizontal whisker from ``conf_low`` to ``conf_high``.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    Rows with a missing estimate are drawn as a label with no point; a missing CI limit
    leaves the whisker out. Nothing is computed: the numbers are the frame's.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"term": ["arm"], "estimate": [-0.8], "conf_low": [-1.1], "conf_high": [-0.5]}
    ... )
    >>> ax = plot_forest(frame, xlabel="Difference in NPRS (points)")
    >>> ax.get_yticklabels()[0].get_text()
    'arm'
    """
    frame = tidy_frame(
        estimates,
        attributes=("to_frame",),
        required=(label, "estimate", "conf_low", "conf_high"),
        figure="forest plot",
    )
    n = len(frame)
    y = np.arange(n - 1, -1, -1, dtype=float)
    est = frame["estimate"].to_numpy(dtype=float)
    low = frame["conf_low"].to_numpy(dtype=float)
    high = frame["conf_high"].to_numpy(dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size=(6.4, 1.2 + 0.45 * n))
        ax.axvline(null, color=MUTED, linewidth=1, linestyle="--", zorder=0)
        ax.hlines(y, low, high, color=_POINT, linewidth=1.6, label="95% CI")
        ax.plot(est, y, marker="s", linestyle="none", color=_POINT, markersize=6)
        ax.set_yticks(y, [str(v) for v in frame[label]])
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel(xlabel)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if log_scale:
            ax.set_xscale("log")
        if annotate:
            texts = [
                f"{_fmt(e)} ({_fmt(lo)} to {_fmt(hi)})" if np.isfinite(e) else ""
                for e, lo, hi in zip(est, low, high, strict=True)
            ]
            for yi, text in zip(y, texts, strict=True):
                ax.annotate(
                    text,
                    xy=(1.02, yi),
                    xycoords=("axes fraction", "data"),
                    va="center",
                    fontsize=9,
                )
    return ax


def plot_site_forest(
    meta: Any,
    *,
    pooled: Mapping[str, float] | None = None,
    measure: str = "nprs",
    registry: Any | None = None,
    reference: str | None = None,
    comparator: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw per-site estimates with the pooled random-effects diamond, τ² and I².

    Parameters
    ----------
    meta
        The site meta-analysis result (its ``sites`` frame and pooled numbers), or the
        ``sites`` frame: one row per site with ``site_id``, ``estimate``, ``conf_low``,
        ``conf_high``; used when present: ``n`` and ``weight`` (random-effects weight, any
        scale; sets the marker area).
    pooled
        The pooled numbers when ``meta`` is a frame: ``estimate``, ``conf_low``,
        ``conf_high``, ``tau2``, ``i2`` (percent). Default: the result's attributes.
    measure
        The outcome, for the x-axis label with its unit.
    registry
        The measure registry (names, units, directions).
    reference, comparator
        The arms, for the "favours" labels (default the result's; "reference" and
        "comparator" when unknown).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        One square and whisker per site, top to bottom in the frame's order, at y = number
        of sites … 1; the pooled diamond (a ``Polygon`` with vertices at ``conf_low``,
        ``estimate``, ``conf_high``) at y = 0; the x-axis in the measure's unit; at the
        right of each row its "estimate (low to high)" (texts with gid ``estimate``, the
        pooled one in bold); under the axis "← favours …" and "favours … →" (gid
        ``favours``), direction-aware as in :func:`plot_effects`.

    Raises
    ------
    RequestError
        When a column is missing, the frame is empty, or the pooled numbers are not given.

    Notes
    -----
    The whiskers are the sites' own 95 % intervals; the diamond spans the pooled 95 %
    interval. τ² and I² are printed as the result holds them.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_sites
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_site_forest(compare_sites(dataset))
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['central (n = 46)', 'north (n = 94)', 'south (n = 42)', 'Pooled (random effects)']
    """
    sites = tidy_frame(
        meta,
        attributes=("sites", "to_frame"),
        required=("site_id", "estimate", "conf_low", "conf_high"),
        figure="site forest plot",
    )
    summary = dict(pooled) if pooled is not None else _pooled_from(meta)
    n = len(sites)
    y = np.arange(n, 0, -1, dtype=float)
    est = sites["estimate"].to_numpy(dtype=float)
    if "weight" in sites.columns:
        weight = sites["weight"].to_numpy(dtype=float)
        area = 30.0 + 170.0 * weight / np.nanmax(weight)
    else:
        area = np.full(n, 60.0)
    labels = [
        f"{site} (n = {int(k)})" if pd.notna(k) else str(site)
        for site, k in zip(
            sites["site_id"],
            sites["n"] if "n" in sites.columns else [np.nan] * n,
            strict=True,
        )
    ]
    with plot_style():
        fig, ax = new_axes(ax, size=(6.4, 1.8 + 0.45 * n))
        ax.axvline(0.0, color=MUTED, linewidth=1, linestyle="--", zorder=0)
        ax.hlines(y, sites["conf_low"], sites["conf_high"], color=_POINT, linewidth=1.4)
        ax.scatter(est, y, s=area, marker="s", color=_POINT, zorder=3)
        p_est, p_low, p_high = summary["estimate"], summary["conf_low"], summary["conf_high"]
        diamond = np.array([[p_low, 0.0], [p_est, 0.25], [p_high, 0.0], [p_est, -0.25]])
        ax.fill(diamond[:, 0], diamond[:, 1], color="#333333", zorder=3)
        ax.axvline(p_est, color=MUTED, linewidth=0.8, linestyle=":")
        ax.set_yticks([*y, 0.0], [*labels, "Pooled (random effects)"])
        ax.set_ylim(-0.8, n + 0.7)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        texts = [
            f"{_fmt(e)} ({_fmt(lo)} to {_fmt(hi)})" if np.isfinite(e) else ""
            for e, lo, hi in zip(
                est,
                sites["conf_low"].to_numpy(dtype=float),
                sites["conf_high"].to_numpy(dtype=float),
                strict=True,
            )
        ]
        texts.append(f"{_fmt(p_est)} ({_fmt(p_low)} to {_fmt(p_high)})")
        for yi, text in zip([*y, 0.0], texts, strict=True):
            ax.annotate(
                text,
                xy=(1.02, yi),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=9,
                fontweight="bold" if yi == 0.0 else "normal",
                gid="estimate",
            )
        labels_lr = favours(
            measure,
            registry,
            reference or attribute(meta, "reference"),
            comparator or attribute(meta, "comparator"),
        )
        if labels_lr is not None:
            draw_favours(ax, labels_lr, offset=-44.0)
        ax.set_xlabel(
            f"Adjusted difference in {measure_name(measure, registry)}"
            + (f" ({measure_unit(measure, registry)})" if measure_unit(measure, registry) else "")
        )
        i2 = summary.get("i2", np.nan)
        tau2 = summary.get("tau2", np.nan)
        ax.set_title(
            f"\u03c4\u00b2 = {tau2:.3g}, I\u00b2 = {i2:.0f}%  "
            f"pooled {_fmt(p_est)} ({_fmt(p_low)} to {_fmt(p_high)})",
            fontsize=10,
            fontweight="normal",
        )
    return ax


def _pooled_from(meta: Any) -> dict[str, float]:
    if isinstance(meta, pd.DataFrame):
        raise RequestError(
            "site forest plot: a sites frame was given without the pooled numbers; expected "
            "pooled={'estimate', 'conf_low', 'conf_high', 'tau2', 'i2'}; got none. Pass the "
            "meta-analysis result itself, or pooled=."
        )
    names = {"estimate": "estimate", "conf_low": "conf_low", "conf_high": "conf_high"}
    out: dict[str, float] = {}
    for key, name in names.items():
        value = getattr(meta, name, None)
        if value is None:
            raise RequestError(
                f"site forest plot: the result has no '{name}'; expected a site "
                f"meta-analysis result; got {type(meta).__name__}. Pass pooled= explicitly."
            )
        out[key] = float(value)
    out["tau2"] = float(getattr(meta, "tau2", np.nan))
    out["i2"] = float(getattr(meta, "i2", np.nan))
    return out


def plot_adjusted_means(
    ancova: Any,
    *,
    measure: str | None = None,
    timepoint: str | None = None,
    registry: Any | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Draw each arm's adjusted mean with its 95 % CI, and the difference in the title.

    Parameters
    ----------
    ancova
        An ANCOVA result (its ``adjusted_means``, ``estimate``, ``conf_low``,
        ``conf_high``, ``p_value``), or the ``adjusted_means`` frame: ``arm``,
        ``estimate``, ``conf_low``, ``conf_high`` and optionally ``n``.
    measure, timepoint
        For the labels (default the result's).
    registry
        The measure registry.
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Arm ``i`` at x = i: a point (``Line2D`` with gid ``mean:<arm>``) at the adjusted
        mean and a vertical whisker from ``conf_low`` to ``conf_high``; tick labels are
        the arms in words with their n; the y label is the measure with its unit; the
        y-axis spans the measure's registered range; the title gives the difference with
        its CI and p when the result holds them.

    Raises
    ------
    RequestError
        When a column is missing or the frame is empty.

    Notes
    -----
    The adjusted means are the model's means of each arm at the mean baseline of the
    analysed episodes, as the result holds them; nothing is recomputed.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_ancova
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_adjusted_means(compare_ancova(dataset, measure="nprs"))
    >>> ax.get_title(loc="left").splitlines()
    ['Discharge, adjusted for baseline', 'Difference −0.53 (−1.09 to 0.02), p = 0.057']
    """
    frame = tidy_frame(
        ancova,
        attributes=("adjusted_means",),
        required=("arm", "estimate", "conf_low", "conf_high"),
        figure="adjusted means plot",
    )
    measure = str(measure or attribute(ancova, "measure") or "nprs")
    timepoint = str(timepoint or attribute(ancova, "timepoint") or "discharge")
    arms = [str(a) for a in frame["arm"]]
    x = np.arange(len(arms), dtype=float)
    with plot_style():
        fig, ax = new_axes(ax, size=(4.8, 4.2))
        for xi, row in zip(x, frame.to_dict(orient="records"), strict=True):
            arm = str(row["arm"])
            colour = arm_colour(arm)
            ax.vlines([xi], [row["conf_low"]], [row["conf_high"]], color=colour, linewidth=2)
            ax.plot(
                [xi], [row["estimate"]], marker="o", markersize=8, color=colour, gid=f"mean:{arm}"
            )
        n = frame["n"] if "n" in frame.columns else [None] * len(arms)
        labels = [wrap_label(arm_label_n(arm, k)) for arm, k in zip(arms, n, strict=True)]
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        entry = _lookup_measure(measure, registry)
        low, high = getattr(entry, "low", None), getattr(entry, "high", None)
        if low is not None and high is not None:
            # the measure's whole scale, so the gap between arms looks its true size
            ax.set_ylim(
                min(float(low), float(frame["conf_low"].min())),
                max(float(high), float(frame["conf_high"].max())),
            )
        ax.set_ylabel(f"Adjusted mean {measure_label(measure, registry, short=True)}")
        title = f"{timepoint_label(timepoint)}, adjusted for baseline"
        est = attribute(ancova, "estimate")
        if est is not None:
            low, high = attribute(ancova, "conf_low"), attribute(ancova, "conf_high")
            title += f"\nDifference {_fmt(float(est))} ({_fmt(float(low))} to {_fmt(float(high))})"
            p = attribute(ancova, "p_value")
            if p is not None:
                title += f", {format_p(float(p))}"
        ax.set_title(title, fontsize=10, fontweight="normal")
    return ax
