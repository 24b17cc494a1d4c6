"""The report's benchmarking section: each therapist's and each site's outcomes against
those expected for her own patients (case-mix adjusted), beside the unadjusted comparison.

The case-mix model (:func:`dnoutcomes.qi.casemix.fit_casemix`) is fitted on the whole
export (every site: what a typical clinician achieves with such patients), on the
protocol's reference window (``[casemix] reference_from``/``reference_to``; by default every
discharge up to the report period's end, never later). The units are compared over the
same trailing window as the control charts (24 months up to the period's end), at the
site reported (:func:`dnoutcomes.qi.benchmark.benchmark`), with Spiegelhalter's
overdispersion-corrected funnels of the adjusted and the raw indicator side by side.

Small numbers: a unit with fewer than ``min_cell`` episodes (or, for the responder model,
responders or non-responders) is listed with every figure hidden, and its episodes are
left out of both funnels *and of their centre lines* (the raw funnel's centre is then the
mean of the units shown, which gives nothing of a hidden unit back). One more unit, the
smallest shown (of the same site, for a therapist), is hidden with them, so that the total
of every unit — which the months behind the control charts nearly give — less the units
shown cannot pin a hidden unit's count. A site is hidden too
when its figures less those of its therapists shown would give a hidden therapist's back
(one hidden therapist there, or 1 to ``min_cell − 1`` hidden episodes, responders or
non-responders in all). The model's fit is
published without its number of episodes, and a calibration decile of fewer than
``min_cell`` episodes is hidden.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnoutcomes._frames import isin
from dnoutcomes.report._context import (
    Context,
    SectionOutcome,
    figure_block,
    safe,
    suppress_text,
)
from dnoutcomes.report.charts import chart_window
from dnoutcomes.report.model import HIDDEN, Paragraph, Section, Table

__all__ = ["BENCHMARK_MODES", "benchmarking_section"]

#: The report's ``benchmark`` choices: the case-mix adjusted section, or the raw funnel.
BENCHMARK_MODES: tuple[str, ...] = ("adjusted", "raw")

_UNITS: tuple[tuple[str, str], ...] = (("therapist_id", "therapist"), ("site_id", "site"))


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


def _unit_table(result: Any, hidden: list[str], by: str, word: str, responder: bool) -> Table:
    frame = result.frame.copy()
    frame = frame.loc[~frame["unit"].isin(hidden)]
    adjusted = result.adjusted.frame.set_index("unit") if result.adjusted is not None else None
    raw = result.raw.frame.set_index("unit") if result.raw is not None else None
    columns = ["unit", "n", "observed", "expected", "estimate", "conf_low", "conf_high"]
    if responder:
        columns += ["oe_ratio", "oe_conf_low", "oe_conf_high"]
    out = frame[columns].copy()
    out["n"] = out["n"].astype("float64")
    if responder:
        for column in ("observed", "expected", "estimate", "conf_low", "conf_high"):
            out[column] = 100 * out[column]
    units = out["unit"]
    out["z_adjusted"] = units.map(adjusted["z"]) if adjusted is not None else np.nan
    out["adjusted_position"] = units.map(adjusted["position"]) if adjusted is not None else ""
    out["raw_position"] = units.map(raw["position"]) if raw is not None else ""
    if hidden:
        blank = pd.DataFrame({"unit": hidden})
        for column in out.columns.drop("unit"):
            blank[column] = HIDDEN
        out = pd.concat([out.astype(object), blank], ignore_index=True)
        out = out.sort_values("unit", kind="stable").reset_index(drop=True)
    points = "percentage points" if responder else "points"
    labels = {
        "unit": word.capitalize(),
        "n": "Episodes",
        "observed": "Observed (% responders)" if responder else "Observed improvement",
        "expected": "Expected (% responders)" if responder else "Expected improvement",
        "estimate": "Observed − expected",
        "conf_low": "95 % CI from",
        "conf_high": "95 % CI to",
        "oe_ratio": "O/E responders",
        "oe_conf_low": "O/E 95 % CI from",
        "oe_conf_high": "O/E 95 % CI to",
        "z_adjusted": "z (adjusted)",
        "adjusted_position": "Adjusted funnel",
        "raw_position": "Raw funnel",
    }
    formats: dict[str, Any] = {
        "n": "int",
        "observed": "f2",
        "expected": "f2",
        "estimate": "f2",
        "conf_low": "f2",
        "conf_high": "f2",
        "oe_ratio": "f2",
        "oe_conf_low": "f2",
        "oe_conf_high": "f2",
        "z_adjusted": "f2",
    }
    return Table(
        key=f"benchmark_{by}",
        title=f"Observed against expected per {word} (case-mix adjusted)",
        frame=out.rename(columns={"unit": by}),
        labels={by if k == "unit" else k: v for k, v in labels.items()},
        formats=formats,
        note=(
            f"Observed − expected in {points}, with its 95 % t-interval"
            + ("; O/E: observed over expected responders, 1 = as expected" if responder else "")
            + ". Position against the 99.8 % (outer) and 95 % (inner) limits of the "
            "overdispersion-corrected funnels. "
            + (
                f"[c]: a {word} with fewer than the threshold of episodes"
                + (", responders or non-responders" if responder else "")
                + f", or hidden so that such a {word} cannot be worked back"
                + (
                    ", or whose figures less its therapists' would give a hidden therapist's back"
                    if by == "site_id"
                    else ""
                )
                + "; its figures are hidden and it is left out of the funnels."
                if hidden
                else ""
            )
        ).strip(),
    )


def _funnel_sentence(result: Any, word: str) -> str:
    adjusted = result.flagged(adjusted=True)
    raw = result.flagged(adjusted=False)
    funnel = result.adjusted
    spread = (
        f"φ = {funnel.phi:.2f}, τ² = {funnel.tau2:.3g} ({funnel.method} correction)"
        if funnel is not None
        else ""
    )
    flagged = (
        f"Outside the 99.8 % limits of the adjusted funnel: {', '.join(adjusted)}."
        if adjusted
        else f"No {word} lies outside the 99.8 % limits of the adjusted funnel."
    )
    explained = [u for u in raw if u not in adjusted]
    extra = (
        f" Outside the raw funnel's 99.8 % limits but not the adjusted one's (case mix "
        f"explains the gap): {', '.join(explained)}."
        if explained
        else ""
    )
    return f"{flagged}{extra} Between-{word} spread: {spread}."


def _coefficients(
    model: Any, frame: pd.DataFrame, context: Context, fitted: Any = None
) -> pd.DataFrame:
    """The coefficients, a category level's hidden when fewer than ``min_cell`` fitted
    episodes have it (its coefficient would describe those few patients). ``fitted``: the
    mask of ``frame``'s rows fitted, when known (else they are looked up by id)."""
    from dnoutcomes.qi._casemix_design import _level_positions

    coef = model.table[["term", "estimate", "std_error", "conf_low", "conf_high"]]
    coef = coef.reset_index(drop=True).astype(object)
    columns = list(model.design.levels)
    used = _rows_of(frame, model.episodes_used) if fitted is None else frame.loc[fitted, columns]
    for column, levels in model.design.levels.items():
        # the fitted rows at each level, counted on the level positions of the distinct
        # values: the counts of ``astype("string").value_counts()``, without a text copy
        # of every row (0.4 s at 1M episodes); position -1 (missing, not a level) first
        counts = np.bincount(_level_positions(used[column], levels) + 1, minlength=len(levels) + 1)
        for k, level in enumerate(levels[1:], start=1):
            n = int(counts[k + 1])
            if 0 < n < context.min_cell:
                coef.loc[coef["term"] == f"{column}[{level}]", coef.columns[1:]] = HIDDEN
    return coef


