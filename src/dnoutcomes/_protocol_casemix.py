"""The protocol's ``[casemix]`` table: case-mix adjusted benchmarking and the summary
page's targets — reading, writing and describing it (kept apart from the other tables so
that each stays small)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dnoutcomes._protocol_specs import CASEMIX_TARGETS, CaseMixSpec
from dnoutcomes._protocol_values import (
    _Bad,
    _choice,
    _kind,
    _later,
    _name,
    _names,
    _number,
    _Reader,
    _unknown_measure,
    _value,
    derived_covariate,
)

__all__ = ["KEYS", "casemix_dict", "casemix_toml", "describe_casemix", "parse_casemix"]

#: The keys of ``[casemix]`` (``targets`` is the sub-table ``[casemix.targets]``).
KEYS: tuple[str, ...] = (
    "covariates",
    "model",
    "measure",
    "timepoint",
    "reference_from",
    "reference_to",
    "overdispersion",
    "targets",
    "phases",
)

#: Comments of the built-in file.
COMMENTS: dict[str, str] = {
    "casemix": (
        "Case-mix adjusted benchmarking of therapists and sites (observed - expected), and\n"
        "the targets of the summary page's indicators."
    ),
    "casemix.covariates": (
        "The expected-outcome model's case-mix variables: age, sex, condition, chronicity,\n"
        "symptom_weeks, contraindications (any recorded), baseline (the measure's own),\n"
        "baseline:<measure>, or extra patient or episode columns."
    ),
    "casemix.model": (
        '"linear" (expected improvement) or "logistic" (expected chance of responding).'
    ),
    "casemix.measure": "Default: the primary outcome's measure (it needs an MCID in points).",
    "casemix.timepoint": "Default: the primary outcome's timepoint.",
    "casemix.reference_from": (
        'The reference window the model is fitted on, by discharge date ("YYYY-MM-DD").\n'
        "Default: from the first discharge."
    ),
    "casemix.reference_to": "Default: up to the end of the report's period.",
    "casemix.overdispersion": (
        'The funnels\' limits: "additive" (Spiegelhalter\'s tau-squared), "multiplicative"\n'
        '(phi) or "none".'
    ),
}

_TARGETS_EXAMPLE = """\
# Targets of the summary page's indicators, for the assurance icons (optional; an
# indicator without one shows "no target set"):
# [casemix.targets]
# mean_improvement = 2.0              # points of improvement of the measure
# responders = 0.5                    # a share of episodes, from 0 to 1
# adverse_events = 5.0                # per 100 dry-needling sessions"""


_PHASES_EXAMPLE = """\
# Deliberate changes to the process (optional): the summary page's charts recompute their
# limits from the first month of each:
# [casemix.phases]
# "2025-01" = "new exercise programme"
"""


def _date(value: Any) -> str:

    if isinstance(value, dt.datetime):
        raise _Bad(f"expected a date such as 2025-01-01 (no time of day); got {value}.")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise _Bad(f'expected a date such as "2025-01-01"; got {_kind(value)}.')
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise _Bad(f'expected a date such as "2025-01-01"; got {value!r}.') from None


def _covariates(r: _Reader, data: Mapping[str, Any], names: frozenset[str]) -> tuple[str, ...]:

    key = "casemix.covariates"
    listed = r.get(data, "casemix", "covariates", _names, CaseMixSpec().covariates)
    for name in listed:
        why = None if name == "baseline" else derived_covariate(name, names)
        if why:
            r.add(
                key,
                f"{why}. Name a patient or episode column (age, sex, condition, …), baseline "
                "(the benchmarked measure's own) or baseline:<measure>.",
            )
    if not listed and "covariates" in data:
        r.add(key, "expected at least one case-mix variable.")
    return tuple(listed)


