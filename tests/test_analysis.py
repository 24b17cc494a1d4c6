"""Tests of dnoutcomes.stats.analysis: the whole plan on clinic_a against every figure R
computed, sections left out with a reason, and invariances of the full document."""

from __future__ import annotations

import dataclasses
import json
import math
from types import SimpleNamespace
from typing import Any

import pytest

from dnoutcomes.errors import DataQualityWarning, RequestError
from dnoutcomes.stats.analysis import Analysis, analyze

#: Keys identifying the entries of a list section.
_LIST_KEYS = ("measure", "timepoint", "site_id", "arm")


def _tolerance(path: str) -> float:
    # the mixed model: 1e-3 (different optimisers); everything else 1e-6 (the plan)
    return 1e-3 if path.startswith("lmm") else 1e-6


def assert_matches_r(got: Any, expected: Any, path: str = "") -> int:
    """Compare every figure of ``expected`` with ``got``; return how many were compared.

    Integers (counts, medians of whole days and their limits) must be equal; other
    numbers within the plan's relative tolerance; strings equal. Keys starting with ``_``
    are R's bookkeeping and are skipped.
    """
    if isinstance(expected, dict):
        assert isinstance(got, dict), path
        compared = 0
        for key, value in expected.items():
            if key.startswith("_"):
                continue
            assert key in got, f"{path}.{key} missing"
            compared += assert_matches_r(got[key], value, f"{path}.{key}".lstrip("."))
        return compared
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) >= len(expected), path
        if expected and isinstance(expected[0], dict):
            keys = [k for k in _LIST_KEYS if k in expected[0]]
            by_key = {tuple(g[k] for k in keys): g for g in got}
            return sum(
                assert_matches_r(
                    by_key[tuple(e[k] for k in keys)], e, f"{path}[{'/'.join(e[k] for k in keys)}]"
                )
                for e in expected
            )
        assert len(got) == len(expected), path
        return sum(
            assert_matches_r(g, e, f"{path}[{i}]")
            for i, (g, e) in enumerate(zip(got, expected, strict=True))
        )
    if isinstance(expected, bool) or isinstance(expected, str) or expected is None:
        assert got == expected, f"{path}: {got!r} != {expected!r}"
        return 1
    if isinstance(expected, int):
        assert got == expected, f"{path}: {got!r} != {expected!r} (exact)"
        return 1
    assert isinstance(got, int | float) and math.isfinite(got), f"{path}: {got!r}"
    assert got == pytest.approx(expected, rel=_tolerance(path)), path
    return 1


@pytest.fixture(scope="module")
def analysis(clinic_a_dataset: Any) -> Analysis:
    return analyze(clinic_a_dataset)


@pytest.mark.slow
def test_every_figure_of_expected_json(analysis: Analysis, clinic_a_expected: dict) -> None:
    doc = analysis.to_dict()
    compared = assert_matches_r(doc, clinic_a_expected)
    assert compared >= 150  # every figure, not a sample
    json.dumps(doc, allow_nan=False)  # a valid JSON document: no NaN or infinity


@pytest.mark.slow
def test_sections_and_text(analysis: Analysis, clinic_a_expected: dict[str, Any]) -> None:
    sections = analysis.sections()
    assert all(result is not None for result in sections.values())
    assert analysis.lmm is not None and analysis.lmm.engine == "fast"  # the default (issue 8)
    assert analysis.n == analysis.n_reference + analysis.n_comparator
    frame = analysis.to_frame()
    assert {"ancova", "lmm", "responders", "time_to_response", "medication", "iptw"} <= set(
        frame["section"]
    )
    primary = frame.iloc[0]
    assert primary["estimate"] == analysis.ancova.results[0].estimate
    text = str(analysis)
    exp = clinic_a_expected["ancova"][0]  # NPRS at discharge, from R
    assert (
        f"Primary outcome: nprs at discharge was {-exp['estimate']:.2f} points lower with "
        "dn_manual_exercise" in text
    )
    assert exp["p"] < 0.001
    assert (
        f"(95 % CI {exp['ci_low']:.2f} to {exp['ci_high']:.2f}; n = {exp['n']}; p < 0.001)" in text
    )
    for label in ("Headline estimates", "Patient flow", "Baseline characteristics", "Safety"):
        assert label in text
    assert "analgesic_doses_week not analysed" in text
    page = analysis._repr_html_()
    assert page.count("<table") >= 10 and "<h4>Time to response</h4>" in page
    doc = analysis.to_dict()
    assert doc["patient_flow"]["stages"][0]["n"] == 600
    assert doc["medication_doses"][0]["measure"] == "opioid_mme_day"


