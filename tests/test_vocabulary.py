"""One vocabulary: every result's main frame is ``.table`` with the columns of
``TIDY_COLUMNS`` where they apply, and every ``to_dict()`` (so ``analyze --json``) writes
the same names, keeping the analysis plan's first keys (``se``, ``ci_low``, ``ci_high``,
``p``) beside them as deprecated aliases with the same values.

The result classes are found by walking the subclasses of ``ResultMixin`` after importing
every module of ``dnoutcomes.stats``, ``dnoutcomes.qi``, ``dnoutcomes.cohort`` and
``dnoutcomes.network``: a new
result class without an instance here fails the completeness test.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.stats.results import DICT_ALIASES, TIDY_COLUMNS, ResultMixin, vocabulary_key

pytestmark = pytest.mark.slow

#: Column or key names of the same things under other spellings: none may appear.
FOREIGN = re.compile(
    r"(^|_)(se|stderr|std_err|standard_error|ci_low|ci_high|ci_lower|ci_upper|lower_ci|"
    r"upper_ci|pval|pvalue|p|conf_lower|conf_upper|lcl95|ucl95)$"
)


def _result_classes() -> set[type]:
    import dnoutcomes.cohort
    import dnoutcomes.network
    import dnoutcomes.qi
    import dnoutcomes.stats

    for package in (dnoutcomes.stats, dnoutcomes.qi, dnoutcomes.cohort, dnoutcomes.network):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    found: set[type] = set()
    todo = list(ResultMixin.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return {c for c in found if not c.__name__.startswith("_")}


@pytest.fixture(scope="module")
def results() -> list[Any]:
    from dnoutcomes.network import pool, summarise
    from dnoutcomes.protocol import default_protocol
    from dnoutcomes.qi import qi_charts
    from dnoutcomes.qi.benchmark import benchmark
    from dnoutcomes.qi.casemix import fit_casemix
    from dnoutcomes.qi.mdc import mdc_chart
    from dnoutcomes.qi.overdispersion import proportion_funnel
    from dnoutcomes.qi.rare import bernoulli_cusum, g_chart
    from dnoutcomes.sample import generate
    from dnoutcomes.stats import analyze
    from dnoutcomes.stats.aipw import compare_aipw
    from dnoutcomes.stats.ancova import compare_pairs
    from dnoutcomes.stats.clustered import compare_clustered
    from dnoutcomes.stats.cox import compare_cox
    from dnoutcomes.stats.mi import compare_ancova_mi, tipping_point
    from dnoutcomes.stats.mmrm import compare_mmrm
    from dnoutcomes.stats.trajectory_flex import compare_trajectory_flex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = generate(episodes=600, seed=7).to_dataset()
        a = analyze(ds)
        qi = qi_charts(ds)
        model = fit_casemix(ds)
        assert a.ancova is not None and a.medication is not None and a.site_meta is not None
        return [
            a, a.flow, a.baseline, a.outcome_summary, a.ancova, a.ancova.results[0], a.lmm,
            a.responders, a.time_to_response, a.medication, a.medication.use[0], a.iptw,
            a.site_meta, a.site_meta.pooled, a.safety, compare_pairs(ds), compare_aipw(ds),
            compare_clustered(ds), compare_cox(ds), compare_mmrm(ds), compare_trajectory_flex(ds),
            compare_ancova_mi(ds, m=3, maxit=3, rng=1),
            tipping_point(ds, m=3, maxit=3, rng=1, deltas=[0.0, 1.0]),
            qi.i_chart, qi.funnel, g_chart([5, 3, 8, 2, 9, 4, 7, 1, 6, 3]),
            bernoulli_cusum([0, 1, 0, 0, 1, 0], p0=0.1, p1=0.2, h=2.0),
            mdc_chart(np.arange(20.0)), proportion_funnel([3, 5, 8, 2], [40, 50, 60, 30]),
            model, benchmark(ds, model),
            pool([summarise(ds, default_protocol(), disclosure=False)]),
        ]  # fmt: skip


def test_every_result_class_is_checked(results: list[Any]) -> None:
    classes = _result_classes()
    assert len(classes) >= 25  # the walk found the analyses and the QI results
    checked = {type(r) for r in results}
    assert sorted(c.__name__ for c in classes - checked) == []


def test_table_is_the_main_frame_in_the_vocabulary(results: list[Any]) -> None:
    for result in results:
        name = type(result).__name__
        table = result.table
        assert isinstance(table, pd.DataFrame), name
        pd.testing.assert_frame_equal(table, result.to_frame())
        assert table is not result.table  # a copy each time: the result stays frozen
        foreign = [c for c in table.columns if FOREIGN.search(str(c))]
        assert foreign == [], f"{name}: {foreign}"
        if {"estimate", "std_error"} <= set(table.columns):  # a coefficient-like frame
            order = [c for c in table.columns if c in TIDY_COLUMNS]
            assert "conf_low" in order and "conf_high" in order, name
            assert order.index("estimate") < order.index("std_error"), name


def _dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value, *(d for v in value.values() for d in _dicts(v))]
    if isinstance(value, list):
        return [d for v in value for d in _dicts(v)]
    return []


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _check_vocabulary(document: Any, name: str) -> int:
    """Every deprecated key has its vocabulary twin with the same value, and no key uses a
    third spelling; return how many deprecated keys were seen."""
    seen = 0
    for d in _dicts(document):
        for key, value in d.items():
            new = vocabulary_key(key)
            if new is not None:
                seen += 1
                assert new in d, f"{name}: {key!r} without {new!r}"
                assert _same(d[new], value), f"{name}: {key!r} and {new!r} differ"
                keys = list(d)
                assert keys.index(new) < keys.index(key), f"{name}: {new!r} comes first"
            elif isinstance(key, str):
                assert not FOREIGN.search(key), f"{name}: key {key!r}"
    return seen


def test_every_dict_speaks_the_vocabulary_with_the_old_keys_as_aliases(
    results: list[Any],
) -> None:
    seen = 0
    for result in results:
        if hasattr(result, "to_dict"):  # PooledEstimate is a part of SiteMetaResult's dict
            seen += _check_vocabulary(result.to_dict(), type(result).__name__)
    assert seen > 50  # the aliases are there (the plan's JSON keeps them one release)


def test_aliases_are_the_plans_keys() -> None:
    assert DICT_ALIASES == {"se": "std_error", "ci_low": "conf_low", "ci_high": "conf_high",
                            "p": "p_value"}  # fmt: skip
    assert set(DICT_ALIASES.values()) <= set(TIDY_COLUMNS)


def test_analyze_json_has_both_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dnoutcomes.cli import main

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    assert main(["analyze", str(sample), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert _check_vocabulary(document, "analyze --json") > 20
    primary = document["ancova"][0]  # the primary outcome's ANCOVA, as in the plan
    assert list(primary)[3:11] == ["estimate", "std_error", "se", "conf_low", "ci_low",
                                   "conf_high", "ci_high", "p_value"]  # fmt: skip
    assert primary["std_error"] == primary["se"] and primary["p_value"] == primary["p"]


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.stats import results as module

    outcome = doctest.testmod(module)
    assert outcome.attempted >= 2 and outcome.failed == 0
