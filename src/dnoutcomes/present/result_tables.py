"""The results table (adjusted differences across outcomes) and the safety table, as
:class:`~dnoutcomes.present.table.Table` objects built from results, never recomputed."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from dnoutcomes.errors import RequestError
from dnoutcomes.plots._style import (
    arm_label,
    measure_name,
    measure_unit,
    timepoint_label,
)
from dnoutcomes.present.table import Column, Table

__all__ = ["results_table", "safety_table"]

_REQUIRED = ("measure", "timepoint", "estimate", "conf_low", "conf_high")


def _key(arm: str) -> str:
    return re.sub(r"\W", "_", arm)


def _frame_of(result: Any, *, attributes: tuple[str, ...], required: tuple[str, ...]) -> Any:
    """The result itself, or the first of its ``attributes`` that holds one."""
    for name in attributes:
        inner = getattr(result, name, None)
        if inner is not None and not isinstance(result, pd.DataFrame):
            return inner
    return result


def _to_frame(result: Any, required: tuple[str, ...], what: str) -> pd.DataFrame:
    frame = result if isinstance(result, pd.DataFrame) else None
    if frame is None and callable(getattr(result, "to_frame", None)):
        frame = result.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise RequestError(
            f"{what}: expected a result with to_frame() or a frame; got "
            f"{type(result).__name__}. Pass the analysis or its result."
        )
    missing = [c for c in required if c not in frame.columns]
    if missing or frame.empty:
        raise RequestError(
            f"{what}: the frame has no rows or lacks {missing}; expected the columns "
            f"{list(required)}; got {list(frame.columns)}. Pass the right result."
        )
    return frame.reset_index(drop=True)


def results_table(result: Any, *, registry: Any | None = None) -> Table:
    """The comparisons across outcomes: adjusted means, difference with CI, p and Holm p.

    Parameters
    ----------
    result
        An :class:`~dnoutcomes.stats.analysis.Analysis` (its ``ancova``), the outcomes
        result of :func:`~dnoutcomes.stats.compare_outcomes`, or its frame: ``measure``,
        ``timepoint``, ``estimate``, ``conf_low``, ``conf_high`` and, when present, ``n``,
        ``role``, ``adjusted_mean_reference``, ``adjusted_mean_comparator``, ``p_value``,
        ``p_holm``, ``reference``, ``comparator``.
    registry
        The measure registry for names and units (default the contract's).

    Returns
    -------
    Table
        One row per outcome, grouped "Primary outcome" / "Secondary outcomes" when the
        frame has ``role``; the body is the result's frame with ``label``, ``indent`` and
        ``group`` added (numbers untouched).

    Raises
    ------
    RequestError
        When the result holds no such frame.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"measure": ["nprs"], "timepoint": ["discharge"],
    ...     "estimate": [-0.53], "conf_low": [-1.09], "conf_high": [0.02], "p_value": [0.057]})
    >>> results_table(frame).cells().iloc[0].tolist()
    ['NPRS (points), discharge', '−0.53 (−1.09 to 0.02)', '0.057']
    """
    source = _frame_of(result, attributes=("ancova",), required=_REQUIRED)
    frame = _to_frame(source, _REQUIRED, "results table")
    reference = getattr(source, "reference", None) or _first(frame, "reference")
    comparator = getattr(source, "comparator", None) or _first(frame, "comparator")
    body = frame.copy()
    units = body["measure"].astype(str).map(lambda m: measure_unit(m, registry))
    names = body["measure"].astype(str).map(lambda m: measure_name(m, registry, short=True))
    times = body["timepoint"].astype(str).map(lambda t: timepoint_label(t).lower())
    body["label"] = names + units.map(lambda u: f" ({u})" if u else "") + ", " + times
    body["indent"] = 0
    if "role" in body.columns:
        body["group"] = (
            body["role"]
            .map({"primary": "Primary outcome", "secondary": "Secondary outcomes"})
            .fillna("")
        )
        body = body.sort_values("group", kind="stable", key=lambda g: g != "Primary outcome")
    else:
        body["group"] = ""
    columns: list[Column] = []
    if "n" in body.columns:
        columns.append(Column("n", "{n:.0f}"))
    if {"adjusted_mean_reference", "adjusted_mean_comparator"} <= set(body.columns):
        columns += [
            Column(
                arm_label(str(reference or "reference")),
                "{adjusted_mean_reference:.2f}",
                spanner="Adjusted mean",
            ),
            Column(
                arm_label(str(comparator or "comparator")),
                "{adjusted_mean_comparator:.2f}",
                spanner="Adjusted mean",
            ),
        ]
    columns.append(
        Column("Difference (95% CI)", "{estimate:.2f} ({conf_low:.2f} to {conf_high:.2f})")
    )
    if "p_value" in body.columns:
        columns.append(Column("p", "{p_value:p}"))
    if "p_holm" in body.columns:
        columns.append(Column("Holm p", "{p_holm:p}"))
    notes = []
    if reference and comparator:
        notes.append(
            f"Difference: {arm_label(str(comparator))} minus {arm_label(str(reference))}, "
            "adjusted for the baseline value (ANCOVA)."
        )
    if "p_holm" in body.columns:
        notes.append("Holm p: adjusted for the secondary outcomes (Holm's step-down).")
    notes += [str(n) for n in getattr(source, "notes", ()) or ()]
    return Table(
        body=body.reset_index(drop=True),
        columns=tuple(columns),
        caption="Table 2. Adjusted differences between arms",
        stub_label="Outcome",
        footnotes=tuple(notes),
    )


def _first(frame: pd.DataFrame, column: str) -> str | None:
    if column in frame.columns and len(frame) and pd.notna(frame[column].iloc[0]):
        return str(frame[column].iloc[0])
    return None


_SAFETY_SETS = (
    ("by_severity", "severity", "By severity"),
    ("by_type", "type", "By type"),
    ("by_reporter", "reporter", "By reporter"),
)
_RATE_COLUMNS = ("arm", "events", "dn_sessions", "rate_per_100", "conf_low", "conf_high")


def safety_table(safety: Any) -> Table:
    """Adverse events per 100 DN sessions by arm: all events, then by severity, type and
    reporter.

    Parameters
    ----------
    safety
        An :class:`~dnoutcomes.stats.analysis.Analysis` (its ``safety``) or the
        :class:`~dnoutcomes.stats.safety.SafetyResult`: its ``rates`` (``arm``,
        ``episodes``, ``events``, ``dn_sessions``, ``rate_per_100``, ``conf_low``,
        ``conf_high``) and, when present, ``by_severity``, ``by_type``, ``by_reporter``.

    Returns
    -------
    Table
        Rows: "All adverse events", then a group per breakdown with one row per level;
        per arm (spanning header with the arm's episodes and DN sessions) the columns
        "Events" and "Rate per 100 DN sessions (95% CI)". Body columns per arm key ``k``:
        ``events_k``, ``dn_sessions_k``, ``rate_k``, ``low_k``, ``high_k``.

    Raises
    ------
    RequestError
        When the result has no rates.
    """
    source = _frame_of(safety, attributes=("safety",), required=_RATE_COLUMNS)
    from dnoutcomes.stats.safety import SafetyResult

    rates = source.table if isinstance(source, SafetyResult) else getattr(source, "rates", source)
    rates = _to_frame(rates, _RATE_COLUMNS, "safety table")
    arms = [str(a) for a in rates["arm"]]
    parts = [rates.assign(level="All adverse events", group="", indent=0)]
    for attribute, column, title in _SAFETY_SETS:
        frame = getattr(source, attribute, None)
        if isinstance(frame, pd.DataFrame) and not frame.empty and column in frame.columns:
            words = frame[column].astype(str).str.replace("_", " ").str.capitalize()
            parts.append(frame.assign(level=words, group=title, indent=1))
    long = pd.concat(parts, ignore_index=True)
    long["arm"] = long["arm"].astype(str)
    order = long[["group", "level"]].drop_duplicates().reset_index(drop=True)
    wide = long.pivot_table(
        index=["group", "level"],
        columns="arm",
        values=["events", "dn_sessions", "rate_per_100", "conf_low", "conf_high"],
        aggfunc="first",
        sort=False,
    )
    rename = {"rate_per_100": "rate", "conf_low": "low", "conf_high": "high"}
    wide.columns = [
        f"{rename.get(str(pair[0]), str(pair[0]))}_{_key(str(pair[1]))}" for pair in wide.columns
    ]
    body = order.merge(wide.reset_index(), on=["group", "level"], how="left")
    body["label"] = body["level"]
    body["indent"] = (body["group"] != "").astype(int)
    columns: list[Column] = []
    for arm, row in zip(arms, rates.to_dict(orient="records"), strict=True):
        key = _key(arm)
        episodes = f"{int(row['episodes'])} episodes, " if "episodes" in row else ""
        spanner = f"{arm_label(arm)} ({episodes}{int(row['dn_sessions'])} DN sessions)"
        columns += [
            Column("Events", f"{{events_{key}:.0f}}", spanner=spanner),
            Column(
                "Rate per 100 DN sessions (95% CI)",
                f"{{rate_{key}:.1f}} ({{low_{key}:.1f}} to {{high_{key}:.1f}})",
                spanner=spanner,
            ),
        ]
    level = getattr(source, "conf_level", 0.95)
    notes = [
        f"Rate: events per 100 sessions with dry needling; {100 * float(level):g}% exact "
        "Poisson confidence interval.",
        *[str(n) for n in getattr(source, "notes", ()) or ()],
    ]
    return Table(
        body=body,
        columns=tuple(columns),
        caption="Table 3. Adverse events after dry needling by arm",
        stub_label="Adverse events",
        footnotes=tuple(notes),
    )
