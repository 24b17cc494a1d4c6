"""The integer episode codes shared by the analyses (issue 19): the per-episode wide table,
the comparison index and the joins built on them give what the text-id versions they
replace gave (``groupby("episode_id").first()``, ``merge(on="episode_id")``), and the codes
the loader hands over equal the ones hashed afresh."""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.cohort import comparison_episodes, outcome_pairs, values_at
from dnoutcomes.cohort._codes import (
    comparison_index,
    episode_codes,
    episode_values,
    event_sessions,
    join_comparison,
    measure_mask,
    timepoint_mask,
)
from dnoutcomes.errors import DataQualityWarning
from dnoutcomes.sample import generate

REF, COMP = "dn_only", "dn_manual_exercise"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("codes") / "export"
    generate(episodes=600, seed=19, sites=3).write(folder, format="parquet", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # contraindicated needling
        return dnoutcomes.load(folder)


#: the columns the loader stores as categoricals of text
_CATEGORICAL = {"outcomes": ("episode_id", "session_id", "measure"), "sessions": ("episode_id",)}


def _fresh(dataset: Any) -> Any:
    """The same frames as text, with an empty cache: everything is hashed again from the
    text (the loader's categoricals cast back to ``str``)."""
    return dataclasses.replace(
        dataset,
        **{
            table: getattr(dataset, table).astype(dict.fromkeys(columns, "str"))
            for table, columns in _CATEGORICAL.items()
        },
    )


def _first_by_text(dataset: Any, measure: str, timepoint: str) -> pd.Series:
    """The reference: first non-missing value per episode id, by pandas on the text."""
    out = dataset.outcomes
    rows = out.loc[(out["measure"] == measure) & (out["timepoint"] == timepoint)]
    rows = rows.astype({"episode_id": "str"})  # grouped on the text, as loaded or not
    return rows.groupby("episode_id", sort=False)["value"].first().dropna().astype(float)


def test_loader_codes_equal_hashed_codes(generated: Any) -> None:
    assert ("episode_codes",) in generated._cache  # the loader handed its links over
    fresh = _fresh(generated)
    assert fresh._cache == {}
    for table in ("episodes", "outcomes", "sessions"):
        # both are codes of the episode ids: equal codes exactly when equal ids
        seeded, hashed = episode_codes(generated, table), episode_codes(fresh, table)
        ids = getattr(generated, table)["episode_id"].to_numpy()
        np.testing.assert_array_equal(seeded >= 0, hashed >= 0)
        first = pd.Series(np.arange(len(ids))).groupby(seeded).transform("first").to_numpy()
        np.testing.assert_array_equal(ids, ids[first])
    for name in generated.registry:
        np.testing.assert_array_equal(measure_mask(generated, name), measure_mask(fresh, name))
    np.testing.assert_array_equal(event_sessions(generated), event_sessions(fresh))
    for table in ("outcomes", "sessions"):
        np.testing.assert_array_equal(
            comparison_index(generated, table, REF, COMP), comparison_index(fresh, table, REF, COMP)
        )


@pytest.mark.parametrize("seeded", [True, False])
def test_wide_values_equal_groupby_first_on_text(generated: Any, seeded: bool) -> None:
    dataset = generated if seeded else _fresh(generated)
    ids = dataset.episodes["episode_id"]
    for measure in ("nprs", "odi", "analgesic_use"):
        for timepoint in ("baseline", "discharge", "followup_12w", "session"):
            expected = _first_by_text(dataset, measure, timepoint)
            got = values_at(dataset, measure, timepoint)
            pd.testing.assert_series_equal(
                got.sort_index(), expected.sort_index(), check_names=False, check_index_type=False
            )
            wide = episode_values(dataset, measure, timepoint)
            by_position = wide[episode_codes(dataset, "episodes")]
            np.testing.assert_array_equal(by_position, ids.map(expected).to_numpy(dtype=float))


def test_first_value_skips_missing_and_keeps_outcome_order(generated: Any) -> None:
    out = generated.outcomes.copy()
    base = np.flatnonzero(
        ((out["measure"] == "nprs") & (out["timepoint"] == "baseline")).to_numpy()
    )
    first, second = base[0], base[1]
    episode = out.loc[first, "episode_id"]
    # the episode's baseline NPRS becomes missing, followed by a second (duplicate) row
    extra = out.loc[[first, second]].copy()
    extra["episode_id"] = episode
    extra["value"] = [np.nan, 9.0]
    out.loc[first, "value"] = np.nan
    changed = dataclasses.replace(generated, outcomes=pd.concat([out, extra], ignore_index=True))
    expected = _first_by_text(changed, "nprs", "baseline")
    got = values_at(changed, "nprs", "baseline")
    assert got[episode] == expected[episode] == 9.0
    pairs = outcome_pairs(changed, measure="nprs")
    assert pairs.loc[pairs["episode_id"] == episode, "baseline"].item() == 9.0


def test_join_equals_merge_on_text(generated: Any) -> None:
    episodes = comparison_episodes(generated, reference=REF, comparator=COMP)
    out = generated.outcomes
    keep = measure_mask(generated, "nprs") & timepoint_mask(generated, ("baseline", "session"))
    got = join_comparison(
        generated,
        "outcomes",
        keep,
        ["episode_id", "assessed_on", "value"],
        episodes,
        ["arm", "treated", "start_date"],
        REF,
        COMP,
    )
    expected = out.loc[keep, ["episode_id", "assessed_on", "value"]].merge(
        episodes[["episode_id", "arm", "treated", "start_date"]], on="episode_id"
    )
    # the join keeps the outcomes' categorical episode id; the merge gives text
    assert got["episode_id"].dtype == out["episode_id"].dtype
    pd.testing.assert_frame_equal(got.astype({"episode_id": "str"}), expected)
    sessions = join_comparison(
        generated, "sessions", None, ["session_id", "episode_id"], episodes, ["arm"], REF, COMP
    )
    expected = generated.sessions[["session_id", "episode_id"]].merge(
        episodes[["episode_id", "arm"]], on="episode_id"
    )
    assert sessions["episode_id"].dtype == generated.sessions["episode_id"].dtype
    pd.testing.assert_frame_equal(sessions.astype({"episode_id": "str"}), expected)


def test_quarantine_codes_skip_the_rejected_rows(tmp_path: Path, clinic_a_path: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(clinic_a_path, folder)
    lines = (folder / "outcomes.csv").read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    fields[-1] = "11.0"  # NPRS out of range: the row is rejected
    lines[1] = ",".join(fields)
    (folder / "outcomes.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        dataset = dnoutcomes.load(folder, mode="quarantine")
    assert len(dataset.rejects) >= 1
    fresh = _fresh(dataset)
    for measure, timepoint in (("nprs", "baseline"), ("odi", "discharge")):
        pd.testing.assert_series_equal(
            values_at(dataset, measure, timepoint).sort_index(),
            _first_by_text(fresh, measure, timepoint).sort_index(),
            check_names=False,
            check_index_type=False,
        )
    pd.testing.assert_frame_equal(
        outcome_pairs(dataset, measure="nprs"), outcome_pairs(fresh, measure="nprs")
    )


def test_a_callers_change_to_the_comparison_frame_stays_its_own(generated: Any) -> None:
    frame = comparison_episodes(generated, reference=REF, comparator=COMP)
    before = frame.copy()
    frame["age"] = -1.0
    frame.loc[0, "symptom_weeks"] = -5.0
    frame["arm"] = "changed"
    pd.testing.assert_frame_equal(
        comparison_episodes(generated, reference=REF, comparator=COMP), before
    )
