"""``dnoutcomes tables PATH --out DIR [--format docx|tex|md|html] [--reference A]
[--comparator B] [--arms A,B,...] [--tests] [--quarantine] [--allow-column NAME]
[--follow-symlinks]``.

Loads an export, runs the analysis of one comparison and writes Table 1 (baseline
characteristics, overall and by arm), the results table (adjusted differences across
outcomes) and the safety table to ``DIR`` as ``table1``, ``results`` and ``safety`` with
the format's extension. Every file is written atomically. A table whose analysis the data
cannot support (no adverse-events table, say) is skipped with the reason.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from dnoutcomes.cli._protocol_args import add_load_arguments, load_options

__all__ = ["EXTENSIONS", "add_parser", "run"]

#: The file extension of each format.
EXTENSIONS: dict[str, str] = {"docx": ".docx", "tex": ".tex", "md": ".md", "html": ".html"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``tables`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "tables",
        help="write Table 1, the results table and the safety table (Word, LaTeX, ...)",
        description=(
            "Write the manuscript tables of one comparison — table1 (baseline "
            "characteristics, overall and by arm), results (adjusted differences with 95% "
            "CI, p and Holm p) and safety (adverse events per 100 DN sessions) — to a folder "
            "as Word, LaTeX (booktabs), Markdown or HTML. Exit code 0: written; 1: invalid "
            "data or too few; 2: unreadable input or a wrong request."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the export folder or .xlsx workbook")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    parser.add_argument(
        "--format", choices=tuple(EXTENSIONS), default="docx", help="file format (default docx)"
    )
    parser.add_argument("--reference", default="dn_only", help="reference arm (default dn_only)")
    parser.add_argument(
        "--comparator",
        default="dn_manual_exercise",
        help="comparator arm (default dn_manual_exercise)",
    )
    parser.add_argument(
        "--arms",
        default=None,
        metavar="A,B,...",
        help="the arms of Table 1, comma-separated (default every arm but 'other')",
    )
    add_load_arguments(parser)
    parser.add_argument(
        "--tests", action="store_true", help="add p-values comparing the arms to Table 1"
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="load the valid rows and leave out the rejected ones (default: strict)",
    )
    parser.set_defaults(run=run)
    return parser


def _write(table: Any, path: Path, fmt: str) -> Path:
    from dnoutcomes.report._atomic import write_atomic

    if fmt == "docx":
        written: Path = table.to_docx(path)
        return written
    text = {"tex": table.to_latex, "md": table.to_markdown, "html": table.to_html}[fmt]()
    return write_atomic(path, text)


def run(args: argparse.Namespace) -> int:
    """Load, analyse, build the tables and write them; print one line per file."""
    import dnoutcomes
    from dnoutcomes.errors import DnOutcomesWarning, RequestError
    from dnoutcomes.present.result_tables import results_table, safety_table
    from dnoutcomes.present.table_one import table_one
    from dnoutcomes.stats import analyze

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise RequestError(
            f"tables --out {out}: not a folder; expected a folder to write into. "
            "Choose another path."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DnOutcomesWarning)
        dataset = dnoutcomes.load(
            args.path,
            mode="quarantine" if args.quarantine else "strict",
            **load_options(args),
        )
        analysis = analyze(dataset, reference=args.reference, comparator=args.comparator)
    for warning in caught:
        print(f"dnoutcomes: warning: {warning.message}", file=sys.stderr)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()] if args.arms else None
    extension = EXTENSIONS[args.format]
    out.mkdir(parents=True, exist_ok=True)  # only once the analysis has run
    tables: list[tuple[str, Any, str]] = [
        ("table1", table_one(dataset, arms=arms, tests=args.tests), ""),
        ("results", results_table(analysis), ""),
    ]
    if analysis.safety is not None:
        tables.append(("safety", safety_table(analysis.safety), ""))
    else:
        tables.append(("safety", None, "no adverse-events table in the export"))
    for name, table, reason in tables:
        if table is None:
            print(f"skipped {name}: {reason}", file=sys.stderr)
            continue
        path = _write(table, out / f"{name}{extension}", args.format)
        print(f"wrote {path}")
    return 0
