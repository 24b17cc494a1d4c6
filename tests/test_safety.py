"""Tests of dnoutcomes.stats.safety against R (clinic_a: poisson.test), the chi-squared form
of the exact Poisson interval, and direct counts from the raw tables."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dnoutcomes.errors import RequestError
from dnoutcomes.stats.safety import compare_safety, poisson_rate_ci

REL = 1e-6


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)  # type: ignore[arg-type]
    return SimpleNamespace(**{**vars(dataset), **changes})


@pytest.fixture(scope="module")
def result(clinic_a_dataset: Any) -> Any:
    return compare_safety(clinic_a_dataset)


def test_every_safety_figure_matches_r(result: Any, clinic_a_expected: dict[str, Any]) -> None:
    got = result.to_dict()
    expected = clinic_a_expected["safety"]
    assert [g["arm"] for g in got] == [e["arm"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g["events"] == e["events"]
        assert g["dn_sessions"] == e["dn_sessions"]
        for key in ("rate_per_100", "ci_low", "ci_high"):
            assert g[key] == pytest.approx(e[key], rel=REL), (e["arm"], key)


@settings(max_examples=60, deadline=None)
@given(events=st.integers(0, 5000), exposure=st.integers(1, 100000))
def test_exact_interval_equals_the_chi_squared_form(events: int, exposure: int) -> None:
    rate, low, high = poisson_rate_ci([events], [exposure], per=1.0)
    # Garwood: lower = chi2(a/2; 2x) / 2, upper = chi2(1 - a/2; 2x + 2) / 2.
    lower = 0.0 if events == 0 else stats.chi2.ppf(0.025, 2 * events) / 2
    upper = stats.chi2.ppf(0.975, 2 * events + 2) / 2
    assert rate[0] == pytest.approx(events / exposure, rel=1e-12)
    assert low[0] == pytest.approx(lower / exposure, rel=1e-9, abs=1e-300)
    assert high[0] == pytest.approx(upper / exposure, rel=1e-9)
    assert low[0] <= rate[0] <= high[0]


def test_exact_interval_textbook_values() -> None:
    # Count 10: 95 % exact limits 4.795 and 18.390; count 0: 0 and -log(0.025) = 3.689.
    _, low, high = poisson_rate_ci([10, 0], [1, 1], per=1.0)
    assert low == pytest.approx([4.7954, 0.0], abs=5e-5)
    assert high == pytest.approx([18.3904, -np.log(0.025)], abs=5e-5)
    rate, low, high = poisson_rate_ci([3], [0])
    assert np.isnan(rate[0]) and np.isnan(low[0]) and np.isnan(high[0])
    with pytest.raises(RequestError, match="whole numbers"):
        poisson_rate_ci([1.5], [10])
    with pytest.raises(RequestError, match="conf_level"):
        poisson_rate_ci([1], [10], conf_level=1.0)


def test_counts_agree_with_the_raw_tables(clinic_a_dataset: Any, result: Any) -> None:
    d = clinic_a_dataset
    arm_of = d.episodes.set_index("episode_id")["arm"]
    sessions = d.sessions.assign(arm=d.sessions["episode_id"].map(arm_of))
    dn = sessions.loc[sessions["dn_performed"].astype(bool)]
    events = d.adverse_events.merge(dn[["session_id", "arm"]], on="session_id")
    rates = result.table.set_index("arm")
    for arm in ("dn_only", "dn_manual_exercise"):
        assert rates.loc[arm, "dn_sessions"] == int((dn["arm"] == arm).sum())
        assert rates.loc[arm, "events"] == int((events["arm"] == arm).sum())
        assert rates.loc[arm, "episodes"] == int((arm_of == arm).sum())


def test_by_type_and_severity_add_up(result: Any) -> None:
    totals = result.table.set_index("arm")["events"]
    frames = (
        (result.by_type, "type"),
        (result.by_severity, "severity"),
        (result.by_reporter, "reporter"),
    )
    for frame, column in frames:
        assert list(frame.columns) == [
            "arm",
            column,
            "events",
            "dn_sessions",
            "rate_per_100",
            "conf_low",
            "conf_high",
        ]
        sums = frame.groupby("arm")["events"].sum()
        for arm in totals.index:
            assert sums[arm] == totals[arm]
    assert list(result.by_severity["severity"].unique()) == ["mild", "significant", "serious"]
    assert list(result.by_reporter["reporter"].unique()) == ["not recorded"]  # no column
    serious = result.by_severity.loc[result.by_severity["severity"] == "serious"]
    assert (serious["events"] == 0).all() and (serious["conf_low"] == 0).all()
    assert (serious["conf_high"] > 0).all()


def test_notable_events_are_listed(clinic_a_dataset: Any, result: Any) -> None:
    ae = clinic_a_dataset.adverse_events
    notable_ids = set(ae.loc[ae["type"].astype(str) == "nerve_injury", "event_id"])
    assert notable_ids and set(result.notable_events["event_id"]) == notable_ids
    # Make one bruising event serious: it must appear in the list.
    changed = ae.copy()
    bruise = changed.index[changed["type"].astype(str) == "bruising"][0]
    changed["severity"] = changed["severity"].astype(str)
    changed.loc[bruise, "severity"] = "serious"
    again = compare_safety(_replace(clinic_a_dataset, adverse_events=changed))
    assert changed.loc[bruise, "event_id"] in set(again.notable_events["event_id"])
    assert "Serious events" in str(again)


def test_events_after_sessions_without_needling_are_not_counted(
    clinic_a_dataset: Any, result: Any
) -> None:
    d = clinic_a_dataset
    # Turn the needling off at one session that was followed by adverse events.
    session = d.adverse_events["session_id"].iloc[0]
    n_events = int((d.adverse_events["session_id"] == session).sum())
    sessions = d.sessions.copy()
    sessions["dn_performed"] = sessions["dn_performed"].astype(bool)
    sessions.loc[sessions["session_id"] == session, "dn_performed"] = False
    again = compare_safety(_replace(d, sessions=sessions))
    before, after = result.table, again.table
    assert after["events"].sum() == before["events"].sum() - n_events
    assert after["dn_sessions"].sum() == before["dn_sessions"].sum() - 1
    assert any(f"{n_events} adverse events followed sessions" in n for n in again.notes)


def test_contraindicated_needling_is_counted(clinic_a_dataset: Any, result: Any) -> None:
    d = clinic_a_dataset
    has_ci = d.patients.set_index("patient_id")["contraindications"].map(len) > 0
    episodes = d.episodes.loc[d.episodes["arm"].isin(["dn_only", "dn_manual_exercise"])]
    needled = set(d.sessions.loc[d.sessions["dn_performed"].astype(bool), "episode_id"])
    expected = episodes.loc[
        episodes["patient_id"].map(has_ci).to_numpy(dtype=bool)
        & episodes["episode_id"].isin(needled).to_numpy(dtype=bool)
    ]
    assert set(result.contraindicated["episode_id"]) == set(expected["episode_id"])
    counts = result.table.set_index("arm")["contraindicated_episodes"]
    assert counts.sum() == len(expected) > 0
    assert result.to_dict()[0]["contraindicated_episodes"] == counts["dn_only"]


def test_an_arm_without_needling_has_no_rate(clinic_a_dataset: Any) -> None:
    res = compare_safety(clinic_a_dataset, reference="manual_exercise")
    entry = res.to_dict()[0]
    assert entry["arm"] == "manual_exercise"
    assert entry["dn_sessions"] == 0 and entry["events"] == 0
    assert entry["rate_per_100"] is None and entry["ci_low"] is None and entry["ci_high"] is None
    assert any("no dry-needling sessions" in note for note in res.notes)


def test_absent_table_is_not_recorded_never_zero(clinic_a_dataset: Any) -> None:
    res = compare_safety(_replace(clinic_a_dataset, adverse_events=None))
    assert res.recorded is False
    for entry in res.to_dict():
        assert entry["events"] is None and entry["rate_per_100"] is None
        assert entry["dn_sessions"] > 0 and entry["recorded"] is False
    assert "not recorded" in res.title and "not recorded" in res.notes[0]
    assert res.by_type.empty and res.notable_events.empty


def test_swapping_arms_and_dropping_an_unused_arm(clinic_a_dataset: Any, result: Any) -> None:
    swapped = compare_safety(clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only")
    assert swapped.to_dict() == result.to_dict()[::-1]
    episodes = clinic_a_dataset.episodes
    kept = episodes.loc[episodes["arm"] != "manual_exercise"]
    smaller = compare_safety(_replace(clinic_a_dataset, episodes=kept))
    assert smaller.to_dict() == result.to_dict()
    pd.testing.assert_frame_equal(smaller.by_type, result.by_type)


def test_text_and_html(result: Any, clinic_a_expected: dict[str, Any]) -> None:
    text = str(result)
    assert "per 100 DN sessions" in text and "contraindication" in text
    assert "<table" in result._repr_html_()
    in_arms = sum(clinic_a_expected["n_episodes"].values())
    assert result.n == len(result.episodes_used) == in_arms


@pytest.mark.slow  # a fresh interpreter: seconds on a busy machine
def test_statistics_modules_do_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "import dnoutcomes.stats.mixed, dnoutcomes.stats.iptw, dnoutcomes.stats.meta, "
        "dnoutcomes.stats.safety\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_generated_rates_and_contraindications_match_the_truth() -> None:
    import warnings

    from dnoutcomes.sample import generate

    sample = generate(episodes=3000, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's deliberate data-quality warnings
        dataset = sample.to_dataset()
    res = compare_safety(dataset)
    rates = sample.truth.adverse_events["rates_per_dn_session"]
    true_per_100 = 100 * sum(sum(by_type.values()) for by_type in rates.values())
    assert (res.table["conf_low"] < true_per_100).all()
    assert (res.table["conf_high"] > true_per_100).all()
    compared = set(res.episodes_used)
    expected = set(sample.truth.contraindicated_dn_episodes) & compared
    assert set(res.contraindicated["episode_id"]) == expected and expected


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.safety as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
