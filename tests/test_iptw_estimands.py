"""The three propensity-score estimands (ATE, ATT, ATO = overlap weights) on clinic_a
against hand formulas in R (analysis plan, sections 6 and 10).

``tests/reference/iptw_frame.py`` writes clinic_a's analysis frame with pandas from the raw
CSVs (arm declared, else derived from the sessions; complete cases of baseline and discharge
NPRS, baseline ODI and the covariates); ``Rscript tests/reference/iptw_estimands.R`` (run
once, from the repository root) wrote ``tests/reference/iptw_estimands.json``::

    library(jsonlite); library(sandwich)
    d <- read.csv("tests/reference/clinic_a_iptw_frame.csv", stringsAsFactors = FALSE)
    for (v in c("sex", "condition", "site_id")) d[[v]] <- factor(d[[v]])
    ps_fit <- glm(treated ~ age + sex + condition + symptom_weeks + nprs_baseline +
                    odi_baseline + site_id, family = binomial, data = d)
    e <- fitted(ps_fit); t <- d$treated; p <- mean(t)
    weights <- list(
      ate = ifelse(t == 1, p / e, (1 - p) / (1 - e)),   # stabilised ATE
      att = ifelse(t == 1, 1, e / (1 - e)),             # ATT
      ato = ifelse(t == 1, 1 - e, e))                   # ATO (overlap weights)
    cols <- list(age = d$age, symptom_weeks = d$symptom_weeks,
                 nprs_baseline = d$nprs_baseline, odi_baseline = d$odi_baseline)
    for (v in c("sex", "condition", "site_id"))
      for (lv in levels(d[[v]])) cols[[paste0(v, "=", lv)]] <- as.numeric(d[[v]] == lv)
    smd <- function(x, w) {
      c1 <- t == 1; c0 <- t == 0
      (weighted.mean(x[c1], w[c1]) - weighted.mean(x[c0], w[c0])) /
        sqrt((var(x[c1]) + var(x[c0])) / 2)
    }
    ess <- function(w) sum(w)^2 / sum(w^2)
    out <- list(n = nrow(d))
    for (est in names(weights)) {
      w <- weights[[est]]
      fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = d, weights = w)
      b <- unname(coef(fit)["treated"])
      se <- sqrt(vcovHC(fit, type = "HC0")["treated", "treated"])
      out[[est]] <- list(estimate = b, se = se, ci_low = b - qnorm(0.975) * se,
                         ci_high = b + qnorm(0.975) * se, ess_reference = ess(w[t == 0]),
                         ess_comparator = ess(w[t == 1]), smd_after = lapply(cols, smd, w = w))
    }
    # the script stops unless its ATE equals expected.json's iptw to 1e-6
    write_json(out, "tests/reference/iptw_estimands.json", digits = NA, auto_unbox = TRUE)

R: ATE −0.7770 (SE 0.1709), ATT −0.8616 (SE 0.1795), ATO −0.8000 (SE 0.1713), n = 396.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import REPO

from dnoutcomes.stats import compare_iptw

REFERENCE = REPO / "tests" / "reference" / "iptw_estimands.json"
ESTIMANDS = ("ate", "att", "ato")
SCALARS = ("estimate", "se", "ci_low", "ci_high", "ess_reference", "ess_comparator")
REL = 1e-6


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    with open(REFERENCE, encoding="utf-8") as fh:
        result: dict[str, Any] = json.load(fh)
    return result


@pytest.fixture(scope="module")
def results(clinic_a_dataset: Any) -> dict[str, Any]:
    return {e: compare_iptw(clinic_a_dataset, estimand=e) for e in ESTIMANDS}


@pytest.mark.parametrize("estimand", ESTIMANDS)
def test_estimand_matches_r(
    estimand: str, results: dict[str, Any], reference: dict[str, Any]
) -> None:
    result = results[estimand]
    assert result.estimand == estimand
    got = result.to_dict()
    expected = reference[estimand]
    assert got["n"] == reference["n"] == 396
    for key in SCALARS:
        assert got[key] == pytest.approx(expected[key], rel=REL), key
    assert set(got["smd_after"]) == set(expected["smd_after"])
    for covariate, smd in expected["smd_after"].items():
        assert got["smd_after"][covariate] == pytest.approx(smd, rel=REL, abs=1e-12), covariate


def test_balance_before_weighting_is_the_same_for_every_estimand(
    results: dict[str, Any], reference: dict[str, Any]
) -> None:
    for estimand in ESTIMANDS:
        before = results[estimand].to_dict()["smd_before"]
        assert set(before) == set(reference["smd_before"])
        for covariate, smd in reference["smd_before"].items():
            assert before[covariate] == pytest.approx(smd, rel=REL), (estimand, covariate)


def test_att_keeps_every_comparator_episode_at_weight_one(results: dict[str, Any]) -> None:
    weights = results["att"].weights
    treated = weights.loc[weights["treated"] == 1, "weight"]
    assert (treated == 1.0).all()
    assert results["att"].to_dict()["ess_comparator"] == pytest.approx(len(treated), rel=1e-12)


def test_ate_is_still_the_analysis_plans_number(
    results: dict[str, Any], reference: dict[str, Any], clinic_a_expected: dict[str, Any]
) -> None:
    got = results["ate"].to_dict()
    for key in ("n", *SCALARS):
        expected = clinic_a_expected["iptw"][key]
        assert got[key] == pytest.approx(expected, rel=REL), key
        if key != "n":
            assert reference["ate"][key] == pytest.approx(expected, rel=REL), key
    for covariate, smd in clinic_a_expected["iptw"]["smd_after"].items():
        assert got["smd_after"][covariate] == pytest.approx(smd, rel=REL), covariate
        assert reference["ate"]["smd_after"][covariate] == pytest.approx(smd, rel=REL)


def test_protocol_weighting_estimand_reaches_the_analysis(
    clinic_a_dataset: Any, reference: dict[str, Any]
) -> None:
    from dnoutcomes import stats
    from dnoutcomes.protocol import Protocol, WeightingSpec

    analysis = stats.analyze(clinic_a_dataset, Protocol(weighting=WeightingSpec(estimand="ato")))
    assert analysis.iptw is not None
    got = analysis.iptw.to_dict()
    assert got["estimate"] == pytest.approx(reference["ato"]["estimate"], rel=REL)
    assert got["se"] == pytest.approx(reference["ato"]["se"], rel=REL)


def test_r_frame_is_what_the_frame_script_writes(clinic_a_path: Any) -> None:
    import importlib.util

    import pandas as pd

    path = REPO / "tests" / "reference" / "iptw_frame.py"
    spec = importlib.util.spec_from_file_location("iptw_frame", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = pd.read_csv(REPO / "tests" / "reference" / "clinic_a_iptw_frame.csv")
    pd.testing.assert_frame_equal(module.frame(clinic_a_path), stored)
