"""Tests of dnoutcomes.stats.cox: the Efron Cox fit, the cox.zph test and RMST against R's
survival package on clinic_a's response times (tests/reference/routine_care.R, section 3;
inputs tests/reference/routine_care_times.csv)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.cox import compare_cox, cox_efron, cox_zph, rmst

REF = Path(__file__).parent / "reference"
TOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())["cox"]
    return out


@pytest.fixture(scope="module")
def times() -> pd.DataFrame:
    return pd.read_csv(REF / "routine_care_times.csv")


def test_inputs_are_the_package_response_times(clinic_a_dataset: Any, times: pd.DataFrame) -> None:
    from dnoutcomes.stats.survival import response_times

    got = response_times(clinic_a_dataset)
    np.testing.assert_array_equal(got["episode_id"].astype(str), times["episode_id"])
    np.testing.assert_array_equal(got["time"], times["time"])
    np.testing.assert_array_equal(got["event"], times["event"])


def test_cox_zph_and_rmst_match_survival(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    """R (routine_care.R)::

    cx <- coxph(Surv(time, event) ~ treated, data = tm, ties = "efron")
    zp <- cox.zph(cx)                       # transform = "km"; GLOBAL chisq and p
    sf <- survfit(Surv(time, event) ~ treated, data = tm)
    summary(sf, rmean = 30)$table[, c("rmean", "se(rmean)")]
    """
    result = compare_cox(clinic_a_dataset, tau=30)
    assert result.threshold == 2.0  # NPRS MCID
    rows = result.table.set_index("term")
    assert rows.loc["log_hazard_ratio", "estimate"] == pytest.approx(expected["coef"], rel=TOL)
    assert rows.loc["log_hazard_ratio", "std_error"] == pytest.approx(expected["se"], rel=TOL)
    assert rows.loc["hazard_ratio", "estimate"] == pytest.approx(
        math.exp(expected["coef"]), rel=TOL
    )
    assert result.zph_chisq == pytest.approx(expected["zph_chisq"], rel=TOL)
    assert result.zph_p == pytest.approx(expected["zph_p"], rel=TOL)
    ref, cmp = expected["rmean"]  # strata treated=0, treated=1
    ref_se, cmp_se = expected["rmean_se"]
    assert rows.loc["rmst_reference", "estimate"] == pytest.approx(ref, rel=TOL)
    assert rows.loc["rmst_comparator", "estimate"] == pytest.approx(cmp, rel=TOL)
    assert rows.loc["rmst_reference", "std_error"] == pytest.approx(ref_se, rel=TOL)
    assert rows.loc["rmst_comparator", "std_error"] == pytest.approx(cmp_se, rel=TOL)
    assert rows.loc["rmst_difference", "estimate"] == pytest.approx(cmp - ref, rel=TOL)
    assert rows.loc["rmst_difference", "std_error"] == pytest.approx(
        math.hypot(ref_se, cmp_se), rel=TOL
    )


def test_default_horizon_is_the_shorter_follow_up(
    clinic_a_dataset: Any, expected: dict[str, Any]
) -> None:
    """R: ``tau <- min(tapply(tm$time, tm$treated, max)); summary(sf, rmean = tau)``."""
    result = compare_cox(clinic_a_dataset)
    assert result.tau == expected["tau_default"]
    rows = result.table.set_index("term")
    got = rows.loc[["rmst_reference", "rmst_comparator"]]
    np.testing.assert_allclose(got["estimate"], expected["rmean_default"], rtol=TOL)
    np.testing.assert_allclose(got["std_error"], expected["rmean_se_default"], rtol=TOL)


def test_loglik_and_efron_ties_by_hand() -> None:
    """Efron's partial likelihood written out for a tiny data set with a tie of two deaths."""
    time = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    event = np.array([1.0, 1.0, 1.0, 0.0, 1.0])
    x = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    fit = cox_efron(time, event, x)

    def loglik(b: float) -> float:
        r = np.exp(b * x)
        t1 = b * x[0] - math.log(r.sum())
        tied = r[1] + r[2]
        risk = r[1:].sum()
        t2 = b * (x[1] + x[2]) - math.log(risk) - math.log(risk - tied / 2)
        t3 = b * x[4] - math.log(r[4])
        return t1 + t2 + t3

    assert fit.loglik == pytest.approx(loglik(float(fit.coef[0])), rel=1e-12)
    grid = np.linspace(fit.coef[0] - 0.5, fit.coef[0] + 0.5, 101)
    assert max(loglik(b) for b in grid) <= fit.loglik + 1e-12


def test_rmst_is_the_area_under_a_step_curve() -> None:
    # S = 1 on [0, 2), 3/4 on [2, 4), 1/2 on [4, 5]: area 2 + 1.5 + 0.5 = 4
    area, se = rmst([2, 4, 6, 8], [1, 1, 0, 1], tau=5)
    assert area == pytest.approx(4.0)
    # A at t=2: 1.5 + 0.5 = 2, h = 1/(4*3); at t=4: 0.5, h = 1/(3*2)
    assert se == pytest.approx(math.sqrt(2.0**2 / 12 + 0.5**2 / 6))


def test_swapping_arms_inverts_the_hazard_ratio(clinic_a_dataset: Any) -> None:
    a = compare_cox(clinic_a_dataset, tau=30).table.set_index("term")
    b = compare_cox(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only", tau=30
    ).table.set_index("term")
    assert a.loc["log_hazard_ratio", "estimate"] == pytest.approx(
        -b.loc["log_hazard_ratio", "estimate"], rel=1e-9
    )
    assert a.loc["rmst_difference", "estimate"] == pytest.approx(
        -b.loc["rmst_difference", "estimate"], rel=1e-12
    )


def test_zph_detects_crossing_hazards(rng: np.random.Generator) -> None:
    n = 400
    arm = rng.integers(0, 2, n).astype(float)
    # arm 1: early events (shape < 1); arm 0: late events (shape > 1): hazards cross
    u = rng.uniform(size=n)
    time = np.where(arm == 1, 10 * (-np.log(u)) ** (1 / 0.5), 10 * (-np.log(u)) ** (1 / 3.0))
    event = np.ones(n)
    fit = cox_efron(time, event, arm)
    _, _, p = cox_zph(time, event, arm, fit)
    assert p < 1e-4


def test_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="tau"):
        compare_cox(clinic_a_dataset, tau=-1)
    with pytest.raises(RequestError, match="conf_level"):
        compare_cox(clinic_a_dataset, conf_level=95)
    with pytest.raises(InsufficientDataError, match="no events"):
        cox_efron([1, 2], [0, 0], [0, 1])
    with pytest.raises(RequestError, match="event"):
        rmst([1, 2], [0, 2], tau=1)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.cox as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
