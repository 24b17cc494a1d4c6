"""The outcomes' ids and measure and the sessions' episode id load as categoricals of text
(issue 19, memory): the same values as the file's text, categories in text order (so that
group-bys and sorts give the text column's order), also when the file is not sorted, and
only the measures of rows that load."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.contract import schemas
from dnoutcomes.errors import DataQualityWarning

CATEGORICAL = {"outcomes": ("episode_id", "session_id", "measure"), "sessions": ("episode_id",)}


def _load(folder: Path, **kw: object) -> dnoutcomes.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return dnoutcomes.load(folder, **kw)  # type: ignore[arg-type]


def _shuffled(src: Path, dst: Path) -> Path:
    """clinic_a with the rows of every table in a random order (ids out of text order)."""
    dst.mkdir()
    rng = np.random.default_rng(5)
    for path in src.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame.iloc[rng.permutation(len(frame))].to_csv(dst / path.name, index=False)
    return dst


@pytest.mark.parametrize("shuffle", [False, True], ids=["as-exported", "shuffled"])
def test_values_are_the_files_text_and_categories_sorted(
    tmp_path: Path, clinic_a_path: Path, shuffle: bool
) -> None:
    folder = _shuffled(clinic_a_path, tmp_path / "x") if shuffle else clinic_a_path
    ds = _load(folder)
    for table, columns in CATEGORICAL.items():
        frame = getattr(ds, table)
        text = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)
        for column in columns:
            values = frame[column]
            assert isinstance(values.dtype, pd.CategoricalDtype)
            categories = list(values.cat.categories)
            assert categories == sorted(categories)
            assert len(set(categories)) == len(categories)
            expected = [v.strip() or None for v in text[column]]
            if column == "measure":
                expected = [v.lower() if v else v for v in expected]
            got = [None if pd.isna(v) else v for v in values.tolist()]
            assert got == expected
    # the id categories are the ids of the parent table
    assert set(ds.outcomes["episode_id"].cat.categories) == set(ds.episodes["episode_id"])
    assert set(ds.outcomes["session_id"].cat.categories) == set(ds.sessions["session_id"])
    # group-bys and sorts give the order the text gave
    o = ds.outcomes
    as_text = o.astype(dict.fromkeys(CATEGORICAL["outcomes"], "str"))
    for column in CATEGORICAL["outcomes"]:
        got = o.groupby(column)["value"].sum()
        want = as_text.groupby(column)["value"].sum()
        assert list(got.index.astype(str)) == list(want.index)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
        by_cat = o.sort_values([column, "assessed_on"], kind="stable").index
        by_text = as_text.sort_values([column, "assessed_on"], kind="stable").index
        np.testing.assert_array_equal(by_cat, by_text)
    # the frames pass the published schemas, as loaded and as text
    for table in CATEGORICAL:
        schemas.for_table(table, ds.registry).validate(getattr(ds, table), lazy=True)
    schemas.outcomes(ds.registry).validate(as_text, lazy=True)


def test_a_rejected_rows_measure_is_no_category(tmp_path: Path, clinic_a_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for path in clinic_a_path.glob("*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    outcomes = pd.read_csv(folder / "outcomes.csv", dtype=str, keep_default_na=False)
    outcomes.loc[0, "measure"] = "grip_strength"  # not in the registry: the row is rejected
    outcomes.to_csv(folder / "outcomes.csv", index=False)
    ds = _load(folder, mode="quarantine")
    assert "grip_strength" not in ds.outcomes["measure"].cat.categories
    assert len(ds.outcomes) == len(outcomes) - 1
    assert ds.outcomes["measure"].notna().all()


def test_text_frames_analyse_alike(clinic_a_dataset: dnoutcomes.Dataset) -> None:
    """A Dataset built from text frames (a user's own) gives the same analysis document."""
    import dataclasses

    from dnoutcomes.stats import analyze

    ds = clinic_a_dataset
    text = dataclasses.replace(
        ds,
        **{
            table: getattr(ds, table).astype(dict.fromkeys(columns, "str"))
            for table, columns in CATEGORICAL.items()
        },
    )
    assert analyze(text).to_dict() == analyze(ds).to_dict()
