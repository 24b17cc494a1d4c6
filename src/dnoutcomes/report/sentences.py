"""Plain-language sentences generated from the report's numbers.

Every sentence is built from the estimate, its confidence interval and the measure's
direction in the registry (is a lower value better?), so the words "lower/higher" and
"better/worse" always agree with the numbers under them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "arm_phrase",
    "comparison_sentence",
    "format_number",
    "measure_phrase",
    "responder_sentence",
    "spc_signal_sentences",
    "weighted_sentence",
]

_MEASURE_PHRASES: dict[str, str] = {
    "nprs": "pain",
    "odi": "disability (Oswestry Disability Index)",
    "rmdq": "disability (Roland-Morris)",
    "pgic": "global impression of change",
    "lumbar_flexion_deg": "lumbar flexion",
    "lumbar_extension_deg": "lumbar extension",
    "schober_cm": "Schober excursion",
    "ppt_kg_cm2": "pressure pain threshold",
    "analgesic_doses_week": "analgesic doses per week",
    "opioid_mme_day": "opioid dose",
}

_ARM_PHRASES: dict[str, str] = {
    "dn_only": "had dry needling alone",
    "dn_manual_exercise": "had dry needling with manual and exercise therapy",
    "manual_exercise": "had manual and exercise therapy without dry needling",
    "other": "had other or mixed care",
}


def measure_phrase(measure: str, label: str | None = None) -> str:
    """Words for a measure inside a sentence: ``nprs`` → ``pain``.

    Parameters
    ----------
    measure
        The registry name.
    label
        The registry's label, used (lower-cased) for a measure without a phrase of its own.

    Returns
    -------
    str
    """
    if measure in _MEASURE_PHRASES:
        return _MEASURE_PHRASES[measure]
    text = label if label else measure.replace("_", " ")
    if text[1:] != text[1:].lower():  # a proper name or an acronym keeps its capitals
        return text
    return text[:1].lower() + text[1:]


def arm_phrase(arm: str, *, other: str | None = None) -> str:
    """Words for the patients of an arm after "Patients who …".

    Parameters
    ----------
    arm
        The arm described.
    other
        The arm it is compared with. When dry needling plus manual and exercise therapy is
        compared with dry needling alone, it reads "also received manual and exercise
        therapy".

    Returns
    -------
    str
    """
    if arm == "dn_manual_exercise" and other == "dn_only":
        return "also received manual and exercise therapy"
    if arm in _ARM_PHRASES:
        return _ARM_PHRASES[arm]
    return f"had {arm.replace('_', ' ')}"


def format_number(value: float, decimals: int = 1) -> str:
    """A number for people: fixed decimals, a true minus sign never shown (magnitudes only).

    Parameters
    ----------
    value
        The number; NaN gives ``"not estimable"``.
    decimals
        Digits after the point.

    Returns
    -------
    str
    """
    if value is None or not math.isfinite(value):
        return "not estimable"
    text = f"{value:.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _decimals(*values: float) -> int:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    if finite and max(finite) < 0.1:
        return 2
    return 1


def _signed_bound(value: float, decimals: int, up: str, down: str) -> str:
    word = up if value > 0 else down
    return f"{format_number(abs(value), decimals)} {word}"


def _interval(low: float, high: float, decimals: int, level: str, up: str, down: str) -> str:
    """``95 % CI 0.2 to 0.9`` on one side of zero, ``95 % CI 0.8 lower to 0.2 higher``
    across it (magnitudes, the direction in words)."""
    if low > 0 or high < 0:
        first, last = sorted((abs(low), abs(high)))
        return f"{level} {format_number(first, decimals)} to {format_number(last, decimals)}"
    return (
        f"{level} {_signed_bound(low, decimals, up, down)} to "
        f"{_signed_bound(high, decimals, up, down)}"
    )


def comparison_sentence(
    *,
    measure: str,
    estimate: float,
    conf_low: float,
    conf_high: float,
    reference: str,
    comparator: str,
    direction: str,
    unit: str = "points",
    label: str | None = None,
    conf_level: float = 0.95,
    adjusted_for_baseline: bool = True,
) -> str:
    """The plain-language sentence under an adjusted comparison (ANCOVA) of two arms.

    Parameters
    ----------
    measure, label
        The measure's registry name and label.
    estimate, conf_low, conf_high
        Comparator minus reference at the timepoint, and its confidence interval.
    reference, comparator
        The two arms.
    direction
        ``"lower"`` when a lower value of the measure is better, else ``"higher"``.
    unit
        The measure's unit (``points``); ``"points"`` reads as such.
    conf_level
        Level of the interval, for its label.
    adjusted_for_baseline
        Add "after allowing for their starting …".

    Returns
    -------
    str
        For example "Patients who also received manual and exercise therapy ended with pain
        0.6 points lower (95 % CI 0.2 to 0.9) than those who had dry needling alone, after
        allowing for their starting pain. Lower is better on this scale, so this favours
        the patients who also received manual and exercise therapy."

    Notes
    -----
    The magnitude is written without sign and the direction in words. When the interval
    lies on one side of zero it is written as two magnitudes (``0.2 to 0.9``); when it
    crosses zero each end gets its own word (``0.8 lower to 0.2 higher``) and the sentence
    says the data are consistent with no difference. A NaN estimate gives a sentence
    saying the difference could not be estimated.
    """
    what = measure_phrase(measure, label)
    who_c = arm_phrase(comparator, other=reference)
    who_r = arm_phrase(reference, other=comparator)
    level = f"{conf_level * 100:g} % CI"
    if not all(math.isfinite(v) for v in (estimate, conf_low, conf_high)):
        return (
            f"The difference in {what} between patients who {who_c} and those who {who_r} "
            "could not be estimated from these data."
        )
    decimals = _decimals(estimate, conf_low, conf_high)
    unit_text = f" {unit}" if unit else ""
    short = what.split(" (")[0]  # "disability (Oswestry Disability Index)" → "disability"
    tail = f", after allowing for their starting {short}" if adjusted_for_baseline else ""
    if estimate == 0:
        change = f"the same {what}"
    else:
        word = "lower" if estimate < 0 else "higher"
        shown = decimals
        while float(format_number(abs(estimate), shown)) == 0 and shown < 3:
            shown += 1  # never "0.0 points lower" for a difference that is not zero
        change = f"{what} {format_number(abs(estimate), shown)}{unit_text} {word}"
    interval = _interval(conf_low, conf_high, decimals, level, "higher", "lower")
    first = f"Patients who {who_c} ended with {change} ({interval}) than those who {who_r}{tail}."
    if estimate == 0:
        first = f"Patients who {who_c} ended with {change} as those who {who_r} ({interval}){tail}."
    better = "Lower" if direction == "lower" else "Higher"
    if conf_low <= 0 <= conf_high:
        second = (
            f"{better} is better on this scale; the interval includes no difference, so "
            "these data do not show which care did better."
        )
    else:
        favoured_comparator = (estimate < 0) == (direction == "lower")
        who = who_c if favoured_comparator else who_r
        second = (
            f"{better} is better on this scale, so this is a better result for the "
            f"patients who {who}."
        )
    return f"{first} {second}"


def weighted_sentence(
    *,
    naive_estimate: float,
    estimate: float,
    conf_low: float,
    conf_high: float,
    unit: str = "points",
    conf_level: float = 0.95,
) -> str:
    """The sentence beside the inverse-probability-weighted (IPTW) estimate.

    Parameters
    ----------
    naive_estimate
        The unweighted ANCOVA difference (comparator minus reference).
    estimate, conf_low, conf_high
        The weighted difference and its interval.
    unit
        The measure's unit.
    conf_level
        Level of the interval.

    Returns
    -------
    str
        For example "After weighting the groups to be alike in age, sex, condition,
        symptom duration, starting pain and disability, and site, the difference was
        0.5 points lower (95 % CI 0.1 to 0.9), against 0.6 points lower without
        weighting."
    """
    if not all(math.isfinite(v) for v in (estimate, conf_low, conf_high)):
        return "The weighted (IPTW) difference could not be estimated from these data."
    decimals = _decimals(estimate, conf_low, conf_high, naive_estimate)
    unit_text = f" {unit}" if unit else ""

    def said(value: float) -> str:
        if value == 0:
            return "no different"
        word = "lower" if value < 0 else "higher"
        return f"{format_number(abs(value), decimals)}{unit_text} {word}"

    interval = _interval(
        conf_low, conf_high, decimals, f"{conf_level * 100:g} % CI", "higher", "lower"
    )
    return (
        "After weighting the groups to be alike in age, sex, condition, symptom duration, "
        f"starting pain and disability, and site, the difference was {said(estimate)} "
        f"({interval}), against {said(naive_estimate)} without weighting."
    )


def responder_sentence(
    *,
    measure: str,
    mcid: float,
    unit: str,
    n_reference: int | str,
    n_comparator: int | str,
    share_reference: float | None,
    share_comparator: float | None,
    risk_difference: float,
    rd_low: float,
    rd_high: float,
    reference: str,
    comparator: str,
    label: str | None = None,
    conf_level: float = 0.95,
) -> str:
    """The sentence under the responder analysis.

    Parameters
    ----------
    measure, label, mcid, unit
        The measure, its label and the improvement that makes a responder.
    n_reference, n_comparator
        Episodes analysed per arm (``"<11"`` when suppressed).
    share_reference, share_comparator
        Share of responders per arm (0–1), ``None`` when suppressed.
    risk_difference, rd_low, rd_high
        Comparator minus reference share, and its interval.
    reference, comparator
        The arms.
    conf_level
        Level of the interval.

    Returns
    -------
    str
        Shares are written only when they are not suppressed.
    """
    what = measure_phrase(measure, label)
    who_c = arm_phrase(comparator, other=reference)
    who_r = arm_phrase(reference, other=comparator)
    unit_text = f" {unit}" if unit else ""
    definition = f"{what} improved by at least {mcid:g}{unit_text}"
    if share_reference is None or share_comparator is None:
        return (
            f"A responder is a patient whose {definition} by discharge. Some groups are too "
            "small to show their share of responders without identifying patients."
        )
    level = f"{conf_level * 100:g} % CI"
    first = (
        f"{format_number(100 * share_comparator, 0)} % of patients who {who_c} were "
        f"responders ({definition} by discharge), against "
        f"{format_number(100 * share_reference, 0)} % of those who {who_r}"
    )
    if not all(math.isfinite(v) for v in (risk_difference, rd_low, rd_high)):
        return first + "."
    pp = 100 * risk_difference
    word = "more" if pp > 0 else "fewer"
    interval = _interval(100 * rd_low, 100 * rd_high, 0, level, "more", "fewer")
    diff = f"{format_number(abs(pp), 0)} percentage points {word} ({interval})"
    if rd_low <= 0 <= rd_high:
        closing = "; the interval includes no difference."
    else:
        closing = "."
    return f"{first}: {diff}{closing}"


def _join_months(months: Sequence[str]) -> str:
    months = list(months)
    if len(months) == 1:
        return months[0]
    return ", ".join(months[:-1]) + " and " + months[-1]


def spc_signal_sentences(chart: Mapping[str, Any], *, what: str) -> tuple[str, ...]:
    """Explain a control chart's signals in words.

    Parameters
    ----------
    chart
        One chart block of the ``spc`` document: ``months``, ``values``, ``centre``,
        ``lcl``, ``ucl`` (numbers or per-month lists) and ``signals`` with
        ``outside_limits``, ``longest_run``, ``longest_run_limit``, ``crossings`` and
        ``crossings_limit``.
    what
        What is charted, in words ("mean improvement in pain").

    Returns
    -------
    tuple of str
        One sentence per kind of signal found, or one sentence saying there is none.

    Notes
    -----
    Months outside the limits are sorted into above the upper and below the lower limit by
    comparing each value with its month's limit. Anhøj rules: a run longer than its limit,
    or fewer crossings than their limit, means the process has probably shifted.
    """
    signals = chart.get("signals", {})
    months = list(chart.get("months", []))
    values = list(chart.get("values", []))
    index = {m: i for i, m in enumerate(months)}

    def limit_at(key: str, i: int) -> float | None:
        limit = chart.get(key)
        if isinstance(limit, list):
            value = limit[i] if i < len(limit) else None
        else:
            value = limit
        return float(value) if isinstance(value, int | float) else None

    sentences: list[str] = []
    outside = [m for m in signals.get("outside_limits", []) if m in index]
    above = []
    below = []
    for month in outside:
        i = index[month]
        value = values[i] if i < len(values) else None
        ucl = limit_at("ucl", i)
        if isinstance(value, int | float) and ucl is not None and value > ucl:
            above.append(month)
        else:
            below.append(month)
    if above:
        sentences.append(
            f"The {what} was above the upper control limit in {_join_months(above)}: a "
            "change larger than month-to-month chance produces (special-cause variation)."
        )
    if below:
        sentences.append(
            f"The {what} was below the lower control limit in {_join_months(below)}: a "
            "change larger than month-to-month chance produces (special-cause variation)."
        )
    run, run_limit = signals.get("longest_run"), signals.get("longest_run_limit")
    if isinstance(run, int) and isinstance(run_limit, int) and run > run_limit:
        sentences.append(
            f"The longest run of months on one side of the centre line is {run}, longer than "
            f"the {run_limit} expected by chance: the process has probably shifted."
        )
    crossings, crossing_limit = signals.get("crossings"), signals.get("crossings_limit")
    if (
        isinstance(crossings, int)
        and isinstance(crossing_limit, int)
        and crossings < crossing_limit
    ):
        sentences.append(
            f"The line crosses the centre {crossings} times, fewer than the {crossing_limit} "
            "expected by chance: the process has probably shifted."
        )
    if not sentences:
        n_months = sum(1 for v in values if isinstance(v, int | float))
        sentences.append(
            f"No signal over {n_months} months: the {what} varies only as much as chance "
            "alone would make it (common-cause variation)."
        )
    return tuple(sentences)
