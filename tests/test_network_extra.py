"""The mixed model, medication and safety from site summaries (format version 2): pooled
equals the row-level analysis of the whole export (mixed model and logistic use models:
iterative, 1e-6 relative asserted; amounts' ANCOVA 1e-9; adverse-event counts identical),
on clinic_a split by site and on generated data; the grouping by episode size checked
against the ungrouped REML profile; disclosure refusals; reading format version 1."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_network import split_by_site

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.network import DisclosureError, NetworkAnalysis, pool, read_summary, summarise
from dnoutcomes.network._disclosure import check_summary
from dnoutcomes.network._trajectory import _pooled_suffstats, trajectory_blocks
from dnoutcomes.network.summary import _checksum
from dnoutcomes.protocol import default_protocol
from dnoutcomes.stats._reml import _profile, _suffstats
from dnoutcomes.stats.medication import compare_medication
from dnoutcomes.stats.mixed import compare_trajectories
from dnoutcomes.stats.safety import compare_safety

ITERATIVE = 1e-6  # REML and IRLS: the documented tolerance
EXACT = 1e-9


def _network(dataset: Any) -> NetworkAnalysis:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summaries = [
            summarise(part, default_protocol(), disclosure=False) for part in split_by_site(dataset)
        ]
    return pool(summaries)


@pytest.fixture(scope="module", params=["clinic_a", "generated"])
def case(request: pytest.FixtureRequest, clinic_a_path: Path) -> dict[str, Any]:
    import dnoutcomes
    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if request.param == "clinic_a":
            dataset = dnoutcomes.load(clinic_a_path)
        else:
            dataset = generate(episodes=2500, seed=7, sites=5).to_dataset()
    return {"dataset": dataset, "net": _network(dataset)}


def _close(a: Any, b: Any, rtol: float) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


def test_mixed_model_pools_to_the_row_level_fit(case: dict[str, Any]) -> None:
    p = default_protocol()
    row = compare_trajectories(
        case["dataset"],
        reference=p.reference,
        comparator=p.comparator,
        measure=p.trajectory_measure(),
        timepoints=p.trajectory.timepoints,
    )
    mine = case["net"].trajectory
    assert mine is not None
    assert (mine.n_obs, mine.n_episodes) == (row.n_obs, row.n_episodes)
    assert list(mine.table["term"]) == list(row.table["term"])
    for column in ("estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"):
        _close(mine.table[column], row.table[column], ITERATIVE)
    _close([mine.sd_episode, mine.sd_residual], [row.sd_episode, row.sd_residual], ITERATIVE)
    for column in ("weeks", "estimate", "std_error", "conf_low", "conf_high"):
        _close(mine.means[column], row.means[column], ITERATIVE)
    # observed means per arm and whole week: moments, exact
    assert list(mine.observed["arm"]) == list(row.observed["arm"])
    assert list(mine.observed["weeks"]) == list(row.observed["weeks"])
    assert list(mine.observed["n"]) == list(row.observed["n"])
    for column in ("estimate", "sd", "conf_low", "conf_high"):
        _close(mine.observed[column], row.observed[column], EXACT)
    assert mine.converged and row.converged
    document = case["net"].to_dict()["lmm"]
    assert set(row.to_dict()) == set(document)


def test_grouping_by_episode_size_is_the_ungrouped_profile() -> None:
    """The derivation of docs/network.md: the REML profile from sums grouped by episode
    size equals the profile from per-episode sums, at any theta."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 7, 400)
    groups = np.repeat(np.arange(400), sizes)
    arm = np.repeat(rng.integers(0, 2, 400), sizes).astype(float)
    weeks = rng.uniform(0, 8, len(groups))
    x = np.column_stack([np.ones_like(weeks), arm, weeks, arm * weeks])
    y = 6 - 0.3 * weeks + rng.normal(0, 1.2, 400)[groups] + rng.normal(0, 1, len(groups))
    site = np.repeat(rng.integers(0, 3, 400), sizes)
    # a site's block as trajectory_blocks writes it, built here by hand
    blocks = []
    for s in range(3):
        here = site == s
        g, codes = np.unique(groups[here], return_inverse=True)
        n_i = np.bincount(codes)
        sx = np.column_stack([np.bincount(codes, weights=x[here, j]) for j in range(4)])
        sy = np.bincount(codes, weights=y[here])
        size_list = sorted(set(n_i.tolist()))
        prods = []
        for n in size_list:
            k = n_i == n
            prods.append(
                [
                    *(sx[k].T @ sx[k]).reshape(-1),
                    *(sx[k].T @ sy[k]),
                    float(sy[k] @ sy[k]),
                ]
            )
        is_comp = sx[:, 1] > 0
        blocks.append(
            {
                "xtx": (x[here].T @ x[here]).tolist(),
                "xty": (x[here].T @ y[here]).tolist(),
                "yty": float(y[here] @ y[here]),
                "n_obs": int(here.sum()),
                "sizes": size_list,
                "clusters": [
                    [int(((n_i == n) & ~is_comp).sum()) for n in size_list],
                    [int(((n_i == n) & is_comp).sum()) for n in size_list],
                ],
                "products": prods,
            }
        )
    grouped, b0 = _pooled_suffstats(blocks)
    ungrouped = _suffstats(y - x @ b0, x, groups, 400)
    for theta in (0.0, 0.01, 0.7, 3.0, 250.0):
        crit_g, beta_g, ainv_g, s2_g = _profile(grouped, theta)
        crit_u, beta_u, ainv_u, s2_u = _profile(ungrouped, theta)
        assert math.isclose(crit_g, crit_u, rel_tol=1e-10)
        _close(beta_g + b0, beta_u + b0, 1e-10)
        _close(ainv_g, ainv_u, 1e-10)
        _close(s2_g, s2_u, 1e-9)


