"""Tests of dnoutcomes.stats.ancova against R (clinic_a), closed-form OLS and statsmodels'
formula interface (Vickers 2004 acupuncture RCT)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import EXTERNAL
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.stats.ancova import compare_ancova, compare_outcomes, fit_ancova


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)
    return SimpleNamespace(**{**vars(dataset), **changes})


@pytest.fixture(scope="module")
def vickers() -> pd.DataFrame:
    data = pd.read_csv(EXTERNAL / "acupuncture_headache_vickers2004.csv")
    return data.rename(columns={"group": "treated"})


def test_every_ancova_figure_matches_r(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    got = compare_outcomes(clinic_a_dataset).to_dict()
    expected = clinic_a_expected["ancova"]
    assert [(g["measure"], g["timepoint"]) for g in got] == [
        (e["measure"], e["timepoint"]) for e in expected
    ]
    for g, e in zip(got, expected, strict=True):
        assert g["n"] == e["n"]
        for key, value in e.items():
            if key in ("measure", "timepoint", "n"):
                continue
            assert g[key] == pytest.approx(value, rel=1e-6), (e["measure"], e["timepoint"], key)


def test_fit_matches_closed_form_ols(vickers: pd.DataFrame) -> None:
    res = fit_ancova(vickers, outcome="pk5", baseline="pk1", conf_level=0.9)
    data = vickers.dropna(subset=["pk5", "pk1"])
    x = np.column_stack([np.ones(len(data)), data["treated"], data["pk1"]])
    y = data["pk5"].to_numpy()
    xtx_inv = np.linalg.inv(x.T @ x)
    beta = xtx_inv @ x.T @ y
    dfree = len(y) - 3
    sigma2 = np.sum((y - x @ beta) ** 2) / dfree
    se = np.sqrt(np.diag(xtx_inv) * sigma2)
    t = sps.t.ppf(0.95, dfree)
    assert res.n == len(data) == 301
    assert res.estimate == pytest.approx(beta[1], rel=1e-10)
    assert res.std_error == pytest.approx(se[1], rel=1e-10)
    assert res.conf_low == pytest.approx(beta[1] - t * se[1], rel=1e-10)
    assert res.p_value == pytest.approx(2 * sps.t.sf(abs(beta[1] / se[1]), dfree), rel=1e-8)
    mean_base = data["pk1"].mean()
    means = res.adjusted_means.set_index("role")["estimate"]
    assert means["reference"] == pytest.approx(beta[0] + beta[2] * mean_base, rel=1e-10)
    assert means["comparator"] - means["reference"] == pytest.approx(beta[1], rel=1e-10)
    # Hedges' g by hand
    grp = data.groupby("treated")["pk5"]
    n0, n1 = grp.size()
    sp = np.sqrt(((n0 - 1) * grp.var()[0] + (n1 - 1) * grp.var()[1]) / (n0 + n1 - 2))
    assert res.hedges_g == pytest.approx(beta[1] / sp * (1 - 3 / (4 * (n0 + n1) - 9)), rel=1e-10)
    # published raw means of the trial (16.2 vs 22.3 at 12 months) sit in the raw data
    assert grp.mean()[1] == pytest.approx(16.2, abs=0.05)
    assert grp.mean()[0] == pytest.approx(22.3, abs=0.05)
    assert len(res.episodes_used) == 301
    assert any("100 episodes" in note for note in res.notes)


def test_covariates_match_statsmodels_formula(vickers: pd.DataFrame) -> None:
    data = vickers.assign(sex_label=vickers["sex"].map({0: "male", 1: "female"}))
    res = fit_ancova(
        data, outcome="pk5", baseline="pk1", covariates=["age", "sex_label", "chronicity"]
    )
    ref = smf.ols("pk5 ~ treated + pk1 + age + C(sex_label) + chronicity", data=data).fit()
    assert res.estimate == pytest.approx(ref.params["treated"], rel=1e-9)
    assert res.std_error == pytest.approx(ref.bse["treated"], rel=1e-9)
    assert res.df == ref.df_resid
    terms = list(res.table["term"])
    assert terms == ["intercept", "arm", "baseline", "age", "sex_label=male", "chronicity"]
    assert res.table.columns.tolist() == [
        "term",
        "estimate",
        "std_error",
        "statistic",
        "df",
        "p_value",
        "conf_low",
        "conf_high",
    ]


def test_user_covariates_on_a_dataset(clinic_a_dataset: Any) -> None:
    res = compare_ancova(clinic_a_dataset, covariates=["age", "sex", "site_id"])
    assert res.covariates == ("age", "sex", "site_id")
    assert "site_id=north" in set(res.table["term"])
    with pytest.raises(RequestError, match="favourite_colour"):
        compare_ancova(clinic_a_dataset, covariates=["favourite_colour"])


def test_holm_across_secondary_outcomes(clinic_a_dataset: Any) -> None:
    res = compare_outcomes(clinic_a_dataset)
    frame = res.to_frame()
    assert frame["role"].tolist()[0] == "primary"
    assert frame["p_holm"].iloc[0] == frame["p_value"].iloc[0]
    p = frame["p_value"].to_numpy()[1:]
    order = np.argsort(p)
    m = len(p)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order]).clip(max=1)
    expected = np.empty(m)
    expected[order] = adj
    np.testing.assert_allclose(frame["p_holm"].to_numpy()[1:], expected, rtol=1e-12)


def test_swapping_arms_flips_the_sign(clinic_a_dataset: Any) -> None:
    a = compare_ancova(clinic_a_dataset, measure="odi")
    b = compare_ancova(
        clinic_a_dataset, measure="odi", reference="dn_manual_exercise", comparator="dn_only"
    )
    assert b.estimate == pytest.approx(-a.estimate, rel=1e-9)
    assert b.std_error == pytest.approx(a.std_error, rel=1e-9)
    assert (b.conf_low, b.conf_high) == pytest.approx((-a.conf_high, -a.conf_low), rel=1e-9)
    assert b.p_value == pytest.approx(a.p_value, rel=1e-9)
    assert b.hedges_g == pytest.approx(-a.hedges_g, rel=1e-9)


@settings(max_examples=10, deadline=None)
@given(shift=st.floats(min_value=-50, max_value=50, allow_nan=False))
def test_adding_a_constant_leaves_the_effect(clinic_a_dataset: Any, shift: float) -> None:
    out = clinic_a_dataset.outcomes
    shifted = out.assign(value=out["value"] + np.where(out["measure"] == "odi", shift, 0.0))
    base = compare_ancova(clinic_a_dataset, measure="odi")
    moved = compare_ancova(_replace(clinic_a_dataset, outcomes=shifted), measure="odi")
    assert moved.estimate == pytest.approx(base.estimate, rel=1e-7, abs=1e-9)
    assert moved.std_error == pytest.approx(base.std_error, rel=1e-7)


def test_too_few_and_missing(vickers: pd.DataFrame, clinic_a_dataset: Any) -> None:
    tiny = vickers.dropna(subset=["pk5"]).groupby("treated").head(1)
    with pytest.raises(InsufficientDataError, match="needs at least 2 per arm"):
        fit_ancova(tiny, outcome="pk5", baseline="pk1")
    with pytest.raises(InsufficientDataError, match="rmdq value at discharge"):
        compare_ancova(clinic_a_dataset, measure="rmdq")
    with pytest.raises(RequestError, match="conf_level"):
        compare_ancova(clinic_a_dataset, conf_level=95)
    # a covariate that cannot enter is left out, said so, and not listed as adjusted for
    collinear = fit_ancova(
        vickers.assign(copy=vickers["pk1"] * 2, same=1.0),
        outcome="pk5",
        baseline="pk1",
        covariates=["copy", "same", "age"],
    )
    assert collinear.covariates == ("age",)
    assert "and age" in collinear.title and "copy" not in collinear.title
    assert any("'copy' was not adjusted for: it is collinear" in n for n in collinear.notes)
    assert any("'same' was not adjusted for: it takes one value" in n for n in collinear.notes)
    with_age = fit_ancova(vickers, outcome="pk5", baseline="pk1", covariates=["age"])
    assert collinear.estimate == pytest.approx(with_age.estimate, rel=1e-12)
    # defaults the data do not record are skipped with a note; explicit ones raise
    with pytest.raises(InsufficientDataError):
        compare_outcomes(clinic_a_dataset, outcomes=[("nprs", "discharge"), ("rmdq", "discharge")])


def test_text_and_html(clinic_a_dataset: Any) -> None:
    res = compare_ancova(clinic_a_dataset)
    assert "Adjusted means: dn_only" in str(res)
    assert "<table" in res._repr_html_()
    frame = res.to_frame()
    frame.loc[0, "estimate"] = 99.0
    assert res.table.loc[0, "estimate"] != 99.0


def test_extra_export_columns_as_covariates(clinic_a_dataset: Any) -> None:
    patients = clinic_a_dataset.patients
    bmi = 20 + (patients["age"] % 13)  # any numeric patient attribute
    as_text = _replace(clinic_a_dataset, patients=patients.assign(bmi=bmi.map(str)))
    as_number = _replace(clinic_a_dataset, patients=patients.assign(bmi=bmi))
    text_fit = compare_ancova(as_text, covariates=["bmi"])
    number_fit = compare_ancova(as_number, covariates=["bmi"])
    assert list(text_fit.table["term"]) == ["intercept", "arm", "baseline", "bmi"]
    assert text_fit.estimate == pytest.approx(number_fit.estimate, rel=1e-12)
    with pytest.raises(RequestError, match="holds lists"):
        compare_ancova(clinic_a_dataset, covariates=["contraindications"])


def test_every_pair_of_arms(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    from dnoutcomes.stats.ancova import compare_pairs

    res = compare_pairs(clinic_a_dataset)
    pairs = list(zip(res.frame["reference"], res.frame["comparator"], strict=True))
    assert pairs == [
        ("dn_only", "dn_manual_exercise"),
        ("dn_only", "manual_exercise"),
        ("dn_manual_exercise", "manual_exercise"),
    ]
    first = res.frame.iloc[0]
    exp = clinic_a_expected["ancova"][0]
    assert first["estimate"] == pytest.approx(exp["estimate"], rel=1e-6)
    assert first["n"] == exp["n"]
    direct = compare_ancova(
        clinic_a_dataset, reference="manual_exercise", comparator="dn_manual_exercise"
    )
    assert res.frame.iloc[2]["estimate"] == pytest.approx(-direct.estimate, rel=1e-9)
    assert res.to_dict()[1]["comparator"] == "manual_exercise"
    with pytest.raises(RequestError, match="at least two arms"):
        compare_pairs(clinic_a_dataset, arms=["dn_only"])


def test_constant_outcome_or_baseline_is_too_little(vickers: pd.DataFrame) -> None:
    data = vickers.dropna(subset=["pk5"])
    with pytest.raises(InsufficientDataError, match="outcomes that vary"):
        fit_ancova(data.assign(pk5=3.0), outcome="pk5", baseline="pk1")
    with pytest.raises(InsufficientDataError, match="baseline take"):
        fit_ancova(data.assign(pk1=0.0), outcome="pk5", baseline="pk1")


def test_one_covariate_given_as_a_string(clinic_a_dataset: Any) -> None:
    one = compare_ancova(clinic_a_dataset, covariates="age")
    listed = compare_ancova(clinic_a_dataset, covariates=["age"])
    plain = compare_ancova(clinic_a_dataset)
    assert one.covariates == ("age",)
    assert one.estimate == listed.estimate and one.std_error == listed.std_error
    assert one.estimate != plain.estimate  # age really entered the model
    with pytest.raises(RequestError, match="'bmi' is not a column.*Expected some of: age") as info:
        compare_ancova(clinic_a_dataset, covariates="bmi")
    assert "b, m, i" not in str(info.value)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats._ancova_fit as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
