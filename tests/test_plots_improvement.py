"""Improvement box plot and responder curves draw every episode and the result's shares."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.improvement import jitter_offsets, plot_improvement, plot_responder_curves


@pytest.fixture
def pairs(rng: np.random.Generator) -> pd.DataFrame:
    improvement = np.round(rng.normal(2.5, 2.0, 50))
    improvement[[3, 17]] = np.nan
    return pd.DataFrame(
        {"arm": np.repeat(["dn_only", "dn_manual_exercise"], [20, 30]), "improvement": improvement}
    )


def _by_gid(ax: object, gid: str) -> object:
    (line,) = [ln for ln in ax.lines if ln.get_gid() == gid]  # type: ignore[attr-defined]
    return line


def test_every_episode_is_a_point_at_its_improvement(pairs: pd.DataFrame) -> None:
    ax = plot_improvement(pairs, measure="nprs", timepoint="discharge")
    for i, arm in enumerate(["dn_only", "dn_manual_exercise"]):
        expected = pairs.loc[(pairs["arm"] == arm) & pairs["improvement"].notna(), "improvement"]
        line = _by_gid(ax, f"points:{arm}")
        np.testing.assert_array_equal(line.get_ydata(), expected)  # type: ignore[attr-defined]
        x = np.asarray(line.get_xdata())  # type: ignore[attr-defined]
        assert np.all(np.abs(x - i) <= 0.25)
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "Dry needling alone\n(n = 18)",
        "Dry needling + manual &\nexercise therapy\n(n = 30)",
    ]
    mcid = _by_gid(ax, "mcid")
    assert list(mcid.get_ydata()) == [2.0, 2.0]  # type: ignore[attr-defined]
    assert ax.get_ylabel() == "Improvement in NPRS (points)\n(higher = better)"


def test_medians_drawn_are_the_arms_medians(pairs: pd.DataFrame) -> None:
    ax = plot_improvement(pairs, measure="nprs")
    medians = [ln for ln in ax.lines if ln.get_color() == "black" and ln.get_linewidth() == 1.6]
    got = [float(np.mean(ln.get_ydata())) for ln in medians]
    expected = pairs.dropna().groupby("arm", sort=False)["improvement"].median().to_list()
    assert got == expected


def test_mcid_override_and_measure_without_mcid(pairs: pd.DataFrame) -> None:
    ax = plot_improvement(pairs, measure="nprs", mcid=3.0)
    assert list(_by_gid(ax, "mcid").get_ydata()) == [3.0, 3.0]  # type: ignore[attr-defined]
    ax = plot_improvement(pairs, measure="schober_cm")
    assert not [ln for ln in ax.lines if ln.get_gid() == "mcid"]


def test_an_arm_without_values_is_refused(pairs: pd.DataFrame) -> None:
    with pytest.raises(RequestError, match="no episode of usual_care"):
        plot_improvement(pairs, arms=("dn_only", "usual_care"))


def test_responder_curves_are_the_results_shares_in_percent() -> None:
    distribution = pd.DataFrame(
        {
            "arm": ["dn_only"] * 3 + ["dn_manual_exercise"] * 3,
            "improvement": [0.0, 2.0, 4.0] * 2,
            "share": [1.0, 0.5, 0.1, 1.0, 0.6, 0.25],
            "n": [10] * 3 + [20] * 3,
        }
    )
    result = SimpleNamespace(
        distribution=distribution, measure="nprs", threshold=2.0, definition="points"
    )
    ax = plot_responder_curves(result)
    lines = {ln.get_label(): ln for ln in ax.lines}
    reference = lines["Dry needling alone (n = 10)"]
    np.testing.assert_array_equal(reference.get_xdata(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(reference.get_ydata(), [100.0, 50.0, 10.0])
    assert reference.get_drawstyle() == "steps-pre"
    comparator = lines["Dry needling + manual & exercise therapy (n = 20)"]
    np.testing.assert_array_equal(comparator.get_ydata(), [100.0, 60.0, 25.0])
    assert list(_by_gid(ax, "mcid").get_xdata()) == [2.0, 2.0]  # type: ignore[attr-defined]
    assert ax.get_ylim() == (0.0, 102.0)
    percent = SimpleNamespace(
        distribution=distribution, measure="nprs", threshold=30.0, definition="percent"
    )
    ax = plot_responder_curves(percent)
    assert not [ln for ln in ax.lines if ln.get_gid() == "mcid"]


def test_jitter_is_deterministic_and_bounded() -> None:
    a = jitter_offsets(500, 0.5)
    np.testing.assert_array_equal(a, jitter_offsets(500, 0.5))
    assert a.min() >= -0.25 and a.max() < 0.25
    assert len(np.unique(a)) == 500


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import improvement as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
