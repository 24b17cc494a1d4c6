"""One suppression pass over the whole report: the counts of every table, the analyses'
``n`` and the relations a reader knows *between* tables.

Each section suppresses its own tables (:func:`dnoutcomes.qi.suppress_counts`,
:func:`dnoutcomes.report._flow_cells.protect_flow`); a count hidden in one table can still
be worked back from another (Table 1's "Condition: other" against the caseload by
condition, the ANCOVA's ``n`` per arm against the flow's "analysed", the funnel's totals
against the monthly table). :func:`protect_report` collects every published count cell of
the built report, states the relations between them (below), and with
:func:`dnoutcomes.qi.disclosure.ranges` hides further cells until no hidden small count is
fixed by them. A figure derived from a count that this pass hides (a share, a rate, a chart
point, the funnel's overall share) is hidden with it, so a derived value never publishes a
relation of its own.

Relations (``=`` between cells, ``Σ`` over the rows of a table):

* flow: within an arm, a stage is the stage before minus those left out; the compared
  arms' first stages add up to the "all" row;
* caseload (site, therapist, condition): episodes = reference + comparator + other arms;
  the "All" row is the sum of the rows; "All" equals the flow's loaded episodes, its arms
  equal the flow's first stage of each arm and its other arms the flow's left-out count;
* Table 1: sex, condition, chronicity and site levels add up to the arm's episodes, which
  equal the caseload's; a condition or site level equals the caseload row of that name;
* headline: episodes this period = the caseload's "All"; change = this − previous;
* analyses: ANCOVA ``n`` = ``n_reference`` + ``n_comparator``; the comparisons table's
  ``n`` is the ANCOVA's; the primary ANCOVA's ``n`` per arm and the responders' ``n`` equal
  the flow's "analysed";
* safety: an arm's events are the sum of its severities; its episodes are the flow's first
  stage;
* charts: the funnel's episodes and responders add up to the monthly table's over the same
  months.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from dnoutcomes.qi.cells import small_mark
from dnoutcomes.qi.disclosure import Relation, ranges
from dnoutcomes.report.model import HIDDEN, Figure, Paragraph, Section, Table

__all__ = ["protect_report"]

Cell = tuple[str, int, str]

_TOL = 1e-7

#: Count columns of each table.
COUNTS: dict[str, tuple[str, ...]] = {
    "headline": ("this_period", "previous_period", "change"),
    "patient_flow": ("n", "excluded"),
    "caseload_site_id": ("episodes", "reference", "comparator", "other_arms"),
    "caseload_therapist_id": ("episodes", "reference", "comparator", "other_arms"),
    "caseload_condition": ("episodes", "reference", "comparator", "other_arms"),
    "table1": ("reference_value", "comparator_value"),
    "comparisons": ("n",),
    "responders": ("n", "responders"),
    "safety_rates": ("episodes", "events"),
    "safety_severity": ("events",),
    "spc_monthly": ("episodes", "responders", "adverse_events"),
    "funnel": ("events", "n"),
    "ancova": ("n", "n_reference", "n_comparator"),
    "benchmark_therapist_id": ("n",),
    "benchmark_site_id": ("n",),
}

#: Derived columns hidden with the count they are computed from: ``{table: {column:
#: (count columns)}}``; ``"*"`` is any count of the row.
FOLLOW: dict[str, dict[str, tuple[str, ...]]] = {
    "caseload_site_id": {"pct": ("episodes",), "median_visits": ("episodes",)},
    "caseload_therapist_id": {"pct": ("episodes",), "median_visits": ("episodes",)},
    "caseload_condition": {"pct": ("episodes",), "median_visits": ("episodes",)},
    "table1": {
        "reference_spread": ("reference_value",),
        "comparator_spread": ("comparator_value",),
        "smd": ("reference_value", "comparator_value"),
    },
    "responders": {"pct": ("n", "responders")},
    "safety_rates": {
        "rate_per_100": ("events",),
        "conf_low": ("events",),
        "conf_high": ("events",),
    },
    "spc_monthly": {
        "mean_improvement": ("episodes",),
        "share_pct": ("episodes", "responders"),
        "rate_per_100": ("adverse_events",),
    },
    "funnel": {"share": ("events", "n"), "position": ("events", "n")},
    "ancova": {
        "adjusted_mean_reference": ("n_reference",),
        "adjusted_mean_comparator": ("n_comparator",),
    },
    "benchmark_therapist_id": {
        c: ("n",)
        for c in (
            "observed",
            "expected",
            "estimate",
            "conf_low",
            "conf_high",
            "oe_ratio",
            "oe_conf_low",
            "oe_conf_high",
        )
    },
    "benchmark_site_id": {
        c: ("n",)
        for c in (
            "observed",
            "expected",
            "estimate",
            "conf_low",
            "conf_high",
            "oe_ratio",
            "oe_conf_low",
            "oe_conf_high",
        )
    },
}

#: Tables behind a figure: a cell hidden here takes the figure with it, so such cells are
#: hidden only when no cell of another table would do.
_FIGURE_TABLES = frozenset({"spc_monthly", "funnel", "patient_flow"})


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return None
    number = float(value)
    return number if np.isfinite(number) else None


class _Cells:
    """The count cells of the report: published numbers and hidden ones."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], min_cell: int) -> None:
        self.frames = frames
        self.min_cell = min_cell
        self.values: dict[Cell, float] = {}
        self.primary: set[Cell] = set()
        self.hidden: set[Cell] = set()
        small = small_mark(min_cell)
        for key, frame in frames.items():
            for column in COUNTS.get(key, ()):
                if column not in frame.columns:
                    continue
                for i, value in enumerate(frame[column].tolist()):
                    if key == "table1" and not _is_count_row(frame, i):
                        continue
                    if key == "headline" and i != 0:
                        continue
                    cell = (key, i, column)
                    number = _number(value)
                    if number is not None:
                        self.values[cell] = number
                    elif value == small:
                        self.values[cell] = 1.0
                        self.primary.add(cell)
                    elif value == HIDDEN:
                        self.values[cell] = 0.0
                        self.hidden.add(cell)
        self.relations: list[Relation] = []

    def known(self, cell: Cell) -> bool:
        return cell in self.values

    def total(self, total: Cell, parts: Iterable[Cell]) -> None:
        parts = list(parts)
        if parts and all(self.known(c) for c in [total, *parts]):
            self.relations.append(Relation.total(total, parts))

    def equal(self, a: Cell, b: Cell) -> None:
        self.total(a, [b])


