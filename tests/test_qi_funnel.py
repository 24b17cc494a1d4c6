"""Funnel limits: a hand-computed case, the exact binomial test they must agree with for
every count, an independent interpolation, and the normal limits they tend to."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dnoutcomes.errors import InsufficientDataError, RequestError
from dnoutcomes.qi.funnel import funnel_chart, funnel_limits


def test_hand_computed_binomial_10_half() -> None:
    # Bin(10, .5): F(1) = 11/1024 < .025 <= F(2) = 56/1024, so r = 2 and
    # alpha = (56/1024 - .025) / (45/1024) = 30.4/45; lower = (2 - alpha)/10 = 59.6/450.
    limits = funnel_limits([10], target=0.5, level=0.95)
    assert limits["lower"].iloc[0] == pytest.approx(59.6 / 450, rel=1e-12)
    assert limits["upper"].iloc[0] == pytest.approx(1 - 59.6 / 450, rel=1e-12)
    assert list(limits.columns) == ["n", "lower", "upper"]


@pytest.mark.parametrize("target", [0.08, 0.37, 0.5, 0.81])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_outside_exactly_when_the_exact_binomial_tail_is_small(target: float, level: float) -> None:
    p = (1 - level) / 2
    ns = np.arange(1, 61)
    limits = funnel_limits(ns, target=target, level=level)
    for n, lower, upper in limits.itertuples(index=False):
        x = np.arange(n + 1)
        share = x / n
        below = stats.binom.cdf(x, n, target) < p  # P(X <= x) < p
        above = stats.binom.sf(x - 1, n, target) < p  # P(X >= x) < p
        np.testing.assert_array_equal(share < lower, below, err_msg=f"n={n} lower")
        np.testing.assert_array_equal(share > upper, above, err_msg=f"n={n} upper")


def test_lower_limit_is_the_inverse_of_the_interpolated_cdf() -> None:
    # Independent: invert the piecewise-linear CDF through (k, F(k)), with (-1, 0).
    target, p = 0.3, 0.025
    for n in (7, 23, 80, 301):
        k = np.arange(-1, n + 1)
        cdf = stats.binom.cdf(k, n, target)
        expected = max(float(np.interp(p, cdf, k)) / n, 0.0)
        got = funnel_limits([n], target=target)["lower"].iloc[0]
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_large_n_tends_to_normal_limits() -> None:
    n, target = 200_000, 0.3
    limits = funnel_limits([n], target=target, level=0.998)
    half = stats.norm.ppf(0.999) * np.sqrt(target * (1 - target) / n)
    assert limits["lower"].iloc[0] == pytest.approx(target - half, rel=1e-4)
    assert limits["upper"].iloc[0] == pytest.approx(target + half, rel=1e-4)


def test_limits_stay_in_unit_interval_and_degenerate_targets() -> None:
    limits = funnel_limits([1, 2, 3, 5], target=0.9, level=0.998)
    assert limits["lower"].between(0, 1).all() and limits["upper"].between(0, 1).all()
    assert (limits["upper"] == 1).all()
    flat = funnel_limits([4, 9], target=0.0)
    assert (flat["lower"] == 0).all() and (flat["upper"] == 0).all()


def test_funnel_chart_frame_and_positions() -> None:
    # Overall share 120/300 = 0.4. Therapist "low" 1/40 is far below; "high" 35/50 far above.
    events = [1, 35, 20, 64, 0]
    n = [40, 50, 50, 160, 0]
    chart = funnel_chart(events, n, units=["low", "high", "mid", "big", "none"])
    assert chart.target == pytest.approx(120 / 300)
    frame = chart.frame.set_index("unit")
    assert "none" not in frame.index
    assert any("without cases" in note for note in chart.notes)
    assert frame.loc["low", "position"] == "below outer"
    assert frame.loc["high", "position"] == "above outer"
    assert frame.loc["mid", "position"] == "within"
    assert frame.loc["big", "position"] == "within"
    # the unit's limits equal the curve's at its n
    curve = chart.curve.set_index("n")
    assert frame.loc["mid", "upper_outer"] == curve.loc[50, "upper_outer"]
    assert list(curve.index) == list(range(1, 161))
    out = chart.to_dict()
    assert out["units"][0]["unit"] == "low" and out["inner_level"] == 0.95


def test_funnel_chart_errors() -> None:
    with pytest.raises(RequestError, match="0 <= events <= n"):
        funnel_chart([5], [3])
    with pytest.raises(RequestError, match="0 < inner_level < outer_level < 1"):
        funnel_chart([1], [3], inner_level=0.998, outer_level=0.95)
    with pytest.raises(InsufficientDataError, match="no unit has a case"):
        funnel_chart([0], [0])
    with pytest.raises(RequestError, match="share from 0 to 1"):
        funnel_limits([3], target=40)
    with pytest.raises(RequestError, match="at least 1"):
        funnel_limits([0], target=0.4)


def test_docstring_examples_run() -> None:
    import doctest

    import dnoutcomes.qi.funnel as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_large_funnel_curve_is_a_grid_exact_at_every_point_and_every_unit() -> None:
    # a network site of 120,000 cases: the curve is every n to 400, then log-spaced
    sizes = np.array([35, 2_000, 57_321, 120_000])
    events = np.round(sizes * np.array([0.5, 0.62, 0.6, 0.61])).astype(int)
    chart = funnel_chart(events, sizes, units=["a", "b", "c", "d"])
    curve = chart.curve
    n = curve["n"].to_numpy()
    assert len(curve) <= 400 + 200 + len(sizes) + 1
    assert list(n[:400]) == list(range(1, 401)) and n[-1] == 120_000
    assert np.all(np.diff(n) > 0) and set(sizes) <= set(n)
    # every row holds the exact limits at its n (the hand formula of funnel_limits)
    for level, which in ((0.95, "inner"), (0.998, "outer")):
        exact = funnel_limits(n, target=chart.target, level=level)
        np.testing.assert_array_equal(curve[f"lower_{which}"], exact["lower"])
        np.testing.assert_array_equal(curve[f"upper_{which}"], exact["upper"])
        # each unit's limits are the curve's at its n
        at = curve.set_index("n").loc[sizes]
        np.testing.assert_array_equal(chart.frame[f"upper_{which}"], at[f"upper_{which}"])
        # between grid points the drawn (linear) curve stays within 1e-4 of the exact limits
        every = np.arange(401, 120_001, 37)
        drawn = np.interp(every, n, curve[f"upper_{which}"])
        truth = funnel_limits(every, target=chart.target, level=level)["upper"]
        assert np.max(np.abs(drawn - truth)) < 1e-4
