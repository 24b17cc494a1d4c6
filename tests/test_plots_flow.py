"""The patient flow diagram draws the flow's own counts and reasons, one box per stage."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.text import Text

from dnoutcomes.errors import RequestError
from dnoutcomes.plots.flow import plot_flow

ROWS = [
    ("all", "loaded", 600, 0, ""),
    ("all", "in_compared_arms", 450, 150, "other arms: manual_exercise 100, other 50"),
    ("dn_only", "in_compared_arms", 220, 0, ""),
    ("dn_only", "with_baseline", 210, 10, "no baseline nprs"),
    ("dn_only", "with_outcome", 180, 30, "no nprs at discharge"),
    ("dn_only", "analysed", 180, 0, ""),
    ("dn_manual_exercise", "in_compared_arms", 230, 0, ""),
    ("dn_manual_exercise", "with_baseline", 228, 2, "no baseline nprs"),
    ("dn_manual_exercise", "with_outcome", 200, 28, "no nprs at discharge"),
    ("dn_manual_exercise", "analysed", 200, 0, ""),
]


@pytest.fixture
def flow_frame() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["arm", "stage", "n", "excluded", "reason"])


def _texts(ax: object) -> dict[str, str]:
    return {t.get_gid(): t.get_text() for t in ax.findobj(Text) if t.get_gid()}  # type: ignore[attr-defined]


def test_every_stage_is_a_box_with_its_count(flow_frame: pd.DataFrame) -> None:
    ax = plot_flow(flow_frame, measure="nprs", timepoint="discharge")
    texts = _texts(ax)
    boxes = {k: v for k, v in texts.items() if not k.endswith(":excluded")}
    assert len(boxes) == len(flow_frame)
    for arm, stage, n, _, _ in ROWS:
        assert boxes[f"{arm}:{stage}"].endswith(f"n = {n}")
    assert boxes["dn_only:in_compared_arms"].startswith("Dry needling alone")
    assert boxes["dn_manual_exercise:in_compared_arms"].startswith(
        "Dry needling + manual & exercise therapy"
    )
    assert boxes["dn_only:with_outcome"].startswith("With NPRS at discharge")


def test_exclusions_say_how_many_and_why(flow_frame: pd.DataFrame) -> None:
    texts = _texts(plot_flow(flow_frame, measure="nprs", timepoint="discharge"))
    excluded = {k: v.replace("\n", " ") for k, v in texts.items() if k.endswith(":excluded")}
    expected = {
        f"{arm}:{stage}:excluded": f"{k} left out: {reason}"
        for arm, stage, _, k, reason in ROWS
        if k > 0
    }
    assert excluded == expected


def test_arm_columns_sit_left_to_right_in_the_frames_order(flow_frame: pd.DataFrame) -> None:
    ax = plot_flow(flow_frame)
    pos = {t.get_gid(): t.get_position() for t in ax.findobj(Text) if t.get_gid()}
    assert pos["dn_only:analysed"][0] < pos["dn_manual_exercise:analysed"][0]
    # stages go down the page
    ys = [pos[f"dn_only:{s}"][1] for s in ("in_compared_arms", "with_baseline", "analysed")]
    assert ys == sorted(ys, reverse=True)
    assert pos["all:loaded"][1] > pos["all:in_compared_arms"][1] > ys[0]


def test_a_frame_without_the_columns_is_refused_with_the_columns_found() -> None:
    with pytest.raises(RequestError, match="lacks the column.*excluded.*got arm, stage, n"):
        plot_flow(pd.DataFrame({"arm": ["a"], "stage": ["loaded"], "n": [1]}))


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.plots import flow as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
