"""Love plot: absolute standardised mean differences per covariate before and after weighting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._data import tidy_frame
from dnoutcomes.plots._style import MUTED, OKABE_ITO, new_axes, plot_style

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["balance_frame", "covariate_label", "plot_balance"]

#: |SMD| below this is conventionally "balanced" (Austin 2009).
BALANCE_THRESHOLD = 0.1

_WORDS = {
    "age": "Age",
    "symptom_weeks": "Symptom duration (weeks)",
    "sex": "Sex",
    "condition": "Condition",
    "site_id": "Site",
    "chronicity": "Chronicity",
}


def covariate_label(key: str) -> str:
    """Return a balance key in words: ``sex=female`` → ``Sex: female``,
    ``nprs_baseline`` → ``Baseline NPRS``.

    Parameters
    ----------
    key
        A covariate key of the analysis plan (``name`` or ``name=level``).

    Returns
    -------
    str
        The label.

    Examples
    --------
    >>> covariate_label("condition=disc_herniation")
    'Condition: disc herniation'
    """
    name, _, level = key.partition("=")
    if name.endswith("_baseline"):
        measure = name.removesuffix("_baseline")
        words = f"Baseline {measure.upper() if measure.isalpha() else measure.replace('_', ' ')}"
    else:
        words = _WORDS.get(name, name.replace("_", " ").capitalize())
    return f"{words}: {level.replace('_', ' ')}" if level else words


def balance_frame(source: Any) -> pd.DataFrame:
    """Return the balance table of an IPTW result as a frame ``covariate, smd_before, smd_after``.

    Parameters
    ----------
    source
        A frame with those columns, a result holding such a frame as ``balance``, or a result
        holding the mappings ``smd_before`` and ``smd_after`` (covariate → SMD).

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate`` (str), ``smd_before`` and ``smd_after`` (float, signed), one
        row per covariate in the order of ``smd_before``.

    Raises
    ------
    RequestError
        When none of these is found.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_iptw
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> balance_frame(compare_iptw(dataset)).head(3).round(2)
           covariate  smd_before  smd_after
    0            age       -0.10      -0.04
    1  symptom_weeks        0.42       0.22
    2  nprs_baseline        0.72       0.09
    """
    before = None if isinstance(source, pd.DataFrame) else getattr(source, "smd_before", None)
    after = None if isinstance(source, pd.DataFrame) else getattr(source, "smd_after", None)
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = list(before)
        return pd.DataFrame(
            {
                "covariate": keys,
                "smd_before": [float(before[k]) for k in keys],
                "smd_after": [float(after.get(k, np.nan)) for k in keys],
            }
        )
    if isinstance(before, pd.Series) and isinstance(after, pd.Series):
        return pd.DataFrame(
            {
                "covariate": before.index.astype(str),
                "smd_before": before.to_numpy(dtype=float),
                "smd_after": after.reindex(before.index).to_numpy(dtype=float),
            }
        )
    frame = tidy_frame(
        source,
        attributes=("balance", "to_frame"),
        required=("covariate", "smd_before", "smd_after"),
        figure="Love plot",
    )
    return frame[["covariate", "smd_before", "smd_after"]]


def plot_balance(
    iptw: Any,
    *,
    threshold: float = BALANCE_THRESHOLD,
    ax: Axes | None = None,
) -> Axes:
    """Draw a Love plot: |SMD| of each covariate before and after weighting.

    Parameters
    ----------
    iptw
        The IPTW result (its ``smd_before`` / ``smd_after`` mappings or ``balance`` frame),
        or a frame with ``covariate``, ``smd_before``, ``smd_after``.
    threshold
        Where the dashed "balanced" line goes (default 0.1).
    ax
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Two ``Line2D`` series of points labelled "Before weighting" and "After weighting",
        x = |SMD|, one point per covariate; covariates run top to bottom from the largest
        |SMD| before weighting; a dashed vertical line at ``threshold``.

    Raises
    ------
    RequestError
        When the balance table is missing or empty.

    Notes
    -----
    The absolute value is the only transformation of the result's numbers. A covariate
    whose SMD after weighting is missing (a level absent after weighting) has no "after"
    point.

    Examples
    --------
    >>> from dnoutcomes.sample import generate
    >>> from dnoutcomes.stats import compare_iptw
    >>> dataset = generate(episodes=300, seed=1).to_dataset()
    >>> ax = plot_balance(compare_iptw(dataset))
    >>> labels = [label.get_text() for label in ax.get_yticklabels()]
    >>> len(labels), labels[:2]  # the most imbalanced covariates first
    (19, ['Baseline ODI', 'Baseline NPRS'])
    """
    if not np.isfinite(threshold) or threshold <= 0:
        raise RequestError(
            f"Love plot: threshold must be a positive number; got {threshold}. "
            "Use the conventional 0.1."
        )
    frame = balance_frame(iptw)
    before = frame["smd_before"].abs().to_numpy(dtype=float)
    after = frame["smd_after"].abs().to_numpy(dtype=float)
    order = np.argsort(-np.nan_to_num(before, nan=-1.0), kind="stable")
    n = len(frame)
    y = np.arange(n - 1, -1, -1, dtype=float)
    labels = [covariate_label(str(frame["covariate"].iloc[i])) for i in order]
    with plot_style():
        fig, ax = new_axes(ax, size=(6.4, 1.4 + 0.28 * n))
        ax.axvline(threshold, color=MUTED, linestyle="--", linewidth=1, zorder=0)
        ax.hlines(
            y,
            0,
            max(np.nanmax(before), np.nanmax(after), threshold) * 1.05,
            color="#EEEEEE",
            linewidth=0.6,
            zorder=0,
        )
        ax.plot(
            before[order],
            y,
            marker="o",
            linestyle="none",
            markerfacecolor="white",
            markeredgecolor=MUTED,
            markeredgewidth=1.4,
            label="Before weighting",
        )
        ax.plot(
            after[order],
            y,
            marker="o",
            linestyle="none",
            color=OKABE_ITO["black"],
            label="After weighting",
        )
        ax.set_yticks(y, labels)
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"Absolute standardised mean difference (dashed: {threshold:g})")
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, borderaxespad=0.2)
    return ax
