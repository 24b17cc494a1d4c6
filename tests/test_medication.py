"""Tests of dnoutcomes.stats.medication against R (clinic_a), statsmodels' Logit (Newton,
formula interface) and the 2×2 odds ratio of the indomethacin RCT (SciPy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import EXTERNAL
from scipy.stats.contingency import odds_ratio

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.ancova import compare_ancova
from dnoutcomes.stats.medication import (
    compare_medication,
    compare_medication_use,
    fit_use_logistic,
)


def test_every_medication_figure_matches_r(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    got = {entry["measure"]: entry for entry in compare_medication(clinic_a_dataset).to_dict()}
    for exp in clinic_a_expected["medication"]:
        mine = got[exp["measure"]]
        assert mine["n"] == exp["n"]
        for key, value in exp.items():
            if key not in ("measure", "n"):
                assert mine[key] == pytest.approx(value, rel=1e-6), (exp["measure"], key)


def test_arm_only_model_is_the_sample_odds_ratio() -> None:
    data = pd.read_csv(EXTERNAL / "medicaldata_indo_rct.csv")
    frame = pd.DataFrame(
        {
            "value": (data["outcome"] == "1_yes").astype(int),
            "baseline": 0,
            "treated": (data["rx"] == "1_indomethacin").astype(int),
        }
    )
    res = fit_use_logistic(frame)
    assert not res.baseline_in_model and any("omits it" in n for n in res.notes)
    table = pd.crosstab(frame["treated"], frame["value"]).to_numpy()[::-1, ::-1]
    ref = odds_ratio(table, kind="sample")
    ci = ref.confidence_interval(0.95)
    assert res.odds_ratio == pytest.approx(ref.statistic, rel=1e-8)
    assert (res.conf_low, res.conf_high) == pytest.approx((ci.low, ci.high), rel=1e-7)
    assert res.prop_comparator == pytest.approx(27 / 295, rel=1e-12)
    assert res.prop_reference == pytest.approx(52 / 307, rel=1e-12)


def test_matches_statsmodels_logit(rng: np.random.Generator) -> None:
    n = 300
    treated = rng.integers(0, 2, n)
    baseline = rng.integers(0, 2, n)
    lin = -0.5 + 0.7 * treated + 1.2 * baseline
    value = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    frame = pd.DataFrame({"value": value, "baseline": baseline, "treated": treated})
    res = fit_use_logistic(frame, conf_level=0.9)
    ref = smf.logit("value ~ treated + baseline", data=frame).fit(disp=0)
    assert res.odds_ratio == pytest.approx(np.exp(ref.params["treated"]), rel=1e-7)
    low, high = np.exp(ref.conf_int(alpha=0.1).loc["treated"])
    assert (res.conf_low, res.conf_high) == pytest.approx((low, high), rel=1e-7)
    assert res.p_value == pytest.approx(ref.pvalues["treated"], rel=1e-6)
    assert res.converged


def test_separation_is_said(rng: np.random.Generator) -> None:
    n = 200
    baseline = rng.integers(0, 2, n)
    treated = rng.integers(0, 2, n)
    value = np.where(baseline == 0, 0, (rng.random(n) < 0.6).astype(int))
    frame = pd.DataFrame({"value": value, "baseline": baseline, "treated": treated})
    res = fit_use_logistic(frame)
    assert any("separation: within one level of baseline" in note for note in res.notes)
    assert np.isfinite(res.odds_ratio)


def test_swapping_arms_inverts_the_odds_ratio(clinic_a_dataset: Any) -> None:
    a = compare_medication_use(clinic_a_dataset, measure="analgesic_use")
    b = compare_medication_use(
        clinic_a_dataset,
        measure="analgesic_use",
        reference="dn_manual_exercise",
        comparator="dn_only",
    )
    assert b.odds_ratio == pytest.approx(1 / a.odds_ratio, rel=1e-7)
    assert (b.conf_low, b.conf_high) == pytest.approx((1 / a.conf_high, 1 / a.conf_low), rel=1e-7)
    assert b.prop_reference == a.prop_comparator


def test_doses_use_the_ancova(clinic_a_dataset: Any) -> None:
    res = compare_medication(clinic_a_dataset)
    assert [d.measure for d in res.doses] == ["opioid_mme_day"]
    direct = compare_ancova(clinic_a_dataset, measure="opioid_mme_day")
    assert res.doses[0].estimate == direct.estimate
    assert res.doses_to_dict()[0]["se"] == direct.std_error
    assert any("analgesic_doses_week not analysed" in note for note in res.notes)
    assert list(res.to_frame()["model"]) == ["logistic", "logistic", "ancova"]
    with pytest.raises(InsufficientDataError, match="analgesic_doses_week"):
        compare_medication(clinic_a_dataset, dose_measures=["analgesic_doses_week"])


def test_bad_inputs(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="must be 0 or 1"):
        compare_medication_use(clinic_a_dataset, measure="nprs")
    frame = pd.DataFrame({"value": [0, 0, 0, 0], "baseline": [0, 1, 0, 1], "treated": [0, 0, 1, 1]})
    with pytest.raises(InsufficientDataError, match="both users and non-users"):
        fit_use_logistic(frame)
    res = compare_medication_use(clinic_a_dataset)
    assert "Odds ratio" in str(res) and "<table" in res._repr_html_()


def test_arm_that_separates_gives_an_infinite_odds_ratio_and_says_so() -> None:
    frame = pd.DataFrame(
        {
            "treated": [0] * 20 + [1] * 20,
            "baseline": [0, 1] * 20,
            "value": [0] * 20 + [1, 0] * 10,  # nobody in the reference arm uses
        }
    )
    res = fit_use_logistic(frame)
    assert any("within one level of arm" in note for note in res.notes)
    assert res.odds_ratio > 1e6 or math.isinf(res.odds_ratio)
    assert res.to_dict()["ci_high"] is None or res.to_dict()["ci_high"] > 1e6


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.medication as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
