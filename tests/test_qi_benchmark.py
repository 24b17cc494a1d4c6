"""Case-mix adjusted benchmarking on a generated clinic whose truth is known.

The scenario (fixed seed, 3,000 episodes, 2 sites × 6 therapists, about 2 s): chronic
episodes improve 0.6 NPRS/week more slowly; ``north_pt2`` is sent her site's more severe
(chronic, high-ODI) patients but has no effect of her own; ``central_pt3`` has a true
effect (her patients improve 0.3 NPRS/week faster, about a point over the course) and an
ordinary case mix. The site, therapist-random and shift effects of the default generator
are switched off, so case mix and the one true effect are the only differences.

Flags: beyond the 95 % limits of the overdispersion-corrected funnel for the raw
indicator (its τ² is inflated by the very case-mix differences it does not adjust for);
beyond the 99.8 % limits for the therapist with the true effect.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dnoutcomes.errors import RequestError
from dnoutcomes.qi.benchmark import BENCHMARK_COLUMNS, benchmark
from dnoutcomes.qi.casemix import casemix_frame, fit_casemix
from dnoutcomes.sample import SampleData, SampleParams, generate

COVARIATES = ("age", "sex", "condition", "chronicity", "baseline", "baseline:odi")


@pytest.fixture(scope="module")
def scenario() -> SampleData:
    params = replace(
        SampleParams(),
        therapist_casemix=MappingProxyType({"north_pt2": 4.0}),
        therapist_effects=MappingProxyType({"central_pt3": -0.3}),
        nprs_weekly_chronic=0.6,
        shift_nprs_weekly=0.0,
        nprs_weekly_site_sd=0.0,
        nprs_weekly_therapist_sd=0.0,
        therapists_per_site=6,
    )
    return generate(episodes=3000, seed=1, sites=2, params=params)


@pytest.fixture(scope="module")
def dataset(scenario: SampleData) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scenario.to_dataset()


@pytest.fixture(scope="module")
def result(dataset: Any) -> Any:
    model = fit_casemix(dataset, covariates=COVARIATES)
    return benchmark(dataset, model)


def test_truth_records_the_scenario(scenario: SampleData, tmp_path: Path) -> None:
    truth = scenario.truth.therapists
    assert truth is not None
    assert truth["north_pt2"]["casemix_strength"] == 4.0
    assert truth["north_pt2"]["chronic_share"] > 0.7 > truth["north_pt1"]["chronic_share"] + 0.4
    assert truth["central_pt3"]["effect_nprs_weekly"] == -0.3
    assert truth["central_pt3"]["effect_nprs_improvement"] > 0.8
    assert truth["north_pt1"]["effect_nprs_improvement"] == 0.0
    written = json.loads((scenario.write(tmp_path / "out") / "truth.json").read_text())
    assert written["therapists"]["central_pt3"]["effect_nprs_weekly"] == -0.3
    assert written["parameters"]["therapist_casemix"] == {"north_pt2": 4.0}


def test_default_generator_has_no_benchmarking_truth(tmp_path: Path) -> None:
    data = generate(episodes=60, seed=3)
    assert data.truth.therapists is None
    written = json.loads((data.write(tmp_path / "d") / "truth.json").read_text())
    assert "therapists" not in written
    assert "therapist_effects" not in written["parameters"]


def test_unknown_therapist_id_is_refused() -> None:
    params = replace(SampleParams(), therapist_effects=MappingProxyType({"nobody": 0.1}))
    with pytest.raises(RequestError, match="nobody"):
        generate(episodes=50, seed=1, params=params)


def test_raw_funnel_flags_case_mix_the_adjusted_one_does_not(result: Any) -> None:
    raw = result.raw.frame.set_index("unit")
    adj = result.adjusted.frame.set_index("unit")
    assert raw.loc["north_pt2", "outside_inner"] and raw.loc["north_pt2", "z"] < 0
    assert not adj.loc["north_pt2", "outside_inner"]
    assert "north_pt2" in result.flagged(adjusted=False, outer=False)
    assert "north_pt2" not in result.flagged(adjusted=True, outer=False)


def test_adjusted_funnel_flags_the_true_effect(result: Any) -> None:
    adj = result.adjusted.frame.set_index("unit")
    assert adj.loc["central_pt3", "outside_outer"] and adj.loc["central_pt3", "z"] > 0
    assert result.flagged() == ("central_pt3",)
    row = result.frame.set_index("unit").loc["central_pt3"]
    assert row["conf_low"] > 0.5  # about a point better than expected


def test_unit_figures_by_hand(dataset: Any, result: Any) -> None:
    model = fit_casemix(dataset, covariates=COVARIATES)
    frame = casemix_frame(dataset, covariates=COVARIATES)
    e = model.expected(frame)
    ok = frame["improvement"].notna() & e.notna()
    d = (frame["improvement"] - e)[ok].groupby(frame.loc[ok, "therapist_id"])
    for unit, diffs in d:
        row = result.frame.set_index("unit").loc[unit]
        n = diffs.size
        se = diffs.std(ddof=1) / np.sqrt(n)
        t = stats.t.ppf(0.975, n - 1)
        assert row["n"] == n
        assert row["estimate"] == pytest.approx(diffs.mean(), rel=1e-12)
        assert row["conf_low"] == pytest.approx(diffs.mean() - t * se, rel=1e-12)
        assert row["conf_high"] == pytest.approx(diffs.mean() + t * se, rel=1e-12)
    sd = float((frame["improvement"] - e)[ok].std(ddof=1))
    f = result.adjusted.frame.set_index("unit")
    assert f.loc["north_pt1", "s"] == pytest.approx(sd / np.sqrt(f.loc["north_pt1", "n"]))
    assert list(result.frame.columns) == list(BENCHMARK_COLUMNS)


def test_responder_model_oe_ratio_by_hand(dataset: Any) -> None:
    model = fit_casemix(dataset, covariates=COVARIATES, outcome="responder")
    result = benchmark(dataset, model, by="site_id", period=("2024-07-01", None))
    frame = casemix_frame(dataset, covariates=COVARIATES)
    frame = frame.loc[frame["end_date"] >= pd.Timestamp("2024-07-01")]
    p = model.expected(frame)
    ok = frame["responder"].notna() & p.notna()
    for site, rows in frame.loc[ok].groupby("site_id"):
        o = rows["responder"].sum()
        ex = p[rows.index].sum()
        v = (p[rows.index] * (1 - p[rows.index])).sum()
        row = result.frame.set_index("unit").loc[site]
        assert row["oe_ratio"] == pytest.approx(o / ex, rel=1e-12)
        assert row["oe_conf_low"] == pytest.approx((o - 1.959963984540054 * np.sqrt(v)) / ex)
    assert result.adjusted.indicator == "ratio" and result.raw.indicator == "proportion"
    assert result.period == ("2024-07-01", None)


def test_small_units_are_suppressed(dataset: Any) -> None:
    model = fit_casemix(dataset, covariates=COVARIATES)
    frame = casemix_frame(dataset, covariates=COVARIATES)
    # keep only 7 episodes of north_pt1
    few = frame.index[frame["therapist_id"] == "north_pt1"][7:]
    result = benchmark(frame.drop(index=few), model)
    row = result.frame.set_index("unit").loc["north_pt1"]
    assert row["suppressed"] and pd.isna(row["n"]) and np.isnan(row["estimate"])
    assert "north_pt1" not in result.adjusted.frame["unit"].tolist()
    assert any("suppressed" in note for note in result.notes)
    payload = result.to_dict()
    north = next(u for u in payload["units"] if u["unit"] == "north_pt1")
    assert north["n"] is None and north["estimate"] is None


def test_errors(dataset: Any) -> None:
    model = fit_casemix(dataset, covariates=("baseline",))
    with pytest.raises(RequestError, match="by"):
        benchmark(dataset, model, by="room")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="min_cell"):
        benchmark(dataset, model, min_cell=0)


@pytest.mark.slow
def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.benchmark as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_shared_expected_values_and_ids_give_the_same_result(dataset: Any) -> None:
    """The report hands the unit-independent work (expected values, the ids as interned
    strings) to every unit's pass: the results must be those of benchmark() itself, over
    the same rows and over a subset (a second pass without the hidden units)."""
    from dnoutcomes.qi.benchmark import _benchmark_frame
    from dnoutcomes.stats.results import id_tuple

    model = fit_casemix(dataset, covariates=COVARIATES)
    frame = casemix_frame(dataset, covariates=COVARIATES)
    period = ("2024-07-01", "2025-06-30")
    expected = model.expected(frame)
    ids = np.array(id_tuple(frame["episode_id"]), dtype=object)
    for by in ("therapist_id", "site_id"):
        ours = _benchmark_frame(frame, model, by=by, period=period, expected=expected, ids=ids)
        theirs = benchmark(frame, model, by=by, period=period)
        assert ours.to_dict() == theirs.to_dict()
        assert ours.episodes_used == theirs.episodes_used and len(ours.episodes_used) > 100
    left = (frame["therapist_id"] != "north_pt2").to_numpy()
    ours = _benchmark_frame(frame.loc[left], model, period=period, ids=ids[left])
    theirs = benchmark(frame.loc[left], model, period=period)
    assert ours.to_dict() == theirs.to_dict()
    assert ours.episodes_used == theirs.episodes_used
    assert "north_pt2" not in set(ours.frame["unit"])
