"""Data-quality warnings (contract/quality.py): reported on Dataset.warnings and once as a
DataQualityWarning from load, never fatal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from loader_data import small_export, write_export

import dnoutcomes

Tables = dict[str, pd.DataFrame]


def _load_warned(tables: Tables, tmp_path: Path) -> dnoutcomes.Dataset:
    path = write_export(tables, tmp_path, "csv")
    with pytest.warns(dnoutcomes.DataQualityWarning) as rec:
        ds = dnoutcomes.load(path)
    assert len(rec) == 1
    return ds


def test_no_warnings_on_the_small_export(tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = dnoutcomes.load(write_export(small_export(), tmp_path, "csv"))
    assert ds.warnings.empty


def test_arm_mismatch_warns_for_standard_arms_only(tmp_path: Path) -> None:
    tables = small_export()
    # E1 declares dn_only; S1 now adds manual and exercise therapy -> dn_manual_exercise
    tables["sessions"].loc[0, ["manual_therapy", "exercise_therapy"]] = ["true", "true"]
    tables["episodes"].loc[3, "arm"] = "usual_care"  # a study's own arm: never compared
    ds = _load_warned(tables, tmp_path)
    assert ds.warnings[["table", "line", "column", "rule"]].values.tolist() == [
        ["episodes", 2, "arm", "arm_mismatch"]
    ]
    assert "(dn_manual_exercise); the declared arm is used" in ds.warnings["message"].iloc[0]
    e = ds.episodes.set_index("episode_id")
    assert e.loc["E1", "arm"] == "dn_only" and e.loc["E1", "arm_derived"] == "dn_manual_exercise"
    assert e.loc["E4", "arm"] == "usual_care"


def test_needling_despite_a_contraindication_warns_per_session(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[0, "contraindications"] = "pregnancy"  # P1: E1 (S1, S2), E4 (S7)
    ds = _load_warned(tables, tmp_path)
    w = ds.warnings
    assert set(w["rule"]) == {"contraindicated_needling"}
    assert w["line"].tolist() == [2, 3, 8]  # S1, S2, S7; S8 had no needling
    assert w["message"].str.contains("contraindication (pregnancy)", regex=False).all()


def test_a_contraindication_list_is_named_in_full(tmp_path: Path) -> None:
    tables = small_export()
    tables["patients"].loc[0, "contraindications"] = "pregnancy;anticoagulants"
    ds = _load_warned(tables, tmp_path)
    messages = ds.warnings["message"]
    assert len(messages) == 3
    assert messages.str.contains("contraindication (pregnancy, anticoagulants)", regex=False).all()


def test_implausible_change_thresholds(tmp_path: Path) -> None:
    tables = small_export()
    o = tables["outcomes"]
    o.loc[1, "value"] = "30"  # E1 baseline ODI on 2025-01-06
    extra = pd.DataFrame(
        [
            # +65 ODI points after 7 days: implausible
            ["E1", "S2", "2025-01-13", "session", "odi", "95"],
            # E3: NPRS 8 -> 1 in 7 days (7 > 6 points): implausible
            ["E3", "S6", "2025-02-08", "session", "nprs", "1"],
            # E2: ODI 36 -> 100 after 8 days: outside the 7-day window, no warning
            ["E2", "", "2025-01-18", "session", "odi", "100"],
        ],
        columns=o.columns,
    )
    tables["outcomes"] = pd.concat([o, extra], ignore_index=True)
    ds = _load_warned(tables, tmp_path)
    w = ds.warnings
    assert w[["line", "rule"]].values.tolist() == [
        [16, "implausible_change"],
        [17, "implausible_change"],
    ]
    assert "odi changed from 30 to 95 within 7 days" in w["message"].iloc[0]


def test_implausible_change_follows_the_dates_not_the_file_order(tmp_path: Path) -> None:
    tables = small_export()
    o = tables["outcomes"]
    extra = pd.DataFrame(
        [
            # E2 NPRS: 6 on 01-10 (line 8), 5 on 01-17 (line 10); these come later in the
            # file but earlier in time: 0 on 01-12 and 9 on 01-14
            ["E2", "", "2025-01-14", "session", "nprs", "9"],
            ["E2", "", "2025-01-12", "session", "nprs", "0"],
            # the same day as line 17, later in the file: compared with it (0 days)
            ["E2", "", "2025-01-14", "session", "nprs", "1"],
        ],
        columns=o.columns,
    )
    tables["outcomes"] = pd.concat([o, extra], ignore_index=True)
    ds = _load_warned(tables, tmp_path)
    w = ds.warnings
    # 6 (01-10) -> 0 (01-12, line 17): 6 points, not more than 6; 0 -> 9 (01-14, line 16):
    # warns; 9 -> 1 (01-14, line 18): warns; 1 -> 5 (01-17, line 10): 4 points
    assert w[["line", "rule"]].values.tolist() == [
        [16, "implausible_change"],
        [18, "implausible_change"],
    ]
    assert "nprs changed from 0 to 9 within 2 days" in w["message"].iloc[0]
    assert "nprs changed from 9 to 1 within 0 days" in w["message"].iloc[1]


def test_warnings_without_the_loaders_links_are_the_same(tmp_path: Path) -> None:
    from dnoutcomes.contract.quality import links_of, quality_warnings

    tables = small_export()
    tables["patients"].loc[0, "contraindications"] = "pregnancy"
    tables["sessions"].loc[0, ["manual_therapy", "exercise_therapy"]] = ["true", "true"]
    tables["outcomes"].loc[1, "value"] = "30"
    extra = pd.DataFrame(
        [["E1", "S2", "2025-01-13", "session", "odi", "95"]], columns=tables["outcomes"].columns
    )
    tables["outcomes"] = pd.concat([tables["outcomes"], extra], ignore_index=True)
    ds = _load_warned(tables, tmp_path)
    assert set(ds.warnings["rule"]) == {
        "arm_mismatch",
        "contraindicated_needling",
        "implausible_change",
    }
    frames = {
        "patients": ds.patients,
        "episodes": ds.episodes,
        "sessions": ds.sessions,
        "outcomes": ds.outcomes,
    }
    lines = {name: np.arange(len(frame)) + 2 for name, frame in frames.items()}
    files = {name: f"{name}.csv" for name in frames}
    again = quality_warnings(frames, lines, files)
    pd.testing.assert_frame_equal(again, ds.warnings)
    links = links_of(frames)
    assert links.session_episode.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert links.episode_patient.tolist() == [0, 1, 2, 0]
