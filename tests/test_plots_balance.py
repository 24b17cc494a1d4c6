"""The Love plot draws |SMD| before and after weighting for every covariate, and the 0.1 line."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.balance import balance_frame, covariate_label, plot_balance

BEFORE = {"age": 0.3, "nprs_baseline": -0.4, "sex=female": -0.05, "site_id=north": 0.12}
AFTER = {"age": 0.02, "nprs_baseline": 0.05, "sex=female": 0.04, "site_id=north": -0.06}


def _series(ax: object, label: str) -> tuple[np.ndarray, np.ndarray]:
    (line,) = [ln for ln in ax.lines if ln.get_label() == label]  # type: ignore[attr-defined]
    return np.asarray(line.get_xdata()), np.asarray(line.get_ydata())


def test_points_are_absolute_smds_sorted_by_imbalance_before() -> None:
    result = SimpleNamespace(smd_before=BEFORE, smd_after=AFTER)
    ax = plot_balance(result)
    xb, yb = _series(ax, "Before weighting")
    xa, ya = _series(ax, "After weighting")
    np.testing.assert_array_equal(xb, [0.4, 0.3, 0.12, 0.05])
    np.testing.assert_array_equal(xa, [0.05, 0.02, 0.06, 0.04])
    np.testing.assert_array_equal(yb, [3, 2, 1, 0])
    np.testing.assert_array_equal(ya, yb)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Baseline NPRS",
        "Age",
        "Site: north",
        "Sex: female",
    ]
    (line,) = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert line.get_xdata()[0] == 0.1
    assert ax.get_xlim()[0] == 0.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Before weighting",
        "After weighting",
    ]


def test_frame_and_mapping_inputs_give_the_same_table() -> None:
    frame = pd.DataFrame(
        {
            "covariate": list(BEFORE),
            "smd_before": list(BEFORE.values()),
            "smd_after": list(AFTER.values()),
        }
    )
    from_mapping = balance_frame(SimpleNamespace(smd_before=BEFORE, smd_after=AFTER))
    pd.testing.assert_frame_equal(balance_frame(frame), from_mapping)


def test_covariate_labels_read_as_words() -> None:
    assert covariate_label("condition=disc_herniation") == "Condition: disc herniation"
    assert covariate_label("odi_baseline") == "Baseline ODI"
    assert covariate_label("symptom_weeks") == "Symptom duration (weeks)"


def test_bad_threshold_is_refused() -> None:
    with pytest.raises(RequestError, match="threshold must be a positive number"):
        plot_balance(SimpleNamespace(smd_before=BEFORE, smd_after=AFTER), threshold=0)


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import balance as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
