"""Networks of clinics: site summaries that pool exactly without sharing rows.

At each site, :func:`summarise` reduces the export to the sufficient statistics of the
protocol's analyses (cross-products, 2×2 counts, event tables on a time grid, moments,
monthly aggregates, the mixed model's REML sums grouped by episode size, medication and
adverse-event counts), checked for disclosure; :func:`pool` computes the network's analysis
from the summaries alone. The Dask engine (``dnoutcomes analyze --engine dask``) computes
the same summaries per partition of a large export. See ``docs/network.md``.
"""

from __future__ import annotations

from dnoutcomes.network._disclosure import MIN_OBS_PER_PARAMETER, DisclosureError
from dnoutcomes.network.iptw import IptwSite, iterated_iptw
from dnoutcomes.network.pool import NetworkAnalysis, pool
from dnoutcomes.network.summary import SiteSummary, read_summary, summarise

__all__ = [
    "MIN_OBS_PER_PARAMETER",
    "DisclosureError",
    "IptwSite",
    "NetworkAnalysis",
    "SiteSummary",
    "iterated_iptw",
    "pool",
    "read_summary",
    "summarise",
]
