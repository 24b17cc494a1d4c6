"""Tests of dnoutcomes.stats.survival: R's survfit/survdiff answers for clinic_a, the
quantile cases of R survival's own test suite (tests/quantile.R), and statsmodels'
SurvfuncRight / survdiff as an independent implementation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from dnoutcomes.errors import RequestError
from dnoutcomes.stats.survival import (
    compare_time_to_response,
    kaplan_meier,
    km_quantile,
    logrank_test,
    response_times,
)


def test_every_time_to_response_figure_matches_r(
    clinic_a_dataset: Any, clinic_a_expected: dict
) -> None:
    got = compare_time_to_response(clinic_a_dataset).to_dict()
    exp = clinic_a_expected["time_to_response"]
    for key in ("measure", "mcid", "n", "events"):
        assert got[key] == exp[key], key
    # medians and their limits exactly
    for key in ("median_reference", "median_comparator"):
        assert got[key] == exp[key], key
    for key in ("median_reference_ci", "median_comparator_ci"):
        assert got[key] == exp[key], key
    assert got["logrank_chisq"] == pytest.approx(exp["logrank_chisq"], rel=1e-6)
    assert got["logrank_p"] == pytest.approx(exp["logrank_p"], rel=1e-6)


def test_r_survival_quantile_suite() -> None:
    # R survival tests/quantile.R, test1 without the NA-status row
    time = np.array([9, 1, 1, 6, 6, 8, 10.0])
    status = np.array([1, 1, 0, 1, 1, 0, 0])
    km = kaplan_meier(time, status)
    qq = [13 / 14, 6 / 7, 2 / 3, 0.5, 9 / 35, 0.1]
    got = [km_quantile(km, 1 - q) for q in qq]
    quantile = [g[0] for g in got]
    lower = [g[1] for g in got]
    np.testing.assert_array_equal(quantile, [1, 3.5, 6, 9, 9.5, np.nan])
    np.testing.assert_array_equal(lower, [1, 1, 1, 6, 6, 9])
    assert all(math.isnan(g[2]) for g in got)
    # by strata: x = 0 curve (t=6, S=3/4), (t=9, S=3/8); x = 1 curve (t=1, S=2/3), (t=6, 0)
    x = np.array([0, 1, 1, 1, 0, 0, 0])
    q0 = [km_quantile(kaplan_meier(time[x == 0], status[x == 0]), 1 - q)[0] for q in qq]
    q1 = [km_quantile(kaplan_meier(time[x == 1], status[x == 1]), 1 - q)[0] for q in qq]
    np.testing.assert_array_equal(q0, [6, 6, 9, 9, np.nan, np.nan])
    np.testing.assert_array_equal(q1, [1, 1, 3.5, 6, 6, 6])


def test_final_flat_at_the_median_uses_the_last_time() -> None:
    # S = 0.5 from t = 2 to the end of follow-up at 4: R takes (2 + 4) / 2
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0])
    assert km_quantile(km, 0.5)[0] == 3.0


def test_km_matches_statsmodels(rng: np.random.Generator) -> None:
    time = rng.integers(1, 40, size=120).astype(float)
    event = (rng.random(120) < 0.7).astype(int)
    km = kaplan_meier(time, event).set_index("time")
    ref = SurvfuncRight(time, event)
    at = km.loc[ref.surv_times]
    np.testing.assert_allclose(at["survival"], ref.surv_prob, rtol=1e-12)
    # statsmodels reports the SE of S; ours is the SE of -log S (R's std.err)
    np.testing.assert_allclose(at["survival"] * at["std_error"], ref.surv_prob_se, rtol=1e-10)
    np.testing.assert_allclose(at["n_risk"], ref.n_risk)
    np.testing.assert_allclose(at["n_event"], ref.n_events)
    z = 1.959963984540054
    pos = ref.surv_prob > 0
    np.testing.assert_allclose(
        at["conf_low"][pos],
        np.exp(np.log(ref.surv_prob[pos]) - z * at["std_error"][pos]),
        rtol=1e-9,
    )
    assert at["conf_low"][~pos].isna().all()


@pytest.mark.parametrize("groups", [2, 3])
def test_logrank_matches_statsmodels(rng: np.random.Generator, groups: int) -> None:
    time = rng.integers(1, 30, size=150).astype(float)
    event = (rng.random(150) < 0.75).astype(int)
    group = rng.integers(0, groups, size=150)
    time[group == 1] += 3
    mine = logrank_test(time, event, group)
    chisq, p = survdiff(time, event, group)
    assert mine.chisq == pytest.approx(chisq, rel=1e-9)
    assert mine.p_value == pytest.approx(p, rel=1e-9)
    assert mine.df == groups - 1
    assert mine.table["observed"].sum() == event.sum()
    assert mine.table["expected"].sum() == pytest.approx(event.sum())


def test_response_times_rules(clinic_a_dataset: Any) -> None:
    times = response_times(clinic_a_dataset)
    assert times["episode_id"].is_unique
    assert set(times["event"]) == {0, 1}
    assert (times["time"] >= 0).all()
    assert (times["n_values"] >= 1).all()
    # an episode that responded: its time is the first date with improvement >= 2
    out = clinic_a_dataset.outcomes
    row = times[times["event"] == 1].iloc[0]
    mine = out[(out["episode_id"] == row["episode_id"]) & (out["measure"] == "nprs")]
    base = mine.loc[mine["timepoint"].astype(str) == "baseline", "value"].iloc[0]
    later = mine[mine["timepoint"].astype(str).isin(["session", "discharge"])]
    start = clinic_a_dataset.episodes.set_index("episode_id").loc[row["episode_id"], "start_date"]
    hits = later[base - later["value"] >= 2]
    assert row["time"] == (hits["assessed_on"].min() - start).days


def test_swapping_arms(clinic_a_dataset: Any) -> None:
    a = compare_time_to_response(clinic_a_dataset).to_dict()
    b = compare_time_to_response(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only"
    ).to_dict()
    assert b["median_reference"] == a["median_comparator"]
    assert b["median_comparator_ci"] == a["median_reference_ci"]
    assert b["logrank_chisq"] == pytest.approx(a["logrank_chisq"], rel=1e-12)


def test_bad_requests(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="no MCID in points"):
        compare_time_to_response(clinic_a_dataset, measure="ppt_kg_cm2")
    with pytest.raises(RequestError):
        kaplan_meier([1, 2], [0, 2])
    with pytest.raises(RequestError, match="at least 2 groups"):
        logrank_test([1, 2], [1, 1], ["a", "a"])
    res = compare_time_to_response(clinic_a_dataset, threshold=3)
    assert res.threshold == 3
    assert "Log-rank" in str(res)
    assert set(res.curves["arm"]) == {"dn_only", "dn_manual_exercise"}


@pytest.mark.parametrize("name", ["dnoutcomes.stats.survival", "dnoutcomes.stats._km"])
def test_docstring_examples_run(name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(name)
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@settings(max_examples=30, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 1), st.integers(0, 1)),
        min_size=4,
        max_size=60,
    )
)
def test_logrank_ignores_labels_and_order(data: list[tuple[int, int, int]]) -> None:
    time, event, group = (np.array(x, dtype=float) for x in zip(*data, strict=True))
    if len(set(group)) < 2:
        return
    a = logrank_test(time, event, group)
    b = logrank_test(time[::-1], event[::-1], 1 - group[::-1])
    if math.isnan(a.chisq):
        assert math.isnan(b.chisq)
    else:
        assert b.chisq == pytest.approx(a.chisq, rel=1e-9, abs=1e-12)
    km1 = kaplan_meier(time, event)
    km2 = kaplan_meier(time[::-1], event[::-1])
    np.testing.assert_allclose(km1["survival"], km2["survival"])
    assert km1["survival"].is_monotonic_decreasing


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), 0, -2])
def test_a_threshold_that_counts_no_improvement_is_refused(
    clinic_a_dataset: Any, threshold: float
) -> None:
    with pytest.raises(RequestError, match="threshold must be a finite number above 0"):
        compare_time_to_response(clinic_a_dataset, threshold=threshold)
