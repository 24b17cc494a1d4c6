"""The QI charts of every site and window are read off tables built once per dataset
(episode outcomes in id order, therapist codes, DN sessions and events per site and month):
each is checked here against a direct pandas computation on the text ids of that site and
window alone."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from dnoutcomes.qi._indicator_frames import (
    _chart_frames,
    _episode_outcomes,
    _monthly,
    _months_of,
)
from dnoutcomes.qi.indicators import monthly_adverse_events, qi_charts
from dnoutcomes.sample import generate
from dnoutcomes.stats.results import id_tuple

WINDOWS = [(None, None), ("2024-05", "2025-02"), ("2025-01", None)]


def _per_therapist_by_group_by(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-therapist table as the package built it before its counts became a
    ``bincount`` on therapist codes: a group-by of the episode frame on the text ids."""
    grouped = frame.groupby("therapist_id", sort=True)
    table = pd.DataFrame(
        {"episodes": grouped.size(), "responders": grouped["responder"].sum().astype(int)}
    )
    table["share_responders"] = table["responders"] / table["episodes"]
    return table.rename_axis("therapist_id").reset_index()


@pytest.fixture(scope="module")
def sample() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return generate(episodes=2000, seed=3).to_dataset()


def _direct_outcomes(data: Any, site: str | None, start: str | None, end: str | None) -> Any:
    """Baseline and discharge NPRS per episode by group-by on the text ids."""
    out = data.outcomes.assign(episode_id=data.outcomes["episode_id"].astype(str))
    nprs = out.loc[(out["measure"] == "nprs") & out["value"].notna()]
    first = nprs.groupby(["episode_id", "timepoint"], observed=True).first()
    base = first.xs("baseline", level="timepoint")["value"].rename("baseline")
    dis = first.xs("discharge", level="timepoint")[["value", "assessed_on"]]
    frame = dis.join(base, how="inner").dropna()
    episodes = data.episodes.assign(episode_id=data.episodes["episode_id"].astype(str))
    frame = frame.join(episodes.set_index("episode_id")[["therapist_id", "site_id"]])
    frame = frame.sort_index()
    frame["improvement"] = frame["baseline"] - frame["value"]
    frame["month"] = frame["assessed_on"].dt.to_period("M")
    keep = pd.Series(True, index=frame.index)
    if site is not None:
        keep &= frame["site_id"] == site
    if start is not None:
        keep &= frame["month"] >= pd.Period(start, "M")
    if end is not None:
        keep &= frame["month"] <= pd.Period(end, "M")
    return frame.loc[keep]


def test_each_site_and_window_matches_a_direct_group_by(sample: Any) -> None:
    sites = sorted(str(s) for s in sample.episodes["site_id"].dropna().unique())
    assert len(sites) >= 2
    for site in [None, *sites]:
        for start, end in WINDOWS:
            first = None if start is None else pd.Period(start, "M")
            last = None if end is None else pd.Period(end, "M")
            direct = _direct_outcomes(sample, site, start, end)
            frame, mcid = _episode_outcomes(sample, "nprs", site, first, last)
            light, therapists, ids, mcid2 = _chart_frames(sample, "nprs", site, first, last)
            assert mcid == mcid2 == 2.0
            assert list(frame["episode_id"]) == list(direct.index) == list(ids)
            np.testing.assert_array_equal(frame["improvement"], direct["improvement"])
            np.testing.assert_array_equal(light["improvement"], direct["improvement"])
            np.testing.assert_array_equal(light["responder"], direct["improvement"] >= 2.0)
            assert list(light["month"]) == list(direct["month"])
            # the light frames give exactly what the full frame gives
            assert_frame_equal(_monthly(light, first, last), _monthly(frame, first, last))
            assert_frame_equal(therapists, _per_therapist_by_group_by(frame))
            assert ids == id_tuple(frame["episode_id"])
            by_therapist = direct.groupby("therapist_id").agg(
                episodes=("improvement", "size"),
                responders=("improvement", lambda s: int((s >= 2.0).sum())),
            )
            assert list(therapists["therapist_id"]) == list(by_therapist.index)
            np.testing.assert_array_equal(therapists["episodes"], by_therapist["episodes"])
            np.testing.assert_array_equal(therapists["responders"], by_therapist["responders"])


