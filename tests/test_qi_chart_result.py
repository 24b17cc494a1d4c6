"""The control-chart result: its tidy frame, the report's JSON block, text and HTML views."""

from __future__ import annotations

import pandas as pd
import pytest

from dnoutcomes.qi import i_chart, p_chart
from dnoutcomes.qi.chart_result import FRAME_COLUMNS


def test_to_dict_is_the_report_block() -> None:
    months = pd.period_range("2025-01", periods=4, freq="M")
    chart = p_chart([3, 4, 5, 20], [10, 10, 10, 20], periods=months, label="responders")
    out = chart.to_dict()
    assert list(out) == ["months", "values", "n", "centre", "lcl", "ucl", "signals"]
    assert out["months"] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    assert out["n"] == [10, 10, 10, 20]
    assert out["centre"] == pytest.approx(32 / 50)
    assert isinstance(out["ucl"], list) and len(out["ucl"]) == 4
    assert list(out["signals"]) == [
        "outside_limits",
        "longest_run",
        "longest_run_limit",
        "crossings",
        "crossings_limit",
    ]
    assert out["signals"]["outside_limits"] == ["2025-04"]  # 100 % > 0.64 + 3 sd(20) = 0.96
    constant = i_chart([1, 2, 3], periods=[pd.Timestamp("2025-01-31")] * 3).to_dict()
    assert isinstance(constant["ucl"], float) and constant["months"][0] == "2025-01"


def test_result_object_behaviour() -> None:
    chart = i_chart([1, 3, 2, 6, 4], label="mean improvement")
    frame = chart.to_frame()
    assert (
        list(frame.columns)
        == list(FRAME_COLUMNS)
        == [
            "period",
            "value",
            "n",
            "centre",
            "lcl",
            "ucl",
            "outside_limits",
            "baseline",
            "included",
        ]
    )
    frame.loc[0, "value"] = 99
    assert chart.frame["value"].iloc[0] == 1
    assert "mean improvement" in str(chart) and "<table" in chart._repr_html_()
    with pytest.raises(AttributeError):
        chart.label = "x"  # type: ignore[misc]