def test_medication_pools_to_the_row_level_models(case: dict[str, Any]) -> None:
    p = default_protocol()
    row = compare_medication(
        case["dataset"],
        reference=p.reference,
        comparator=p.comparator,
        timepoint=p.medication_timepoint(),
    )
    mine = case["net"].medication
    assert mine is not None
    assert list(mine.frame["measure"]) == list(row.frame["measure"])
    assert list(mine.frame["n"]) == list(row.frame["n"])
    for column in ("estimate", "conf_low", "conf_high", "p_value"):
        _close(mine.frame[column], row.frame[column], ITERATIVE)
    _close(mine.frame["value_reference"], row.frame["value_reference"], EXACT)
    for a, b in zip(mine.doses, row.doses, strict=True):  # ANCOVA: exact
        _close(a.table["estimate"], b.table["estimate"], EXACT)
        _close(a.table["std_error"], b.table["std_error"], EXACT)
    document = case["net"].to_dict()["medication"]
    for a, b in zip(document, row.to_dict(), strict=True):
        assert set(a) == set(b)
        for key, value in b.items():
            if isinstance(value, float):
                assert math.isclose(a[key], value, rel_tol=ITERATIVE), key
            else:
                assert a[key] == value, key


def test_safety_pools_to_the_row_level_counts(case: dict[str, Any]) -> None:
    p = default_protocol()
    row = compare_safety(case["dataset"], reference=p.reference, comparator=p.comparator)
    mine = case["net"].safety
    assert mine is not None and mine.recorded == row.recorded
    pd.testing.assert_frame_equal(mine.table, row.table)
    pd.testing.assert_frame_equal(mine.by_type, row.by_type)
    pd.testing.assert_frame_equal(mine.by_severity, row.by_severity)
    pd.testing.assert_frame_equal(mine.by_reporter, row.by_reporter)
    assert mine.notable_events.empty  # listings are rows: they stay at the sites
    assert case["net"].to_dict()["safety"] == row.to_dict()


def test_headline_has_the_mixed_model_and_medication_rows(case: dict[str, Any]) -> None:
    sections = set(case["net"].frame["section"])
    assert {"lmm", "medication"} <= sections


def test_small_episode_size_cells_are_refused(clinic_a_path: Path) -> None:
    import dnoutcomes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        part = split_by_site(dnoutcomes.load(clinic_a_path))[0]
        with pytest.raises(DisclosureError) as info:
            summarise(part, default_protocol(), medication=False, safety=False)
    found = [m for m in info.value.problems if "mixed model" in m]
    assert found and all("values" in m or "episodes" in m for m in found)
    assert "--no-trajectory" in str(info.value)


