"""The trajectory plot draws the model's means and CIs exactly, on the measure's full range."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from dnoutcomes.plots.trajectories import plot_trajectories

WEEKS = np.array([0.0, 2.0, 4.0, 6.0, 8.0])


@pytest.fixture
def result() -> SimpleNamespace:
    means = pd.DataFrame(
        {
            "arm": ["dn_only"] * 5 + ["dn_manual_exercise"] * 5,
            "weeks": np.r_[WEEKS, WEEKS],
            "estimate": np.r_[6.5 - 0.3 * WEEKS, 6.6 - 0.45 * WEEKS],
        }
    )
    means["conf_low"] = means["estimate"] - 0.3
    means["conf_high"] = means["estimate"] + 0.35
    return SimpleNamespace(means=means, measure="nprs", n_obs=3000, n_episodes=450)


def test_model_means_and_bands_are_the_results_numbers(result: SimpleNamespace) -> None:
    ax = plot_trajectories(result)
    lines = {line.get_label(): line for line in ax.lines}
    for arm, label in [
        ("dn_only", "Dry needling alone"),
        ("dn_manual_exercise", "Dry needling + manual & exercise therapy"),
    ]:
        rows = result.means.loc[result.means["arm"] == arm]
        np.testing.assert_array_equal(lines[label].get_xdata(), rows["weeks"])
        np.testing.assert_array_equal(lines[label].get_ydata(), rows["estimate"])
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    ys = bands[0].get_paths()[0].vertices[:, 1]
    rows = result.means.loc[result.means["arm"] == "dn_only"]
    assert ys.min() == pytest.approx(rows["conf_low"].min())
    assert ys.max() == pytest.approx(rows["conf_high"].max())
    assert ax.get_ylim() == (0.0, 10.0)
    assert ax.get_ylabel() == "Mean Numeric Pain Rating Scale (points)"
    assert ax.get_xlabel() == "Weeks since the start of care"
    assert ax.get_legend().get_title().get_text().endswith("(n = 450 episodes, 3000 values)")


def test_observed_means_and_individual_lines(result: SimpleNamespace) -> None:
    observed = result.means.assign(estimate=result.means["estimate"] + 0.2)
    individual = pd.DataFrame(
        {
            "episode_id": ["e1", "e1", "e2", "e2", "e2", "e3"],
            "arm": ["dn_only", "dn_only", "dn_only", "dn_only", "dn_only", "dn_manual_exercise"],
            "weeks": [2.0, 0.0, 0.0, 1.0, np.nan, 0.0],
            "value": [5.0, 7.0, 8.0, 6.0, 3.0, 4.0],
        }
    )
    ax = plot_trajectories(result, observed=observed, individual=individual)
    (ind,) = [c for c in ax.collections if c.get_gid() == "individual:dn_only"]
    segments = [seg.tolist() for seg in ind.get_segments()]
    assert segments == [[[0.0, 7.0], [2.0, 5.0]], [[0.0, 8.0], [1.0, 6.0]]]
    assert isinstance(ind, LineCollection)
    containers = {c.get_label(): c for c in ax.containers}
    marks = containers["Dry needling alone, observed"].lines[0]
    np.testing.assert_allclose(marks.get_ydata(), result.means["estimate"][:5] + 0.2)
