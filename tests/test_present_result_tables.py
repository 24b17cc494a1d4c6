"""Results and safety tables hold the result's numbers untouched and show them rounded."""

from __future__ import annotations

from pathlib import Path

import docx
import numpy as np
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.present.result_tables import results_table, safety_table
from dnoutcomes.present.table_one import table_one
from dnoutcomes.sample import generate
from dnoutcomes.stats import compare_outcomes, compare_safety


@pytest.fixture(scope="module")
def dataset() -> object:
    return generate(episodes=300, seed=1).to_dataset()


def test_results_table_rows_are_the_comparisons(dataset: object) -> None:
    result = compare_outcomes(dataset)  # type: ignore[arg-type]
    frame = result.to_frame()
    table = results_table(result)
    body = table.body
    assert body["group"].iloc[0] == "Primary outcome"
    assert set(body["group"].iloc[1:]) == {"Secondary outcomes"}
    merged = body.merge(frame, on=["measure", "timepoint"], suffixes=("", "_result"))
    for column in ("estimate", "conf_low", "conf_high", "p_value", "p_holm"):
        np.testing.assert_array_equal(merged[column], merged[f"{column}_result"])
    labels = [c.label for c in table.columns]
    assert labels == [
        "n",
        "Dry needling alone",
        "Dry needling + manual & exercise therapy",
        "Difference (95% CI)",
        "p",
        "Holm p",
    ]
    assert [c.spanner for c in table.columns[1:3]] == ["Adjusted mean"] * 2
    first = table.cells().iloc[0]
    row = frame.loc[frame["role"] == "primary"].iloc[0]
    assert first["Outcome"] == "NPRS (points), discharge"
    expected = f"{row.estimate:.2f} ({row.conf_low:.2f} to {row.conf_high:.2f})"
    assert first["Difference (95% CI)"] == expected.replace("-", "\u2212")
    assert first["n"] == str(int(row.n))


def test_results_table_accepts_an_analysis_like_object(dataset: object) -> None:
    class Holder:
        ancova = compare_outcomes(dataset)  # type: ignore[arg-type]

    assert len(results_table(Holder()).body) == len(Holder.ancova.to_frame())
    with pytest.raises(RequestError, match="results table"):
        results_table(object())


def test_safety_table(dataset: object, tmp_path: Path) -> None:
    safety = compare_safety(dataset)  # type: ignore[arg-type]
    table = safety_table(safety)
    body = table.body.set_index(["group", "level"])
    rates = safety.table.set_index("arm")
    for arm in rates.index:
        assert body.loc[("", "All adverse events"), f"events_{arm}"] == rates.at[arm, "events"]
        assert body.loc[("", "All adverse events"), f"rate_{arm}"] == rates.at[arm, "rate_per_100"]
    sev = safety.by_severity
    mild = sev.loc[(sev["arm"] == "dn_only") & (sev["severity"] == "mild")].iloc[0]
    assert body.loc[("By severity", "Mild"), "high_dn_only"] == mild["conf_high"]
    header = table.header_rows()[0]
    assert [span for _, span in header] == [1, 2, 2]
    assert header[1][0].startswith("Dry needling alone (")
    path = table.to_docx(tmp_path / "safety.docx")
    grid = docx.Document(str(path)).tables[0]
    assert [c.text for c in grid.rows[2].cells] == table.cell_rows()[0]


def test_table_one_docx_cells_equal_the_frame(dataset: object, tmp_path: Path) -> None:
    table = table_one(dataset, tests=True)  # type: ignore[arg-type]
    grid = docx.Document(str(table.to_docx(tmp_path / "t1.docx"))).tables[0]
    texts = [[cell.text for cell in row.cells] for row in grid.rows]
    assert texts[1] == table.cells().columns.tolist()
    assert texts[2:] == table.cells().to_numpy().tolist()