def _targets(r: _Reader, data: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:

    table = r.table(data, "casemix.targets", CASEMIX_TARGETS)
    out: list[tuple[str, float]] = []
    for name in CASEMIX_TARGETS:
        value = r.get(table, "casemix.targets", name, _number, None)
        if value is None:
            continue
        if name == "responders" and not 0 <= value <= 1:
            r.add(
                "casemix.targets.responders",
                f"expected a share from 0 to 1 (0.5 for half the episodes); got {value:g}.",
            )
            continue
        if value < 0:
            r.add(f"casemix.targets.{name}", f"expected a number of at least 0; got {value:g}.")
            continue
        out.append((name, value))
    return tuple(out)


def _phases(r: _Reader, data: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    import re

    value = data.get("phases")
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        r.add("casemix.phases", f"expected a table [casemix.phases]; got {_kind(value)}.")
        return ()
    out: list[tuple[str, str]] = []
    for month, name in value.items():
        key = f"casemix.phases.{month}"
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(month)):
            r.add(
                key,
                f'expected a month such as "2025-01" (in quotes) = "what changed"; got {month!r}.',
            )
            continue
        if not isinstance(name, str) or not name.strip():
            r.add(
                key, f'expected the change in words, e.g. "new exercise programme"; got {name!r}.'
            )
            continue
        out.append((str(month), name))
    return tuple(sorted(out))


def parse_casemix(r: _Reader, data: Mapping[str, Any], names: frozenset[str]) -> CaseMixSpec:
    """Read ``[casemix]`` (absent: the defaults), adding every problem to ``r``."""

    t = r.table(data, "casemix", KEYS)
    covariates = _covariates(r, t, names)
    model = r.get(t, "casemix", "model", _choice("linear", "logistic"), "linear")
    measure = r.get(t, "casemix", "measure", _name, None)
    if measure is not None and measure not in names:
        r.add("casemix.measure", _unknown_measure(measure, names))
        measure = None
    timepoint = r.get(t, "casemix", "timepoint", _later, None)
    start = r.get(t, "casemix", "reference_from", _date, None)
    end = r.get(t, "casemix", "reference_to", _date, None)
    if start is not None and end is not None and start > end:
        r.add(
            "casemix.reference_to",
            f"the reference window ends ({end}) before it starts ({start}); swap them.",
        )
    spread = r.get(
        t,
        "casemix",
        "overdispersion",
        _choice("additive", "multiplicative", "none"),
        "additive",
    )
    return CaseMixSpec(
        covariates=covariates,
        model=model,
        measure=measure,
        timepoint=timepoint,
        reference_from=start,
        reference_to=end,
        overdispersion=spread,
        targets=_targets(r, t),
        phases=_phases(r, t),
    )


def casemix_dict(spec: CaseMixSpec) -> dict[str, Any]:
    """``[casemix]`` as plain values (``targets`` a table, ``None`` = the default)."""
    return {
        "covariates": list(spec.covariates),
        "model": spec.model,
        "measure": spec.measure,
        "timepoint": spec.timepoint,
        "reference_from": spec.reference_from,
        "reference_to": spec.reference_to,
        "overdispersion": spec.overdispersion,
        "targets": {name: float(value) + 0.0 for name, value in spec.targets},
        "phases": dict(spec.phases),
    }


def casemix_toml(spec: CaseMixSpec, *, commented: bool) -> list[str]:
    """The ``[casemix]`` lines of a TOML file (none when left at the defaults and not
    commented)."""

    if not commented and spec == CaseMixSpec():
        return []
    data = casemix_dict(spec)
    targets = data.pop("targets")
    phases = data.pop("phases")
    lines: list[str] = []

    def comment(key: str) -> None:
        if commented and key in COMMENTS:
            lines.extend("# " + part for part in COMMENTS[key].split("\n"))

    comment("casemix")
    lines.append("[casemix]")
    for name, value in data.items():
        comment(f"casemix.{name}")
        if value is None:
            if commented:
                lines.append(f"# {name} = …")
            continue
        lines.append(f"{name} = {_value(value)}")
    if targets:
        lines.append("")
        lines.append("[casemix.targets]")
        lines.extend(f"{name} = {_value(value)}" for name, value in targets.items())
    elif commented:
        lines.append("")
        lines.extend(_TARGETS_EXAMPLE.split("\n"))
    if phases:
        lines.append("")
        lines.append("[casemix.phases]")
        lines.extend(f"{_value(month)} = {_value(name)}" for month, name in phases.items())
    elif commented:
        lines.append("")
        lines.extend(_PHASES_EXAMPLE.rstrip("\n").split("\n"))
    return lines


def describe_casemix(spec: CaseMixSpec, measure: str, timepoint: str) -> str:
    """The ``[casemix]`` table in one sentence (the report's methods section)."""
    kind = "improvement (linear model)" if spec.model == "linear" else "response (logistic model)"
    window = (
        f"discharges from {spec.reference_from or 'the first'} to "
        f"{spec.reference_to or 'the end of the report period'}"
    )
    targets = (
        "; targets: " + ", ".join(f"{n} {v:g}" for n, v in spec.targets)
        if spec.targets
        else "; no indicator target set"
    )
    return (
        f"Benchmarking: expected {measure} {kind} at {timepoint} from "
        f"{', '.join(spec.covariates)}, fitted on {window}; {spec.overdispersion} "
        f"overdispersion{targets}."
    )