def _model_blocks(
    model: Any, frame: pd.DataFrame, context: Context, fitted: Any = None
) -> list[Any]:
    responder = model.outcome == "responder"
    fit = model.fit
    quality = (
        f"C-statistic {fit['c_statistic']:.3f}, Brier score {fit['brier']:.3f}"
        if responder
        else f"R² {fit['r_squared']:.3f}, residual SD {fit['sigma']:.2f} points"
    )
    window = model.window
    blocks: list[Any] = [
        Paragraph(
            f"Case-mix model ({'logistic' if responder else 'linear'}): expected "
            f"{model.measure.upper() if len(model.measure) <= 5 else model.measure} "
            f"{'response' if responder else 'improvement'} at {model.timepoint} from "
            f"{', '.join(model.covariates)}, fitted on every site's episodes discharged from "
            f"{window[0] or 'the first discharge'} to {window[1] or 'the last'}; {quality}."
            + (" " + suppress_text(" ".join(model.notes), context) if model.notes else "")
        )
    ]
    coef = _coefficients(model, frame, context, fitted)
    blocks.append(
        Table(
            key="casemix_coefficients",
            title="Case-mix model: coefficients",
            frame=coef.reset_index(drop=True),
            labels={
                "term": "Term",
                "estimate": "Estimate" + (" (log odds)" if responder else " (points)"),
                "std_error": "SE",
                "conf_low": "95 % CI from",
                "conf_high": "95 % CI to",
            },
            formats={c: "f3" for c in ("estimate", "std_error", "conf_low", "conf_high")},
            note="A category level shown [c] has fewer episodes than the threshold: its "
            "coefficient would describe those few patients."
            if (coef["estimate"].astype(str) == HIDDEN).any()
            else "",
        )
    )
    cal = model.calibration.copy()
    small = cal["n"] < context.min_cell
    scale = 100.0 if responder else 1.0
    shown = pd.DataFrame({"decile": cal["decile"].astype("int64")})
    for column in ("mean_expected", "mean_observed"):
        values = (scale * cal[column]).astype(object)
        values[small] = HIDDEN
        shown[column] = values
    blocks.append(
        Table(
            key="casemix_calibration",
            title="Case-mix model: calibration, observed against expected by tenth of expected",
            frame=shown,
            labels={
                "decile": "Tenth",
                "mean_expected": "Mean expected" + (" (%)" if responder else ""),
                "mean_observed": "Mean observed" + (" (%)" if responder else ""),
            },
            formats={"mean_expected": "f2", "mean_observed": "f2"},
            note="A well calibrated model has observed close to expected in every tenth."
            + (" [c]: a tenth of fewer episodes than the threshold." if small.any() else ""),
        )
    )
    return blocks


