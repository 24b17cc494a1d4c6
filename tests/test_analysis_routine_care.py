"""The routine-care sections of ``analyze`` (issue 15), switched on from the protocol: each
field is exactly what the method's own function returns for the protocol's settings (those
functions are checked against R in test_mi, test_mmrm, test_trajectory_flex, test_cox,
test_aipw and test_clustered), the JSON and the text show complete cases and MI side by
side, the report's comparisons gain the side-by-side table, and without the settings
nothing changes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.protocol import Protocol, default_protocol
from dnoutcomes.report._context import Context
from dnoutcomes.report.comparisons import comparisons_section
from dnoutcomes.report.model import HIDDEN
from dnoutcomes.report.period import parse_period
from dnoutcomes.sample import baseline_dropout_params, generate
from dnoutcomes.stats import analyze
from dnoutcomes.stats.aipw import compare_aipw
from dnoutcomes.stats.clustered import compare_clustered
from dnoutcomes.stats.cox import compare_cox
from dnoutcomes.stats.mi import (
    compare_ancova_mi,
    compare_iptw_mi,
    compare_responders_mi,
    tipping_point,
)
from dnoutcomes.stats.mmrm import compare_mmrm
from dnoutcomes.stats.trajectory_flex import compare_trajectory_flex

ALL_ON = """\
[primary]
measure = "nprs"
covariates = ["age"]

[trajectory]
random_slopes = true
time = "linear"
contrast_weeks = [0, 2, 4]

[time_to_response]
cox = true
rmst_horizon = 30

[weighting]
method = "aipw"
trim = 0.02

[missing_data]
method = "mi"
m = 3
maxit = 3
seed = 5
auxiliaries = ["odi"]
tipping = true
tipping_deltas = [0, 0.5, 1, 1.5]

[mmrm]
enabled = true
visits = ["discharge", "followup_12w"]

