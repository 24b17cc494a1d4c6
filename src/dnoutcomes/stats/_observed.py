"""Observed means of a measure per arm and whole week, with t-intervals.

Used by :func:`dnoutcomes.stats.mixed.compare_trajectories` on the rows the mixed model is
fitted to, so that the trajectory figure can show the raw means next to the model's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from dnoutcomes._frames import category_codes
from dnoutcomes.errors import RequestError

#: Columns of the observed-means frame, in order.
OBSERVED_COLUMNS: tuple[str, ...] = (
    "arm",
    "weeks",
    "n",
    "estimate",
    "sd",
    "std_error",
    "conf_low",
    "conf_high",
)


def check_min_n(min_n: object, *, where: str) -> int:
    """Return ``min_n`` as an int, or raise :class:`RequestError` unless it is an int >= 1."""
    if isinstance(min_n, bool) or not isinstance(min_n, int | np.integer) or min_n < 1:
        raise RequestError(
            f"{where}: min_n must be a whole number of at least 1; got {min_n!r}. "
            "Pass e.g. min_n=5 to leave out weeks with fewer than 5 values."
        )
    return int(min_n)


def observed_means(
    rows: pd.DataFrame,
    *,
    arms: Sequence[str],
    conf_level: float = 0.95,
    min_n: int = 5,
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Mean of ``value`` per arm and whole week, with a t-interval.

    Parameters
    ----------
    rows
        One row per value: ``arm`` (str or category), ``weeks`` (float, weeks since the
        episode start) and ``value`` (float). Rows with a missing ``weeks`` or ``value``
        are left out.
    arms
        The arms, in the order of the output.
    conf_level
        Level of the intervals, in (0, 1) (checked by the caller).
    min_n
        Arm-weeks with fewer values than this are left out (and counted in the notes).

    Returns
    -------
    observed : pandas.DataFrame
        One row per arm and week with at least ``min_n`` values, sorted by arm (in the order
        of ``arms``) and week: ``arm`` (str), ``weeks`` (int, the whole week), ``n`` (int,
        values), ``estimate`` (mean), ``sd`` (sample SD, ``ddof=1``), ``std_error``
        (``sd / sqrt(n)``), ``conf_low``, ``conf_high`` (floats; NaN when ``n < 2``).
    notes : tuple of str
        Arm-weeks left out for ``min_n``; kept arm-weeks with a single value (no interval).

    Notes
    -----
    A value's week is ``floor(weeks + 0.5)``: the nearest whole week, halves rounded up
    (with whole-day dates a half week never occurs, since ``7 k + 3.5`` days is not a whole
    day). ``n`` counts values, not episodes: an episode assessed twice in a week contributes
    two values, treated as independent, so the interval is then somewhat too narrow. The
    interval is ``mean -/+ t(1 - (1 - conf_level) / 2; n - 1) * sd / sqrt(n)``.
    """
    # the three columns used, and only copied when a row is left out (the mixed model's
    # rows come complete: a copy of millions of rows for nothing)
    kept = rows[["arm", "weeks", "value"]]
    complete = (kept["weeks"].notna() & kept["value"].notna()).to_numpy()
    if not complete.all():
        kept = kept.loc[complete]
    # the arm as a categorical of ``arms`` (other arms missing, so left out by the
    # grouping): a text column of millions of rows as Python strings took 0.3 GiB
    frame = pd.DataFrame(
        {
            "arm": _arm_categorical(kept["arm"], arms),
            "weeks": np.floor(kept["weeks"].to_numpy(dtype=np.float64) + 0.5).astype(np.int64),
            "value": kept["value"].to_numpy(dtype=np.float64),
        }
    )
    grouped = (
        frame.groupby(["arm", "weeks"], sort=False, observed=True)["value"]
        .agg(n="size", estimate="mean", sd="std")
        .reset_index()
    )
    grouped["arm"] = grouped["arm"].astype(str)
    order = {str(a): i for i, a in enumerate(arms)}
    grouped = (
        grouped.assign(_order=grouped["arm"].map(order))
        .sort_values(["_order", "weeks"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    too_few = grouped["n"] < min_n
    notes: list[str] = []
    if too_few.any():
        dropped = grouped.loc[too_few]
        listing = "; ".join(
            f"{arm} week{'s' if len(w) > 1 else ''} {', '.join(map(str, w))}"
            for arm, w in dropped.groupby("arm", sort=False)["weeks"].agg(list).items()
        )
        notes.append(
            f"Observed means: {int(too_few.sum())} arm-week(s) with fewer than "
            f"{min_n} values left out ({listing})."
        )
    out = grouped.loc[~too_few].reset_index(drop=True)
    n = out["n"].to_numpy(dtype=np.float64)
    sd = out["sd"].to_numpy(dtype=np.float64)
    std_error = sd / np.sqrt(n)
    with np.errstate(invalid="ignore"):
        # df = 0 for a single value: t.ppf gives NaN, and so does the interval
        t = stats.t.ppf(0.5 + conf_level / 2.0, np.where(n >= 2, n - 1, np.nan))
    estimate = out["estimate"].to_numpy(dtype=np.float64)
    single = out.loc[out["n"] < 2]
    if not single.empty:
        listing = "; ".join(
            f"{a} week {w}" for a, w in zip(single["arm"], single["weeks"], strict=True)
        )
        notes.append(f"Observed means: one value only, so no interval, at {listing}.")
    observed = pd.DataFrame(
        {
            "arm": out["arm"].astype(str),
            "weeks": out["weeks"].astype(np.int64),
            "n": out["n"].astype(np.int64),
            "estimate": estimate,
            "sd": sd,
            "std_error": std_error,
            "conf_low": estimate - t * std_error,
            "conf_high": estimate + t * std_error,
        },
        columns=list(OBSERVED_COLUMNS),
    )
    return observed, tuple(notes)


def _arm_categorical(arm: pd.Series, arms: Sequence[str]) -> pd.Categorical[str]:
    """``arm`` (text or categorical) as a categorical whose categories are ``arms`` (as
    text); a value not among them is missing."""
    names = [str(a) for a in dict.fromkeys(arms)]
    if not isinstance(arm.dtype, pd.CategoricalDtype):
        arm = arm.astype(str).astype("category")  # missing stays missing
    text = arm.cat.categories.astype(str)
    recode = np.array([names.index(t) if t in names else -1 for t in text] + [-1], dtype=np.int8)
    codes = recode[category_codes(arm)]  # -1 (missing) reads the last entry
    return pd.Categorical.from_codes(codes, categories=pd.Index(names))
