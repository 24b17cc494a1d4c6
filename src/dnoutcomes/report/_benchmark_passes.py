"""The computation behind the report's benchmarking section (private): the case-mix frame
and model of the whole export, and the two benchmarking passes per unit over the period's
rows, with the extra units hidden so that no hidden unit's count can be worked back.
:mod:`dnoutcomes.report.benchmarking` renders what these return; the rules are described
there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes._frames import isin
from dnoutcomes.report._context import Context, safe
from dnoutcomes.report.model import Paragraph

__all__: list[str] = []


def _rows_of(frame: pd.DataFrame, episodes: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``episode_id`` is one of ``episodes`` (a result's
    ``episodes_used``), looked up in one Arrow hash pass: ``Series.isin`` with a tuple of
    a million ids turns each into a Python object first (about 4 s at 1M episodes)."""
    return frame.loc[isin(frame["episode_id"].astype(str), episodes)]


def _setup(context: Context) -> tuple[Any, Any, Any, Paragraph | None]:
    """The case-mix frame of the whole export, the fitted model and what the section reads
    again (or why not): ``fitted``, the mask of the frame's rows fitted, ``ids``, the
    frame's episode ids (:func:`_frame_ids`)."""
    from dnoutcomes.cohort import get_measure
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.qi.casemix import _fit_frame, casemix_frame

    protocol = context.protocol or default_protocol()
    spec = protocol.casemix
    measure, timepoint = protocol.casemix_outcome()
    outcome = "improvement" if spec.model == "linear" else "responder"
    end = spec.reference_to or context.period.end.isoformat()

    def compute() -> tuple[pd.DataFrame, Any, Any]:
        frame = casemix_frame(
            context.dataset, measure=measure, timepoint=timepoint, covariates=spec.covariates
        )
        mcid = float(get_measure(context.dataset, measure).mcid_points)  # type: ignore[arg-type]
        ids = _frame_ids(context, frame)
        # fit_casemix(frame, ...) itself, which also says which rows it fitted
        model, fitted = _fit_frame(
            frame,
            measure=measure,
            timepoint=timepoint,
            covariates=tuple(spec.covariates),
            outcome=outcome,  # type: ignore[arg-type]
            window=(spec.reference_from, end),
            conf_level=0.95,
            threshold=mcid,
            ids=ids,
        )
        return frame, model, {"fitted": fitted, "ids": ids}

    result, failure = safe("The case-mix model", compute, context)
    if failure is not None:
        return None, None, None, failure
    return result[0], result[1], result[2], None


def _frame_ids(context: Context, frame: pd.DataFrame) -> Any:
    """The case-mix frame's episode ids, once, as an object array of the interned strings
    the results' ``episodes_used`` list (every result's is then a selection of them), when
    they are those of the dataset's episodes, one row each, every id there and none twice
    (as in a loaded dataset: then a row mask and the ids it selects say the same);
    ``None`` otherwise, and each result converts its own."""
    from dnoutcomes.cohort._codes import episode_codes
    from dnoutcomes.stats.results import id_array

    codes = episode_codes(context.dataset, "episodes")
    if len(codes) != len(frame) or not len(codes) or codes.min() < 0:
        return None
    if np.bincount(codes).max() > 1:
        return None
    return id_array(frame["episode_id"])


def _benchmark(
    frame: pd.DataFrame,
    model: Any,
    by: str,
    period: tuple[str, str],
    context: Context,
    force: frozenset[str] = frozenset(),
    shared: dict[str, Any] | None = None,
) -> tuple[Any | None, list[str], tuple[str, ...]]:
    """Benchmark twice: once to find the suppressed units (and those in ``force``), then
    without their episodes, so that the funnels' centres and spreads describe only the
    units shown. ``frame`` holds the period's rows (:func:`_in_period`; benchmark() keeps
    them all); ``shared`` what every unit's first pass over them shares (:func:`_shared`).
    Returns the result (``None`` when every unit is hidden), the hidden units and the
    episodes of the first pass."""
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.qi.benchmark import _benchmark_frame

    method = (context.protocol or default_protocol()).casemix.overdispersion
    common: dict[str, Any] = {
        "by": by,
        "period": period,
        "min_cell": context.min_cell,
        "overdispersion": method,
    }
    found = _shared(frame, model, {} if shared is None else shared)
    first = _benchmark_frame(frame, model, **common, **found)
    units = first.frame["unit"].astype(str)
    hidden = sorted(set(units[first.frame["suppressed"]]) | (set(units) & force))
    if hidden and set(hidden) <= set(units[first.frame["suppressed"]]):
        hidden = _with_complement(first, frame, by, hidden)
    if len(hidden) == len(first.frame):  # nothing to show
        return None, hidden, first.episodes_used
    if not hidden:
        return first, hidden, first.episodes_used
    left = ~frame[by].astype("string").isin(hidden).fillna(False).to_numpy(dtype=bool)
    ids = found["ids"]
    # the model applied to these rows afresh (not a selection of the first pass's expected
    # values), exactly as benchmark() of them computes it
    again = _benchmark_frame(
        frame.loc[left], model, **common, ids=None if ids is None else ids[left]
    )
    return again, hidden, first.episodes_used