@pytest.mark.slow
def test_swapping_arms_flips_the_document(
    clinic_a_dataset: Any, clinic_a_expected: dict[str, Any]
) -> None:
    # the profiled-REML engine keeps this test fast; statsmodels' fit is checked above
    swapped = analyze(
        clinic_a_dataset, reference="dn_manual_exercise", comparator="dn_only", lmm_engine="fast"
    ).to_dict()
    doc = analyze(clinic_a_dataset, lmm_engine="fast").to_dict()
    counts = clinic_a_expected["n_episodes"]
    assert swapped["n_episodes"] == {
        "reference": counts["comparator"],
        "comparator": counts["reference"],
    }
    for a, b in zip(doc["ancova"], swapped["ancova"], strict=True):
        assert b["estimate"] == pytest.approx(-a["estimate"], rel=1e-9)
        assert b["adjusted_mean_reference"] == pytest.approx(a["adjusted_mean_comparator"])
    assert swapped["responders"]["risk_ratio"] == pytest.approx(
        1 / doc["responders"]["risk_ratio"], rel=1e-12
    )
    for a, b in zip(doc["medication"], swapped["medication"], strict=True):
        assert b["odds_ratio"] == pytest.approx(1 / a["odds_ratio"], rel=1e-6)
    assert swapped["iptw"]["estimate"] == pytest.approx(-doc["iptw"]["estimate"], rel=1e-6)
    assert swapped["site_meta"]["estimate"] == pytest.approx(
        -doc["site_meta"]["estimate"], rel=1e-9
    )
    assert swapped["lmm"]["fixed"]["arm"]["estimate"] == pytest.approx(
        -doc["lmm"]["fixed"]["arm"]["estimate"], rel=1e-4
    )


def _replace(dataset: Any, **changes: Any) -> Any:
    if dataclasses.is_dataclass(dataset):
        return dataclasses.replace(dataset, **changes)
    return SimpleNamespace(**{**vars(dataset), **changes})


@pytest.mark.slow
def test_dropping_an_unused_arm_changes_nothing(analysis: Analysis, clinic_a_dataset: Any) -> None:
    eps = clinic_a_dataset.episodes
    kept = eps[eps["arm"] != "manual_exercise"].reset_index(drop=True)
    out = clinic_a_dataset.outcomes
    sessions = clinic_a_dataset.sessions
    smaller = _replace(
        clinic_a_dataset,
        episodes=kept,
        outcomes=out[out["episode_id"].isin(kept["episode_id"])].reset_index(drop=True),
        sessions=sessions[sessions["episode_id"].isin(kept["episode_id"])].reset_index(drop=True),
    )
    doc = analyze(clinic_a_dataset, lmm_engine="fast").to_dict()
    other = analyze(smaller, lmm_engine="fast").to_dict()
    for key in ("n_episodes", "ancova", "responders", "time_to_response", "medication"):
        assert other[key] == doc[key], key
    assert other["iptw"]["estimate"] == pytest.approx(doc["iptw"]["estimate"], rel=1e-9)
    assert other["lmm"]["fixed"] == doc["lmm"]["fixed"]
    assert other["patient_flow"]["stages"][0]["n"] == len(kept)


def test_bad_arms(clinic_a_dataset: Any) -> None:
    with pytest.raises(RequestError, match="usual_care"):
        analyze(clinic_a_dataset, comparator="usual_care")


