"""Control-chart blocks that leave the package: small months withheld, counts as <11,
limits that vary by month withheld with them, the chart window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.qi import i_chart, p_chart
from dnoutcomes.report.charts import masked_months, spc_block


def test_masked_months_are_the_small_ones() -> None:
    n = pd.Series([0, 5, 10, 11, 40])
    assert masked_months(n, 11).tolist() == [False, True, True, False, False]


def test_p_chart_block_withholds_small_months_and_their_limits() -> None:
    responders = pd.Series([30, 4, 25, 28])
    n = pd.Series([40, 6, 35, 40])
    chart = p_chart(responders, n, periods=["2025-01", "2025-02", "2025-03", "2025-04"])
    mask = masked_months(n, 11)
    block = spc_block(chart, counts=n, mask=mask, min_cell=11)
    full = chart.to_dict()
    assert block["months"] == full["months"]
    assert block["n"] == [40, "<11", 35, 40]
    assert block["values"][1] is None and block["values"][0] == full["values"][0]
    assert block["lcl"][1] is None and block["lcl"][0] == full["lcl"][0]
    assert block["ucl"][1] is None and block["ucl"][2] == full["ucl"][2]
    # p-bar uses every month, the small one included: (30+4+25+28)/(40+6+35+40).
    assert block["centre"] == pytest.approx(87 / 121, rel=1e-12)
    assert block["signals"] == full["signals"]


def test_i_chart_block_keeps_constant_limits() -> None:
    values = pd.Series([2.0, 2.5, 1.5, 2.2])
    n = pd.Series([20, 8, 25, 30])
    chart = i_chart(values, periods=["a", "b", "c", "d"], n=n)
    block = spc_block(chart, counts=n, mask=masked_months(n, 11), min_cell=11)
    moving = np.abs(np.diff(values)).mean()
    assert block["centre"] == pytest.approx(values.mean(), rel=1e-12)
    assert block["ucl"] == pytest.approx(values.mean() + 2.66 * moving, rel=1e-12)  # a number
    assert block["values"] == [2.0, None, 1.5, 2.2]
    assert block["n"] == [20, "<11", 25, 30]
