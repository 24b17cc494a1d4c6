"""The report's indicators as MDC charts, from data/sample: the same numbers as the plain
control charts of qi_charts, plus icons."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dnoutcomes
from dnoutcomes.errors import RequestError
from dnoutcomes.qi import qi_charts
from dnoutcomes.qi.mdc import mdc_chart
from dnoutcomes.qi.mdc_indicators import mdc_indicators
from dnoutcomes.qi.mdc_rules import assurance_icon

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dnoutcomes.load(SAMPLE)


def test_same_numbers_as_the_plain_charts(sample: Any) -> None:
    ind = mdc_indicators(sample, targets={"responders": 0.9, "adverse_events": 50.0})
    plain = qi_charts(sample)
    for key, ref in (
        ("mean_improvement", plain.i_chart),
        ("responders", plain.p_chart),
        ("adverse_events", plain.u_chart),
    ):
        chart = ind.charts[key]
        assert ref is not None
        for col in ("value", "centre", "lcl", "ucl"):
            np.testing.assert_allclose(chart.frame[col], ref.frame[col], rtol=1e-12, err_msg=key)
    last = plain.p_chart.frame.iloc[-1]
    expect = assurance_icon(0.9, last["lcl"], last["ucl"], improvement="increase")
    assert ind.charts["responders"].assurance_icon == expect
    assert ind.charts["adverse_events"].assurance_icon == "consistent_pass"  # 50 > ucl
    assert list(ind.summary["indicator"]) == ["mean_improvement", "responders", "adverse_events"]
    payload = ind.to_dict()
    assert payload["summary"][2]["assurance_icon"] == "consistent_pass"


def test_phases_highlight_and_errors(sample: Any) -> None:
    ind = mdc_indicators(
        sample, phases={"2025-01": "after change"}, highlight=("2025-06", "2026-06")
    )
    chart = ind.charts["mean_improvement"]
    assert chart.phases[1] == ("after change", "2025-01")
    assert chart.frame["highlight"].sum() == 6  # June to November 2025: the data end there
    with pytest.raises(RequestError, match="waiting"):
        mdc_indicators(sample, targets={"waiting": 1.0})


def test_u_kind_matches_the_rate() -> None:
    events = [3, 5, 2, 4, 6, 3, 2, 5, 4, 3, 2, 4]
    sessions = [40, 55, 38, 50, 61, 44, 39, 52, 47, 41, 36, 49]
    chart = mdc_chart(events, n=sessions, kind="u", per=100, improvement="decrease")
    np.testing.assert_allclose(
        chart.frame["value"], 100 * np.array(events) / np.array(sessions), rtol=1e-12
    )
    assert chart.frame["chart"].eq("u").all()


@pytest.mark.slow
def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.mdc_indicators as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