def _shared(frame: pd.DataFrame, model: Any, cache: dict[str, Any]) -> dict[str, Any]:
    """What every unit's first pass over the period's rows ``frame`` computes alike, built
    at the first (inside its ``safe``) and kept in ``cache``: the model's expected values
    and the episode ids (interned strings, once, rather than a million ids converted
    again for each unit and pass; ``None`` when an id is missing)."""
    from dnoutcomes.stats.results import id_array

    if "expected" not in cache:
        cache["expected"] = model.expected(frame)
    if "ids" not in cache:
        ids = frame["episode_id"] if "episode_id" in frame.columns else None
        cache["ids"] = id_array(ids) if ids is not None and bool(ids.notna().all()) else None
    return cache


def _in_period(
    frame: pd.DataFrame, model: Any, period: tuple[str, str]
) -> tuple[pd.DataFrame, Any]:
    """The rows of ``frame`` discharged in ``period``, with the columns the benchmarking
    reads (the model's, the units', the ids, the discharge date): taken once for both
    units' passes and look-ups, rather than every column of every episode of the export
    copied again for each unit; and the mask of ``frame``'s rows taken."""
    from dnoutcomes.qi.casemix import _in_window

    wanted = [
        "episode_id",
        "end_date",
        "therapist_id",
        "site_id",
        model.outcome,
        *(column for column, _ in model.design.columns),
    ]
    columns = [c for c in dict.fromkeys(wanted) if c in frame.columns]
    rows = _in_window(frame, period)[0].to_numpy(dtype=bool)
    return frame.loc[rows, columns], rows


def _with_complement(first: Any, frame: pd.DataFrame, by: str, hidden: list[str]) -> list[str]:
    """The hidden units and one more: the smallest shown one (a therapist of the same site
    as a hidden one when there is such), so that the total of every unit, which other
    tables nearly give (the months behind the control charts), less the units shown cannot
    pin a hidden unit's count."""
    table = first.frame
    shown = table.loc[~table["unit"].isin(hidden)]
    if shown.empty:
        return hidden
    candidates = shown
    if by == "therapist_id" and "site_id" in frame.columns:
        used = _rows_of(frame, first.episodes_used)
        site_of = used.groupby(used[by].astype(str))["site_id"].agg(
            lambda s: str(s.astype(str).mode().iloc[0])
        )
        near = shown.loc[shown["unit"].map(site_of).isin(set(site_of.reindex(hidden).dropna()))]
        if len(near):
            candidates = near
    pick = candidates.sort_values(["n", "unit"], kind="stable")["unit"].iloc[0]
    return sorted([*hidden, str(pick)])


def _sites_giving_back(
    frame: pd.DataFrame, used: tuple[str, ...], hidden: list[str], model: Any, min_cell: int
) -> frozenset[str]:
    """Sites whose figures, less those of their therapists shown, would give the hidden
    therapists' back: one hidden therapist at the site (her episodes are the difference),
    or hidden episodes (responders, non-responders) from 1 to ``min_cell − 1`` in all."""
    if not hidden:
        return frozenset()
    rows = _rows_of(frame, used)
    rows = rows.loc[rows["therapist_id"].astype(str).isin(hidden)]
    if rows.empty:
        return frozenset()
    grouped = rows.groupby(rows["site_id"].astype(str))
    observed = rows[model.outcome].astype(float)
    table = pd.DataFrame(
        {
            "therapists": grouped["therapist_id"].nunique(),
            "episodes": grouped.size(),
            "events": observed.groupby(rows["site_id"].astype(str)).sum(),
        }
    )

    def small(c: pd.Series) -> pd.Series:
        return (c > 0) & (c < min_cell)

    risky = (table["therapists"] == 1) | small(table["episodes"])
    if model.outcome == "responder":
        risky |= small(table["events"]) | small(table["episodes"] - table["events"])
    return frozenset(table.index[risky].astype(str))
