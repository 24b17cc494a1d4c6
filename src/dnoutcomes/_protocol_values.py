"""The values of a protocol file, one at a time: the contract's timepoints, covariates
derived from the outcome, the :class:`_Reader` that collects every problem with its key and
line, the checks of single values (a name, a number, a choice, a list of timepoints …)
and, for writing, a value as TOML text.

The lowest of the protocol's private modules: the readers of the tables
(:mod:`dnoutcomes._protocol_toml`, :mod:`dnoutcomes._protocol_routine`,
:mod:`dnoutcomes._protocol_casemix`), the writer and the data check take these and it
takes none of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from dnoutcomes.contract.specs import TIMEPOINTS  # the contract's, in time order

__all__ = ["TIMEPOINTS", "Problem", "derived_covariate", "line_of"]

_LATER = TIMEPOINTS[2:]
_LATER_TEXT = "discharge or a follow-up timepoint (followup_4w … followup_52w)"
Problem = tuple[str, int | None, str]


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of ``key``, else of its nearest enclosing key or table, else ``None``."""
    parts = key.split(".") if key else []
    while parts:
        found = lines.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


# ---------------------------------------------------------------------------------------
# Covariates derived from the outcome

_OUTCOME_WORDS = frozenset(
    {"value", "later", "improvement", "change", "responder", "response", "outcome", "baseline"}
)


_EXPOSURE = frozenset({"arm", "arm_declared", "arm_derived", "treated"})


def derived_covariate(name: str, measures: set[str] | frozenset[str]) -> str | None:
    """Why ``name`` cannot be a covariate (derived from an outcome, the exposure, or a
    ``baseline:`` of an unknown measure), or ``None`` when it may be one.

    Examples
    --------
    >>> derived_covariate("improvement", {"nprs"})
    "'improvement' is derived from the outcome itself"
    >>> derived_covariate("baseline:nprs", {"nprs"}) is None, derived_covariate("age", {"nprs"})
    (True, None)
    """
    lower = name.lower()
    if lower in _OUTCOME_WORDS:
        return f"{name!r} is derived from the outcome itself"
    if lower in _EXPOSURE:
        return f"{name!r} is the treatment compared, not a covariate"
    if lower in measures:
        return (
            f"{name!r} is a measure's later value (an outcome); name baseline:{lower} for "
            "its baseline value"
        )
    if ":" in name:
        when, _, measure = name.partition(":")
        if when != "baseline":
            return (
                f"{name!r} is a value after baseline (derived from an outcome); only "
                "baseline:<measure> can be named"
            )
        if measure not in measures:
            known = ", ".join(sorted(measures))
            return (
                f"{name!r} names no known measure; baseline:<measure> needs one of {known} "
                "(or a measure declared under [[measures]])"
            )
        return None
    for measure in measures:
        if lower.startswith(measure + "_"):
            rest = lower[len(measure) + 1 :]
            if rest in _OUTCOME_WORDS or rest in TIMEPOINTS or rest in {"improved", "pct"}:
                return f"{name!r} is derived from the outcome {measure}"
    return None


# ---------------------------------------------------------------------------------------
# Reading values


