"""Reading a study protocol: TOML text → checked :class:`~dnoutcomes.protocol.Protocol`.

:func:`key_lines` finds the line of every key (``tomllib`` gives none); :func:`parse`
turns the parsed mapping into a protocol, collecting every problem before raising one
:class:`~dnoutcomes.errors.ProtocolError`. Writing (``to_dict``, TOML text, the commented
built-in file) lives in :mod:`dnoutcomes._protocol_write`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from dnoutcomes._protocol_casemix import parse_casemix
from dnoutcomes._protocol_measures import parse_measure, parse_responders
from dnoutcomes._protocol_routine import (
    check_aipw,
    parse_clustering,
    parse_missing_data,
    parse_mmrm,
)
from dnoutcomes._protocol_specs import (
    MedicationSpec,
    OutcomeSpec,
    ReportSpec,
    TimeToResponseSpec,
    TrajectorySpec,
    WeightingSpec,
)
from dnoutcomes._protocol_values import (
    TIMEPOINTS,
    Problem,
    _Bad,
    _bool,
    _choice,
    _fraction_below_half,
    _kind,
    _later,
    _name,
    _names,
    _positive,
    _Reader,
    _text,
    _timepoints,
    _unknown_measure,
    _weeks,
    _whole,
    derived_covariate,
)
from dnoutcomes.contract.measures import Measure, default_registry
from dnoutcomes.errors import ProtocolError
from dnoutcomes.protocol import Protocol

__all__ = ["TIMEPOINTS", "derived_covariate", "key_lines", "parse", "parse_text"]

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


# ---------------------------------------------------------------------------------------
# Parsing


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
        measure = parse_measure(r, entry, f"measures.{i}")
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
    responders = parse_responders(r, data, names, declared, known)
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
        check_aipw(r, primary, estimand, weights)
    elif trim is not None:
        r.add("weighting.trim", 'trim applies to method = "aipw"; set it or remove trim.')
    medication_t = r.table(data, "medication", ("timepoint",))
    medication = MedicationSpec(r.get(medication_t, "medication", "timepoint", _later, None))
    report_t = r.table(data, "report", ("min_cell",))
    min_cell = r.get(report_t, "report", "min_cell", _min_cell, 11)
    casemix = parse_casemix(r, data, names)
    deid = r.table(data, "deidentification", ("allow_columns",))
    allow = r.get(deid, "deidentification", "allow_columns", _names, ())
    missing = parse_missing_data(r, data, names, primary)
    mmrm = parse_mmrm(r, data)
    clustering = parse_clustering(r, data)
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
