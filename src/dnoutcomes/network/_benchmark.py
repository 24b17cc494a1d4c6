"""The network's benchmarking of sites from their summaries: each site's responders
against the number expected from the network's share of responders in each compared arm
(indirect standardisation for the arm mix), on Spiegelhalter's funnel of observed /
expected ratios with the additive overdispersion correction.

Every number comes from the summaries' ``responders`` blocks (responders and classified
episodes per arm), so it is exact: for site ``s`` with ``n_sa`` classified episodes and
``r_sa`` responders in arm ``a``, and the network's share ``p_a = Σ_s r_sa / Σ_s n_sa``,

- observed ``O_s = Σ_a r_sa``;
- expected ``E_s = Σ_a n_sa p_a`` (the sum of every episode's probability under the
  network's arm shares);
- null variance ``V_s = Σ_a n_sa p_a (1 − p_a)``;

which is what :func:`~dnoutcomes.qi.overdispersion.ratio_funnel` receives from the
episode-level probabilities in the row-level report. The case mix beyond the arm (age,
baseline pain, chronicity…) is **not** adjusted for: the case-mix model of the row-level
report is fitted on every row (iterative) and is not built from summaries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.qi.overdispersion import OverdispersedFunnel, ratio_funnel

__all__ = ["site_benchmark"]


def site_benchmark(by_site: Mapping[str, Sequence[Mapping[str, Any]]]) -> OverdispersedFunnel:
    """The funnel of the sites' observed / expected responders (arm-standardised).

    Parameters
    ----------
    by_site
        Site → its summary blocks (several when its rows were split over partitions; their
        counts are added).

    Returns
    -------
    OverdispersedFunnel
        One row per site with classified episodes (``n``), ``precision`` = expected
        responders, ``value`` = O / E, limits and position; ``adjusted`` is False (the arm
        mix only). Sites without a classified episode are left out and named in ``notes``.

    Raises
    ------
    InsufficientDataError
        Fewer than 2 sites with classified episodes, or a compared arm whose network share
        of responders is 0 or 1 (no variance to compare against).
    """
    sites = sorted(by_site)
    n = np.array(
        [np.sum([b["responders"]["n"] for b in by_site[s]], axis=0) for s in sites], dtype=float
    ).reshape(len(sites), 2)
    r = np.array(
        [np.sum([b["responders"]["responders"] for b in by_site[s]], axis=0) for s in sites],
        dtype=float,
    ).reshape(len(sites), 2)
    n_arm = n.sum(axis=0)
    if np.any(n_arm == 0):
        raise InsufficientDataError(
            "site benchmarking: a compared arm has no classified episode over the network."
        )
    share = r.sum(axis=0) / n_arm
    if np.any((share <= 0) | (share >= 1)):
        raise InsufficientDataError(
            "site benchmarking: in a compared arm every classified episode, or none, is a "
            "responder over the network, so no site can differ from the expected number."
        )
    keep = n.sum(axis=1) > 0
    if int(keep.sum()) < 2:
        raise InsufficientDataError(
            "site benchmarking needs at least 2 sites with classified episodes; got "
            f"{int(keep.sum())}."
        )
    expected = n @ share
    variance = n @ (share * (1 - share))
    funnel = ratio_funnel(
        r.sum(axis=1)[keep],
        expected[keep],
        variance[keep],
        n=n.sum(axis=1)[keep],
        units=[s for s, k in zip(sites, keep, strict=True) if k],
        overdispersion="additive",
        label="responders, observed / expected (standardised for the arm mix)",
        unit_label="site",
    )
    left_out = [s for s, k in zip(sites, keep, strict=True) if not k]
    notes = funnel.notes + (
        (f"Site(s) without a classified episode left out: {', '.join(left_out)}.",)
        if left_out
        else ()
    )
    # adjusted for the arm mix only, not for case mix: titled "unadjusted"
    return dataclasses.replace(funnel, adjusted=False, notes=notes)
