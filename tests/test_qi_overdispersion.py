"""Overdispersed funnel limits (Spiegelhalter 2005) against hand formulas written here with
NumPy, independently of the package, at 1e-9.

The hand version below restates the analysis plan's definition step by step (section 10,
"Funnel with overdispersion"): z = (y − y₀)/s, winsorised at the 10th/90th percentiles
(sorted-order interpolation written out, not ``np.percentile``), φ = Σz²/k, w = 1/s²,
τ² = max(0, (kφ − (k − 1))/(Σw − Σw²/Σw)), limits y₀ ± z_α √(s² + τ²) (additive) or
y₀ ± z_α √φ s (multiplicative, φ > 1), back-transformed with sin² for shares.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.overdispersion import (
    mean_funnel,
    overdispersion,
    proportion_funnel,
    ratio_funnel,
)

Z975 = 1.959963984540054  # qnorm(0.975)
Z999 = 3.090232306167813  # qnorm(0.999)


def _type7(values: np.ndarray, q: float) -> float:
    x = sorted(float(v) for v in values)
    h = (len(x) - 1) * q
    lo = math.floor(h)
    return x[lo] + (h - lo) * (x[min(lo + 1, len(x) - 1)] - x[lo])


def _hand(y: np.ndarray, s: np.ndarray, y0: float) -> tuple[float, float]:
    z = (y - y0) / s
    lo, hi = _type7(z, 0.1), _type7(z, 0.9)
    zw = [min(max(v, lo), hi) for v in z]
    k = len(zw)
    phi = sum(v * v for v in zw) / k
    w = [1 / v**2 for v in s]
    sw = sum(w)
    tau2 = max(0.0, (k * phi - (k - 1)) / (sw - sum(v * v for v in w) / sw))
    return phi, tau2


# A constructed clinic: 12 therapists, responders of episodes, clearly overdispersed.
EVENTS = np.array([12, 30, 5, 20, 41, 9, 33, 18, 25, 7, 52, 14])
CASES = np.array([20, 40, 25, 41, 60, 30, 45, 22, 50, 12, 80, 35])


def test_phi_and_tau2_match_the_hand_formulas() -> None:
    p = EVENTS / CASES
    p0 = EVENTS.sum() / CASES.sum()
    y, s, y0 = np.arcsin(np.sqrt(p)), 1 / (2 * np.sqrt(CASES)), math.asin(math.sqrt(p0))
    phi, tau2 = _hand(y, s, y0)
    assert tau2 > 0  # the example is overdispersed
    est = overdispersion(y, s, target=y0)
    assert est["phi"] == pytest.approx(phi, rel=1e-9)
    assert est["tau2"] == pytest.approx(tau2, rel=1e-9)
    f = proportion_funnel(EVENTS, CASES)
    assert f.phi == pytest.approx(phi, rel=1e-9)
    assert f.tau2 == pytest.approx(tau2, rel=1e-9)
    assert f.target == pytest.approx(p0, rel=1e-12)


@pytest.mark.parametrize("method", ["additive", "multiplicative", "none"])
def test_proportion_limits_and_flags_match_the_hand_formulas(method: str) -> None:
    f = proportion_funnel(EVENTS, CASES, overdispersion=method)  # type: ignore[arg-type]
    p = EVENTS / CASES
    p0 = EVENTS.sum() / CASES.sum()
    y, s, y0 = np.arcsin(np.sqrt(p)), 1 / (2 * np.sqrt(CASES)), math.asin(math.sqrt(p0))
    phi, tau2 = _hand(y, s, y0)
    for i in range(len(CASES)):
        if method == "additive":
            width = math.sqrt(s[i] ** 2 + tau2)
        elif method == "multiplicative":
            width = s[i] * math.sqrt(phi) if phi > 1 else s[i]
        else:
            width = s[i]
        row = f.frame.iloc[i]
        for z, lo_col, hi_col in (
            (Z975, "lower_inner", "upper_inner"),
            (Z999, "lower_outer", "upper_outer"),
        ):
            lo = math.sin(min(max(y0 - z * width, 0.0), math.pi / 2)) ** 2
            hi = math.sin(min(max(y0 + z * width, 0.0), math.pi / 2)) ** 2
            assert row[lo_col] == pytest.approx(lo, rel=1e-9, abs=1e-15)
            assert row[hi_col] == pytest.approx(hi, rel=1e-9, abs=1e-15)
        zi = (y[i] - y0) / width
        assert row["z"] == pytest.approx(zi, rel=1e-9)
        assert bool(row["outside_outer"]) == (abs(zi) > Z999)
        assert bool(row["outside_inner"]) == (abs(zi) > Z975)
        # a share is outside exactly when it lies beyond the back-transformed limits
        assert bool(row["outside_inner"]) == bool(
            p[i] < row["lower_inner"] or p[i] > row["upper_inner"]
        )


def test_the_curve_is_the_same_formula_on_a_grid() -> None:
    f = proportion_funnel(EVENTS, CASES)
    p0 = EVENTS.sum() / CASES.sum()
    y0 = math.asin(math.sqrt(p0))
    for n, lo in f.curve[["precision", "lower_outer"]].iloc[::37].itertuples(index=False):
        width = math.sqrt(1 / (4 * n) + f.tau2)
        assert lo == pytest.approx(math.sin(max(y0 - Z999 * width, 0)) ** 2, rel=1e-9, abs=1e-15)
    # wider than the plain funnel everywhere
    plain = proportion_funnel(EVENTS, CASES, overdispersion="none")
    assert (f.curve["upper_outer"] >= plain.curve["upper_outer"]).all()


def test_overdispersion_flags_fewer_units_than_the_plain_funnel() -> None:
    plain = proportion_funnel(EVENTS, CASES, overdispersion="none")
    add = proportion_funnel(EVENTS, CASES)
    assert set(add.flagged) <= set(plain.flagged)
    assert len(plain.flagged) > len(add.flagged)


def test_mean_funnel_matches_the_hand_formulas() -> None:
    means = np.array([0.4, -0.9, 0.1, 0.0, 1.2, -0.2, 0.3, -1.5])
    n = np.array([30, 25, 40, 35, 28, 50, 12, 60])
    sd = 2.1
    f = mean_funnel(means, n, sd=sd, units=list("ABCDEFGH"), adjusted=True)
    s = sd / np.sqrt(n)
    phi, tau2 = _hand(means, s, 0.0)
    assert f.phi == pytest.approx(phi, rel=1e-9)
    assert f.tau2 == pytest.approx(tau2, rel=1e-9)
    width = np.sqrt(s**2 + tau2)
    np.testing.assert_allclose(f.frame["upper_outer"], Z999 * width, rtol=1e-9)
    np.testing.assert_allclose(f.frame["lower_inner"], -Z975 * width, rtol=1e-9)
    np.testing.assert_allclose(f.frame["z"], means / width, rtol=1e-9)
    assert "case-mix adjusted" in f.title


def test_ratio_funnel_matches_the_hand_formulas() -> None:
    o = np.array([10.0, 30, 12, 40, 8])
    e = np.array([14.0, 25.0, 12.5, 33.0, 11.0])
    v = np.array([8.0, 14.0, 7.0, 19.0, 6.5])
    f = ratio_funnel(o, e, v, overdispersion="multiplicative")
    s = np.sqrt(v) / e
    phi, _ = _hand(o / e, s, 1.0)
    width = s * math.sqrt(phi) if phi > 1 else s
    np.testing.assert_allclose(f.frame["upper_inner"], 1 + Z975 * width, rtol=1e-9)
    c = v.sum() / e.sum()
    g = f.curve["precision"].to_numpy()
    np.testing.assert_allclose(
        f.curve["upper_outer"],
        1 + Z999 * np.sqrt(c / g) * (math.sqrt(phi) if phi > 1 else 1),
        rtol=1e-9,
    )


def test_no_extra_spread_gives_plain_limits_and_says_so() -> None:
    # identical shares: every z is 0, φ = 0, τ² = 0
    f = proportion_funnel([10, 20, 30], [40, 80, 120])
    assert f.tau2 == 0.0
    assert any("τ² = 0" in note for note in f.notes)


def test_errors() -> None:
    with pytest.raises(RequestError, match="events"):
        proportion_funnel([5, 30], [4, 40])
    with pytest.raises(InsufficientDataError):
        proportion_funnel([0, 0], [0, 0])
    with pytest.raises(InsufficientDataError):
        overdispersion([0.1], [0.1], target=0)
    with pytest.raises(RequestError, match="overdispersion"):
        proportion_funnel([1, 2], [4, 4], overdispersion="both")  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="sd"):
        mean_funnel([0.1, 0.2], [3, 4], sd=0)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.overdispersion as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_docstring_examples_run_core() -> None:
    import doctest

    import dnoutcomes.qi._od_core as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
