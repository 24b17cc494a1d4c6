"""Minimum numbers for a verdict: when a comparison sentence of the report may state a
direction ("lower", "a better result for…"), and the words it says instead.

A direction is stated only when every arm has at least ``min_cell`` episodes, every
effective sample size after weighting is at least ``min_cell``, the propensity model
converged, balance was reached (max |SMD| after weighting below 0.1) and every statistic
the sentence uses is finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["BALANCE_LIMIT", "no_verdict_reason", "no_verdict_sentence"]

#: Covariates count as balanced after weighting when every |SMD| is below this.
BALANCE_LIMIT = 0.1


def no_verdict_reason(
    *,
    min_cell: int,
    arms: Mapping[str, float],
    ess: Mapping[str, float] | None = None,
    converged: bool | None = None,
    max_smd_after: float | None = None,
    statistics: Mapping[str, float] = {},
) -> str:
    """Why no direction may be stated, or ``""`` when one may.

    Parameters
    ----------
    min_cell
        The report's suppression threshold, also the least group size for a verdict.
    arms
        ``{arm: episodes analysed}``.
    ess
        ``{arm: effective sample size after weighting}`` (weighted analyses).
    converged
        Whether the propensity model converged (weighted analyses).
    max_smd_after
        Largest absolute standardised mean difference after weighting.
    statistics
        ``{name: value}`` the sentence would use (estimate, interval ends): each must be finite.

    Returns
    -------
    str
        The reasons joined in one clause, without the group sizes (they may be small
        counts); empty when a verdict may be given.

    Examples
    --------
    >>> no_verdict_reason(min_cell=11, arms={"a": 40, "b": 5})
    'an arm (b) has fewer than 11 episodes'
    >>> no_verdict_reason(min_cell=11, arms={"a": 40, "b": 50}, statistics={"nnt": math.inf})
    'a statistic (nnt) is infinite or undefined'
    >>> no_verdict_reason(min_cell=11, arms={"a": 40, "b": 50})
    ''
    """
    reasons: list[str] = []
    small = [arm for arm, n in arms.items() if not (n >= min_cell)]
    if small:
        reasons.append(
            f"{'an arm' if len(small) == 1 else 'arms'} ({', '.join(small)}) "
            f"{'has' if len(small) == 1 else 'have'} fewer than {min_cell} episodes"
        )
    if ess is not None:
        low = [arm for arm, value in ess.items() if not (value >= min_cell)]
        if low:
            reasons.append(
                f"the effective sample size after weighting is below {min_cell} ({', '.join(low)})"
            )
    if converged is False:
        reasons.append("the propensity model did not converge")
    if max_smd_after is not None and not (abs(max_smd_after) < BALANCE_LIMIT):
        reasons.append(
            f"the groups were not made alike by the weighting (largest |SMD| after weighting "
            f"{abs(max_smd_after):.2f}, at least {BALANCE_LIMIT})"
        )
    bad = [name for name, value in statistics.items() if not math.isfinite(value)]
    if bad:
        reasons.append(f"a statistic ({', '.join(bad)}) is infinite or undefined")
    return "; ".join(reasons)


def no_verdict_sentence(what: str, reason: str) -> str:
    """The sentence said instead of a verdict.

    Examples
    --------
    >>> no_verdict_sentence("The adjusted comparison", "an arm (b) has fewer than 11 episodes")
    'The adjusted comparison gives no verdict: an arm (b) has fewer than 11 episodes.'
    """
    return f"{what} gives no verdict: {reason}."
