"""The Table object: cells from templates, and the same cells in Markdown, HTML, LaTeX and
Word (the docx is read back with python-docx; the LaTeX is compiled when a TeX engine exists)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import docx
import pandas as pd
import pytest

from dnoutcomes.errors import RequestError
from dnoutcomes.present._latex import escape_latex
from dnoutcomes.present.table import Column, Table, format_cell


@pytest.fixture
def table() -> Table:
    body = pd.DataFrame(
        {
            "label": ["Age, years", "Site", "north_1 & co", "Missing"],
            "indent": [0, 0, 1, 1],
            "group": ["", "Where", "Where", "Where"],
            "kind": ["mean_sd", "categorical", "n_pct", "count"],
            "est_a": [48.25, float("nan"), 50.0, float("nan")],
            "sd_a": [11.5, float("nan"), float("nan"), float("nan")],
            "n_a": [10, float("nan"), 5, 2],
            "est_b": [-3.14159, float("nan"), 12.5, float("nan")],
            "sd_b": [2.0, float("nan"), float("nan"), float("nan")],
            "n_b": [8, float("nan"), 1, 0],
            "p": [0.0004, 0.25, float("nan"), float("nan")],
        }
    )

    def arm(x: str) -> dict[str, str]:
        return {
            "mean_sd": f"{{est_{x}:.1f}} ({{sd_{x}:.1f}})",
            "n_pct": f"{{n_{x}:.0f}} ({{est_{x}:.1f}}%)",
            "count": f"{{n_{x}:.0f}}",
        }

    return Table(
        body=body,
        columns=(
            Column("A (n = 10)", arm("a"), spanner="Arm"),
            Column("B_2 (n = 8)", arm("b"), spanner="Arm"),
            Column("p-value", "{p:p}"),
        ),
        caption="Table 1. Baseline, 50% & more_",
        footnotes=("Mean (SD) or n (%); $ and # are escaped.",),
    )


EXPECTED = [
    ["Age, years", "48.2 (11.5)", "\u22123.1 (2.0)", "<0.001"],
    ["Site", "", "", "0.250"],
    ["north_1 & co", "5 (50.0%)", "1 (12.5%)", ""],
    ["Missing", "2", "0", ""],
]


def test_cells_are_formatted_from_the_numbers(table: Table) -> None:
    assert table.cell_rows() == EXPECTED
    assert table.cells().columns.tolist() == [
        "Characteristic",
        "A (n = 10)",
        "B_2 (n = 8)",
        "p-value",
    ]
    assert table.body["est_a"].iloc[0] == 48.25  # numbers stay numbers
    assert table.header_rows() == [
        [("", 1), ("Arm", 2), ("", 1)],
        [("Characteristic", 1), ("A (n = 10)", 1), ("B_2 (n = 8)", 1), ("p-value", 1)],
    ]
    assert table.groups() == [("", [0]), ("Where", [1, 2, 3])]


def test_format_cell_rules() -> None:
    assert format_cell("{x:.2f}", {"x": -0.5}) == "\u22120.50"
    assert format_cell("{x:.2f} ({y:.1f})", {"x": 1.0, "y": float("nan")}) == ""
    assert format_cell("{p:p}", {"p": 0.05}) == "0.050"
    with pytest.raises(RequestError, match="no column 'z'"):
        format_cell("{z}", {"x": 1})


def test_body_needs_label_indent_group() -> None:
    with pytest.raises(RequestError, match="'indent'"):
        Table(pd.DataFrame({"label": ["a"], "group": [""]}), (), "T")


def test_frozen(table: Table) -> None:
    with pytest.raises(AttributeError):
        table.caption = "x"  # type: ignore[misc]


def test_markdown(table: Table) -> None:
    text = table.to_markdown()
    lines = text.splitlines()
    assert lines[0] == "**Table 1. Baseline, 50% & more\\_**"
    assert lines[2] == "| Characteristic | Arm: A (n = 10) | Arm: B\\_2 (n = 8) | p-value |"
    assert lines[3] == "|---|---:|---:|---:|"
    assert lines[4] == "| Age, years | 48.2 (11.5) | \u22123.1 (2.0) | <0.001 |"
    assert lines[5] == "| **Where** |  |  |  |"
    assert "| \u00a0\u00a0north\\_1 & co | 5 (50.0%) | 1 (12.5%) |  |" in lines
    assert lines[-1].startswith("Mean (SD) or n (%)")


def test_html_escapes_and_spans(table: Table) -> None:
    text = table.to_html()
    assert '<th colspan="2">Arm</th>' in text
    assert '<td style="text-align:left;padding-left:1.5em">north_1 &amp; co</td>' in text
    assert "<caption>Table 1. Baseline, 50% &amp; more_</caption>" in text
    assert text.count("<tbody>") == 2
    assert "&lt;0.001" in text


def test_latex_is_booktabs_and_escaped(table: Table) -> None:
    text = table.to_latex(label="tab:one")
    assert r"\caption{Table 1. Baseline, 50\% \& more\_}" in text
    assert r"\label{tab:one}" in text
    assert r"\begin{tabular}{lrrr}" in text
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-3}"):
        assert rule in text
    assert r" & \multicolumn{2}{c}{Arm} &  \\" in text
    assert r"\multicolumn{4}{l}{\textbf{Where}} \\" in text
    assert r"\quad north\_1 \& co & 5 (50.0\%) & 1 (12.5\%) &  \\" in text
    assert r"Age, years & 48.2 (11.5) & \textminus{}3.1 (2.0) & \textless{}0.001 \\" in text
    assert r"\$ and \# are escaped" in text
    # every row has as many cells as columns
    rows = [
        line for line in text.splitlines() if line.endswith(r"\\") and "multicolumn" not in line
    ]
    assert {line.count(" & ") for line in rows} == {3}


def test_escape_latex_all_specials() -> None:
    assert escape_latex(r"\ & % $ # _ { } ~ ^") == (
        r"\textbackslash{} \& \% \$ \# \_ \{ \} \textasciitilde{} \textasciicircum{}"
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine (pdflatex)")
def test_latex_compiles(table: Table, tmp_path: Path) -> None:
    document = (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
        "\\usepackage{booktabs}\n\\usepackage{textcomp}\n\\begin{document}\n"
        + table.to_latex()
        + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(document, encoding="utf-8")
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


def test_docx_cells_equal_the_frame(table: Table, tmp_path: Path) -> None:
    path = table.to_docx(tmp_path / "table1.docx")
    document = docx.Document(str(path))
    assert document.paragraphs[0].text == table.caption
    (grid,) = document.tables
    texts = [[cell.text for cell in row.cells] for row in grid.rows]
    # header: the spanner merged over the two arm columns, then the labels
    assert texts[0] == ["", "Arm", "Arm", ""]
    assert texts[1] == table.cells().columns.tolist()
    # the row group is one merged row; the body rows equal the table's cells
    assert texts[3] == ["Where"] * 4
    body = [texts[2], *texts[4:]]
    assert body == table.cells().to_numpy().tolist()
    assert [p.text for p in document.paragraphs][-1] == table.footnotes[0]


def test_docstring_examples_run() -> None:
    import doctest

    from dnoutcomes.present import _latex, result_tables, table, table_one

    for module in (table, _latex, result_tables, table_one):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
