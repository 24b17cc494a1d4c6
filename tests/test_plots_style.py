"""The shared look: arm colours and labels, measure labels from the registry, an rc context
that leaves global state alone, image comparisons that guard the look, and the layering
rule that the statistics never import matplotlib.

Regenerate the baseline images (after an intended change of look) with::

    DNOUTCOMES_REGENERATE_BASELINES=1 python -m pytest tests/test_plots_style.py -p no:xdist

then look at the PNGs in tests/baseline_images/ before committing them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import matplotlib as mpl
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images

from dnoutcomes.contract.measures import Measure, default_registry
from dnoutcomes.plots import _style
from dnoutcomes.plots._style import (
    ARM_COLOURS,
    OKABE_ITO,
    arm_colour,
    arm_label,
    arm_label_n,
    measure_label,
    plot_style,
    save_figure,
    timepoint_label,
)

BASELINES = Path(__file__).parent / "baseline_images"
#: RMS difference (0-255 scale) allowed between a rendering and its baseline.
TOLERANCE = 2.0


def test_standard_arms_have_fixed_distinct_okabe_ito_colours() -> None:
    assert ARM_COLOURS["dn_only"] == OKABE_ITO["blue"] == "#0072B2"
    assert ARM_COLOURS["dn_manual_exercise"] == OKABE_ITO["vermillion"] == "#D55E00"
    assert ARM_COLOURS["manual_exercise"] == OKABE_ITO["bluish_green"]
    assert len(set(ARM_COLOURS.values())) == len(ARM_COLOURS)


def test_study_arms_get_a_stable_colour_from_their_name() -> None:
    fallback = _style._FALLBACK_COLOURS
    expected = fallback[zlib.crc32(b"usual_care") % len(fallback)]
    assert arm_colour("usual_care") == expected
    assert arm_colour("usual_care") not in ARM_COLOURS.values()
    assert OKABE_ITO["yellow"] not in fallback


def test_arm_and_timepoint_labels_are_words() -> None:
    assert arm_label("dn_only") == "Dry needling alone"
    assert arm_label("dn_manual_exercise") == "Dry needling + manual & exercise therapy"
    assert arm_label("manual_exercise") == "Manual & exercise therapy"
    assert arm_label("other") == "Other / mixed care"
    assert arm_label("usual_care") == "Usual care"
    assert arm_label_n("dn_only", 120) == "Dry needling alone (n = 120)"
    assert arm_label_n("dn_only", float("nan")) == "Dry needling alone"
    assert timepoint_label("followup_12w") == "12-week follow-up"


def test_measure_labels_carry_the_registry_unit() -> None:
    assert measure_label("nprs") == "Numeric Pain Rating Scale (points)"
    assert measure_label("nprs", short=True) == "NPRS (points)"
    assert measure_label("ppt_kg_cm2") == "Pressure pain threshold (kg/cm\u00b2)"
    assert measure_label("schober_cm", prefix="Change in ") == (
        "Change in Modified Schober excursion (cm)"
    )
    registry = default_registry().with_measure(
        Measure("psfs", "Patient-Specific Functional Scale", "points", 0, 10, False, "higher")
    )
    assert measure_label("psfs", registry) == "Patient-Specific Functional Scale (points)"
    assert measure_label("unregistered_thing") == "unregistered thing"


def test_plot_style_leaves_global_rcparams_alone() -> None:
    before = dict(mpl.rcParams)
    with plot_style():
        assert mpl.rcParams["axes.spines.top"] is False
        assert mpl.rcParams["font.size"] == 11
    with plot_style(**{"font.size": 15}):
        assert mpl.rcParams["font.size"] == 15
    assert dict(mpl.rcParams) == before


@pytest.mark.slow
def test_importing_the_plots_changes_no_rcparams() -> None:
    code = (
        "import matplotlib as mpl; before = dict(mpl.rcParams); "
        "import dnoutcomes.plots, dnoutcomes.present.gallery; "
        "print(dict(mpl.rcParams) == before)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.slow
def test_importing_the_statistics_does_not_import_matplotlib() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import dnoutcomes, dnoutcomes.stats, dnoutcomes.cohort\n"
        "for m in pkgutil.walk_packages(dnoutcomes.stats.__path__, 'dnoutcomes.stats.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(k for k in sys.modules if k.startswith('dnoutcomes.stats.')))\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules, has_mpl = out.stdout.strip().splitlines()
    assert "dnoutcomes.stats.ancova" in modules  # the walk really imported the modules
    assert has_mpl == "False"


def test_save_figure_writes_png_and_reproducible_svg(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    def draw() -> Figure:
        with plot_style():
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.plot([0, 1], [0, 1])
        return fig

    png = save_figure(draw(), tmp_path / "a.png")
    svg = save_figure(draw(), tmp_path / "a.svg", format="svg")
    again = save_figure(draw(), tmp_path / "b.svg", format="svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text(encoding="utf-8")
    assert svg.read_bytes() == again.read_bytes()  # no date, no random ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.svg", "b.svg"]
    assert oct(png.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


# --- image comparisons ---------------------------------------------------------------


def _forest() -> Figure:
    from dnoutcomes.plots.forest import plot_forest

    frame = pd.DataFrame(
        {
            "term": ["NPRS", "ODI / 10", "Flexion / 10"],
            "estimate": [-0.8, -0.36, 0.11],
            "conf_low": [-1.13, -0.55, -0.01],
            "conf_high": [-0.48, -0.17, 0.22],
        }
    )
    return plot_forest(frame, xlabel="Difference").get_figure(root=True)  # type: ignore[return-value]


def _km() -> Figure:
    from dnoutcomes.plots.survival import plot_time_to_response

    rows = []
    for arm, times in [("dn_only", [5, 9, 14, 20, 31]), ("dn_manual_exercise", [3, 6, 9, 12])]:
        n = len(times)
        surv = np.cumprod(1 - 1 / np.arange(n, 0, -1))
        rows.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "time": times,
                    "n_risk": np.arange(n, 0, -1),
                    "n_event": 1,
                    "n_censor": 0,
                    "survival": surv,
                    "conf_low": surv * 0.7,
                    "conf_high": np.minimum(surv * 1.3, 1),
                }
            )
        )
    result = SimpleNamespace(
        curves=pd.concat(rows, ignore_index=True),
        frame=pd.DataFrame({"arm": ["dn_only", "dn_manual_exercise"], "median": [14.0, 6.0]}),
        measure="nprs",
        threshold=2.0,
    )
    ax = plot_time_to_response(result, risk_times=[0, 10, 20, 30])
    return ax.get_figure(root=True)  # type: ignore[return-value]


def _improvement() -> Figure:
    from dnoutcomes.plots.improvement import plot_improvement

    pairs = pd.DataFrame(
        {
            "arm": ["dn_only"] * 12 + ["dn_manual_exercise"] * 12,
            "improvement": [0, 1, 1, 2, 2, 2, 3, 3, 4, -1, 5, 2]
            + [1, 2, 3, 3, 4, 4, 5, 6, 2, 3, 0, 7],
        }
    )
    return plot_improvement(pairs, measure="nprs").get_figure(root=True)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "name, draw",
    [("forest", _forest), ("time_to_response", _km), ("improvement", _improvement)],
)
def test_the_look_matches_the_baseline(
    name: str, draw: Callable[[], Figure], tmp_path: Path
) -> None:
    fig = draw()
    fig.set_size_inches(5, 3.5)
    actual = tmp_path / f"{name}.png"
    with plot_style(**{"savefig.dpi": 72, "font.family": "DejaVu Sans"}):
        fig.savefig(actual, dpi=72, metadata={"Software": None})
    baseline = BASELINES / f"{name}.png"
    if os.environ.get("DNOUTCOMES_REGENERATE_BASELINES") == "1":
        BASELINES.mkdir(exist_ok=True)
        baseline.write_bytes(actual.read_bytes())
        pytest.skip(f"baseline regenerated: {baseline}")
    assert baseline.is_file(), f"missing baseline {baseline}; see this module's docstring"
    diff = compare_images(str(baseline), str(actual), tol=TOLERANCE)
    assert diff is None, diff


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import _style as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
