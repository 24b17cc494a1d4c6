"""Adverse-event rates: points and exact CIs per arm and type; "not recorded" is never 0."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from dnoutcomes.plots.safety import NOT_RECORDED, plot_safety


@pytest.fixture
def by_type() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "arm": ["dn_only"] * 2 + ["dn_manual_exercise"] * 2 + ["manual_exercise"] * 2,
            "type": ["soreness", "bruising"] * 3,
            "events": [30, 10, 40, 12, 0, 0],
            "dn_sessions": [1000, 1000, 1200, 1200, 0, 0],
            "rate_per_100": [3.0, 1.0, 3.3, 1.0, np.nan, np.nan],
            "conf_low": [2.0, 0.48, 2.4, 0.52, np.nan, np.nan],
            "conf_high": [4.3, 1.8, 4.5, 1.75, np.nan, np.nan],
        }
    )


def test_each_arm_draws_its_rates_and_whiskers(by_type: pd.DataFrame) -> None:
    ax = plot_safety(by_type)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "Dry needling alone (1000 DN sessions)",
        "Dry needling + manual & exercise therapy (1200 DN sessions)",
        "Manual & exercise therapy (no DN sessions)",
    ]
    points = {line.get_label(): np.asarray(line.get_xdata()) for line in ax.lines}
    np.testing.assert_array_equal(points[labels[0]], [3.0, 1.0])
    np.testing.assert_array_equal(points[labels[1]], [3.3, 1.0])
    assert points[labels[2]].size == 0  # no rate, no point: never drawn as 0
    whiskers = [c for c in ax.collections if isinstance(c, LineCollection)]
    ends = np.array([seg[:, 0] for c in whiskers for seg in c.get_segments()])
    np.testing.assert_array_equal(ends, [[2.0, 4.3], [0.48, 1.8], [2.4, 4.5], [0.52, 1.75]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Soreness", "Bruising"]
    assert ax.get_xlabel() == "Adverse events per 100 DN sessions (exact 95% CI)"


def test_result_object_by_severity(by_type: pd.DataFrame) -> None:
    by_severity = by_type.rename(columns={"type": "severity"}).replace(
        {"soreness": "mild", "bruising": "significant"}
    )
    ax = plot_safety(SimpleNamespace(by_severity=by_severity, recorded=True), by="severity")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Mild", "Significant"]


def test_absent_table_says_not_recorded() -> None:
    ax = plot_safety(SimpleNamespace(recorded=False, by_type=None))
    assert [t.get_text() for t in ax.texts] == [NOT_RECORDED]
    assert not ax.lines


@pytest.mark.slow
def test_export_without_adverse_events_table_draws_not_recorded(
    clinic_a_path: Path, tmp_path: Path
) -> None:
    import shutil
    import warnings

    import dnoutcomes
    from dnoutcomes.stats.safety import compare_safety

    for table in ("patients", "episodes", "sessions", "outcomes"):
        shutil.copy(clinic_a_path / f"{table}.csv", tmp_path / f"{table}.csv")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        dataset = dnoutcomes.load(tmp_path)
    ax = plot_safety(compare_safety(dataset))
    assert [t.get_text() for t in ax.texts] == [NOT_RECORDED]
    assert not ax.lines and not ax.collections


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import safety as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
