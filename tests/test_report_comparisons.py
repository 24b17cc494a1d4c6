"""The comparisons section on the test clinic: a sentence under each ANCOVA outcome that
agrees with its row, the naive and weighted estimates on the same episodes, responders."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from test_report_build import load_quietly, write_export

from dnoutcomes.report._context import Context
from dnoutcomes.report.build import subset_dataset
from dnoutcomes.report.comparisons import comparisons_section
from dnoutcomes.report.period import parse_period
from dnoutcomes.stats import analyze

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("clinic")
    write_export(folder)
    data = load_quietly(folder)
    period = parse_period("2025-Q3")
    ends = data.episodes["end_date"]
    current = subset_dataset(data, data.episodes.loc[period.contains(ends), "episode_id"])
    context = Context(
        data,
        data,
        current,
        current,
        period,
        period.previous(),
        None,
        "dn_only",
        "dn_manual_exercise",
        11,
        figures=False,
        analysis=analyze(current, require_primary=False),
    )
    return comparisons_section(context)


def test_a_sentence_under_each_outcome(outcome: Any) -> None:
    section = outcome.section
    table = section.tables[0].frame
    sentences = [p.text for p in section.paragraphs if p.text.startswith("Patients who")]
    assert len(sentences) == len(table)
    for sentence, (_, row) in zip(sentences, table.iterrows(), strict=True):
        word = "lower" if row["estimate"] < 0 else "higher"
        assert f" {word} (95 % CI" in sentence
    assert section.paragraphs[0].text.startswith("Episodes discharged in 2025-Q3: patients who")
    assert any(p.emphasis for p in section.paragraphs)  # the primary sentence stands out


def test_naive_and_weighted_side_by_side(outcome: Any) -> None:
    iptw = next(t for t in outcome.section.tables if t.key == "iptw").frame
    assert iptw["term"].tolist() == ["Naive (ANCOVA)", "Adjusted (IPTW, robust SE)"]
    naive = float(iptw.loc[0, "estimate"])
    sentence = next(p.text for p in outcome.section.paragraphs if p.text.startswith("After"))
    assert f"against {abs(naive):.1f} points {'lower' if naive < 0 else 'higher'}" in sentence
    assert outcome.extra["iptw"]["estimate"] == pytest.approx(float(iptw.loc[1, "estimate"]))


def test_responders_counts_against_the_construction(outcome: Any) -> None:
    table = next(t for t in outcome.section.tables if t.key == "responders").frame
    assert table["arm"].tolist() == ["dn_only", "dn_manual_exercise"]
    counts = pd.to_numeric(table["n"], errors="coerce")
    # Q3 of the test clinic: 43 episodes, arms cycling over five labels.
    assert (counts.dropna() >= 11).all()
    assert isinstance(outcome.extra.get("ancova"), list)
