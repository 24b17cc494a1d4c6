"""Tests of dnoutcomes.stats.aipw against the AIPW formula computed by hand in R on clinic_a
(tests/reference/routine_care.R, section 4; inputs tests/reference/routine_care_ancova.csv)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.aipw import aipw, compare_aipw

REF = Path(__file__).parent / "reference"
TOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())
    return out


def _check(result: Any, want: dict[str, Any]) -> None:
    rows = result.table.set_index("term")
    assert result.n == want["n"]
    for term, est, se in (
        ("ate", "estimate", "se"),
        ("mean_comparator", "mean_comparator", "se_comparator"),
        ("mean_reference", "mean_reference", "se_reference"),
    ):
        assert rows.loc[term, "estimate"] == pytest.approx(want[est], rel=TOL), term
        assert rows.loc[term, "std_error"] == pytest.approx(want[se], rel=TOL), term


def test_matches_hand_formula_in_r(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    """R (routine_care.R)::

    e <- fitted(glm(treated ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
                    condition + site_id, family = binomial, data = ps_set))
    X <- model.matrix(nprs_discharge ~ age + symptom_weeks + nprs_baseline +
                      odi_baseline + sex + condition + site_id, d)
    # m1, m0: lm of y on X in each arm (aliased columns NA -> 0), predicted for all
    p1 <- m1 + t * (y - m1) / e; p0 <- m0 + (1 - t) * (y - m0) / (1 - e)
    phi <- p1 - p0; c(mean(phi), sqrt(var(phi) / nrow(d)))
    """
    result = compare_aipw(clinic_a_dataset)
    _check(result, expected["aipw"])
    ate = result.table.set_index("term").loc["ate"]
    assert ate["conf_low"] == pytest.approx(ate["estimate"] - 1.959963985 * ate["std_error"])
    assert result.weights["influence"].mean() == pytest.approx(0.0, abs=1e-12)


def test_trimming_matches_r(clinic_a_dataset: Any, expected: dict[str, Any]) -> None:
    """R: ``keep <- e >= 0.05 & e <= 0.95``, then the same formula on the kept rows (the
    propensity model is not refitted)."""
    result = compare_aipw(clinic_a_dataset, trim=0.05)
    _check(result, expected["aipw_trim05"])
    assert result.n_trimmed == expected["aipw_trim05"]["n_trimmed"]
    assert any("trimming" in note for note in result.notes)


def test_balance_table_is_the_love_plot_data(clinic_a_dataset: Any) -> None:
    result = compare_aipw(clinic_a_dataset)
    balance = result.balance
    assert list(balance.columns) == ["covariate", "smd_before", "smd_after", "balanced_after"]
    assert "nprs_baseline" in set(balance["covariate"])
    # inverse-probability weighting improves the worst imbalance
    assert balance["smd_after"].abs().max() < balance["smd_before"].abs().max()


def test_love_plot_draws_every_covariate(clinic_a_dataset: Any) -> None:
    result = compare_aipw(clinic_a_dataset)
    ax = result.plot()
    assert len(ax.get_yticklabels()) == len(result.balance)
    before = [line for line in ax.get_lines() if line.get_label() == "Before weighting"][0]
    np.testing.assert_allclose(
        sorted(before.get_xdata()), sorted(result.balance["smd_before"].abs())
    )


def test_doubly_robust_with_a_wrong_propensity(rng: np.random.Generator) -> None:
    """A right outcome model rescues a wrong (constant) propensity, and vice versa."""
    n = 4000
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-1.5 * x))
    t = (rng.uniform(size=n) < e).astype(float)
    y = 1.0 * t + 2.0 * x + rng.normal(size=n)
    right = np.column_stack([np.ones(n), x])
    wrong = np.ones((n, 1))
    est_outcome_right, _ = aipw(y, t, np.full(n, t.mean()), right)
    est_ps_right, _ = aipw(y, t, e, wrong)
    naive = y[t == 1].mean() - y[t == 0].mean()
    assert abs(naive - 1.0) > 1.0
    assert est_outcome_right.loc[2, "estimate"] == pytest.approx(1.0, abs=0.1)
    assert est_ps_right.loc[2, "estimate"] == pytest.approx(1.0, abs=0.25)


def test_shifting_the_outcome_leaves_the_effect(rng: np.random.Generator) -> None:
    n = 200
    x = rng.normal(size=n)
    t = (rng.uniform(size=n) < 0.4).astype(float)
    y = t + x + rng.normal(size=n)
    design = np.column_stack([np.ones(n), x])
    e = np.full(n, 0.4)
    a, _ = aipw(y, t, e, design)
    b, _ = aipw(y + 10.0, t, e, design)
    assert a.loc[2, "estimate"] == pytest.approx(b.loc[2, "estimate"], rel=1e-10)
    assert a.loc[2, "std_error"] == pytest.approx(b.loc[2, "std_error"], rel=1e-10)


def test_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="trim"):
        compare_aipw(clinic_a_dataset, trim=0.6)
    with pytest.raises(RequestError, match="measure"):
        compare_aipw(clinic_a_dataset, measure="odi")
    design = np.ones((4, 1))
    with pytest.raises(RequestError, match="strictly between 0 and 1"):
        aipw([1, 2, 3, 4], [0, 1, 0, 1], [0.5, 1.0, 0.5, 0.5], design)
    with pytest.raises(InsufficientDataError, match="more rows than columns"):
        aipw([1, 2, 3, 4], [0, 1, 0, 0], [0.5] * 4, design)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.aipw as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_frame_is_tidy(clinic_a_dataset: Any) -> None:
    frame = compare_aipw(clinic_a_dataset).to_frame()
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
    assert isinstance(frame, pd.DataFrame)
