"""``dnoutcomes figures PATH --out DIR [--reference A] [--comparator B] [--format png|svg]``.

Loads an export, runs the analyses of one comparison and writes every figure to ``DIR``
with stable file names (:data:`dnoutcomes.plots.FIGURE_NAMES`). A figure whose analysis
has too few data is skipped with the reason; the exit code is 0 when at least one figure
was written, 1 when none could be.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Declare the ``figures`` subcommand and its arguments."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "figures",
        help="draw every figure of a comparison into a folder",
        description=(
            "Draw the figures of one comparison (patient flow, NPRS over weeks, improvement "
            "and responder curves, effects and site forest plots, time to response, "
            "covariate balance, adverse events) and write them to a folder with stable "
            "file names. Exit code 0: written; 1: invalid data or too few for any figure; "
            "2: unreadable input or a wrong request."
        ),
    )
    parser.add_argument("path", metavar="PATH", help="the export folder or .xlsx workbook")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    parser.add_argument("--reference", default="dn_only", help="reference arm (default dn_only)")
    parser.add_argument(
        "--comparator",
        default="dn_manual_exercise",
        help="comparator arm (default dn_manual_exercise)",
    )
    parser.add_argument(
        "--format",
        choices=("png", "svg"),
        default="png",
        help="image format (default png, 200 dpi)",
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="load the valid rows and leave out the rejected ones (default: strict)",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load, draw and write; print one line per figure. Returns the exit code."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import dnoutcomes
    from dnoutcomes.errors import DnOutcomesWarning
    from dnoutcomes.plots.gallery import write_figures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DnOutcomesWarning)
        dataset = dnoutcomes.load(args.path, mode="quarantine" if args.quarantine else "strict")
    for warning in caught:
        print(f"dnoutcomes: warning: {warning.message}", file=sys.stderr)
    outcomes = write_figures(
        dataset,
        args.out,
        reference=args.reference,
        comparator=args.comparator,
        format=args.format,
    )
    written = 0
    for outcome in outcomes:
        if outcome.path is not None:
            written += 1
            print(f"wrote {outcome.path}")
        else:
            print(f"skipped {outcome.name}: {outcome.reason}", file=sys.stderr)
    if written == 0:
        print("dnoutcomes: no figure could be drawn from these data.", file=sys.stderr)
        return 1
    print(f"{written} of {len(outcomes)} figures written to {args.out}")
    return 0