def _is_count_row(frame: pd.DataFrame, i: int) -> bool:
    return str(frame["summary"].iloc[i]) in ("n", "n (%)") if "summary" in frame else False


def _row(frame: pd.DataFrame | None, **match: Any) -> int | None:
    if frame is None:
        return None
    hit = np.ones(len(frame), dtype=bool)
    for column, value in match.items():
        if column not in frame.columns:
            return None
        hit &= (frame[column].astype(str) == str(value)).to_numpy()
    positions = np.flatnonzero(hit)
    return int(positions[0]) if len(positions) else None


def _declare(cells: _Cells, reference: str, comparator: str) -> None:
    frames = cells.frames
    flow = frames.get("patient_flow")
    if flow is not None:
        arms: dict[str, list[int]] = {}
        for i, arm in enumerate(flow["arm"].astype(str)):
            arms.setdefault(arm, []).append(i)
        for index in arms.values():
            for before, after in zip(index, index[1:], strict=False):
                ok = all(
                    cells.known(c)
                    for c in (
                        ("patient_flow", before, "n"),
                        ("patient_flow", after, "n"),
                        ("patient_flow", after, "excluded"),
                    )
                )
                if ok:
                    cells.relations.append(
                        Relation(
                            (
                                (("patient_flow", before, "n"), 1.0),
                                (("patient_flow", after, "excluded"), -1.0),
                                (("patient_flow", after, "n"), -1.0),
                            )
                        )
                    )
        firsts = [("patient_flow", index[0], "n") for arm, index in arms.items() if arm != "all"]
        if "all" in arms:
            cells.total(("patient_flow", arms["all"][-1], "n"), firsts)
    loaded = _row(flow, arm="all", stage="loaded")
    compared = _row(flow, arm="all", stage="in_compared_arms")
    first = {arm: _row(flow, arm=arm) for arm in (reference, comparator)}
    analysed = {arm: _row(flow, arm=arm, stage="analysed") for arm in (reference, comparator)}
    side = {"reference": reference, "comparator": comparator}
    for key in ("caseload_site_id", "caseload_therapist_id", "caseload_condition"):
        frame = frames.get(key)
        if frame is None or frame.empty:
            continue
        last = len(frame) - 1
        for i in range(len(frame)):
            cells.total(
                (key, i, "episodes"),
                [(key, i, c) for c in ("reference", "comparator", "other_arms")],
            )
        for column in ("episodes", "reference", "comparator", "other_arms"):
            cells.total((key, last, column), [(key, i, column) for i in range(last)])
        if loaded is not None:
            cells.equal((key, last, "episodes"), ("patient_flow", loaded, "n"))
        for column, arm in side.items():
            start = first[arm]
            if start is not None:
                cells.equal((key, last, column), ("patient_flow", start, "n"))
        if compared is not None:
            cells.equal((key, last, "other_arms"), ("patient_flow", compared, "excluded"))
    site = frames.get("caseload_site_id")
    if site is not None and not site.empty and "headline" in frames:
        cells.equal(("headline", 0, "this_period"), ("caseload_site_id", len(site) - 1, "episodes"))
        cells.total(
            ("headline", 0, "this_period"),
            [("headline", 0, "previous_period"), ("headline", 0, "change")],
        )
    table1 = frames.get("table1")
    episodes = _row(table1, characteristic="Episodes")
    if table1 is not None and episodes is not None:
        labels = table1["characteristic"].astype(str)
        for value, column in (("reference_value", "reference"), ("comparator_value", "comparator")):
            for group in ("Sex: ", "Condition: ", "Chronicity: ", "Site: "):
                members = np.flatnonzero(labels.str.startswith(group).to_numpy())
                cells.total(
                    ("table1", episodes, value), [("table1", int(i), value) for i in members]
                )
            if site is not None and not site.empty:
                cells.equal(
                    ("table1", episodes, value), ("caseload_site_id", len(site) - 1, column)
                )
            for key, group, label in (
                ("caseload_condition", "Condition: ", "condition"),
                ("caseload_site_id", "Site: ", "site_id"),
            ):
                frame = frames.get(key)
                if frame is None:
                    continue
                for j, name in enumerate(frame[label].astype(str)):
                    level = _row(table1, characteristic=group + name.replace("_", " "))
                    if level is None:
                        level = _row(table1, characteristic=group + name)
                    if level is not None:
                        cells.equal(("table1", level, value), (key, j, column))
    ancova = frames.get("ancova")
    if ancova is not None:
        for i in range(len(ancova)):
            cells.total(
                ("ancova", i, "n"), [("ancova", i, "n_reference"), ("ancova", i, "n_comparator")]
            )
            cells.equal(("comparisons", i, "n"), ("ancova", i, "n"))
        for column, arm in (("n_reference", reference), ("n_comparator", comparator)):
            stage = analysed[arm]
            if stage is not None and len(ancova):
                cells.equal(("ancova", 0, column), ("patient_flow", stage, "n"))
    responders = frames.get("responders")
    for arm in (reference, comparator):
        row, stage = _row(responders, arm=arm), analysed[arm]
        if row is not None and stage is not None:
            cells.equal(("responders", row, "n"), ("patient_flow", stage, "n"))
    rates = frames.get("safety_rates")
    severity = frames.get("safety_severity")
    if rates is not None:
        for i, arm in enumerate(rates["arm"].astype(str)):
            if severity is not None:
                parts = np.flatnonzero((severity["arm"].astype(str) == arm).to_numpy())
                cells.total(
                    ("safety_rates", i, "events"),
                    [("safety_severity", int(j), "events") for j in parts],
                )
            start = first.get(arm)
            if start is not None:
                cells.equal(("safety_rates", i, "episodes"), ("patient_flow", start, "n"))
    # The benchmarking tables list every unit (hidden ones with "[c]"): both add up to the
    # episodes the case-mix model was fitted on, so the two totals are equal.
    by_therapist = frames.get("benchmark_therapist_id")
    by_site = frames.get("benchmark_site_id")
    if by_therapist is not None and by_site is not None and len(by_therapist) and len(by_site):
        terms = [(("benchmark_therapist_id", i, "n"), 1.0) for i in range(len(by_therapist))]
        terms += [(("benchmark_site_id", j, "n"), -1.0) for j in range(len(by_site))]
        if all(cells.known(c) for c, _ in terms):
            cells.relations.append(Relation(tuple(terms)))
    monthly = frames.get("spc_monthly")
    funnel = frames.get("funnel")
    if monthly is not None and funnel is not None and len(funnel):
        for mine, theirs in (("n", "episodes"), ("events", "responders")):
            terms = [(("funnel", i, mine), 1.0) for i in range(len(funnel))]
            terms += [(("spc_monthly", j, theirs), -1.0) for j in range(len(monthly))]
            if all(cells.known(c) for c, _ in terms):
                cells.relations.append(Relation(tuple(terms)))


