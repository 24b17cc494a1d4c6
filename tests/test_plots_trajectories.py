"""The trajectory plot draws the model's means and CIs and the observed means exactly, on
the measure's full range."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.trajectories import plot_trajectories
from dnoutcomes.stats.mixed import compare_trajectories

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


def _many(n_per_arm: int) -> pd.DataFrame:
    ids = np.r_[[f"a{i}" for i in range(n_per_arm)], [f"b{i}" for i in range(n_per_arm + 50)]]
    arms = np.where(np.char.startswith(ids.astype(str), "a"), "dn_only", "dn_manual_exercise")
    return pd.DataFrame(
        {
            "episode_id": np.repeat(ids, 3),
            "arm": np.repeat(arms, 3),
            "weeks": np.tile([0.0, 2.0, 4.0], len(ids)),
            "value": np.tile([7.0, 5.0, 3.0], len(ids)),
        }
    )


def _drawn(ax: Any, arm: str) -> list[np.ndarray]:
    (lines,) = [c for c in ax.collections if c.get_gid() == f"individual:{arm}"]
    return list(lines.get_segments())


def test_many_episodes_draw_a_random_sample_of_lines(result: SimpleNamespace) -> None:
    individual = _many(1000)
    ax = plot_trajectories(result, individual=individual)
    for arm in ("dn_only", "dn_manual_exercise"):
        segments = _drawn(ax, arm)
        assert len(segments) == 200  # one line per sampled episode, each whole
        assert all(seg.shape == (3, 2) for seg in segments)
    title = ax.get_legend().get_title().get_text()
    assert title.endswith("Thin lines: a random 200 of 1,000 and 1,050 episodes per arm")
    # the same lines on every run; another generator draws others
    again = plot_trajectories(result, individual=individual)
    first = ax.collections[0].get_segments()
    assert [s.tolist() for s in again.collections[0].get_segments()] == [s.tolist() for s in first]


def test_sample_is_drawn_by_episode_with_the_rng_given(result: SimpleNamespace) -> None:
    individual = _many(300)
    individual["value"] = individual["episode_id"].str[1:].astype(float)  # value = episode no.
    a = plot_trajectories(result, individual=individual, max_lines=20, rng=1)
    b = plot_trajectories(result, individual=individual, max_lines=20, rng=np.random.default_rng(1))
    c = plot_trajectories(result, individual=individual, max_lines=20, rng=2)

    def episodes(ax: Any) -> set[float]:
        return {float(seg[0, 1]) for seg in _drawn(ax, "dn_only")}

    assert len(episodes(a)) == 20 and episodes(a) == episodes(b) != episodes(c)


def test_few_episodes_or_no_limit_draw_every_line(result: SimpleNamespace) -> None:
    individual = _many(150)
    ax = plot_trajectories(result, individual=individual)
    assert len(_drawn(ax, "dn_only")) == 150 and len(_drawn(ax, "dn_manual_exercise")) == 200
    assert "Thin lines" not in ax.get_legend().get_title().get_text()
    every = plot_trajectories(result, individual=_many(400), max_lines=None)
    assert len(_drawn(every, "dn_manual_exercise")) == 450
    with pytest.raises(RequestError, match="max_lines must be at least 1"):
        plot_trajectories(result, individual=individual, max_lines=0)


def test_result_plot_draws_the_results_observed_means(clinic_a_dataset: Any) -> None:
    trajectory = compare_trajectories(clinic_a_dataset)
    observed = trajectory.observed
    ax = trajectory.plot()
    containers = {c.get_label(): c for c in ax.containers}
    assert len(containers) == 2
    for arm, label in [
        ("dn_only", "Dry needling alone, observed"),
        ("dn_manual_exercise", "Dry needling + manual & exercise therapy, observed"),
    ]:
        rows = observed.loc[observed["arm"] == arm]
        marks, _, (bars,) = containers[label].lines
        # drawn a little to the side of the week so the two arms' bars do not overlap
        np.testing.assert_allclose(marks.get_xdata(), rows["weeks"], atol=0.1)
        np.testing.assert_array_equal(marks.get_ydata(), rows["estimate"])
        ends = np.array([seg[:, 1] for seg in bars.get_segments()])
        np.testing.assert_allclose(ends[:, 0], rows["conf_low"], rtol=1e-12)
        np.testing.assert_allclose(ends[:, 1], rows["conf_high"], rtol=1e-12)
    assert not trajectory.plot(observed=False).containers


def test_observed_intervals_widen_the_axis_and_missing_ones_draw_no_bar(
    result: SimpleNamespace,
) -> None:
    observed = pd.DataFrame(
        {
            "arm": ["dn_only", "dn_only"],
            "weeks": [0, 1],
            "estimate": [9.5, 8.0],
            "conf_low": [8.9, np.nan],
            "conf_high": [10.6, np.nan],
        }
    )
    ax = plot_trajectories(result, observed=observed)
    assert ax.get_ylim() == (0.0, 10.6)
    (container,) = ax.containers
    np.testing.assert_array_equal(container.lines[0].get_ydata(), [9.5, 8.0])
    (bars,) = container.lines[2]
    assert np.isnan(bars.get_segments()[1]).all()


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import trajectories as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