def benchmarking_section(context: Context) -> SectionOutcome:
    """Case-mix adjusted benchmarking of therapists and sites, the raw funnel beside.

    Parameters
    ----------
    context
        The report's data and parameters (its protocol's ``[casemix]`` table).

    Returns
    -------
    SectionOutcome
        Sentences; the tables ``casemix_coefficients``, ``casemix_calibration`` and, per
        unit (therapists; sites when the report covers several), ``benchmark_<by>``
        (``n``, ``observed``, ``expected``, ``estimate`` = mean observed − expected with
        ``conf_low``/``conf_high``, for the logistic model ``oe_ratio`` with its interval
        and shares in %, ``z_adjusted``, ``adjusted_position``, ``raw_position``; a
        suppressed unit's figures are :data:`~dnoutcomes.report.model.HIDDEN`); the
        adjusted and raw funnels side by side; ``extra["benchmarking"]`` with the model
        (``to_dict`` without its episode count) and each funnel's φ, τ² and target.
    """
    title = "Benchmarking: therapists and sites, case mix adjusted"
    frame, model, known, failure = _setup(context)
    if failure is not None:
        return SectionOutcome(Section("benchmarking", title, (failure,)))
    first, last = chart_window(context)
    period = (f"{first}-01", context.period.end.isoformat())
    local = frame if context.site is None else frame.loc[frame["site_id"] == context.site]
    # every therapist's and site's episodes used are among these rows, so the sites'
    # look-up below finds the same rows here as in ``local``
    in_period, rows = _in_period(local, model, period)
    shared: dict[str, Any] = {}
    if context.site is None and known["ids"] is not None:  # local is the frame
        shared["ids"] = known["ids"][rows]
    responder = model.outcome == "responder"
    blocks: list[Any] = [
        Paragraph(
            "A therapist who sees older, more chronic or more severe patients will have "
            "poorer raw outcomes whatever her care. Here each therapist's (and site's) "
            "episodes discharged from "
            f"{period[0]} to {period[1]} are compared with the outcomes a case-mix model "
            "expects for those same patients: observed − expected "
            + ("(and observed / expected responders) " if responder else "")
            + "near 0 means outcomes as expected. The funnels' limits allow for the "
            "spread between units that chance alone does not explain (Spiegelhalter 2005); "
            "the raw funnel, unadjusted, is drawn beside the adjusted one. A unit outside "
            "the 99.8 % limits is worth a conversation, not a verdict."
        )
    ]
    blocks.extend(_model_blocks(model, frame, context, known["fitted"]))
    extra: dict[str, Any] = {"model": _model_summary(model), "units": {}}
    therapists: tuple[tuple[str, ...], list[str]] = ((), [])
    for by, word in _UNITS:
        if by == "site_id" and context.site is not None:
            continue
        units = local[by].dropna().astype(str).unique()
        if len(units) < 2:
            blocks.append(Paragraph(f"Only one {word} in the data: no {word} is benchmarked."))
            continue
        force = (
            _sites_giving_back(in_period, *therapists, model, context.min_cell)
            if by == "site_id"
            else frozenset()
        )
        found, why = safe(
            f"The {word} benchmarking",
            lambda by=by, force=force: _benchmark(  # type: ignore[misc]
                in_period, model, by, period, context, force, shared
            ),
            context,
        )
        if why is not None:
            blocks.append(why)
            continue
        result, hidden, used = found
        if by == "therapist_id":
            therapists = (used, hidden)
        if result is None or result.adjusted is None:
            blocks.append(
                Paragraph(
                    f"Every {word} has fewer than {context.min_cell} episodes"
                    + (", responders or non-responders" if responder else "")
                    + " in the window"
                    + (
                        ", or would give a hidden therapist's figures back"
                        if by == "site_id"
                        else ""
                    )
                    + ": none is shown."
                )
            )
            continue
        blocks.append(Paragraph(_funnel_sentence(result, word)))
        blocks.extend(
            figure_block(
                context,
                f"benchmark_{by}",
                f"Funnel plots per {word}: case-mix adjusted (left) and raw (right)",
                f"Two funnel plots of each {word}: observed against expected outcomes "
                "adjusted for case mix, and the raw indicator, with 95 % and 99.8 % limits "
                "widened for overdispersion.",
                lambda r=result: r.plot(),  # type: ignore[misc]
            )
        )
        blocks.append(_unit_table(result, hidden, by, word, responder))
        extra["units"][by] = {
            "period": list(result.period),
            "suppressed": sorted(hidden),
            "adjusted": _funnel_summary(result.adjusted),
            "raw": _funnel_summary(result.raw),
            "flagged_adjusted": list(result.flagged(adjusted=True)),
            "flagged_raw": list(result.flagged(adjusted=False)),
        }
    return SectionOutcome(
        Section("benchmarking", title, tuple(blocks)), extra={"benchmarking": extra}
    )


def _funnel_summary(funnel: Any) -> dict[str, Any] | None:
    if funnel is None:
        return None
    return {
        "indicator": funnel.indicator,
        "method": funnel.method,
        "target": float(funnel.target),
        "phi": float(funnel.phi),
        "tau2": float(funnel.tau2),
    }


def _model_summary(model: Any) -> dict[str, Any]:
    """What was fitted, for the JSON document (its coefficients and calibration are the
    tables ``casemix_coefficients`` and ``casemix_calibration``), without the number of
    episodes fitted (with the units' counts it could give a hidden unit's back)."""
    out = model.to_dict()
    out["fit"] = {k: v for k, v in out["fit"].items() if k != "n"}
    out.pop("calibration", None)
    out.pop("coefficients", None)
    return out
