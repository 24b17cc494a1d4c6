"""Tests of dnoutcomes.stats.meta against R (clinic_a: lm per site, metafor rma DL), metafor's
own published DerSimonian-Laird results on the BCG vaccine trials (dat.bcg, checked there
against Stata's metan), and statsmodels' combine_effects where the two definitions agree."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.meta_analysis import combine_effects

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.meta import compare_sites, pool_dersimonian_laird

REL = 1e-6

# BCG vaccine trials (Colditz et al., JAMA 1994), as metafor's dat.bcg: tpos, tneg, cpos, cneg.
BCG = np.array(
    [
        [4, 119, 11, 128],
        [6, 300, 29, 274],
        [3, 228, 11, 209],
        [62, 13536, 248, 12619],
        [33, 5036, 47, 5761],
        [180, 1361, 372, 1079],
        [8, 2537, 10, 619],
        [505, 87886, 499, 87892],
        [29, 7470, 45, 7232],
        [17, 1699, 65, 1600],
        [186, 50448, 141, 27197],
        [5, 2493, 3, 2338],
        [27, 16886, 29, 17825],
    ],
    dtype=float,
)


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)  # type: ignore[arg-type]
    return SimpleNamespace(**{**vars(dataset), **changes})


def _bcg_log_rr() -> tuple[np.ndarray, np.ndarray]:
    a, b, c, d = BCG.T
    yi = np.log(a / (a + b)) - np.log(c / (c + d))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, np.sqrt(vi)


@pytest.fixture(scope="module")
def result(clinic_a_dataset: Any) -> Any:
    return compare_sites(clinic_a_dataset)


def test_every_site_meta_figure_matches_r(result: Any, clinic_a_expected: dict[str, Any]) -> None:
    got = result.to_dict()
    expected = clinic_a_expected["site_meta"]
    assert [s["site_id"] for s in got["sites"]] == [s["site_id"] for s in expected["sites"]]
    for g, e in zip(got["sites"], expected["sites"], strict=True):
        assert g["n"] == e["n"]
        assert g["estimate"] == pytest.approx(e["estimate"], rel=REL)
        assert g["se"] == pytest.approx(e["se"], rel=REL)
    for key in ("estimate", "se", "ci_low", "ci_high", "q"):
        assert got[key] == pytest.approx(expected[key], rel=REL), key
    # tau2 and I2 are exactly 0 in R (truncated); relative tolerance of 0 is exactness.
    assert got["tau2"] == expected["tau2"] == 0
    assert got["i2"] == expected["i2"] == 0


def test_dersimonian_laird_reproduces_metafor_on_bcg() -> None:
    yi, sei = _bcg_log_rr()
    pooled = pool_dersimonian_laird(yi, sei)
    # metafor tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r (4 decimals).
    assert pooled.estimate == pytest.approx(-0.7141, abs=5e-5)
    assert pooled.conf_low == pytest.approx(-1.0644, abs=5e-5)
    assert pooled.conf_high == pytest.approx(-0.3638, abs=5e-5)
    assert pooled.statistic == pytest.approx(-3.9952, abs=5e-5)
    assert pooled.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert pooled.i2 == pytest.approx(92.1173, abs=5e-5)
    assert pooled.q == pytest.approx(152.2330, abs=5e-5)
    assert pooled.fixed_estimate == pytest.approx(-0.4303, abs=5e-5)
    assert pooled.q_df == 12 and pooled.k == 13
    assert sum(pooled.weights) == pytest.approx(100.0)


def test_agrees_with_statsmodels_when_tau2_is_positive() -> None:
    yi, sei = _bcg_log_rr()
    ours = pool_dersimonian_laird(yi, sei)
    theirs = combine_effects(yi, sei**2, method_re="dl")
    assert ours.tau2 == pytest.approx(theirs.tau2, rel=1e-10)
    assert ours.estimate == pytest.approx(theirs.mean_effect_re, rel=1e-10)
    assert ours.std_error == pytest.approx(theirs.sd_eff_w_re, rel=1e-10)
    assert ours.q == pytest.approx(theirs.q, rel=1e-10)
    assert ours.i2 == pytest.approx(100 * theirs.i2, rel=1e-10)


def test_truncates_tau2_where_statsmodels_goes_negative(result: Any) -> None:
    sites = result.sites
    theirs = combine_effects(
        sites["estimate"].to_numpy(), sites["std_error"].to_numpy() ** 2, method_re="dl"
    )
    assert theirs.tau2 < 0  # statsmodels keeps the negative moment estimate ...
    assert theirs.sd_eff_w_re < result.pooled.fixed_std_error  # ... and a too-small SE
    assert result.pooled.tau2 == 0.0
    assert result.pooled.std_error == pytest.approx(result.pooled.fixed_std_error, rel=1e-12)
    assert result.pooled.estimate == pytest.approx(theirs.mean_effect_fe, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(-5, 5), st.floats(0.05, 3)), min_size=2, max_size=12),
    seed=st.integers(0, 1000),
    shift=st.floats(-10, 10),
)
def test_pooling_invariances(data: list[tuple[float, float]], seed: int, shift: float) -> None:
    y = np.array([d[0] for d in data])
    se = np.array([d[1] for d in data])
    base = pool_dersimonian_laird(y, se)
    order = np.random.default_rng(seed).permutation(len(y))
    permuted = pool_dersimonian_laird(y[order], se[order])
    assert permuted.estimate == pytest.approx(base.estimate, rel=1e-9, abs=1e-12)
    assert permuted.tau2 == pytest.approx(base.tau2, rel=1e-9, abs=1e-12)
    flipped = pool_dersimonian_laird(-y, se)
    assert flipped.estimate == pytest.approx(-base.estimate, rel=1e-9, abs=1e-12)
    assert flipped.std_error == pytest.approx(base.std_error, rel=1e-9)
    moved = pool_dersimonian_laird(y + shift, se)
    assert moved.estimate == pytest.approx(base.estimate + shift, rel=1e-9, abs=1e-9)
    assert moved.q == pytest.approx(base.q, rel=1e-6, abs=1e-9)
    assert 0.0 <= base.i2 <= 100.0 and base.tau2 >= 0.0
    assert base.std_error >= base.fixed_std_error * (1 - 1e-12)


def test_pooling_refuses_bad_input() -> None:
    with pytest.raises(InsufficientDataError, match="at least 2"):
        pool_dersimonian_laird([0.1], [0.2])
    with pytest.raises(RequestError, match="positive"):
        pool_dersimonian_laird([0.1, 0.2], [0.2, 0.0])
    with pytest.raises(RequestError, match="same"):
        pool_dersimonian_laird([0.1, 0.2], [0.2])
    with pytest.raises(RequestError, match="conf_level"):
        pool_dersimonian_laird([0.1, 0.2], [0.2, 0.3], conf_level=0)


def test_frames_and_text(result: Any) -> None:
    assert list(result.sites.columns) == [
        "site_id",
        "n",
        "n_reference",
        "n_comparator",
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "conf_low",
        "conf_high",
        "weight",
    ]
    frame = result.to_frame()
    assert frame["term"].iloc[-1].startswith("pooled")
    assert frame["n"].iloc[-1] == result.n == len(result.episodes_used)
    assert result.sites["weight"].sum() == pytest.approx(100.0)
    assert (result.estimate, result.tau2, result.i2) == (
        result.pooled.estimate,
        result.pooled.tau2,
        result.pooled.i2,
    )
    assert "DerSimonian" in str(result) and "<table" in result._repr_html_()


def test_swapping_arms_flips_every_estimate(clinic_a_dataset: Any, result: Any) -> None:
    swapped = compare_sites(clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only")
    np.testing.assert_allclose(swapped.sites["estimate"], -result.sites["estimate"], rtol=1e-6)
    assert swapped.estimate == pytest.approx(-result.estimate, rel=1e-6)
    assert swapped.q == pytest.approx(result.q, rel=1e-6)


def test_adding_a_constant_and_dropping_an_unused_arm(clinic_a_dataset: Any, result: Any) -> None:
    outcomes = clinic_a_dataset.outcomes.copy()
    is_nprs = outcomes["measure"] == "nprs"
    outcomes.loc[is_nprs, "value"] = outcomes.loc[is_nprs, "value"] + 2.0
    shifted = compare_sites(_replace(clinic_a_dataset, outcomes=outcomes))
    assert shifted.estimate == pytest.approx(result.estimate, rel=1e-6)
    np.testing.assert_allclose(shifted.sites["std_error"], result.sites["std_error"], rtol=1e-6)
    episodes = clinic_a_dataset.episodes
    kept = episodes.loc[episodes["arm"] != "manual_exercise"]
    assert compare_sites(_replace(clinic_a_dataset, episodes=kept)).to_dict() == result.to_dict()


def test_a_site_without_one_arm_is_left_out_and_named(clinic_a_dataset: Any) -> None:
    episodes = clinic_a_dataset.episodes.copy()
    south_comparator = (episodes["site_id"] == "south") & (episodes["arm"] == "dn_manual_exercise")
    episodes.loc[south_comparator, "arm"] = "manual_exercise"
    partial = compare_sites(_replace(clinic_a_dataset, episodes=episodes))
    assert list(partial.sites["site_id"]) == ["central", "north"]
    assert partial.sites_left_out == ("south",)
    assert any("Site south was left out" in note for note in partial.notes)
    north_only = episodes.loc[episodes["site_id"] != "central"]
    with pytest.raises(InsufficientDataError, match="pooling needs at least 2"):
        compare_sites(_replace(clinic_a_dataset, episodes=north_only))


@pytest.mark.slow
def test_pooled_estimate_covers_the_generators_effect() -> None:
    import warnings

    from dnoutcomes.sample import generate

    sample = generate(episodes=3000, seed=7, confounding=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's deliberate data-quality warnings
        dataset = sample.to_dataset()
    res = compare_sites(dataset)
    assert sorted(res.sites["site_id"]) == sorted(sample.truth.sites)
    truth = sample.truth.effects["nprs@discharge"]["compared"]
    assert res.conf_low < truth < res.conf_high


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.meta as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_pooled_estimate_frame_and_html() -> None:
    yi, sei = _bcg_log_rr()
    pooled = pool_dersimonian_laird(yi, sei)
    frame = pooled.to_frame().set_index("term")
    assert frame.loc["random_effects", "estimate"] == pooled.estimate
    assert frame.loc["random_effects", "conf_high"] == pooled.conf_high
    assert frame.loc["fixed_effect", "std_error"] == pooled.fixed_std_error
    assert np.isnan(frame.loc["fixed_effect", "p_value"])
    assert (frame["i2"] == pooled.i2).all() and (frame["k"] == 13).all()
    assert "13 estimates" in pooled._repr_html_() and "<table" in pooled._repr_html_()
    frame.loc["random_effects", "estimate"] = 0.0  # a copy: the result is untouched
    assert pooled.to_frame().loc[0, "estimate"] == pooled.estimate
