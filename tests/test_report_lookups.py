"""The report's look-ups on codes give what the per-row text versions gave (issue 19).

* ``subset_dataset`` picks the sessions and outcomes of the chosen episodes through the
  shared episode codes; checked here against ``Series.isin`` on the text ids, on a loaded
  dataset (codes handed over by the loader) and on a copy (codes hashed afresh), with ids
  that are absent, repeated or missing.
* The case-mix frame's ``contraindicated`` flag is decided once per distinct entry;
  checked against the per-row rule it replaces, lists and odd entries included.
* A site's episodes in the QI frames come from site codes built once; an unknown site is
  still a request error naming the sites present.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.qi._indicator_frames import _in_site, monthly_adverse_events
from dnoutcomes.qi.casemix import _any_listed
from dnoutcomes.report.build import _rows_of_episodes, subset_dataset


def _expected(data: Any, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    def pick(column: pd.Series) -> np.ndarray:
        return np.asarray(column.isin(ids).fillna(False).to_numpy(), dtype=bool) & column.notna()

    return pick(data.sessions["episode_id"]).to_numpy(), pick(
        data.outcomes["episode_id"]
    ).to_numpy()


def _id_sets(data: Any) -> list[pd.Index]:
    ids = data.episodes["episode_id"]
    rng = np.random.default_rng(19)
    some = ids.iloc[np.sort(rng.choice(len(ids), size=len(ids) // 3, replace=False))]
    odd = pd.Index(
        [*some.iloc[:5].tolist(), *some.iloc[:5].tolist(), "no-such-episode", None],
        dtype="str",
    )
    return [
        pd.Index(some),
        pd.Index(ids),
        odd,
        pd.Index([], dtype="str"),
        pd.Index(some.iloc[:7].tolist(), dtype=object),  # not text: the per-table path
    ]


@pytest.mark.parametrize("copy", [False, True], ids=["loaded", "copy"])
def test_rows_of_episodes_match_isin(clinic_a_dataset: Any, copy: bool) -> None:
    data = clinic_a_dataset
    if copy:  # a fresh cache: the codes are hashed, not handed over by the loader
        data = dataclasses.replace(data)
    for ids in _id_sets(data):
        sessions, outcomes = _rows_of_episodes(data, ids)
        want_sessions, want_outcomes = _expected(data, ids)
        np.testing.assert_array_equal(sessions, want_sessions)
        np.testing.assert_array_equal(outcomes, want_outcomes)
        assert sessions.dtype == bool and outcomes.dtype == bool


def test_subset_dataset_tables(clinic_a_dataset: Any) -> None:
    data = clinic_a_dataset
    ids = _id_sets(data)[0]
    subset = subset_dataset(data, ids)
    sessions, outcomes = _expected(data, ids)
    pd.testing.assert_frame_equal(subset.sessions, data.sessions[sessions].reset_index(drop=True))
    pd.testing.assert_frame_equal(subset.outcomes, data.outcomes[outcomes].reset_index(drop=True))
    assert set(subset.episodes["episode_id"]) == set(ids)


def test_any_listed_matches_the_row_rule() -> None:
    entries = [(), ("a",), None, np.nan, ["x"], [], ("a", "b"), "text", pd.NA, ("a",), ()]
    column = pd.Series(entries, dtype=object)
    rule = column.map(lambda v: float(len(v) > 0) if isinstance(v, tuple | list) else np.nan)
    np.testing.assert_array_equal(_any_listed(column), rule.astype(float).to_numpy())
    tuples = pd.Series([(), ("a",), None, ("b", "c")] * 50, dtype=object)
    rule = tuples.map(lambda v: float(len(v) > 0) if isinstance(v, tuple | list) else np.nan)
    np.testing.assert_array_equal(_any_listed(tuples), rule.astype(float).to_numpy())


def test_site_codes(clinic_a_dataset: Any) -> None:
    data = clinic_a_dataset
    sites = data.episodes["site_id"]
    for site in sorted(str(s) for s in sites.dropna().unique()):
        want = (sites == site).fillna(False).to_numpy(dtype=bool)
        np.testing.assert_array_equal(_in_site(data, site), want)
    with pytest.raises(RequestError, match="has no episode; expected one of"):
        _in_site(data, "no-such-site")
    with pytest.raises(RequestError, match="has no episode"):
        monthly_adverse_events(data, site="no-such-site")
