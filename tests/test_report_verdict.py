"""Minimum numbers for a verdict (issue 13): no direction or "better" from tiny arms,
small effective sample sizes, a non-converged or unbalanced propensity model, or an
infinite statistic; and no exact small count in a note or failure sentence."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from dnoutcomes.report.model import Paragraph
from dnoutcomes.report.verdict import no_verdict_reason

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
BIG = {"dn_only": 40.0, "dn_manual_exercise": 50.0}


def test_verdict_allowed_for_large_balanced_converged() -> None:
    reason = no_verdict_reason(
        min_cell=11,
        arms=BIG,
        ess=BIG,
        converged=True,
        max_smd_after=0.05,
        statistics={"estimate": -1.2},
    )
    assert reason == ""


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"arms": {"dn_only": 10.0, "dn_manual_exercise": 50.0}}, "fewer than 11 episodes"),
        ({"ess": {"dn_only": 1.0, "dn_manual_exercise": 2.0}}, "effective sample size"),
        ({"converged": False}, "did not converge"),
        ({"max_smd_after": 17.2}, "not made alike"),
        ({"max_smd_after": 0.1}, "not made alike"),
        ({"max_smd_after": math.nan}, "not made alike"),
        ({"statistics": {"nnt": math.inf}}, "infinite or undefined"),
        ({"statistics": {"estimate": math.nan}}, "infinite or undefined"),
    ],
)
def test_each_reason_withholds_the_verdict(kwargs: dict[str, object], words: str) -> None:
    arguments: dict[str, object] = {"min_cell": 11, "arms": BIG, **kwargs}
    assert words in no_verdict_reason(**arguments)  # type: ignore[arg-type]


@pytest.mark.slow
def test_tiny_site_month_states_no_direction_and_no_small_count() -> None:
    """``report data/sample --period 2025-10 --site south``: on main at f79030f the page said
    "dn_only has 3 and …", "arm 'dn_only' has 5 episodes" and gave directions from arms
    of fewer than 11 episodes."""
    from test_report_build import load_quietly

    from dnoutcomes.report.build import build_report

    report = build_report(
        load_quietly(SAMPLE),
        period="2025-10",
        site="south",
        run_time="2026-01-01T00:00:00Z",
        figures=False,
    )
    texts = [b.text for s in report.sections for b in s.blocks if isinstance(b, Paragraph)]
    comparisons = [b.text for b in report.section("comparisons").blocks if isinstance(b, Paragraph)]
    assert not any("better result" in t or "points lower" in t for t in comparisons)
    assert any("gives no verdict" in t for t in comparisons)
    for text in texts:
        assert not re.search(r"\bhas [1-9]\b(?![.,]\d)", text), text
        assert not re.search(r"(?<![\w.])[1-9] (episodes|patients|events)\b", text), text
