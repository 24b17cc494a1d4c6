"""The descriptive sections' pieces: the headline frame, plain numbers, the builders' order."""

from __future__ import annotations

import numpy as np

from dnoutcomes.report.headline import Headline
from dnoutcomes.report.sections import _headline_frame, _plain_number, all_builders


def test_headline_frame_counts_and_shares() -> None:
    now = Headline(40, 6.0, 30, 21, 2.5, 100, 25, 28)
    then = Headline(0, float("nan"), 0, 0, float("nan"), 0, None, 0)
    frame = _headline_frame((now, then))
    assert frame.loc["this_period", "responder_pct"] == 70.0
    assert frame.loc["this_period", "complete_pct"] == 70.0
    # One period without the adverse-events table: no rate for either period.
    assert np.isnan(frame.loc["this_period", "ae_rate"])
    assert frame["episodes"].dtype == np.int64
    assert np.isnan(frame.loc["previous_period", "responder_pct"])


def test_plain_numbers() -> None:
    assert _plain_number(np.float64(72.0), "int") == 72
    assert isinstance(_plain_number(np.float64(72.0), "int"), int)
    assert _plain_number(np.float64(2.5), "f1") == 2.5
    assert _plain_number("[c]", "int") == "[c]"


def test_builders_follow_the_issue_order() -> None:
    assert [key for key, _, _ in all_builders()] == [
        "summary",
        "headline",
        "data_quality",
        "flow",
        "caseload",
        "table1",
        "comparisons",
        "safety",
        "control_charts",
        "funnel",
        "benchmarking",
    ]
