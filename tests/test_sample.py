"""Tests of the synthetic generator (dnoutcomes.sample) and the committed data/sample.

Statistical checks run on large generated datasets (20,000 episodes, generated in well
under a second) and compare the marginals and rates with the parameters within stated
multiples of their sampling error; the confounding and dropout checks use estimators
written here with NumPy/statsmodels, independent of the package's own analyses.
"""

from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dnoutcomes
from dnoutcomes.cli import main
from dnoutcomes.contract.deid import suspect_values
from dnoutcomes.errors import DataQualityWarning, RequestError
from dnoutcomes.sample import SampleData, SampleParams, generate

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
TABLES = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
N_LARGE = 20_000


def _load(path: Path) -> Any:
    """Load with the package's loader; the only warnings expected are the deliberate
    needling-despite-contraindication cases."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = dnoutcomes.load(path)
    for w in caught:
        assert issubclass(w.category, DataQualityWarning), str(w.message)
    assert set(ds.warnings["rule"]) <= {"contraindicated_needling"}
    return ds


def _wide(data: SampleData) -> pd.DataFrame:
    """One row per episode: arm (derived from sessions, as the contract says), site,
    symptom weeks, baseline/discharge NPRS and ODI, visit-2 NPRS, start date."""
    s = data.sessions
    flags = s.groupby("episode_id")[["dn_performed", "manual_therapy", "exercise_therapy"]].any()
    dn, man, ex = (flags[c].to_numpy() for c in flags.columns)
    arm = np.select(
        [dn & ~man & ~ex, dn & man & ex, ~dn & man & ex],
        ["dn_only", "dn_manual_exercise", "manual_exercise"],
        "other",
    )
    e = data.episodes.merge(
        pd.DataFrame({"episode_id": flags.index, "arm_from_sessions": arm}), on="episode_id"
    )
    e = e.merge(data.patients, on="patient_id")
    o = data.outcomes
    for measure, tp, name in (
        ("nprs", "baseline", "nprs0"),
        ("nprs", "discharge", "nprs1"),
        ("odi", "baseline", "odi0"),
        ("odi", "discharge", "odi1"),
    ):
        sel = o[(o["measure"] == measure) & (o["timepoint"] == tp)]
        e = e.merge(
            sel[["episode_id", "value"]].rename(columns={"value": name}),
            on="episode_id",
            how="left",
        )
    nprs = o[(o["measure"] == "nprs") & o["timepoint"].isin(["session", "discharge"])]
    second = nprs.sort_values(["episode_id", "assessed_on"]).groupby("episode_id").head(1)
    e = e.merge(
        second[["episode_id", "value"]].rename(columns={"value": "nprs_visit2"}),
        on="episode_id",
        how="left",
    )
    e["age_num"] = pd.to_numeric(e["age"].astype(str).replace("90+", "90"))
    return e


@pytest.fixture(scope="module")
def confounded() -> SampleData:
    return generate(episodes=N_LARGE, seed=101)


@pytest.fixture(scope="module")
def randomised() -> SampleData:
    return generate(episodes=N_LARGE, seed=202, confounding=0.0)


@pytest.fixture(scope="module")
def conf_wide(confounded: SampleData) -> pd.DataFrame:
    return _wide(confounded)


# --- determinism and the committed sample ------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    a = generate(episodes=300, seed=5).write(tmp_path / "a", format=fmt)  # type: ignore[arg-type]
    b = generate(episodes=300, seed=5).write(tmp_path / "b", format=fmt)  # type: ignore[arg-type]
    c = generate(episodes=300, seed=6).write(tmp_path / "c", format=fmt)  # type: ignore[arg-type]
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert len(names) == 6  # five tables and truth.json
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / f"outcomes.{fmt}").read_bytes() != (c / f"outcomes.{fmt}").read_bytes()


def test_committed_sample_matches_the_command_in_its_readme(tmp_path: Path) -> None:
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")
    commands = [ln for ln in readme.splitlines() if ln.startswith("dnoutcomes sample ")]
    assert len(commands) == 1
    argv = shlex.split(commands[0])[1:]
    assert argv[1] == "data/sample"
    argv[1] = str(tmp_path / "regen")
    assert main(argv) == 0
    for name in [f"{t}.csv" for t in TABLES] + ["truth.json"]:
        assert (tmp_path / "regen" / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_committed_sample_validates_and_has_the_promised_shape() -> None:
    ds = _load(SAMPLE)
    assert len(ds.episodes) == 800
    assert sorted(ds.patients["site_id"].unique()) == ["central", "north", "south"]
    start, end = ds.episodes["start_date"].min(), ds.episodes["end_date"].max()
    assert start >= pd.Timestamp("2024-01-01") and end <= pd.Timestamp("2025-12-31")
    assert (end - start).days > 600
    truth = pd.read_json(SAMPLE / "truth.json", typ="series")
    assert ds.episodes["arm"].value_counts().to_dict() == truth["arm_counts"]
    warned = ds.warnings.loc[ds.warnings["rule"] == "contraindicated_needling", "line"]
    sessions = pd.read_csv(SAMPLE / "sessions.csv")
    episodes = sorted(sessions.iloc[warned.to_numpy() - 2]["episode_id"].unique())
    assert episodes == truth["contraindicated_dn_episodes"]
    assert len(episodes) >= 1


# --- the files pass the contract -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "wide", "name"),
    [
        ("csv", False, "out"),
        ("parquet", False, "out"),
        ("csv", True, "out"),
        ("xlsx", False, "o.xlsx"),
    ],
)
def test_every_format_loads_with_the_same_rows(
    tmp_path: Path, fmt: str, wide: bool, name: str
) -> None:
    data = generate(episodes=60 if fmt == "xlsx" else 250, seed=9)
    path = data.write(tmp_path / name, format=fmt, wide=wide)  # type: ignore[arg-type]
    ds = _load(path)
    assert len(ds.patients) == data.tables["patients"].num_rows
    assert len(ds.episodes) == data.tables["episodes"].num_rows
    assert len(ds.sessions) == data.tables["sessions"].num_rows
    assert len(ds.outcomes) == data.tables["outcomes"].num_rows
    assert len(ds.adverse_events) == data.tables["adverse_events"].num_rows
    assert ds.episodes["arm"].value_counts().to_dict() == dict(data.truth.arm_counts)


def test_cli_writes_validates_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    assert main(["sample", str(out), "--episodes", "120", "--seed", "7"]) == 0
    assert main(["validate", str(out)]) == 0
    before = (out / "outcomes.csv").read_bytes()
    assert main(["sample", str(out), "--episodes", "50", "--seed", "8"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "outcomes.csv").read_bytes() == before
    assert main(["sample", str(out), "--episodes", "50", "--seed", "8", "--force"]) == 0
    assert (out / "outcomes.csv").read_bytes() != before
    assert pd.read_csv(out / "episodes.csv").shape[0] == 50
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "x"]
    assert leftovers == []  # the temporary folders were renamed or removed


def test_bad_arguments_are_request_errors() -> None:
    with pytest.raises(RequestError, match="episodes"):
        generate(episodes=0, seed=1)
    with pytest.raises(RequestError, match="ISO date"):
        generate(episodes=10, seed=1, start="01/02/2024")
    with pytest.raises(RequestError, match="months"):
        generate(episodes=10, seed=1, months=3)
    with pytest.raises(RequestError, match="seed"):
        generate(episodes=10, seed=-1)
    with pytest.raises(RequestError, match="table"):
        generate(episodes=10, seed=1).frame("visits")


def test_no_value_looks_like_an_identifier(confounded: SampleData) -> None:
    for name in TABLES:
        frame = confounded.frame(name)
        for col in frame.columns:
            if frame[col].dtype == object or isinstance(
                frame[col].dtype, pd.CategoricalDtype | pd.StringDtype
            ):
                values = frame[col].astype("string")
                assert not suspect_values(values).any(), (name, col)
    ids = confounded.patients["patient_id"].astype(str)
    assert ids.str.fullmatch(r"P\d{6}").all() and ids.is_unique
    assert confounded.episodes["episode_id"].astype(str).is_unique
    assert confounded.sessions["session_id"].astype(str).is_unique


# --- marginals against the parameters ------------------------------------------------------


def test_baseline_marginals(conf_wide: pd.DataFrame) -> None:
    p = SampleParams()
    n = len(conf_wide)
    nprs0 = conf_wide["nprs0"]
    # rounding to whole points adds 1/12 to the variance; clipping at 0/10 is rare
    assert abs(nprs0.mean() - p.nprs_mean) < 4 * 1.7 / np.sqrt(n) + 0.02
    assert abs(nprs0.std() - 1.7) < 0.08
    odi0 = conf_wide["odi0"].dropna()
    assert abs(odi0.mean() - p.odi_mean) < 4 * p.odi_sd / np.sqrt(len(odi0)) + 0.1
    assert abs(odi0.std() - p.odi_sd) < 0.4
    assert (odi0 % 2 == 0).all()
    # baseline ODI is missing for about measure_missing_share of episodes
    assert abs(conf_wide["odi0"].isna().mean() - p.measure_missing_share) < 0.006


def test_patient_marginals(confounded: SampleData) -> None:
    p = SampleParams()
    pats = confounded.patients
    n = len(pats)
    sex = pats["sex"].value_counts(normalize=True)
    assert abs(sex["female"] - p.sex_shares[0]) < 4 * np.sqrt(0.25 / n)
    age = pats["age"].astype(str)
    numeric = pd.to_numeric(age[age != "90+"])
    assert numeric.between(16, 89).all() and (numeric == numeric.round()).all()
    assert 0 < (age == "90+").sum() < 0.01 * n
    weeks = pats["symptom_weeks"]
    assert abs(np.median(weeks) - p.symptom_weeks_median) <= 1
    assert weeks.between(1, p.symptom_weeks_max).all()
    share_ci = pats["contraindications"].notna().mean()
    assert abs(share_ci - p.contraindication_share) < 4 * np.sqrt(0.04 * 0.96 / n)
    repeat = 1 - n / len(confounded.episodes)
    assert abs(repeat - p.repeat_episode_share / (1 + p.repeat_episode_share)) < 0.002


def test_visits_and_followup(confounded: SampleData, conf_wide: pd.DataFrame) -> None:
    s = confounded.sessions
    per_episode = s.groupby("episode_id").size()
    assert per_episode.between(2, 12).all()  # dropouts attend at least two visits
    completers = conf_wide["nprs1"].notna()
    planned = per_episode.loc[conf_wide.loc[completers, "episode_id"]]
    assert planned.between(3, 12).all()
    # 1-2 visits a week: over a whole course the mean gap lies between 3.5 and 7 days
    span = s.groupby("episode_id")["session_date"].agg(["min", "max"])
    days = (span["max"] - span["min"]).dt.days
    gaps = (days / (per_episode - 1)).loc[planned.index]
    assert gaps.between(2.0, 8.5).all() and 3.5 < gaps.mean() < 7
    o = confounded.outcomes
    fu = o.loc[(o["timepoint"] == "followup_12w") & (o["measure"] == "nprs"), "episode_id"]
    share = fu.nunique() / completers.sum()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / completers.sum())
    assert set(fu) <= set(conf_wide.loc[completers, "episode_id"])
    # every attended visit has exactly one NPRS
    nprs = o[(o["measure"] == "nprs") & (o["timepoint"] != "followup_12w")]
    assert len(nprs) == len(s) and nprs["session_id"].astype(str).is_unique


def test_arm_shares_and_declared_share(confounded: SampleData, conf_wide: pd.DataFrame) -> None:
    declared = conf_wide["arm"].notna()
    assert abs(declared.mean() - 0.7) < 4 * np.sqrt(0.21 / len(conf_wide))
    agree = (
        conf_wide.loc[declared, "arm"].astype(str) == conf_wide.loc[declared, "arm_from_sessions"]
    )
    assert agree.all()
    counts = conf_wide["arm_from_sessions"].value_counts().to_dict()
    assert counts == dict(confounded.truth.arm_counts)
    assert 0.03 < counts["other"] / len(conf_wide) < 0.07


def test_adverse_event_rates_match_the_published_rates(confounded: SampleData) -> None:
    p = SampleParams()
    ae = confounded.adverse_events
    n_dn = int(confounded.sessions["dn_performed"].sum())
    assert confounded.truth.adverse_events["dn_sessions"] == n_dn
    for severity, rates in (("mild", p.ae_mild), ("significant", p.ae_significant)):
        got = ae[ae["severity"] == severity]["type"].value_counts()
        for kind, rate in rates.items():
            expected = n_dn * rate
            assert abs(got.get(kind, 0) - expected) <= 4 * np.sqrt(expected) + 2, (severity, kind)
    mild_rate = (ae["severity"] == "mild").sum() / n_dn
    assert abs(mild_rate - sum(p.ae_mild.values())) < 4 * np.sqrt(0.19 * 0.81 / n_dn)
    serious = (ae["severity"] == "serious").sum()
    assert serious <= 10  # about 3 per 100,000 DN sessions: rare stays rare
    dn_sessions = set(confounded.sessions.loc[confounded.sessions["dn_performed"], "session_id"])
    assert set(ae["session_id"]) <= dn_sessions


# --- confounding, dropout and the truth ------------------------------------------------------


def _ancova(d: pd.DataFrame, weights: np.ndarray | None = None) -> tuple[float, float]:
    """OLS nprs1 ~ arm + nprs0 (weighted: HC0 sandwich SE); returns (estimate, SE)."""
    X = np.column_stack([np.ones(len(d)), d["treated"], d["nprs0"]])
    y = d["nprs1"].to_numpy()
    w = np.ones(len(d)) if weights is None else weights
    xtwx_inv = np.linalg.inv(X.T @ (X * w[:, None]))
    beta = xtwx_inv @ (X.T @ (w * y))
    resid = y - X @ beta
    if weights is None:
        sigma2 = resid @ resid / (len(y) - 3)
        return float(beta[1]), float(np.sqrt(sigma2 * xtwx_inv[1, 1]))
    meat = X.T @ (X * (w * resid)[:, None] ** 2)
    cov = xtwx_inv @ meat @ xtwx_inv
    return float(beta[1]), float(np.sqrt(cov[1, 1]))


def _compared(d: pd.DataFrame) -> pd.DataFrame:
    c = d[d["arm_from_sessions"].isin(["dn_only", "dn_manual_exercise"])]
    c = c.dropna(subset=["nprs0", "nprs1", "odi0"]).copy()
    c["treated"] = (c["arm_from_sessions"] == "dn_manual_exercise").astype(float)
    return c


def test_confounding_biases_the_naive_estimate_and_weighting_removes_it(
    confounded: SampleData, conf_wide: pd.DataFrame
) -> None:
    import statsmodels.formula.api as smf

    c = _compared(conf_wide)
    truth = confounded.truth.effects["nprs@discharge"]["completers"]
    assert truth is not None and -1.2 < truth < -0.8
    naive, se_naive = _ancova(c)
    # the combination goes to sicker, more chronic patients: naive understates the benefit
    assert naive > truth + 3 * se_naive
    ps = (
        smf.logit(
            "treated ~ age_num + C(sex) + C(condition) + symptom_weeks + nprs0 + odi0 + C(site_id)",
            data=c,
        )
        .fit(disp=0)
        .predict(c)
    )
    share = c["treated"].mean()
    w = np.where(c["treated"] == 1, share / ps, (1 - share) / (1 - ps))
    iptw, se_iptw = _ancova(c, w)
    assert abs(iptw - truth) < 3 * se_iptw
    assert abs(iptw - truth) < 0.5 * abs(naive - truth)
    # sicker and more chronic patients get the combination
    t, r = c[c["treated"] == 1], c[c["treated"] == 0]
    assert t["odi0"].mean() > r["odi0"].mean() + 2
    assert t["symptom_weeks"].mean() > r["symptom_weeks"].mean()


def test_without_confounding_the_ancova_recovers_the_truth(randomised: SampleData) -> None:
    c = _compared(_wide(randomised))
    est, se = _ancova(c)
    truth = randomised.truth.effects["nprs@discharge"]["completers"]
    assert truth is not None
    assert abs(est - truth) < 3 * se


def test_within_episode_slopes_match_the_scale_truth(randomised: SampleData) -> None:
    """Pooled within-episode (fixed-effects) OLS slope of NPRS on weeks, per arm."""
    e = _wide(randomised)[["episode_id", "arm_from_sessions", "start_date"]]
    o = randomised.outcomes
    o = o[(o["measure"] == "nprs") & o["timepoint"].isin(["baseline", "session", "discharge"])]
    o = o.merge(e, on="episode_id")
    o["weeks"] = (o["assessed_on"] - o["start_date"]).dt.days / 7
    truth = randomised.truth.nprs_weekly_scale
    for arm in ("dn_only", "dn_manual_exercise"):
        g = o[o["arm_from_sessions"] == arm]
        wc = g["weeks"] - g.groupby("episode_id")["weeks"].transform("mean")
        yc = g["value"] - g.groupby("episode_id")["value"].transform("mean")
        slope = float((wc * yc).sum() / (wc * wc).sum())
        resid = yc - slope * wc
        se = float(np.sqrt((resid**2).sum() / (len(g) - g["episode_id"].nunique()) / (wc**2).sum()))
        assert abs(slope - truth[arm]) < 4 * se + 0.02, (arm, slope, truth[arm])
    assert truth["difference"] == pytest.approx(-0.25, abs=0.03)
    assert randomised.truth.nprs_weekly_difference == pytest.approx(-0.28)


def test_dropout_rate_and_direction(confounded: SampleData, conf_wide: pd.DataFrame) -> None:
    dropped = conf_wide["nprs1"].isna()
    assert 0.10 <= dropped.mean() <= 0.20
    assert dropped.mean() == pytest.approx(confounded.truth.dropout["rate"])
    high = dropped[conf_wide["nprs_visit2"] >= 7].mean()
    low = dropped[conf_wide["nprs_visit2"] <= 4].mean()
    assert high > low + 0.05  # more pain at visit 2, more dropout (missing at random)
    reasons = conf_wide.loc[dropped, "discharge_reason"].dropna().astype(str)
    assert (reasons == "self_discharged").all()


def test_the_shift_is_where_the_truth_says(confounded: SampleData, conf_wide: pd.DataFrame) -> None:
    shift = confounded.truth.shift
    assert shift["site_id"] == "central" and shift["from_month"] == "2025-01"
    d = conf_wide.dropna(subset=["nprs1"])
    d = d.assign(improvement=d["nprs0"] - d["nprs1"], after=d["start_date"] >= shift["from_date"])
    by = d.groupby(["site_id", "after"])["improvement"].agg(["mean", "var", "count"])

    def se(site: str) -> float:
        before, after = by.loc[(site, False)], by.loc[(site, True)]
        return float(np.sqrt(before["var"] / before["count"] + after["var"] / after["count"]))

    drop_central = by.loc[("central", False), "mean"] - by.loc[("central", True), "mean"]
    assert abs(drop_central - shift["mean_improvement_lost"]) < 4 * se("central")
    drop_north = by.loc[("north", False), "mean"] - by.loc[("north", True), "mean"]
    assert abs(drop_north) < 4 * se("north")


def test_truth_json_is_the_truth(tmp_path: Path) -> None:
    data = generate(episodes=400, seed=3)
    out = data.write(tmp_path / "t")
    written = pd.read_json(out / "truth.json", typ="series")
    assert written["episodes"] == 400 and written["seed"] == 3
    assert written["effects"]["nprs@discharge"]["compared"] == pytest.approx(
        data.truth.effects["nprs@discharge"]["compared"], rel=1e-9
    )
    assert written["parameters"]["nprs_mean"] == 6.0
    # a short repr for notebooks, not the whole of every table
    text = repr(data)
    assert "400 episodes" in text and "shift at central from 2025-01" in text
    assert len(text) < 400


def test_to_dataset_goes_through_the_loader() -> None:
    data = generate(episodes=150, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        ds = data.to_dataset()
    assert len(ds.outcomes) == data.tables["outcomes"].num_rows
    assert ds.problems.empty
    # the loader's arm (declared, else derived from the sessions) is the generated arm
    assert ds.episodes["arm"].value_counts().to_dict() == dict(data.truth.arm_counts)


@pytest.mark.slow
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    episodes=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    sites=st.integers(1, 6),
    months=st.integers(6, 60),
    confounding=st.floats(0, 3),
)
def test_any_small_clinic_loads_without_problems(
    tmp_path_factory: pytest.TempPathFactory,
    episodes: int,
    seed: int,
    sites: int,
    months: int,
    confounding: float,
) -> None:
    data = generate(
        episodes=episodes, seed=seed, sites=sites, months=months, confounding=confounding
    )
    ds = _load(data.write(tmp_path_factory.mktemp("prop") / "out"))
    assert ds.problems.empty
    assert (ds.accounting["loaded"] == ds.accounting["read"]).all()
    assert ds.episodes["arm"].value_counts().to_dict() == {
        k: v for k, v in data.truth.arm_counts.items() if v
    }
    assert ds.patients["site_id"].isin(data.truth.sites).all()


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.sample as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