@pytest.mark.slow
@pytest.mark.parametrize("confounding", [0.0, 1.0])
def test_recovers_the_generators_truth(confounding: float) -> None:
    """On a large synthetic export the intervals cover the potential-outcome truth; with
    confounding by indication IPTW moves the naive estimate toward it."""
    from dnoutcomes.sample import generate

    sample = generate(episodes=4000, seed=11, confounding=confounding)
    with pytest.warns(DataQualityWarning):  # needling despite contraindications, by design
        dataset = sample.to_dataset()
    doc = analyze(dataset, lmm_engine="fast").to_dict()
    truth = sample.truth
    nprs = truth.effects["nprs@discharge"]["compared"]
    iptw = doc["iptw"]
    assert iptw["ci_low"] <= nprs <= iptw["ci_high"]
    odi = next(a for a in doc["ancova"] if (a["measure"], a["timepoint"]) == ("odi", "discharge"))
    assert odi["ci_low"] <= truth.effects["odi@discharge"]["compared"] <= odi["ci_high"]
    naive = doc["ancova"][0]
    if confounding == 0:
        # randomised assignment: the plain ANCOVA is unbiased and covers the truth, and so
        # does the mixed model's difference in weekly slopes (on the observed 0-10 scale)
        assert naive["ci_low"] <= nprs <= naive["ci_high"]
        slope = doc["lmm"]["fixed"]["arm_x_weeks"]
        weekly = truth.nprs_weekly_scale["difference"]
        assert abs(slope["estimate"] - weekly) <= 1.96 * slope["se"]
    else:
        # sicker patients get the combination: the naive estimate understates the benefit
        assert abs(iptw["estimate"] - nprs) < abs(naive["estimate"] - nprs)
        assert doc["iptw"]["max_abs_smd_after"] < doc["iptw"]["max_abs_smd_before"]


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.stats.analysis as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.slow  # a fresh interpreter: seconds on a busy machine
def test_import_dnoutcomes_leaves_statsmodels_until_an_analysis_is_used() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dnoutcomes, dnoutcomes.stats\n"
        "assert 'statsmodels' not in sys.modules, 'import dnoutcomes loaded statsmodels'\n"
        "from dnoutcomes.stats import compare_ancova\n"
        "assert 'statsmodels' in sys.modules and callable(compare_ancova)\n"
        "import dnoutcomes.stats as stats\n"
        "missing = [n for n in stats.__all__ if not hasattr(stats, n)]\n"
        "assert not missing, missing\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_analyses_leave_the_dataset_untouched() -> None:
    import pandas as pd

    from dnoutcomes.cohort import patient_flow
    from dnoutcomes.qi import qi_charts
    from dnoutcomes.sample import generate
    from dnoutcomes.stats import describe_baseline, summarize_outcomes

    dataset = generate(episodes=300, seed=1).to_dataset()
    tables = ("patients", "episodes", "sessions", "outcomes", "adverse_events")
    before = {name: getattr(dataset, name).copy(deep=True) for name in tables}
    analyze(dataset)
    describe_baseline(dataset)
    summarize_outcomes(dataset)
    qi_charts(dataset)
    patient_flow(dataset)
    for name in tables:
        pd.testing.assert_frame_equal(getattr(dataset, name), before[name], obj=name)


def test_the_analysis_is_the_one_hinge() -> None:
    """Only stats calls the compare_* functions (stats.analyze, and the stats modules that
    compose others); the renderers (present, report, plots, cli) call none, and plots
    never imports stats."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "dnoutcomes"
    call = re.compile(r"(?<![`\w.])compare_[a-z_]+\(")
    for folder in ("present", "report", "plots", "cli", "qi"):
        for path in (src / folder).rglob("*.py"):
            code = "\n".join(
                line
                for line in path.read_text(encoding="utf-8").splitlines()
                if not line.lstrip().startswith((">>>", "...", "#"))
            )
            assert not call.search(code), f"{path.relative_to(src)} calls a compare_ function"
    import ast

    for path in (src / "plots").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        stats = {m for m in imported if m.startswith("dnoutcomes.stats")}
        assert stats <= {"dnoutcomes.stats.results"}, (path, stats)


@pytest.mark.filterwarnings("ignore::dnoutcomes.DataQualityWarning")
def test_the_comparison_set_is_built_once(monkeypatch: Any) -> None:
    """One analyze builds the comparison episodes once (it was rebuilt 13 times)."""
    from dnoutcomes import cohort
    from dnoutcomes.sample import generate

    dataset = generate(episodes=200, seed=5).to_dataset()
    calls = []
    real = cohort._comparison_episodes

    def counting(*args: Any) -> Any:
        calls.append(args[1:])
        return real(*args)

    monkeypatch.setattr(cohort, "_comparison_episodes", counting)
    analyze(dataset)
    assert calls == [("dn_only", "dn_manual_exercise")]
