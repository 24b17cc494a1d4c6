"""Every figure builds from clinic_a, and what is drawn equals R's numbers for clinic_a.

The drawn numbers are compared with ``expected.json`` (R: lm, lme4, survival, metafor),
so a figure that drew the wrong column, arm or row would fail here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from dnoutcomes.present.gallery import FIGURE_NAMES, iter_figures, write_figures
from dnoutcomes.stats import analyze

pytestmark = pytest.mark.slow

REF, CMP = "Dry needling alone", "Dry needling + manual & exercise therapy"


@pytest.fixture(scope="module")
def figures(clinic_a_dataset: Any) -> dict[str, Figure]:
    import matplotlib.pyplot as plt

    drawn = {o.name: o.figure for o in iter_figures(analyze(clinic_a_dataset), clinic_a_dataset)}
    yield drawn  # type: ignore[misc]
    for fig in drawn.values():
        plt.close(fig)


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    """Keep the module's figures open across its tests (the shared fixture closes all)."""


def test_every_figure_is_drawn(figures: dict[str, Figure]) -> None:
    assert list(figures) == list(FIGURE_NAMES)
    assert all(isinstance(fig, Figure) for fig in figures.values())


def test_flow_counts_match_the_analysed_episodes(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    (ax,) = figures["01-patient-flow"].axes
    texts = {t.get_gid(): t.get_text() for t in ax.findobj(Text) if t.get_gid()}
    n = clinic_a_expected["n_episodes"]
    assert texts["dn_only:in_compared_arms"].endswith(f"n = {n['reference']}")
    assert texts["dn_manual_exercise:in_compared_arms"].endswith(f"n = {n['comparator']}")
    resp = clinic_a_expected["responders"]
    assert texts["dn_only:analysed"].endswith(f"n = {resp['n_reference']}")
    assert texts["dn_manual_exercise:analysed"].endswith(f"n = {resp['n_comparator']}")


def test_trajectory_lines_follow_lme4s_fixed_effects(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    ax = figures["02-nprs-trajectories"].axes[0]
    fixed = {k: v["estimate"] for k, v in clinic_a_expected["lmm"]["fixed"].items()}
    lines = {ln.get_label(): ln for ln in ax.lines}
    weeks = np.asarray(lines[REF].get_xdata())
    np.testing.assert_allclose(
        lines[REF].get_ydata(), fixed["intercept"] + fixed["weeks"] * weeks, rtol=1e-3
    )
    slope = fixed["weeks"] + fixed["arm_x_weeks"]
    np.testing.assert_allclose(
        lines[CMP].get_ydata(), fixed["intercept"] + fixed["arm"] + slope * weeks, rtol=1e-3
    )
    individual = [
        c
        for c in ax.collections
        if isinstance(c, LineCollection) and str(c.get_gid()).startswith("individual:")
    ]
    # the observed means' error bars are LineCollections too, one container per arm
    assert len(ax.containers) == 2
    # more than 200 episodes in an arm: a random 200 of them, and the legend says of how many
    title = ax.get_legend().get_title().get_text()
    counts = re.search(r"a random (\d+) of ([\d,]+) and ([\d,]+) episodes per arm", title)
    assert counts is not None, title
    totals = [int(counts.group(i).replace(",", "")) for i in (2, 3)]
    assert sum(totals) == clinic_a_expected["lmm"]["n_episodes"]
    assert [len(c.get_segments()) for c in individual] == [min(200, t) for t in totals]


def test_improvement_points_and_responder_shares(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    resp = clinic_a_expected["responders"]
    ax = figures["03-nprs-improvement"].axes[0]
    points = {ln.get_gid(): np.asarray(ln.get_ydata()) for ln in ax.lines if ln.get_gid()}
    assert points["points:dn_only"].size == resp["n_reference"]
    assert points["points:dn_manual_exercise"].size == resp["n_comparator"]
    assert int((points["points:dn_only"] >= resp["mcid"]).sum()) == resp["responders_reference"]
    assert list(points["mcid"]) == [resp["mcid"], resp["mcid"]]
    ax = figures["04-nprs-responder-curves"].axes[0]
    for label, n, k in [
        (f"{REF} (n = {resp['n_reference']})", resp["n_reference"], resp["responders_reference"]),
        (
            f"{CMP} (n = {resp['n_comparator']})",
            resp["n_comparator"],
            resp["responders_comparator"],
        ),
    ]:
        (line,) = [ln for ln in ax.lines if ln.get_label() == label]
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert y[x == resp["mcid"]][0] == pytest.approx(100 * k / n, rel=1e-12)


def test_effects_forest_draws_rs_ancova(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    fig = figures["05-effects-forest"]
    expected = clinic_a_expected["ancova"]
    # one panel per unit: the rows of all panels, top to bottom, are R's rows in order
    points, whiskers, labels = [], [], []
    for ax in fig.axes:
        (point,) = [ln for ln in ax.lines if ln.get_marker() == "s"]
        points.extend(np.asarray(point.get_xdata(), dtype=float))
        (whisker,) = [c for c in ax.collections if isinstance(c, LineCollection)]
        whiskers.extend(seg[:, 0] for seg in whisker.get_segments())
        labels.extend(t.get_text() for t in ax.get_yticklabels())
    units = [row["measure"] for row in expected]
    assert len(points) == len(expected), units
    for x, (low, high), label, row in zip(points, whiskers, labels, expected, strict=True):
        assert x == pytest.approx(row["estimate"], rel=1e-6)
        assert low == pytest.approx(row["ci_low"], rel=1e-6)
        assert high == pytest.approx(row["ci_high"], rel=1e-6)
        assert f"n = {row['n']}" in label


def test_site_forest_draws_metafors_pooled_estimate(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    meta = clinic_a_expected["site_meta"]
    ax = figures["06-site-forest"].axes[0]
    offsets = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], [s["estimate"] for s in meta["sites"]], rtol=1e-6)
    (diamond,) = ax.patches
    xs = diamond.get_xy()[:, 0]
    assert xs.min() == pytest.approx(meta["ci_low"], rel=1e-6)
    assert xs.max() == pytest.approx(meta["ci_high"], rel=1e-6)
    assert f"I\u00b2 = {meta['i2']:.0f}%" in ax.get_title(loc="left")


def test_time_to_response_medians_and_at_risk(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    ttr = clinic_a_expected["time_to_response"]
    ax = figures["07-time-to-response"].axes[0]
    gid = {ln.get_gid(): ln for ln in ax.lines if ln.get_gid()}
    assert gid["median:dn_only"].get_xdata()[0] == ttr["median_reference"]
    assert gid["median:dn_manual_exercise"].get_xdata()[0] == ttr["median_comparator"]
    (table_ax,) = [a for a in figures["07-time-to-response"].axes if a.get_gid() == "risk_table"]
    at_zero = sorted(
        int(t.get_text())
        for t in table_ax.findobj(Text)
        if t.get_gid() == "at_risk" and t.get_position()[0] == 0
    )
    assert sum(at_zero) == ttr["n"]
    title = ax.get_legend().get_title().get_text()
    assert f"\u03c7\u00b2 = {ttr['logrank_chisq']:.2f}" in title


def test_balance_points_are_rs_smds(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    iptw = clinic_a_expected["iptw"]
    ax = figures["08-covariate-balance"].axes[0]
    lines = {ln.get_label(): np.sort(np.asarray(ln.get_xdata())) for ln in ax.lines}
    np.testing.assert_allclose(
        lines["Before weighting"], np.sort(np.abs(list(iptw["smd_before"].values()))), rtol=1e-6
    )
    np.testing.assert_allclose(
        lines["After weighting"], np.sort(np.abs(list(iptw["smd_after"].values()))), rtol=1e-6
    )


def test_safety_legend_counts_dn_sessions(
    figures: dict[str, Figure], clinic_a_expected: dict[str, Any]
) -> None:
    safety = {row["arm"]: row for row in clinic_a_expected["safety"]}
    for name in ("09-adverse-events-by-type", "10-adverse-events-by-severity"):
        ax = figures[name].axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == [
            f"{REF} ({safety['dn_only']['dn_sessions']} DN sessions)",
            f"{CMP} ({safety['dn_manual_exercise']['dn_sessions']} DN sessions)",
        ]


def test_write_figures_svg_has_stable_names(clinic_a_dataset: Any, tmp_path: Path) -> None:
    outcomes = write_figures(
        analyze(clinic_a_dataset), tmp_path / "figs", dataset=clinic_a_dataset, format="svg"
    )
    assert [o.path.name for o in outcomes if o.path] == [f"{n}.svg" for n in FIGURE_NAMES]
    text = (tmp_path / "figs" / "01-patient-flow.svg").read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "Dry needling alone" in text


def test_every_figure_builds_from_the_sample_and_draws_its_results() -> None:
    import warnings

    import matplotlib.pyplot as plt

    import dnoutcomes
    from dnoutcomes.stats.ancova import compare_outcomes

    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dataset = dnoutcomes.load(sample)
    try:
        drawn = {o.name: o for o in iter_figures(analyze(dataset), dataset)}
        assert [name for name, o in drawn.items() if o.figure is not None] == list(FIGURE_NAMES)
        effects = compare_outcomes(dataset).frame
        fig = drawn["05-effects-forest"].figure
        assert fig is not None
        drawn_estimates = [
            float(x)
            for ax in fig.axes
            for ln in ax.lines
            if ln.get_marker() == "s"
            for x in ln.get_xdata()
        ]
        assert sorted(drawn_estimates) == sorted(effects["estimate"].tolist())
    finally:
        plt.close("all")


def test_results_plot_methods_hand_off_to_the_plots(clinic_a_dataset: Any) -> None:
    """Each result with a picture has .plot() drawing the same thing as its function."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    from dnoutcomes.cohort import patient_flow
    from dnoutcomes.stats import ancova, iptw, meta, mixed, responders, safety, survival

    ds = clinic_a_dataset
    results = [
        patient_flow(ds),
        ancova.compare_ancova(ds, measure="nprs", timepoint="discharge"),
        mixed.compare_trajectories(ds),
        responders.compare_responders(ds),
        survival.compare_time_to_response(ds),
        iptw.compare_iptw(ds),
        meta.compare_sites(ds),
        safety.compare_safety(ds),
    ]
    try:
        for result in results:
            fig, ax = plt.subplots()
            assert result.plot(ax=ax) is ax, type(result).__name__
            assert ax.has_data() or ax.texts, type(result).__name__
        fig = ancova.compare_outcomes(ds).plot()
        assert isinstance(fig, Figure) and all(isinstance(a, Axes) for a in fig.axes)
    finally:
        plt.close("all")


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.present import gallery as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.filterwarnings("ignore::dnoutcomes.DataQualityWarning")
def test_the_gallery_computes_no_statistic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures render the Analysis: no compare_* function runs while they are drawn, and
    a section the analysis could not run is skipped with its reason."""
    import dataclasses

    import matplotlib.pyplot as plt

    from dnoutcomes import stats
    from dnoutcomes.sample import generate

    dataset = generate(episodes=300, seed=3).to_dataset()
    analysis = analyze(dataset)
    names = [n for n in dir(stats) if n.startswith("compare_")]
    for name in names:
        module = stats._WHERE[name]
        monkeypatch.setattr(f"{module}.{name}", _forbidden(name))
    without = dataclasses.replace(analysis, site_meta=None, failures={"site_meta": "one site only"})
    try:
        drawn = {o.name: o for o in iter_figures(without, dataset)}
    finally:
        plt.close("all")
    assert drawn["06-site-forest"].figure is None
    assert drawn["06-site-forest"].reason == "one site only"
    assert sum(o.figure is not None for o in drawn.values()) == len(FIGURE_NAMES) - 1


def _forbidden(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the gallery called {name}")

    return call


@pytest.mark.filterwarnings("ignore::dnoutcomes.DataQualityWarning")
def test_header_only_adverse_events_skips_the_safety_figures(tmp_path: Path) -> None:
    """An adverse_events table without rows: the two safety figures are skipped with the
    reason, every other figure is written (it used to stop the command after 7)."""
    import dataclasses

    import matplotlib.pyplot as plt

    from dnoutcomes.sample import generate

    dataset = generate(episodes=300, seed=3).to_dataset()
    empty = dataclasses.replace(dataset, adverse_events=dataset.adverse_events.iloc[:0])
    try:
        drawn = {o.name: o for o in iter_figures(analyze(empty), empty)}
    finally:
        plt.close("all")
    skipped = {n: o.reason for n, o in drawn.items() if o.figure is None}
    assert set(skipped) == {"09-adverse-events-by-type", "10-adverse-events-by-severity"}
    assert all("no adverse event" in reason for reason in skipped.values())
