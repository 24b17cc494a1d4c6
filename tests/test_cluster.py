"""Tests of dnoutcomes.stats._cluster: CR1 / HC1-by-cluster sandwich against R's
``sandwich::vcovCL`` on clinic_a (tests/reference/routine_care.R, section 5; inputs
tests/reference/routine_care_ancova.csv written by routine_care_inputs.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats._balance import indicator_columns
from dnoutcomes.stats._cluster import cluster_vcov
from dnoutcomes.stats._propensity import propensity_weights

REF = Path(__file__).parent / "reference"
TOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())["cluster"]
    return out


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(REF / "routine_care_ancova.csv")


def _fit(
    data: pd.DataFrame, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = data["nprs_discharge"].to_numpy(float)
    x = np.column_stack([np.ones(len(y)), data["treated"], data["nprs_baseline"]]).astype(float)
    w = np.ones(len(y)) if weights is None else weights
    beta = np.linalg.solve(x.T @ (x * w[:, None]), (x * w[:, None]).T @ y)
    return x, y - x @ beta, beta


def test_ancova_by_therapist_and_site_matches_vcovcl(
    frame: pd.DataFrame, expected: dict[str, Any]
) -> None:
    """R (routine_care.R)::

    cc <- an[complete.cases(an[, c("nprs_baseline", "nprs_discharge")]), ]
    fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = cc)
    vcovCL(fit, cluster = ~ therapist_id, type = "HC1")
    vcovCL(fit, cluster = ~ site_id, type = "HC1")
    vcovCL(fit, cluster = ~ therapist_id, type = "HC0")
    """
    data = frame.dropna(subset=["nprs_baseline", "nprs_discharge"])
    assert len(data) == expected["ancova_n"]
    x, resid, beta = _fit(data)
    np.testing.assert_allclose(beta, expected["ancova_coef"], rtol=1e-10)
    for key, column, kind in (
        ("therapist", "therapist_id", "HC1"),
        ("site", "site_id", "HC1"),
        ("therapist_hc0", "therapist_id", "HC0"),
    ):
        got = cluster_vcov(x, resid, data[column], type=kind)  # type: ignore[arg-type]
        want = np.reshape(expected[key], (3, 3), order="F")
        np.testing.assert_allclose(got, want, rtol=TOL, err_msg=key)


def test_iptw_weighted_fit_matches_vcovcl(frame: pd.DataFrame, expected: dict[str, Any]) -> None:
    """R (routine_care.R)::

    e <- fitted(glm(treated ~ age + symptom_weeks + nprs_baseline + odi_baseline + sex +
                    condition + site_id, family = binomial, data = ps_set))
    w <- ifelse(ps_set$treated == 1, share / e, (1 - share) / (1 - e))
    wfit <- lm(nprs_discharge ~ treated + nprs_baseline, data = ps_set, weights = w)
    vcovCL(wfit, cluster = ~ therapist_id, type = "HC1")
    """
    needed = ["nprs_baseline", "nprs_discharge", "odi_baseline", "age", "sex", "condition"]
    data = frame.dropna(subset=[*needed, "symptom_weeks", "site_id"]).reset_index(drop=True)
    assert len(data) == expected["iptw_n"]
    cov = indicator_columns(
        data,
        continuous=["age", "symptom_weeks", "nprs_baseline", "odi_baseline"],
        categorical=["sex", "condition", "site_id"],
    )
    _, weights, converged, _ = propensity_weights(cov, data["treated"])
    assert converged
    x, resid, beta = _fit(data, weights)
    np.testing.assert_allclose(beta, expected["iptw_coef"], rtol=TOL)
    for key, column in (("iptw_therapist", "therapist_id"), ("iptw_site", "site_id")):
        got = cluster_vcov(x, resid, data[column], weights=weights)
        np.testing.assert_allclose(got, np.reshape(expected[key], (3, 3), order="F"), rtol=TOL)


def test_one_row_per_cluster_hc0_is_the_scaled_hc0_sandwich(rng: np.random.Generator) -> None:
    """With every row its own cluster, CR0 = n/(n-1) x the HC0 sandwich (hand formula)."""
    n = 40
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    e = rng.normal(size=n)
    bread = np.linalg.inv(x.T @ x)
    hc0 = bread @ (x.T * e**2) @ x @ bread
    got = cluster_vcov(x, e, np.arange(n), type="HC0")
    np.testing.assert_allclose(got, hc0 * n / (n - 1), rtol=1e-12)


def test_cluster_labels_and_row_order_do_not_matter(rng: np.random.Generator) -> None:
    n = 30
    x = np.column_stack([np.ones(n), rng.normal(size=n)])
    e = rng.normal(size=n)
    g = rng.integers(0, 5, size=n)
    order = rng.permutation(n)
    a = cluster_vcov(x, e, g)
    b = cluster_vcov(x[order], e[order], np.array(list("vwxyz"))[g][order])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_errors() -> None:
    x = np.column_stack([np.ones(4), [0, 1, 0, 1]])
    e = np.array([0.1, -0.2, 0.3, -0.1])
    with pytest.raises(InsufficientDataError, match="at least 2"):
        cluster_vcov(x, e, ["a"] * 4)
    with pytest.raises(RequestError, match="type"):
        cluster_vcov(x, e, ["a", "a", "b", "b"], type="CR3")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="one value per row"):
        cluster_vcov(x, e, ["a", "b"])
    with pytest.raises(RequestError, match="cluster id"):
        cluster_vcov(x, e, ["a", None, "b", "b"])


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats._cluster as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
