"""The Dataset handed to every analysis: clinic_a loads with the counts of the reference
README, the dtypes of docs/architecture.md, and derived columns recomputed independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dnoutcomes
from dnoutcomes.dataset import Dataset, chronicity, derive_arms


def test_clinic_a_counts(clinic_a_dataset: Dataset) -> None:
    ds = clinic_a_dataset
    assert len(ds.patients) == 600
    assert len(ds.episodes) == 600
    assert len(ds.sessions) == 3819
    assert len(ds.outcomes) == 10818
    assert ds.adverse_events is not None
    assert len(ds.adverse_events) == 698
    acc = ds.accounting.set_index("table")
    assert (acc["loaded"] + acc["rejected"] == acc["read"]).all()
    assert acc["rejected"].sum() == 0
    assert ds.problems.empty
    assert ds.rejects.empty


def test_load_warns_once_about_clinic_a_warnings(clinic_a_path: Path) -> None:
    with pytest.warns(dnoutcomes.DataQualityWarning, match="contraindicated_needling") as rec:
        ds = dnoutcomes.load(clinic_a_path)
    assert len([w for w in rec if issubclass(w.category, dnoutcomes.DataQualityWarning)]) == 1
    # clinic_a: DN given at sessions of patients with a recorded contraindication, nothing else
    assert set(ds.warnings["rule"]) == {"contraindicated_needling"}
    assert rec[0].filename == __file__  # stacklevel=2 points at the caller


def test_dtypes_follow_architecture(clinic_a_dataset: Dataset) -> None:
    ds = clinic_a_dataset
    p, e, s, o = ds.patients, ds.episodes, ds.sessions, ds.outcomes
    assert list(p.columns) == [
        "patient_id",
        "site_id",
        "sex",
        "age",
        "age_top_coded",
        "condition",
        "symptom_weeks",
        "chronicity",
        "contraindications",
    ]
    assert p["age"].dtype == np.float64 and p["age_top_coded"].dtype == bool
    assert list(p["sex"].cat.categories) == ["female", "male", "other", "unknown"]
    assert p["chronicity"].cat.ordered
    assert all(isinstance(c, tuple) for c in p["contraindications"])
    assert list(e.columns) == [
        "episode_id",
        "patient_id",
        "therapist_id",
        "site_id",
        "start_date",
        "end_date",
        "arm_declared",
        "arm_derived",
        "arm",
        "discharge_reason",
        "n_sessions",
        "dn_sessions",
    ]
    assert pd.api.types.is_datetime64_any_dtype(e["start_date"])
    assert e["n_sessions"].dtype == np.int64 and e["dn_sessions"].dtype == np.int64
    assert e["arm"].notna().all()
    assert s["dn_performed"].dtype == bool and s["twitch_response"].dtype == "boolean"
    assert s["needles"].dtype == "Int64"
    assert list(o.columns) == [
        "episode_id",
        "session_id",
        "assessed_on",
        "timepoint",
        "measure",
        "value",
    ]
    assert o["timepoint"].cat.ordered
    assert list(o["timepoint"].cat.categories)[:3] == ["baseline", "session", "discharge"]
    assert o["value"].dtype == np.float64
    ae = ds.adverse_events
    assert ae is not None and list(ae["severity"].cat.categories) == [
        "mild",
        "significant",
        "serious",
    ]


def test_derived_columns_match_an_independent_computation(
    clinic_a_dataset: Dataset, clinic_a_path: Path
) -> None:
    raw_s = pd.read_csv(clinic_a_path / "sessions.csv")
    raw_e = pd.read_csv(clinic_a_path / "episodes.csv")
    raw_p = pd.read_csv(clinic_a_path / "patients.csv")
    # the contract's rule, written as a plain per-episode function
    expected = {}
    for ep, g in raw_s.groupby("episode_id"):
        dn, man, ex = (
            g["dn_performed"].any(),
            g["manual_therapy"].any(),
            g["exercise_therapy"].any(),
        )
        if dn and not man and not ex:
            expected[ep] = "dn_only"
        elif dn and man and ex:
            expected[ep] = "dn_manual_exercise"
        elif not dn and man and ex:
            expected[ep] = "manual_exercise"
        else:
            expected[ep] = "other"
    e = clinic_a_dataset.episodes.set_index("episode_id")
    got = e["arm_derived"].dropna().to_dict()
    assert got == expected
    declared = raw_e.set_index("episode_id")["arm"]
    arm_used = declared.fillna(pd.Series(expected)).reindex(e.index)
    assert (e["arm"] == arm_used).all()
    assert e["arm_declared"].isna().sum() == declared.isna().sum()
    counts = raw_s.groupby("episode_id").size().reindex(e.index, fill_value=0)
    assert (e["n_sessions"] == counts).all()
    assert e["n_sessions"].sum() == 3819
    assert (
        e["dn_sessions"]
        == raw_s.groupby("episode_id")["dn_performed"].sum().reindex(e.index, fill_value=0)
    ).all()
    site = raw_p.set_index("patient_id")["site_id"]
    assert (e["site_id"] == e["patient_id"].map(site)).all()
    weeks = clinic_a_dataset.patients["symptom_weeks"]
    chron = clinic_a_dataset.patients["chronicity"].astype(str)
    assert (chron[weeks < 6] == "acute").all()
    assert (chron[(weeks >= 6) & (weeks < 12)] == "subacute").all()
    assert (chron[weeks >= 12] == "chronic").all()


def test_chronicity_boundaries() -> None:
    got = chronicity(pd.Series([0.0, 5.99, 6.0, 11.99, 12.0, np.nan]))
    assert got.astype(object).tolist()[:5] == ["acute", "acute", "subacute", "subacute", "chronic"]
    assert pd.isna(got.iloc[5])


def test_derive_arms_without_sessions_is_na() -> None:
    sessions = pd.DataFrame(
        {
            "episode_id": pd.Series(["E1", "E1", "E2"], dtype="str"),
            "dn_performed": [True, False, False],
            "manual_therapy": [False, True, True],
            "exercise_therapy": [False, True, False],
        }
    )
    out = derive_arms(pd.Series(["E1", "E2", "E3"], dtype="str"), sessions)
    assert out["arm_derived"].iloc[0] == "dn_manual_exercise"
    assert out["arm_derived"].iloc[1] == "other"
    assert pd.isna(out["arm_derived"].iloc[2])
    assert out["n_sessions"].tolist() == [2, 1, 0]
    assert out["dn_sessions"].tolist() == [1, 0, 0]


def test_repr_and_summary(clinic_a_dataset: Dataset) -> None:
    assert "patients=600" in repr(clinic_a_dataset)
    assert "<table" in clinic_a_dataset._repr_html_()
    summary = clinic_a_dataset.summary()
    summary.loc[0, "read"] = -1
    assert clinic_a_dataset.accounting.loc[0, "read"] == 600


def test_clinic_a_contraindicated_needling_count(
    clinic_a_dataset: Dataset, clinic_a_path: Path
) -> None:
    # independent count: DN sessions of patients with any recorded contraindication
    s = pd.read_csv(clinic_a_path / "sessions.csv")
    e = pd.read_csv(clinic_a_path / "episodes.csv")
    p = pd.read_csv(clinic_a_path / "patients.csv")
    merged = s.merge(e[["episode_id", "patient_id"]], on="episode_id").merge(
        p[["patient_id", "contraindications"]], on="patient_id"
    )
    expected = int((merged["dn_performed"] & merged["contraindications"].notna()).sum())
    warned = clinic_a_dataset.warnings
    assert expected == 204
    assert (warned["rule"] == "contraindicated_needling").sum() == expected
    assert set(warned["table"]) == {"sessions"}


def test_trial_export_without_sessions(tmp_path: Path) -> None:
    # the contract: sessions may hold no rows when every episode declares its arm
    from loader_data import small_export, write_export

    t = small_export()
    t["sessions"] = t["sessions"].iloc[0:0]
    t["outcomes"]["session_id"] = ""
    t["outcomes"] = t["outcomes"][t["outcomes"]["timepoint"] != "session"]
    t["episodes"]["arm"] = ["dn_only", "manual_exercise", "dn_manual_exercise", "usual_care"]
    del t["adverse_events"]
    ds = dnoutcomes.load(write_export(t, tmp_path, "csv"))
    e = ds.episodes
    assert e["arm"].tolist() == ["dn_only", "manual_exercise", "dn_manual_exercise", "usual_care"]
    assert e["arm_derived"].isna().all() and (e["n_sessions"] == 0).all()
    assert len(ds.sessions) == 0 and ds.sessions["dn_performed"].dtype == bool
    assert ds.adverse_events is None


def test_sources_and_checksums(clinic_a_dataset: Dataset, clinic_a_path: Path) -> None:
    import hashlib

    assert set(clinic_a_dataset.sources) == {
        "patients",
        "episodes",
        "sessions",
        "outcomes",
        "adverse_events",
    }
    for table, path in clinic_a_dataset.sources.items():
        assert Path(path) == clinic_a_path / f"{table}.csv"
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert clinic_a_dataset.sha256[table] == digest


def _arms_by_groupby(episode_ids: pd.Series, sessions: pd.DataFrame) -> pd.DataFrame:
    """The contract's rule, written independently with a pandas group-by and a join."""
    flags = sessions.assign(
        dn=sessions["dn_performed"].fillna(False).astype(bool),
        man=sessions["manual_therapy"].fillna(False).astype(bool),
        ex=sessions["exercise_therapy"].fillna(False).astype(bool),
    )
    agg = flags.groupby("episode_id").agg(
        n=("dn", "size"), d=("dn", "sum"), m=("man", "any"), x=("ex", "any")
    )
    rule = np.where(
        (agg["d"] > 0) & ~agg["m"] & ~agg["x"],
        "dn_only",
        np.where(
            (agg["d"] > 0) & agg["m"] & agg["x"],
            "dn_manual_exercise",
            np.where((agg["d"] == 0) & agg["m"] & agg["x"], "manual_exercise", "other"),
        ),
    )
    agg["arm"] = rule
    out = agg.reindex(episode_ids.to_numpy())
    return pd.DataFrame(
        {
            "arm_derived": out["arm"].to_numpy(dtype=object),
            "n_sessions": out["n"].fillna(0).astype("int64").to_numpy(),
            "dn_sessions": out["d"].fillna(0).astype("int64").to_numpy(),
        }
    )


