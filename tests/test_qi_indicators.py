"""The monthly QI indicators from a Dataset: clinic_a against an independent computation
straight from its CSV files, a small export with a built-in shift, and the sample data's
documented shift."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.indicators import (
    monthly_adverse_events,
    monthly_outcomes,
    qi_charts,
    therapist_responders,
)

CLINIC_A = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "clinic_a"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def raw_nprs() -> pd.DataFrame:
    """Baseline and discharge NPRS per episode, read from the CSVs without the loader."""
    out = pd.read_csv(CLINIC_A / "outcomes.csv", parse_dates=["assessed_on"])
    nprs = out.loc[out["measure"] == "nprs"]
    base = nprs.loc[nprs["timepoint"] == "baseline"].set_index("episode_id")["value"]
    dis = nprs.loc[nprs["timepoint"] == "discharge"].set_index("episode_id")
    frame = dis[["value", "assessed_on"]].join(base.rename("baseline"), how="inner").dropna()
    episodes = pd.read_csv(CLINIC_A / "episodes.csv").set_index("episode_id")
    frame = frame.join(episodes["therapist_id"])
    frame["improvement"] = frame["baseline"] - frame["value"]
    frame["month"] = frame["assessed_on"].dt.strftime("%Y-%m")
    return frame


def test_clinic_a_monthly_outcomes_match_raw_csv(
    clinic_a_dataset: Any, raw_nprs: pd.DataFrame
) -> None:
    monthly = monthly_outcomes(clinic_a_dataset)
    expected = raw_nprs.groupby("month").agg(
        episodes=("improvement", "size"),
        mean_improvement=("improvement", "mean"),
        responders=("improvement", lambda s: int((s >= 2).sum())),
    )
    got = monthly.assign(month=monthly["month"].astype(str)).set_index("month")
    got = got.loc[got["episodes"] > 0]
    assert list(got.index) == list(expected.index)
    np.testing.assert_array_equal(got["episodes"], expected["episodes"])
    np.testing.assert_array_equal(got["responders"], expected["responders"])
    np.testing.assert_allclose(got["mean_improvement"], expected["mean_improvement"], rtol=1e-12)
    assert int(monthly["episodes"].sum()) == len(raw_nprs)
    assert list(monthly.columns) == [
        "month",
        "episodes",
        "mean_improvement",
        "responders",
        "share_responders",
    ]


def test_clinic_a_charts_follow_the_plan(clinic_a_dataset: Any, raw_nprs: pd.DataFrame) -> None:
    charts = qi_charts(clinic_a_dataset)
    means = raw_nprs.groupby("month")["improvement"].mean().to_numpy()
    centre = means.mean()
    half = 2.66 * np.abs(np.diff(means)).mean()
    frame = charts.i_chart.frame
    assert frame["centre"].iloc[0] == pytest.approx(centre, rel=1e-12)
    assert frame["ucl"].iloc[0] == pytest.approx(centre + half, rel=1e-12)
    assert frame["lcl"].iloc[0] == pytest.approx(centre - half, rel=1e-12)

    resp = (raw_nprs["improvement"] >= 2).groupby(raw_nprs["month"])
    p_bar = resp.sum().sum() / resp.size().sum()
    n = resp.size().to_numpy()
    pframe = charts.p_chart.frame
    assert pframe["centre"].iloc[0] == pytest.approx(p_bar, rel=1e-12)
    np.testing.assert_allclose(
        pframe["ucl"], np.minimum(p_bar + 3 * np.sqrt(p_bar * (1 - p_bar) / n), 1), rtol=1e-12
    )
    block = charts.to_dict()
    assert set(block) == {"i_chart", "p_chart", "u_chart"}
    json.dumps(block)  # JSON-ready
    assert block["i_chart"]["months"][0] == raw_nprs["month"].min()


def test_clinic_a_adverse_events_per_100_dn_sessions(clinic_a_dataset: Any) -> None:
    sessions = pd.read_csv(CLINIC_A / "sessions.csv", parse_dates=["session_date"])
    dn = sessions.loc[sessions["dn_performed"].astype(str).str.lower() == "true"]
    events = pd.read_csv(CLINIC_A / "adverse_events.csv").merge(dn, on="session_id")
    dn_month = dn["session_date"].dt.strftime("%Y-%m").value_counts().sort_index()
    ae_month = events["session_date"].dt.strftime("%Y-%m").value_counts()
    ae_month = ae_month.reindex(dn_month.index, fill_value=0)
    table = monthly_adverse_events(clinic_a_dataset)
    assert table is not None
    np.testing.assert_array_equal(table["dn_sessions"], dn_month.to_numpy())
    np.testing.assert_array_equal(table["adverse_events"], ae_month.to_numpy())
    charts = qi_charts(clinic_a_dataset)
    assert charts.u_chart is not None
    centre = 100 * ae_month.sum() / dn_month.sum()
    assert charts.u_chart.frame["centre"].iloc[0] == pytest.approx(centre, rel=1e-12)
    np.testing.assert_allclose(
        charts.u_chart.frame["value"], 100 * ae_month.to_numpy() / dn_month.to_numpy()
    )


def test_clinic_a_therapist_funnel(clinic_a_dataset: Any, raw_nprs: pd.DataFrame) -> None:
    table = therapist_responders(clinic_a_dataset)
    expected = raw_nprs.groupby("therapist_id")["improvement"].agg(
        episodes="size", responders=lambda s: int((s >= 2).sum())
    )
    np.testing.assert_array_equal(table["episodes"], expected["episodes"])
    np.testing.assert_array_equal(table["responders"], expected["responders"])
    funnel = qi_charts(clinic_a_dataset).funnel
    assert funnel.target == pytest.approx(expected["responders"].sum() / expected["episodes"].sum())
    assert list(funnel.frame["unit"]) == list(expected.index)


def test_site_and_window_filters(clinic_a_dataset: Any, raw_nprs: pd.DataFrame) -> None:
    monthly = monthly_outcomes(clinic_a_dataset, site="north", start="2024-06", end="2025-05")
    assert [str(m) for m in monthly["month"]] == [
        str(p) for p in pd.period_range("2024-06", "2025-05", freq="M")
    ]
    patients = pd.read_csv(CLINIC_A / "patients.csv").set_index("patient_id")
    episodes = pd.read_csv(CLINIC_A / "episodes.csv").set_index("episode_id")
    site = episodes["patient_id"].map(patients["site_id"])
    north = raw_nprs.loc[site.reindex(raw_nprs.index) == "north"]
    north = north.loc[(north["month"] >= "2024-06") & (north["month"] <= "2025-05")]
    assert int(monthly["episodes"].sum()) == len(north)
    with pytest.raises(RequestError, match="site 'nowhere' has no episode; expected one of"):
        monthly_outcomes(clinic_a_dataset, site="nowhere")
    with pytest.raises(RequestError, match="is after end"):
        qi_charts(clinic_a_dataset, start="2025-06", end="2025-01")
    with pytest.raises(RequestError, match="YYYY-MM"):
        qi_charts(clinic_a_dataset, start="June")
    with pytest.raises(RequestError, match="no MCID"):
        qi_charts(clinic_a_dataset, measure="lumbar_flexion_deg")
    with pytest.raises(InsufficientDataError, match="at least 2 months"):
        qi_charts(clinic_a_dataset, start="2030-01", end="2030-12")


def _write_shift_export(folder: Path) -> None:
    """24 months x 12 episodes; NPRS improvement 1 point for a year, then 4 points. No
    adverse-events table."""
    months = pd.period_range("2024-01", periods=24, freq="M")
    k = np.arange(24 * 12)
    month = months[k // 12]
    start = month.to_timestamp() + pd.to_timedelta(k % 12, unit="D")
    discharge = start + pd.Timedelta(days=2)
    ids = pd.Series(k).map("E{:04d}".format)
    patients = pd.DataFrame(
        {
            "patient_id": pd.Series(k).map("P{:04d}".format),
            "site_id": "north",
            "sex": "female",
            "age": 50,
            "condition": "postural",
            "symptom_weeks": 10,
        }
    )
    episodes = pd.DataFrame(
        {
            "episode_id": ids,
            "patient_id": patients["patient_id"],
            "therapist_id": np.where(k % 2 == 0, "T1", "T2"),
            "start_date": start.strftime("%Y-%m-%d"),
            "end_date": discharge.strftime("%Y-%m-%d"),
            "arm": "dn_only",
        }
    )
    sessions = pd.DataFrame(
        {
            "session_id": pd.Series(k).map("S{:04d}".format),
            "episode_id": ids,
            "session_date": start.strftime("%Y-%m-%d"),
            "dn_performed": "true",
            "manual_therapy": "false",
            "exercise_therapy": "false",
        }
    )
    gain = np.where(k < 12 * 12, 1 + (k % 3 == 0), 4 + (k % 3 == 0))  # 1-2 then 4-5 points
    outcomes = pd.concat(
        [
            pd.DataFrame(
                {
                    "episode_id": ids,
                    "assessed_on": start.strftime("%Y-%m-%d"),
                    "timepoint": "baseline",
                    "measure": "nprs",
                    "value": 7,
                }
            ),
            pd.DataFrame(
                {
                    "episode_id": ids,
                    "assessed_on": discharge.strftime("%Y-%m-%d"),
                    "timepoint": "discharge",
                    "measure": "nprs",
                    "value": 7 - gain,
                }
            ),
        ]
    )
    for name, table in [
        ("patients", patients),
        ("episodes", episodes),
        ("sessions", sessions),
        ("outcomes", outcomes),
    ]:
        table.to_csv(folder / f"{name}.csv", index=False)


def test_built_in_shift_is_flagged_and_missing_ae_table_said(tmp_path: Path) -> None:
    import dnoutcomes

    _write_shift_export(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(tmp_path)
    charts = qi_charts(dataset)
    # 12 months below the centre then 12 above: one crossing, runs of 12 > limit 8.
    signals = charts.i_chart.signals
    assert (signals.longest_run, signals.longest_run_limit) == (12, 8)
    assert (signals.crossings, signals.crossings_limit) == (1, 8)
    assert signals.runs_signal
    assert charts.p_chart.signals.runs_signal  # 33 % responders, then 100 %
    assert charts.u_chart is None and charts.adverse_events is None
    assert any("not recorded" in note for note in charts.notes)
    assert charts.to_dict()["u_chart"] is None
    assert monthly_adverse_events(dataset) is None


def _flags_drop_after(chart: Any, from_month: str) -> bool:
    """A runs signal, or a month from ``from_month`` on below the lower limit."""
    frame = chart.frame
    start = pd.Period(from_month, freq="M")
    low = frame["outside_limits"] & (frame["value"] < frame["centre"])
    after = np.array([p >= start for p in frame["period"]])
    return bool(chart.signals.runs_signal or (low & after).any())


def _check_shift_flagged(dataset: Any, shift: dict[str, Any], *, both: bool) -> None:
    """The shifted site's charts signal a drop after the shift (``both``: the I and the P
    chart each), and the months from the shift on sit mostly below the centre."""
    charts = qi_charts(dataset, site=shift["site_id"])
    flagged = [_flags_drop_after(c, shift["from_month"]) for c in (charts.i_chart, charts.p_chart)]
    assert all(flagged) if both else any(flagged)
    frame = charts.i_chart.frame.dropna(subset=["value"])
    after = frame.loc[frame["period"] >= pd.Period(shift["from_month"], freq="M")]
    assert (after["value"] < after["centre"]).mean() >= 0.7


@pytest.mark.slow
def test_generated_sample_shift_is_flagged() -> None:
    from dnoutcomes.sample import generate

    sample = generate(episodes=2000, seed=20261127)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = sample.to_dataset()
    shift = dict(sample.truth.shift)
    assert shift["site_id"] == "central" and shift["from_month"] == "2025-01"
    _check_shift_flagged(dataset, shift, both=True)
    # diluted across the whole clinic, the same shift is not flagged by the I chart
    assert not qi_charts(dataset).i_chart.signals.runs_signal


@pytest.mark.slow
def test_data_sample_shift_is_flagged() -> None:
    truth_path = SAMPLE / "truth.json"
    # data/sample is committed (test_sample checks it too): a missing file is a failure
    assert truth_path.is_file(), f"{truth_path} is missing; regenerate it (docs/sample-data.md)"
    import dnoutcomes

    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(SAMPLE)
    # data/sample is small (800 episodes, about 8 a month at the shifted site); its shift
    # (2.3 NPRS points less improvement) is sized so that both of the site's charts flag it,
    # the I chart with a run below the centre.
    _check_shift_flagged(dataset, truth["shift"], both=True)
    assert qi_charts(dataset, site=truth["shift"]["site_id"]).i_chart.signals.runs_signal


def test_summary_and_episodes_used(clinic_a_dataset: Any, raw_nprs: pd.DataFrame) -> None:
    charts = qi_charts(clinic_a_dataset)
    assert sorted(charts.episodes_used) == sorted(raw_nprs.index)
    summary = charts.summary()
    assert list(summary["chart"]) == ["i_chart", "p_chart", "u_chart"]
    row = summary.set_index("chart").loc["i_chart"]
    assert row["longest_run"] == charts.i_chart.signals.longest_run
    assert row["outside_limits"] == ", ".join(charts.i_chart.signals.outside_limits)
    assert "episodes=539" in repr(charts) and "<table" in charts._repr_html_()
    assert len(raw_nprs) == 539


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.indicators as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
