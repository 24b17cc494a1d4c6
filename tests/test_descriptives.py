"""Tests of dnoutcomes.stats.descriptives: SMDs against tableone's published test values
(PhysioNet 2012, grouped by MechVent; "consistent with R StdDiff() and R tableone") and
R's balance figures for clinic_a, Table 1 counts against direct pandas counts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import EXTERNAL
from hypothesis import given, settings
from hypothesis import strategies as st

from dnoutcomes.cohort import outcome_pairs
from dnoutcomes.stats.descriptives import (
    describe_baseline,
    smd_categorical,
    smd_continuous,
    summarize_outcomes,
)

# tableone's tests/test_tableone.py, test_compute_standardized_mean_difference_*
TABLEONE_SMD = {
    "Age": -0.129,
    "SysABP": -0.177,
    "Height": -0.073,
    "Weight": 0.124,
    "LOS": 0.121,
    "ICU": 0.747,
    "death": 0.017,
}


def test_smds_match_tableone() -> None:
    data = pd.read_csv(EXTERNAL / "tableone_pn2012.csv")
    ref, comp = data[data["MechVent"] == 0], data[data["MechVent"] == 1]
    for column, published in TABLEONE_SMD.items():
        if column in ("ICU", "death"):
            got = smd_categorical(ref[column], comp[column])
        else:
            got = smd_continuous(ref[column], comp[column])
        assert got == pytest.approx(published, abs=5e-4), column


def test_continuous_smds_match_r_balance(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    # R's unweighted SMDs (IPTW section, "before") on the NPRS-at-discharge analysis set
    nprs = outcome_pairs(clinic_a_dataset, measure="nprs")
    odi = outcome_pairs(clinic_a_dataset, measure="odi").set_index("episode_id")["baseline"]
    data = nprs.dropna(subset=["baseline", "value"]).assign(
        odi_baseline=lambda f: f["episode_id"].map(odi)
    )
    data = data.dropna(subset=["odi_baseline"])
    exp = clinic_a_expected["iptw"]["smd_before"]
    assert len(data) == clinic_a_expected["iptw"]["n"]
    ref, comp = data[data["treated"] == 0], data[data["treated"] == 1]
    for column, key in [
        ("age", "age"),
        ("symptom_weeks", "symptom_weeks"),
        ("baseline", "nprs_baseline"),
        ("odi_baseline", "odi_baseline"),
    ]:
        assert smd_continuous(ref[column], comp[column]) == pytest.approx(exp[key], rel=1e-6)


def test_categorical_smd_with_a_level_missing_from_one_arm() -> None:
    ref = ["a", "a", "b", "c", "c", "c"]
    comp = ["a", "c", "c", "c"]  # no "b" at all
    # independent: aligned share vectors over the levels b and c (a dropped)
    pr = np.array([1 / 6, 3 / 6])
    pc = np.array([0.0, 3 / 4])
    s = (np.diag(pr) - np.outer(pr, pr) + np.diag(pc) - np.outer(pc, pc)) / 2
    d = pc - pr
    expected = math.sqrt(d @ np.linalg.solve(s, d))
    assert smd_categorical(ref, comp) == pytest.approx(expected, rel=1e-12)
    # the level dropped as reference does not matter
    rename = {"a": "z", "b": "b", "c": "c"}
    assert smd_categorical([rename[v] for v in ref], [rename[v] for v in comp]) == pytest.approx(
        expected, rel=1e-10
    )
    # two levels: the binary SMD, even when one arm has only one of them
    binary = smd_categorical(["y", "y", "n"], ["y", "y", "y"])
    p_r, p_c = 2 / 3, 1.0
    assert binary == pytest.approx(abs(p_c - p_r) / math.sqrt((p_r * (1 - p_r)) / 2))
    assert smd_categorical(["a"], ["a", "a"]) == 0.0
    assert math.isinf(smd_categorical(["c"], ["a", "b"]))  # no overlap at all
    assert math.isinf(smd_categorical(["y", "y"], ["n"]))
    assert math.isnan(smd_categorical([], ["a"]))


def test_table_one_counts(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    table = describe_baseline(clinic_a_dataset)
    f = table.to_frame()
    assert list(f.columns)[:3] == ["variable", "level", "summary"]
    episodes = f[f["variable"] == "episodes"].iloc[0]
    assert episodes["reference_n"] == clinic_a_expected["n_episodes"]["reference"]
    assert episodes["comparator_n"] == clinic_a_expected["n_episodes"]["comparator"]
    eps = clinic_a_dataset.episodes.merge(clinic_a_dataset.patients, on="patient_id")
    ref = eps[eps["arm"] == "dn_only"]
    age = f[f["variable"] == "age"].iloc[0]
    assert age["reference_estimate"] == pytest.approx(ref["age"].mean(), rel=1e-12)
    assert age["reference_sd"] == pytest.approx(ref["age"].std(), rel=1e-12)
    female = f[(f["variable"] == "sex") & (f["level"] == "female")].iloc[0]
    assert female["reference_n"] == (ref["sex"] == "female").sum()
    assert female["reference_estimate"] == pytest.approx(
        100 * (ref["sex"] == "female").mean(), rel=1e-12
    )
    weeks = f[f["variable"] == "symptom_weeks"].iloc[0]
    assert weeks["reference_estimate"] == np.median(ref["symptom_weeks"])
    assert weeks["reference_q1"] == np.percentile(ref["symptom_weeks"], 25)
    anti = f[(f["variable"] == "contraindications") & (f["level"] == "anticoagulants")].iloc[0]
    assert (
        anti["reference_n"] == ref["contraindications"].map(lambda v: "anticoagulants" in v).sum()
    )
    # every row has an SMD; a categorical's header holds the multi-level one
    assert f.loc[f["variable"] != "episodes", "smd"].notna().all()
    header = f[(f["variable"] == "condition") & (f["summary"] == "categorical")].iloc[0]
    comp = eps[eps["arm"] == "dn_manual_exercise"]
    assert header["smd"] == pytest.approx(
        smd_categorical(ref["condition"], comp["condition"]), rel=1e-12
    )
    assert (f["variable"] == "nprs (baseline)").any()
    use = f[f["variable"] == "opioid_use (baseline)"].iloc[0]
    assert use["summary"] == "n_pct" and use["level"] == "yes"
    text = str(table)
    assert "dn_only" in text and "%" in text and "<table" in table._repr_html_()


def test_swapping_arms_flips_the_smds(clinic_a_dataset: Any) -> None:
    a = describe_baseline(clinic_a_dataset).to_frame()
    b = describe_baseline(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only"
    ).to_frame()
    signed = a["summary"] != "categorical"
    np.testing.assert_allclose(b.loc[signed, "smd"], -a.loc[signed, "smd"], atol=1e-12)
    np.testing.assert_allclose(b.loc[~signed, "smd"], a.loc[~signed, "smd"], rtol=1e-12)
    np.testing.assert_array_equal(b["reference_n"], a["comparator_n"])


def test_outcome_summaries(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    summary = summarize_outcomes(clinic_a_dataset).to_frame()
    row = summary[
        (summary["measure"] == "nprs")
        & (summary["timepoint"] == "discharge")
        & (summary["arm"] == "dn_only")
    ].iloc[0]
    assert row["n"] == clinic_a_expected["responders"]["n_reference"]
    assert row["missing"] == clinic_a_expected["n_episodes"]["reference"] - row["n"]
    pairs = outcome_pairs(clinic_a_dataset, measure="nprs")
    values = pairs.loc[pairs["arm"] == "dn_only", "value"].dropna()
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert row["sd"] == pytest.approx(values.std(), rel=1e-12)
    assert row["q3"] == np.percentile(values, 75)
    assert set(summary["timepoint"]) == {"baseline", "discharge", "followup_12w"}
    assert list(summary.columns) == [
        "measure",
        "timepoint",
        "arm",
        "n",
        "missing",
        "mean",
        "sd",
        "median",
        "q1",
        "q3",
    ]
    odi_only = summarize_outcomes(clinic_a_dataset, measures=["odi"]).to_frame()
    assert set(odi_only["measure"]) == {"odi"} and len(odi_only) == 4


@pytest.mark.parametrize("name", ["dnoutcomes.stats.descriptives", "dnoutcomes.stats._smd"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@settings(max_examples=50, deadline=None)
@given(
    ref=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40),
    comp=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40),
    shift=st.floats(-1e3, 1e3),
)
def test_smd_swaps_sign_and_ignores_shifts(
    ref: list[float], comp: list[float], shift: float
) -> None:
    d = smd_continuous(ref, comp)
    back = smd_continuous(comp, ref)
    moved = smd_continuous(np.add(ref, shift), np.add(comp, shift))
    if math.isinf(d) or (np.std(ref) + np.std(comp)) < 1e-6:
        return
    assert back == pytest.approx(-d, rel=1e-9, abs=1e-9)
    assert moved == pytest.approx(d, rel=1e-6, abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(
    ref=st.lists(st.sampled_from("abcd"), min_size=1, max_size=40),
    comp=st.lists(st.sampled_from("abcd"), min_size=1, max_size=40),
)
def test_categorical_smd_symmetric_and_label_free(ref: list[str], comp: list[str]) -> None:
    d = smd_categorical(ref, comp)
    assert d >= 0
    if math.isinf(d):  # no overlap: infinite whichever way round or labelled
        assert set(ref).isdisjoint(comp) or len(set(ref)) == 1 or len(set(comp)) == 1
    assert smd_categorical(comp, ref) == pytest.approx(d, rel=1e-9, abs=1e-9)
    relabel = {"a": "z", "b": "y", "c": "x", "d": "w"}  # another level becomes the first
    other = smd_categorical([relabel[v] for v in ref], [relabel[v] for v in comp])
    assert other == pytest.approx(d, rel=1e-6, abs=1e-9)
