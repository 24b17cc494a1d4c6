"""Forest plots draw the result's estimates and CI limits exactly, with units and p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.forest import plot_effects, plot_forest, plot_site_forest


@pytest.fixture
def effects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "measure": ["nprs", "odi", "lumbar_flexion_deg"],
            "timepoint": ["discharge", "discharge", "discharge"],
            "estimate": [-0.8, -5.2, 4.1],
            "conf_low": [-1.2, -8.0, 0.5],
            "conf_high": [-0.4, -2.4, 7.7],
            "p_value": [0.0004, 0.0003, 0.03],
            "p_holm": [np.nan, 0.0006, 0.03],
            "n": [400, 390, 380],
        }
    )


def _whiskers(ax: object) -> np.ndarray:
    (coll,) = [c for c in ax.collections if isinstance(c, LineCollection)]  # type: ignore[attr-defined]
    return np.array([seg[:, 0] for seg in coll.get_segments()])


def test_plot_forest_draws_points_and_whiskers_at_the_numbers(effects: pd.DataFrame) -> None:
    frame = effects.assign(term=["a", "b", "c"])
    ax = plot_forest(frame, xlabel="Difference (points)")
    (points,) = [line for line in ax.lines if line.get_marker() == "s"]
    np.testing.assert_array_equal(points.get_xdata(), frame["estimate"])
    np.testing.assert_array_equal(points.get_ydata(), [2.0, 1.0, 0.0])
    np.testing.assert_array_equal(_whiskers(ax), frame[["conf_low", "conf_high"]].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "Difference (points)"
    (null,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert null.get_xdata()[0] == 0.0


def test_plot_forest_log_scale_puts_the_null_at_one() -> None:
    frame = pd.DataFrame({"term": ["OR"], "estimate": [2.0], "conf_low": [1.2], "conf_high": [3.3]})
    ax = plot_forest(frame, null=1.0, log_scale=True)
    assert ax.get_xscale() == "log"
    (null,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert null.get_xdata()[0] == 1.0


def _texts(ax: object, gid: str) -> list[str]:
    texts = ax.texts  # type: ignore[attr-defined]
    return [t.get_text().replace("\n", " ") for t in texts if t.get_gid() == gid]


def test_plot_effects_shares_one_axis_per_unit(effects: pd.DataFrame) -> None:
    fig = plot_effects(effects, reference="dn_only", comparator="dn_manual_exercise")
    points_ax, degrees_ax = fig.axes  # NPRS and ODI are both in points: one panel
    assert points_ax.get_title(loc="left") == "Difference in points"
    assert degrees_ax.get_title(loc="left") == "Difference in degrees"
    (points,) = [line for line in points_ax.lines if line.get_marker() == "s"]
    np.testing.assert_array_equal(points.get_xdata(), [-0.8, -5.2])
    np.testing.assert_array_equal(points.get_ydata(), [1.0, 0.0])
    np.testing.assert_array_equal(_whiskers(points_ax), [[-1.2, -0.4], [-8.0, -2.4]])
    lo, hi = points_ax.get_xlim()  # one x-range holds both rows and 0
    assert lo < -8.0 and hi > 0.0
    assert [t.get_text() for t in points_ax.get_yticklabels()] == [
        "NPRS, discharge (n = 400)",
        "ODI, discharge (n = 390)",
    ]
    assert _texts(points_ax, "estimate") == [
        "\u22120.80 (\u22121.20 to \u22120.40); p < 0.001",
        "\u22125.20 (\u22128.00 to \u22122.40); p < 0.001; Holm p < 0.001",
    ]
    assert _texts(degrees_ax, "estimate") == ["4.10 (0.50 to 7.70); p = 0.030; Holm p = 0.030"]
    title = fig.get_suptitle()
    assert title == "Dry needling + manual & exercise therapy minus Dry needling alone"


def test_favours_labels_follow_the_measure_direction(effects: pd.DataFrame) -> None:
    fig = plot_effects(effects, reference="dn_only", comparator="dn_manual_exercise")
    points_ax, degrees_ax = fig.axes
    # lower is better for NPRS/ODI: a negative difference favours the comparator
    assert _texts(points_ax, "favours") == [
        "\u2190 favours Dry needling + manual & exercise therapy",
        "favours Dry needling alone \u2192",
    ]
    # higher is better for flexion: a positive difference favours the comparator
    assert _texts(degrees_ax, "favours") == [
        "\u2190 favours Dry needling alone",
        "favours Dry needling + manual & exercise therapy \u2192",
    ]
    unnamed = plot_effects(effects.iloc[:1])
    assert _texts(unnamed.axes[0], "favours") == [
        "\u2190 favours comparator",
        "favours reference \u2192",
    ]


def test_one_unit_opposite_directions_get_separate_panels() -> None:
    from dnoutcomes.contract.measures import Measure, default_registry

    registry = default_registry().with_measure(
        Measure("grip", "Grip strength", "points", 0, 50, False, "higher")
    )
    frame = pd.DataFrame(
        {
            "measure": ["nprs", "grip", "odi"],
            "timepoint": ["discharge"] * 3,
            "estimate": [-1.0, 2.0, -3.0],
            "conf_low": [-2.0, 1.0, -5.0],
            "conf_high": [0.0, 3.0, -1.0],
        }
    )
    fig = plot_effects(frame, registry=registry)
    assert [len(ax.get_yticklabels()) for ax in fig.axes] == [2, 1]
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["Difference in points"] * 2


def test_plot_site_forest_draws_sites_and_the_pooled_diamond() -> None:
    sites = pd.DataFrame(
        {
            "site_id": ["north", "south"],
            "n": [150, 120],
            "estimate": [-0.9, -0.5],
            "conf_low": [-1.5, -1.2],
            "conf_high": [-0.3, 0.2],
            "weight": [0.6, 0.4],
        }
    )
    pooled = {"estimate": -0.75, "conf_low": -1.2, "conf_high": -0.3, "tau2": 0.0, "i2": 0.0}
    ax = plot_site_forest(sites, pooled=pooled)
    offsets = ax.collections[-1].get_offsets()
    np.testing.assert_array_equal(offsets, [[-0.9, 2.0], [-0.5, 1.0]])
    np.testing.assert_array_equal(_whiskers(ax), sites[["conf_low", "conf_high"]].to_numpy())
    (diamond,) = ax.patches
    xs = diamond.get_xy()[:, 0]
    assert xs.min() == -1.2 and xs.max() == -0.3
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "north (n = 150)",
        "south (n = 120)",
        "Pooled (random effects)",
    ]
    assert ax.get_title(loc="left").startswith("\u03c4\u00b2 = 0, I\u00b2 = 0%")
    assert ax.get_xlabel() == "Adjusted difference in Numeric Pain Rating Scale (points)"
    assert _texts(ax, "estimate") == [
        "\u22120.90 (\u22121.50 to \u22120.30)",
        "\u22120.50 (\u22121.20 to 0.20)",
        "\u22120.75 (\u22121.20 to \u22120.30)",
    ]
    assert _texts(ax, "favours") == ["\u2190 favours comparator", "favours reference \u2192"]
    named = plot_site_forest(
        sites, pooled=pooled, reference="dn_only", comparator="dn_manual_exercise"
    )
    assert _texts(named, "favours")[0] == "\u2190 favours Dry needling + manual & exercise therapy"


def test_site_frame_without_pooled_numbers_is_refused() -> None:
    sites = pd.DataFrame({"site_id": ["a"], "estimate": [1.0], "conf_low": [0], "conf_high": [2]})
    with pytest.raises(RequestError, match="without the pooled numbers"):
        plot_site_forest(sites)


def test_adjusted_means_are_the_results_with_the_difference_in_the_title() -> None:
    from types import SimpleNamespace

    from dnoutcomes.plots.forest import plot_adjusted_means

    means = pd.DataFrame(
        {
            "arm": ["dn_only", "dn_manual_exercise"],
            "role": ["reference", "comparator"],
            "n": [242, 154],
            "estimate": [4.5628, 3.7584],
            "conf_low": [4.3647, 3.5077],
            "conf_high": [4.7610, 4.0091],
        }
    )
    result = SimpleNamespace(
        adjusted_means=means,
        measure="nprs",
        timepoint="discharge",
        estimate=-0.8044,
        conf_low=-1.1302,
        conf_high=-0.4786,
        p_value=1.7e-6,
    )
    ax = plot_adjusted_means(result)
    points = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
    assert points["mean:dn_only"].get_ydata()[0] == 4.5628
    assert points["mean:dn_manual_exercise"].get_xdata()[0] == 1.0
    np.testing.assert_array_equal(
        [c.get_segments()[0][:, 1] for c in ax.collections],
        [[4.3647, 4.7610], [3.5077, 4.0091]],
    )
    assert ax.get_ylim() == (0.0, 10.0)
    assert ax.get_ylabel() == "Adjusted mean NPRS (points)"
    assert ax.get_title(loc="left") == (
        "Discharge, adjusted for baseline\n"
        "Difference \u22120.80 (\u22121.13 to \u22120.48), p < 0.001"
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "Dry needling alone\n(n = 242)",
        "Dry needling + manual &\nexercise therapy\n(n = 154)",
    ]


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import forest as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_effects_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import effects as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
