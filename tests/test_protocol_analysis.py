"""A custom protocol end to end: ``analyze --protocol --json`` on an export with a user
measure, extra patient columns and follow-up outcomes, against statsmodels fits and hand
formulas computed here from the CSVs with pandas (none of the package's functions).

The export is the sample generator's, edited as a researcher's own would be: the ODI rows
become a user measure ``tsk`` (Tampa Scale of Kinesiophobia, rescaled into 17–68), the
patients gain ``smoker`` (text: a category), ``bmi`` (numeric, some not recorded) and
``clinic_country`` (``"uk"`` for everyone: it cannot enter a model). The protocol asks for
TSK at 12 weeks adjusted for age, smoker, BMI and baseline NPRS (and ``clinic_country``,
which must be reported in the notes and not listed as adjusted for), responders by the TSK
MCID of 6 points, the TSK trajectory over baseline, discharge and 12 weeks, and time to a
TSK response at discharge or 12 weeks.

Independent side (arm = declared, else derived from the sessions as the data contract says):

- ANCOVA: ``ols("value ~ treated + baseline + age + C(smoker) + bmi + nprs_baseline")`` on
  complete cases; 1e-6 relative, n exact.
- Responders (improvement = baseline − value ≥ 6): counts exact; RD (Wald), RR (log CI),
  OR (Woolf CI) by hand at 1e-9.
- Trajectory: ``mixedlm("value ~ treated * weeks", groups=episode_id, reml=True)``, weeks =
  days from the episode start / 7; fixed effects and SEs at 1e-3 relative (the package's
  engine equals lme4; statsmodels' MixedLM differs from lme4 by up to 2e-4 here).
- Time to response: ``SurvfuncRight`` medians (exact; the KM curves never sit at exactly 0.5,
  where R and statsmodels define the median differently), events and n exact, log-rank
  chi-square from ``survdiff`` at 1e-6.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from dnoutcomes.sample import generate

SEED = 20261204
ARMS = ("dn_only", "dn_manual_exercise")  # reference, comparator
MCID = 6.0
COVARIATES = ["age", "smoker", "bmi", "baseline:nprs"]
REL = 1e-6

PROTOCOL = """\
title = "Kinesiophobia at 12 weeks"

[arms]
reference = "dn_only"
comparator = "dn_manual_exercise"

[[measures]]
name = "tsk"
label = "Tampa Scale of Kinesiophobia"
unit = "points"
low = 17
high = 68
integer = false
direction = "lower"
mcid_points = 6

[primary]
measure = "tsk"
timepoint = "followup_12w"
covariates = ["age", "smoker", "bmi", "baseline:nprs", "clinic_country"]

[responders]
definition = "mcid"

[trajectory]
measure = "tsk"
timepoints = ["baseline", "discharge", "followup_12w"]

[time_to_response]
measure = "tsk"
timepoints = ["discharge", "followup_12w"]

