"""LaTeX rendering of a :class:`~dnoutcomes.present.table.Table` with booktabs rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnoutcomes.present.table import Table

__all__ = ["escape_latex", "render_latex"]

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "\u2212": r"\textminus{}",
    "\u2265": r"$\geq$",
    "\u2264": r"$\leq$",
    "\u00b2": r"\textsuperscript{2}",
    "\u03c4": r"$\tau$",
    "\u00a0": "~",
    "\u00b0": r"\textdegree{}",
}


def escape_latex(text: str) -> str:
    """Escape text for LaTeX: the ten special characters and a few non-ASCII signs.

    Parameters
    ----------
    text
        Plain text.

    Returns
    -------
    str
        Text safe in a LaTeX document with ``textcomp`` (the minus sign is ``\\textminus``).

    Examples
    --------
    >>> escape_latex("50% of site_A & <0.001")
    '50\\\\% of site\\\\_A \\\\& \\\\textless{}0.001'
    """
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def render_latex(table: Table, *, label: str | None = None) -> str:
    """Render ``table`` as a ``table`` environment with a booktabs ``tabular``."""
    width = 1 + len(table.columns)
    spec = "l" + "".join("r" if c.align == "right" else "l" for c in table.columns)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{escape_latex(table.caption)}}}",
    ]
    if label:
        lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    headers = table.header_rows()
    if len(headers) == 2:
        cells, rules, start = [], [], 1
        for text, span in headers[0]:
            if span > 1 or text:
                cells.append(rf"\multicolumn{{{span}}}{{c}}{{{escape_latex(text)}}}")
                if text:
                    rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
            else:
                cells.append("")
            start += span
        lines.append(" & ".join(cells) + r" \\")
        lines.extend(rules)
    lines.append(" & ".join(escape_latex(text) for text, _ in headers[-1]) + r" \\")
    lines.append(r"\midrule")
    rows, indents = table.cell_rows(), table.indents
    for group, members in table.groups():
        if group:
            lines.append(rf"\multicolumn{{{width}}}{{l}}{{\textbf{{{escape_latex(group)}}}}} \\")
        for i in members:
            stub = r"\quad " * indents[i] + escape_latex(rows[i][0])
            lines.append(" & ".join([stub, *(escape_latex(c) for c in rows[i][1:])]) + r" \\")
    lines.append(r"\bottomrule")
    lines.append(r"\end{tabular}")
    if table.footnotes:
        lines.append(r"\par\smallskip")
        lines.append(
            r"\parbox{\linewidth}{\footnotesize "
            + r" \\ ".join(escape_latex(n) for n in table.footnotes)
            + "}"
        )
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
