"""The protocol's routine-care tables: ``[missing_data]`` (multiple imputation and the
tipping point), ``[mmrm]`` and ``[clustering]``, and the checks of ``method = "aipw"`` in
``[weighting]`` (kept apart from :mod:`dnoutcomes._protocol_toml` so that each stays small).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dnoutcomes._protocol_specs import (
    DEFAULT_WEIGHTING_COVARIATES,
    ClusteringSpec,
    MissingDataSpec,
    MmrmSpec,
    OutcomeSpec,
)
from dnoutcomes._protocol_values import (
    _LATER,
    _LATER_TEXT,
    _Bad,
    _bool,
    _choice,
    _names,
    _numbers,
    _Reader,
    _unknown_measure,
    _whole,
)

__all__ = ["check_aipw", "parse_clustering", "parse_missing_data", "parse_mmrm"]


def check_aipw(
    r: _Reader, primary: OutcomeSpec | None, estimand: str, weights: tuple[str, ...] | None
) -> None:
    """AIPW is implemented for the plan's set: NPRS at discharge, its covariates, the ATE."""
    if primary is not None and (primary.measure, primary.timepoint) != ("nprs", "discharge"):
        r.add(
            "weighting.method",
            f"method 'aipw' estimates the effect on NPRS at discharge; the primary outcome is "
            f'{primary.measure} at {primary.timepoint}. Use method = "iptw".',
        )
    if estimand != "ate":
        r.add(
            "weighting.method",
            f"method 'aipw' estimates the ATE; estimand is {estimand!r}. Use estimand = "
            '"ate" or method = "iptw".',
        )
    if weights is not None and tuple(weights) != DEFAULT_WEIGHTING_COVARIATES:
        r.add(
            "weighting.method",
            "method 'aipw' uses the plan's propensity covariates ("
            + ", ".join(DEFAULT_WEIGHTING_COVARIATES)
            + '); remove weighting.covariates or use method = "iptw".',
        )


_MISSING_KEYS = (
    "method",
    "m",
    "maxit",
    "seed",
    "auxiliaries",
    "tipping",
    "tipping_shifted",
    "tipping_deltas",
)


def parse_missing_data(
    r: _Reader, data: Mapping[str, Any], names: frozenset[str], primary: OutcomeSpec | None
) -> MissingDataSpec:
    t = r.table(data, "missing_data", _MISSING_KEYS)
    key = "missing_data"
    default = MissingDataSpec()
    method = r.get(t, key, "method", _choice("complete_case", "mi"), "complete_case")
    auxiliaries = r.get(t, key, "auxiliaries", _names, ())
    for name in auxiliaries:
        if name not in names:
            r.add(f"{key}.auxiliaries", _unknown_measure(name, names))
        elif primary is not None and name == primary.measure:
            r.add(
                f"{key}.auxiliaries",
                f"{name!r} is the primary outcome's measure, always in the imputation models; "
                "list other measures.",
            )
    tipping = r.get(t, key, "tipping", _bool, False)
    if tipping and method != "mi":
        r.add(f"{key}.tipping", 'the tipping-point analysis needs method = "mi".')
    return MissingDataSpec(
        method,
        r.get(t, key, "m", _whole(2, 1000), default.m),
        r.get(t, key, "maxit", _whole(1, 100), default.maxit),
        r.get(t, key, "seed", _whole(0, 2**63 - 1), default.seed),
        auxiliaries,
        tipping,
        r.get(t, key, "tipping_shifted", _choice("comparator", "reference"), "comparator"),
        r.get(t, key, "tipping_deltas", _numbers, ()),
    )


def _visits(value: Any) -> tuple[str, ...]:
    names = _names(value)
    bad = [t for t in names if t not in _LATER]
    if bad:
        raise _Bad(
            f"expected post-baseline scheduled visits ({_LATER_TEXT}); got "
            f"{', '.join(repr(b) for b in bad)}. The baseline value is the MMRM's covariate."
        )
    return names


def parse_mmrm(r: _Reader, data: Mapping[str, Any]) -> MmrmSpec:
    t = r.table(data, "mmrm", ("enabled", "visits", "df"))
    return MmrmSpec(
        r.get(t, "mmrm", "enabled", _bool, False),
        r.get(t, "mmrm", "visits", _visits, ()),
        r.get(t, "mmrm", "df", _choice("satterthwaite", "kenward-roger"), "satterthwaite"),
    )


def parse_clustering(r: _Reader, data: Mapping[str, Any]) -> ClusteringSpec:
    """The ``[clustering]`` table."""
    t = r.table(data, "clustering", ("cluster", "type"))
    return ClusteringSpec(
        r.get(t, "clustering", "cluster", _choice("none", "therapist", "site"), "none"),
        r.get(t, "clustering", "type", _choice("HC1", "HC0", "CR2"), "HC1"),
    )
