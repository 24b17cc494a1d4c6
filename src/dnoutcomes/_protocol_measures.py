"""The protocol's ``[[measures]]`` tables (measures declared beyond the built-in registry)
and its ``[responders]`` table, whose definition must fit the measure (kept apart from
:mod:`dnoutcomes._protocol_toml` so that each stays small)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dnoutcomes._protocol_specs import ResponderSpec
from dnoutcomes._protocol_values import (
    _Bad,
    _bool,
    _choice,
    _kind,
    _later,
    _name,
    _number,
    _Reader,
    _text,
    _unknown_measure,
)
from dnoutcomes.contract.measures import Measure, default_registry
from dnoutcomes.errors import RequestError

__all__ = ["parse_measure", "parse_responders"]


_MEASURE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_MEASURE_KEYS = (
    "name",
    "label",
    "unit",
    "low",
    "high",
    "integer",
    "direction",
    "mcid_points",
    "mcid_percent",
    "responder_values",
)


def parse_measure(r: _Reader, entry: Any, key: str) -> Measure | None:
    if not isinstance(entry, Mapping):
        r.add(key, f"expected a [[measures]] table; got {_kind(entry)}.")
        return None
    r.unknown(entry, key, _MEASURE_KEYS)
    before = len(r.problems)
    name = r.get(entry, key, "name", _name, None, required=True)
    label = r.get(entry, key, "label", _text, name)
    unit = r.get(entry, key, "unit", _text, "points")
    low = r.get(entry, key, "low", _number, None, required=True)
    high = r.get(entry, key, "high", _number, None, required=True)
    integer = r.get(entry, key, "integer", _bool, False)
    direction = r.get(entry, key, "direction", _choice("lower", "higher"), None, required=True)
    mcid_points = r.get(entry, key, "mcid_points", _number, None)
    mcid_percent = r.get(entry, key, "mcid_percent", _number, None)

    def values(value: Any) -> tuple[float, ...]:
        if not isinstance(value, list):
            raise _Bad(f"expected a list of numbers such as [1, 2]; got {_kind(value)}.")
        return tuple(_number(v) for v in value)

    responder = r.get(entry, key, "responder_values", values, ())
    if name is not None and not _MEASURE_NAME.match(name):
        r.add(
            f"{key}.name",
            f"expected 1-64 characters of lower-case a-z, 0-9 and _ starting with a letter "
            f"(the outcomes' measure name); got {name!r}.",
        )
    if low is not None and high is not None and low > high:
        r.add(f"{key}.high", f"expected high >= low; got low = {low:g}, high = {high:g}.")
    if len(r.problems) > before:
        return None
    try:
        return Measure(
            name,
            label,
            unit,
            low,
            high,
            integer,
            direction,
            mcid_points,
            mcid_percent,
            responder,
        )
    except RequestError as exc:
        r.add(f"{key}.name" if "name" in str(exc).split(":")[0] else key, str(exc))
        return None


def parse_responders(
    r: _Reader,
    data: Mapping[str, Any],
    names: frozenset[str],
    declared: list[Measure],
    primary: str | None,
) -> ResponderSpec:
    t = r.table(data, "responders", ("measure", "timepoint", "definition", "percent"))
    measure = r.get(t, "responders", "measure", _name, None)
    if measure is not None and measure not in names:
        r.add("responders.measure", _unknown_measure(measure, names))
        measure = None
    timepoint = r.get(t, "responders", "timepoint", _later, None)
    definition = r.get(t, "responders", "definition", _choice("mcid", "percent", "values"), "mcid")
    percent = r.get(t, "responders", "percent", _number, 30.0)
    if not 0 < percent <= 100:
        r.add(
            "responders.percent", f"expected a percentage above 0 and at most 100; got {percent:g}."
        )
    resolved = measure or primary
    registry = {
        **{m: default_registry()[m] for m in default_registry()},
        **{m.name: m for m in declared},
    }
    spec = registry.get(resolved) if resolved else None
    key = "responders.definition" if "definition" in t else "responders"
    if spec is not None and definition == "mcid" and spec.mcid_points is None:
        r.add(
            key,
            f"definition 'mcid' needs an MCID in points for {spec.name}, which has none; "
            'give mcid_points under [[measures]] or use definition = "percent".',
        )
    if spec is not None and definition == "values" and not spec.responder_values:
        r.add(
            key,
            f"definition 'values' needs responder_values for {spec.name}, which has "
            "none; give responder_values under [[measures]].",
        )
    if spec is not None and definition == "percent" and spec.low < 0:
        r.add(
            key,
            f"definition 'percent' needs a measure with no negative values; "
            f"{spec.name} ranges from {spec.low:g}.",
        )
    return ResponderSpec(measure, timepoint, definition, percent)