def _choose(cell: Cell, cells: _Cells, shut: set[Cell]) -> Cell | None:
    """The published cell to hide next: the smallest non-zero one linked to ``cell``
    (directly or through hidden cells), preferring tables without a figure."""
    component = {cell}
    candidates: list[Cell] = []
    changed = True
    while changed:
        changed = False
        for relation in cells.relations:
            members = [c for c, _ in relation.terms]
            if not any(c in component for c in members):
                continue
            for other in members:
                if other in shut and other not in component:
                    component.add(other)
                    changed = True
                elif other not in shut and other not in candidates:
                    candidates.append(other)  # type: ignore[arg-type]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (
            c[0] in _FIGURE_TABLES,
            cells.values[c] == 0,
            cells.values[c],
            repr(c),
        ),
    )


def _newly_hidden(cells: _Cells) -> set[Cell]:
    shut = cells.primary | cells.hidden
    added: set[Cell] = set()
    for _ in range(len(cells.values) + 1):
        spans = ranges(
            cells.values,
            cast("set[Hashable]", shut),
            cast("set[Hashable]", cells.primary),
            cells.relations,
            cells.min_cell,
        )
        exposed = sorted((c for c, (lo, hi) in spans.items() if not (hi - lo > _TOL)), key=repr)
        if not exposed:
            break
        choice = _choose(exposed[0], cells, shut)  # type: ignore[arg-type]
        if choice is None:
            break
        shut.add(choice)
        added.add(choice)
    return added