def test_disclosure_rules_of_the_new_sections() -> None:
    traj = {
        "measure": "nprs",
        "episodes": [40, 30],
        "sizes": [2, 3],
        "clusters": [[25, 15], [30, 0]],
        "observed": {"weeks": [0], "n": [70]},
    }
    check_summary({"a": {"trajectory": traj}}, 11)
    bad = dict(traj, clusters=[[25, 15], [27, 3]])
    with pytest.raises(DisclosureError, match="episodes with 3 values, comparator arm = 3"):
        check_summary({"a": {"trajectory": bad}}, 11)
    use = {"measure": "opioid_use", "counts": [[[20, 11], [0, 12]], [[30, 2], [0, 15]]]}
    with pytest.raises(DisclosureError, match="comparator arm, baseline use 0, use 1 = 2"):
        check_summary(
            {"a": {"medication": {"timepoint": "discharge", "use": [use], "doses": []}}}, 11
        )
    safety = {
        "episodes": [50, 60],
        "dn_sessions": [200, 300],
        "contraindicated_episodes": [0, 0],
        "events": [40, 50],
        "by_severity": {"mild": [38, 50], "serious": [2, 0]},
    }
    with pytest.raises(DisclosureError, match="events of severity serious, reference arm = 2"):
        check_summary({"a": {"safety": safety}}, 11)


def test_observed_cells_under_min_cell_are_suppressed_at_the_site(clinic_a_path: Path) -> None:
    import dnoutcomes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = dnoutcomes.load(clinic_a_path)
    sites = sorted(dataset.episodes["site_id"].astype(str).unique())
    full = trajectory_blocks(dataset, default_protocol(), sites)
    kept = trajectory_blocks(dataset, default_protocol(), sites, suppress_below=11)
    for site in sites:
        assert min(kept[site]["observed"]["n"], default=11) >= 11
        assert "weeks_max" not in kept[site]  # one row's value: not in a checked summary
        assert len(kept[site]["observed"]["n"]) <= len(full[site]["observed"]["n"])
        assert kept[site]["products"] == full[site]["products"]


def test_format_version_1_is_read_and_its_sections_left_out(tmp_path: Path) -> None:
    from dnoutcomes.sample import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = generate(episodes=600, seed=2).to_dataset()
        document = summarise(dataset, default_protocol(), disclosure=False).to_dict()
    for block in document["blocks"].values():
        for key in ("trajectory", "medication", "safety"):
            del block[key]
    document["format_version"] = 1
    document["sha256"] = _checksum(document)
    old = tmp_path / "v1.json"
    old.write_text(json.dumps(document), encoding="utf-8")
    net = pool([read_summary(old)])
    assert net.trajectory is None and net.medication is None and net.safety is None
    assert any("format version 1" in n for n in net.notes)
    assert net.ancova[0].n > 0
    document["format_version"] = 3
    document["sha256"] = _checksum(document)
    new = tmp_path / "v3.json"
    new.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(InsufficientDataError, match="format_version 3 is not supported"):
        read_summary(new)


def test_a_site_without_a_medication_measure_adds_no_episode(clinic_a_path: Path) -> None:
    import dataclasses

    import dnoutcomes

    p = default_protocol()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = split_by_site(dnoutcomes.load(clinic_a_path))
        first = parts[0]
        parts[0] = dataclasses.replace(
            first, outcomes=first.outcomes.loc[first.outcomes["measure"] != "opioid_use"]
        )
        summaries = [summarise(part, p, disclosure=False) for part in parts]
        merged = dataclasses.replace(
            parts[1],
            episodes=pd.concat([x.episodes for x in parts], ignore_index=True),
            patients=pd.concat([x.patients for x in parts]).drop_duplicates("patient_id"),
            sessions=pd.concat([x.sessions for x in parts]),
            outcomes=pd.concat([x.outcomes for x in parts]),
            adverse_events=pd.concat([x.adverse_events for x in parts]),
        )
        row = compare_medication(
            merged, reference=p.reference, comparator=p.comparator, timepoint="discharge"
        )
    mine = pool(summaries).medication
    assert mine is not None
    assert list(mine.frame["measure"]) == list(row.frame["measure"])
    assert list(mine.frame["n"]) == list(row.frame["n"])
    _close(mine.frame["estimate"], row.frame["estimate"], ITERATIVE)


def test_pool_report_shows_the_new_sections(case: dict[str, Any]) -> None:
    from dnoutcomes.network.render import network_html, network_tables, xlsx_bytes

    tables = network_tables(case["net"])
    assert {"lmm", "lmm_means", "medication", "safety", "safety_type"} <= set(tables)
    pd.testing.assert_frame_equal(tables["safety"], case["net"].safety.table)
    html = network_html(case["net"])
    assert "Mixed model of the trajectory" in html and "Adverse events by type" in html
    assert xlsx_bytes(case["net"])[:2] == b"PK"
