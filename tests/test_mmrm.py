"""Tests of dnoutcomes.stats.mmrm against ``nlme::gls`` with an unstructured covariance
(``corSymm`` + ``varIdent``, REML) on clinic_a and on a simulated 3-visit data set with
dropout (tests/reference/routine_care.R, section 1; inputs
tests/reference/routine_care_mmrm.csv and routine_care_mmrm_sim.csv).

R::

    cell <- gls(value ~ 0 + visit + visit:treated + visit:baseline, data = d,
                correlation = corSymm(form = ~ visit_index | episode_id),
                weights = varIdent(form = ~ 1 | visit), method = "REML")
    std <- gls(value ~ armf * visit + baseline * visit, ...)   # same fit, plan's formula

Satterthwaite df: emmeans 1.8.4 offers only its "appx-satterthwaite" heuristic for gls, and
nlme's apVar differentiates with a step relative to the parameter (useless near 0), so the R
script writes the REML likelihood out in nlme's natural parameters, checks that it gives
``vcov(cell)`` at nlme's estimates, and takes the Hessian and the gradient of ``l'V l`` by
central differences: ``df = 2 (l'Vl)^2 / (g' A g)``, ``A = 2 H^-1``. This is the same
formula in another language, parameterisation and code path, at R's own estimates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.mmrm import compare_mmrm, fit_mmrm, mmrm_frame, mmrm_from_frame

REF = Path(__file__).parent / "reference"
TOL = 1e-4  # the tolerance against nlme::gls
VISITS = ["discharge", "followup_12w"]
SIM_VISITS = ["discharge", "followup_4w", "followup_12w"]


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())
    return out


def _sim_frame() -> pd.DataFrame:
    frame = pd.read_csv(REF / "routine_care_mmrm_sim.csv")
    frame["visit"] = pd.Categorical(frame["visit"], categories=SIM_VISITS)
    return frame


def _check(result: Any, want: dict[str, Any]) -> None:
    assert result.n_obs == want["n_obs"]
    assert result.n_episodes == want["n_episodes"]
    got = result.table
    np.testing.assert_allclose(got["estimate"], want["contrast_estimate"], rtol=TOL)
    np.testing.assert_allclose(got["estimate"], want["std_arm_contrast"], rtol=TOL)
    np.testing.assert_allclose(got["std_error"], want["contrast_se"], rtol=TOL)
    np.testing.assert_allclose(got["df"], want["contrast_df"], rtol=TOL)
    np.testing.assert_allclose(result.covariance.to_numpy(), want["sigma"], rtol=TOL)
    assert result.df_method == "satterthwaite"


def test_clinic_a_matches_gls(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    result = compare_mmrm(clinic_a_dataset, visits=VISITS)
    _check(result, expected["mmrm"])
    assert result.converged
    assert list(result.table["term"]) == ["arm@discharge", "arm@followup_12w"]


def test_inputs_are_the_package_frame(clinic_a_dataset: Any) -> None:
    got = mmrm_frame(
        clinic_a_dataset,
        reference="dn_only",
        comparator="dn_manual_exercise",
        measure="nprs",
        visits=VISITS,
    )
    stored = pd.read_csv(REF / "routine_care_mmrm.csv")
    np.testing.assert_array_equal(got["episode_id"].astype(str), stored["episode_id"])
    np.testing.assert_array_equal(got["visit"].astype(str), stored["visit"])
    np.testing.assert_array_equal(got["value"], stored["value"])


def test_simulated_dropout_matches_gls(expected: dict[str, Any]) -> None:
    want = expected["mmrm_sim"]
    result = mmrm_from_frame(_sim_frame())
    _check(result, want)
    # every coefficient of the cell-means form, in R's order
    frame = _sim_frame()
    ids, sub = np.unique(frame["episode_id"], return_inverse=True)
    y = np.full((len(ids), 3), np.nan)
    y[sub, frame["visit"].cat.codes] = frame["value"]
    arm = np.zeros(len(ids))
    arm[sub] = frame["treated"]
    base = np.zeros(len(ids))
    base[sub] = frame["baseline"]
    eye = np.eye(3)
    design = np.concatenate(
        [
            np.broadcast_to(eye, (len(ids), 3, 3)),
            eye * arm[:, None, None],
            eye * base[:, None, None],
        ],
        axis=2,
    )
    fit = fit_mmrm(y, design)
    np.testing.assert_allclose(fit.coef, want["coef"], rtol=TOL)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov)), want["se"], rtol=TOL)


def test_complete_data_is_ordinary_least_squares_per_visit(rng: np.random.Generator) -> None:
    """Without missing values and with the same regressors at every visit, the GLS estimate
    is OLS per visit and the REML covariance is E'E / (n - k) (seemingly unrelated
    regressions with identical regressors)."""
    n = 120
    arm = rng.integers(0, 2, n).astype(float)
    base = rng.normal(6, 1.5, n)
    err = rng.multivariate_normal([0, 0, 0], [[2, 1, 0.5], [1, 2, 1], [0.5, 1, 3]], size=n)
    y = 4 + np.outer(arm, [-0.5, -1, -1.5]) + 0.5 * base[:, None] + err
    x = np.column_stack([np.ones(n), arm, base])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    eye = np.eye(3)
    design = np.concatenate(
        [np.broadcast_to(eye, (n, 3, 3)), eye * arm[:, None, None], eye * base[:, None, None]],
        axis=2,
    )
    fit = fit_mmrm(y, design)
    np.testing.assert_allclose(fit.coef[3:6], coef[1], rtol=1e-8)
    np.testing.assert_allclose(fit.sigma, resid.T @ resid / (n - 3), rtol=1e-6)


def test_one_visit_is_the_ancova_with_residual_df(clinic_a_dataset: Any) -> None:
    """With one visit the MMRM is the ANCOVA of section 1, and Satterthwaite's df is the
    residual df n - 3 (the REML variance is s2 on n - p df)."""
    from dnoutcomes.stats.ancova import compare_ancova

    mmrm = compare_mmrm(clinic_a_dataset, visits=["discharge"]).table.iloc[0]
    ancova = compare_ancova(clinic_a_dataset, measure="nprs", timepoint="discharge")
    row = ancova.to_dict()
    assert mmrm["estimate"] == pytest.approx(row["estimate"], rel=1e-8)
    assert mmrm["std_error"] == pytest.approx(row["se"], rel=1e-6)
    assert mmrm["df"] == pytest.approx(row["n"] - 3, rel=1e-5)


def test_swapping_arms_flips_the_contrasts() -> None:
    frame = _sim_frame()
    swapped = frame.assign(
        treated=1 - frame["treated"],
        arm=np.where(frame["arm"] == "dn_only", "dn_manual_exercise", "dn_only"),
    )
    a = mmrm_from_frame(frame).table
    b = mmrm_from_frame(swapped, reference="dn_manual_exercise", comparator="dn_only").table
    np.testing.assert_allclose(a["estimate"], -b["estimate"], rtol=1e-6)
    np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=1e-6)


def test_default_visits_leave_out_empty_ones(clinic_a_dataset: Any) -> None:
    result = compare_mmrm(clinic_a_dataset)
    assert result.visits == ("discharge", "followup_12w")
    assert any("followup_4w" in note for note in result.notes)


def test_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="post-baseline"):
        compare_mmrm(clinic_a_dataset, visits=["baseline", "discharge"])
    with pytest.raises(InsufficientDataError, match="followup_26w"):
        compare_mmrm(clinic_a_dataset, visits=["discharge", "followup_26w"])
    with pytest.raises(RequestError, match="categorical visit"):
        mmrm_from_frame(pd.read_csv(REF / "routine_care_mmrm.csv"))
    with pytest.raises(RequestError, match="n x J"):
        fit_mmrm(np.zeros((3, 2)), np.zeros((3, 2)))


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats._mmrm_reml as engine
    import dnoutcomes.stats.mmrm as module

    for mod in (module, engine):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0