[clustering]
cluster = "site"
"""


@pytest.fixture(scope="module")
def sample() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's data-quality warnings
        return generate(episodes=400, seed=3, params=baseline_dropout_params())


@pytest.fixture(scope="module")
def dataset(sample: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sample.to_dataset()


@pytest.fixture(scope="module")
def protocol() -> Protocol:
    return Protocol.from_toml_text(ALL_ON, source="study.toml")


@pytest.fixture(scope="module")
def analysis(dataset: Any, protocol: Protocol) -> Any:
    return analyze(dataset, protocol)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_each_section_is_its_function_with_the_protocols_settings(
    analysis: Any, dataset: Any
) -> None:
    mi = {"auxiliaries": ("odi",), "m": 3, "maxit": 3, "rng": 5}
    _same(
        analysis.mi_ancova.table,
        compare_ancova_mi(dataset, covariates=("age",), **mi).table,
    )
    _same(
        analysis.mi_responders.table,
        compare_responders_mi(dataset, definition="points", **mi).table,
    )
    _same(analysis.mi_iptw.table, compare_iptw_mi(dataset, **mi).table)
    _same(
        analysis.tipping.table,
        tipping_point(dataset, covariates=("age",), deltas=[0, 0.5, 1, 1.5], **mi).table,
    )
    _same(
        analysis.mmrm.table,
        compare_mmrm(dataset, visits=["discharge", "followup_12w"]).table,
    )
    _same(
        analysis.trajectory_flex.table,
        compare_trajectory_flex(dataset, time="linear", weeks=[0, 2, 4]).table,
    )
    _same(analysis.cox.table, compare_cox(dataset, tau=30).table)
    _same(analysis.aipw.table, compare_aipw(dataset, trim=0.02).table)
    _same(analysis.clustered.table, compare_clustered(dataset, cluster="site_id").table)
    _same(
        analysis.clustered_iptw.table,
        compare_clustered(dataset, cluster="site_id", weighting="iptw").table,
    )
    assert analysis.extra_sections == (
        "mi_ancova",
        "mi_responders",
        "mi_iptw",
        "tipping",
        "mmrm",
        "trajectory_flex",
        "cox",
        "aipw",
        "clustered",
        "clustered_iptw",
    )


def test_the_plans_sections_do_not_move(analysis: Any, dataset: Any) -> None:
    plain = analyze(dataset, Protocol.from_toml_text('[primary]\nmeasure = "nprs"\n'))
    assert plain.extra_sections == ()
    _same(analysis.iptw.table, plain.iptw.table)
    assert analysis.to_dict()["lmm"] == plain.to_dict()["lmm"]
    for key in ("mi_ancova", "mmrm", "aipw", "cox", "clustered"):
        assert getattr(plain, key) is None
        assert key not in plain.to_dict()
    assert plain.frame["section"].isin(["ancova", "lmm", "responders", "time_to_response",
                                        "medication", "iptw", "site_meta"]).all()  # fmt: skip


def test_json_and_text_show_complete_cases_and_mi_side_by_side(analysis: Any) -> None:
    doc = json.loads(json.dumps(analysis.to_dict()))
    for key in ("mi_ancova", "mi_responders", "mi_iptw"):
        assert set(doc[key]) >= {"complete_case", "multiple_imputation", "m", "seed"}
        assert doc[key]["multiple_imputation"]["n"] > doc[key]["complete_case"]["n"]
    assert doc["ancova"][0]["estimate"] == pytest.approx(
        doc["mi_ancova"]["complete_case"]["estimate"]
    )
    assert doc["protocol"]["missing_data"]["method"] == "mi"
    for key in ("tipping", "mmrm", "trajectory_flex", "cox", "aipw", "clustered"):
        assert doc[key] is not None
    text = str(analysis)
    assert "== ANCOVA: complete cases and multiple imputation ==" in text
    block = text.split("== ANCOVA: complete cases and multiple imputation ==")[1]
    assert block.index("complete_case") < block.index("multiple_imputation")
    rows = analysis.frame.loc[analysis.frame["section"] == "mi_ancova"]
    assert rows["term"].tolist() == ["complete_case", "multiple_imputation"]
    assert {"mmrm", "trajectory_flex", "cox", "aipw", "clustered", "clustered_iptw"} <= set(
        analysis.frame["section"]
    )


def test_sections_the_method_cannot_answer_are_noted(dataset: Any) -> None:
    p = Protocol.from_toml_text(
        '[primary]\nmeasure = "nprs"\n[weighting]\nestimand = "ato"\n'
        '[missing_data]\nmethod = "mi"\nm = 2\nmaxit = 2\n'
    )
    result = analyze(dataset, p)
    assert result.mi_ancova is not None and result.mi_iptw is None
    assert any("IPTW under multiple imputation: not run" in n for n in result.notes)
    assert json.loads(json.dumps(result.to_dict()))["mi_iptw"] is None


def test_report_comparisons_show_mi_beside_complete_cases(dataset: Any, protocol: Protocol) -> None:
    period = parse_period("2025-Q4")  # the label only: the context holds the whole sample
    context = Context(
        dataset,
        dataset,
        dataset,
        dataset,
        period,
        period.previous(),
        None,
        "dn_only",
        "dn_manual_exercise",
        11,
        figures=False,
        analysis=analyze(dataset, protocol, require_primary=False),
    )
    outcome = comparisons_section(context)
    table = next(t for t in outcome.section.tables if t.key == "missing_data").frame
    assert table["method"].tolist()[:2] == ["Complete cases", "Multiple imputation"]
    assert table["analysis"].iloc[0] == "Adjusted difference (ANCOVA)"
    np.testing.assert_allclose(
        table["estimate"].iloc[:2].astype(float),
        context.analysis.mi_ancova.table["estimate"],
    )
    assert "mi_ancova" in outcome.extra
    # the imputed n minus the complete-case n counts the imputed episodes: a small
    # difference hides the imputed n
    rows = context.analysis.mi_ancova.table
    imputed = int(rows["n"].iloc[1] - rows["n"].iloc[0])
    strict = dataclasses.replace(context, min_cell=imputed + 1)
    shown = next(t for t in comparisons_section(strict).section.tables if t.key == "missing_data")
    assert shown.frame["n"].iloc[0] == rows["n"].iloc[0]
    assert shown.frame["n"].iloc[1] == HIDDEN
    plain = Context(
        dataset, dataset, dataset, dataset, period, period.previous(), None, "dn_only",
        "dn_manual_exercise", 11, figures=False,
        analysis=analyze(dataset, default_protocol(), require_primary=False),
    )  # fmt: skip
    assert "missing_data" not in [t.key for t in comparisons_section(plain).section.tables]


def test_cli_analyze_with_the_protocol(tmp_path: Path, sample: Any) -> None:
    folder = sample.write(tmp_path / "export")
    study = tmp_path / "study.toml"
    study.write_text(
        '[primary]\nmeasure = "nprs"\n[missing_data]\nmethod = "mi"\nm = 2\nmaxit = 2\n',
        encoding="utf-8",
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "dnoutcomes.cli",
            "analyze",
            str(folder),
            "--protocol",
            str(study),
            "--json",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["mi_ancova"]["multiple_imputation"]["n"] > doc["mi_ancova"]["complete_case"]["n"]
    bad = tmp_path / "bad.toml"
    bad.write_text('[primary]\nmeasure = "nprs"\n[missing_data]\nm = 1\n', encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "dnoutcomes.cli", "analyze", str(folder), "--protocol", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "line 4" in run.stderr and "from 2 to 1000" in run.stderr
    assert "Traceback" not in run.stderr


def test_mi_takes_another_measures_baseline_as_covariate(dataset: Any) -> None:
    """``baseline:<measure>`` (allowed in a protocol's covariates) is a column of the MI
    frame, the complete-case row is the ANCOVA with it, and an auxiliary of the same measure
    does not add it twice."""
    from dnoutcomes.cohort import outcome_pairs
    from dnoutcomes.stats import compare_ancova
    from dnoutcomes.stats.mi import mi_frame

    frame = mi_frame(dataset, covariates=["baseline:odi"], auxiliaries=["odi"])
    assert list(frame.columns)[-2:] == ["baseline:odi", "odi_discharge"]
    odi = outcome_pairs(dataset, measure="odi", timepoint="discharge")
    np.testing.assert_array_equal(frame["baseline:odi"], odi["baseline"].astype(float))
    result = compare_ancova_mi(dataset, covariates=["baseline:odi"], m=2, maxit=2, rng=1)
    cc = compare_ancova(dataset, covariates=["baseline:odi"])
    assert result.table["estimate"].iloc[0] == pytest.approx(cc.estimate, rel=1e-12)
    assert "baseline:odi" in result.pooled["term"].tolist()


def test_figures_add_the_tipping_point_and_the_aipw_love_plot(analysis: Any, dataset: Any) -> None:
    import matplotlib.pyplot as plt

    from dnoutcomes.present.gallery import FIGURE_NAMES, iter_figures

    drawn = {o.name: o for o in iter_figures(analysis, dataset)}
    assert list(drawn)[: len(FIGURE_NAMES)] == list(FIGURE_NAMES)
    assert list(drawn)[len(FIGURE_NAMES) :] == ["11-tipping-point", "12-aipw-balance"]
    tip = drawn["11-tipping-point"].figure
    line = next(ln for ln in tip.axes[0].get_lines() if len(ln.get_xdata()) == 4)
    np.testing.assert_allclose(sorted(line.get_xdata()), [0, 0.5, 1, 1.5])
    love = drawn["12-aipw-balance"].figure.axes[0]
    after = next(ln for ln in love.get_lines() if ln.get_label() == "After weighting")
    np.testing.assert_allclose(
        sorted(after.get_xdata()), sorted(analysis.aipw.balance["smd_after"].abs())
    )
    for outcome in drawn.values():
        if outcome.figure is not None:
            plt.close(outcome.figure)
