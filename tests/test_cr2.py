"""CR2 (Bell–McCaffrey) cluster-robust SEs with Satterthwaite df against R's clubSandwich
(tests/reference/small_sample.R, section 3) on clinic_a (3 sites, 9 therapists) and on a
generated export with 6 unequal sites (small_sample_inputs.py; IPTW weights as dnoutcomes
computes them, written to small_sample_cluster.csv). R::

    V <- vcovCR(fit, cluster = d$site_id, type = "CR2")
    coef_test(fit, vcov = V, test = "Satterthwaite")     # SE, df_Satt, p_Satt
    # fit <- lm(nprs_discharge ~ treated + nprs_baseline, data = d[, weights = w])

Same arrays in: 1e-10 relative; through :func:`compare_clustered` (clinic_a's IPTW weights
from R's glm against dnoutcomes' logistic fit): 1e-6, the tolerance of the CR1 checks.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, stats

from dnoutcomes.errors import RequestError
from dnoutcomes.stats._cluster import cluster_vcov, cr2_vcov
from dnoutcomes.stats.clustered import compare_clustered

REF = Path(__file__).parent / "reference"
TOL_ARRAYS = 1e-10
TOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "small_sample.json").read_text())
    return out


def _fit(frame: pd.DataFrame, weighted: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    x = np.column_stack([np.ones(len(frame)), frame["treated"], frame["nprs_baseline"]]).astype(
        float
    )
    y = frame["nprs_discharge"].to_numpy(float)
    w = frame["iptw_weight"].to_numpy(float) if weighted else None
    ww = np.ones(len(y)) if w is None else w
    beta = np.linalg.solve(x.T @ (x * ww[:, None]), (x * ww[:, None]).T @ y)
    return x, y - x @ beta, w


@pytest.mark.parametrize("key", ["site", "therapist", "iptw_site", "iptw_therapist"])
def test_arrays_match_clubsandwich_six_sites(expected: dict[str, Any], key: str) -> None:
    want = expected["cr2_six_sites"][key]
    frame = pd.read_csv(REF / "small_sample_cluster.csv")
    weighted = key.startswith("iptw")
    frame = frame.loc[frame["iptw" if weighted else "ancova"] == 1]
    x, resid, w = _fit(frame, weighted)
    column = "site_id" if key.endswith("site") else "therapist_id"
    vcov, df = cr2_vcov(x, resid, frame[column].to_numpy(), w)
    assert len(frame) == want["n"]
    np.testing.assert_allclose(vcov, np.reshape(want["vcov"], (3, 3), order="F"), rtol=TOL_ARRAYS)
    np.testing.assert_allclose(df, want["df"], rtol=TOL_ARRAYS)
    # cluster_vcov(type="CR2") is the same matrix
    np.testing.assert_allclose(
        cluster_vcov(x, resid, frame[column].to_numpy(), w, type="CR2"), vcov, rtol=1e-14
    )


def test_matches_dense_hand_formula() -> None:
    """Without weights CR2 is ``M {sum_g X_g' (I - H_gg)^-1/2 e_g e_g' (I - H_gg)^-1/2 X_g} M``
    (Bell & McCaffrey 2002), and the Satterthwaite df of coefficient j is
    ``(tr O)^2 / tr(O^2)``, ``O = G' G``, column g of G being
    ``(I - H)' [0 .. (I - H_gg)^-1/2 X_g M e_j .. 0]`` — written here with dense N x N
    matrices, including a cluster that holds every treated row (a singular I - H_gg, whose
    zero eigenvalue gets a zero in the inverse square root)."""
    rng = np.random.default_rng(5)
    sizes = [3, 7, 4, 9, 2, 5]
    ids = np.repeat(np.arange(len(sizes)), sizes)
    n = len(ids)
    treated = (ids == 1).astype(float)  # only cluster 1 is treated
    x = np.column_stack([np.ones(n), treated, rng.normal(size=n)])
    y = x @ [1.0, -0.5, 0.3] + rng.normal(size=n) + rng.normal(size=len(sizes))[ids]
    m = np.linalg.inv(x.T @ x)
    e = y - x @ (m @ x.T @ y)
    hat = x @ m @ x.T
    meat = np.zeros((3, 3))
    blocks = []
    for g in range(len(sizes)):
        rows = ids == g
        vals, vecs = np.linalg.eigh(np.eye(rows.sum()) - hat[np.ix_(rows, rows)])
        inv_half = (vecs * np.where(vals > 1e-12, 1 / np.sqrt(np.abs(vals)), 0.0)) @ vecs.T
        blocks.append((rows, inv_half))
        u = x[rows].T @ inv_half @ e[rows]
        meat += np.outer(u, u)
    want = m @ meat @ m
    want_df = []
    for j in range(3):
        cols = []
        for rows, inv_half in blocks:
            col = np.zeros(n)
            col[rows] = inv_half @ x[rows] @ m[:, j]
            cols.append((np.eye(n) - hat).T @ col)
        big = np.column_stack(cols)
        omega = big.T @ big
        want_df.append(np.trace(omega) ** 2 / np.trace(omega @ omega))
    got, df = cr2_vcov(x, e, ids)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    np.testing.assert_allclose(df, want_df, rtol=1e-10)
    assert linalg.eigvalsh(np.eye(7) - hat[np.ix_(ids == 1, ids == 1)]).min() < 1e-12


@pytest.mark.parametrize(
    ("weighting", "cluster", "key"),
    [
        ("none", "therapist_id", "therapist"),
        ("none", "site_id", "site"),
        ("iptw", "therapist_id", "iptw_therapist"),
        ("iptw", "site_id", "iptw_site"),
    ],
)
def test_clinic_a_matches_coef_test(
    clinic_a_dataset: Any, expected: dict[str, Any], weighting: str, cluster: str, key: str
) -> None:
    want = expected["cr2_clinic_a"][key]
    result = compare_clustered(
        clinic_a_dataset,
        weighting=weighting,  # type: ignore[arg-type]
        cluster=cluster,
        type="CR2",
    )
    row = result.table.set_index("term").loc["cluster_robust"]
    assert result.n == want["n"] and result.n_clusters == want["clusters"]
    assert row["estimate"] == pytest.approx(want["coef"][1], rel=TOL)
    assert row["std_error"] == pytest.approx(want["se"][1], rel=TOL)
    assert row["df"] == pytest.approx(want["df"][1], rel=TOL)
    assert row["p_value"] == pytest.approx(want["p"][1], rel=TOL)
    crit = stats.t.ppf(0.975, want["df"][1])
    assert row["conf_low"] == pytest.approx(want["coef"][1] - crit * want["se"][1], rel=TOL)
    assert result.cluster_type == "CR2" and result.df_method == "satterthwaite"
    doc = result.to_dict()
    assert doc["type"] == "CR2" and doc["df_method"] == "satterthwaite"
    assert doc["cluster_robust"]["df"] == pytest.approx(want["df"][1], rel=TOL)
    assert "CR2, satterthwaite df" in result.title


@pytest.mark.parametrize("weighting", ["none", "iptw"])
def test_six_sites_end_to_end(expected: dict[str, Any], weighting: str) -> None:
    sys.path.insert(0, str(REF))
    from small_sample_inputs import few_sites_dataset

    want = expected["cr2_six_sites"]["iptw_site" if weighting == "iptw" else "site"]
    result = compare_clustered(
        few_sites_dataset(),
        weighting=weighting,  # type: ignore[arg-type]
        cluster="site_id",
        type="CR2",
    )
    rows = result.table.set_index("term")
    assert result.n_clusters == 6
    assert rows.loc["cluster_robust", "std_error"] == pytest.approx(want["se"][1], rel=TOL)
    assert rows.loc["cluster_robust", "df"] == pytest.approx(want["df"][1], rel=TOL)
    # with 6 unequal sites the Satterthwaite df are below G - 1 = 5
    assert rows.loc["cluster_robust", "df"] < 5
    low = rows.loc["cluster_robust", "df"] < 4  # 4.09 unweighted, 3.86 weighted
    assert any("fewer than 4" in note for note in result.notes) == low
    hc1 = compare_clustered(
        few_sites_dataset(),
        weighting=weighting,  # type: ignore[arg-type]
        cluster="site_id",
    )
    hc1_row = hc1.table.set_index("term").loc["cluster_robust"]
    assert hc1.df_method == "clusters - 1" and hc1_row["df"] == 5
    width = rows.loc["cluster_robust", "conf_high"] - rows.loc["cluster_robust", "conf_low"]
    assert width > hc1_row["conf_high"] - hc1_row["conf_low"]


def test_bad_type(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="CR2"):
        compare_clustered(clinic_a_dataset, type="CR3")  # type: ignore[arg-type]
    assert not math.isnan(compare_clustered(clinic_a_dataset, type="CR2").n)
