"""Table 1 (present.table_one): numbers equal describe_baseline's and hand pandas, p-values
equal R's (tests/reference/table_one_tests.R), labels in words, any number of arms."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.present.table_one import table_one
from dnoutcomes.sample import generate
from dnoutcomes.stats import describe_baseline

REFERENCE = json.loads((Path(__file__).parent / "reference" / "table_one_tests.json").read_text())


@pytest.fixture(scope="module")
def dataset() -> object:
    return generate(episodes=300, seed=1).to_dataset()


def _row(table: object, variable: str, level: str = "") -> pd.Series:
    body = table.body  # type: ignore[attr-defined]
    hit = body.loc[(body["variable"] == variable) & (body["level"] == level)]
    assert len(hit) == 1, (variable, level)
    return hit.iloc[0]


def test_two_arms_match_describe_baseline(dataset: object) -> None:
    arms = ["dn_only", "dn_manual_exercise"]
    table = table_one(dataset, arms=arms, overall=False)  # type: ignore[arg-type]
    ref = describe_baseline(dataset).frame  # type: ignore[arg-type]

    def stats(variable: str, level: str = "") -> pd.Series:
        return ref.loc[(ref["variable"] == variable) & (ref["level"] == level)].iloc[0]

    for ours, theirs in (("age", "age"), ("odi", "odi (baseline)"), ("nprs", "nprs (baseline)")):
        row, base = _row(table, ours), stats(theirs)
        for prefix, arm in (("reference", arms[0]), ("comparator", arms[1])):
            assert row[f"estimate_{arm}"] == pytest.approx(base[f"{prefix}_estimate"], rel=1e-12)
            assert row[f"sd_{arm}"] == pytest.approx(base[f"{prefix}_sd"], rel=1e-12)
            assert row[f"n_{arm}"] == base[f"{prefix}_n"]
        assert row["smd"] == pytest.approx(base["smd"], rel=1e-12)
    row, base = _row(table, "symptom_weeks"), stats("symptom_weeks")
    for stat in ("estimate", "q1", "q3"):
        assert row[f"{stat}_dn_only"] == pytest.approx(base[f"reference_{stat}"], rel=1e-12)
    for level in ("female", "male"):
        row, base = _row(table, "sex", level), stats("sex", level)
        assert row["estimate_dn_manual_exercise"] == pytest.approx(base["comparator_estimate"])
        assert row["n_dn_only"] == base["reference_n"]
    assert _row(table, "sex")["smd"] == pytest.approx(stats("sex")["smd"], rel=1e-12)
    assert _row(table, "opioid_use", "yes")["smd"] == pytest.approx(
        stats("opioid_use (baseline)", "yes")["smd"], rel=1e-12
    )


def test_overall_and_three_arms_by_hand(dataset: object) -> None:
    table = table_one(dataset)  # type: ignore[arg-type]
    episodes = dataset.episodes.merge(  # type: ignore[attr-defined]
        dataset.patients.drop(columns="site_id"),
        on="patient_id",  # type: ignore[attr-defined]
    )
    episodes = episodes.loc[episodes["arm"] != "other"]
    assert [c.label.split(" (n")[0] for c in table.columns] == [
        "Overall",
        "Dry needling alone",
        "Dry needling + manual & exercise therapy",
        "Manual & exercise therapy",
    ]
    assert table.columns[0].label == f"Overall (n = {len(episodes)})"
    assert {c.spanner for c in table.columns[1:]} == {"Arm"}
    age = _row(table, "age")
    assert age["estimate_overall"] == pytest.approx(episodes["age"].mean(), rel=1e-12)
    assert age["sd_overall"] == pytest.approx(episodes["age"].std(), rel=1e-12)
    me = episodes.loc[episodes["arm"] == "manual_exercise", "age"]
    assert age["estimate_manual_exercise"] == pytest.approx(me.mean(), rel=1e-12)
    north = _row(table, "site_id", "north")
    share = (episodes["site_id"] == "north").mean() * 100
    assert north["estimate_overall"] == pytest.approx(share, rel=1e-12)
    assert "SMD" not in [c.label for c in table.columns]  # three arms: no single SMD
    # the cells say what the numbers are, rounded only at render
    cells = table.cells().set_index("Characteristic")
    assert cells.loc["Age, years", table.columns[0].label] == (
        f"{episodes['age'].mean():.1f} ({episodes['age'].std():.1f})"
    )


def test_labels_are_words(dataset: object) -> None:
    stubs = table_one(dataset).cells()["Characteristic"].tolist()  # type: ignore[arg-type]
    for label in ("Age, years", "Sex", "Site", "ODI at baseline", "Female", "Muscle strain"):
        assert label in stubs
    assert not [s for s in stubs if "site_id" in s or "(baseline)" in s or "_" in s]


def test_p_values_equal_r(dataset: object) -> None:
    """R: tests/reference/table_one_tests.R (t.test, oneway.test, kruskal.test,
    chisq.test(correct = FALSE), fisher.test) on tests/reference/table_one_tests.csv."""
    three = table_one(dataset, tests=True)  # type: ignore[arg-type]
    two = table_one(dataset, arms=["dn_only", "dn_manual_exercise"], tests=True)  # type: ignore[arg-type]
    pair = table_one(dataset, arms=["dn_only", "manual_exercise"], tests=True)  # type: ignore[arg-type]
    checks = [
        (two, "age", "", "welch", "age_welch_two"),
        (three, "age", "", "anova", "age_anova_three"),
        (three, "odi", "", "anova", "odi_anova_three"),
        (three, "symptom_weeks", "", "kruskal", "symptom_kruskal_three"),
        (two, "symptom_weeks", "", "kruskal", "symptom_kruskal_two"),
        (three, "sex", "", "chisq", "sex_chisq_three"),
        (two, "site_id", "", "chisq", "site_chisq_two"),
        (three, "opioid_use", "yes", "chisq", "opioid_chisq_three"),
        (pair, "contraindications", "metal_allergy", "fisher", "metal_allergy_fisher_pair"),
    ]
    for table, variable, level, test, key in checks:
        row = _row(table, variable, level)
        assert row["test"] == test, key
        assert row["p_value"] == pytest.approx(REFERENCE[key], rel=1e-8), key
    assert "p-value" in [c.label for c in three.columns]
    assert any("Fisher" in note for note in pair.footnotes)


def test_user_variables_and_missing_rows(dataset: object) -> None:
    patients = dataset.patients.assign(  # type: ignore[attr-defined]
        smoker=np.where(np.arange(len(dataset.patients)) % 3 == 0, "yes", "no"),  # type: ignore[attr-defined]
        bmi=np.linspace(18, 35, len(dataset.patients)),  # type: ignore[attr-defined]
    )
    patients.loc[patients.index[:5], "bmi"] = np.nan
    custom = dataclasses.replace(dataset, patients=patients)  # type: ignore[type-var]
    default = table_one(custom)
    assert {"smoker", "bmi"} <= set(default.body["variable"])
    table = table_one(custom, variables=["bmi", "smoker"], labels={"bmi": "BMI, kg/m²"})
    stubs = table.cells()["Characteristic"].tolist()
    assert stubs[:2] == ["BMI, kg/m²", "Missing"]
    assert "Smoker" in stubs
    missing = _row(table, "bmi", "(missing)")
    gone = set(patients["patient_id"].iloc[:5])
    episodes = dataset.episodes  # type: ignore[attr-defined]
    shown = episodes.loc[episodes["arm"] != "other"]
    assert missing["n_overall"] == shown["patient_id"].isin(gone).sum()
    assert _row(table, "bmi")["n_overall"] == len(shown) - missing["n_overall"]


def test_unknown_arm_or_variable_is_refused(dataset: object) -> None:
    with pytest.raises(RequestError, match="unknown or repeated arms"):
        table_one(dataset, arms=["dn_only", "usual_care"])  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="unknown variable 'bmi'"):
        table_one(dataset, variables=["bmi"])  # type: ignore[arg-type]


def test_one_arm_has_no_spanner_and_no_tests(dataset: object) -> None:
    table = table_one(dataset, arms=["dn_only"], overall=False, tests=True)  # type: ignore[arg-type]
    assert [c.spanner for c in table.columns] == [""]
    assert table.caption == "Table 1. Baseline characteristics of the episodes"