[weighting]
covariates = [
    "age", "sex", "condition", "symptom_weeks", "baseline:nprs", "baseline:tsk", "site_id",
]
"""


def _build_export(folder: Path) -> None:
    """The sample export with ODI turned into TSK and three extra patient columns."""
    generate(episodes=600, seed=SEED).write(folder, format="csv")
    rng = np.random.default_rng(SEED)
    text = {"dtype": str, "keep_default_na": False}
    patients = pd.read_csv(folder / "patients.csv", **text)
    n = len(patients)
    bmi = np.round(rng.normal(27.0, 4.0, n), 1).astype(str)
    bmi[rng.random(n) < 0.05] = ""  # not recorded
    patients = patients.assign(
        smoker=rng.choice(["no", "yes"], size=n, p=[0.7, 0.3]),
        bmi=bmi,
        clinic_country="uk",
    )
    patients.to_csv(folder / "patients.csv", index=False, lineterminator="\n")
    outcomes = pd.read_csv(folder / "outcomes.csv", **text)
    odi = outcomes["measure"] == "odi"
    tsk = 17.0 + 0.51 * pd.to_numeric(outcomes.loc[odi, "value"])  # 0–100 into 17–68
    outcomes.loc[odi, "measure"] = "tsk"
    outcomes.loc[odi, "value"] = tsk.round(2).map(repr)
    outcomes.to_csv(folder / "outcomes.csv", index=False, lineterminator="\n")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("protocol") / "export"
    _build_export(folder)
    return folder


@pytest.fixture(scope="module")
def doc(export: Path) -> dict[str, Any]:
    """``dnoutcomes analyze EXPORT --protocol tsk.toml --json``, in process (the entry point
    ``python -m dnoutcomes.cli`` calls; a subprocess would spend seconds re-importing)."""
    from dnoutcomes.cli import main

    protocol = export.parent / "tsk.toml"
    protocol.write_text(PROTOCOL, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["analyze", str(export), "--protocol", str(protocol), "--json"])
    assert code == 0, err.getvalue()
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


# ---- the independent side: pandas from the CSVs -------------------------------------------


def _derived_arms(sessions: pd.DataFrame) -> pd.Series:
    """Arm from the sessions (data contract): DN only / DN + manual + exercise / …"""
    flags = sessions[["dn_performed", "manual_therapy", "exercise_therapy"]].apply(
        lambda c: c.astype(str).str.lower().isin({"true", "1", "yes", "y", "t"})
    )
    anyof = flags.groupby(sessions["episode_id"]).any()
    dn, manual, exercise = (anyof[c] for c in flags.columns)
    arm = pd.Series("other", index=anyof.index)
    arm[dn & ~manual & ~exercise] = "dn_only"
    arm[dn & manual & exercise] = "dn_manual_exercise"
    arm[~dn & manual & exercise] = "manual_exercise"
    return arm


@pytest.fixture(scope="module")
def tables(export: Path) -> dict[str, pd.DataFrame]:
    patients = pd.read_csv(export / "patients.csv", dtype={"age": str})
    patients["age"] = pd.to_numeric(patients["age"].str.replace("90+", "90", regex=False))
    episodes = pd.read_csv(export / "episodes.csv", parse_dates=["start_date"])
    sessions = pd.read_csv(export / "sessions.csv")
    outcomes = pd.read_csv(export / "outcomes.csv", parse_dates=["assessed_on"])
    derived = episodes["episode_id"].map(_derived_arms(sessions))
    episodes["arm"] = episodes["arm"].fillna(derived)
    episodes = episodes[episodes["arm"].isin(ARMS)].merge(patients, on="patient_id")
    episodes["treated"] = (episodes["arm"] == ARMS[1]).astype(int)
    outcomes = outcomes[outcomes["episode_id"].isin(episodes["episode_id"])]
    wide = outcomes.pivot_table(
        index="episode_id", columns=["measure", "timepoint"], values="value", aggfunc="first"
    )
    episodes = episodes.assign(
        baseline=episodes["episode_id"].map(wide[("tsk", "baseline")]),
        value=episodes["episode_id"].map(wide[("tsk", "followup_12w")]),
        nprs_baseline=episodes["episode_id"].map(wide[("nprs", "baseline")]),
    )
    tsk = outcomes[outcomes["measure"] == "tsk"].merge(
        episodes[["episode_id", "treated", "start_date", "baseline"]], on="episode_id"
    )
    tsk["days"] = (tsk["assessed_on"] - tsk["start_date"]).dt.days
    return {"episodes": episodes, "tsk": tsk}


def test_the_protocol_is_echoed(doc: dict[str, Any]) -> None:
    assert doc["protocol"]["primary"]["measure"] == "tsk"
    assert re.fullmatch(r"[0-9a-f]{64}", doc["protocol_sha256"])
    assert (doc["reference"], doc["comparator"]) == ARMS


def test_ancova_matches_statsmodels(doc: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
    data = tables["episodes"].dropna(
        subset=["value", "baseline", "age", "smoker", "bmi", "nprs_baseline"]
    )
    fit = smf.ols("value ~ treated + baseline + age + C(smoker) + bmi + nprs_baseline", data).fit()
    low, high = fit.conf_int().loc["treated"]
    got = doc["ancova"][0]
    assert (got["measure"], got["timepoint"]) == ("tsk", "followup_12w")
    assert list(got["covariates"]) == COVARIATES
    assert got["n"] == int(fit.nobs) == len(data)
    assert got["estimate"] == pytest.approx(fit.params["treated"], rel=REL)
    assert got["se"] == pytest.approx(fit.bse["treated"], rel=REL)
    assert got["ci_low"] == pytest.approx(low, rel=REL)
    assert got["ci_high"] == pytest.approx(high, rel=REL)
    assert got["p"] == pytest.approx(fit.pvalues["treated"], rel=REL)


def test_a_covariate_that_cannot_enter_is_named_in_the_notes(doc: dict[str, Any]) -> None:
    assert "clinic_country" not in doc["ancova"][0]["covariates"]
    assert any("clinic_country" in note for note in doc["notes"]), doc["notes"]


def test_responders_match_hand_formulas(
    doc: dict[str, Any], tables: dict[str, pd.DataFrame]
) -> None:
    data = tables["episodes"].dropna(subset=["value", "baseline"])
    responder = (data["baseline"] - data["value"]) >= MCID
    a = int(responder[data["treated"] == 1].sum())
    n1 = int((data["treated"] == 1).sum())
    c = int(responder[data["treated"] == 0].sum())
    n0 = int((data["treated"] == 0).sum())
    b, d = n1 - a, n0 - c
    p1, p0 = a / n1, c / n0
    z = sps.norm.ppf(0.975)
    rd = p1 - p0
    se_rd = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    rr = p1 / p0
    se_lrr = np.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    odds = (a * d) / (b * c)
    se_lor = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    got = doc["responders"]
    assert (got["n_reference"], got["n_comparator"]) == (n0, n1)
    assert (got["responders_reference"], got["responders_comparator"]) == (c, a)
    expected = {
        "risk_difference": rd,
        "rd_ci_low": rd - z * se_rd,
        "rd_ci_high": rd + z * se_rd,
        "risk_ratio": rr,
        "rr_ci_low": rr * np.exp(-z * se_lrr),
        "rr_ci_high": rr * np.exp(z * se_lrr),
        "odds_ratio": odds,
        "or_ci_low": odds * np.exp(-z * se_lor),
        "or_ci_high": odds * np.exp(z * se_lor),
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9), key


def test_trajectory_matches_statsmodels_mixedlm(
    doc: dict[str, Any], tables: dict[str, pd.DataFrame]
) -> None:
    rows = tables["tsk"]
    rows = rows[rows["timepoint"].isin(["baseline", "discharge", "followup_12w"])]
    rows = rows.assign(weeks=rows["days"] / 7.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fit that does not converge must not pass quietly
        fit = smf.mixedlm("value ~ treated * weeks", rows, groups=rows["episode_id"]).fit(reml=True)
    got = doc["lmm"]
    assert got["n_obs"] == len(rows)
    assert got["n_episodes"] == rows["episode_id"].nunique()
    names = {
        "intercept": "Intercept",
        "arm": "treated",
        "weeks": "weeks",
        "arm_x_weeks": "treated:weeks",
    }
    for key, term in names.items():
        assert got["fixed"][key]["estimate"] == pytest.approx(fit.fe_params[term], rel=1e-3), key
        assert got["fixed"][key]["se"] == pytest.approx(fit.bse_fe[term], rel=1e-3), key


def _km_median(time: pd.Series, status: pd.Series) -> float | None:
    curve = SurvfuncRight(time.to_numpy(float), status.to_numpy(float))
    # R's median averages two times where the curve sits at exactly 0.5; statsmodels does
    # not. This data never does, so the two definitions agree.
    assert not np.isclose(curve.surv_prob, 0.5, rtol=0, atol=1e-12).any()
    median = float(curve.quantile(0.5))
    return None if np.isnan(median) else median


def test_time_to_response_matches_statsmodels(
    doc: dict[str, Any], tables: dict[str, pd.DataFrame]
) -> None:
    rows = tables["tsk"].dropna(subset=["baseline"])
    post = rows[rows["timepoint"].isin(["discharge", "followup_12w"])].sort_values(
        ["episode_id", "assessed_on"]
    )
    post = post.assign(event=(post["baseline"] - post["value"]) >= MCID)
    first = post[post["event"]].groupby("episode_id")["days"].first()
    last = post.groupby("episode_id")["days"].last()
    treated = post.groupby("episode_id")["treated"].first()
    status = pd.Series(last.index.isin(first.index).astype(int), index=last.index)
    time = first.reindex(last.index).fillna(last)
    got = doc["time_to_response"]
    assert got["n"] == len(time)
    assert got["events"] == int(status.sum())
    ref, comp = treated == 0, treated == 1
    assert got["median_reference"] == _km_median(time[ref], status[ref])
    assert got["median_comparator"] == _km_median(time[comp], status[comp])
    chisq, p_value = survdiff(time.to_numpy(float), status.to_numpy(float), treated.to_numpy())
    assert got["logrank_chisq"] == pytest.approx(chisq, rel=REL)
    assert got["logrank_p"] == pytest.approx(p_value, rel=REL)


@pytest.mark.parametrize("name", ["improvement", "value"])
def test_outcome_derived_covariates_are_refused(clinic_a_dataset: Any, name: str) -> None:
    import dnoutcomes
    from dnoutcomes.stats import compare_ancova

    with pytest.raises(dnoutcomes.RequestError) as exc:
        compare_ancova(clinic_a_dataset, covariates=[name])
    message = str(exc.value)
    assert name in message
    # the names it offers: the comma-separated list that starts with "age" (quoted or not)
    offered = re.search(r"['\"]?\bage\b['\"]?(?:, ['\"]?[\w:]+['\"]?)+", message)
    assert offered is not None, message
    choices = [c.strip("'\"") for c in offered.group(0).split(", ")]
    assert "baseline:nprs" in choices, message
    assert "value" not in choices and "improvement" not in choices, message
