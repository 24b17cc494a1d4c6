"""Tests of dnoutcomes.stats.mixed: the fast profiled-REML engine against lme4 (clinic_a,
R 4.2.2, lme4 1.1-31), against statsmodels' MixedLM, and against a dense REML written from
the textbook likelihood; the plan's invariances; errors."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.mixed import (
    FIXED_TERMS,
    compare_trajectories,
    fit_random_intercept,
)

LME4_REL = 1e-6  # the fast engine against lme4 (issue 8)
STATSMODELS_REL = 1e-3  # the plan's tolerance for the general optimiser


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)  # type: ignore[arg-type]
    return SimpleNamespace(**{**vars(dataset), **changes})


def _simulate(
    rng: np.random.Generator, groups: int, *, sd_u: float = 1.2, sd_e: float = 0.9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = rng.integers(1, 6, size=groups)
    g = np.repeat(np.arange(groups), sizes)
    treated = (rng.random(groups) < 0.4).astype(float)[g]
    weeks = rng.uniform(0, 10, size=g.size)
    x = np.column_stack([np.ones(g.size), treated, weeks, treated * weeks])
    beta = np.array([6.0, 0.5, -0.4, -0.15])
    y = x @ beta + rng.normal(0, sd_u, groups)[g] + rng.normal(0, sd_e, g.size)
    return y, x, g


def _dense_reml(
    y: np.ndarray, x: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, float, float, float]:
    """REML from the textbook likelihood with a dense V (Harville 1977), optimised over both
    variances directly with Nelder-Mead: independent of the profiled formulas."""
    z = (g[:, None] == np.unique(g)[None, :]).astype(float)
    n, p = x.shape

    def neg2ll(log_var: np.ndarray) -> float:
        su2, se2 = np.exp(log_var)
        v = su2 * z @ z.T + se2 * np.eye(n)
        vinv = np.linalg.inv(v)
        xtvx = x.T @ vinv @ x
        beta = np.linalg.solve(xtvx, x.T @ vinv @ y)
        r = y - x @ beta
        return float(np.linalg.slogdet(v)[1] + np.linalg.slogdet(xtvx)[1] + r @ vinv @ r) + (
            n - p
        ) * np.log(2 * np.pi)

    opt = optimize.minimize(
        neg2ll, np.log([1.0, 1.0]), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}
    )
    su2, se2 = np.exp(opt.x)
    v = su2 * z @ z.T + se2 * np.eye(n)
    vinv = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ y)
    return beta, float(np.sqrt(su2)), float(np.sqrt(se2)), float(opt.fun)


@pytest.fixture(scope="module")
def fast(clinic_a_dataset: Any) -> Any:
    return compare_trajectories(clinic_a_dataset)


@pytest.fixture(scope="module")
def reference_engine(clinic_a_dataset: Any) -> Any:
    return compare_trajectories(clinic_a_dataset, engine="statsmodels")


def _check_against_lme4(result: Any, expected: dict[str, Any], rel: float) -> None:
    got = result.to_dict()
    assert got["measure"] == expected["measure"]
    assert got["n_obs"] == expected["n_obs"]
    assert got["n_episodes"] == expected["n_episodes"]
    assert set(got["fixed"]) == set(expected["fixed"])
    for term, values in expected["fixed"].items():
        for key, value in values.items():
            assert got["fixed"][term][key] == pytest.approx(value, rel=rel), (term, key)
    assert got["sd_episode"] == pytest.approx(expected["sd_episode"], rel=rel)
    assert got["sd_residual"] == pytest.approx(expected["sd_residual"], rel=rel)


def test_fast_engine_matches_lme4(fast: Any, clinic_a_expected: dict[str, Any]) -> None:
    _check_against_lme4(fast, clinic_a_expected["lmm"], LME4_REL)
    assert fast.converged and fast.engine == "fast"
    assert fast.n == fast.n_episodes == len(fast.episodes_used)


def test_statsmodels_engine_matches_lme4(
    reference_engine: Any, clinic_a_expected: dict[str, Any]
) -> None:
    _check_against_lme4(reference_engine, clinic_a_expected["lmm"], STATSMODELS_REL)
    assert reference_engine.engine == "statsmodels"


def test_fast_matches_statsmodels_on_clinic_a(fast: Any, reference_engine: Any) -> None:
    a, b = fast.table.set_index("term"), reference_engine.table.set_index("term")
    np.testing.assert_allclose(a["estimate"], b["estimate"], rtol=1e-4)
    np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=1e-4)
    assert fast.sd_episode == pytest.approx(reference_engine.sd_episode, rel=1e-4)
    assert fast.sd_residual == pytest.approx(reference_engine.sd_residual, rel=1e-4)
    np.testing.assert_allclose(
        fast.means["estimate"], reference_engine.means["estimate"], rtol=1e-4
    )


def test_fast_matches_statsmodels_on_generated_data(rng: np.random.Generator) -> None:
    y, x, g = _simulate(rng, 400)
    a = fit_random_intercept(y, x, g)
    b = fit_random_intercept(y, x, g, engine="statsmodels")
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-4)
    # statsmodels takes the fixed effects' SEs from its numerical Hessian rather than
    # sigma^2 (X'V^-1 X)^-1 (lme4's, and ours): they differ by a few 1e-4 here.
    np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=1e-3)
    assert a.sd_group == pytest.approx(b.sd_group, rel=1e-4)
    assert a.sd_residual == pytest.approx(b.sd_residual, rel=1e-4)
    assert (a.n_obs, a.n_groups) == (b.n_obs, b.n_groups) == (len(y), 400)


def test_fast_matches_dense_textbook_reml(rng: np.random.Generator) -> None:
    y, x, g = _simulate(rng, 25)
    fit = fit_random_intercept(y, x, g)
    beta, sd_u, sd_e, neg2ll = _dense_reml(y, x, g)
    np.testing.assert_allclose(fit.coef, beta, rtol=1e-5)
    assert fit.reml_criterion == pytest.approx(neg2ll, rel=1e-9)
    assert fit.sd_group == pytest.approx(sd_u, rel=1e-5)
    assert fit.sd_residual == pytest.approx(sd_e, rel=1e-5)
    # Covariance of beta: sigma_e^2 (X' V0^-1 X)^-1 with the fitted variance ratio.
    z = (g[:, None] == np.unique(g)[None, :]).astype(float)
    v = fit.sd_group**2 * z @ z.T + fit.sd_residual**2 * np.eye(len(y))
    cov = np.linalg.inv(x.T @ np.linalg.inv(v) @ x)
    np.testing.assert_allclose(fit.cov, cov, rtol=1e-8)


def test_boundary_fit_is_ordinary_least_squares(rng: np.random.Generator) -> None:
    # Two rows per group that sum to the same value: the group means vary less than the
    # residuals imply, so the REML group variance is 0 and the fit is OLS.
    groups = 60
    g = np.repeat(np.arange(groups), 2)
    e = rng.normal(0, 1, groups)
    x = np.column_stack([np.ones(2 * groups), rng.normal(size=2 * groups)])
    y = 3.0 + 0.5 * x[:, 1] + np.ravel(np.column_stack([e, -e]))
    fit = fit_random_intercept(y, x, g)
    ols_beta, rss = np.linalg.lstsq(x, y, rcond=None)[:2]
    sigma2 = float(rss[0]) / (len(y) - 2)
    assert fit.theta == 0.0 and fit.sd_group == 0.0
    np.testing.assert_allclose(fit.coef, ols_beta, rtol=1e-10)
    np.testing.assert_allclose(fit.cov, sigma2 * np.linalg.inv(x.T @ x), rtol=1e-10)
    assert any("boundary" in m for m in fit.messages)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shift=st.floats(-50, 50, allow_nan=False),
    column=st.integers(0, 3),
)
def test_adding_a_multiple_of_a_column_shifts_only_its_coefficient(
    seed: int, shift: float, column: int
) -> None:
    y, x, g = _simulate(np.random.default_rng(seed), 40)
    a = fit_random_intercept(y, x, g)
    b = fit_random_intercept(y + shift * x[:, column], x, g)
    expected = a.coef.copy()
    expected[column] += shift
    np.testing.assert_allclose(b.coef, expected, rtol=1e-6, atol=1e-6)
    assert b.sd_residual == pytest.approx(a.sd_residual, rel=1e-6)
    assert b.sd_group == pytest.approx(a.sd_group, rel=1e-5, abs=1e-6)


def test_model_means_are_linear_combinations(fast: Any) -> None:
    means = fast.means
    assert list(means.columns) == ["arm", "weeks", "estimate", "std_error", "conf_low", "conf_high"]
    assert list(means["arm"].unique()) == ["dn_only", "dn_manual_exercise"]
    assert list(means["weeks"].unique()) == [0.0, 2.0, 4.0, 6.0, 8.0]
    b = fast.table.set_index("term")
    ref0 = means.iloc[0]
    assert ref0["estimate"] == pytest.approx(b.loc["intercept", "estimate"], rel=1e-12)
    assert ref0["std_error"] == pytest.approx(b.loc["intercept", "std_error"], rel=1e-12)
    comp8 = means.iloc[-1]
    assert comp8["estimate"] == pytest.approx(
        b["estimate"].sum() + 7 * (b.loc["weeks", "estimate"] + b.loc["arm_x_weeks", "estimate"]),
        rel=1e-12,
    )
    half = comp8["estimate"] - comp8["conf_low"]
    assert half == pytest.approx(1.959963984540054 * comp8["std_error"], rel=1e-9)


def test_fixed_frame_is_tidy(fast: Any) -> None:
    frame = fast.to_frame()
    assert list(frame.columns) == [
        "term",
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "conf_low",
        "conf_high",
    ]
    assert tuple(frame["term"]) == FIXED_TERMS
    np.testing.assert_allclose(frame["statistic"], frame["estimate"] / frame["std_error"])
    assert frame is not fast.table
    text = str(fast)
    assert "REML" in text and "arm_x_weeks" in text
    assert "<table" in fast._repr_html_()


def test_swapping_arms_flips_the_arm_terms(clinic_a_dataset: Any, fast: Any) -> None:
    swapped = compare_trajectories(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only"
    )
    a, b = fast.table.set_index("term")["estimate"], swapped.table.set_index("term")["estimate"]
    assert b["arm"] == pytest.approx(-a["arm"], rel=1e-6)
    assert b["arm_x_weeks"] == pytest.approx(-a["arm_x_weeks"], rel=1e-6)
    assert b["intercept"] == pytest.approx(a["intercept"] + a["arm"], rel=1e-6)
    assert b["weeks"] == pytest.approx(a["weeks"] + a["arm_x_weeks"], rel=1e-6)
    assert swapped.sd_episode == pytest.approx(fast.sd_episode, rel=1e-6)
    pd.testing.assert_frame_equal(
        swapped.means.sort_values(["arm", "weeks"]).reset_index(drop=True),
        fast.means.sort_values(["arm", "weeks"]).reset_index(drop=True),
        rtol=1e-6,
    )


def test_adding_a_constant_to_nprs_moves_only_the_intercept(
    clinic_a_dataset: Any, fast: Any
) -> None:
    outcomes = clinic_a_dataset.outcomes.copy()
    is_nprs = outcomes["measure"] == "nprs"
    outcomes.loc[is_nprs, "value"] = outcomes.loc[is_nprs, "value"] + 3.0
    shifted = compare_trajectories(_replace(clinic_a_dataset, outcomes=outcomes))
    a, b = fast.table.set_index("term"), shifted.table.set_index("term")
    assert b.loc["intercept", "estimate"] == pytest.approx(a.loc["intercept", "estimate"] + 3)
    for term in ("arm", "weeks", "arm_x_weeks"):
        assert b.loc[term, "estimate"] == pytest.approx(a.loc[term, "estimate"], rel=1e-6)
    np.testing.assert_allclose(b["std_error"], a["std_error"], rtol=1e-6)


def test_dropping_an_unused_arm_changes_nothing(clinic_a_dataset: Any, fast: Any) -> None:
    episodes = clinic_a_dataset.episodes
    kept = episodes.loc[episodes["arm"] != "manual_exercise"]
    assert len(kept) < len(episodes)
    smaller = compare_trajectories(_replace(clinic_a_dataset, episodes=kept))
    assert smaller.to_dict() == fast.to_dict()


def test_plan_keys(fast: Any, clinic_a_expected: dict[str, Any]) -> None:
    assert set(clinic_a_expected["lmm"]) <= set(fast.to_dict())


def test_bad_requests_raise_clear_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="engine"):
        compare_trajectories(clinic_a_dataset, engine="lme4")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="nprz"):
        compare_trajectories(clinic_a_dataset, measure="nprz")
    with pytest.raises(RequestError, match="usual_care"):
        compare_trajectories(clinic_a_dataset, comparator="usual_care")
    with pytest.raises(RequestError, match="conf_level"):
        compare_trajectories(clinic_a_dataset, conf_level=95)
    with pytest.raises(RequestError, match="weeks"):
        compare_trajectories(clinic_a_dataset, weeks=(0.0, float("nan")))


def test_an_arm_with_one_episode_is_too_few(clinic_a_dataset: Any) -> None:
    episodes = clinic_a_dataset.episodes
    comparator = episodes.index[episodes["arm"] == "dn_manual_exercise"]
    kept = episodes.drop(comparator[1:])
    with pytest.raises(InsufficientDataError, match="has 1 episodes.*at least 2"):
        compare_trajectories(_replace(clinic_a_dataset, episodes=kept))


def test_core_refuses_bad_arrays() -> None:
    y = np.array([1.0, 2.0, np.nan, 4.0])
    x = np.ones((4, 1))
    with pytest.raises(RequestError, match="finite"):
        fit_random_intercept(y, x, [0, 0, 1, 1])
    with pytest.raises(RequestError, match="same number of rows"):
        fit_random_intercept(np.ones(3), x, [0, 0, 1, 1])
    with pytest.raises(InsufficientDataError, match="rank"):
        fit_random_intercept(np.arange(4.0), np.ones((4, 2)), [0, 0, 1, 1])
    with pytest.raises(RequestError, match="engine"):
        fit_random_intercept(np.arange(4.0), x, [0, 0, 1, 1], engine="x")  # type: ignore[arg-type]


@pytest.mark.slow
def test_recovers_the_generators_slope_difference() -> None:
    import warnings

    from dnoutcomes.sample import generate

    sample = generate(episodes=3000, seed=7, confounding=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's deliberate data-quality warnings
        dataset = sample.to_dataset()
    row = compare_trajectories(dataset).table.set_index("term").loc["arm_x_weeks"]
    # The truth on the observed 0-10 scale (after rounding and clipping).
    truth = sample.truth.nprs_weekly_scale["difference"]
    assert row["conf_low"] < truth < row["conf_high"]


@pytest.mark.parametrize("name", ["dnoutcomes.stats.mixed", "dnoutcomes.stats._reml"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_no_residual_variation_is_flagged_as_not_converged(rng: np.random.Generator) -> None:
    g = np.repeat(np.arange(30), 3)
    x = np.column_stack([np.ones(90), np.tile([0.0, 1.0, 2.0], 30)])
    y = x @ [1.0, 0.5] + rng.normal(0, 1, 30)[g]  # episodes differ, visits do not
    fit = fit_random_intercept(y, x, g)
    assert fit.converged is False
    assert any("upper end" in m for m in fit.messages)
    np.testing.assert_allclose(fit.coef, [fit.coef[0], 0.5], rtol=1e-6)


def test_profile_slope_is_the_derivative_of_the_criterion(rng: np.random.Generator) -> None:
    from dnoutcomes.stats.mixed import _profile, _profile_slope, _suffstats

    y, x, g = _simulate(rng, 60)
    s = _suffstats(y, x, g.astype(np.intp), 60)
    for theta in (0.05, 0.7, 3.0):
        h = 1e-6 * theta
        numeric = (_profile(s, theta + h)[0] - _profile(s, theta - h)[0]) / (2 * h)
        assert _profile_slope(s, theta) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


# --- observed means per arm and whole week --------------------------------------------


def _hand_observed(path: Any, conf_level: float) -> pd.DataFrame:
    """Observed means from the raw clinic_a CSV files with pandas alone: the arm declared,
    else derived from the sessions as the data contract says; NPRS at baseline, session
    and discharge; week = round((assessed_on - start_date) days / 7)."""
    episodes = pd.read_csv(path / "episodes.csv", parse_dates=["start_date"])
    sessions = pd.read_csv(path / "sessions.csv")
    outcomes = pd.read_csv(path / "outcomes.csv", parse_dates=["assessed_on"])
    any_ = sessions.groupby("episode_id")[
        ["dn_performed", "manual_therapy", "exercise_therapy"]
    ].any()
    derived = pd.Series("other", index=any_.index)
    dn, mt, ex = any_["dn_performed"], any_["manual_therapy"], any_["exercise_therapy"]
    derived[dn & ~mt & ~ex] = "dn_only"
    derived[dn & mt & ex] = "dn_manual_exercise"
    arm = episodes["arm"].fillna(episodes["episode_id"].map(derived))
    episodes = episodes.assign(arm=arm)
    rows = outcomes.loc[
        (outcomes["measure"] == "nprs")
        & outcomes["timepoint"].isin(["baseline", "session", "discharge"])
    ].merge(
        episodes.loc[episodes["arm"].isin(["dn_only", "dn_manual_exercise"])],
        on="episode_id",
    )
    rows = rows.dropna(subset=["value", "assessed_on", "start_date"])
    rows["weeks"] = ((rows["assessed_on"] - rows["start_date"]).dt.days / 7).round().astype(int)
    out = rows.groupby(["arm", "weeks"])["value"].agg(["count", "mean", "std"]).reset_index()
    low, high = stats.t.interval(
        conf_level, out["count"] - 1, loc=out["mean"], scale=out["std"] / np.sqrt(out["count"])
    )
    out["low"], out["high"] = low, high
    out.attrs["n_rows"] = len(rows)
    return out


@pytest.mark.parametrize("conf_level", [0.95, 0.8])
def test_observed_means_equal_a_hand_groupby_of_the_raw_files(
    clinic_a_dataset: Any,
    clinic_a_path: Any,
    clinic_a_expected: dict[str, Any],
    conf_level: float,
) -> None:
    hand = _hand_observed(clinic_a_path, conf_level)
    # the hand rows are the model's rows: R's lmer saw as many
    assert hand.attrs["n_rows"] == clinic_a_expected["lmm"]["n_obs"]
    result = compare_trajectories(clinic_a_dataset, conf_level=conf_level, min_n=1)
    got = result.observed
    assert list(got.columns) == [
        "arm",
        "weeks",
        "n",
        "estimate",
        "sd",
        "std_error",
        "conf_low",
        "conf_high",
    ]
    assert int(got["n"].sum()) == result.n_obs
    assert got["arm"].iloc[0] == "dn_only"  # reference arm first, weeks ascending
    merged = got.merge(hand, on=["arm", "weeks"], how="outer", validate="1:1", indicator=True)
    assert (merged["_merge"] == "both").all()
    np.testing.assert_array_equal(merged["n"], merged["count"])
    for ours, theirs in [
        ("estimate", "mean"),
        ("sd", "std"),
        ("conf_low", "low"),
        ("conf_high", "high"),
    ]:
        np.testing.assert_allclose(merged[ours], merged[theirs], rtol=1e-12, atol=0)
    np.testing.assert_allclose(merged["std_error"], merged["std"] / np.sqrt(merged["count"]))


def test_observed_weeks_with_few_values_are_left_out_and_noted(
    clinic_a_dataset: Any, fast: Any
) -> None:
    everything = compare_trajectories(clinic_a_dataset, min_n=1).observed
    assert (fast.observed["n"] >= 5).all()  # the default min_n
    pd.testing.assert_frame_equal(
        fast.observed, everything.loc[everything["n"] >= 5].reset_index(drop=True)
    )
    strict = compare_trajectories(clinic_a_dataset, min_n=100)
    left_out = everything.loc[everything["n"] < 100]
    assert len(strict.observed) == len(everything) - len(left_out) > 0
    assert any(f"{len(left_out)} arm-week(s) with fewer than 100" in n for n in strict.notes)
    records = strict.to_dict()["observed_means"]
    assert [(r["arm"], r["weeks"], r["n"]) for r in records] == list(
        zip(strict.observed["arm"], strict.observed["weeks"], strict.observed["n"], strict=True)
    )
    assert records[0]["ci_low"] == strict.observed["conf_low"].iloc[0]
    assert records[0]["se"] == strict.observed["std_error"].iloc[0]
    for bad in (0, 2.5, True):
        with pytest.raises(RequestError, match="min_n must be a whole number"):
            compare_trajectories(clinic_a_dataset, min_n=bad)  # type: ignore[arg-type]


def test_observed_means_of_single_values_have_no_interval() -> None:
    from dnoutcomes.stats.mixed import observed_means

    rows = pd.DataFrame(
        {
            "arm": ["a", "a", "a", "b", "b", "b", "b"],
            "weeks": [0.1, -0.2, 2.4, 0.0, 0.49, 0.6, np.nan],
            "value": [4.0, 6.0, 3.0, 1.0, 2.0, 9.0, 5.0],
        }
    )
    frame, notes = observed_means(rows, arms=("b", "a"), conf_level=0.9, min_n=1)
    assert frame[["arm", "weeks", "n"]].to_numpy().tolist() == [
        ["b", 0, 2],
        ["b", 1, 1],
        ["a", 0, 2],
        ["a", 2, 1],
    ]
    np.testing.assert_allclose(frame["estimate"], [1.5, 9.0, 5.0, 3.0])
    lo, hi = stats.t.interval(0.9, 1, loc=1.5, scale=np.std([1.0, 2.0], ddof=1) / np.sqrt(2))
    assert frame.loc[0, "conf_low"] == pytest.approx(lo, rel=1e-12)
    assert frame.loc[0, "conf_high"] == pytest.approx(hi, rel=1e-12)
    assert frame.loc[[1, 3], ["sd", "std_error", "conf_low", "conf_high"]].isna().all().all()
    assert notes == ("Observed means: one value only, so no interval, at b week 1; a week 2.",)
    frame, notes = observed_means(rows, arms=("a", "b"), min_n=2)
    assert frame[["arm", "weeks"]].to_numpy().tolist() == [["a", 0], ["b", 0]]
    assert notes == (
        "Observed means: 2 arm-week(s) with fewer than 2 values left out (a week 2; b week 1).",
    )
