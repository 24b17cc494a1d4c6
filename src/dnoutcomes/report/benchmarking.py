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

from dnoutcomes.report._benchmark_passes import (
    _benchmark,
    _in_period,
    _rows_of,
    _setup,
    _sites_giving_back,
)
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
