"""The lean versions of the analyses' shared steps (issue 19, peak memory at a million
episodes) give exactly what the whole-array, text-keyed versions they replace gave: the
outcome summaries one measure at a time, the timepoint masks on the categorical's codes,
the baseline measures on the measure codes, and the observed means grouped on a
categorical arm."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.cohort import comparison_episodes, covariate_names
from dnoutcomes.cohort._codes import comparison_rows, measure_categorical, timepoint_mask
from dnoutcomes.cohort._covariates import _baseline_measures
from dnoutcomes.errors import DataQualityWarning
from dnoutcomes.sample import generate
from dnoutcomes.stats._observed import _arm_categorical, observed_means
from dnoutcomes.stats.descriptives import _ONE_PER_EPISODE, summarize_outcomes

REF, COMP = "dn_only", "dn_manual_exercise"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("memory") / "export"
    generate(episodes=400, seed=7, sites=2).write(folder, format="parquet", force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return dnoutcomes.load(folder)


def _fresh(dataset: Any) -> Any:
    """The same dataset with an empty cache (nothing the first analysis built is reused)."""
    return dataclasses.replace(dataset)


def _summary_whole(dataset: Any, measures: list[str] | None = None) -> pd.DataFrame:
    """The outcome summaries as computed before (every measure's rows in one grouping)."""
    episodes = comparison_episodes(dataset, reference=REF, comparator=COMP)
    at_rows, at = comparison_rows(
        dataset, "outcomes", timepoint_mask(dataset, _ONE_PER_EPISODE), REF, COMP
    )
    out = dataset.outcomes
    rows = pd.DataFrame(
        {
            "measure": measure_categorical(dataset, at_rows),
            "timepoint": out["timepoint"].array.take(at_rows),
            "arm": pd.Categorical.from_codes(
                episodes["treated"].to_numpy(dtype=np.int64)[at],
                categories=pd.Index([REF, COMP]),
            ),
            "value": out["value"].to_numpy(dtype=np.float64, na_value=np.nan)[at_rows],
        }
    )
    if measures is not None:
        rows = rows.loc[rows["measure"].isin(measures)]
        order = list(measures)
    else:
        present = set(rows["measure"].unique())
        order = [m for m in dataset.registry if m in present]
    grouped = rows.groupby(["measure", "timepoint", "arm"], sort=False, observed=True)["value"]
    frame = grouped.agg(
        n="count",
        mean="mean",
        sd="std",
        median="median",
        q1=lambda v: v.quantile(0.25),
        q3=lambda v: v.quantile(0.75),
    ).reset_index()
    for column in ("measure", "timepoint", "arm"):
        frame[column] = frame[column].astype(str)
    arm_size = episodes["arm"].value_counts()
    frame.insert(4, "missing", frame["arm"].map(arm_size).astype(np.int64) - frame["n"])
    frame["measure"] = pd.Categorical(frame["measure"], categories=order)
    frame["timepoint"] = pd.Categorical(frame["timepoint"], categories=list(_ONE_PER_EPISODE))
    frame["arm"] = pd.Categorical(frame["arm"], categories=[REF, COMP])
    frame = frame.sort_values(["measure", "timepoint", "arm"]).reset_index(drop=True)
    for column in ("measure", "timepoint", "arm"):
        frame[column] = frame[column].astype(str)
    frame["n"] = frame["n"].astype(np.int64)
    return frame


@pytest.mark.parametrize(
    "measures",
    [None, ["nprs"], ["odi", "nprs"], ["nprs", "odi", "nprs_not_recorded"]],
    ids=["all", "one block", "two blocks out of order", "a measure without rows"],
)
def test_summary_by_measure_equals_one_grouping(generated: Any, measures: Any) -> None:
    if measures is not None and "nprs_not_recorded" in measures:
        # a registered measure with no rows: the block is skipped, as the grouping had none
        name = next(m for m in generated.registry if m not in set(generated.outcomes["measure"]))
        measures = [m if m != "nprs_not_recorded" else name for m in measures]
    got = summarize_outcomes(_fresh(generated), reference=REF, comparator=COMP, measures=measures)
    want = _summary_whole(_fresh(generated), measures)
    pd.testing.assert_frame_equal(got.frame, want, check_exact=True)


def test_summary_of_no_rows_is_the_empty_frame(generated: Any) -> None:
    outcomes = generated.outcomes
    later = outcomes.loc[~outcomes["timepoint"].isin(list(_ONE_PER_EPISODE))]
    empty = dataclasses.replace(generated, outcomes=later.reset_index(drop=True))
    got = summarize_outcomes(empty, reference=REF, comparator=COMP)
    want = _summary_whole(dataclasses.replace(empty))
    assert got.frame.empty
    pd.testing.assert_frame_equal(got.frame, want, check_exact=True)


@pytest.mark.parametrize(
    "timepoints",
    [("baseline",), ("discharge", "session"), _ONE_PER_EPISODE, ("no such timepoint",)],
)
def test_timepoint_mask_on_codes_equals_isin(generated: Any, timepoints: Any) -> None:
    column = generated.outcomes["timepoint"]
    want = column.isin(list(timepoints)).fillna(False).to_numpy(dtype=bool)
    np.testing.assert_array_equal(timepoint_mask(generated, timepoints), want)
    # a missing timepoint (code -1) is in no mask
    holed = generated.outcomes.copy()
    holed.loc[holed.index[:5], "timepoint"] = None
    other = dataclasses.replace(generated, outcomes=holed)
    mask = timepoint_mask(other, timepoints)
    assert not mask[:5].any()
    np.testing.assert_array_equal(mask[5:], want[5:])
    # a text column (not a categorical) gives the same
    text = dataclasses.replace(generated, outcomes=holed.astype({"timepoint": "str"}))
    np.testing.assert_array_equal(timepoint_mask(text, timepoints), mask)
    assert timepoint_mask(text, timepoints).flags.writeable
    assert timepoint_mask(other, timepoints).flags.writeable


def test_summary_of_a_text_timepoint_column(generated: Any) -> None:
    text = dataclasses.replace(
        generated, outcomes=generated.outcomes.astype({"timepoint": "str", "measure": "str"})
    )
    got = summarize_outcomes(text, reference=REF, comparator=COMP)
    want = summarize_outcomes(_fresh(generated), reference=REF, comparator=COMP)
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=True)


