"""Tests of dnoutcomes.stats.clustered: the ANCOVA and IPTW arm effects with SEs clustered by
therapist and by site against R's ``sandwich::vcovCL`` (tests/reference/routine_care.R,
section 5; the R code is in the docstrings of tests/test_cluster.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from dnoutcomes.errors import RequestError
from dnoutcomes.stats.clustered import compare_clustered

REF = Path(__file__).parent / "reference"
TOL = 1e-6


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    out: dict[str, Any] = json.loads((REF / "routine_care.json").read_text())["cluster"]
    return out


@pytest.mark.parametrize(
    ("weighting", "cluster", "key"),
    [
        ("none", "therapist_id", "therapist"),
        ("none", "site_id", "site"),
        ("iptw", "therapist_id", "iptw_therapist"),
        ("iptw", "site_id", "iptw_site"),
    ],
)
def test_arm_se_matches_vcovcl(
    clinic_a_dataset: Any, expected: dict[str, Any], weighting: str, cluster: str, key: str
) -> None:
    """R: ``sqrt(vcovCL(fit, cluster = ~ therapist_id, type = "HC1")[2, 2])`` (and site,
    and the IPTW-weighted fit)."""
    result = compare_clustered(
        clinic_a_dataset,
        weighting=weighting,  # type: ignore[arg-type]
        cluster=cluster,
    )
    rows = result.table.set_index("term")
    want_se = math.sqrt(np.reshape(expected[key], (3, 3), order="F")[1, 1])
    coef = expected["iptw_coef" if weighting == "iptw" else "ancova_coef"][1]
    assert rows.loc["cluster_robust", "estimate"] == pytest.approx(coef, rel=TOL)
    assert rows.loc["model", "estimate"] == pytest.approx(coef, rel=TOL)
    assert rows.loc["cluster_robust", "std_error"] == pytest.approx(want_se, rel=TOL)
    g = result.n_clusters
    assert rows.loc["cluster_robust", "df"] == g - 1
    crit = stats.t.ppf(0.975, g - 1)
    assert rows.loc["cluster_robust", "conf_high"] == pytest.approx(coef + crit * want_se)
    assert any("clusters" in note for note in result.notes)  # fewer than 30


def test_errors(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="cluster column"):
        compare_clustered(clinic_a_dataset, cluster="clinic")
    with pytest.raises(RequestError, match="weighting"):
        compare_clustered(clinic_a_dataset, weighting="ato")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="section 6"):
        compare_clustered(clinic_a_dataset, weighting="iptw", measure="odi")


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.clustered as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
