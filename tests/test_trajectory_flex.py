"""Tests of dnoutcomes.stats.trajectory_flex and dnoutcomes.stats._splines: random slopes
(linear and natural-spline time) against ``lme4::lmer`` on clinic_a, and the ``ns`` basis
against R's ``splines::ns`` (tests/reference/routine_care.R, section 2; inputs
tests/reference/routine_care_trajectory.csv).

R::

    lin <- lmer(value ~ treated * weeks + (1 + weeks | episode_id), data = tr, REML = TRUE)
    spl <- lmer(value ~ treated * ns(weeks, df = 3) + (1 + weeks | episode_id), data = tr,
                REML = TRUE)
    # contrast at week w: (model.matrix(arm = 1, w) - model.matrix(arm = 0, w)) %*% fixef
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._splines import natural_spline
from dnoutcomes.stats.trajectory_flex import compare_trajectory_flex, trajectory_rows

REF = Path(__file__).parent / "reference"
TOL = 1e-3  # the tolerance against lme4 (different optimisers)
FAST_TOL = 1e-5  # the profiled engine optimises lme4's own parameterisation


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())
    return out


@pytest.fixture(scope="module")
def linear(clinic_a_dataset: Any) -> Any:
    return compare_trajectory_flex(clinic_a_dataset, time="linear")


@pytest.fixture(scope="module")
def spline(clinic_a_dataset: Any) -> Any:
    return compare_trajectory_flex(clinic_a_dataset, time="spline")


def _check(result: Any, want: dict[str, Any], tol: float = TOL) -> None:
    np.testing.assert_allclose(result.fixed["estimate"], want["fixef"], rtol=tol)
    np.testing.assert_allclose(result.fixed["std_error"], want["se"], rtol=tol)
    for key in ("sd_intercept", "sd_slope", "corr", "sd_residual"):
        assert result.random[key] == pytest.approx(want[key], rel=tol), key
    contrasts = result.table
    np.testing.assert_array_equal(contrasts["weeks"], want["weeks"])
    np.testing.assert_allclose(contrasts["estimate"], want["contrast_estimate"], rtol=tol)
    np.testing.assert_allclose(contrasts["std_error"], want["contrast_se"], rtol=tol)
    means = result.means
    np.testing.assert_allclose(
        means.loc[means["arm"] == "dn_only", "estimate"], want["mean_reference"], rtol=tol
    )
    np.testing.assert_allclose(
        means.loc[means["arm"] == "dn_manual_exercise", "estimate"],
        want["mean_comparator"],
        rtol=tol,
    )


def test_random_slopes_linear_time_matches_lmer(linear: Any, expected: dict[str, Any]) -> None:
    _check(linear, expected["slopes_linear"], FAST_TOL)
    assert linear.n_obs == len(pd.read_csv(REF / "routine_care_trajectory.csv"))
    assert linear.converged


def test_random_slopes_spline_time_matches_lmer(spline: Any, expected: dict[str, Any]) -> None:
    want = expected["slopes_spline"]
    assert spline.knots == pytest.approx(tuple(want["knots"]), rel=1e-12)
    _check(spline, want, FAST_TOL)


@pytest.mark.slow
def test_statsmodels_engine_matches_lmer(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    """statsmodels' MixedLM (its optimiser, our (X'V^-1 X)^-1) against the same lmer fit."""
    result = compare_trajectory_flex(clinic_a_dataset, time="linear", engine="statsmodels")
    assert result.engine == "statsmodels"
    _check(result, expected["slopes_linear"])


def test_followup_limit_is_the_95th_percentile(linear: Any, expected: dict[str, Any]) -> None:
    """R: ``quantile(tapply(tr$weeks, tr$episode_id, max), 0.95)``."""
    assert linear.followup_limit == pytest.approx(expected["followup_limit"], rel=1e-12)


@pytest.fixture(scope="module")
def small() -> Any:
    from dnoutcomes.sample import generate

    return generate(episodes=80, seed=3).to_dataset()


def test_no_extrapolation_unless_asked(small: Any) -> None:
    weeks = (0.0, 4.0, 12.0)
    kept = compare_trajectory_flex(small, time="linear", weeks=weeks)
    assert kept.table["weeks"].tolist() == [0.0, 4.0]
    assert set(kept.means["weeks"]) == {0.0, 4.0}
    assert any("beyond the observed follow-up" in note for note in kept.notes)
    marked = compare_trajectory_flex(small, time="linear", weeks=weeks, extrapolate=True)
    assert marked.table["extrapolated"].tolist() == [False, False, True]
    assert marked.means.loc[marked.means["weeks"] == 12.0, "extrapolated"].all()


def test_inputs_are_the_package_rows(clinic_a_dataset: Any) -> None:
    got = trajectory_rows(
        clinic_a_dataset, reference="dn_only", comparator="dn_manual_exercise", measure="nprs"
    )
    stored = pd.read_csv(REF / "routine_care_trajectory.csv")
    np.testing.assert_array_equal(got["episode_id"].astype(str), stored["episode_id"])
    np.testing.assert_allclose(got["weeks"], stored["weeks"], rtol=1e-15)


def test_fast_engine_matches_a_dense_reml(rng: np.random.Generator) -> None:
    """The vectorised Woodbury sums against the REML likelihood built from dense V."""
    from dnoutcomes.stats import _reml_slopes as engine

    groups = np.repeat(np.arange(12), rng.integers(2, 6, size=12))
    n = len(groups)
    t = rng.uniform(0, 8, n)
    x = np.column_stack([np.ones(n), (groups % 2).astype(float), t])
    y = rng.normal(size=n)
    z = np.column_stack([np.ones(n), t])
    codes = groups.astype(np.intp)
    sums = engine._sums(y, x, z, codes, 12)
    theta = np.array([0.8, 0.1, 0.3])
    lam = engine._lambda(theta)
    v = np.eye(n)
    for g in range(12):  # dense reference, per group
        rows = np.flatnonzero(groups == g)
        v[np.ix_(rows, rows)] += z[rows] @ lam @ lam.T @ z[rows].T
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    beta = np.linalg.solve(xvx, x.T @ vi @ y)
    r = y - x @ beta
    s2 = float(r @ vi @ r) / (n - 3)
    dense = (
        np.linalg.slogdet(v)[1] + np.linalg.slogdet(xvx)[1] + (n - 3) * (1 + np.log(2 * np.pi * s2))
    )
    value, got_beta, _, got_s2 = engine._profile(sums, theta)
    assert value == pytest.approx(dense, rel=1e-10)
    np.testing.assert_allclose(got_beta, beta, rtol=1e-10)
    assert got_s2 == pytest.approx(s2, rel=1e-10)


def test_ns_basis_equals_r() -> None:
    """R::

    x <- c(0, 0.3, 1, 2, 2.5, 3, 4, 5, 7.5, 9)
    round(predict(ns(x, df = 3), c(x, -1, 11)), 6)
    """
    x = np.array([0.0, 0.3, 1, 2, 2.5, 3, 4, 5, 7.5, 9])
    want = np.array(
        [
            [0.0, 0.0, 0.0],
            [-0.047557, 0.115036, -0.067104],
            [-0.137181, 0.362568, -0.211498],
            [-0.133655, 0.58744, -0.342673],
            [-0.042995, 0.61152, -0.355976],
            [0.08858, 0.587407, -0.336702],
            [0.356714, 0.47722, -0.230759],
            [0.480803, 0.39274, -0.076718],
            [0.210319, 0.350234, 0.428733],
            [-0.16055, 0.385321, 0.775229],
            [0.160632, -0.385518, 0.224885],
            [-0.683486, 0.440367, 1.243119],
        ]
    )
    basis = natural_spline(x, 3).basis(np.r_[x, -1.0, 11.0])
    np.testing.assert_allclose(basis, want, atol=5e-7)


def test_ns_is_linear_beyond_the_boundary_and_smooth_inside() -> None:
    spline = natural_spline(np.linspace(0, 10, 50), 4)
    out = spline.basis(np.array([10.0, 11.0, 12.0, 13.0]))
    np.testing.assert_allclose(np.diff(out, n=2, axis=0), 0.0, atol=1e-12)


def test_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="time"):
        compare_trajectory_flex(clinic_a_dataset, time="quadratic")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="spline_df"):
        compare_trajectory_flex(clinic_a_dataset, spline_df=0)
    with pytest.raises(RequestError, match="weeks"):
        compare_trajectory_flex(clinic_a_dataset, weeks=[float("nan")])
    with pytest.raises(RequestError, match="two distinct"):
        natural_spline([1.0, 1.0, 1.0])


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats._reml_slopes as engine
    import dnoutcomes.stats._splines as splines
    import dnoutcomes.stats.trajectory_flex as module

    for mod in (module, splines, engine):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0
