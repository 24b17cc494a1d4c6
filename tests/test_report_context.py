"""The helpers every section uses: suppression with summaries that follow their counts,
counts inside sentences and JSON blocks, and analyses that fail politely."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dnoutcomes.errors import InsufficientDataError
from dnoutcomes.report._context import (
    Context,
    figure_block,
    safe,
    scrub_counts,
    small_any,
    suppress,
    suppress_text,
)
from dnoutcomes.report.model import HIDDEN, Figure, Paragraph
from dnoutcomes.report.period import parse_period


def _context(min_cell: int = 11, figures: bool = True) -> Context:
    period = parse_period("2025-Q3")
    none: Any = None
    return Context(
        dataset=none,
        local=none,
        current=none,
        previous=none,
        period=period,
        previous_period=period.previous(),
        site=None,
        reference="dn_only",
        comparator="dn_manual_exercise",
        min_cell=min_cell,
        figures=figures,
    )


def test_summaries_follow_small_counts() -> None:
    frame = pd.DataFrame(
        {"episodes": [7, 40, 0], "median_visits": [5.0, 6.0, float("nan")]},
        index=["south", "north", "west"],
    )
    shown = suppress(frame, _context(), counts=["episodes"], follow={"median_visits": "episodes"})
    assert shown.table["episodes"].tolist() == ["<11", 40, 0]
    assert shown.table.loc["south", "median_visits"] == HIDDEN
    assert shown.table.loc["north", "median_visits"] == 6.0
    assert bool(shown.suppressed.loc["south", "median_visits"])
    # The threshold is the report's: with 5, a 7 is shown.
    assert suppress(frame, _context(5), counts=["episodes"]).table["episodes"].tolist() == [
        7,
        40,
        0,
    ]


def test_counts_in_sentences() -> None:
    text = "other arms: manual_exercise (27 episodes), other (4 episodes); 1 patient; 12 events"
    assert suppress_text(text, _context()) == (
        "other arms: manual_exercise (27 episodes), other (<11 episodes); <11 patient; 12 events"
    )
    assert suppress_text("0 episodes", _context()) == "0 episodes"
    assert suppress_text(
        "7 dn_only episodes without a baseline; 30 dn_only episodes", _context()
    ) == ("<11 dn_only episodes without a baseline; 30 dn_only episodes")
    assert suppress_text("3 adverse events at site north", _context()) == (
        "<11 adverse events at site north"
    )
    assert suppress_text("2.5 points in 12 weeks", _context()) == "2.5 points in 12 weeks"


def test_scrub_counts_in_json_blocks() -> None:
    block = {"n": 7, "estimate": 3.0, "rows": [{"n_reference": 12, "n_comparator": 4, "p": 0.5}]}
    assert scrub_counts(block, _context()) == {
        "n": "<11",
        "estimate": 3.0,
        "rows": [{"n_reference": 12, "n_comparator": "<11", "p": 0.5}],
    }


def test_safe_turns_expected_failures_into_a_sentence() -> None:
    def too_few() -> None:
        raise InsufficientDataError("needs 2 episodes per arm; got 1.")

    result, paragraph = safe("The ANCOVA", too_few, _context())
    assert result is None and isinstance(paragraph, Paragraph)
    # the error's own words, with their counts through the threshold (a requirement kept)
    assert paragraph.text == (
        "The ANCOVA could not be computed for this period: needs <11 episodes per arm; got <11."
    )
    assert safe("Fine", lambda: 42, _context()) == (42, None)

    def bug() -> None:
        raise KeyError("a bug, not bad data")

    with pytest.raises(KeyError):
        safe("Buggy", bug, _context())
    # A bare ValueError or ZeroDivisionError is a programming error, not an expected
    # failure of the data: it is raised, never turned into report text (issue 13).
    with pytest.raises(ValueError, match="not bad data"):
        safe("Buggy", lambda: int("not bad data"), _context())
    with pytest.raises(ZeroDivisionError):
        safe("Division", lambda: 1 / 0, _context())


def test_small_any() -> None:
    frame = pd.DataFrame({"n": [0, 12], "excluded": [3, 0]})
    assert small_any(frame, ["n", "excluded"], _context())
    assert not small_any(frame, ["n"], _context())


def test_figure_block_respects_the_switch_and_failures() -> None:
    import matplotlib.pyplot as plt

    def painter() -> Any:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return ax

    assert figure_block(_context(figures=False), "k", "T", "alt", painter) == []
    [block] = figure_block(_context(), "k", "T", "alt", painter)
    assert isinstance(block, Figure) and block.svg.startswith("<svg")

    def broken() -> Any:
        raise ValueError("no data to draw")

    context = _context()
    [failed] = figure_block(context, "k", "T", "alt", broken)
    assert isinstance(failed, Paragraph)
    assert failed.text == "The figure “T” could not be drawn from these data."
    assert context.log == ["the figure 'k' could not be drawn: ValueError: no data to draw"]


def test_a_figure_error_never_reaches_the_report_only_the_run_log() -> None:
    # an error's own words may hold an episode id or a small count (issue 13): the shared
    # report gets a fixed sentence, the person running it the message
    context = _context()

    def leaky() -> Any:
        raise ValueError("episode E000123: 3 points with NaN in column nprs")

    [failed] = figure_block(context, "flow", "Patient flow", "alt", leaky)
    assert isinstance(failed, Paragraph)
    assert "E000123" not in failed.text and "3" not in failed.text
    assert any("E000123" in note for note in context.log)


@pytest.mark.slow
def test_build_report_passes_figure_errors_to_the_run_log_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import warnings

    import dnoutcomes
    from dnoutcomes.report import _context
    from dnoutcomes.report.build import build_report
    from dnoutcomes.sample import generate

    def failing(key: str, painter: Any) -> str:
        raise ValueError(f"secret E000042 in {key}")

    monkeypatch.setattr(_context, "draw", failing)
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate(episodes=400, seed=2).write(tmp_path, force=True)
        dataset = dnoutcomes.load(tmp_path)
        report = build_report(dataset, run_time="2025-10-01", progress=lines.append)
    page = report.to_html()
    assert "E000042" not in page
    assert "could not be drawn from these data" in page
    assert any(line.startswith("note (not in the report)") and "E000042" in line for line in lines)