def test_baseline_measures_on_codes_equal_the_text(generated: Any) -> None:
    outcomes = generated.outcomes
    text = outcomes.loc[outcomes["timepoint"] == "baseline", "measure"].astype(str)
    assert _baseline_measures(_fresh(generated)) == sorted(pd.unique(text))
    names = covariate_names(_fresh(generated))
    assert [n for n in names if n.startswith("baseline:")] == [
        f"baseline:{m}" for m in sorted(pd.unique(text))
    ]
    as_text = dataclasses.replace(generated, outcomes=outcomes.astype({"measure": "str"}))
    assert _baseline_measures(as_text) == sorted(pd.unique(text))


def test_arm_categorical_keeps_the_arms_and_drops_the_rest() -> None:
    arms = ("b", "a")
    text = pd.Series(["a", "b", "c", None, "a"], dtype="str")
    got = _arm_categorical(text, arms)
    assert list(got.categories) == ["b", "a"]
    assert got.codes.tolist() == [1, 0, -1, -1, 1]
    as_cat = _arm_categorical(text.astype("category"), arms)
    assert as_cat.codes.tolist() == got.codes.tolist()
    assert list(as_cat.categories) == ["b", "a"]


def test_observed_means_of_a_categorical_arm_equal_the_text_arm() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    rows = pd.DataFrame(
        {
            "arm": pd.Series(rng.choice(["x", "y", "z"], n), dtype="str"),
            "weeks": rng.uniform(0, 8, n),
            "value": rng.normal(5, 2, n),
        }
    )
    rows.loc[rows.index[::97], "weeks"] = np.nan
    text, text_notes = observed_means(rows, arms=("y", "x"), min_n=30)
    cat, cat_notes = observed_means(
        rows.assign(arm=rows["arm"].astype("category")), arms=("y", "x"), min_n=30
    )
    pd.testing.assert_frame_equal(cat, text, check_exact=True)
    assert cat_notes == text_notes
    assert set(text["arm"]) == {"x", "y"}
    assert text["arm"].iloc[0] == "y"


