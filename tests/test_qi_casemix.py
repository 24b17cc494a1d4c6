"""The case-mix model against R's lm and glm on data/sample, and its parts by hand.

Reference numbers: ``tests/reference/casemix.json``, written once by
``tests/reference/casemix.R`` (R 4, stats::lm and stats::glm)::

    d <- episodes ⋈ patients ⋈ NPRS baseline ⋈ NPRS discharge   (data/sample CSVs)
    d$improvement <- d$baseline - d$discharge; d$responder <- d$improvement >= 2
    f <- d[end_date in 2024-03-01 .. 2025-06-30, ]
    ols <- lm(improvement ~ age + sex + condition + symptom_weeks + baseline, data = f)
    lgt <- glm(responder ~ age + sex + condition + symptom_weeks + baseline, data = f,
               family = binomial())
    # estimates and SEs of the terms whose meaning does not depend on the coding of
    # condition, R², sigma, the rank AUC, and predict() for every episode of d

Achieved: OLS estimates, SEs and predictions to ~1e-12, R² and σ to 1e-15; logistic
estimates to 5e-13, SEs to 1e-8, predictions to 2e-7, C to 1e-15.

R codes ``condition`` with alphabetical levels and the package with the contract's order,
so the condition coefficients differ by parametrisation while the fitted values, the other
terms and the fit statistics do not.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.casemix import c_statistic, casemix_frame, fit_casemix

REFERENCE = Path(__file__).parent / "reference" / "casemix.json"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
COVARIATES = ("age", "sex", "condition", "symptom_weeks", "baseline")
WINDOW = ("2024-03-01", "2025-06-30")


@pytest.fixture(scope="module")
def sample() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dnoutcomes.load(SAMPLE)


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return result


_R_TERMS = {
    "age": "age",
    "sexmale": "sex[male]",
    "sexother": "sex[other]",
    "sexunknown": "sex[unknown]",
    "symptom_weeks": "symptom_weeks",
    "baseline": "baseline",
}


@pytest.mark.parametrize("outcome", ["improvement", "responder"])
def test_matches_r(sample: Any, expected: dict[str, Any], outcome: str) -> None:
    model = fit_casemix(sample, covariates=COVARIATES, outcome=outcome, window=WINDOW)  # type: ignore[arg-type]
    ref = expected["ols" if outcome == "improvement" else "logistic"]
    # glm's IRLS stops at its own tolerance, and the separated sex levels pull the fitted
    # values of their few episodes by ~1e-7; OLS agrees to rounding.
    se_tol, pred_tol = (1e-9, 1e-9) if outcome == "improvement" else (1e-7, 1e-6)
    assert int(model.fit["n"]) == expected["n_fit"]
    coef = model.table.set_index("term")
    for r_name, term in _R_TERMS.items():
        if outcome == "responder" and r_name in ("sexother", "sexunknown"):
            continue  # few episodes, all responders: separated, estimate not identified
        assert coef.loc[term, "estimate"] == pytest.approx(ref["estimate"][r_name], rel=1e-9)
        assert coef.loc[term, "std_error"] == pytest.approx(ref["std_error"][r_name], rel=se_tol)
    frame = casemix_frame(sample, covariates=COVARIATES)
    got = model.expected(frame).set_axis(frame["episode_id"])
    want = pd.Series(ref["expected"])
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=pred_tol)
    if outcome == "improvement":
        assert model.fit["r_squared"] == pytest.approx(ref["r_squared"], rel=1e-9)
        assert model.fit["sigma"] == pytest.approx(ref["sigma"], rel=1e-9)
        assert coef.loc["age", "conf_low"] == pytest.approx(ref["conf_low_age"], rel=1e-9)
    else:
        assert model.fit["c_statistic"] == pytest.approx(ref["c_statistic"], rel=1e-9)
        assert any("separat" in note for note in model.notes)


def test_ols_by_hand_and_calibration(sample: Any) -> None:
    model = fit_casemix(sample, covariates=("age", "chronicity", "baseline"))
    frame = casemix_frame(sample, covariates=("age", "chronicity", "baseline"))
    use = frame[["improvement", "age", "baseline", "chronicity"]].dropna()
    x = np.column_stack(
        [
            np.ones(len(use)),
            use["age"],
            (use["chronicity"] == "subacute").astype(float),
            (use["chronicity"] == "chronic").astype(float),
            use["baseline"],
        ]
    )
    beta, *_ = np.linalg.lstsq(x, use["improvement"].to_numpy(), rcond=None)
    np.testing.assert_allclose(model.table["estimate"], beta, rtol=1e-9)
    resid = use["improvement"].to_numpy() - x @ beta
    sigma2 = resid @ resid / (len(use) - 5)
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(x.T @ x)))
    np.testing.assert_allclose(model.table["std_error"], se, rtol=1e-9)
    cal = model.calibration
    assert cal["n"].sum() == len(use)
    assert list(cal["decile"]) == list(range(1, 11))
    # OLS with an intercept: mean observed equals mean expected overall
    total_obs = (cal["n"] * cal["mean_observed"]).sum() / cal["n"].sum()
    total_exp = (cal["n"] * cal["mean_expected"]).sum() / cal["n"].sum()
    assert total_obs == pytest.approx(total_exp, rel=1e-9)
    assert cal["mean_expected"].is_monotonic_increasing


def test_c_statistic_is_the_share_of_concordant_pairs(rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 60)
    p = np.round(rng.random(60), 1)  # with ties
    pos, neg = p[y == 1], p[y == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert c_statistic(y, p) == pytest.approx(pairs / (pos.size * neg.size), rel=1e-12)


def test_window_extra_baselines_and_contraindications(sample: Any) -> None:
    model = fit_casemix(
        sample,
        covariates=("baseline", "baseline:odi", "contraindications"),
        window=("2024-06-01", None),
    )
    assert model.window == ("2024-06-01", None)
    assert list(model.table["term"]) == [
        "(intercept)",
        "baseline",
        "baseline_odi",
        "contraindicated",
    ]
    frame = casemix_frame(sample, covariates=("baseline:odi",))
    inside = frame.loc[frame["end_date"] >= "2024-06-01"]
    complete = inside[["improvement", "baseline", "baseline_odi", "contraindicated"]].dropna()
    assert int(model.fit["n"]) == len(complete)
    assert set(model.episodes_used) == set(inside.loc[complete.index, "episode_id"])
    assert "case-mix variable" in " ".join(model.notes) or len(complete) == len(
        inside.dropna(subset=["improvement"])
    )


def test_patients_join_is_the_merge(sample: Any) -> None:
    """The positional join of the patients gives the merge's frame exactly (columns,
    dtypes, values, index), and the cases it does not handle go to the merge itself."""
    from dnoutcomes.qi.casemix import _with_patients

    episodes, patients = sample.episodes, sample.patients
    cols = [c for c in patients.columns if c not in episodes.columns or c == "patient_id"]

    def merged(e: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
        return e.merge(p[cols], on="patient_id", how="left", validate="m:1")

    pd.testing.assert_frame_equal(_with_patients(episodes, patients), merged(episodes, patients))
    # patients in another order, episodes with a non-default index
    shuffled = patients.iloc[::-1]
    tail = episodes.iloc[5:]
    pd.testing.assert_frame_equal(_with_patients(tail, shuffled), merged(tail, shuffled))
    # an episode whose patient is missing: the merge's own left join (NaN, upcast dtypes)
    fewer = patients.loc[patients["patient_id"] != episodes["patient_id"].iloc[0]]
    pd.testing.assert_frame_equal(_with_patients(episodes, fewer), merged(episodes, fewer))
    # a patient listed twice: the merge's own error
    twice = pd.concat([patients, patients.head(1)])
    with pytest.raises(pd.errors.MergeError):
        _with_patients(episodes, twice)


def test_unseen_category_gets_no_expected_value(sample: Any) -> None:
    model = fit_casemix(sample, covariates=("sex", "baseline"))
    frame = casemix_frame(sample, covariates=("sex", "baseline")).head(5).copy()
    frame["sex"] = frame["sex"].astype(str)
    frame.loc[frame.index[0], "sex"] = "not-a-level"
    e = model.expected(frame)
    assert np.isnan(e.iloc[0]) and np.isfinite(e.iloc[1:]).all()


def test_errors(sample: Any) -> None:
    with pytest.raises(RequestError, match="covariate 'height'"):
        fit_casemix(sample, covariates=("height",))
    with pytest.raises(RequestError, match="outcome"):
        fit_casemix(sample, outcome="value")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="window"):
        fit_casemix(sample, window=("2025-01-01", "2024-01-01"))
    with pytest.raises(InsufficientDataError):
        fit_casemix(sample, window=("2024-01-01", "2024-01-20"))
    with pytest.raises(RequestError, match="timepoint"):
        fit_casemix(sample, timepoint="baseline")


@pytest.mark.slow
def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.casemix as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_docstring_examples_run_design() -> None:
    import doctest

    import dnoutcomes.qi._casemix_design as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_terms_the_data_cannot_identify_are_left_out_and_said(sample: Any) -> None:
    frame = casemix_frame(sample, covariates=("age", "baseline"))
    frame["contraindicated"] = 0.0  # no variation
    frame["age_twice"] = 2 * frame["age"]  # the same as age
    model = fit_casemix(
        frame, covariates=("age", "age_twice", "contraindications", "baseline"), mcid=2.0
    )
    assert model.table["term"].tolist() == ["(intercept)", "age", "baseline"]
    assert model.design.aliased == ("age_twice", "contraindicated")
    assert any(
        "cannot identify them" in n and "age_twice, contraindicated" in n for n in model.notes
    )
    # the fit and the expected values are those of the model without them (lstsq here)
    ok = frame[["age", "baseline", "improvement"]].notna().all(axis=1)
    x = np.column_stack([np.ones(int(ok.sum())), frame.loc[ok, "age"], frame.loc[ok, "baseline"]])
    beta = np.linalg.lstsq(x, frame.loc[ok, "improvement"].to_numpy(), rcond=None)[0]
    np.testing.assert_allclose(model.table["estimate"], beta, rtol=1e-9)
    np.testing.assert_allclose(model.expected(frame)[ok], x @ beta, rtol=1e-9)


def test_the_report_fit_says_its_rows_and_shares_the_ids(sample: Any) -> None:
    """The report's fit (the rows fitted as a mask, the ids selected from one array) is
    fit_casemix itself: the same model, and the mask selects the episodes it used."""
    from dnoutcomes.qi.casemix import _fit_frame
    from dnoutcomes.stats.results import id_tuple

    frame = casemix_frame(sample, covariates=COVARIATES)
    ids = np.array(id_tuple(frame["episode_id"]), dtype=object)
    for given in (ids, None):
        model, rows = _fit_frame(
            frame,
            measure="nprs",
            timepoint="discharge",
            covariates=COVARIATES,
            outcome="improvement",
            window=WINDOW,
            conf_level=0.95,
            threshold=2.0,
            ids=given,
        )
        reference = fit_casemix(frame, covariates=COVARIATES, window=WINDOW, mcid=2.0)
        assert model.to_dict() == reference.to_dict()
        assert model.episodes_used == reference.episodes_used
        assert tuple(frame.loc[rows, "episode_id"]) == reference.episodes_used
        assert 0 < rows.sum() < len(frame)
