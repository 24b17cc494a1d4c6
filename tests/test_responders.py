"""Tests of dnoutcomes.stats.responders against R (clinic_a), SciPy and statsmodels, and the
indomethacin RCT (Elmunzer et al., NEJM 2012: 27/295 vs 52/307, P = 0.005)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import EXTERNAL
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats.contingency import odds_ratio, relative_risk
from statsmodels.stats.proportion import confint_proportions_2indep

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.errors import RequestError
from dnoutcomes.stats.responders import (
    compare_responders,
    improvement_distribution,
    nnt_interval,
    risk_measures,
)


def test_every_responder_figure_matches_r(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    got = compare_responders(clinic_a_dataset).to_dict()
    for key, value in clinic_a_expected["responders"].items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert got[key] == value, key


@pytest.fixture(scope="module")
def indo_counts() -> tuple[int, int, int, int]:
    data = pd.read_csv(EXTERNAL / "medicaldata_indo_rct.csv")
    yes = data["outcome"] == "1_yes"
    placebo = data["rx"] == "0_placebo"
    return (
        int(yes[placebo].sum()),
        int(placebo.sum()),
        int(yes[~placebo].sum()),
        int((~placebo).sum()),
    )


def test_indomethacin_trial_against_scipy_and_statsmodels(
    indo_counts: tuple[int, int, int, int],
) -> None:
    c, n0, a, n1 = indo_counts
    assert (a, n1, c, n0) == (27, 295, 52, 307)  # as published
    frame = risk_measures(c, n0, a, n1).set_index("term")
    low, high = confint_proportions_2indep(a, n1, c, n0, method="wald", compare="diff")
    assert frame.loc["risk_difference", "estimate"] == pytest.approx(a / n1 - c / n0, rel=1e-12)
    assert frame.loc["risk_difference", "conf_low"] == pytest.approx(low, rel=1e-9)
    assert frame.loc["risk_difference", "conf_high"] == pytest.approx(high, rel=1e-9)
    rr = relative_risk(a, n1, c, n0)
    rr_ci = rr.confidence_interval(0.95)
    assert frame.loc["risk_ratio", "estimate"] == pytest.approx(rr.relative_risk, rel=1e-12)
    assert frame.loc["risk_ratio", "conf_low"] == pytest.approx(rr_ci.low, rel=1e-9)
    assert frame.loc["risk_ratio", "conf_high"] == pytest.approx(rr_ci.high, rel=1e-9)
    res = odds_ratio(np.array([[a, n1 - a], [c, n0 - c]]), kind="sample")
    or_ci = res.confidence_interval(0.95)
    assert frame.loc["odds_ratio", "estimate"] == pytest.approx(res.statistic, rel=1e-12)
    assert frame.loc["odds_ratio", "conf_low"] == pytest.approx(or_ci.low, rel=1e-9)
    assert frame.loc["odds_ratio", "conf_high"] == pytest.approx(or_ci.high, rel=1e-9)
    # published 9.2 % vs 16.9 %, P = 0.005
    assert a / n1 == pytest.approx(0.092, abs=5e-4)
    assert c / n0 == pytest.approx(0.169, abs=5e-4)
    assert frame.loc["risk_difference", "p_value"] == pytest.approx(0.005, abs=1e-3)


def test_nnt_in_words() -> None:
    nnt, low, high, text = nnt_interval(0.1, 0.05, 0.2)
    assert (nnt, low, high) == pytest.approx((10, 5, 20))
    assert text == "NNT benefit 10.0 (5.0 to 20.0)"
    nnt, low, high, text = nnt_interval(0.05, -0.05, 1 / 4.7)
    assert math.isnan(low) and math.isnan(high)
    assert "NNT benefit 4.7 to ∞ to NNT harm 20.0" in text
    assert nnt_interval(-0.1, -0.2, -0.05)[3] == "NNT harm 10.0 (5.0 to 20.0)"


def test_swapping_arms_flips_and_inverts(clinic_a_dataset: Any) -> None:
    a = compare_responders(clinic_a_dataset).to_dict()
    b = compare_responders(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only"
    ).to_dict()
    assert b["risk_difference"] == pytest.approx(-a["risk_difference"], rel=1e-12)
    assert (b["rd_ci_low"], b["rd_ci_high"]) == pytest.approx(
        (-a["rd_ci_high"], -a["rd_ci_low"]), rel=1e-12
    )
    assert b["risk_ratio"] == pytest.approx(1 / a["risk_ratio"], rel=1e-12)
    assert b["odds_ratio"] == pytest.approx(1 / a["odds_ratio"], rel=1e-12)
    assert (b["or_ci_low"], b["or_ci_high"]) == pytest.approx(
        (1 / a["or_ci_high"], 1 / a["or_ci_low"]), rel=1e-12
    )
    assert b["nnt"] == pytest.approx(-a["nnt"], rel=1e-12)


def test_distribution_is_the_cumulative_share(
    clinic_a_dataset: Any, clinic_a_expected: dict
) -> None:
    res = compare_responders(clinic_a_dataset)
    dist = res.distribution
    ref = dist[dist["arm"] == "dn_only"].set_index("improvement")["share"]
    # the share reaching the MCID is the responder proportion (R's counts)
    exp = clinic_a_expected["responders"]
    assert ref[2.0] == pytest.approx(exp["responders_reference"] / exp["n_reference"], rel=1e-12)
    assert ref.is_monotonic_decreasing and ref.iloc[0] == 1.0
    toy = pd.DataFrame({"arm": ["a", "a", "a", "b"], "improvement": [1.0, 2.0, 2.0, 3.0]})
    out = improvement_distribution(toy, arms=("a", "b"))
    assert out["share"].tolist() == pytest.approx([1, 2 / 3, 0, 1, 1, 1])


def test_other_definitions_and_errors(clinic_a_dataset: Any) -> None:
    pct = compare_responders(clinic_a_dataset, definition="percent")
    assert pct.threshold == 30
    with pytest.raises(RequestError, match="no MCID in points"):
        compare_responders(clinic_a_dataset, measure="lumbar_flexion_deg")
    with pytest.raises(RequestError, match="no responder values"):
        compare_responders(clinic_a_dataset, definition="values")
    with pytest.raises(RequestError, match="unknown"):
        compare_responders(clinic_a_dataset, definition="magic")  # type: ignore[arg-type]
    with pytest.raises(RequestError):
        risk_measures(5, 4, 1, 10)
    res = compare_responders(clinic_a_dataset, threshold=3)
    assert "improvement >= 3 points" in str(res)
    assert "<table" in res._repr_html_()


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.responders as module

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@settings(max_examples=60, deadline=None)
@given(
    n0=st.integers(2, 500),
    n1=st.integers(2, 500),
    f0=st.floats(0.01, 0.99),
    f1=st.floats(0.01, 0.99),
)
def test_swapping_counts_flips_and_inverts(n0: int, n1: int, f0: float, f1: float) -> None:
    c = min(max(1, round(f0 * n0)), n0 - 1)
    a = min(max(1, round(f1 * n1)), n1 - 1)
    fwd = risk_measures(c, n0, a, n1).set_index("term")
    back = risk_measures(a, n1, c, n0).set_index("term")
    rd, rr, odds = "risk_difference", "risk_ratio", "odds_ratio"
    assert back.loc[rd, "estimate"] == pytest.approx(-fwd.loc[rd, "estimate"], abs=1e-12)
    assert back.loc[rd, "conf_low"] == pytest.approx(-fwd.loc[rd, "conf_high"], abs=1e-12)
    for term in (rr, odds):
        assert back.loc[term, "estimate"] == pytest.approx(1 / fwd.loc[term, "estimate"])
        assert back.loc[term, "conf_low"] == pytest.approx(1 / fwd.loc[term, "conf_high"])
    assert fwd.loc[rd, "conf_low"] <= fwd.loc[rd, "estimate"] <= fwd.loc[rd, "conf_high"]


def test_pgic_and_percent_definitions(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    import dataclasses

    out = clinic_a_dataset.outcomes
    nprs = out[out["measure"] == "nprs"]
    base = nprs[nprs["timepoint"] == "baseline"].set_index("episode_id")["value"]
    dis = nprs[nprs["timepoint"] == "discharge"].copy()
    gain = dis["episode_id"].map(base) - dis["value"]
    # a PGIC at discharge that says "much improved" (2) exactly when NPRS fell by >= 2
    pgic = dis.assign(measure="pgic", value=np.where(gain >= 2, 2.0, 4.0))
    with_pgic = dataclasses.replace(
        clinic_a_dataset, outcomes=pd.concat([out, pgic], ignore_index=True)
    )
    res = compare_responders(with_pgic, measure="pgic", definition="values")
    exp = clinic_a_expected["responders"]
    counts = res.counts.set_index("role")
    assert counts.loc["reference", "responders"] == exp["responders_reference"]
    assert counts.loc["comparator", "responders"] == exp["responders_comparator"]
    assert res.responder_values == (1.0, 2.0)
    assert res.to_dict()["mcid"] is None
    # 30 % of baseline, counted directly
    pct = compare_responders(clinic_a_dataset, definition="percent").counts.set_index("arm")
    pairs = outcome_pairs(clinic_a_dataset, measure="nprs").dropna(subset=["value"])
    pairs = pairs[pairs["baseline"] > 0]
    hits = (pairs["baseline"] - pairs["value"]) / pairs["baseline"] >= 0.30
    assert pct.loc["dn_only", "responders"] == hits[pairs["arm"] == "dn_only"].sum()
    assert pct.loc["dn_only", "n"] == (pairs["arm"] == "dn_only").sum()


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), 0, -1])
def test_a_threshold_that_counts_no_improvement_is_refused(
    clinic_a_dataset: Any, threshold: float
) -> None:
    with pytest.raises(RequestError, match="threshold must be a finite number above 0"):
        compare_responders(clinic_a_dataset, threshold=threshold)
    with pytest.raises(RequestError, match="threshold must be a finite number above 0"):
        compare_responders(clinic_a_dataset, definition="percent", threshold=threshold)


def test_a_numpy_threshold_is_a_number(clinic_a_dataset: Any) -> None:
    plain = compare_responders(clinic_a_dataset, threshold=3).to_dict()
    numpy = compare_responders(clinic_a_dataset, threshold=np.int64(3)).to_dict()
    assert numpy["responders_comparator"] == plain["responders_comparator"]
    assert numpy["mcid"] == plain["mcid"] == 3
