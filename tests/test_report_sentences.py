"""Plain-language sentences: direction words and intervals follow the numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnoutcomes.report.sentences import (
    comparison_sentence,
    format_number,
    measure_phrase,
    responder_sentence,
    spc_signal_sentences,
    weighted_sentence,
)

ISSUE_EXAMPLE = (
    "Patients who also received manual and exercise therapy ended with pain 0.6 points lower "
    "(95 % CI 0.2 to 0.9) than those who had dry needling alone, after allowing for their "
    "starting pain."
)


def _nprs(estimate: float, low: float, high: float, **kwargs: object) -> str:
    args: dict[str, object] = {
        "measure": "nprs",
        "estimate": estimate,
        "conf_low": low,
        "conf_high": high,
        "reference": "dn_only",
        "comparator": "dn_manual_exercise",
        "direction": "lower",
    }
    args.update(kwargs)
    return comparison_sentence(**args)  # type: ignore[arg-type]


def test_issue_example_word_for_word() -> None:
    sentence = _nprs(-0.61, -0.93, -0.24)
    assert sentence.startswith(ISSUE_EXAMPLE)
    assert "better result for the patients who also received manual" in sentence


def test_higher_and_worse_when_comparator_ends_with_more_pain() -> None:
    sentence = _nprs(0.84, 0.31, 1.37)
    assert "pain 0.8 points higher (95 % CI 0.3 to 1.4)" in sentence
    assert "better result for the patients who had dry needling alone" in sentence


def test_higher_is_better_measure_flips_better() -> None:
    sentence = _nprs(
        4.2,
        1.1,
        7.3,
        measure="lumbar_flexion_deg",
        direction="higher",
        unit="degrees",
    )
    assert "lumbar flexion 4.2 degrees higher (95 % CI 1.1 to 7.3)" in sentence
    assert "Higher is better" in sentence
    assert "better result for the patients who also received" in sentence


def test_interval_across_zero_is_said_in_words() -> None:
    sentence = _nprs(-0.3, -0.8, 0.2)
    assert "(95 % CI 0.8 lower to 0.2 higher)" in sentence
    assert "do not show which care did better" in sentence


def test_other_pairs_use_plain_arm_phrases() -> None:
    sentence = _nprs(-1.0, -1.5, -0.5, reference="manual_exercise", comparator="usual_care")
    assert sentence.startswith("Patients who had usual care ended with pain 1.0 points lower")
    assert "than those who had manual and exercise therapy without dry needling" in sentence


def test_named_scale_said_once_and_tiny_differences_not_zero() -> None:
    sentence = _nprs(1.55, -2.4, 5.6, measure="odi")
    assert "disability (Oswestry Disability Index) 1.6 points higher" in sentence
    assert "after allowing for their starting disability." in sentence
    assert "pain 0.02 points lower (95 % CI 1.5 lower to 1.4 higher)" in _nprs(-0.02, -1.46, 1.42)


def test_not_estimable() -> None:
    assert "could not be estimated" in _nprs(float("nan"), float("nan"), float("nan"))


def test_weighted_sentence() -> None:
    text = weighted_sentence(naive_estimate=-0.61, estimate=-0.48, conf_low=-0.9, conf_high=-0.06)
    assert "difference was 0.5 points lower (95 % CI 0.1 to 0.9)" in text
    assert "against 0.6 points lower without weighting" in text


def test_responder_sentence_and_suppression() -> None:
    text = responder_sentence(
        measure="nprs",
        mcid=2,
        unit="points",
        n_reference=100,
        n_comparator=120,
        share_reference=0.45,
        share_comparator=0.6083,
        risk_difference=0.1583,
        rd_low=-0.02,
        rd_high=0.29,
        reference="dn_only",
        comparator="dn_manual_exercise",
    )
    assert text.startswith("61 % of patients who also received manual and exercise therapy")
    assert "against 45 % of those who had dry needling alone" in text
    assert "16 percentage points more (95 % CI 2 fewer to 29 more)" in text
    assert "includes no difference" in text
    hidden = responder_sentence(
        measure="nprs",
        mcid=2,
        unit="points",
        n_reference="<11",
        n_comparator=40,
        share_reference=None,
        share_comparator=0.5,
        risk_difference=0.1,
        rd_low=0.0,
        rd_high=0.2,
        reference="dn_only",
        comparator="dn_manual_exercise",
    )
    assert "%" not in hidden


def test_spc_sentences_name_months_above_and_below() -> None:
    chart = {
        "months": ["2025-01", "2025-02", "2025-03", "2025-04"],
        "values": [0.30, 0.90, 0.05, 0.4],
        "centre": 0.4,
        "lcl": [0.1, 0.2, 0.1, 0.1],
        "ucl": [0.7, 0.8, 0.7, 0.7],
        "signals": {
            "outside_limits": ["2025-02", "2025-03"],
            "longest_run": 2,
            "longest_run_limit": 5,
            "crossings": 2,
            "crossings_limit": 1,
        },
    }
    sentences = spc_signal_sentences(chart, what="share of responders")
    assert sentences == (
        "The share of responders was above the upper control limit in 2025-02: a change "
        "larger than month-to-month chance produces (special-cause variation).",
        "The share of responders was below the lower control limit in 2025-03: a change "
        "larger than month-to-month chance produces (special-cause variation).",
    )


@pytest.mark.parametrize(
    ("run", "crossings", "expected"),
    [
        (9, 10, "longest run of months on one side of the centre line is 9, longer than the 8"),
        (3, 4, "crosses the centre 4 times, fewer than the 7"),
        (3, 10, "No signal over 4 months"),
    ],
)
def test_spc_run_rules_in_words(run: int, crossings: int, expected: str) -> None:
    chart = {
        "months": ["a", "b", "c", "d"],
        "values": [1.0, 2.0, 3.0, 4.0],
        "centre": 2.5,
        "lcl": 0.0,
        "ucl": 5.0,
        "signals": {
            "outside_limits": [],
            "longest_run": run,
            "longest_run_limit": 8,
            "crossings": crossings,
            "crossings_limit": 7,
        },
    }
    joined = " ".join(spc_signal_sentences(chart, what="x"))
    assert expected in joined


def test_small_helpers() -> None:
    assert format_number(-0.04, 1) == "0.0"
    assert format_number(float("nan")) == "not estimable"
    assert measure_phrase("nprs") == "pain"
    assert measure_phrase("psfs", "Patient-Specific Functional Scale") == (
        "Patient-Specific Functional Scale"
    )
    assert measure_phrase("grip", "Grip strength") == "grip strength"


@given(
    estimate=st.floats(min_value=-9, max_value=9).filter(lambda v: abs(v) > 0.001),
    half_width=st.floats(min_value=0.01, max_value=5),
)
def test_swapping_arms_swaps_the_direction_words(estimate: float, half_width: float) -> None:
    forward = _nprs(estimate, estimate - half_width, estimate + half_width)
    backward = _nprs(
        -estimate,
        -estimate - half_width,
        -estimate + half_width,
        reference="dn_manual_exercise",
        comparator="dn_only",
    )
    word, other = ("lower", "higher") if estimate < 0 else ("higher", "lower")
    assert f" {word} (95 % CI" in forward
    assert f" {other} (95 % CI" in backward
    assert ("includes no difference" in forward) == ("includes no difference" in backward)