def test_derive_arms_matches_a_group_by_with_repeated_missing_and_unknown_ids() -> None:
    rng = np.random.default_rng(7)
    n = 400
    ids = [f"E{i}" for i in range(60)]
    sessions = pd.DataFrame(
        {
            "episode_id": pd.Series(rng.choice(ids + [None, "E_unknown"], n), dtype="str"),
            "dn_performed": rng.random(n) < 0.6,
            "manual_therapy": pd.array(
                np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5), dtype="boolean"
            ),
            "exercise_therapy": rng.random(n) < 0.5,
        }
    )
    # E5 listed twice, E99 without sessions, one missing id
    episode_ids = pd.Series(ids + ["E5", "E99", None], dtype="str", index=range(100, 163))
    got = derive_arms(episode_ids, sessions)
    expected = _arms_by_groupby(episode_ids, sessions)
    assert got.index.equals(episode_ids.index)
    assert got["arm_derived"].dtype == "str"
    want = pd.Series(expected["arm_derived"], dtype=object).fillna("NA").tolist()
    assert got["arm_derived"].fillna("NA").tolist() == want
    assert want.count("NA") == 2  # E99 and the missing id
    np.testing.assert_array_equal(got["n_sessions"].to_numpy(), expected["n_sessions"])
    np.testing.assert_array_equal(got["dn_sessions"].to_numpy(), expected["dn_sessions"])
    assert got["n_sessions"].dtype == np.int64 and got["n_sessions"].iloc[-2:].tolist() == [0, 0]


def test_session_arms_by_position() -> None:
    from dnoutcomes.dataset import session_arms

    sessions = pd.DataFrame(
        {
            "dn_performed": [True, True, False, True],
            "manual_therapy": [False, True, True, False],
            "exercise_therapy": [False, True, True, False],
        }
    )
    out = session_arms(np.array([1, 1, 2, -1], dtype=np.int32), 4, sessions)
    assert out["arm_derived"].isna().tolist() == [True, False, False, True]
    assert out["arm_derived"].iloc[1:3].tolist() == ["dn_manual_exercise", "manual_exercise"]
    assert out["n_sessions"].tolist() == [0, 2, 1, 0]
    assert out["dn_sessions"].tolist() == [0, 2, 0, 0]
