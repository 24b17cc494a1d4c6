"""Control charts against R qicharts2's qic() output (Montgomery's examples) and
hand-computed limits of the analysis plan."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi import ControlChart, i_chart, mr_chart, p_chart, u_chart

QIC = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "external" / "qicharts2"
RTOL = 1e-9
QIC_I_FACTOR = 3 / 1.128  # qicharts2: sigma = mean MR / 1.128, limits at 3 sigma


def _fixture(name: str) -> pd.DataFrame:
    path = QIC / f"{name}.csv"
    if not path.is_file():
        pytest.fail(f"reference fixture missing: {path}")
    return pd.read_csv(path)


def _check_against_qic(chart: ControlChart, qic: pd.DataFrame) -> None:
    frame = chart.frame
    for ours, theirs in [("value", "y"), ("centre", "cl"), ("lcl", "lcl"), ("ucl", "ucl")]:
        np.testing.assert_allclose(
            frame[ours].to_numpy(), qic[theirs].to_numpy(float), rtol=RTOL, atol=0, err_msg=ours
        )
    np.testing.assert_array_equal(
        frame["outside_limits"].to_numpy(), qic["sigma.signal"].astype(bool).to_numpy()
    )
    first = qic.iloc[0]
    assert chart.runs.n_useful == first["n.useful"]
    assert chart.signals.longest_run == first["longest.run"]
    assert chart.signals.longest_run_limit == first["longest.run.max"]
    assert chart.signals.crossings == first["n.crossings"]
    assert chart.signals.crossings_limit == first["n.crossings.min"]
    assert chart.signals.runs_signal == bool(first["runs.signal"])


def _excluded(qic: pd.DataFrame) -> list[int]:
    return [int(i) for i in np.flatnonzero(qic["include"].to_numpy() == 0)]


@pytest.mark.parametrize("screen", [False, True])
def test_i_chart_reproduces_qicharts2(screen: bool) -> None:
    # Montgomery ex 6.5.3: limits frozen on the first 20 points (qic(freeze = 20)).
    qic = _fixture("ex_6.5_3")
    chart = i_chart(
        qic["y.sum"],
        freeze=int(qic["baseline"].sum()),
        mr_factor=QIC_I_FACTOR,
        screen_moving_ranges=screen,
    )
    _check_against_qic(chart, qic)
    assert chart.signals.outside_limits == ("39", "40")


def test_mr_chart_reproduces_qicharts2() -> None:
    qic = _fixture("ex_6.5_4")
    chart = mr_chart(qic["y.sum"], freeze=int(qic["baseline"].sum()))
    _check_against_qic(chart, qic)
    assert math.isnan(chart.frame["value"].iloc[0])


def test_p_chart_constant_n_two_parts_with_exclusions() -> None:
    # Montgomery ex 7.1.5: qic(part = 30, exclude = c(15, 23)); each part is its own chart.
    qic = _fixture("ex_7.1_5")
    for _, part in qic.groupby("part"):
        part = part.reset_index(drop=True)
        chart = p_chart(part["y.sum"], part["n"], exclude=_excluded(part))
        _check_against_qic(chart, part)


def test_p_chart_varying_n() -> None:
    qic = _fixture("tbl_7.4_1")
    chart = p_chart(qic["y.sum"], qic["n"])
    _check_against_qic(chart, qic)
    # p-bar as printed in Montgomery table 7.4: 234 / 2450
    assert chart.frame["centre"].iloc[0] == pytest.approx(234 / 2450, rel=RTOL)
    assert isinstance(chart.to_dict()["ucl"], list)


def test_u_chart_with_unit_exposure_is_the_c_chart() -> None:
    qic = _fixture("ex_7.3_3")
    chart = u_chart(
        qic["y.sum"],
        np.ones(len(qic)),
        per=1,
        freeze=int(qic["baseline"].sum()),
        exclude=_excluded(qic),
    )
    _check_against_qic(chart, qic)
    assert chart.signals.runs_signal  # 14 crossings < 16


def test_i_chart_plan_rule_hand_computed() -> None:
    chart = i_chart([1, 3, 2, 6, 4])
    # centre 16/5 = 3.2; moving ranges 2, 1, 4, 2 -> mean 2.25; 2.66 * 2.25 = 5.985
    frame = chart.frame
    assert frame["centre"].iloc[0] == pytest.approx(3.2, rel=1e-12)
    assert frame["ucl"].iloc[0] == pytest.approx(9.185, rel=1e-12)
    assert frame["lcl"].iloc[0] == pytest.approx(-2.785, rel=1e-12)
    assert not frame["outside_limits"].any()


def test_i_chart_plan_differs_from_screened_qicharts2() -> None:
    # One large jump: moving ranges 2,1,2,1,28,28,1,2,1 (mean 66/9); 3.267 * 66/9 = 23.96,
    # so qicharts2's screening drops both 28s and keeps a mean of 10/7.
    values = [10, 12, 11, 13, 12, 40, 12, 11, 13, 12]
    centre = sum(values) / 10
    plan = i_chart(values)
    screened = i_chart(values, mr_factor=QIC_I_FACTOR, screen_moving_ranges=True)
    assert plan.frame["ucl"].iloc[0] == pytest.approx(centre + 2.66 * 66 / 9, rel=1e-12)
    assert screened.frame["ucl"].iloc[0] == pytest.approx(centre + QIC_I_FACTOR * 10 / 7, rel=1e-12)
    # plan: 14.6 ± 19.51, only the 40 is out; screened: 14.6 ± 3.80, the 10 is out too.
    assert plan.signals.outside_limits == ("6",)
    assert screened.signals.outside_limits == ("1", "6")
    assert any("left out of the limits" in note for note in screened.notes)


def test_i_chart_bridges_missing_periods() -> None:
    chart = i_chart([1.0, np.nan, 3.0, 2.0], n=[4, 0, 5, 6])
    # base values 1, 3, 2: centre 2, moving ranges 2, 1 -> 1.5
    assert chart.frame["ucl"].iloc[0] == pytest.approx(2 + 2.66 * 1.5)
    out = chart.to_dict()
    assert out["values"] == [1.0, None, 3.0, 2.0]
    assert out["n"] == [4, 0, 5, 6]
    assert any("without data" in note for note in chart.notes)


def test_p_chart_hand_computed_and_clipped() -> None:
    chart = p_chart([2, 5, 0], [10, 20, 0])
    p = 7 / 30
    frame = chart.frame
    assert frame["centre"].iloc[0] == pytest.approx(p)
    assert frame["ucl"].iloc[0] == pytest.approx(p + 3 * math.sqrt(p * (1 - p) / 10))
    assert frame["lcl"].iloc[0] == 0.0  # p - 3 sd < 0 is clipped
    assert math.isnan(frame["value"].iloc[2]) and math.isnan(frame["ucl"].iloc[2])


def test_u_chart_per_100_hand_computed() -> None:
    chart = u_chart([1, 3, 0], [50, 100, 25], per=100)
    u = 4 / 175
    frame = chart.frame
    np.testing.assert_allclose(frame["value"], [2.0, 3.0, 0.0])
    assert frame["centre"].iloc[0] == pytest.approx(100 * u)
    assert frame["ucl"].iloc[1] == pytest.approx(100 * (u + 3 * math.sqrt(u / 100)))
    assert frame["lcl"].iloc[1] == 0.0
    assert chart.frame["n"].tolist() == [50, 100, 25]


def test_errors_are_clear() -> None:
    with pytest.raises(InsufficientDataError, match="at least 2 baseline points"):
        i_chart([1.0, np.nan])
    with pytest.raises(RequestError, match="events cannot exceed n; got 5 events of 3"):
        p_chart([5], [3])
    with pytest.raises(RequestError, match="one value per period each"):
        p_chart([1, 2], [3])
    with pytest.raises(RequestError, match="whole numbers"):
        p_chart([0.5], [3])
    with pytest.raises(RequestError, match="freeze"):
        i_chart([1, 2, 3], freeze=5)
    with pytest.raises(RequestError, match="exclude"):
        i_chart([1, 2, 3], exclude=[3])
    with pytest.raises(RequestError, match="one label per point"):
        i_chart([1, 2, 3], periods=["a"])
    with pytest.raises(InsufficientDataError, match="no exposure"):
        u_chart([0, 0], [0, 0])
    with pytest.raises(RequestError, match="per must be a positive"):
        u_chart([1], [1], per=0)
    assert issubclass(InsufficientDataError, ValueError)


@pytest.mark.slow
def test_qi_never_imports_matplotlib() -> None:
    code = (
        "import sys, dnoutcomes.qi, dnoutcomes.qi.charts, dnoutcomes.qi.chart_result, "
        "dnoutcomes.qi.runs, "
        "dnoutcomes.qi.funnel, dnoutcomes.qi.suppress, dnoutcomes.qi.indicators; "
        "sys.exit(1 if 'matplotlib' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 2)), min_size=3, max_size=30
    ),
    shift=st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 1)),
)
def test_i_chart_shift_moves_centre_and_limits_only(values: list[float], shift: float) -> None:
    if len(set(values)) < 2:
        return
    a = i_chart(values)
    b = i_chart([v + shift for v in values])
    for col in ("centre", "lcl", "ucl"):
        np.testing.assert_allclose(b.frame[col], a.frame[col] + shift, atol=1e-9)
    width = a.frame["ucl"].iloc[0] - a.frame["lcl"].iloc[0]
    assert width == pytest.approx(2 * 2.66 * np.abs(np.diff(values)).mean(), abs=1e-9)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.charts as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0
