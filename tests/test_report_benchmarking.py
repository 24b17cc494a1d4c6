"""The report's case-mix adjusted benchmarking section and the ``benchmark`` switch.

The clinic is the benchmarking scenario of ``test_qi_benchmark.py`` (north_pt2 is sent the
chronic, severe patients and has no effect; central_pt3 has a true effect), written to disk
so that the report can record its inputs. The section's figures are checked against a case-
mix model fitted here with NumPy's least squares on a design made with pandas' dummies —
independent of :mod:`dnoutcomes.qi.casemix` — at 1e-9.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import dnoutcomes
from dnoutcomes.errors import RequestError
from dnoutcomes.protocol import CaseMixSpec, default_protocol
from dnoutcomes.qi.casemix import casemix_frame
from dnoutcomes.report.build import build_report
from dnoutcomes.report.model import HIDDEN, Report
from dnoutcomes.sample import SampleParams, generate

pytestmark = pytest.mark.slow

RUN_TIME = "2026-01-01T00:00:00Z"
PERIOD = "2025-Q3"
# the trailing 24 months up to the period, from the first discharge (2024-01)
WINDOW = (pd.Timestamp("2024-01-01"), pd.Timestamp("2025-09-30"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
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
    folder = generate(episodes=3000, seed=1, sites=2, params=params).write(
        tmp_path_factory.mktemp("bench") / "clinic"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        return dnoutcomes.load(folder)


@pytest.fixture(scope="module")
def report(dataset: Any) -> Report:
    return build_report(dataset, period=PERIOD, run_time=RUN_TIME, figures=False)


def _by_hand(dataset: Any, covariates: tuple[str, ...]) -> pd.DataFrame:
    """Per therapist: n, mean O − E and its t-interval, from an OLS fitted here."""
    frame = casemix_frame(dataset, covariates=covariates)
    frame["contraindicated"] = frame["contraindicated"].astype(float)
    names = ["contraindicated" if c == "contraindications" else c for c in covariates]
    categorical = [c for c in names if c in ("sex", "condition", "chronicity")]
    x = pd.get_dummies(frame[names], columns=categorical, drop_first=True, dtype=float)
    x.insert(0, "const", 1.0)
    ok = x.notna().all(axis=1) & frame[names].notna().all(axis=1)
    fit_rows = ok & frame["improvement"].notna() & (frame["end_date"] <= WINDOW[1])
    beta = np.linalg.lstsq(
        x[fit_rows].to_numpy(), frame.loc[fit_rows, "improvement"].to_numpy(), rcond=None
    )[0]
    expected = x.to_numpy() @ beta
    in_window = frame["end_date"].between(*WINDOW)
    rows = ok & frame["improvement"].notna() & in_window
    diff = (frame["improvement"] - expected)[rows]
    grouped = diff.groupby(frame.loc[rows, "therapist_id"].astype(str))
    n, mean, sd = grouped.size(), grouped.mean(), grouped.std(ddof=1)
    t = stats.t.ppf(0.975, n - 1)
    return pd.DataFrame(
        {
            "n": n,
            "estimate": mean,
            "low": mean - t * sd / np.sqrt(n),
            "high": mean + t * sd / n**0.5,
        }
    )


def test_the_adjusted_section_replaces_the_raw_funnel(report: Report) -> None:
    keys = [s.key for s in report.sections]
    assert keys[0] == "summary" and "benchmarking" in keys and "funnel" not in keys
    assert keys.index("benchmarking") == keys.index("control_charts") + 1
    assert dict(report.provenance.parameters)["benchmark"] == "adjusted"


def test_raw_keeps_the_funnel_and_is_recorded(dataset: Any) -> None:
    raw = build_report(dataset, period=PERIOD, run_time=RUN_TIME, figures=False, benchmark="raw")
    keys = [s.key for s in raw.sections]
    assert "funnel" in keys and "benchmarking" not in keys
    assert dict(raw.provenance.parameters)["benchmark"] == "raw"
    assert raw.to_dict()["provenance"]["parameters"]["benchmark"] == "raw"


def test_an_unknown_choice_is_refused(dataset: Any) -> None:
    with pytest.raises(RequestError, match=r"--benchmark: expected 'adjusted'.*got 'fair'"):
        build_report(dataset, period=PERIOD, figures=False, benchmark="fair")


def test_observed_minus_expected_matches_an_independent_fit(report: Report, dataset: Any) -> None:
    hand = _by_hand(dataset, CaseMixSpec().covariates)
    table = report.table("benchmark_therapist_id").frame.set_index("therapist_id")
    assert sorted(table.index) == sorted(hand.index)
    for unit, row in hand.iterrows():
        shown = table.loc[unit]
        assert shown["n"] == row["n"]
        assert shown["estimate"] == pytest.approx(row["estimate"], rel=1e-9, abs=1e-12)
        assert shown["conf_low"] == pytest.approx(row["low"], rel=1e-9, abs=1e-12)
        assert shown["conf_high"] == pytest.approx(row["high"], rel=1e-9, abs=1e-12)


def test_the_true_effect_is_flagged_and_said(report: Report) -> None:
    section = report.section("benchmarking")
    text = " ".join(p.text for p in section.paragraphs)
    assert "Outside the 99.8 % limits of the adjusted funnel: central_pt3." in text
    table = report.table("benchmark_therapist_id").frame.set_index("therapist_id")
    assert table.loc["central_pt3", "adjusted_position"] == "above outer"
    assert (table.drop(index="central_pt3")["adjusted_position"] != "above outer").all()
    units = report.to_dict()["results"]["benchmarking"]["units"]["therapist_id"]
    assert units["flagged_adjusted"] == ["central_pt3"]
    assert units["adjusted"]["target"] == 0.0 and units["adjusted"]["phi"] > 1


def test_model_tables_and_fit(report: Report) -> None:
    coef = report.table("casemix_coefficients").frame
    assert coef["term"].iloc[0] == "(intercept)" and "baseline" in coef["term"].tolist()
    calibration = report.table("casemix_calibration").frame
    assert calibration["decile"].tolist() == list(range(1, 11))
    model = report.to_dict()["results"]["benchmarking"]["model"]
    assert "n" not in model["fit"] and model["fit"]["r_squared"] > 0.1
    assert model["window"] == [None, "2025-09-30"]  # never past the period's end


def test_a_small_therapist_is_hidden_and_left_out_of_the_centres(dataset: Any) -> None:
    episodes = dataset.episodes.copy()
    at_north = episodes["end_date"].between(*WINDOW) & (episodes["site_id"] == "north")
    inside = episodes.index[at_north][:6]
    episodes.loc[inside, "therapist_id"] = "tiny_pt"
    changed = dataclasses.replace(dataset, episodes=episodes)
    full = _by_hand(changed, CaseMixSpec().covariates)
    report = build_report(changed, period=PERIOD, run_time=RUN_TIME, figures=False)
    table = report.table("benchmark_therapist_id").frame.set_index("therapist_id")
    hidden = table.index[(table == HIDDEN).all(axis=1)].tolist()
    # tiny_pt (6 episodes), and the smallest therapist of her site as its complement: the
    # total of all therapists less the ones shown then gives only the sum of the two
    north = full.loc[full.index.str.startswith("north_pt")]
    complement = north.sort_values("n").index[0]
    assert sorted(hidden) == sorted(["tiny_pt", complement])
    shown = table.drop(index=hidden)
    assert (shown["n"].astype(float) >= 11).all()
    units = report.to_dict()["results"]["benchmarking"]["units"]["therapist_id"]
    assert units["suppressed"] == sorted(hidden)
    # the raw funnel's centre is the mean improvement of the therapists shown only
    n = shown["n"].astype(float)
    centre = float((shown["observed"].astype(float) * n).sum() / n.sum())
    assert units["raw"]["target"] == pytest.approx(centre, rel=1e-12)
    assert "tiny_pt" not in " ".join(p.text for p in report.section("benchmarking").paragraphs)
    # the two hidden therapists of north sum to more than the threshold, so the site is shown
    site_table = report.table("benchmark_site_id").frame.set_index("site_id")
    assert (site_table != HIDDEN).all().all()


def test_a_site_with_one_hidden_therapist_is_hidden(dataset: Any) -> None:
    from dnoutcomes.report.benchmarking import _sites_giving_back

    frame = casemix_frame(dataset)
    ids = tuple(frame["episode_id"].astype(str))

    class Model:
        outcome = "improvement"

    north = frame.loc[frame["site_id"] == "north", "therapist_id"].astype(str)
    one = north.iloc[0]
    two = sorted(set(north))[:2]
    assert _sites_giving_back(frame, ids, [one], Model(), 11) == frozenset({"north"})
    assert _sites_giving_back(frame, ids, two, Model(), 11) == frozenset()
    assert _sites_giving_back(frame, ids, [], Model(), 11) == frozenset()
    tiny = frame.loc[frame["therapist_id"].astype(str).isin(two)].index[:5]
    few = frame.loc[tiny]
    assert _sites_giving_back(few, ids, two, Model(), 11) == frozenset({"north"})  # 5 in all


def test_a_rare_category_level_coefficient_is_hidden(dataset: Any) -> None:
    patients = dataset.patients.copy()
    patients["sex"] = (
        patients["sex"].astype("string").where(patients["sex"].isin(["female", "male"]), "female")
    )
    patients.loc[patients.index[:4], "sex"] = "other"  # rare in the fitting episodes
    patients["sex"] = patients["sex"].astype("category")
    changed = dataclasses.replace(dataset, patients=patients)
    report = build_report(changed, period=PERIOD, run_time=RUN_TIME, figures=False)
    coef = report.table("casemix_coefficients").frame.set_index("term")
    assert (coef.loc["sex[other]"] == HIDDEN).all()
    assert coef.loc["baseline", "estimate"] != HIDDEN


def test_the_logistic_model_reports_oe_ratios(dataset: Any) -> None:
    protocol = replace(default_protocol(), casemix=CaseMixSpec(model="logistic"))
    report = build_report(
        dataset, period=PERIOD, run_time=RUN_TIME, figures=False, protocol=protocol
    )
    table = report.table("benchmark_site_id").frame.set_index("site_id")
    assert {"oe_ratio", "oe_conf_low", "oe_conf_high"} <= set(table.columns)
    assert (table["oe_conf_low"].astype(float) < table["oe_ratio"].astype(float)).all()
    model = report.to_dict()["results"]["benchmarking"]["model"]
    assert model["outcome"] == "responder" and 0.5 < model["fit"]["c_statistic"] < 1
    assert "C-statistic" in " ".join(p.text for p in report.section("benchmarking").paragraphs)


def test_command_line_flag(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from dnoutcomes.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    out, data = tmp_path / "r.html", tmp_path / "r.json"
    args = ["report", str(sample), "--out", str(out), "--period", PERIOD, "--run-time", RUN_TIME]
    assert main([*args, "--benchmark", "raw", "--data", str(data)]) == 0
    document = json.loads(data.read_text(encoding="utf-8"))
    assert document["provenance"]["parameters"]["benchmark"] == "raw"
    assert 'id="funnel"' in out.read_text(encoding="utf-8")
    assert 'id="benchmarking"' not in out.read_text(encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main([*args, "--benchmark", "fair"])
    assert info.value.code == 2
    assert "invalid choice: 'fair'" in capsys.readouterr().err
