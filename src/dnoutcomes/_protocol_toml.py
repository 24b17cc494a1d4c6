"""Reading a study protocol: TOML text → checked :class:`~dnoutcomes.protocol.Protocol`.

:func:`key_lines` finds the line of every key (``tomllib`` gives none); :func:`parse`
turns the parsed mapping into a protocol, collecting every problem before raising one
:class:`~dnoutcomes.errors.ProtocolError`. Writing (``to_dict``, TOML text, the commented
built-in file) lives in :mod:`dnoutcomes._protocol_write`.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from dnoutcomes.contract.measures import Measure, default_registry
from dnoutcomes.errors import ProtocolError, RequestError
from dnoutcomes.protocol import (
    DEFAULT_WEIGHTING_COVARIATES,
    ClusteringSpec,
    MedicationSpec,
    MissingDataSpec,
    MmrmSpec,
    OutcomeSpec,
    Protocol,
    ReportSpec,
    ResponderSpec,
    TimeToResponseSpec,
    TrajectorySpec,
    WeightingSpec,
)

__all__ = ["TIMEPOINTS", "derived_covariate", "key_lines", "parse", "parse_text"]

#: The data contract's timepoints, in time order.
TIMEPOINTS: tuple[str, ...] = (
    "baseline",
    "session",
    "discharge",
    "followup_4w",
    "followup_12w",
    "followup_26w",
    "followup_52w",
)
_LATER = TIMEPOINTS[2:]
_LATER_TEXT = "discharge or a follow-up timepoint (followup_4w … followup_52w)"

Problem = tuple[str, int | None, str]

# ---------------------------------------------------------------------------------------
# Lines of keys

_HEADER = re.compile(r"^\[\[\s*([^\[\]]+?)\s*\]\]|^\[\s*([^\[\]]+?)\s*\]")
_KEY = re.compile(
    r"""^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(text: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


def _depth_change(text: str, state: dict[str, Any]) -> None:
    """Follow brackets and strings through ``text`` (a value, or a continuation line)."""
    i = 0
    while i < len(text):
        quote = state.get("quote")
        if quote:  # inside a string
            if quote in ('"""', "'''"):
                end = text.find(quote, i)
                if end < 0:
                    return
                i = end + 3
                state["quote"] = None
                continue
            ch = text[i]
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                state["quote"] = None
            i += 1
            continue
        ch = text[i]
        if ch == "#":
            return
        if text.startswith('"""', i) or text.startswith("'''", i):
            state["quote"] = text[i : i + 3]
            i += 3
            continue
        if ch in "\"'":
            state["quote"] = ch
        elif ch in "[{":
            state["depth"] += 1
        elif ch in "]}":
            state["depth"] -= 1
        i += 1


def key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every table header and key of a TOML text.

    Parameters
    ----------
    text
        The file's text.

    Returns
    -------
    dict
        Dotted key path → line: ``"primary"`` (the header), ``"primary.covariates"``,
        ``"secondary.1.timepoint"`` (array-of-tables entries are numbered from 0).

    Examples
    --------
    >>> key_lines('title = "x"\\n[primary]\\nmeasure = "nprs"\\n[[secondary]]\\nmeasure = "odi"\\n')
    {'title': 1, 'primary': 2, 'primary.measure': 3, 'secondary.0': 4, 'secondary.0.measure': 5}
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    prefix: list[str] = []
    state: dict[str, Any] = {"depth": 0, "quote": None}
    # TOML ends lines at \n only (str.splitlines would also split at U+2028 and others)
    for number, raw in enumerate(text.split("\n"), start=1):
        if state["quote"] in ('"', "'"):  # a one-line string never continues
            state["quote"] = None
        if state["depth"] > 0 or state["quote"]:
            _depth_change(raw, state)  # a continuation of a multi-line value
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            array, table = header.group(1), header.group(2)
            path = _split_key(array or table)
            if array:
                name = ".".join(path)
                index = counts.get(name, -1) + 1
                counts[name] = index
                path = [*path, str(index)]
            prefix = path
            lines.setdefault(".".join(prefix), number)
            continue
        key = _KEY.match(line)
        if key:
            dotted = ".".join([*prefix, *_split_key(key.group(1))])
            lines.setdefault(dotted, number)
            _depth_change(line[key.end() :], state)
    return lines


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
# Parsing


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


def _measure(r: _Reader, entry: Any, key: str) -> Measure | None:
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


def _covariates(
    r: _Reader,
    data: Mapping[str, Any],
    prefix: str,
    measures: frozenset[str],
    default: Any,
    own: str | None = None,
) -> Any:
    """The ``covariates`` list of a table, every bad item reported."""
    key = f"{prefix}.covariates"
    value = data.get("covariates")
    if value is None:
        return default
    if not isinstance(value, list):
        r.add(key, f'expected a list of names such as ["age", "sex"]; got {_kind(value)}.')
        return default
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            got = "an empty text" if isinstance(name, str) else _kind(name)
            r.add(key, f"item {i + 1} must be a non-empty name in quotes; got {got}.")
            continue
        if name in out:
            r.add(key, f"{name!r} is listed twice; list each covariate once.")
            continue
        why = derived_covariate(name, measures)
        if why is None and own is not None and name == f"baseline:{own}":
            why = f"{name!r} is the outcome's own baseline, which is always in the model"
        if why:
            r.add(
                key,
                f"{why}. Name a patient or episode column (age, sex, condition, …) or "
                "baseline:<measure>; `dnoutcomes protocol check FILE EXPORT` lists the names.",
            )
        out.append(name)
    return tuple(out)


def _outcome(
    r: _Reader, entry: Any, key: str, measures: frozenset[str], *, secondary: bool
) -> OutcomeSpec | None:
    if not isinstance(entry, Mapping):
        kind = "[[secondary]]" if secondary else "[primary]"
        r.add(key, f"expected a {kind} table; got {_kind(entry)}.")
        return None
    allowed = ("measure", "timepoint", "covariates") + (("optional",) if secondary else ())
    r.unknown(entry, key, allowed)
    measure = r.get(entry, key, "measure", _name, None, required=True)
    if measure is not None and measure not in measures:
        r.add(f"{key}.measure", _unknown_measure(measure, measures))
        measure = None
    before = len(r.problems)
    timepoint = r.get(entry, key, "timepoint", _later, "discharge")
    bad_timepoint = len(r.problems) > before
    covariates = _covariates(r, entry, key, measures, None if secondary else (), measure)
    optional = r.get(entry, key, "optional", _bool, False) if secondary else False
    if measure is None or bad_timepoint:
        return None
    return OutcomeSpec(measure, timepoint, covariates, optional)


def _unknown_measure(name: str, measures: frozenset[str]) -> str:
    return (
        f"unknown measure {name!r}; expected a built-in measure or one declared under "
        f"[[measures]] ({', '.join(sorted(measures))}). Declare it with [[measures]] name = "
        f'"{name}", low, high and direction.'
    )


_TOP = (
    "title",
    "arms",
    "measures",
    "primary",
    "secondary",
    "responders",
    "trajectory",
    "time_to_response",
    "weighting",
    "medication",
    "report",
    "casemix",
    "deidentification",
    "missing_data",
    "mmrm",
    "clustering",
)


def _list_of_tables(r: _Reader, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        r.add(key, f"expected [[{key}]] tables (a list); got {_kind(value)}.")
        return []
    return value


def parse(
    data: Mapping[str, Any], *, source: str | None = None, lines: Mapping[str, int] | None = None
) -> Protocol:
    """Build a checked :class:`Protocol` from the file's structure (see
    :meth:`Protocol.from_dict`); raise :class:`ProtocolError` listing every problem."""
    lines = dict(lines or {})
    r = _Reader(lines)
    if not isinstance(data, Mapping):
        raise ProtocolError([("", None, f"expected a table of keys; got {_kind(data)}.")], source)
    r.unknown(data, "", _TOP)
    title = r.get(data, "", "title", _text, "")
    arms = r.table(data, "arms", ("reference", "comparator"))
    reference = r.get(arms, "arms", "reference", _name, "dn_only")
    comparator = r.get(arms, "arms", "comparator", _name, "dn_manual_exercise")
    if reference == comparator:
        r.add(
            "arms.comparator",
            f"the comparator must differ from the reference; both are {reference!r}. Name two "
            "different arms.",
        )

    declared: list[Measure] = []
    for i, entry in enumerate(_list_of_tables(r, data, "measures")):
        measure = _measure(r, entry, f"measures.{i}")
        if measure is None:
            continue
        if any(m.name == measure.name for m in declared):
            r.add(f"measures.{i}.name", f"measure {measure.name!r} is declared twice.")
            continue
        declared.append(measure)
    names = frozenset(default_registry()) | {m.name for m in declared}

    primary = None
    if "primary" not in data:
        r.add("primary", 'the [primary] table is required (measure = "…", timepoint = "…").')
    else:
        primary = _outcome(r, data["primary"], "primary", names, secondary=False)
    seen = {(primary.measure, primary.timepoint): "primary"} if primary else {}
    secondary: list[OutcomeSpec] = []
    for i, entry in enumerate(_list_of_tables(r, data, "secondary")):
        spec = _outcome(r, entry, f"secondary.{i}", names, secondary=True)
        if spec is None:
            continue
        pair = (spec.measure, spec.timepoint)
        if pair in seen:
            r.add(
                f"secondary.{i}",
                f"{spec.measure} at {spec.timepoint} is already an outcome ({seen[pair]}); "
                "list each measure and timepoint once.",
            )
            continue
        seen[pair] = f"secondary.{i}"
        secondary.append(spec)

    table = data.get("primary")
    named = table.get("measure") if isinstance(table, Mapping) else None
    known = named if isinstance(named, str) and named in names else None
    responders = _responders(r, data, names, declared, known)
    trajectory = _series(r, data, "trajectory", names, TrajectorySpec)
    ttr = _series(r, data, "time_to_response", names, TimeToResponseSpec)
    if "baseline" in ttr.timepoints:
        r.add(
            "time_to_response.timepoints",
            "baseline cannot be a time of response; list only later timepoints (session, "
            "discharge, follow-ups).",
        )
    weighting_t = r.table(data, "weighting", ("estimand", "covariates", "method", "trim"))
    estimand = r.get(weighting_t, "weighting", "estimand", _choice("ate", "att", "ato"), "ate")
    weights = _covariates(r, weighting_t, "weighting", names, WeightingSpec().covariates)
    if not weights:
        r.add("weighting.covariates", "expected at least one covariate for the propensity model.")
    method = r.get(weighting_t, "weighting", "method", _choice("iptw", "aipw"), "iptw")
    trim = r.get(weighting_t, "weighting", "trim", _fraction_below_half, None)
    if method == "aipw":
        _check_aipw(r, primary, estimand, weights)
    elif trim is not None:
        r.add("weighting.trim", 'trim applies to method = "aipw"; set it or remove trim.')
    medication_t = r.table(data, "medication", ("timepoint",))
    medication = MedicationSpec(r.get(medication_t, "medication", "timepoint", _later, None))
    report_t = r.table(data, "report", ("min_cell",))
    min_cell = r.get(report_t, "report", "min_cell", _min_cell, 11)
    from dnoutcomes._protocol_casemix import parse_casemix

    casemix = parse_casemix(r, data, names)
    deid = r.table(data, "deidentification", ("allow_columns",))
    allow = r.get(deid, "deidentification", "allow_columns", _names, ())
    missing = _missing_data(r, data, names, primary)
    mmrm = _mmrm(r, data)
    clustering_t = r.table(data, "clustering", ("cluster", "type"))
    clustering = ClusteringSpec(
        r.get(clustering_t, "clustering", "cluster", _choice("none", "therapist", "site"), "none"),
        r.get(clustering_t, "clustering", "type", _choice("HC1", "HC0", "CR2"), "HC1"),
    )
    if r.problems or primary is None:
        raise ProtocolError(sorted(r.problems, key=_order), source)
    return Protocol(
        title=title,
        reference=reference,
        comparator=comparator,
        measures=tuple(declared),
        primary=primary,
        secondary=tuple(secondary),
        responders=responders,
        trajectory=trajectory,
        time_to_response=ttr,
        weighting=WeightingSpec(estimand, weights or (), method, trim),
        medication=medication,
        report=ReportSpec(min_cell),
        casemix=casemix,
        allow_columns=allow,
        missing_data=missing,
        mmrm=mmrm,
        clustering=clustering,
        source=source,
        lines=lines,
    )


def _order(problem: Problem) -> tuple[int, str]:
    return (problem[1] if problem[1] is not None else 0, problem[0])


def _min_cell(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad(f"expected a whole number of at least 1; got {_kind(value)}.")
    return value


def _responders(
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


_SERIES_KEYS: dict[str, tuple[str, ...]] = {
    "trajectory": (
        "measure",
        "timepoints",
        "random_slopes",
        "time",
        "spline_df",
        "contrast_weeks",
        "extrapolate",
    ),
    "time_to_response": ("measure", "timepoints", "cox", "rmst_horizon"),
}


def _series(
    r: _Reader,
    data: Mapping[str, Any],
    key: str,
    names: frozenset[str],
    kind: type[TrajectorySpec] | type[TimeToResponseSpec],
) -> Any:
    t = r.table(data, key, _SERIES_KEYS[key])
    measure = r.get(t, key, "measure", _name, None)
    if measure is not None and measure not in names:
        r.add(f"{key}.measure", _unknown_measure(measure, names))
        measure = None
    timepoints = r.get(t, key, "timepoints", _timepoints, kind().timepoints)
    if kind is TimeToResponseSpec:
        cox = r.get(t, key, "cox", _bool, False)
        horizon = r.get(t, key, "rmst_horizon", _positive, None)
        return TimeToResponseSpec(measure, timepoints, cox, horizon)
    if len(timepoints) < 2:
        r.add(
            f"{key}.timepoints",
            'the trajectory needs at least two timepoints (e.g. ["baseline", "discharge"]).',
        )
    default = TrajectorySpec()
    return TrajectorySpec(
        measure,
        timepoints,
        r.get(t, key, "random_slopes", _bool, False),
        r.get(t, key, "time", _choice("spline", "linear"), "spline"),
        r.get(t, key, "spline_df", _whole(1, 10), 3),
        r.get(t, key, "contrast_weeks", _weeks, default.contrast_weeks),
        r.get(t, key, "extrapolate", _bool, False),
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


def _visits(value: Any) -> tuple[str, ...]:
    names = _names(value)
    bad = [t for t in names if t not in _LATER]
    if bad:
        raise _Bad(
            f"expected post-baseline scheduled visits ({_LATER_TEXT}); got "
            f"{', '.join(repr(b) for b in bad)}. The baseline value is the MMRM's covariate."
        )
    return names


def _check_aipw(
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


def _missing_data(
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


def _mmrm(r: _Reader, data: Mapping[str, Any]) -> MmrmSpec:
    t = r.table(data, "mmrm", ("enabled", "visits", "df"))
    return MmrmSpec(
        r.get(t, "mmrm", "enabled", _bool, False),
        r.get(t, "mmrm", "visits", _visits, ()),
        r.get(t, "mmrm", "df", _choice("satterthwaite", "kenward-roger"), "satterthwaite"),
    )


def parse_text(text: str, *, source: str | None = None) -> Protocol:
    """Parse a protocol's TOML text (see :meth:`Protocol.from_toml`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolError([_toml_problem(exc)], source) from None
    return parse(data, source=source, lines=key_lines(text))


def _toml_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    message = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if found is None:
        found_eof = "end of document" in message
        what = re.sub(r"\s*\(at end of document\)", "", message)
        return (
            "",
            None,
            f"not valid TOML: {what}{' at the end of the file' if found_eof else ''}. "
            "Check quotes, brackets and `key = value` syntax.",
        )
    what = re.sub(r"\('([^']*)',\)", r"[\1]", message[: found.start()].strip())
    return (
        "",
        int(found.group(1)),
        f"not valid TOML at column {found.group(2)}: {what[:1].lower()}{what[1:]}. Check "
        "quotes (text needs them), brackets, commas and `key = value` syntax.",
    )
