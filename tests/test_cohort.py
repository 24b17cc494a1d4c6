"""Tests of dnoutcomes.cohort: comparison sets, baseline/timepoint pairs and patient flow."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.cohort import comparison_episodes, outcome_pairs, patient_flow
from dnoutcomes.errors import RequestError


def _replace(dataset: Any, **changes: Any) -> Any:
    """A copy of ``dataset`` with some frames replaced (works for the frozen Dataset)."""
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)
    return SimpleNamespace(**{**vars(dataset), **changes})


def test_comparison_counts_match_r(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    frame = comparison_episodes(clinic_a_dataset)
    counts = frame["arm"].value_counts()
    assert counts["dn_only"] == clinic_a_expected["n_episodes"]["reference"]
    assert counts["dn_manual_exercise"] == clinic_a_expected["n_episodes"]["comparator"]
    assert set(frame["arm"]) == {"dn_only", "dn_manual_exercise"}
    assert (frame["treated"] == (frame["arm"] == "dn_manual_exercise")).all()
    assert frame["episode_id"].is_unique
    for column in ("site_id", "age", "sex", "condition", "symptom_weeks", "chronicity"):
        assert frame[column].notna().all(), column


def test_patient_covariates_come_from_the_patient(clinic_a_dataset: Any) -> None:
    frame = comparison_episodes(clinic_a_dataset)
    patients = clinic_a_dataset.patients.set_index("patient_id")
    np.testing.assert_array_equal(
        frame["age"].to_numpy(), patients.loc[frame["patient_id"], "age"].to_numpy()
    )
    np.testing.assert_array_equal(
        frame["site_id"].to_numpy(), patients.loc[frame["patient_id"], "site_id"].to_numpy()
    )


def test_bad_arms_are_request_errors(clinic_a_dataset: Any, clinic_a_expected: dict) -> None:
    n_reference = clinic_a_expected["n_episodes"]["reference"]
    with pytest.raises(RequestError, match=rf"dn_only \({n_reference} episodes\)"):
        comparison_episodes(clinic_a_dataset, reference="usual_care")
    with pytest.raises(RequestError, match="must differ"):
        comparison_episodes(clinic_a_dataset, reference="dn_only", comparator="dn_only")
    with pytest.raises(ValueError):  # a RequestError is also a ValueError
        comparison_episodes(clinic_a_dataset, comparator="nonsense")


def test_outcome_pairs_values_and_direction(clinic_a_dataset: Any) -> None:
    out = clinic_a_dataset.outcomes
    nprs = outcome_pairs(clinic_a_dataset, measure="nprs")
    row = nprs.dropna(subset=["value"]).iloc[0]
    mine = out[(out["episode_id"] == row["episode_id"]) & (out["measure"] == "nprs")]
    by_tp = dict(zip(mine["timepoint"].astype(str), mine["value"], strict=True))
    assert row["baseline"] == by_tp["baseline"]
    assert row["value"] == by_tp["discharge"]
    np.testing.assert_allclose(nprs["improvement"], nprs["baseline"] - nprs["value"])
    flex = outcome_pairs(clinic_a_dataset, measure="lumbar_flexion_deg")
    np.testing.assert_allclose(flex["improvement"], flex["value"] - flex["baseline"])
    # independent count of discharge values straight from the long outcomes table
    ids = set(nprs["episode_id"])
    direct = out[
        (out["measure"] == "nprs")
        & (out["timepoint"].astype(str) == "discharge")
        & out["episode_id"].isin(ids)
    ]
    assert nprs["value"].notna().sum() == len(direct)


def test_outcome_pairs_bad_requests(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="'vas'"):
        outcome_pairs(clinic_a_dataset, measure="vas")
    with pytest.raises(RequestError, match="timepoint 'session'"):
        outcome_pairs(clinic_a_dataset, measure="nprs", timepoint="session")
    with pytest.raises(RequestError, match="timepoint 'week6'"):
        outcome_pairs(clinic_a_dataset, measure="nprs", timepoint="week6")


def test_patient_flow_accounts_for_every_episode(
    clinic_a_dataset: Any, clinic_a_expected: dict
) -> None:
    flow = patient_flow(clinic_a_dataset)
    f = flow.to_frame().set_index(["arm", "stage"])
    assert f.loc[("all", "loaded"), "n"] == len(clinic_a_dataset.episodes)
    assert (
        f.loc[("all", "in_compared_arms"), "n"]
        == f.loc[("dn_only", "in_compared_arms"), "n"]
        + f.loc[("dn_manual_exercise", "in_compared_arms"), "n"]
    )
    exp = clinic_a_expected["responders"]
    assert f.loc[("dn_only", "analysed"), "n"] == exp["n_reference"]
    assert f.loc[("dn_manual_exercise", "analysed"), "n"] == exp["n_comparator"]
    assert flow.n == clinic_a_expected["ancova"][0]["n"]
    for arm in ("dn_only", "dn_manual_exercise"):
        sub = flow.frame[flow.frame["arm"] == arm].set_index("stage")
        assert sub.loc["in_compared_arms", "n"] - sub["excluded"].sum() == sub.loc["analysed", "n"]
    assert any("no nprs at discharge" in note for note in flow.notes)
    assert "manual_exercise (160 episodes)" in f.loc[("all", "in_compared_arms"), "reason"]
    assert flow.to_dict()["stages"][0]["stage"] == "loaded"
    assert "Patient flow" in str(flow) and "<table" in flow._repr_html_()


def test_dropping_an_unused_arm_changes_nothing(clinic_a_dataset: Any) -> None:
    episodes = clinic_a_dataset.episodes
    kept = episodes[episodes["arm"] != "manual_exercise"].reset_index(drop=True)
    outcomes = clinic_a_dataset.outcomes
    smaller = _replace(
        clinic_a_dataset,
        episodes=kept,
        outcomes=outcomes[outcomes["episode_id"].isin(kept["episode_id"])],
    )
    pd.testing.assert_frame_equal(
        outcome_pairs(clinic_a_dataset, measure="odi"), outcome_pairs(smaller, measure="odi")
    )
    with pytest.raises(RequestError, match="manual_exercise"):
        comparison_episodes(smaller, reference="manual_exercise")


@pytest.mark.slow  # a fresh interpreter: seconds on a busy machine
def test_cohort_never_imports_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, dnoutcomes.cohort\nsys.exit(3 if 'matplotlib' in sys.modules else 0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "dnoutcomes.cohort imported matplotlib"


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.cohort as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
