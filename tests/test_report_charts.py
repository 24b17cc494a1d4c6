"""Control-chart blocks that leave the package: small months withheld, counts as <11,
limits that vary by month withheld with them, the chart window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.qi import i_chart, p_chart
from dnoutcomes.report.charts import masked_months, masked_shares, spc_block


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


def test_a_share_is_withheld_when_its_responders_or_non_responders_are_few() -> None:
    # 40 episodes with 33 responders: a share of 82.5 % gives the 7 non-responders away.
    n = pd.Series([40, 40, 40, 6, 40, 0])
    responders = pd.Series([20, 33, 5, 3, 40, 0])
    assert masked_shares(n, responders, 11).tolist() == [False, True, True, True, False, False]
    chart = p_chart(responders[:5], n[:5], periods=["a", "b", "c", "d", "e"])
    block = spc_block(
        chart, counts=n[:5], mask=masked_shares(n[:5], responders[:5], 11), min_cell=11
    )
    assert block["values"][0] == pytest.approx(0.5) and block["values"][4] == pytest.approx(1.0)
    assert block["values"][1:4] == [None, None, None]


@pytest.mark.slow
def test_no_p_chart_point_of_the_report_reveals_a_small_count() -> None:
    import warnings
    from pathlib import Path

    import dnoutcomes
    from dnoutcomes.report.build import build_report

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        data = dnoutcomes.load(sample)
    report = build_report(data, period="2025-Q3", run_time="2025-10-01", figures=False)
    block = report.to_dict()["spc"]["p_chart"]
    shown = [
        (value, n)
        for value, n in zip(block["values"], block["n"], strict=True)
        if value is not None
    ]
    assert shown, "some months are large enough to show"
    for share, n in shown:
        responders = round(share * n)
        assert responders == 0 or responders >= 11, (share, n)
        assert n - responders == 0 or n - responders >= 11, (share, n)


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


@pytest.mark.slow
def test_data_sample_shift_is_flagged_in_the_report() -> None:
    import json
    import warnings
    from pathlib import Path

    import dnoutcomes
    from dnoutcomes.report.build import build_report

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not (sample / "truth.json").is_file():
        pytest.skip("data/sample has not been generated")
    shift = json.loads((sample / "truth.json").read_text(encoding="utf-8"))["shift"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        data = dnoutcomes.load(sample)
    report = build_report(data, period="2025-Q3", run_time="2025-10-01", figures=False)
    signals = report.extra["spc_by_site"][shift["site_id"]]

    def flagged(block: dict[str, object]) -> bool:
        run, run_limit = block["longest_run"], block["longest_run_limit"]
        crossings, crossing_limit = block["crossings"], block["crossings_limit"]
        late = [m for m in block["outside_limits"] if m >= shift["from_month"]]  # type: ignore[attr-defined]
        return bool(late) or run > run_limit or crossings < crossing_limit  # type: ignore[operator]

    assert flagged(signals["i_chart"]) or flagged(signals["p_chart"])
    words = " ".join(p.text for p in report.section("control_charts").paragraphs)
    assert f"Site {shift['site_id']}: " in words


def test_site_charts_equal_those_of_the_site_alone(clinic_a_dataset: Any) -> None:
    # the per-site charts pick a site's episodes by site codes built once per dataset and
    # read the network's shared per-episode tables; every site's frames must be those of
    # the site's own export (its rows selected by text, no site filter in the charts)
    from dnoutcomes.qi.indicators import qi_charts
    from dnoutcomes.report.build import select_site

    sites = sorted(clinic_a_dataset.episodes["site_id"].unique())
    assert len(sites) >= 2
    for site in sites:
        network = qi_charts(clinic_a_dataset, site=site)
        alone = qi_charts(select_site(clinic_a_dataset, site))
        pd.testing.assert_frame_equal(network.monthly, alone.monthly)
        pd.testing.assert_frame_equal(network.therapists, alone.therapists)
        assert network.adverse_events is not None and alone.adverse_events is not None
        pd.testing.assert_frame_equal(network.adverse_events, alone.adverse_events)
        assert network.episodes_used == alone.episodes_used


@pytest.mark.slow
def test_funnel_is_not_drawn_when_a_share_would_give_a_small_count_away() -> None:
    import warnings
    from pathlib import Path

    import dnoutcomes
    from dnoutcomes.report.build import build_report

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dnoutcomes.DataQualityWarning)
        data = dnoutcomes.load(sample)

    def funnel_words(min_cell: int) -> str:
        report = build_report(
            data,
            period="2025-Q3",
            run_time="2025-10-01",
            figures=False,
            min_cell=min_cell,
            benchmark="raw",
        )
        return " ".join(p.text for p in report.section("funnel").paragraphs)

    # Every therapist of data/sample has at least 11 episodes, responders and non-responders
    # over the chart window; with a threshold of 20 some non-responder counts are small.
    assert "not drawn" not in funnel_words(11)
    assert (
        "The funnel plot, the overall share and the therapists outside the limits are not shown"
        in funnel_words(20)
    )
