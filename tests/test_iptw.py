"""Tests of dnoutcomes.stats.iptw against R (clinic_a: glm, lm with weights, sandwich HC0),
statsmodels (GLM, WLS with HC0), the E-value paper's worked example, and the plan's
invariances."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import EXTERNAL

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.iptw import (
    compare_iptw,
    e_value,
    indicator_columns,
    propensity_weights,
    standardized_mean_differences,
)

REL = 1e-6


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)  # type: ignore[arg-type]
    return SimpleNamespace(**{**vars(dataset), **changes})


@pytest.fixture(scope="module")
def result(clinic_a_dataset: Any) -> Any:
    return compare_iptw(clinic_a_dataset)


def test_every_iptw_figure_matches_r(result: Any, clinic_a_expected: dict[str, Any]) -> None:
    got = result.to_dict()
    expected = clinic_a_expected["iptw"]
    assert got["n"] == expected["n"]
    for key, value in expected.items():
        if key == "n":
            continue
        if isinstance(value, dict):
            assert set(got[key]) == set(value), key
            for covariate, smd in value.items():
                assert got[key][covariate] == pytest.approx(smd, rel=REL), (key, covariate)
        else:
            assert got[key] == pytest.approx(value, rel=REL), key


def test_naive_row_is_the_primary_ancova(result: Any, clinic_a_expected: dict[str, Any]) -> None:
    ancova = clinic_a_expected["ancova"][0]
    assert (ancova["measure"], ancova["timepoint"]) == ("nprs", "discharge")
    naive = result.table.set_index("term").loc["naive"]
    assert naive["estimate"] == pytest.approx(ancova["estimate"], rel=REL)
    assert naive["std_error"] == pytest.approx(ancova["se"], rel=REL)
    assert naive["conf_low"] == pytest.approx(ancova["ci_low"], rel=REL)
    assert naive["conf_high"] == pytest.approx(ancova["ci_high"], rel=REL)
    assert naive["p_value"] == pytest.approx(ancova["p"], rel=REL)
    assert naive["df"] == ancova["n"] - 3


def test_propensities_agree_with_statsmodels_glm(clinic_a_dataset: Any, result: Any) -> None:
    weights = result.weights
    pairs_ids = weights["episode_id"]
    from dnoutcomes.cohort import outcome_pairs

    nprs = outcome_pairs(clinic_a_dataset, measure="nprs").set_index("episode_id")
    odi = outcome_pairs(clinic_a_dataset, measure="odi").set_index("episode_id")
    data = nprs.loc[pairs_ids].assign(
        nprs_baseline=nprs.loc[pairs_ids, "baseline"], odi_baseline=odi.loc[pairs_ids, "baseline"]
    )
    design = pd.get_dummies(
        data[["age", "symptom_weeks", "nprs_baseline", "odi_baseline", "sex", "condition"]]
        .astype({"sex": str, "condition": str})
        .assign(site_id=data["site_id"].astype(str)),
        columns=["sex", "condition", "site_id"],
        drop_first=True,
        dtype=float,
    )
    fit = sm.GLM(
        data["treated"].to_numpy(float), sm.add_constant(design), family=sm.families.Binomial()
    ).fit(tol=1e-14)
    # sex=unknown occurs in the reference arm only: the likelihood is maximised at a
    # propensity of 0 for those episodes; R's glm (and ours) stops near it, statsmodels
    # further out. Both are essentially 0 and give the same weight.
    separated = (data["sex"].astype(str) == "unknown").to_numpy()
    assert separated.sum() == 3 and (data.loc[separated, "treated"] == 0).all()
    ps = weights["propensity"].to_numpy()
    np.testing.assert_allclose(ps[~separated], fit.fittedvalues[~separated], rtol=1e-5)
    assert (ps[separated] < 1e-6).all() and (fit.fittedvalues[separated] < 1e-6).all()
    share = weights["treated"].mean()
    expected_w = np.where(
        weights["treated"] == 1, share / fit.fittedvalues, (1 - share) / (1 - fit.fittedvalues)
    )
    np.testing.assert_allclose(weights["weight"], expected_w, rtol=1e-5)
    assert any("sex=unknown (3 episodes)" in note for note in result.notes)


def test_robust_se_agrees_with_statsmodels_wls_hc0(clinic_a_dataset: Any, result: Any) -> None:
    from dnoutcomes.cohort import outcome_pairs

    pairs = outcome_pairs(clinic_a_dataset, measure="nprs").set_index("episode_id")
    w = result.weights.set_index("episode_id")
    data = pairs.loc[w.index]
    x = sm.add_constant(np.column_stack([data["treated"], data["baseline"]]).astype(float))
    fit = sm.WLS(data["value"].to_numpy(float), x, weights=w["weight"]).fit(cov_type="HC0")
    row = result.table.set_index("term").loc["iptw"]
    assert row["estimate"] == pytest.approx(fit.params[1], rel=1e-10)
    assert row["std_error"] == pytest.approx(fit.bse[1], rel=1e-10)
    low, high = fit.conf_int()[1]
    assert (row["conf_low"], row["conf_high"]) == pytest.approx((low, high), rel=1e-10)
    assert math.isnan(row["df"])


def test_effective_sample_sizes(result: Any) -> None:
    w = result.weights
    for arm, ess in ((0, result.ess_reference), (1, result.ess_comparator)):
        arm_w = w.loc[w["treated"] == arm, "weight"]
        assert ess == pytest.approx(arm_w.sum() ** 2 / (arm_w**2).sum(), rel=1e-12)
        assert ess <= len(arm_w)


def test_balance_is_better_after_weighting(result: Any) -> None:
    balance = result.balance
    assert list(balance.columns) == ["covariate", "smd_before", "smd_after", "balanced_after"]
    assert balance["smd_after"].abs().max() < balance["smd_before"].abs().max()
    assert (balance["balanced_after"] == (balance["smd_after"].abs() < 0.1)).all()


def test_smd_against_a_direct_computation() -> None:
    vickers = pd.read_csv(EXTERNAL / "acupuncture_headache_vickers2004.csv")
    data = vickers.dropna(subset=["age", "pk1", "sex", "migraine"])
    covs = indicator_columns(data, continuous=["age", "pk1"], categorical=["sex"])
    t = data["group"].to_numpy()
    got = standardized_mean_differences(covs, t)
    for column in ("age", "pk1"):
        a, r = data.loc[t == 1, column], data.loc[t == 0, column]
        direct = (a.mean() - r.mean()) / math.sqrt((a.var() + r.var()) / 2)
        assert got[column] == pytest.approx(direct, rel=1e-12)
    assert set(got.index) == {"age", "pk1"} | {f"sex={s}" for s in data["sex"].astype(str)}
    # Weighted: weighted means over the same unweighted denominators.
    w = np.linspace(0.5, 2.0, len(t))
    got_w = standardized_mean_differences(covs, t, w)
    a, r = data.loc[t == 1, "pk1"], data.loc[t == 0, "pk1"]
    direct = (np.average(a, weights=w[t == 1]) - np.average(r, weights=w[t == 0])) / math.sqrt(
        (a.var() + r.var()) / 2
    )
    assert got_w["pk1"] == pytest.approx(direct, rel=1e-12)


def test_e_value_reproduces_vanderweele_and_ding() -> None:
    # Ann Intern Med 2017: RR 3.9 (95% CI 1.8 to 8.7) -> E-values 7.2 and 3.0.
    estimate, limit = e_value(3.9, 1.8, 8.7)
    assert estimate == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), rel=1e-12)
    assert round(estimate, 1) == 7.3 or round(estimate, 2) == 7.26
    assert limit == pytest.approx(3.0, rel=1e-12)
    # Protective effects are inverted; an interval through 1 gives 1.
    assert e_value(1 / 3.9, 1 / 8.7, 1 / 1.8) == pytest.approx((estimate, limit), rel=1e-12)
    assert e_value(1.3, 0.9, 1.8)[1] == 1.0
    assert math.isnan(e_value(2.0)[1])
    with pytest.raises(RequestError, match="positive"):
        e_value(-1.0)


def test_result_e_value_uses_the_standardised_difference(result: Any) -> None:
    row = result.table.set_index("term").loc["iptw"]
    rr = math.exp(0.91 * row["estimate"] / result.sd_outcome)
    rr_limit = math.exp(0.91 * row["conf_high"] / result.sd_outcome)  # nearer the null
    assert result.e_value == pytest.approx(1 / rr + math.sqrt(1 / rr * (1 / rr - 1)), rel=1e-12)
    assert result.e_value_ci == pytest.approx(
        1 / rr_limit + math.sqrt(1 / rr_limit * (1 / rr_limit - 1)), rel=1e-12
    )


def test_swapping_arms_flips_estimates_and_smds(clinic_a_dataset: Any, result: Any) -> None:
    swapped = compare_iptw(clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only")
    a, b = result.to_dict(), swapped.to_dict()
    assert b["estimate"] == pytest.approx(-a["estimate"], rel=REL)
    assert b["se"] == pytest.approx(a["se"], rel=REL)
    assert b["naive_estimate"] == pytest.approx(-a["naive_estimate"], rel=REL)
    assert b["ess_reference"] == pytest.approx(a["ess_comparator"], rel=REL)
    for key, smd in a["smd_after"].items():
        assert b["smd_after"][key] == pytest.approx(-smd, rel=1e-5, abs=1e-9), key
    assert b["e_value"] == pytest.approx(a["e_value"], rel=REL)


def test_adding_a_constant_to_nprs_changes_no_effect(clinic_a_dataset: Any, result: Any) -> None:
    outcomes = clinic_a_dataset.outcomes.copy()
    is_nprs = outcomes["measure"] == "nprs"
    outcomes.loc[is_nprs, "value"] = outcomes.loc[is_nprs, "value"] + 5.0
    shifted = compare_iptw(_replace(clinic_a_dataset, outcomes=outcomes)).to_dict()
    base = result.to_dict()
    for key in ("estimate", "se", "ess_reference", "ess_comparator", "naive_estimate"):
        assert shifted[key] == pytest.approx(base[key], rel=1e-6), key


def test_dropping_an_unused_arm_changes_nothing(clinic_a_dataset: Any, result: Any) -> None:
    episodes = clinic_a_dataset.episodes
    kept = episodes.loc[episodes["arm"] != "manual_exercise"]
    assert compare_iptw(_replace(clinic_a_dataset, episodes=kept)).to_dict() == result.to_dict()


def test_result_records_who_was_used(result: Any) -> None:
    assert result.n == len(result.episodes_used) == len(result.weights)
    assert any("left out" in note for note in result.notes)
    assert "IPTW" in str(result) and "<table" in result._repr_html_()


def test_too_few_episodes_in_an_arm(clinic_a_dataset: Any) -> None:
    episodes = clinic_a_dataset.episodes
    comparator = episodes.index[episodes["arm"] == "dn_manual_exercise"]
    kept = episodes.drop(comparator[5:])
    with pytest.raises(InsufficientDataError, match="at least 10"):
        compare_iptw(_replace(clinic_a_dataset, episodes=kept))
    with pytest.raises(RequestError, match="conf_level"):
        compare_iptw(clinic_a_dataset, conf_level=1.5)


def test_an_outcome_without_variation_is_a_clear_error(clinic_a_dataset: Any) -> None:
    outcomes = clinic_a_dataset.outcomes.copy()
    at_discharge = (outcomes["measure"] == "nprs") & (outcomes["timepoint"] == "discharge")
    outcomes.loc[at_discharge, "value"] = 3.0
    with pytest.raises(InsufficientDataError, match="has nprs = 3 at discharge"):
        compare_iptw(_replace(clinic_a_dataset, outcomes=outcomes))


def test_iptw_moves_a_confounded_estimate_toward_the_truth(rng: np.random.Generator) -> None:
    # Sicker patients (higher baseline pain and disability) get more treatment; the true
    # effect is -1. The propensity model sees the confounder; the outcome model does not.
    n = 4000
    severity = rng.normal(size=n)
    treated = (rng.random(n) < 1 / (1 + np.exp(-1.5 * severity))).astype(float)
    covs = pd.DataFrame({"severity": severity})
    ps, w, converged, _ = propensity_weights(covs, treated)
    assert converged
    y = 5.0 - 1.0 * treated + 1.5 * severity + rng.normal(size=n)
    x = np.column_stack([np.ones(n), treated])
    naive = np.linalg.lstsq(x, y, rcond=None)[0][1]
    weighted = np.linalg.lstsq(x * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0][1]
    assert abs(weighted + 1.0) < abs(naive + 1.0)
    assert weighted == pytest.approx(-1.0, abs=0.15)
    assert abs(standardized_mean_differences(covs, treated, w)["severity"]) < 0.1


@pytest.mark.slow
def test_generated_confounding_is_corrected_toward_the_truth() -> None:
    import warnings

    from dnoutcomes.sample import generate

    sample = generate(episodes=3000, seed=7)  # sicker episodes get the combination
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's deliberate data-quality warnings
        dataset = sample.to_dataset()
    res = compare_iptw(dataset)
    truth = sample.truth.effects["nprs@discharge"]["compared"]
    rows = res.table.set_index("term")
    naive, adjusted = rows.loc["naive"], rows.loc["iptw"]
    assert abs(adjusted["estimate"] - truth) < abs(naive["estimate"] - truth)
    assert adjusted["conf_low"] < truth < adjusted["conf_high"]
    assert res.balance["smd_after"].abs().max() < 0.1 < res.balance["smd_before"].abs().max()


@pytest.mark.parametrize("name", ["dnoutcomes.stats.iptw", "dnoutcomes.stats._evalue"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_complete_separation_is_reported_not_hidden() -> None:
    covariates = pd.DataFrame({"age": np.arange(20.0)})
    treated = (np.arange(20) >= 10).astype(float)  # age separates the arms completely
    ps, weights, converged, messages = propensity_weights(covariates, treated)
    assert converged is False
    assert any("did not converge" in m for m in messages)
    assert any("0 or 1" in m for m in messages)
    assert np.isfinite(ps).all() and np.isfinite(weights).all()
    assert ((ps > 0) & (ps < 1)).all()


def test_cores_refuse_bad_input() -> None:
    covs = pd.DataFrame({"age": [30.0, 40.0, 50.0, 60.0]})
    with pytest.raises(RequestError, match="not found; the frame has age"):
        indicator_columns(covs, continuous=["agee"], categorical=[])
    with pytest.raises(RequestError, match="one 0/1 value per covariate row"):
        standardized_mean_differences(covs, [0, 1, 1])
    with pytest.raises(RequestError, match="0 .reference. or 1"):
        propensity_weights(covs, [0, 1, 2, 1])
    with pytest.raises(RequestError, match="missing"):
        standardized_mean_differences(pd.DataFrame({"age": [1.0, np.nan, 3, 4]}), [0, 0, 1, 1])
    with pytest.raises(RequestError, match="at least 2 rows"):
        propensity_weights(covs, [0, 1, 1, 1])
    with pytest.raises(RequestError, match="weights"):
        standardized_mean_differences(covs, [0, 0, 1, 1], [1.0, -1.0, 1.0, 1.0])
