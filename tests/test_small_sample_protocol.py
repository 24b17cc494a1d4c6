"""``[mmrm] df = "kenward-roger"`` and ``[clustering] type = "CR2"`` from the protocol to
``analyze``, its text and JSON, and the report's methods sentence. The numbers themselves
are checked against R in test_kenward_roger.py and test_cr2.py; here each section must be
exactly its function's result for the protocol's settings and name the method."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest

from dnoutcomes.protocol import Protocol
from dnoutcomes.sample import generate
from dnoutcomes.stats import analyze
from dnoutcomes.stats.clustered import compare_clustered
from dnoutcomes.stats.mmrm import compare_mmrm

SMALL = """\
[primary]
measure = "nprs"

[mmrm]
enabled = true
visits = ["discharge", "followup_12w"]
df = "kenward-roger"

[clustering]
cluster = "site"
type = "CR2"
"""


@pytest.fixture(scope="module")
def dataset() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's data-quality warnings
        return generate(episodes=160, seed=6, sites=6).to_dataset()


@pytest.fixture(scope="module")
def analysis(dataset: Any) -> Any:
    return analyze(dataset, Protocol.from_toml_text(SMALL, source="study.toml"))


def test_sections_are_their_functions(analysis: Any, dataset: Any) -> None:
    mmrm = compare_mmrm(dataset, visits=["discharge", "followup_12w"], df="kenward-roger")
    pd.testing.assert_frame_equal(analysis.mmrm.table, mmrm.table)
    assert analysis.mmrm.df_method == "kenward-roger"
    for key, weighting in (("clustered", "none"), ("clustered_iptw", "iptw")):
        want = compare_clustered(dataset, cluster="site_id", weighting=weighting, type="CR2")
        got = getattr(analysis, key)
        pd.testing.assert_frame_equal(got.table, want.table)
        assert got.cluster_type == "CR2" and got.df_method == "satterthwaite"


def test_json_and_text_name_the_method(analysis: Any) -> None:
    doc = analysis.to_dict()
    assert doc["protocol"]["mmrm"]["df"] == "kenward-roger"
    assert doc["protocol"]["clustering"]["type"] == "CR2"
    assert doc["mmrm"]["df_method"] == "kenward-roger"
    first = doc["mmrm"]["contrasts"][0]
    for key in ("std_error", "conf_low", "conf_high", "p_value", "df"):
        assert key in first
    assert first["std_error"] == pytest.approx(analysis.mmrm.table["std_error"].iloc[0])
    for key in ("clustered", "clustered_iptw"):
        assert doc[key]["type"] == "CR2" and doc[key]["df_method"] == "satterthwaite"
        robust = doc[key]["cluster_robust"]
        assert robust["df"] < doc[key]["n_clusters"] - 1 + 1e-9  # here below G - 1 = 5
        assert {"std_error", "conf_low", "conf_high", "p_value"} <= set(robust)
    text = str(analysis)
    assert "REML, kenward-roger df" in text
    assert "6 clusters, CR2, satterthwaite df" in text


def test_report_methods_sentence() -> None:
    described = " ".join(Protocol.from_toml_text(SMALL).describe())
    assert "REML, Kenward-Roger adjusted standard errors and df." in described
    assert "cluster-robust (CR2, Bell-McCaffrey, with Satterthwaite df) SEs" in described