def test_baseline_covariates_by_code_equal_the_text_map(generated: Any) -> None:
    from dnoutcomes.cohort import with_covariates
    from dnoutcomes.cohort._covariates import baseline_values

    frame = comparison_episodes(generated, reference=REF, comparator=COMP)
    # unknown and missing ids, and a non-default index, read NaN / keep the index
    extra = pd.DataFrame({"episode_id": pd.Series(["no-such-episode", None], dtype="str")})
    frame = pd.concat([frame.iloc[::-1], extra], ignore_index=True)
    frame.index = frame.index * 3 + 1
    names = ["baseline:nprs", "baseline:odi"]
    got = with_covariates(frame, _fresh(generated), names)
    for name in names:
        want = frame["episode_id"].map(baseline_values(generated, name.split(":")[1]))
        pd.testing.assert_series_equal(
            got[name], want.astype(float), check_names=False, check_exact=True
        )
    assert got[names].iloc[-2:].isna().all().all()
    assert got[names].notna().any().all()
    # an id column not held as text goes through the text map
    as_object = frame.assign(episode_id=frame["episode_id"].astype(object))
    pd.testing.assert_frame_equal(
        with_covariates(as_object, generated, names)[names], got[names], check_exact=True
    )


def test_trajectory_rows_with_a_missing_value_are_left_out(generated: Any) -> None:
    from dnoutcomes.stats.mixed import trajectory_rows

    timepoints = ("baseline", "session", "discharge")
    episodes = comparison_episodes(generated, reference=REF, comparator=COMP)
    full = trajectory_rows(generated, episodes, "nprs", timepoints, REF, COMP)
    assert isinstance(full.index, pd.RangeIndex)  # complete rows: the frame as joined
    holed = generated.outcomes.copy()
    keep = (holed["measure"] == "nprs").to_numpy() & timepoint_mask(generated, timepoints)
    used = comparison_rows(generated, "outcomes", keep, REF, COMP)[0]
    holed.loc[holed.index[used[:7]], "value"] = np.nan
    other = dataclasses.replace(generated, outcomes=holed)
    rows = trajectory_rows(other, episodes, "nprs", timepoints, REF, COMP)
    assert rows["value"].notna().all()
    assert len(rows) == len(full) - 7
    assert rows.index[0] == 7  # positions in the joined rows, as before
    observed, _ = observed_means(rows, arms=(REF, COMP), min_n=1)
    with_missing = pd.concat([rows, rows.iloc[:3].assign(value=np.nan)])
    again, _ = observed_means(with_missing, arms=(REF, COMP), min_n=1)
    pd.testing.assert_frame_equal(again, observed, check_exact=True)


def test_iptw_weights_hold_the_ids_and_arms_as_before(generated: Any) -> None:
    from dnoutcomes.stats import compare_iptw

    result = compare_iptw(
        generated, reference=REF, comparator=COMP, covariates=("age", "sex", "baseline:nprs")
    )
    weights = result.weights
    as_before = pd.DataFrame(
        {
            "episode_id": weights["episode_id"].to_numpy(dtype=object),
            "arm": weights["arm"].to_numpy(dtype=object),
        }
    )
    for column in ("episode_id", "arm"):
        assert weights[column].dtype == as_before[column].dtype  # str, as inferred before
        pd.testing.assert_series_equal(weights[column], as_before[column])
    assert list(weights["episode_id"]) == list(result.episodes_used)
    assert set(weights["arm"]) == {REF, COMP}