class _Reader:
    """Collects problems while reading a mapping's values."""

    def __init__(self, lines: Mapping[str, int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append((key, line_of(self.lines, key), message))

    def table(self, data: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.add(key, f"expected a table [{key}]; got {_kind(value)}.")
            return {}
        self.unknown(value, key, allowed)
        return dict(value)

    def unknown(self, data: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                where = f"{prefix}.{name}" if prefix else name
                inside = _table_name(prefix)
                hint = _close(name, allowed)
                self.add(
                    where,
                    f"unknown key {name!r} in {inside}; expected one of {', '.join(allowed)}"
                    f"{hint}. Remove it or correct its spelling.",
                )

    def get(
        self,
        data: Mapping[str, Any],
        prefix: str,
        name: str,
        check: Callable[[Any], Any],
        default: Any,
        *,
        required: bool = False,
    ) -> Any:
        key = f"{prefix}.{name}" if prefix else name
        if name not in data or data[name] is None:
            if required:
                self.add(key, f"is required; add `{name} = …` to [{prefix}].")
            return default
        try:
            return check(data[name])
        except _Bad as exc:
            self.add(key, str(exc))
            return default


def _table_name(prefix: str) -> str:
    if not prefix:
        return "the top level"
    table, _, index = prefix.partition(".")
    if index.isdigit():
        return f"[[{table}]] number {int(index) + 1}"
    return f"[{prefix}]"


class _Bad(Exception):
    pass


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def _close(name: str, allowed: tuple[str, ...]) -> str:
    import difflib

    match = difflib.get_close_matches(name, allowed, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"expected text in quotes; got {_kind(value)}.")
    return value


def _name(value: Any) -> str:
    text = _text(value)
    if not text.strip():
        raise _Bad("expected a non-empty name; got an empty text.")
    return text


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"expected a number; got {_kind(value)}.")
    if not math.isfinite(value):
        raise _Bad(f"expected a finite number; got {value!r}.")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"expected true or false; got {_kind(value)}.")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _text(value)
        if text not in choices:
            listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
            raise _Bad(f"expected {listed}; got {text!r}.")
        return text

    return check


def _later(value: Any) -> str:
    text = _text(value)
    if text not in _LATER:
        extra = ""
        if text == "session":
            extra = " Session values enter the trajectory and time-to-response analyses."
        elif text == "baseline":
            extra = " Baseline is the comparison's anchor, always in the model."
        elif text not in TIMEPOINTS:
            extra = f" The contract's timepoints are {', '.join(TIMEPOINTS)}."
        raise _Bad(f"expected {_LATER_TEXT}; got {text!r}.{extra}")
    return text


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Bad(f'expected a list of names such as ["age", "sex"]; got {_kind(value)}.')
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            got = "an empty text" if isinstance(item, str) else _kind(item)
            raise _Bad(f"item {i + 1} must be a non-empty name in quotes; got {got}.")
        if item in out:
            raise _Bad(f"{item!r} is listed twice; list each name once.")
        out.append(item)
    return tuple(out)


def _timepoints(value: Any) -> tuple[str, ...]:
    names = _names(value)
    bad = [t for t in names if t not in TIMEPOINTS]
    if bad:
        raise _Bad(
            f"expected timepoints of the data contract ({', '.join(TIMEPOINTS)}); got "
            f"{', '.join(repr(b) for b in bad)}."
        )
    if not names:
        raise _Bad("expected at least one timepoint; got an empty list.")
    return names


def _unknown_measure(name: str, measures: frozenset[str]) -> str:
    return (
        f"unknown measure {name!r}; expected a built-in measure or one declared under "
        f"[[measures]] ({', '.join(sorted(measures))}). Declare it with [[measures]] name = "
        f'"{name}", low, high and direction.'
    )


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _Bad(f"expected a whole number from {low} to {high}; got {_kind(value)}.")
        return value

    return check


def _positive(value: Any) -> float:
    number = _number(value)
    if number <= 0:
        raise _Bad(f"expected a number above 0; got {value!r}.")
    return number


def _fraction_below_half(value: Any) -> float:
    number = _number(value)
    if not 0 < number < 0.5:
        raise _Bad(f"expected a number above 0 and below 0.5 (e.g. 0.05); got {value!r}.")
    return number


def _numbers(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise _Bad(f"expected a list of numbers such as [0, 2, 4]; got {_kind(value)}.")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_number(item))
        except _Bad as exc:
            raise _Bad(f"item {i + 1}: {exc}") from None
    return tuple(out)


def _weeks(value: Any) -> tuple[float, ...]:
    weeks = _numbers(value)
    if not weeks:
        raise _Bad("expected at least one week; got an empty list.")
    if any(w < 0 for w in weeks):
        raise _Bad(f"expected weeks of 0 or more; got {', '.join(f'{w:g}' for w in weeks)}.")
    return weeks


# ---------------------------------------------------------------------------------------
# Writing values

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}  # fmt: skip


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if not math.isfinite(value):  # never produced by a checked protocol
            raise ValueError(f"cannot write the number {value!r} in a protocol")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} in a protocol")