def test_adverse_events_of_each_site_and_window_match_a_direct_count(sample: Any) -> None:
    assert sample.adverse_events is not None and len(sample.adverse_events)
    sessions = sample.sessions.assign(episode_id=sample.sessions["episode_id"].astype(str))
    episodes = sample.episodes[["episode_id", "site_id"]].astype({"episode_id": str})
    sessions = sessions.merge(episodes, on="episode_id", how="left")
    sessions = sessions.loc[sessions["dn_performed"].astype(bool)]
    sessions["month"] = sessions["session_date"].dt.to_period("M")
    events = sample.adverse_events
    events = events.assign(session_id=events["session_id"].astype(str))
    sites = sorted(str(s) for s in sample.episodes["site_id"].dropna().unique())
    for site in [None, *sites]:
        for start, end in WINDOWS:
            got = monthly_adverse_events(sample, site=site, start=start, end=end)
            assert got is not None
            rows = sessions if site is None else sessions.loc[sessions["site_id"] == site]
            if start is not None:
                rows = rows.loc[rows["month"] >= pd.Period(start, "M")]
            if end is not None:
                rows = rows.loc[rows["month"] <= pd.Period(end, "M")]
            per_month = rows.groupby("month").size()
            with_event = rows.loc[rows["session_id"].astype(str).isin(events["session_id"])]
            n_events = events["session_id"].map(with_event.set_index("session_id")["month"])
            events_per_month = n_events.dropna().value_counts()
            lo = pd.Period(start, "M") if start else per_month.index.min()
            hi = pd.Period(end, "M") if end else per_month.index.max()
            months = pd.period_range(lo, hi, freq="M")
            assert list(got["month"]) == list(months)
            want_sessions = per_month.reindex(months, fill_value=0).to_numpy()
            want_events = events_per_month.reindex(months, fill_value=0).to_numpy()
            np.testing.assert_array_equal(got["dn_sessions"], want_sessions)
            np.testing.assert_array_equal(got["adverse_events"], want_events)
            assert got["dn_sessions"].sum() > 0


def test_site_charts_after_network_charts_are_unchanged(sample: Any) -> None:
    """The shared per-dataset tables: a site's charts are the same whether or not the
    network's were built first on the same dataset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = generate(episodes=2000, seed=3).to_dataset()
    site = sorted(str(s) for s in fresh.episodes["site_id"].dropna().unique())[0]
    alone = qi_charts(fresh, site=site, start="2024-03", end="2025-06")
    qi_charts(sample, start="2024-03", end="2025-06")
    after = qi_charts(sample, site=site, start="2024-03", end="2025-06")
    assert alone.to_dict() == after.to_dict()
    assert alone.episodes_used == after.episodes_used
    assert_frame_equal(alone.therapists, after.therapists)
    assert_frame_equal(alone.funnel.frame, after.funnel.frame)


@pytest.mark.parametrize("unit", ["ns", "us", "ms", "s"])
def test_months_of_matches_numpy_calendar(unit: str) -> None:
    rng = np.random.default_rng(7)
    seconds = rng.integers(-(10**9), 3 * 10**9, 20_000).astype("timedelta64[s]")
    dates = (np.datetime64("1960-01-01", "s") + seconds).astype(f"M8[{unit}]")
    dates[:3] = [np.datetime64("1969-12-31T23:59:59"), np.datetime64("1970-01-01"), 0]
    want = dates.astype("datetime64[M]").astype(np.int64)
    np.testing.assert_array_equal(_months_of(dates), want)
    assert _months_of(dates[:0]).dtype == np.int64
