"""G chart and Bernoulli CUSUM against their published formulas, written out here.

G chart (Benneyan 2001): with ḡ the mean number of event-free sessions between events,
p̂ = 1/(ḡ + 1); the number between is geometric on 0, 1, 2, … (SciPy's ``geom`` is the
same law shifted by one: Y = g + 1), so the 3-sigma limits are ḡ ± 3 SD(Y) and the
probability limits solve P(g ≤ x) = 1 − (1 − p̂)^(x + 1) = 0.00135 and 0.99865.

Bernoulli CUSUM (Reynolds & Stoumbos 1999): S_t = max(0, S_{t−1} + x_t ln(p₁/p₀) +
(1 − x_t) ln((1 − p₁)/(1 − p₀))), and, in events' units, B_t = max(0, B_{t−1} + x_t − γ)
with γ = ln((1 − p₀)/(1 − p₁)) / ln(p₁(1 − p₀)/(p₀(1 − p₁))), B_t = S_t / ln(p₁(1 − p₀) /
(p₀(1 − p₁))).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest
from scipy import stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.rare import bernoulli_cusum, g_between, g_chart, session_events
from dnoutcomes.sample import SampleParams, generate

G = [900, 1500, 400, 2200, 1100, 30, 3100, 0, 650]


def test_g_chart_limits_match_the_geometric_law() -> None:
    chart = g_chart(G)
    gbar = sum(G) / len(G)
    p = 1 / (gbar + 1)
    assert chart.p_hat == pytest.approx(p, rel=1e-12)
    row = chart.frame.iloc[0]
    assert row["centre"] == pytest.approx(gbar, rel=1e-12)
    # the probability limits put 0.00135 in each tail of the continuous geometric CDF
    assert 1 - (1 - p) ** (row["ucl_probability"] + 1) == pytest.approx(0.99865, rel=1e-9)
    assert 1 - (1 - p) ** (row["lcl_probability"] + 1) == pytest.approx(0.00135, rel=1e-9)
    # and agree with SciPy's discrete quantile (Y = g + 1) once rounded up
    assert math.ceil(row["ucl_probability"]) == stats.geom.ppf(0.99865, p) - 1
    # 3-sigma: ḡ ± 3 SD of the geometric law, lower limit clipped at 0
    sd = stats.geom(p).std()
    assert row["ucl_3sigma"] == pytest.approx(gbar + 3 * sd, rel=1e-9)
    assert row["ucl_3sigma"] == pytest.approx(gbar + 3 * math.sqrt(gbar * (gbar + 1)), rel=1e-12)
    assert row["lcl_3sigma"] == 0.0
    # two events in consecutive sessions: below the probability lower limit only
    assert chart.frame["signal"].tolist()[7] == "sooner"
    assert not g_chart(G, limits="3sigma").frame["outside_limits"].iloc[7]


def test_g_chart_freeze_and_errors() -> None:
    chart = g_chart(G, freeze=4)
    assert chart.frame["centre"].iloc[0] == pytest.approx(sum(G[:4]) / 4)
    assert chart.frame["baseline"].sum() == 4
    with pytest.raises(InsufficientDataError):
        g_chart([5])
    with pytest.raises(RequestError):
        g_chart([5, -1])
    with pytest.raises(RequestError):
        g_chart(G, limits="exact")  # type: ignore[arg-type]


def test_g_between() -> None:
    g, tail = g_between([0, 0, 1, 0, 2, 0, 0, 0])
    assert g.tolist() == [2, 1, 0] and tail == 3
    g, tail = g_between([1, 0, 0])
    assert g.tolist() == [0] and tail == 2
    g, tail = g_between([0, 0])
    assert g.size == 0 and tail == 2


def test_session_events_from_a_dataset() -> None:
    params = replace(
        SampleParams(), ae_serious=MappingProxyType({"pneumothorax": 0.01, "infection": 0.005})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = generate(episodes=200, seed=4, params=params).to_dataset()
    frame = session_events(ds)
    ae = ds.adverse_events
    dn = ds.sessions.loc[ds.sessions["dn_performed"].astype(bool)]
    serious = ae.loc[(ae["severity"] == "serious") & ae["session_id"].isin(dn["session_id"])]
    assert frame["events"].sum() == len(serious) > 0
    assert len(frame) == len(dn)
    assert frame["session_date"].is_monotonic_increasing
    g, _ = g_between(frame["events"])
    assert len(g) == len(serious)
    only = session_events(ds, types=("pneumothorax",))
    assert only["events"].sum() == int((serious["type"] == "pneumothorax").sum())


def _cusum(x: list[int], p0: float, p1: float, h: float, reset: bool) -> list[float]:
    s, out = 0.0, []
    for xi in x:
        s = max(0.0, s + (math.log(p1 / p0) if xi else math.log((1 - p1) / (1 - p0))))
        out.append(s)
        if reset and s >= h:
            s = 0.0
    return out


def test_cusum_matches_the_recursion_and_reynolds_stoumbos() -> None:
    rng = np.random.default_rng(16)
    x = (rng.random(3000) < 0.004).astype(int).tolist()
    p0, p1, h = 0.002, 0.006, 3.0
    chart = bernoulli_cusum(x, p0=p0, p1=p1, h=h)
    np.testing.assert_allclose(chart.frame["statistic"], _cusum(x, p0, p1, h, True), rtol=1e-12)
    assert chart.frame["signal"].tolist() == [s >= h for s in _cusum(x, p0, p1, h, True)]
    # Reynolds & Stoumbos' form in events' units, without restarts
    free = bernoulli_cusum(x, p0=p0, p1=p1, h=1e9, reset=False)
    scale = math.log(p1 * (1 - p0) / (p0 * (1 - p1)))
    gamma = math.log((1 - p0) / (1 - p1)) / scale
    assert free.gamma == pytest.approx(gamma, rel=1e-12)
    b, bs = 0.0, []
    for xi in x:
        b = max(0.0, b + xi - gamma)
        bs.append(b)
    np.testing.assert_allclose(free.frame["statistic"] / scale, bs, rtol=1e-9, atol=1e-12)


def test_cusum_odds_ratio_and_errors() -> None:
    c = bernoulli_cusum([0, 1, 0], p0=0.01, odds_ratio=3.0, h=2.0)
    odds = 3.0 * 0.01 / 0.99
    assert c.p1 == pytest.approx(odds / (1 + odds), rel=1e-12)
    assert c.to_dict()["events"] == 1
    with pytest.raises(RequestError, match="p1"):
        bernoulli_cusum([0, 1], p0=0.1, p1=0.05, h=1.0)
    with pytest.raises(RequestError, match="h"):
        bernoulli_cusum([0, 1], p0=0.1, p1=0.2, h=0.0)
    with pytest.raises(RequestError, match="p0"):
        bernoulli_cusum([0, 1], p0=0.0, p1=0.2, h=1.0)


@pytest.mark.slow
def test_new_qi_modules_never_import_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dnoutcomes.qi.casemix, dnoutcomes.qi.benchmark, "
        "dnoutcomes.qi.overdispersion, dnoutcomes.qi.mdc, dnoutcomes.qi.mdc_rules, "
        "dnoutcomes.qi._od_core, dnoutcomes.qi._casemix_design, "
        "dnoutcomes.qi.mdc_indicators, dnoutcomes.qi.rare; "
        "sys.exit(1 if 'matplotlib' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.rare as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