def _apply(frame: pd.DataFrame, key: str, rows_columns: Iterable[tuple[int, str]]) -> pd.DataFrame:
    out = frame.copy()
    follow = FOLLOW.get(key, {})
    for i, column in rows_columns:
        values = out[column].astype(object)
        values.iloc[i] = HIDDEN
        out[column] = values
        for derived, sources in follow.items():
            if column in sources and derived in out.columns:
                values = out[derived].astype(object)
                values.iloc[i] = HIDDEN
                out[derived] = values
    return out


_CHARTS_WITHHELD = (
    "The control charts are not drawn: a count they would show has been hidden so that a "
    "count below {min_cell} elsewhere in this report cannot be worked back; the table shows "
    "the months suppressed."
)
_FUNNEL_WITHHELD = (
    "The funnel plot, the overall share and the therapists outside the limits are not shown: "
    "a count they would show has been hidden so that a count below {min_cell} elsewhere in "
    "this report cannot be worked back. The table shows them suppressed."
)


def _rebuild_section(
    section: Section, tables: Mapping[str, pd.DataFrame], hit: set[str], min_cell: int
) -> Section:
    blocks: list[Any] = []
    for block in section.blocks:
        if isinstance(block, Table) and block.key in tables:
            blocks.append(dataclasses.replace(block, frame=tables[block.key]))
        else:
            blocks.append(block)
    if section.key == "control_charts" and "spc_monthly" in hit:
        at = next(
            i for i, b in enumerate(blocks) if isinstance(b, Table) and b.key == "spc_monthly"
        )
        start = 1
        if (
            len(blocks) > 1
            and isinstance(blocks[1], Paragraph)
            and blocks[1].text.startswith("The charts are drawn by quarter")
        ):
            start = 2
        blocks = [
            *blocks[:start],
            Paragraph(_CHARTS_WITHHELD.format(min_cell=min_cell)),
            *blocks[at:],
        ]
    if section.key == "funnel" and "funnel" in hit:
        kept: list[Any] = []
        for block in blocks:
            if isinstance(block, Figure):
                continue
            if isinstance(block, Paragraph):
                if block.text.startswith(
                    ("No therapist lies", "Outside the 99.8", "The funnel plot")
                ):
                    continue
                text = re.sub(r" Overall share [\d.]+ %; a", " A", block.text)
                block = dataclasses.replace(block, text=text)
            if isinstance(block, Table):
                kept.append(Paragraph(_FUNNEL_WITHHELD.format(min_cell=min_cell)))
            kept.append(block)
        blocks = kept
    if section.key == "flow" and "patient_flow" in hit:
        blocks = [b for b in blocks if not isinstance(b, Figure)]
    if section.key == "comparisons" and hit & {"comparisons", "ancova"}:
        blocks = [
            dataclasses.replace(
                b, text=re.sub(r"\b\d+ (episodes without both)", r"Some \1", b.text)
            )
            if isinstance(b, Paragraph) and b.text.startswith("Notes:")
            else b
            for b in blocks
        ]
    return dataclasses.replace(section, blocks=tuple(blocks))


