"""``dnoutcomes figures PATH --out DIR [--protocol FILE] [--reference A] [--comparator B]
[--format png|svg|pdf|tiff|eps] [--dpi N] [--size single|double|MM]
[--allow-column NAME] [--follow-symlinks]``.

Loads an export, runs the protocol's analysis once and writes every figure of it to
``DIR`` with stable file names (:data:`dnoutcomes.present.FIGURE_NAMES`). A figure whose analysis
has too few data is skipped with the reason; the exit code is 0 when at least one figure
was written, 1 when none could be. With ``--size`` each figure is scaled to a journal
column's width, and a note names any whose text falls below 6 pt at that size.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Any

from dnoutcomes.cli._protocol_args import (
    add_arm_arguments,
    add_load_arguments,
    add_protocol_argument,
)

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
    add_protocol_argument(parser)
    add_load_arguments(parser)
    add_arm_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("png", "svg", "pdf", "tiff", "eps"),
        default="png",
        help="image format (default png)",
    )
    parser.add_argument(
        "--dpi",
        type=_positive,
        default=None,
        metavar="N",
        help="resolution of png and tiff (default 200 for png, 300 for tiff)",
    )
    parser.add_argument(
        "--size",
        type=_size,
        default=None,
        metavar="single|double|MM",
        help="scale every figure to a journal column: single (85 mm), double (170 mm) or a "
        "width in millimetres (default: as drawn, 6.4 in wide for most)",
    )
    parser.add_argument(
        "--quarantine",
        action="store_true",
        help="load the valid rows and leave out the rejected ones (default: strict)",
    )
    parser.set_defaults(run=run)
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _size(text: str) -> str | float:
    if text in ("single", "double"):
        return text
    try:
        return _positive(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected single, double or a width in millimetres, got {text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Load, draw and write; print one line per figure. Returns the exit code."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from dnoutcomes.cli._protocol_args import check_fit, load_for, read_protocol
    from dnoutcomes.errors import DnOutcomesWarning
    from dnoutcomes.plots._export import MIN_FONT_PT
    from dnoutcomes.present.gallery import write_figures
    from dnoutcomes.stats.analysis import analyze

    protocol = read_protocol(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DnOutcomesWarning)
        dataset = load_for(args, protocol)
    check_fit(args, protocol, dataset)
    for warning in caught:
        print(f"dnoutcomes: warning: {warning.message}", file=sys.stderr)
    analysis = analyze(dataset, protocol, require_primary=False)
    outcomes = write_figures(
        analysis, args.out, dataset=dataset, format=args.format, dpi=args.dpi, size=args.size
    )
    written = 0
    for outcome in outcomes:
        if outcome.path is not None:
            written += 1
            print(f"wrote {outcome.path}")
            font = outcome.smallest_font
            if args.size is not None and font is not None and font < MIN_FONT_PT:
                print(
                    f"note: {outcome.name} has text of {font:.1f} pt at this width; journals "
                    f"ask for at least {MIN_FONT_PT:g} pt. A wider --size keeps it larger.",
                    file=sys.stderr,
                )
        else:
            print(f"skipped {outcome.name}: {outcome.reason}", file=sys.stderr)
    if written == 0:
        print("dnoutcomes: no figure could be drawn from these data.", file=sys.stderr)
        return 1
    print(f"{written} of {len(outcomes)} figures written to {args.out}")
    return 0