_NEEDLED_DESPITE = re.compile(r"(despite a recorded contraindication in )\d+ episodes\.")


def _withhold_needled_despite(
    sections: list[Section], table1: pd.DataFrame | None, min_cell: int
) -> list[Section]:
    """The safety section's count of episodes needled despite a contraindication, withheld
    when Table 1 hides an arm's "Contraindications: any": both compared arms are needled
    and the other arms rarely are, so that count minus the shown arm's would give the
    hidden one (15 needled, 12 shown in the comparator: the reference's hidden 3).

    The relation is not exact (other arms, episodes not needled), so it is not one the
    linear pass can state; the count is withheld whenever it could close it."""
    row = _row(table1, characteristic="Contraindications: any")
    if table1 is None or row is None:
        return sections
    values = [table1[c].iloc[row] for c in ("reference_value", "comparator_value")]
    if all(_number(v) is not None for v in values):
        return sections
    words = (
        r"\1some episodes (the number is not shown: with Table 1 it would give back a count "
        f"below {min_cell})."
    )
    out = []
    for section in sections:
        if section.key == "safety":
            blocks = tuple(
                dataclasses.replace(b, text=_NEEDLED_DESPITE.sub(words, b.text))
                if isinstance(b, Paragraph)
                else b
                for b in section.blocks
            )
            section = dataclasses.replace(section, blocks=blocks)
        out.append(section)
    return out


def protect_report(
    sections: list[Section],
    extra: dict[str, Any],
    spc: dict[str, Any],
    *,
    reference: str,
    comparator: str,
    min_cell: int,
) -> tuple[list[Section], dict[str, Any], dict[str, Any]]:
    """Hide further counts until no hidden small count of the report can be worked back
    from its published counts by the relations between its tables.

    Parameters
    ----------
    sections, extra, spc
        The built sections, the JSON results and the control-chart blocks (each section
        already suppressed on its own).
    reference, comparator
        The arms compared.
    min_cell
        The threshold.

    Returns
    -------
    (sections, extra, spc)
        New objects; the inputs are not changed. Hidden cells are :data:`HIDDEN`; the
        figures, chart blocks, overall share and note counts that would give one back are
        withheld.
    """
    frames: dict[str, pd.DataFrame] = {}
    for section in sections:
        for table in section.tables:
            if table.key in COUNTS:
                frames[table.key] = table.frame.reset_index(drop=True)
    ancova = extra.get("ancova")
    if isinstance(ancova, list) and ancova:
        frames["ancova"] = pd.DataFrame(ancova)
    cells = _Cells(frames, min_cell)
    _declare(cells, reference, comparator)
    added = _newly_hidden(cells)
    if not added:
        return _withhold_needled_despite(sections, frames.get("table1"), min_cell), extra, spc
    by_table: dict[str, list[tuple[int, str]]] = {}
    for key, i, column in added:
        by_table.setdefault(key, []).append((i, column))
    changed = {key: _apply(frames[key], key, rows) for key, rows in by_table.items()}
    hit = set(changed)
    out_sections = [_rebuild_section(s, changed, hit, min_cell) for s in sections]
    out_sections = _withhold_needled_despite(
        out_sections, changed.get("table1", frames.get("table1")), min_cell
    )
    out_extra = dict(extra)
    if "ancova" in changed:
        records = changed["ancova"].to_dict(orient="records")
        out_extra["ancova"] = [
            {k: v for k, v in r.items() if k in original}
            for r, original in zip(records, ancova, strict=True)  # type: ignore[arg-type]
        ]
    out_spc = dict(spc)
    if "spc_monthly" in hit:
        for key, block in spc.items():
            if isinstance(block, dict) and "withheld" not in block:
                out_spc[key] = {
                    "unit": block.get("unit", "month"),
                    "withheld": _CHARTS_WITHHELD.format(min_cell=min_cell),
                }
    if "funnel" in hit and isinstance(extra.get("funnel"), dict):
        out_extra["funnel"] = {**extra["funnel"], "target": None}
    return out_sections, out_extra, out_spc
